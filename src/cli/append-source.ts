/**
 * Where `indelible append` reads events from: `--event` arguments, a file (NDJSON, one event per
 * line, or one JSON array of events), or NDJSON on stdin. Each source yields every event as JSON
 * text — checked locally to be one JSON object, so a typo is reported with its line number before
 * anything is sent — and the server does the real validation.
 *
 * The texts are sent as written (an NDJSON line or an array item, without the white space around
 * it), so the server sees exactly what the file holds: a repeated member name or an integer beyond
 * 2^53 is refused there, not silently changed here by a parse and re-serialization. They must be
 * deterministic functions of the input anyway: a resumed append rebuilds an in-flight batch byte
 * for byte, since the server fingerprints the body of an idempotent request and only replays it
 * for the very same bytes.
 */
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { arrayItems } from '../util/json-text.js';
import { InvalidUtf8Error, Utf8Lines } from '../util/utf8-lines.js';
import { namingPath, UsageError } from './options.js';

export interface SourceEvent {
  /** The event as JSON text (one object, no surrounding whitespace). */
  text: string;
  /** 1-based line (NDJSON) or element (array) number, for messages. */
  line: number;
}

export interface EventSource {
  /** For messages: the file name, `stdin` or `--event`. */
  name: string;
  events: AsyncIterable<SourceEvent>;
  /** Bytes read so far and the total, when known (for the progress bar). */
  position(): { read: number; total?: number };
}

const fail = (where: string, why: string) => new UsageError(`${where}: ${why}`);

function checkObject(text: string, where: string): void {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw fail(where, `not JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw fail(where, 'an event must be a JSON object');
}

/** Events from `--event` arguments. */
export function argumentSource(values: readonly string[]): EventSource {
  const events = values.map((v, i) => {
    const text = v.trim();
    checkObject(text, `--event #${i + 1}`);
    return { text, line: i + 1 };
  });
  return {
    name: '--event',
    events: (async function* () {
      yield* events;
    })(),
    position: () => ({ read: 0 }),
  };
}

/** NDJSON from a byte stream: blank lines are skipped; invalid UTF-8 is an error, not a U+FFFD. */
function ndjsonSource(name: string, input: Readable, total?: number): EventSource {
  let read = 0;
  async function* events(): AsyncGenerator<SourceEvent> {
    // Split into lines before decoding, so that invalid UTF-8 is reported on its own line.
    const lines = new Utf8Lines();
    let line = 0;
    const emit = function* (raw: string): Generator<SourceEvent> {
      line++;
      const text = raw.trim();
      if (text === '') return;
      checkObject(text, `${name} line ${line}`);
      yield { text, line };
    };
    const split = (next: () => string[]): string[] => {
      try {
        return next();
      } catch (err) {
        if (err instanceof InvalidUtf8Error) throw fail(`${name} line ${err.line}`, 'not valid UTF-8');
        throw err;
      }
    };
    try {
      for await (const chunk of input) {
        const bytes = chunk as Uint8Array;
        read += bytes.length;
        for (const raw of split(() => lines.push(bytes))) yield* emit(raw);
      }
      // The last line, when the input does not end with a newline.
      for (const raw of split(() => [lines.end()].filter((l) => l !== undefined))) yield* emit(raw);
    } finally {
      input.destroy();
    }
  }
  return { name, events: events(), position: () => (total === undefined ? { read } : { read, total }) };
}

/** Reads every event of `source`: throws, naming the place, at the first that is not one. */
export async function checkEvents(source: EventSource): Promise<void> {
  for await (const _ of source.events) {
    // Reading is the check.
  }
}

/** NDJSON on stdin (`--file -`). */
export function stdinSource(): EventSource {
  return ndjsonSource('stdin', process.stdin);
}

/** A file of NDJSON, or one JSON array of event objects (told apart by its first character). */
export async function fileSource(path: string): Promise<EventSource> {
  const fh = await open(path, 'r');
  let head: Uint8Array;
  let size: number;
  try {
    size = (await fh.stat()).size;
    const buf = new Uint8Array(Math.min(size, 4096));
    await fh.read(buf, 0, buf.length, 0).catch((err: unknown) => {
      throw namingPath(path, err);
    });
    head = buf;
  } finally {
    await fh.close();
  }
  const first = new TextDecoder()
    .decode(head)
    .replace(/^\uFEFF/, '')
    .trimStart()[0];
  if (first !== '[') {
    return ndjsonSource(path, createReadStream(path, { highWaterMark: 1 << 20 }), size);
  }
  // A JSON array is parsed whole: it has no lines to stream by. Large inputs should be NDJSON.
  let array: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(path)).replace(/^\uFEFF/, '');
    array = JSON.parse(text);
  } catch (err) {
    throw fail(path, `not a JSON array of events (${(err as Error).message})`);
  }
  if (!Array.isArray(array)) throw fail(path, 'not a JSON array of events');
  const items = arrayItems(text);
  if (items.length !== array.length)
    throw new Error(`${path}: found ${items.length} of ${array.length} items`);
  let read = 0;
  return {
    name: path,
    events: (async function* () {
      for (let i = 0; i < array.length; i++) {
        const v: unknown = array[i];
        if (v === null || typeof v !== 'object' || Array.isArray(v))
          throw fail(`${path} element ${i + 1}`, 'an event must be a JSON object');
        read = Math.round((size * (i + 1)) / array.length);
        yield { text: items[i] as string, line: i + 1 };
      }
    })(),
    position: () => ({ read, total: size }),
  };
}
