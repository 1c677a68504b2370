// HTTP/1.1 pipelining: a connection may have at most MAX_PIPELINED_REQUESTS requests in progress.
// A client that sends more without reading the answers is cut off (each queued answer is held in
// memory until the ones before it are written); one that stays within the bound gets every answer.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { MAX_PIPELINED_REQUESTS } from './server.js';
import { type Harness, startHarness } from './test-harness.js';

let h: Harness;
let port: number;

before(async () => {
  h = await startHarness();
  const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
});
after(() => h.close());

/** Sends `n` pipelined GET /healthz in one write; resolves with the answers' status lines and whether the server closed the connection first. */
function pipeline(n: number, waitMs: number): Promise<{ answers: number; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers: text.match(/HTTP\/1\.1 200 /g)?.length ?? 0, closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err) =>
      (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? finish(true) : reject(err),
    );
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
  });
}

test('a connection within the bound gets an answer to every pipelined request', async () => {
  const r = await pipeline(MAX_PIPELINED_REQUESTS, 2000);
  assert.equal(r.answers, MAX_PIPELINED_REQUESTS);
  assert.equal(r.closedByServer, false);
});

test('a connection pipelining past the bound is closed, and the server goes on serving', async () => {
  const r = await pipeline(MAX_PIPELINED_REQUESTS * 4, 3000);
  assert.equal(r.closedByServer, true);
  assert.ok(r.answers < MAX_PIPELINED_REQUESTS * 4, `${r.answers} answers`);
  assert.equal((await h.req({ method: 'GET', url: '/healthz' })).statusCode, 200);
  // Sequential requests on one connection never count as pipelined, however many.
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < MAX_PIPELINED_REQUESTS * 2; i++)
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
});
