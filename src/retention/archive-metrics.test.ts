/**
 * The archive metrics read at scrape time (archive-metrics.ts), from run statistics as the archived
 * driver keeps them: `seconds_since_success` grows while a first run hangs or after a restart,
 * where `failing_seconds` stays 0 until a run has failed. (The end-to-end test against real S3 is in
 * archiver.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { registerArchiveMetrics } from './archive-metrics.js';
import type { ArchiveRunStats } from './archived-driver.js';

test('seconds since success counts from the first run when none succeeded, then from the last success', async () => {
  let now = 1_000_000;
  const stats: ArchiveRunStats = {
    log: 'acme',
    succeeded: 0,
    failed: 0,
    failingSince: undefined,
    lastSuccessAt: undefined,
    watchedSince: now,
    archivedSize: 0,
    evictedSize: 0,
  };
  const registry = new Registry();
  registerArchiveMetrics(registry, { runStats: () => [{ ...stats }] }, () => now);
  const metric = async (name: string) => {
    const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{log="acme"}`));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  };
  // The first run is still running (hung on S3, say): nothing failed yet, but time goes by.
  now += 7_200_000;
  assert.equal(await metric('indelible_archive_failing_seconds'), 0);
  assert.equal(await metric('indelible_archive_last_success_timestamp_seconds'), undefined);
  assert.equal(await metric('indelible_archive_seconds_since_success'), 7200);
  // A success resets it; later failures let it grow from that success.
  Object.assign(stats, { succeeded: 1, lastSuccessAt: now, archivedSize: 512 });
  assert.equal(await metric('indelible_archive_seconds_since_success'), 0);
  now += 90_000;
  Object.assign(stats, { failed: 1, failingSince: now - 30_000 });
  assert.equal(await metric('indelible_archive_seconds_since_success'), 90);
  assert.equal(await metric('indelible_archive_failing_seconds'), 30);
  assert.equal(await metric('indelible_archive_archived_entries'), 512);
});
