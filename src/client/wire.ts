/**
 * Strict conversion of server answers from the wire (snake_case JSON, DESIGN §4) to the SDK's
 * types (types.ts). A server answer is checked field by field: a wrong shape is
 * `client.bad_response`, never a TypeError later in the caller.
 */
import type { AuditEvent } from '../core/event.js';
import { printable } from '../util/printable.js';
import { ClientError, serverCode } from './errors.js';
import type {
  AppendedEntry,
  AppendResult,
  ConsistencyProof,
  Entry,
  EventHit,
  EventPage,
  ExportEnd,
  ExportEntry,
  InclusionProof,
  KeyCreated,
  KeyInfo,
  LogCreated,
  LogInfo,
  LogKey,
  Pruning,
  Role,
} from './types.js';

// ---------------------------------------------------------------- strict readers

const bad = (what: string) => new ClientError('client.bad_response', `the server sent ${what}`);

type Obj = Record<string, unknown>;

export function obj(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`a ${what} that is not an object`);
  return v as Obj;
}

export function str(o: Obj, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw bad(`a ${what} without a string ${k}`);
  return v;
}

function strOrNull(o: Obj, k: string, what: string): string | null {
  return o[k] === null ? null : str(o, k, what);
}

export function int(o: Obj, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw bad(`a ${what} whose ${k} is not an index`);
  return v;
}

const HEX32 = /^[0-9a-f]{64}$/;
export function hex32(o: Obj, k: string, what: string): string {
  const v = str(o, k, what);
  if (!HEX32.test(v)) throw bad(`a ${what} whose ${k} is not a lowercase hex SHA-256`);
  return v;
}

function arr(o: Obj, k: string, what: string): unknown[] {
  const v = o[k];
  if (!Array.isArray(v)) throw bad(`a ${what} without an array ${k}`);
  return v;
}

function hashes(o: Obj, what: string): string[] {
  return arr(o, 'hashes', what).map((h, i) => {
    if (typeof h !== 'string' || !HEX32.test(h)) throw bad(`a ${what} whose hashes[${i}] is not hex SHA-256`);
    return h;
  });
}

const ROLES: readonly string[] = ['admin', 'writer', 'reader', 'auditor'];
function role(o: Obj, what: string): Role {
  const r = str(o, 'role', what);
  if (!ROLES.includes(r)) throw bad(`a ${what} with unknown role ${JSON.stringify(r)}`);
  return r as Role;
}

function scope(o: Obj, what: string): string[] | null {
  if (o.logs === null) return null;
  return arr(o, 'logs', what).map((l) => {
    if (typeof l !== 'string') throw bad(`a ${what} whose logs are not strings`);
    return l;
  });
}

// ---------------------------------------------------------------- wire → API

export function toLogCreated(v: unknown): LogCreated {
  const o = obj(v, 'log');
  return {
    name: str(o, 'name', 'log'),
    origin: str(o, 'origin', 'log'),
    verifierKey: str(o, 'verifier_key', 'log'),
  };
}

export function toLogInfo(v: unknown): LogInfo {
  const o = obj(v, 'log');
  const system = o.system;
  if (typeof system !== 'boolean') throw bad('a log without a boolean system');
  return {
    ...toLogCreated(o),
    createdAt: str(o, 'created_at', 'log'),
    system,
    treeSize: int(o, 'tree_size', 'log'),
    size: int(o, 'size', 'log'),
  };
}

export function toLogList(v: unknown): LogInfo[] {
  return arr(obj(v, 'log list'), 'logs', 'log list').map(toLogInfo);
}

export function toKeyCreated(v: unknown): KeyCreated {
  const o = obj(v, 'key');
  return { id: str(o, 'id', 'key'), key: str(o, 'key', 'key'), role: role(o, 'key'), logs: scope(o, 'key') };
}

export function toKeyList(v: unknown): KeyInfo[] {
  return arr(obj(v, 'key list'), 'keys', 'key list').map((k) => {
    const o = obj(k, 'key');
    return {
      id: str(o, 'id', 'key'),
      role: role(o, 'key'),
      logs: scope(o, 'key'),
      description: strOrNull(o, 'description', 'key'),
      createdAt: str(o, 'created_at', 'key'),
      lastUsedAt: strOrNull(o, 'last_used_at', 'key'),
      revokedAt: strOrNull(o, 'revoked_at', 'key'),
    };
  });
}

