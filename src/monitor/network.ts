/**
 * Client addresses as networks, for "a key used from a new network address": IPv4 masked to a prefix
 * (/24 by default), IPv6 to another (/64, one subscriber's LAN), IPv4-mapped IPv6 (`::ffff:a.b.c.d`,
 * what a dual-stack socket reports) as IPv4. The address comes from the socket or, behind a trusted
 * proxy, from `X-Forwarded-For`; anything that is not an IP address is kept as is (clipped).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The network of `address` as `a.b.c.d/len` or 8 lowercase hex groups `/len`. */
export function networkOf(address: string, ipv4Prefix: number, ipv6Prefix: number): string {
  if (isIPv4(address)) return ipv4Network(address, ipv4Prefix);
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  if (isIPv6(bare)) {
    const groups = expandIpv6(bare);
    if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
      const v4 = `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
      return ipv4Network(v4, ipv4Prefix);
    }
    return `${maskGroups(groups, ipv6Prefix)
      .map((g) => g.toString(16))
      .join(':')}/${ipv6Prefix}`;
  }
  return address.slice(0, 64);
}

function ipv4Network(address: string, prefix: number): string {
  const n = address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const masked = prefix === 0 ? 0 : n - (n % 2 ** (32 - prefix));
  const octets = [masked >>> 24, (masked >>> 16) & 255, (masked >>> 8) & 255, masked & 255];
  return `${octets.join('.')}/${prefix}`;
}

/** The 8 16-bit groups of a valid IPv6 address (which `isIPv6` has checked). */
function expandIpv6(address: string): number[] {
  let text = address;
  // An embedded dotted quad (`::ffff:192.0.2.1`) becomes two hex groups.
  const dot = text.lastIndexOf('.');
  if (dot !== -1) {
    const colon = text.lastIndexOf(':');
    const o = text
      .slice(colon + 1)
      .split('.')
      .map(Number);
    text = `${text.slice(0, colon + 1)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => Number.parseInt(g, 16));
}

function maskGroups(groups: number[], prefix: number): number[] {
  return groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
  });
}
