/**
 * C2SP signed-note (https://c2sp.org/signed-note), Ed25519 keys only (signature type 0x01).
 *
 * A note is attacker-controlled text until a trusted key's signature over it verifies, so
 * `openNote` parses strictly and every malformed input becomes a `NoteError`. Behaviour follows
 * the spec and Go's golang.org/x/mod/sumdb/note `Open`, except where we are stricter: base64 must
 * be canonical, and every distinct signature line from a known key is verified (Go checks only the
 * first one per key; the spec says a known key's signature MUST be verified).
 */
import {
  bytesEqual,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  randomBytesArray,
  sha256,
} from './crypto.js';
import { fromBase64, toBase64, toHex, utf8 } from './encoding.js';
import { IndelibleError } from './errors.js';

export type NoteErrorCode =
  | 'note.malformed'
  | 'note.bad_signature'
  | 'note.no_verified_signature'
  | 'note.too_many_signatures'
  | 'note.invalid_key'
  | 'note.invalid_text';
export class NoteError extends IndelibleError<NoteErrorCode> {}

/** A public key trusted to sign notes. `keyId` is 4 bytes, `publicKey` 32 bytes. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** A private key that signs notes. `seed` is the 32-byte RFC 8032 private key: keep it secret. */
export interface NoteSigner extends NoteVerifier {
  readonly seed: Uint8Array;
}

/** One signature line of an opened note; `signature` is the blob after the 4-byte key ID. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
}

export interface OpenedNote {
  /** The signed text, including its final newline. */
  readonly text: string;
  /** Signatures that verified under one of the given verifiers (one per key). */
  readonly verified: NoteSignature[];
  /** Signatures from keys we do not know (other algorithms, witnesses, rotated keys); not checked. */
  readonly unverified: NoteSignature[];
}

const ALG_ED25519 = 0x01;
const SIG_PREFIX = '\u2014 ';
/** Go's note.Open limit; the spec asks for a limit of at least 16. */
export const MAX_NOTE_SIGNATURES = 100;

// Unicode spaces as Go's unicode.IsSpace sees them (the spec: names contain no "Unicode spaces").
const NAME_FORBIDDEN = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]/;
// ASCII controls other than LF, and lone UTF-16 surrogates (which have no UTF-8 encoding).
const TEXT_FORBIDDEN =
  /[\x00-\x09\x0b-\x1f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `name` is a valid key name: non-empty, well-formed, no Unicode space and no '+'. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !NAME_FORBIDDEN.test(name) && !TEXT_FORBIDDEN.test(name);
}

/** True when `text` may appear in a note: well-formed Unicode without ASCII controls other than LF. */
export function isValidNoteText(text: string): boolean {
  return !TEXT_FORBIDDEN.test(text);
}

/** The Ed25519 key ID: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. */
export function keyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(utf8(name), Uint8Array.of(0x0a, ALG_ED25519), publicKey).slice(0, 4);
}

/** The C2SP verifier key string `name+hex8+base64(0x01 ‖ public key)`. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new NoteError('note.invalid_key', 'invalid key name');
  if (publicKey.length !== 32) throw new NoteError('note.invalid_key', 'Ed25519 public key must be 32 bytes');
  return `${name}+${toHex(keyId(name, publicKey))}+${toBase64(prefixed(publicKey))}`;
}

/** A new random Ed25519 key pair as Go-compatible signer key and C2SP verifier key strings. */
export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw new NoteError('note.invalid_key', 'invalid key name');
  const seed = randomBytesArray(32);
  const publicKey = ed25519PublicKey(seed);
  const id = toHex(keyId(name, publicKey));
  return {
    signerKey: `PRIVATE+KEY+${name}+${id}+${toBase64(prefixed(seed))}`,
    verifierKey: `${name}+${id}+${toBase64(prefixed(publicKey))}`,
  };
}

/** Parses a verifier key `name+hex8+base64(0x01 ‖ 32-byte key)`; the key ID must match. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const { name, id, key } = splitKey(vkey);
  const publicKey = key.subarray(1);
  if (!bytesEqual(keyId(name, publicKey), id))
    throw new NoteError('note.invalid_key', 'key ID does not match key');
  const verifier = { name, keyId: id, publicKey };
  checkedVerifiers.add(verifier);
  return verifier;
}

/** Parses Go's signer key `PRIVATE+KEY+name+hex8+base64(0x01 ‖ 32-byte seed)`; the key ID must match. */
export function parseSignerKey(skey: string): NoteSigner {
  if (!skey.startsWith('PRIVATE+KEY+')) throw new NoteError('note.invalid_key', 'not a signer key');
  const { name, id, key } = splitKey(skey.slice('PRIVATE+KEY+'.length));
  const seed = key.slice(1);
  const publicKey = ed25519PublicKey(seed);
  if (!bytesEqual(keyId(name, publicKey), id))
    throw new NoteError('note.invalid_key', 'key ID does not match key');
  const signer = { name, keyId: id, publicKey, seed };
  checkedSigners.add(signer);
  return signer;
}

