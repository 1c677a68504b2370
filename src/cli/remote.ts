/**
 * What every command that talks to a running server shares: the connection options (`--url`,
 * `--api-key`, `--log`), the SDK client they make, and the output helpers — a table or JSON on
 * stdout, colour only when stdout is a terminal (and NO_COLOR is unset), progress only when stderr
 * is one. The API key is a secret: it is read from the flag or INDELIBLE_API_KEY and handed to the
 * client, and no code path here prints it.
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import { IndelibleClient } from '../client/client.js';
import { type Checkpoint, CheckpointError, parseCheckpoint } from '../core/checkpoint.js';
import { isIndelibleError } from '../core/errors.js';
import { isValidNoteText, type NoteVerifier, parseVerifierKey } from '../core/note.js';
import { printable } from '../util/printable.js';
import { UsageError } from './options.js';

export const DEFAULT_URL = 'http://127.0.0.1:7070';

export interface RemoteOptions {
  url?: string;
  apiKey?: string;
  log?: string;
  json?: boolean;
}

/**
 * Adds `--url` and `--api-key` (and `--log` when `withLog`) to a command. `urlDefault` false: the
 * command has no default server (`keys`, which may work on a data directory instead).
 */
export function addRemoteOptions(command: Command, withLog = true, urlDefault = true): Command {
  command
    .option(
      '--url <url>',
      urlDefault
        ? `server URL (env INDELIBLE_URL; default ${DEFAULT_URL})`
        : 'server URL (env INDELIBLE_URL)',
    )
    .option('--api-key <key>', 'API key (env INDELIBLE_API_KEY, which keeps it out of `ps`)');
  if (withLog) command.option('--log <name>', 'the log (env INDELIBLE_LOG)');
  return command;
}

/** The SDK client for the options; a malformed URL is a usage error. */
export function remoteClient(opts: RemoteOptions, env: NodeJS.ProcessEnv = process.env): IndelibleClient {
  const url = opts.url ?? env.INDELIBLE_URL ?? DEFAULT_URL;
  const apiKey = opts.apiKey ?? env.INDELIBLE_API_KEY;
  const bad = () => new UsageError(`--url expects an http(s) URL, got ${url}`);
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw bad();
  try {
    return new IndelibleClient({ url, ...(apiKey ? { apiKey } : {}) });
  } catch (err) {
    if (isIndelibleError(err, 'client.invalid_argument')) throw bad();
    throw err;
  }
}

const LOG_NAME = /^_?[a-z0-9][a-z0-9._-]{0,62}$/;

/** The log from `--log`, else INDELIBLE_LOG; required and checked against the log-name syntax. */
export function logName(
  opts: { log?: string },
  env: NodeJS.ProcessEnv = process.env,
  /** What the name was given as, for the message (a positional NAME, say). */
  source = opts.log !== undefined ? '--log' : 'INDELIBLE_LOG',
): string {
  const log = opts.log ?? env.INDELIBLE_LOG;
  if (log === undefined || log === '') throw new UsageError('--log NAME (or INDELIBLE_LOG) is required');
  if (!LOG_NAME.test(log)) {
    throw new UsageError(
      `${source}: ${JSON.stringify(log)} is not a log name (lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63)`,
    );
  }
  return log;
}

