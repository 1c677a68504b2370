/**
 * What the archiver reads, checked against the log's signed tree before it is copied into WORM
 * storage or used to date anything.
 *
 * An object under a COMPLIANCE lock can never be replaced. So a bundle or tile damaged on the local
 * disk before its archive run must not be uploaded (it would stay in the archive, failing
 * `verify --s3`, for the whole retention period), evicted (its damaged archived copy would become
 * the only one) or trusted for its `received_at` times (back-dated records would make eviction come
 * early). Each run therefore opens the tree at the latest local checkpoint:
 *
 *  - the checkpoint's signature is checked with the log's verifier key (state `config`);
 *  - its right edge (the partial tiles and partial bundle) must reproduce the signed root
 *    (loadSignedEdge, as the log does at open);
 *  - every full hash tile is checked against its parent's entry, every full bundle's records against
 *    their level-0 tile, and every checkpoint in the history must verify and be consistent with the
 *    latest one (LogProofs, the checks the running log makes on its read path).
 *
 * Anything that fails is `retention.bad_local_object` naming the object, and the run stops before
 * uploading or deleting it. BACKUP.md tells how to restore the object; the next run then goes on.
 *
 * Full objects are read locally, or from the archive when they were evicted (the dater's reads and
 * the edge's root tiles may need them); either copy is checked the same way.
 */