/** The signer for a 32-byte Ed25519 seed (for keys held outside the Go `PRIVATE+KEY+…` form). */
export function signerFromSeed(name: string, seed: Uint8Array): NoteSigner {
  if (!isValidKeyName(name)) throw new NoteError('note.invalid_key', 'invalid key name');
  if (!(seed instanceof Uint8Array) || seed.length !== 32)
    throw new NoteError('note.invalid_key', 'Ed25519 seed must be 32 bytes');
  const publicKey = ed25519PublicKey(seed);
  const signer = { name, keyId: keyId(name, publicKey), publicKey, seed: seed.slice() };
  checkedSigners.add(signer);
  return signer;
}

/** Splits `name+hex8+base64` on the first two '+' only (standard base64 itself contains '+'). */
function splitKey(s: string): { name: string; id: Uint8Array; key: Uint8Array } {
  const p1 = s.indexOf('+');
  const p2 = p1 < 0 ? -1 : s.indexOf('+', p1 + 1);
  if (p2 < 0) throw new NoteError('note.invalid_key', 'key must be name+hex8+base64');
  const name = s.slice(0, p1);
  const hex = s.slice(p1 + 1, p2);
  const key = fromBase64(s.slice(p2 + 1));
  if (!isValidKeyName(name)) throw new NoteError('note.invalid_key', 'invalid key name');
  // Lowercase only: the canonical form every implementation writes (Go's %08x).
  if (!/^[0-9a-f]{8}$/.test(hex))
    throw new NoteError('note.invalid_key', 'key ID must be 8 lowercase hex digits');
  if (key === undefined) throw new NoteError('note.invalid_key', 'key is not canonical base64');
  if (key[0] !== ALG_ED25519)
    throw new NoteError('note.invalid_key', 'unsupported signature type (only Ed25519, 0x01)');
  if (key.length !== 33) throw new NoteError('note.invalid_key', 'Ed25519 key must be 32 bytes');
  const id = new Uint8Array(4);
  for (let i = 0; i < 4; i++) id[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return { name, id, key };
}

function prefixed(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = ALG_ED25519;
  out.set(key, 1);
  return out;
}

// Keys whose name, key ID, public key (and seed) were checked against each other, when parsed or on
// first use; re-hashing per note would cost a few percent of a verification on the hot path.
const checkedSigners = new WeakSet<NoteSigner>();
const checkedVerifiers = new WeakSet<NoteVerifier>();

function checkSigner(s: NoteSigner): void {
  if (checkedSigners.has(s)) return;
  const ok =
    typeof s.name === 'string' &&
    isValidKeyName(s.name) &&
    s.seed instanceof Uint8Array &&
    s.seed.length === 32 &&
    s.publicKey instanceof Uint8Array &&
    bytesEqual(ed25519PublicKey(s.seed), s.publicKey) &&
    s.keyId instanceof Uint8Array &&
    bytesEqual(keyId(s.name, s.publicKey), s.keyId);
  if (!ok) throw new NoteError('note.invalid_key', 'signer name, seed, public key and key ID do not agree');
  checkedSigners.add(s);
}

/**
 * Signs `text` (which must end in a newline and be valid note text) with every signer, in order.
 * Returns the signed note: text, blank line, one `— name base64(keyID ‖ sig)` line per signer.
 */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!text.endsWith('\n') || !isValidNoteText(text)) {
    throw new NoteError(
      'note.invalid_text',
      'note text must be valid UTF-8, end in a newline and have no controls',
    );
  }
  if (signers.length === 0) throw new NoteError('note.invalid_key', 'at least one signer is required');
  const message = utf8(text);
  let out = `${text}\n`;
  for (const s of signers) {
    checkSigner(s);
    const blob = new Uint8Array(68);
    blob.set(s.keyId, 0);
    blob.set(ed25519Sign(s.seed, message), 4);
    out += `${SIG_PREFIX}${s.name} ${toBase64(blob)}\n`;
  }
  return out;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Opens a signed note: checks its syntax, verifies every signature by a known key and returns the
 * text. Signatures by unknown (name, key ID) pairs are returned unverified. Throws `NoteError`:
 * `note.malformed` (syntax, encoding), `note.too_many_signatures` (> 100 lines),
 * `note.bad_signature` (a known key's signature fails: the whole note is rejected),
 * `note.no_verified_signature`, `note.invalid_key` (an unusable or ambiguous verifier).
 * Pass bytes when the note came off the wire, so invalid UTF-8 is rejected rather than replaced.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  let msg: string;
  if (typeof note === 'string') msg = note;
  else {
    try {
      msg = decoder.decode(note);
    } catch (cause) {
      throw new NoteError('note.malformed', 'note is not valid UTF-8', { cause });
    }
  }
  if (!isValidNoteText(msg))
    throw new NoteError('note.malformed', 'note has control characters or invalid UTF-8');
  for (const v of verifiers) checkVerifier(v);

  // The text ends at the LAST blank line: the text itself may contain blank lines.
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('note.malformed', 'note has no blank line before signatures');
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) {
    throw new NoteError('note.malformed', 'signature block missing or not newline-terminated');
  }
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new NoteError('note.too_many_signatures', `more than ${MAX_NOTE_SIGNATURES} signatures`, {
      details: { count: lines.length },
    });
  }

  let message: Uint8Array | undefined;
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  const seenLines = new Set<string>();
  for (const line of lines) {
    const sig = parseSignatureLine(line);
    if (seenLines.has(line)) continue; // an identical line adds nothing (Go drops these too)
    seenLines.add(line);
    const v = findVerifier(verifiers, sig.name, sig.keyId);
    if (v === undefined) {
      unverified.push(sig);
      continue;
    }
    message ??= utf8(text);
    if (!ed25519Verify(v.publicKey, message, sig.signature)) {
      throw new NoteError('note.bad_signature', `invalid signature for key ${sig.name}+${toHex(sig.keyId)}`, {
        details: { name: sig.name, keyId: toHex(sig.keyId) },
      });
    }
    if (!verified.some((s) => s.name === sig.name && bytesEqual(s.keyId, sig.keyId))) verified.push(sig);
  }
  if (verified.length === 0) {
    throw new NoteError('note.no_verified_signature', 'note has no signature from a known key', {
      details: { unverified: unverified.map((s) => `${s.name}+${toHex(s.keyId)}`) },
    });
  }
  return { text, verified, unverified };
}

