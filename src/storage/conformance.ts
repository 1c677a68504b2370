/**
 * The storage conformance suite: every driver runs these same cases (Hono's and Kysely's pattern),
 * so the engine can rely on the contracts in `types.ts` and nothing driver-specific. A driver that
 * cannot honour a case skips it by id, with the reason shown in the test report.
 *
 * Usage from a driver's test file:
 *   defineStorageConformance('local', async () => ({ driver, reopen, dispose }));
 *
 * Expected values come from the contract text in `types.ts` (and the key rules it states), never
 * from a driver.
 */
import { describe, test } from 'node:test';
import { blobCases } from './conformance-blobs.js';
import type { CaseDef, ConformanceSubject } from './conformance-helpers.js';
import { journalCases } from './conformance-journal.js';
import { driverCases, stateCases } from './conformance-state.js';

export type { CaseDef, ConformanceSubject } from './conformance-helpers.js';

export interface ConformanceOptions {
  /** Case id → why this driver cannot do it (shown as the skip reason). */
  skip?: Partial<Record<string, string>>;
}

const ALL_CASES: readonly CaseDef[] = [...blobCases, ...stateCases, ...journalCases, ...driverCases];

/** The ids of every case, for drivers that skip some. */
export const CONFORMANCE_CASE_IDS: readonly string[] = ALL_CASES.map((c) => c.id);

/** Registers the whole suite (node:test) for one driver; `create` makes a fresh, empty storage per case. */
export function defineStorageConformance(
  driverName: string,
  create: () => Promise<ConformanceSubject>,
  options: ConformanceOptions = {},
): void {
  const skip = options.skip ?? {};
  for (const id of Object.keys(skip)) {
    if (!CONFORMANCE_CASE_IDS.includes(id)) throw new Error(`conformance: unknown case id to skip: ${id}`);
  }
  describe(`storage conformance: ${driverName}`, () => {
    for (const c of ALL_CASES) {
      const reason = skip[c.id];
      test(`${c.id}: ${c.title}`, reason === undefined ? {} : { skip: reason }, async () => {
        const s = await create();
        try {
          await c.run(s);
        } finally {
          await s.dispose();
        }
      });
    }
  });
}
