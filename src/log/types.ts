/** Injected dependencies and shared shapes of the log engine. */

/** Wall clock in milliseconds since the epoch; injected so tests control time. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The subset of pino's logger the engine uses (pino itself satisfies it). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child?(bindings: object): Logger;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** What an append acknowledges for each event, in order. */
export interface AppendedEntry {
  index: number;
  id: string;
  /** Lowercase hex of the RFC 6962 leaf hash. */
  leafHash: string;
  receivedAt: string;
}

/** A checkpoint the log signed, as note text and parsed. */
export interface SignedCheckpoint {
  size: number;
  rootHash: Uint8Array;
  /** The C2SP signed note (`origin\nsize\nroot\n\n— sig…\n`). */
  note: string;
}
