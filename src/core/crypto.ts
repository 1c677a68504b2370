/**
 * The one place the core touches a cryptography implementation: SHA-256 and Ed25519.
 *
 * Everything else in src/core calls these functions, so a browser build can swap this module for
 * WebCrypto or @noble implementations without touching the rest. Node's `crypto` is not I/O.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  hash,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';

// Node's one-shot `crypto.hash` avoids the per-call object of createHash (≈3x faster for small
// inputs); its latin1 output is decoded by hand because its 'buffer' output takes a slower path.
const SCRATCH_SIZE = 70_000;
const scratch = new Uint8Array(SCRATCH_SIZE);

function digestLatin1(data: Uint8Array): string {
  return hash('sha256', data, 'binary');
}

/** Writes SHA-256(`data`) into `out[offset .. offset+32)`. */
export function sha256Into(data: Uint8Array, out: Uint8Array, offset = 0): void {
  const d = digestLatin1(data);
  for (let i = 0; i < 32; i++) out[offset + i] = d.charCodeAt(i);
}

/** SHA-256(`data`) as 64 lowercase hex digits (Node encodes it natively: cheaper than toHex). */
export function sha256Hex(data: Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/** SHA-256 over the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(32);
  if (parts.length === 1) {
    sha256Into(parts[0]!, out);
    return out;
  }
  let total = 0;
  for (const p of parts) total += p.length;
  if (total <= SCRATCH_SIZE) {
    let at = 0;
    for (const p of parts) {
      scratch.set(p, at);
      at += p.length;
    }
    sha256Into(scratch.subarray(0, total), out);
    return out;
  }
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  out.set(h.digest());
  return out;
}

/** `n` cryptographically random bytes. */
export function randomBytesArray(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

// DER prefixes of PKCS#8 (private) and SPKI (public) Ed25519 keys (RFC 8410); the raw key follows.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const privateKeys = new Map<string, KeyObject>();
const publicKeys = new Map<string, KeyObject>();
const CACHE_LIMIT = 1024;

function cached(cache: Map<string, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const id = Buffer.from(raw).toString('base64');
  let k = cache.get(id);
  if (k === undefined) {
    k = make();
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(id, k);
  }
  return k;
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError('Ed25519 seed must be 32 bytes');
  return cached(privateKeys, seed, () =>
    createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
  );
}

function publicKeyObject(pub: Uint8Array): KeyObject {
  if (pub.length !== 32) throw new RangeError('Ed25519 public key must be 32 bytes');
  return cached(publicKeys, pub, () =>
    createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, pub]), format: 'der', type: 'spki' }),
  );
}

/** The 32-byte Ed25519 public key of a 32-byte seed (RFC 8032 private key). */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/** A deterministic 64-byte Ed25519 signature of `message` (RFC 8032). */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyObject(seed)));
}

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey`. Never throws on bad input. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** Constant-time equality of two byte strings (length is not secret). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
