import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isIndelibleError } from '../core/errors.js';
import { authorize, can, inScope, isPublicAction } from './policy.js';
import { ACTIONS, type Action, type ApiKeyInfo, ROLES, type Role } from './types.js';

// Spec: DESIGN.md §4 (writer appends; reader reads events, entries, bundles; auditor = reader + export;
// admin everything within its scope; the init key is an admin for all logs) and the auth brief (every
// role may public.read and logs.list; receipts and proofs are reader rights; logs.create and keys.manage
// need an all-logs admin, the decision documented in policy.ts).

function key(role: Role, logs: string[] | null, revokedAt: string | null = null): ApiKeyInfo {
  return {
    id: 'key_aaaaaaaaaaaa',
    role,
    logs,
    description: null,
    createdAt: '2026-11-27T07:00:00.000Z',
    lastUsedAt: null,
    revokedAt,
  };
}

/**
 * Expected answers, written out by hand. Columns:
 *   allIn   all-logs key, log 'acme'
 *   allNone all-logs key, no log given
 *   scIn    key scoped to ['acme', '_audit'], log 'acme'
 *   scOut   the same scoped key, log 'other'
 *   scNone  the same scoped key, no log given
 */
type Row = [allIn: boolean, allNone: boolean, scIn: boolean, scOut: boolean, scNone: boolean];
const Y = true;
const N = false;
const EXPECTED: Record<Role, Record<Action, Row>> = {
  admin: {
    'logs.create': [Y, Y, N, N, N],
    'logs.list': [Y, Y, Y, Y, Y],
    'keys.manage': [Y, Y, N, N, N],
    'policy.manage': [Y, Y, Y, N, N],
    'events.append': [Y, Y, Y, N, N],
    'events.read': [Y, Y, Y, N, N],
    'receipts.read': [Y, Y, Y, N, N],
    export: [Y, Y, Y, N, N],
    'proofs.read': [Y, Y, Y, N, N],
    'public.read': [Y, Y, Y, N, N],
  },
  writer: {
    'logs.create': [N, N, N, N, N],
    'logs.list': [Y, Y, Y, Y, Y],
    'keys.manage': [N, N, N, N, N],
    'policy.manage': [N, N, N, N, N],
    'events.append': [Y, Y, Y, N, N],
    'events.read': [N, N, N, N, N],
    'receipts.read': [N, N, N, N, N],
    export: [N, N, N, N, N],
    'proofs.read': [N, N, N, N, N],
    'public.read': [Y, Y, Y, N, N],
  },
  reader: {
    'logs.create': [N, N, N, N, N],
    'logs.list': [Y, Y, Y, Y, Y],
    'keys.manage': [N, N, N, N, N],
    'policy.manage': [N, N, N, N, N],
    'events.append': [N, N, N, N, N],
    'events.read': [Y, Y, Y, N, N],
    'receipts.read': [Y, Y, Y, N, N],
    export: [N, N, N, N, N],
    'proofs.read': [Y, Y, Y, N, N],
    'public.read': [Y, Y, Y, N, N],
  },
  auditor: {
    'logs.create': [N, N, N, N, N],
    'logs.list': [Y, Y, Y, Y, Y],
    'keys.manage': [N, N, N, N, N],
    'policy.manage': [N, N, N, N, N],
    'events.append': [N, N, N, N, N],
    'events.read': [Y, Y, Y, N, N],
    'receipts.read': [Y, Y, Y, N, N],
    export: [Y, Y, Y, N, N],
    'proofs.read': [Y, Y, Y, N, N],
    'public.read': [Y, Y, Y, N, N],
  },
};