/** `— name base64(keyID ‖ signature)`; the base64 must be canonical and hold more than the key ID. */
function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIG_PREFIX))
    throw new NoteError('note.malformed', 'line in signature block is not a signature');
  const space = line.indexOf(' ', SIG_PREFIX.length);
  const name = space < 0 ? '' : line.slice(SIG_PREFIX.length, space);
  const blob = space < 0 ? undefined : fromBase64(line.slice(space + 1));
  if (!isValidKeyName(name) || blob === undefined || blob.length < 5) {
    throw new NoteError('note.malformed', 'malformed signature line');
  }
  return { name, keyId: blob.subarray(0, 4), signature: blob.subarray(4) };
}

function checkVerifier(v: NoteVerifier): void {
  if (checkedVerifiers.has(v)) return;
  const ok =
    typeof v.name === 'string' &&
    isValidKeyName(v.name) &&
    v.publicKey instanceof Uint8Array &&
    v.publicKey.length === 32 &&
    v.keyId instanceof Uint8Array &&
    bytesEqual(keyId(v.name, v.publicKey), v.keyId);
  if (!ok) throw new NoteError('note.invalid_key', 'verifier name, public key and key ID do not agree');
  checkedVerifiers.add(v);
}

/** The verifier for (name, key ID); two different keys claiming the same pair is a configuration error. */
function findVerifier(
  verifiers: readonly NoteVerifier[],
  name: string,
  id: Uint8Array,
): NoteVerifier | undefined {
  let found: NoteVerifier | undefined;
  for (const v of verifiers) {
    if (v.name !== name || !bytesEqual(v.keyId, id)) continue;
    if (found !== undefined && !bytesEqual(found.publicKey, v.publicKey)) {
      throw new NoteError('note.invalid_key', `ambiguous verifiers for ${name}+${toHex(id)}`);
    }
    found = v;
  }
  return found;
}
