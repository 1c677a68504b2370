/**
 * Who may do what (DESIGN.md §4): roles × actions × per-log scope. Pure functions, no I/O, called on
 * every request.
 *
 * | role    | per-log actions (log must be in scope)                                   | global actions |
 * |---------|--------------------------------------------------------------------------|----------------|
 * | admin   | all of them, and `policy.manage` of its logs                             | `logs.create`, `keys.manage`, `policy.manage` (all-logs admin only) |
 * | writer  | `events.append`, `public.read`                                           | —              |
 * | reader  | `events.read`, `receipts.read`, `proofs.read`, `public.read`             | —              |
 * | auditor | reader's, plus `export`                                                  | —              |
 *
 * Every role may `logs.list`; the listing itself shows only logs in scope (`inScope`).
 *
 * Decisions the spec leaves open:
 * - `logs.create` and `keys.manage` need an admin for all logs (`logs: null`). A scoped admin could
 *   otherwise create a key for a log it does not hold, or list and revoke keys of other tenants; its
 *   own logs it manages through everything else (events, export, policy).
 * - A per-log action asked without a log means "across all logs" and needs a key for all logs.
 * - A revoked key may do nothing (the store never returns one; this is defence in depth).
 * - Out-of-scope logs get the same answer as missing rights (403 at the edge, per DESIGN §4).
 */
import { AuthError } from './errors.js';
import { ACTIONS, type Action, type ApiKeyInfo, type Role } from './types.js';

/** Actions that act on one log and so are limited by the key's scope. */
const PER_LOG_ACTIONS: ReadonlySet<Action> = new Set<Action>([
  'events.append',
  'events.read',
  'receipts.read',
  'export',
  'proofs.read',
  'public.read',
  'policy.manage',
]);

const READER_ACTIONS: readonly Action[] = ['events.read', 'receipts.read', 'proofs.read', 'public.read'];

/** Actions each role holds, before scope is considered. */
const ROLE_ACTIONS: Readonly<Record<Role, ReadonlySet<Action>>> = {
  // An admin holds every action (scope still applies: see `can`).
  admin: new Set<Action>(ACTIONS),
  writer: new Set<Action>(['logs.list', 'events.append', 'public.read']),
  reader: new Set<Action>(['logs.list', ...READER_ACTIONS]),
  auditor: new Set<Action>(['logs.list', ...READER_ACTIONS, 'export']),
};

/** Global actions only an admin for all logs may take. */
const ALL_LOGS_ADMIN_ACTIONS: ReadonlySet<Action> = new Set<Action>(['logs.create', 'keys.manage']);

/** What each action allows, in the words of a 403 (several routes share one action). */
const ACTION_WORDS: Readonly<Record<Action, string>> = {
  'logs.create': 'create logs',
  'logs.list': 'list logs',
  'keys.manage': 'manage API keys',
  'policy.manage': 'change retention policies or legal holds',
  'events.append': 'append events',
  'events.read': 'read events',
  'receipts.read': 'read receipts',
  export: 'export, read policies, or list and acknowledge alerts (auditor and admin keys)',
  'proofs.read': 'read proofs',
  'public.read': 'read checkpoints, tiles, keys or pruning state',
};

/** True when `log` is within the key's scope (`logs: null`: every log, system logs only for admins and auditors). */
export function inScope(key: ApiKeyInfo, log: string): boolean {
  if (key.logs !== null) return key.logs.includes(log);
  // System logs (`_audit`: every key's reads, searches and addresses) are not part of "all logs"
  // for readers and writers; admins and auditors for all logs reach them, others only when named.
  return !log.startsWith('_') || key.role === 'admin' || key.role === 'auditor';
}

/**
 * Whether `key` may take `action` on `log` (omit `log` for actions not about one log, or to ask about
 * all logs at once). Unknown roles or actions are refused, never thrown on.
 */
export function can(key: ApiKeyInfo, action: Action, log?: string): boolean {
  if (key.revokedAt !== null) return false;
  const actions = Object.hasOwn(ROLE_ACTIONS, key.role) ? ROLE_ACTIONS[key.role] : undefined;
  if (actions === undefined || !actions.has(action)) return false;
  if (ALL_LOGS_ADMIN_ACTIONS.has(action)) return key.logs === null;
  if (!PER_LOG_ACTIONS.has(action)) return true; // logs.list: filtered by scope, never refused
  return log === undefined ? key.logs === null : inScope(key, log);
}

/**
 * Whether `action` needs no key at all. With `publicReads` on (the default), the checkpoint, hash
 * tiles, verifier key and inclusion/consistency proofs are public: they are hashes and signatures that
 * reveal no event data, and outside verifiers and witnesses must be able to fetch them. Entry bundles
 * are `events.read`, never public.
 */
export function isPublicAction(action: Action, publicReads: boolean): boolean {
  return publicReads && (action === 'public.read' || action === 'proofs.read');
}

/** Options of `authorize`. */
export interface AuthorizeOptions {
  /** Whether public reads need no key (see `isPublicAction`); default true. */
  publicReads?: boolean;
}

/**
 * The request-edge decision in one call: returns when allowed, otherwise throws
 * `auth.unauthenticated` (no valid key; 401) or `auth.forbidden` (a key without the right; 403).
 */
export function authorize(
  key: ApiKeyInfo | undefined,
  action: Action,
  log?: string,
  options: AuthorizeOptions = {},
): void {
  if (isPublicAction(action, options.publicReads ?? true)) return;
  if (key === undefined) {
    throw new AuthError('auth.unauthenticated', 'a valid API key is required (Authorization: Bearer <key>)');
  }
  if (!can(key, action, log)) {
    // The log name comes from the URL: it is left out of the message, which the edge may show as is.
    throw new AuthError('auth.forbidden', `this ${key.role} key may not ${ACTION_WORDS[action]} here`, {
      details: { action, keyId: key.id, role: key.role },
    });
  }
}
