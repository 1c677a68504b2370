// Test child (spool.test.ts): logs COUNT events through an AuditLogger with a spool, prints
// `spooled <ids as JSON>` once every log() has resolved, and then waits to be SIGKILLed. Full
// batches of 50 go at once (nothing waits for age), so the first request holds events 0..49.
// Usage: node spool-child.js URL API_KEY LOG SPOOL_DIR COUNT
import { IndelibleClient } from './client.js';

const [url, apiKey, log, spoolDir, count] = process.argv.slice(2);
const client = new IndelibleClient({ url: url!, apiKey: apiKey! });
const logger = client.logger(log!, { spoolDir: spoolDir!, maxBatch: 50, maxDelayMs: 60_000 });
const ids = await Promise.all(
  Array.from({ length: Number(count) }, (_, i) =>
    logger.log({ action: 'job.run', actor: { id: 'worker' }, metadata: { i } }),
  ),
);
process.stdout.write(`spooled ${JSON.stringify(ids)}\n`);
setInterval(() => {}, 60_000);
