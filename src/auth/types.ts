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

/** A stored key, never including the secret. */
export interface ApiKeyInfo {
  /** Public identifier (e.g. `key_…`), safe to log and show. */
  id: string;
  role: Role;
  /** Logs this key may touch; `null` = all logs. */
  logs: string[] | null;
  description: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface KeyStore {
  /** Creates a key; the secret is returned only here. */
  create(input: { role: Role; logs?: string[] | null; description?: string | null }): { info: ApiKeyInfo; secret: string };
  /** The active key for a presented secret, or undefined (unknown, malformed or revoked). */
  authenticate(secret: string): ApiKeyInfo | undefined;
  get(id: string): ApiKeyInfo | undefined;
  list(): ApiKeyInfo[];
  /** Revokes a key; false when no such active key. Takes effect on the next request. */
  revoke(id: string): boolean;
}
