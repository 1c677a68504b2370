/**
 * Trust in a remote log, as a client accumulates it: the last checkpoint it verified under the
 * pinned key (and, after a full walk, the right edge of the tree it recomputed), and the one step
 * every verified read starts with — moving from the trusted checkpoint to the server's latest only
 * if the latest provably extends it (RFC 9162 §2.1.4 consistency). Two checkpoints signed by the
 * log's key that cannot both be true are a fork: the error carries both notes and the proof, which
 * is evidence anyone can check offline with the log's public key.
 */
import { type Checkpoint, CheckpointError, openCheckpoint } from '../core/checkpoint.js';
import { bytesEqual } from '../core/crypto.js';
import { fromHex, toHex } from '../core/encoding.js';
import { MerkleError } from '../core/merkle.js';
import type { NoteVerifier } from '../core/note.js';
import { ProofError, verifyConsistency } from '../core/proof.js';
import type { IndelibleClient } from './client.js';
import { ClientError } from './errors.js';

/** What a client remembers about a log between runs (keep it per log and per key). */
export interface TrustedState {
  /** The last checkpoint note verified: signed by the pinned key, consistent with its predecessor. */
  checkpoint: string;
  /** Set by a full walk (verifyRemoteLog): entries [0, size) were recomputed and found sound. */
  walked?: WalkedTree;
}

export interface WalkedTree {
  size: number;
  /** Lowercase hex leaf hash of entry size − 1 (the next record's `prev`). */
  lastLeafHash: string;
  /** Lowercase hex roots of the perfect subtrees covering [0, size), left to right (a compact range). */
  range: string[];
}

/** A checkpoint whose signature verified under the pinned key; `note` is the signed note verbatim. */
export interface VerifiedCheckpoint extends Checkpoint {
  note: string;
}

/** Reads and writes a TrustedState (a file: state-file.ts; a database row; memory). */
export interface TrustStore {
  load(): Promise<TrustedState | undefined>;
  save(state: TrustedState): Promise<void>;
}

/** A TrustStore in memory; `state` shows the latest saved state. */
export function memoryTrustStore(
  initial?: TrustedState,
): TrustStore & { readonly state: TrustedState | undefined } {
  let state = initial;
  return {
    get state() {
      return state;
    },
    load: async () => state,
    save: async (s) => {
      state = s;
    },
  };
}

/** Opens a checkpoint note with the pinned key (and origin): `client.bad_checkpoint` when it fails. */
export function openVerified(
  note: string | Uint8Array,
  verifier: NoteVerifier,
  origin: string | undefined,
  what: string,
): VerifiedCheckpoint {
  try {
    const cp = openCheckpoint(note, verifier, origin);
    const text = typeof note === 'string' ? note : new TextDecoder().decode(note);
    return { ...cp, note: text };
  } catch (cause) {
    if (!(cause instanceof CheckpointError)) throw cause;
    throw new ClientError('client.bad_checkpoint', `${what} does not verify: ${cause.message}`, {
      cause,
      details: { reason: cause.code, checkpoint: typeof note === 'string' ? note : undefined },
    });
  }
}

/**
 * How `latest` relates to `trusted`: `same`, `extends` (a consistency proof verified), or `stale`
 * (an older tree, proven a prefix of the trusted one: a lagging cache or replica; keep `trusted`).
 * Throws `client.fork_detected` with both notes (and the proof) when the log's key signed two trees
 * that are not prefixes of one another, or the server cannot prove the older one a prefix.
 */
export async function compareCheckpoints(
  client: IndelibleClient,
  log: string,
  trusted: VerifiedCheckpoint,
  latest: VerifiedCheckpoint,
): Promise<'same' | 'extends' | 'stale'> {
  if (latest.size === trusted.size) {
    if (bytesEqual(latest.rootHash, trusted.rootHash)) return 'same';
    throw fork('two checkpoints of the same tree size have different root hashes', trusted, latest, []);
  }
  const older = latest.size < trusted.size ? latest : trusted;
  const newer = older === latest ? trusted : latest;
  // Every tree extends the empty tree (and RFC 9162 has no proof from size 0).
  if (older.size === 0) return older === trusted ? 'extends' : 'stale';
  let hashes: string[];
  try {
    hashes = (await client.consistencyProof(log, older.size, newer.size)).hashes;
  } catch (cause) {
    // A server behind the trusted tree that cannot prove its tree a prefix has rolled back.
    if (older === latest && cause instanceof ClientError && cause.status === 404) {
      throw fork(
        'the log went back to a smaller tree and cannot prove it a prefix of the trusted one',
        trusted,
        latest,
        [],
        cause,
      );
    }
    throw cause;
  }
  const proof = hashes.map((h) => fromHex(h)!);
  try {
    verifyConsistency(older.size, newer.size, proof, older.rootHash, newer.rootHash);
  } catch (cause) {
    if (!(cause instanceof ProofError || cause instanceof MerkleError)) throw cause;
    throw fork(
      older === trusted
        ? 'the latest checkpoint does not extend the trusted one (the consistency proof fails)'
        : 'the log went back to a smaller tree that is not a prefix of the trusted one',
      trusted,
      latest,
      hashes,
      cause,
    );
  }
  return older === trusted ? 'extends' : 'stale';
}

function fork(
  why: string,
  trusted: VerifiedCheckpoint,
  latest: VerifiedCheckpoint,
  proof: string[],
  cause?: unknown,
): ClientError {
  return new ClientError('client.fork_detected', `fork detected for ${trusted.origin}: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: {
      origin: trusted.origin,
      trusted: trusted.note,
      latest: latest.note,
      trustedSize: trusted.size,
      latestSize: latest.size,
      trustedRoot: toHex(trusted.rootHash),
      latestRoot: toHex(latest.rootHash),
      proof,
    },
  });
}

// ---------------------------------------------------------------- the state's JSON form

const HEX32 = /^[0-9a-f]{64}$/;

/** The state as JSON (snake_case, versioned): what state files hold. */
export function formatTrustedState(state: TrustedState): string {
  const out: Record<string, unknown> = { version: 1, checkpoint: state.checkpoint };
  if (state.walked !== undefined) {
    out.walked = {
      size: state.walked.size,
      last_leaf_hash: state.walked.lastLeafHash,
      range: state.walked.range,
    };
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Parses a state's JSON strictly (`client.bad_state`); the checkpoint is NOT verified here. */
export function parseTrustedState(text: string): TrustedState {
  const bad = (why: string) => new ClientError('client.bad_state', `invalid trusted state: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw new ClientError('client.bad_state', 'invalid trusted state: not JSON', { cause });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('not an object');
  const o = v as Record<string, unknown>;
  if (o.version !== 1) throw bad('unknown version');
  if (typeof o.checkpoint !== 'string') throw bad('no checkpoint');
  const state: TrustedState = { checkpoint: o.checkpoint };
  if (o.walked !== undefined) {
    const w = o.walked as Record<string, unknown> | null;
    if (w === null || typeof w !== 'object') throw bad('walked is not an object');
    const size = w.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad('walked.size');
    if (typeof w.last_leaf_hash !== 'string' || !HEX32.test(w.last_leaf_hash))
      throw bad('walked.last_leaf_hash');
    if (!Array.isArray(w.range) || !w.range.every((h) => typeof h === 'string' && HEX32.test(h))) {
      throw bad('walked.range');
    }
    state.walked = { size, lastLeafHash: w.last_leaf_hash, range: w.range as string[] };
  }
  return state;
}
