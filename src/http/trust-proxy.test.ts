// Client addresses behind a reverse proxy (`http.trustProxy`): proxies append the peer they saw to
// the X-Forwarded-For a client sent, so the left-most entry is the client's own claim and must never
// be believed; the address taken is the right-most one not written by a trusted proxy, and only if
// it is an IP (review H: a forged left-most entry evaded auth-failure alerts and put markup into
// alerts delivered to webhooks).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveHttpConfig } from './config.js';
import { startHarness } from './test-harness.js';

const PROXY = '10.0.0.5';

async function addressSeen(
  trustProxy: boolean | number | string[],
  remoteAddress: string,
  forwardedFor?: string,
): Promise<string> {
  const h = await startHarness({ config: { trustProxy } });
  try {
    await h.createLog('acme');
    const res = await h.req({
      method: 'GET',
      url: '/v1/logs/acme/events',
      key: h.admin,
      remoteAddress,
      headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    });
    assert.equal(res.statusCode, 200, res.body);
    const access = h.accesses.find((a) => a.route === '/v1/logs/:log/events');
    assert.ok(access, 'the read is recorded');
    return access.ip;
  } finally {
    await h.close();
  }
}

test('trustProxy false: the socket peer, whatever the header says', async () => {
  assert.equal(await addressSeen(false, PROXY, '203.0.113.66'), PROXY);
});

test('trustProxy true is one proxy: the address it appended, not the client-written left-most one', async () => {
  assert.equal(await addressSeen(true, PROXY, '203.0.113.66, 198.51.100.7'), '198.51.100.7');
  assert.equal(await addressSeen(true, PROXY, '198.51.100.7'), '198.51.100.7');
  assert.equal(await addressSeen(true, PROXY), PROXY);
});

test('a hop count: that many proxies', async () => {
  assert.equal(await addressSeen(2, PROXY, '203.0.113.66, 198.51.100.7, 10.0.0.9'), '198.51.100.7');
});

test('a list of proxies: the right-most address not in it; a peer not in it is the client', async () => {
  const list = ['10.0.0.0/24', '192.0.2.1'];
  assert.equal(await addressSeen(list, PROXY, '203.0.113.66, 198.51.100.7, 192.0.2.1'), '198.51.100.7');
  // Not through a listed proxy: the header is the client's own and ignored.
  assert.equal(await addressSeen(list, '198.51.100.99', '203.0.113.66'), '198.51.100.99');
});

test('a forwarded ip:port (some proxies append one) is taken without its port', async () => {
  assert.equal(await addressSeen(true, PROXY, '203.0.113.66, 198.51.100.7:51234'), '198.51.100.7');
  assert.equal(await addressSeen(true, PROXY, '[2001:db8::7]:443'), '2001:db8::7');
  assert.equal(await addressSeen(true, PROXY, 'host.example:80'), PROXY);
});

test('a forwarded value that is not an IP is not believed', async () => {
  assert.equal(await addressSeen(true, PROXY, '<img src=x onerror=alert(1)>'), PROXY);
  assert.equal(await addressSeen(['10.0.0.0/8'], PROXY, 'unknown'), PROXY);
});

test('trustProxy settings are checked at start, naming the bad entry', () => {
  for (const bad of [0, -1, 1.5, [], ['10.0.0.0/33'], ['proxy.example'], ['10.0.0.1/8/1'], ['fe80::/129']]) {
    assert.throws(
      () => resolveHttpConfig({ trustProxy: bad as never }),
      (e: Error) => e instanceof RangeError && /trustProxy/.test(e.message),
      JSON.stringify(bad),
    );
  }
  for (const good of [
    true,
    false,
    3,
    ['loopback', '10.0.0.0/8', '::1', 'fd00::/8', '192.0.2.0/255.255.255.0'],
  ]) {
    resolveHttpConfig({ trustProxy: good as never });
  }
});
