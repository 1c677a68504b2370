/**
 * Fault injection for crash tests (Sunlight's in-memory backend): a hook consulted before every
 * mutating call decides whether it fails before anything is persisted or after everything is, so a
 * test can stop the world at any call and then `crash()` to see what a restart would find.
 */
import { StorageError } from '../errors.js';

export type FaultOp = 'put' | 'delete' | 'compareAndSwap' | 'append' | 'truncateBefore';

export interface FaultCall {
  /** 1 for the driver's first mutating call that passed validation, then 2, 3, … */
  seq: number;
  op: FaultOp;
  log: string;
  /** Blob or state key (`put`, `delete`, `compareAndSwap`). */
  key?: string;
  immutable?: boolean;
  retention?: boolean;
  /** `append`: the index the first record gets; `truncateBefore`: the index given. */
  index?: number;
  /** `append`: how many records. */
  records?: number;
}

/**
 * `proceed` (or undefined): run normally. `fail-before`: reject with an injected `storage.io` and
 * persist nothing. `fail-after`: persist the effect in full, then reject the same way (the caller
 * cannot tell the two apart, exactly as with a real crash or timeout).
 */
export type FaultDecision = 'proceed' | 'fail-before' | 'fail-after';

export type FaultInjector = (call: Readonly<FaultCall>) => FaultDecision | undefined;

/** The error an injected fault rejects with (`details.injected` is true). */
export function injectedFault(call: FaultCall, decision: FaultDecision): StorageError {
  return new StorageError('storage.io', `injected fault (${decision}) in ${call.op} #${call.seq}`, {
    details: { injected: true, decision, op: call.op, seq: call.seq, log: call.log, key: call.key },
  });
}

/** An injector that fails the `seq`-th mutating call as `decision` and lets every other one through. */
export function failAt(seq: number, decision: 'fail-before' | 'fail-after'): FaultInjector {
  return (call) => (call.seq === seq ? decision : 'proceed');
}

/** An injector that records every call into `calls` and lets them through. */
export function recordCalls(calls: FaultCall[]): FaultInjector {
  return (call) => {
    calls.push({ ...call });
    return 'proceed';
  };
}