import { type Checkpoint, openCheckpoint } from '../core/checkpoint.js';
import { bytesEqual } from '../core/crypto.js';
import { IndelibleError } from '../core/errors.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyConsistency } from '../core/proof.js';
import { entriesPath, parseTilePath, partialTiles, TILE_WIDTH, tilePath } from '../core/tile.js';
import { readLogConfig } from '../log/log-config.js';
import { LogProofs } from '../log/log-proofs.js';
import { loadSignedEdge, type SignedEdge } from '../log/signed-edge.js';
import type { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import type { BlobStore, StateStore } from '../storage/types.js';
import { RetentionError } from './errors.js';
import { historySize } from './sealed-objects.js';

export interface ArchiveSourceOptions {
  log: string;
  local: BlobStore;
  state: StateStore;
  archive: Pick<S3BlobStore, 'getSealed'>;
  /** The latest local checkpoint's bytes (the note the archive run will publish). */
  checkpoint: Uint8Array;
}

/** Checked bundles kept for dating: more than the uploads in flight (8 by default). */
const RECENT_BUNDLES = 32;

export class ArchiveSource {
  private readonly recent = new Map<number, Uint8Array[]>();

  private constructor(
    private readonly log: string,
    /** Tree size of the checkpoint every object is checked against. */
    readonly size: number,
    private readonly rootHash: Uint8Array,
    private readonly verify: (note: Uint8Array) => Checkpoint,
    private readonly edge: SignedEdge,
    /** The partial objects of `edgeKeys(size)` by key, as checked at open. */
    private readonly edgeObjects: ReadonlyMap<string, Uint8Array>,
    private readonly proofs: LogProofs,
    private readonly read: (key: string) => Promise<Uint8Array | undefined>,
  ) {}

  static async open(o: ArchiveSourceOptions): Promise<ArchiveSource> {
    const { log, local, archive } = o;
    return checked(log, 'checkpoint', async () => {
      const config = await readLogConfig(o.state);
      if (config === undefined)
        throw new Mismatch('the log has no configuration (state/config) to check it with');
      const verifier = parseVerifierKey(config.verifier_key);
      const verify = (note: Uint8Array) => openCheckpoint(note, verifier, config.origin);
      const { size, rootHash } = verify(o.checkpoint);
      const read = async (key: string) => (await local.get(key)) ?? (await archive.getSealed(key));
      const edge = await loadSignedEdge(log, { get: read }, size, rootHash);
      const edgeObjects = new Map<string, Uint8Array>();
      for (const ref of partialTiles(size)) edgeObjects.set(tilePath(ref), edge.tiles.get(ref.level)!);
      if (edge.bundleBytes !== undefined) {
        edgeObjects.set(entriesPath(Math.floor(size / TILE_WIDTH), size % TILE_WIDTH), edge.bundleBytes);
      }
      const proofs = new LogProofs(
        log,
        { get: read },
        () => size,
        (level) => edge.tiles.get(level),
      );
      return new ArchiveSource(log, size, rootHash, verify, edge, edgeObjects, proofs, read);
    });
  }

  /** Throws `retention.bad_local_object` unless `bytes` are the logged sealed object `key`. */
  checkSealed(key: string, bytes: Uint8Array): Promise<void> {
    return checked(this.log, key, async () => {
      const history = historySize(key);
      if (history !== undefined) return this.checkHistory(history, bytes);
      const ref = parseTilePath(key);
      if (ref.width !== TILE_WIDTH) throw new Mismatch('it is not a sealed object');
      if (ref.kind === 'entries') {
        this.remember(ref.index, await this.proofs.fullBundle(ref.index, bytes));
        return;
      }
      // The tile as LogProofs read and checked it (against its parent, once per run: a bundle's
      // check already needed its level-0 tile); the bytes to upload must be those.
      const tile = await this.proofs.hashTile({ level: ref.level, index: ref.index, width: TILE_WIDTH });
      if (tile === undefined || !bytesEqual(tile, bytes)) throw new Mismatch('it changed while it was read');
    });
  }

  /** Keeps the records of a checked bundle for `bundle(b)`: dating follows the check at once. */
  private remember(b: number, records: Uint8Array[]): void {
    if (this.recent.size >= RECENT_BUNDLES) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(b, records);
  }

  /**
   * The bytes of a partial object at the edge of `size` (a key of `edgeKeys(size)`), as checked at
   * open: the partial hash tiles that made the signed root, the partial bundle matching them.
   */
  edgeObject(key: string): Uint8Array {
    const bytes = this.edgeObjects.get(key);
    if (bytes === undefined) {
      throw new RetentionError(
        'retention.bad_local_object',
        `log ${this.log}: ${key} is not at the edge of tree size ${this.size}`,
        { details: { log: this.log, object: key } },
      );
    }
    return bytes;
  }

  /**
   * The checked records of bundle `b` of the tree: a full bundle read locally or from the archive
   * (undefined when it is gone from both), or the partial bundle at the edge, from open.
   */
  async bundle(b: number): Promise<Uint8Array[] | undefined> {
    if ((b + 1) * TILE_WIDTH > this.size) {
      if (b === Math.floor(this.size / TILE_WIDTH)) return this.edge.bundle;
      throw new RangeError(`bundle ${b} is beyond tree size ${this.size}`);
    }
    const recent = this.recent.get(b);
    if (recent !== undefined) return recent;
    const key = entriesPath(b);
    const bytes = await this.read(key);
    if (bytes === undefined) return undefined;
    return checked(this.log, key, () => this.proofs.fullBundle(b, bytes));
  }

  /** A history checkpoint: signed by the log, of the size its key names, consistent with ours. */
  private async checkHistory(size: number, bytes: Uint8Array): Promise<void> {
    const cp = this.verify(bytes);
    if (cp.size !== size) throw new Mismatch(`it is a checkpoint of size ${cp.size}`);
    if (size > this.size) throw new Mismatch(`it is beyond the latest checkpoint (${this.size})`);
    if (size === 0) return;
    const proof = size === this.size ? [] : await this.proofs.consistencyProof(size, this.size);
    verifyConsistency(size, this.size, proof, cp.rootHash, this.rootHash);
  }
}

/** A check that failed, with the reason (wrapped by `checked`). */
class Mismatch extends Error {}

/** Error codes of the checks themselves: anything else (I/O, S3) is passed on unchanged. */
const CHECK_FAILURE = /^(log|checkpoint|note|proof|tile)\./;

/**
 * Runs `fn`; a failed check is `retention.bad_local_object` naming the object and the reason. Read
 * errors (a file system or S3 failure) are thrown as they are: they say nothing about the object.
 */
async function checked<T>(log: string, object: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const failed = err instanceof Mismatch || (err instanceof IndelibleError && CHECK_FAILURE.test(err.code));
    if (!failed) throw err;
    throw new RetentionError(
      'retention.bad_local_object',
      `log ${log}: ${object} does not match the log's signed tree, so nothing is archived past it: ${(err as Error).message}`,
      { cause: err, details: { log, object } },
    );
  }
}
