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
import { bitLength, EMPTY_ROOT, isPowerOfTwo, MerkleError, rootOf } from '../core/merkle.js';
import type { NoteVerifier } from '../core/note.js';
import { ProofError, planConsistency, verifyConsistency } from '../core/proof.js';
import { nodeTile, tilePath } from '../core/tile.js';
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
  let cp: Checkpoint;
  try {
    cp = openCheckpoint(note, verifier, origin);
  } catch (cause) {
    if (!(cause instanceof CheckpointError)) throw cause;
    throw new ClientError('client.bad_checkpoint', `${what} does not verify: ${cause.message}`, {
      cause,
      details: { reason: cause.code, checkpoint: typeof note === 'string' ? note : undefined },
    });
  }
  const text = typeof note === 'string' ? note : new TextDecoder().decode(note);
  // The empty tree has exactly one root, SHA-256(""): a signed size 0 with another is impossible.
  if (cp.size === 0 && !bytesEqual(cp.rootHash, EMPTY_ROOT)) {
    throw new ClientError(
      'client.bad_checkpoint',
      `${what} is for an empty tree but its root is not SHA-256("")`,
      {
        details: { reason: 'checkpoint.bad_empty_root', checkpoint: text },
      },
    );
  }
  return { ...cp, note: text };
}

/**
 * How `latest` relates to `trusted`: `same`, `extends` (a consistency proof verified), or `stale`
 * (an older tree, proven a prefix of the trusted one: a lagging cache or replica; keep `trusted`).
 *
 * Throws `client.fork_detected` with both notes (and the proof) only when they prove the log's key
 * signed two trees that are not prefixes of one another: equal sizes with different roots, or a
 * consistency proof that leads to the larger tree's root but to another root for the smaller size.
 * Anything else the server does not prove — no proof (whatever the HTTP status), a proof that fails
 * or whose length is not the one RFC 9162 gives for the two sizes — is `client.unproven_consistency`,
 * with both notes as well: the trust cannot move, but a broken or tampered answer is no evidence of
 * a fork. When the smaller size is a power of two, the prefix node is read from a hash tile.
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
  const claim =
    older === trusted
      ? 'the server did not prove that the latest checkpoint extends the trusted one'
      : 'the server is behind the trusted checkpoint and did not prove its tree a prefix of it';
  let hashes: string[];
  try {
    hashes = (await client.consistencyProof(log, older.size, newer.size)).hashes;
  } catch (cause) {
    // Whatever the server answered instead (404, 500, garbage, nothing), nothing was proven
    // either way: the server picks its status code, so none of them can mean "fork" or "fine".
    if (!(cause instanceof ClientError) || cause.code === 'client.aborted') throw cause;
    const why = `${claim} (the proof request failed: ${cause.status === undefined ? cause.code : `HTTP ${cause.status}`})`;
    throw relation('client.unproven_consistency', why, trusted, latest, [], cause, {
      proofError: { code: cause.code, ...(cause.status === undefined ? {} : { status: cause.status }) },
    });
  }
  // RFC 9162 §2.1.4.1: PROOF(m, D[n]) has exactly this many hashes (at most about 2·log2 n).
  const length = planConsistency(older.size, newer.size).length;
  if (hashes.length !== length) {
    // Not kept as evidence: it proves nothing, and a huge one would only flood the report.
    const why = `${claim} (the proof has ${hashes.length} hashes; one from ${older.size} to ${newer.size} has ${length})`;
    throw relation('client.unproven_consistency', why, trusted, latest, []);
  }
  const proof = hashes.map((h) => fromHex(h)!);
  try {
    verifyConsistency(older.size, newer.size, proof, older.rootHash, newer.rootHash);
  } catch (cause) {
    if (!(cause instanceof ProofError || cause instanceof MerkleError)) throw cause;
    const d = cause instanceof ProofError ? cause.details : undefined;
    if (d?.root2Matches === true && d.root1Matches === false) {
      // The proof's hashes rebuild the larger tree's signed root, so they are that tree's nodes;
      // its prefix of the smaller size then has another root than the smaller checkpoint's.
      throw relation(
        'client.fork_detected',
        older === trusted
          ? 'the latest checkpoint does not extend the trusted one (the consistency proof leads to the latest root, but not to the trusted one)'
          : 'the log went back to a smaller tree that is not a prefix of the trusted one (the consistency proof leads to the trusted root, but not to the latest one)',
        trusted,
        latest,
        hashes,
        cause,
      );
    }
    // When the smaller size is a power of two, RFC 9162 leaves that tree's root out of the proof
    // (the verifier supplies it), so a failing proof cannot tell a fork from a broken answer. The
    // larger tree's node for that prefix is in its (public) hash tiles: if it and the proof rebuild
    // the larger signed root, it is that tree's prefix, and when it differs, that is the fork.
    const prefix = isPowerOfTwo(older.size)
      ? await prefixNode(client, log, older.size, newer.size)
      : undefined;
    if (prefix !== undefined && !bytesEqual(prefix, older.rootHash)) {
      let rebuilt = false;
      try {
        verifyConsistency(older.size, newer.size, proof, prefix, newer.rootHash);
        rebuilt = true;
      } catch {
        // The tile does not fit the proof: nothing proven.
      }
      if (rebuilt) {
        throw relation(
          'client.fork_detected',
          `the ${older === trusted ? 'latest' : 'trusted'} tree's first ${older.size} entries have another root than the ${older === trusted ? 'trusted' : 'latest'} checkpoint (its hash tile and the consistency proof lead to its signed root)`,
          trusted,
          latest,
          hashes,
          cause,
          { prefixRoot: toHex(prefix) },
        );
      }
    }
    throw relation(
      'client.unproven_consistency',
      `${claim} (the consistency proof fails)`,
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
  return relation('client.fork_detected', why, trusted, latest, proof, cause);
}

/**
 * The root of the first `size` (a power of two) leaves of the server's tree of `treeSize`, from
 * its hash tile; undefined when the tile cannot be had. Unverified: the caller checks it against
 * a signed root.
 */
async function prefixNode(
  client: IndelibleClient,
  log: string,
  size: number,
  treeSize: number,
): Promise<Uint8Array | undefined> {
  try {
    const at = nodeTile({ level: bitLength(size) - 1, index: 0 }, treeSize);
    const tile = await client.tile(log, tilePath(at.tile));
    if (tile.length < at.end * 32) return undefined;
    const hashes = [];
    for (let i = at.start; i < at.end; i++) hashes.push(tile.subarray(i * 32, (i + 1) * 32));
    return rootOf(hashes);
  } catch {
    return undefined;
  }
}

/** `client.fork_detected` or `client.unproven_consistency`, with both notes (and the proof). */
function relation(
  code: 'client.fork_detected' | 'client.unproven_consistency',
  why: string,
  trusted: VerifiedCheckpoint,
  latest: VerifiedCheckpoint,
  proof: string[],
  cause?: unknown,
  extra: Record<string, unknown> = {},
): ClientError {
  const what = code === 'client.fork_detected' ? 'fork detected' : 'consistency not proven';
  return new ClientError(code, `${what} for ${trusted.origin}: ${why}`, {
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
      ...extra,
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
