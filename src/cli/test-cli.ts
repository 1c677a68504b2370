/**
 * Test helpers (tests only): run the real compiled `indelible` binary, and a real server it talks
 * to (`indelible serve` in a child process on a random port). Tests run from dist/ (npm test) or
 * from source under tsx; either way the binary is dist/src/cli/main.js, so build first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled CLI entry point. */
export const bin = here.includes(`${join('dist', 'src')}`)
  ? join(here, 'main.js')
  : resolve(here, '../../dist/src/cli/main.js');
if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for a CLI run: the caller's, minus any INDELIBLE_* settings, plus `env`. */
export function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const k of Object.keys(base)) if (k.startsWith('INDELIBLE_')) delete base[k];
  return { ...base, ...env };
}

/** Runs the CLI to completion (asynchronously, so an in-process server keeps serving). */
export function cli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: cliEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** `indelible init --data DIR --json` (which must succeed); resolves with the admin key it printed. */
export async function initWithAdminKey(dir: string): Promise<string> {
  const init = await cli(['init', '--data', dir, '--json']);
  if (init.status !== 0) throw new Error(`indelible init exited ${init.status}: ${init.stderr}`);
  return (JSON.parse(init.stdout) as { admin_key: string }).admin_key;
}

export interface ServedDir {
  url: string;
  proc: ChildProcess;
  /** SIGTERM and wait for the exit (a graceful stop: the directory can then be copied or verified). */
  stop(): Promise<void>;
  /** Everything the server wrote to stdout so far. */
  output(): string;
}

/**
 * `indelible serve --data DIR --listen 127.0.0.1:0` with checkpoints every 100 ms (so reads see
 * new entries signed quickly), plus `config` (top-level keys of the configuration file); resolves
 * with the URL it prints once listening.
 */
export function serve(dir: string, config: Record<string, unknown> = {}): Promise<ServedDir> {
  const file = join(dir, '..', `${dir.split(/[\\/]/).pop()}.config.json`);
  writeFileSync(
    file,
    JSON.stringify({ logLevel: 'warn', engine: { integrator: { intervalMs: 100 } }, ...config }),
  );
  return new Promise((resolvePromise, reject) => {
    const proc = spawn(
      process.execPath,
      [bin, 'serve', '--data', dir, '--listen', '127.0.0.1:0', '--config', file],
      {
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /serving .* at (http:\/\/\S+)\n/.exec(out);
      if (m)
        resolvePromise({
          url: m[1]!,
          proc,
          stop: async () => {
            if (proc.exitCode === null) proc.kill('SIGTERM');
            await exited;
          },
          output: () => out,
        });
    });
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
}

/** Polls `check` every 25 ms until it returns a value other than undefined, or fails after `ms`. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** NDJSON text as values. */
export const parseNdjson = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);

/**
 * A plain node:http server standing in for an Indelible server (one that fails, lies or stalls), on
 * a free loopback port: listening before the calling file's tests, closed after them (open
 * connections cut). `url` is set once it listens.
 */
export function standInServer(listener: RequestListener): { readonly url: string } {
  const server = createServer(listener);
  const handle = { url: '' };
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    handle.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return handle;
}
