/**
 * The browser build's `src/core/crypto.ts`: the same functions and contracts, implemented with
 * @noble/hashes (SHA-256) and @noble/curves (Ed25519) instead of `node:crypto`.
 *
 * Both libraries are synchronous, so the core API stays synchronous in a browser too (WebCrypto's
 * `subtle` is promise-only and would force every verification function to become async). The
 * bundle (build.ts) maps the core's `./crypto.js` imports here; crypto.test.ts checks every
 * function against the Node implementation. This module lives outside src/core because the core
 * itself may import nothing but its own files.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';

/** SHA-256 over the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return nobleSha256(parts[0]!);
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Writes SHA-256(`data`) into `out[offset .. offset+32)`. */
export function sha256Into(data: Uint8Array, out: Uint8Array, offset = 0): void {
  out.set(nobleSha256(data), offset);
}

/** SHA-256(`data`) as 64 lowercase hex digits. */
export function sha256Hex(data: Uint8Array): string {
  let out = '';
  for (const b of nobleSha256(data)) out += b.toString(16).padStart(2, '0');
  return out;
}

/** `n` cryptographically random bytes (crypto.getRandomValues underneath). */
export function randomBytesArray(n: number): Uint8Array {
  return randomBytes(n);
}

/** The 32-byte Ed25519 public key of a 32-byte seed (RFC 8032 private key). */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32)
    throw new RangeError('Ed25519 seed must be 32 bytes');
  return ed25519.getPublicKey(seed);
}

/** A deterministic 64-byte Ed25519 signature of `message` (RFC 8032). */
export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== 32)
    throw new RangeError('Ed25519 seed must be 32 bytes');
  return ed25519.sign(message, seed);
}

/**
 * True when `signature` is a valid Ed25519 signature of `message` by `publicKey`. Never throws on
 * bad input. ZIP-215 is off: RFC 8032 / FIPS 186-5 rules (canonical encodings), as OpenSSL applies
 * them in the Node build, so both builds accept the same signatures.
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
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
