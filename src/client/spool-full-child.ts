// Test child (spool.test.ts): drives a Spool on a small tmpfs that the test mounted for it (in a
// user and mount namespace), fills that file system to make real writes fail with ENOSPC, frees it
// again, and prints what happened as one JSON line.
// Usage: node spool-full-child.js MOUNT SCENARIO   (SCENARIO: short-write | compaction)
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Spool } from './spool.js';

const [mnt, scenario] = process.argv.slice(2) as [string, string];
const dir = join(mnt, 'spool');
const filler = join(mnt, 'filler');
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string; cause?: { code?: string } }) => `${e.code} ${e.cause?.code ?? ''}`.trim(),
  );
/** Fills the file system: the filler keeps whatever part of it fitted. */
const fill = () => writeFile(filler, Buffer.alloc(64 << 20)).catch(() => {});
const event = (id: string, pad = 0) => ({ id, json: JSON.stringify({ id, pad: 'x'.repeat(pad) }) });

const result: Record<string, unknown> = {};
const { spool } = await Spool.open(dir);
await spool.append(event('a'));
if (scenario === 'short-write') {
  await fill();
  // Fits only in part (the rest of the events file's last page): write() stops short.
  result.b = await outcome(spool.append(event('b', 20_000)));
  await unlink(filler);
  result.c = await outcome(spool.append(event('c')));
} else {
  // acked.txt gets its page now, so the acks below can still be written once the disk is full.
  await spool.append(event('y'));
  await spool.ack(['y']);
  const big = Array.from({ length: 9 }, (_, i) => event(`x${i}`, 1 << 20));
  await Promise.all(big.map((e) => spool.append(e)));
  await fill();
  // Past 8 MiB: this ack compacts, and the rewritten file finds no room.
  result.compaction = await outcome(spool.ack(big.map((e) => e.id)));
  await unlink(filler);
  result.c = await outcome(spool.append(event('c')));
}
await spool.close();
const again = await Spool.open(dir);
result.recovered = again.recovered.map((e) => e.id);
result.damage = again.damage?.lines ?? null;
await again.spool.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
