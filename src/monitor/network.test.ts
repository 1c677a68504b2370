/**
 * Addresses as networks for the new-address rule. Expected networks are worked out by hand from the
 * prefix lengths (RFC 4632 for IPv4 prefixes, RFC 4291 §2.5.5.2 for IPv4-mapped IPv6 addresses).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { networkOf } from './network.js';

const table: Array<[address: string, v4: number, v6: number, network: string]> = [
  ['192.0.2.10', 24, 64, '192.0.2.0/24'],
  ['192.0.2.255', 24, 64, '192.0.2.0/24'],
  ['198.51.100.77', 32, 64, '198.51.100.77/32'],
  ['203.0.113.200', 25, 64, '203.0.113.128/25'],
  ['255.255.255.255', 8, 64, '255.0.0.0/8'],
  ['::ffff:192.0.2.10', 24, 64, '192.0.2.0/24'],
  ['::ffff:c000:20a', 24, 64, '192.0.2.0/24'],
  ['2001:db8:1:2:3:4:5:6', 24, 64, '2001:db8:1:2:0:0:0:0/64'],
  ['2001:db8::1', 24, 48, '2001:db8:0:0:0:0:0:0/48'],
  ['2001:db8:abcd:12ff::1', 24, 56, '2001:db8:abcd:1200:0:0:0:0/56'],
  ['fe80::1%eth0', 24, 64, 'fe80:0:0:0:0:0:0:0/64'],
  ['::1', 24, 128, '0:0:0:0:0:0:0:1/128'],
  ['not-an-address', 24, 64, 'not-an-address'],
];

for (const [address, v4, v6, network] of table) {
  test(`${address} /${v4} /${v6} → ${network}`, () => {
    assert.equal(networkOf(address, v4, v6), network);
  });
}