describe('can: every role × action × scope', () => {
  test('the table covers every role and action', () => {
    assert.deepEqual(Object.keys(EXPECTED).sort(), [...ROLES].sort());
    for (const role of ROLES) assert.deepEqual(Object.keys(EXPECTED[role]).sort(), [...ACTIONS].sort());
  });

  for (const role of ROLES) {
    for (const action of ACTIONS) {
      const [allIn, allNone, scIn, scOut, scNone] = EXPECTED[role][action];
      test(`${role} ${action}`, () => {
        const all = key(role, null);
        const scoped = key(role, ['acme', '_audit']);
        assert.equal(can(all, action, 'acme'), allIn, 'all-logs key, in scope');
        assert.equal(can(all, action), allNone, 'all-logs key, no log');
        assert.equal(can(scoped, action, 'acme'), scIn, 'scoped key, in scope');
        assert.equal(can(scoped, action, 'other'), scOut, 'scoped key, out of scope');
        assert.equal(can(scoped, action), scNone, 'scoped key, no log');
        assert.equal(can(key(role, null, '2026-11-27T08:00:00.000Z'), action, 'acme'), false, 'revoked');
      });
    }
  }

  test('system logs need to be in scope explicitly, or an all-logs admin or auditor key', () => {
    assert.equal(can(key('reader', ['_audit']), 'events.read', '_audit'), true);
    assert.equal(can(key('reader', ['acme']), 'events.read', '_audit'), false);
    // `_audit` holds every key's searches and addresses: not part of an all-logs reader's "all".
    assert.equal(can(key('reader', null), 'events.read', '_audit'), false);
    assert.equal(can(key('reader', null), 'events.read', 'acme'), true);
    assert.equal(can(key('auditor', null), 'events.read', '_audit'), true);
    assert.equal(can(key('auditor', null), 'export', '_audit'), true);
    assert.equal(can(key('admin', null), 'events.read', '_audit'), true);
  });

  test('scope matches whole names only', () => {
    const scoped = key('reader', ['acme']);
    for (const log of ['acm', 'acme2', 'ACME', 'acme ', ''])
      assert.equal(can(scoped, 'events.read', log), false);
  });

  test('unknown roles and actions are refused, not thrown on', () => {
    assert.equal(can(key('root' as Role, null), 'events.read', 'acme'), false);
    assert.equal(can(key('toString' as Role, null), 'events.read', 'acme'), false);
    assert.equal(can(key('admin', null), 'delete.everything' as Action, 'acme'), false);
  });
});

describe('inScope', () => {
  test('null covers every log; a list covers its names only', () => {
    assert.equal(inScope(key('reader', null), 'anything'), true);
    assert.equal(inScope(key('reader', ['a', 'b']), 'b'), true);
    assert.equal(inScope(key('reader', ['a', 'b']), 'c'), false);
  });
});

describe('isPublicAction', () => {
  // Brief: checkpoint, hash tiles, verifier key (public.read) and proofs are public when publicReads is on.
  const PUBLIC: Action[] = ['public.read', 'proofs.read'];
  for (const action of ACTIONS) {
    test(action, () => {
      assert.equal(isPublicAction(action, true), PUBLIC.includes(action));
      assert.equal(isPublicAction(action, false), false);
    });
  }
});

describe('authorize', () => {
  const codeOf = (fn: () => void): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (err) {
      assert.ok(isIndelibleError(err));
      return err.code;
    }
  };

  test('public reads need no key by default, and a key when turned off', () => {
    assert.equal(
      codeOf(() => authorize(undefined, 'public.read', 'acme')),
      undefined,
    );
    assert.equal(
      codeOf(() => authorize(undefined, 'proofs.read', 'acme', { publicReads: true })),
      undefined,
    );
    assert.equal(
      codeOf(() => authorize(undefined, 'proofs.read', 'acme', { publicReads: false })),
      'auth.unauthenticated',
    );
  });

  test('no key → unauthenticated; a key without the right → forbidden', () => {
    assert.equal(
      codeOf(() => authorize(undefined, 'events.read', 'acme')),
      'auth.unauthenticated',
    );
    assert.equal(
      codeOf(() => authorize(key('writer', null), 'events.read', 'acme')),
      'auth.forbidden',
    );
    assert.equal(
      codeOf(() => authorize(key('reader', ['acme']), 'events.read', 'other')),
      'auth.forbidden',
    );
    assert.equal(
      codeOf(() => authorize(key('reader', ['acme']), 'events.read', 'acme')),
      undefined,
    );
    assert.equal(
      codeOf(() => authorize(key('admin', ['acme']), 'keys.manage')),
      'auth.forbidden',
    );
  });

  test('a 403 names the role and what the refused action covers, not an internal action name', () => {
    const messageOf = (fn: () => void): string => {
      try {
        fn();
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    // A reader on a policy read or the alerts (the `export` action): not "may not export here".
    assert.equal(
      messageOf(() => authorize(key('reader', ['acme']), 'export', 'acme')),
      'this reader key may not export, read policies, or list and acknowledge alerts (auditor and admin keys) here',
    );
    assert.equal(
      messageOf(() => authorize(key('writer', null), 'events.read', 'acme')),
      'this writer key may not read events here',
    );
  });

  test('an out-of-scope key may still read public data when reads are public', () => {
    assert.equal(
      codeOf(() => authorize(key('writer', ['acme']), 'public.read', 'other')),
      undefined,
    );
    assert.equal(
      codeOf(() => authorize(key('writer', ['acme']), 'public.read', 'other', { publicReads: false })),
      'auth.forbidden',
    );
  });
});