/** A non-negative safe integer from a flag or argument (`what` names it in the error). */
export function parseIndex(value: string, what: string): number {
  const n = /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} must be a non-negative integer, got ${value}`);
  return n;
}

/** A positive integer in 1..max. */
export function parseCount(value: string, what: string, max: number): number {
  const n = parseIndex(value, what);
  if (n < 1 || n > max) throw new UsageError(`${what} must be in 1..${max}, got ${value}`);
  return n;
}

// ---------------------------------------------------------------- output

/**
 * Writes to stdout with back-pressure (large exports and `--follow` must not buffer without
 * bound). A closed pipe (`indelible query … | head`) ends the process quietly, as Unix tools do.
 */
export async function write(text: string): Promise<void> {
  if (outputDropped) return;
  if (process.stdout.write(text)) return;
  try {
    await once(process.stdout, 'drain');
  } catch (err) {
    // The reader went away while we waited (dropOutputOnClosedPipe): the rest is dropped.
    if (!outputDropped) throw err;
  }
}

let pipeHandled = false;
/** Exit quietly on EPIPE (the reader went away); call once before streaming output. */
export function exitOnClosedPipe(): void {
  if (pipeHandled) return;
  pipeHandled = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

let outputDropped = false;
let dropping = false;
/**
 * For a command whose work is not its output (`append`, whose output only acknowledges): on EPIPE
 * the rest of the output is dropped and the command carries on to its own exit status. Exiting
 * there, as exitOnClosedPipe does, would leave events unsent behind a status 0
 * (`indelible append --file F --json | head -1` appended one batch of F).
 */
export function dropOutputOnClosedPipe(): void {
  if (pipeHandled) return;
  pipeHandled = true;
  dropping = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    outputDropped = true;
  });
}

/** True once dropOutputOnClosedPipe was called: a closed stdout is then no failure (main.ts). */
export const closedPipeIsFine = (): boolean => dropping;

export const useColour = (): boolean =>
  process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';

const CODES = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

/** `text` in a colour when stdout is a terminal; unchanged otherwise. */
export function paint(text: string, colour: Colour, on: boolean = useColour()): string {
  return on ? `\x1b[${CODES[colour]}m${text}\x1b[0m` : text;
}

// Terminal control characters in server-supplied text are shown escaped, never interpreted.
export { printable };

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  align?: 'left' | 'right';
  /** Minimum width, so the pages of one stream line up. */
  width?: number;
  colour?: (row: T) => Colour | undefined;
}

/**
 * Rows as an aligned text table (columns sized to this batch of rows). `header` false continues
 * an earlier table (pages of `--all` / `--follow`).
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[], header = true): string {
  const cells = rows.map((r) => columns.map((c) => printable(c.value(r))));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, c.width ?? 0, ...cells.map((row) => row[i]!.length)),
  );
  const colour = useColour();
  const line = (values: readonly string[], row?: T) =>
    values
      .map((v, i) => {
        const c = columns[i]!;
        const padded =
          i === values.length - 1 && c.align !== 'right'
            ? v
            : c.align === 'right'
              ? v.padStart(widths[i]!)
              : v.padEnd(widths[i]!);
        const hue = row === undefined ? undefined : c.colour?.(row);
        return hue === undefined ? padded : paint(padded, hue, colour);
      })
      .join('  ')
      .trimEnd();
  let out = header ? `${paint(line(columns.map((c) => c.header)), 'bold', colour)}\n` : '';
  rows.forEach((r, i) => {
    out += `${line(cells[i]!, r)}\n`;
  });
  return out;
}

/** One JSON value per line (NDJSON), for `--json` output of lists and streams. */
export const ndjson = (value: unknown): string => `${JSON.stringify(value)}\n`;

// ---------------------------------------------------------------- progress

/**
 * A one-line progress display on stderr, redrawn at most ten times a second, and only when stderr
 * is a terminal: piped or redirected output never receives carriage returns.
 */
export class Progress {
  readonly #label: string;
  readonly #tty = process.stderr.isTTY === true;
  readonly #started = Date.now();
  #last = 0;
  #shown = false;

  constructor(label: string) {
    this.#label = label;
  }

  /** `done` units so far; `fraction` (0..1) when the end is known. */
  update(done: number, unit: string, fraction?: number, force = false): void {
    if (!this.#tty) return;
    const now = Date.now();
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    const secs = Math.max(0.001, (now - this.#started) / 1000);
    const rate = Math.round(done / secs);
    let bar = '';
    if (fraction !== undefined) {
      const f = Math.min(1, Math.max(0, fraction));
      const filled = Math.round(f * 24);
      bar = ` [${'#'.repeat(filled)}${'.'.repeat(24 - filled)}] ${(f * 100).toFixed(0).padStart(3)}%`;
    }
    process.stderr.write(`\r\x1b[K${this.#label}${bar} ${done} ${unit} (${rate}/s)`);
    this.#shown = true;
  }

  /** Clears the line (the final summary is printed by the command). */
  done(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}

/** A verifier key from `--key`; one that does not parse is the user's to fix (exit 2). */
export function verifierKeyOption(value: string | undefined, what = '--key'): NoteVerifier {
  if (value === undefined || value === '')
    throw new UsageError(`${what} VKEY (the log's verifier key) is required`);
  try {
    return parseVerifierKey(value);
  } catch (err) {
    if (!isIndelibleError(err)) throw err;
    throw new UsageError(`${what}: not a verifier key (${err.message})`);
  }
}

/** The body of a signed note (its text before the signatures), parsed but NOT verified. */
export function unverifiedCheckpoint(note: string): Checkpoint {
  // Control characters anywhere (the signature lines included) would reach the terminal.
  if (!isValidNoteText(note))
    throw new CheckpointError('checkpoint.malformed', 'the checkpoint is not note text');
  const end = note.indexOf('\n\n');
  return parseCheckpoint(end < 0 ? note : note.slice(0, end + 1));
}

/** `1 entry`, `2 entries`: counts in messages. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
