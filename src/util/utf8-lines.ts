/**
 * LF-separated lines of a byte stream, decoded as strict UTF-8, for the CLI's NDJSON readers.
 * LF never occurs inside a multi-byte sequence, so the bytes are split into lines first and decoded
 * line by line when something is wrong: invalid UTF-8 is reported with the line that holds it. (A
 * streaming decoder fails for a whole chunk, which may hold thousands of lines.) A byte order mark
 * at the very start is dropped, as TextDecoder does.
 */

export class InvalidUtf8Error extends Error {
  /** The 1-based line that is not valid UTF-8. */
  readonly line: number;

  constructor(line: number) {
    super(`line ${line} is not valid UTF-8`);
    this.line = line;
  }
}

export class Utf8Lines {
  readonly #decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  /** The bytes of the line not yet ended by an LF. */
  #rest: Uint8Array[] = [];
  #restBytes = 0;
  /** Lines returned so far. */
  #lines = 0;

  /** Bytes of the line not yet ended (for a cap on line length). */
  get pendingBytes(): number {
    return this.#restBytes;
  }

  /** The lines that `chunk` ends, without their LF; throws InvalidUtf8Error at the first bad one. */
  push(chunk: Uint8Array): string[] {
    const last = chunk.lastIndexOf(0x0a);
    if (last < 0) {
      this.#rest.push(chunk.slice());
      this.#restBytes += chunk.length;
      return [];
    }
    const first = chunk.indexOf(0x0a);
    const out = [this.#decode(concat([...this.#rest, chunk.subarray(0, first)]), 0)];
    if (last > first) {
      const body = chunk.subarray(first + 1, last);
      let text: string;
      try {
        text = this.#decoder.decode(body);
      } catch {
        // Find the line: decode them one by one.
        let start = 0;
        for (let k = 1; ; k++) {
          const nl = body.indexOf(0x0a, start);
          this.#decode(body.subarray(start, nl < 0 ? body.length : nl), k);
          if (nl < 0) throw new InvalidUtf8Error(this.#lines + 1); // not reached: some line fails
          start = nl + 1;
        }
      }
      out.push(...text.split('\n'));
    }
    this.#lines += out.length;
    this.#rest = last + 1 < chunk.length ? [chunk.slice(last + 1)] : [];
    this.#restBytes = chunk.length - last - 1;
    return out;
  }

  /** The last line when the input did not end with an LF, else undefined. */
  end(): string | undefined {
    if (this.#restBytes === 0) return undefined;
    const text = this.#decode(concat(this.#rest), 0);
    this.#rest = [];
    this.#restBytes = 0;
    this.#lines++;
    return text;
  }

  /** Decodes line `this.#lines + 1 + k`. */
  #decode(bytes: Uint8Array, k: number): string {
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      throw new InvalidUtf8Error(this.#lines + 1 + k);
    }
    return this.#lines + k === 0 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
