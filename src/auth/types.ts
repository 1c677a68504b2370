/**
 * API keys, roles and per-log scopes (DESIGN §4). A key is `ik_` + ≥ 256 random bits; only its
 * SHA-256 is stored, and lookups compare in constant time.
 */

export type Role = 'admin' | 'writer' | 'reader' | 'auditor';
export const ROLES: readonly Role[] = ['admin', 'writer', 'reader', 'auditor'];

/** What a request wants to do; `can` decides per role and scope. */
export type Action =
  | 'logs.create'
  | 'logs.list'
  | 'keys.manage'
  | 'policy.manage'
  | 'events.append'
  | 'events.read' // query, entries, entry bundles
  | 'receipts.read'
  | 'export'
  | 'proofs.read' // inclusion/consistency proofs (also public when configured)
  | 'public.read'; // checkpoint, hash tiles, verifier key (also public when configured)

/** Every action, for tables and tests. */
export const ACTIONS: readonly Action[] = [
  'logs.create',
  'logs.list',
  'keys.manage',
  'policy.manage',
  'events.append',
  'events.read',
  'receipts.read',
  'export',
  'proofs.read',
  'public.read',
];

/** Wall clock in milliseconds since the epoch (or any monotonic ms source); injected so tests control time. */
export interface Clock {
  now(): number;
}

/**
 * A stored key, never including the secret or its hash. Objects returned by a `KeyStore` are frozen
 * (they may be shared with its cache); times are RFC 3339 UTC strings with milliseconds.
 */
export interface ApiKeyInfo {
  /** Public identifier (e.g. `key_…`), safe to log and show. */
  id: string;
  role: Role;
  /** Logs this key may touch (1..100 distinct log names, system `_` names allowed); `null` = all logs. */
  logs: string[] | null;
  description: string | null;
  createdAt: string;
  /** Last successful authentication, recorded at most once a minute per key (so it may lag by that). */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/**
 * A key as the API shows it (`GET /v1/keys`) and the CLI's `keys list --json` prints it: field names
 * in snake_case, never the secret. Takes the key store's `ApiKeyInfo` or the SDK's `KeyInfo` alike.
 */
export function keyView(k: ApiKeyInfo) {
  return {
    id: k.id,
    role: k.role,
    logs: k.logs,
    description: k.description,
    created_at: k.createdAt,
    last_used_at: k.lastUsedAt,
    revoked_at: k.revokedAt,
  };
}

export interface KeyStore {
  /**
   * Creates a key; the secret is returned only here. Throws `auth.invalid_role`, `auth.invalid_scope`
   * or `auth.invalid_description` (see errors.ts) before anything is stored.
   */
  create(input: { role: Role; logs?: string[] | null; description?: string | null }): {
    info: ApiKeyInfo;
    secret: string;
  };
  /** The active key for a presented secret, or undefined (unknown, malformed or revoked). */
  authenticate(secret: string): ApiKeyInfo | undefined;
  /**
   * The id of the revoked key a presented secret belongs to, or undefined (active, unknown or
   * malformed). For the audit trail only: a refused request made with a revoked key is recorded
   * under that key, since it means the secret is still out there.
   */
  revokedKeyId?(secret: string): string | undefined;
  /** The key with this id, revoked or not; undefined for an unknown or malformed id. */
  get(id: string): ApiKeyInfo | undefined;
  /** Every key, revoked ones included, oldest first. Never secrets or hashes. */
  list(): ApiKeyInfo[];
  /** Revokes a key; false when no such active key. Takes effect on the next request. */
  revoke(id: string): boolean;
}
