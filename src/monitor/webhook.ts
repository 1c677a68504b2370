/**
 * Webhook delivery of alerts (docs/MONITORING.md has the receiver's side).
 *
 * Body: the JSON object `{"id","rule","severity","at","subject","details"}`. Header
 * `Indelible-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`: the timestamp
 * is signed with the body so a captured request cannot be replayed later than the receiver's
 * tolerance, and the receiver compares in constant time.
 *
 * Delivery is at least once, in id order, per webhook: alerts are stored first (alert-store.ts);
 * one deliverer per webhook sends the next alert after its cursor, retries it with exponential
 * back-off (never giving up: a down receiver holds its queue, nothing is lost) and advances the
 * cursor in `meta.sqlite` only after a 2xx. After a restart it resumes at the cursor, so an alert is
 * sent again only when its 2xx arrived but the process stopped before the cursor was saved: then
 * exactly once more. Redirects are not followed: alerts go to the configured URL only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock, Logger } from '../log/types.js';
import type { AlertStore } from './alert-store.js';
import type { Alert } from './audit-events.js';
import type { MonitorConfig, WebhookConfig } from './config.js';
import { realTimers, type Timers } from './recorder.js';

export const SIGNATURE_HEADER = 'indelible-signature';

/** The webhook body of an alert (acknowledgement state is not part of it). */
export function webhookBody(a: Alert): string {
  return JSON.stringify({
    id: a.id,
    rule: a.rule,
    severity: a.severity,
    at: a.at,
    subject: a.subject,
    details: a.details,
  });
}

function mac(secret: string, t: number, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/** The `Indelible-Signature` header value for `body` sent at `unixSeconds`. */
export function signWebhook(secret: string, unixSeconds: number, body: string): string {
  return `t=${unixSeconds},v1=${mac(secret, unixSeconds, body)}`;
}

/**
 * A receiver's check: the header is well-formed, its time within `toleranceSeconds` of `nowSeconds`,
 * and a `v1` signature matches (compared in constant time).
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  let t: number | undefined;
  const sigs: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't' && /^[0-9]{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) sigs.push(v);
  }
  if (t === undefined || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const want = Buffer.from(mac(secret, t, body), 'hex');
  return sigs.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), want));
}

export interface DeliveryResult {
  webhook: string;
  alertId: number;
  ok: boolean;
  attempt: number;
  status?: number;
  error?: string;
}

export interface DelivererOptions {
  store: AlertStore;
  webhook: WebhookConfig;
  delivery: MonitorConfig['delivery'];
  clock: Clock;
  logger: Logger;
  timers?: Timers;
  onResult?: (r: DeliveryResult) => void;
}

export class WebhookDeliverer {
  readonly id: string;
  private cursorId = 0;
  private running: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly timers: Timers;

  constructor(private readonly opts: DelivererOptions) {
    this.id = opts.webhook.id!;
    this.timers = opts.timers ?? realTimers;
  }

  /** Last alert id delivered (or skipped as not subscribed). */
  get cursor(): number {
    return this.cursorId;
  }

  /** Loads the cursor (a new webhook starts at the newest alert: no flood of history) and runs. */
  start(): void {
    const { store } = this.opts;
    const saved = store.cursor(this.id);
    if (saved === undefined) {
      this.cursorId = store.maxId();
      store.setCursor(this.id, this.cursorId, this.opts.clock.now());
    } else this.cursorId = saved;
    this.running = this.loop().catch((err) =>
      this.opts.logger.error({ err, webhook: this.id }, 'webhook deliverer stopped'),
    );
  }

  /** A new alert was stored. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Stops, abandoning an attempt in flight (its alert stays after the cursor and is sent next time). */
  async close(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    this.wakeUp?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        await this.step();
      } catch (err) {
        // The store failed (a locked or full meta.sqlite): wait, then carry on from the cursor.
        this.opts.logger.error({ err, webhook: this.id }, 'webhook delivery stalled; will retry');
        await this.sleep(this.opts.delivery.maxBackoffMs);
      }
    }
  }

  /** Delivers the alerts after the cursor, or waits for a new one. */
  private async step(): Promise<void> {
    const events = this.opts.webhook.events;
    this.woken = false;
    const batch = this.opts.store.after(this.cursorId, 100);
    if (batch.length === 0) {
      if (!this.woken) await this.sleep(undefined);
      return;
    }
    for (const alert of batch) {
      if (events === undefined || events.includes(alert.rule)) {
        if (!(await this.deliver(alert))) return; // closed mid-retry: the cursor stays before it
      }
      this.cursorId = alert.id;
      this.opts.store.setCursor(this.id, alert.id, this.opts.clock.now());
    }
  }

  /** Sends one alert until a 2xx; false when closed first. */
  private async deliver(alert: Alert): Promise<boolean> {
    const body = webhookBody(alert);
    const { initialBackoffMs, maxBackoffMs } = this.opts.delivery;
    for (let attempt = 1; !this.closed; attempt++) {
      const r = await this.attempt(alert, body, attempt);
      try {
        this.opts.onResult?.(r);
      } catch {
        // Observers (metrics) must not stop delivery.
      }
      if (r.ok) return true;
      if (this.closed) return false;
      const wait = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(attempt - 1, 30));
      this.opts.logger.warn(
        {
          webhook: this.id,
          alert_id: alert.id,
          attempt,
          status: r.status,
          error: r.error,
          retry_in_ms: wait,
        },
        'webhook delivery failed; will retry',
      );
      await this.sleep(wait);
    }
    return false;
  }

  private async attempt(alert: Alert, body: string, attempt: number): Promise<DeliveryResult> {
    const base = { webhook: this.id, alertId: alert.id, attempt };
    const t = Math.floor(this.opts.clock.now() / 1000);
    const controller = new AbortController();
    const onClose = () => controller.abort();
    this.abort.signal.addEventListener('abort', onClose);
    const timer = this.timers.setTimeout(() => controller.abort(), this.opts.delivery.timeoutMs);
    try {
      const res = await fetch(this.opts.webhook.url, {
        method: 'POST',
        redirect: 'manual',
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'indelible-webhook/1',
          [SIGNATURE_HEADER]: signWebhook(this.opts.webhook.secret, t, body),
          'indelible-alert-id': String(alert.id),
          'indelible-delivery-attempt': String(attempt),
        },
        body,
      });
      await res.body?.cancel().catch(() => {});
      const ok = res.status >= 200 && res.status < 300;
      return ok
        ? { ...base, ok, status: res.status }
        : { ...base, ok, status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      return {
        ...base,
        ok: false,
        error: controller.signal.aborted ? 'timeout or shutdown' : errorText(err),
      };
    } finally {
      this.timers.clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onClose);
    }
  }

  /** Waits `ms`, or until woken when `ms` is undefined; returns early on close. */
  private sleep(ms: number | undefined): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        this.timers.clearTimeout(handle);
        this.wakeUp = undefined;
        resolve();
      };
      const handle = ms === undefined ? undefined : this.timers.setTimeout(finish, ms);
      // During a back-off a new alert does not cut the wait short (the failing one goes first); close does.
      this.wakeUp = ms === undefined ? finish : () => (this.closed ? finish() : undefined);
    });
  }
}

function errorText(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return err instanceof Error ? err.message : String(err);
}