export function toAppendResult(v: unknown, replayed: boolean): AppendResult {
  const o = obj(v, 'append answer');
  const entries = arr(o, 'entries', 'append answer').map((e): AppendedEntry => {
    const a = obj(e, 'entry');
    const out: AppendedEntry = {
      index: int(a, 'index', 'entry'),
      id: str(a, 'id', 'entry'),
      leafHash: hex32(a, 'leaf_hash', 'entry'),
      receivedAt: str(a, 'received_at', 'entry'),
    };
    if (a.receipt !== undefined) out.receipt = str(a, 'receipt', 'entry');
    return out;
  });
  const result: AppendResult = { entries, replayed };
  if (o.checkpoint !== undefined) result.checkpoint = str(o, 'checkpoint', 'append answer');
  return result;
}

export function toEventPage(v: unknown): EventPage {
  const o = obj(v, 'event page');
  const events = arr(o, 'events', 'event page').map((e): EventHit => {
    const h = obj(e, 'event');
    return {
      index: int(h, 'index', 'event'),
      id: str(h, 'id', 'event'),
      receivedAt: str(h, 'received_at', 'event'),
      leafHash: hex32(h, 'leaf_hash', 'event'),
      event: obj(h.event, 'event') as unknown as AuditEvent,
    };
  });
  return {
    events,
    nextCursor: strOrNull(o, 'next_cursor', 'event page'),
    coveredSize: int(o, 'covered_size', 'event page'),
  };
}

export function toEntry(v: unknown): Entry {
  const o = obj(v, 'entry');
  return {
    index: int(o, 'index', 'entry'),
    leafHash: hex32(o, 'leaf_hash', 'entry'),
    record: str(o, 'record', 'entry'),
  };
}

export function toLogKey(v: unknown): LogKey {
  const o = obj(v, 'key');
  return { verifierKey: str(o, 'verifier_key', 'key'), origin: str(o, 'origin', 'key') };
}

export function toPruning(v: unknown): Pruning {
  const o = obj(v, 'pruning');
  const minimumIndex = int(o, 'minimum_index', 'pruning');
  if (minimumIndex === 0) return { minimumIndex, statementIndex: null, statement: null };
  return {
    minimumIndex,
    statementIndex: int(o, 'statement_index', 'pruning'),
    statement: str(o, 'statement', 'pruning'),
  };
}

export function toInclusionProof(v: unknown): InclusionProof {
  const o = obj(v, 'inclusion proof');
  return {
    index: int(o, 'index', 'inclusion proof'),
    treeSize: int(o, 'tree_size', 'inclusion proof'),
    hashes: hashes(o, 'inclusion proof'),
  };
}

export function toConsistencyProof(v: unknown): ConsistencyProof {
  const o = obj(v, 'consistency proof');
  return {
    from: int(o, 'from', 'consistency proof'),
    to: int(o, 'to', 'consistency proof'),
    hashes: hashes(o, 'consistency proof'),
  };
}

/** One export line; an error line becomes a ClientError with the server's code. */
export function toExportLine(v: unknown): ExportEntry | ExportEnd {
  const o = obj(v, 'export line');
  if (o.error !== undefined) {
    const e = obj(o.error, 'export error');
    // The server's code unless it is malformed or the SDK's own (`client.*`); its text escaped.
    const code = serverCode(e.code) ?? (e.code === undefined ? 'server.internal' : 'client.http');
    const detail = printable(String(e.detail ?? code).slice(0, 500));
    throw new ClientError(code, `the export failed on the server: ${detail}`, {
      details: { export: 'incomplete', ...(code === e.code ? {} : { serverCode: e.code }) },
    });
  }
  if (o.checkpoint !== undefined) {
    return {
      kind: 'checkpoint',
      checkpoint: str(o, 'checkpoint', 'export end'),
      treeSize: int(o, 'tree_size', 'export end'),
      count: int(o, 'count', 'export end'),
    };
  }
  const proof = arr(o, 'proof', 'export entry').map((h, i) => {
    if (typeof h !== 'string' || !HEX32.test(h))
      throw bad(`an export entry whose proof[${i}] is not hex SHA-256`);
    return h;
  });
  return {
    kind: 'entry',
    index: int(o, 'index', 'export entry'),
    leafHash: hex32(o, 'leaf_hash', 'export entry'),
    record: str(o, 'record', 'export entry'),
    proof,
  };
}
