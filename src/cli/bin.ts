#!/usr/bin/env node
/**
 * The `indelible` executable. It only prepares the process, then loads the CLI: libuv's thread pool
 * runs every fsync, and with its default of 4 threads the journal's fsync (the ack path) can queue
 * behind a burst of tile and bundle writes from integration. A larger pool keeps acks prompt; it must
 * be sized before the pool starts, hence before anything else loads. UV_THREADPOOL_SIZE set by the
 * user wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
await import('./main.js');
