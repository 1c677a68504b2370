/**
 * The AuditLogger's bookkeeping for `flush()`: events are counted when logged and counted off when
 * they settle — acknowledged, failed, or dropped — and a flush resolves once every event logged
 * before it has settled. A flush that covered failed events rejects with `client.delivery_failed`;
 * failures no flush was waiting for are reported by the next one, so they are never silent even
 * without an `onError` hook. Each settlement costs O(pending flushes), never O(queued events).
 */
import { ClientError } from './errors.js';

interface Failures {
  count: number;
  first: ClientError | undefined;
}

interface Waiter {
  /** The last sequence number the flush covers. */
  target: number;
  remaining: number;
  failures: Failures;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Settlements {
  #unsettled = 0;
  #waiters: Waiter[] = [];
  #unreported: Failures = { count: 0, first: undefined };

  /** Events logged and not settled yet. */
  get unsettled(): number {
    return this.#unsettled;
  }

  /** One more event was logged (its sequence number is above every pending flush's target). */
  added(): void {
    this.#unsettled++;
  }

  /** Resolves once every event with a sequence number ≤ `target` (all unsettled ones) has settled. */
  wait(target: number): Promise<void> {
    const failures = this.#unreported;
    this.#unreported = { count: 0, first: undefined };
    return new Promise((resolve, reject) => {
      const w: Waiter = { target, remaining: this.#unsettled, failures, resolve, reject };
      if (w.remaining === 0) finish(w);
      else this.#waiters.push(w);
    });
  }

  /** The event `seq` settled; `error` when it was not delivered. */
  settled(seq: number, error?: ClientError): void {
    this.#unsettled--;
    let covered = false;
    let done = false;
    for (const w of this.#waiters) {
      if (seq > w.target) continue;
      covered = true;
      if (error !== undefined) addFailure(w.failures, error);
      if (--w.remaining === 0) done = true;
    }
    if (!covered && error !== undefined) addFailure(this.#unreported, error);
    if (done) {
      for (const w of this.#waiters) if (w.remaining === 0) finish(w);
      this.#waiters = this.#waiters.filter((w) => w.remaining > 0);
    }
  }
}

function addFailure(f: Failures, error: ClientError): void {
  f.count++;
  f.first ??= error;
}

function finish(w: Waiter): void {
  const { count, first } = w.failures;
  if (count === 0) {
    w.resolve();
    return;
  }
  w.reject(
    new ClientError('client.delivery_failed', `${count} event(s) were not delivered`, {
      cause: first,
      details: { count, code: first?.code },
    }),
  );
}
