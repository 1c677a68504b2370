/**
 * The SDK's result and option types: the API's answers in camelCase (the wire is snake_case; the
 * conversion is wire.ts). Events themselves are user data and are passed through exactly as the
 * server returns them: their own fields stay snake_case, because they are what is hashed.
 */
import type { AuditEvent } from '../core/event.js';

export type Role = 'admin' | 'writer' | 'reader' | 'auditor';

export interface LogCreated {
  name: string;
  origin: string;
  verifierKey: string;
}

export interface LogInfo extends LogCreated {
  createdAt: string;
  system: boolean;
  /** Tree size of the latest signed checkpoint. */
  treeSize: number;
  /** Durable (acknowledged) entries. */
  size: number;
}

export interface KeyCreated {
  id: string;
  /** The secret: shown only in this answer. */
  key: string;
  role: Role;
  /** null = all logs. */
  logs: string[] | null;
}

export interface KeyInfo {
  id: string;
  role: Role;
  logs: string[] | null;
  description: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface AppendedEntry {
  index: number;
  id: string;
  /** Lowercase hex RFC 6962 leaf hash of the record. */
  leafHash: string;
  receivedAt: string;
  /** C2SP tlog-proof text, with `waitCheckpoint`. */
  receipt?: string;
}

export interface AppendResult {
  entries: AppendedEntry[];
  /** Signed checkpoint note covering the batch, with `waitCheckpoint`. */
  checkpoint?: string;
  /** True when nothing new was appended (an idempotent replay, or every event id already logged). */
  replayed: boolean;
}

export interface EventFilters {
  /** actor.id, exact. */
  actor?: string;
  /** Exact, or a prefix ending in `*`. */
  action?: string;
  /** target.id or any targets[].id. */
  target?: string;
  outcome?: string;
  /** received_at ≥ since (RFC 3339). */
  since?: string;
  /** received_at < until (RFC 3339). */
  until?: string;
  /** Free-text words, all must match. */
  q?: string;
}

export interface QueryOptions extends EventFilters {
  limit?: number;
  cursor?: string;
  order?: 'asc' | 'desc';
}

export interface EventHit {
  index: number;
  id: string;
  receivedAt: string;
  leafHash: string;
  event: AuditEvent;
}

export interface EventPage {
  events: EventHit[];
  /** null at the end of what the search index covers. */
  nextCursor: string | null;
  coveredSize: number;
}

export interface Entry {
  index: number;
  leafHash: string;
  /** The exact record text (RFC 8785 JSON). */
  record: string;
}

export interface LogKey {
  verifierKey: string;
  origin: string;
}

/** `GET /v1/logs/{log}/pruning`: the C2SP minimum index and the prune statement that set it. */
export interface Pruning {
  /** Entries below it were pruned by the log's retention policy (0: never pruned). */
  minimumIndex: number;
  /** The record holding the statement; null when never pruned. */
  statementIndex: number | null;
  /** The signed prune statement (core/prune-statement.ts); null when never pruned. */
  statement: string | null;
}

export interface InclusionProof {
  index: number;
  treeSize: number;
  /** Lowercase hex hashes, leaf's sibling first. */
  hashes: string[];
}

export interface ConsistencyProof {
  from: number;
  to: number;
  hashes: string[];
}

export interface ExportOptions extends EventFilters {
  /** First index (inclusive). */
  from?: number;
  /** Last index (exclusive). */
  to?: number;
}

/** One entry line of an export: the record and its inclusion proof in the final checkpoint. */
export interface ExportEntry {
  kind: 'entry';
  index: number;
  leafHash: string;
  record: string;
  proof: string[];
}

/** The last line of a complete export. */
export interface ExportEnd {
  kind: 'checkpoint';
  checkpoint: string;
  treeSize: number;
  count: number;
}
