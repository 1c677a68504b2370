/**
 * The HTTP benchmark's tools: finding and running wrk (and reading its report), free loopback ports,
 * and child processes (the server under test, the floor) that write to a log file and are stopped
 * with SIGTERM, SIGKILL after 60 s.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { benchAsset, repoRoot } from './report.js';

export const HOST = '127.0.0.1';

export interface WrkFigures {
  label: string;
  connections: number;
  seconds: number;
  eventsPerRequest: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  reqPerSec: number;
  /** Successful requests/s × events per request (0 for reads). */
  eventsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/** The wrk executable on PATH (or BENCH_WRK), if there is one. */
export function findWrk(): string | undefined {
  const candidates = process.env.BENCH_WRK
    ? [process.env.BENCH_WRK]
    : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'wrk'));
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `wrk -v` prints its version and usage, then exits 1. */
export function wrkVersion(wrk: string): string {
  const out = spawnSync(wrk, ['-v'], { encoding: 'utf8' }).stdout ?? '';
  return /^wrk \S+/.exec(out)?.[0] ?? 'wrk';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "9.80ms" / "812.00us" / "1.02s" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export function parseWrk(
  out: string,
  label: string,
  connections: number,
  eventsPerRequest: number,
): WrkFigures {
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!done) throw new Error(`bench: cannot read wrk output:\n${out}`);
  const requests = Number(done[1]);
  const seconds = parseDuration(`${done[2]}${done[3]}`) / 1000;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  const pct = (p: string) => parseDuration(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const ok = requests - non2xx;
  return {
    label,
    connections,
    seconds,
    eventsPerRequest,
    requests,
    non2xx,
    socketErrors,
    reqPerSec: requests / seconds,
    eventsPerSec: (ok * eventsPerRequest) / seconds,
    p50Ms: pct('50'),
    p99Ms: pct('99'),
  };
}

export interface WrkRun {
  label: string;
  url: string;
  connections: number;
  seconds: number;
  script?: string;
  env?: Record<string, string>;
  eventsPerRequest: number;
}

export function runWrk(wrk: string, r: WrkRun): WrkFigures {
  const args = ['-t1', `-c${r.connections}`, `-d${r.seconds}s`, '--timeout', '10s', '--latency'];
  if (r.script) args.push('-s', benchAsset(`wrk/${r.script}`));
  args.push(r.url);
  const out = execFileSync(wrk, args, {
    encoding: 'utf8',
    env: { ...process.env, ...r.env },
    timeout: (r.seconds + 30) * 1000,
  });
  return parseWrk(out, r.label, r.connections, r.eventsPerRequest);
}

/** Starts a child and resolves once `ready(output)` holds for what it wrote to `logFile`. */
export async function startChild(
  cmd: string,
  args: string[],
  logFile: string,
  ready: (output: string) => boolean,
  what: string,
): Promise<ChildProcess> {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], cwd: repoRoot() });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `bench: ${what} exited (${child.exitCode}):\n${readFileSync(logFile, 'utf8').slice(-2000)}`,
      );
    }
    if (ready(readFileSync(logFile, 'utf8'))) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench: ${what} did not become ready in 60 s`);
    }
    await sleep(50);
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  await exited;
  clearTimeout(timer);
}
