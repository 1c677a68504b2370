/**
 * Test helpers for the SDK (tests only): a real server in this process over a real data directory
 * (local storage driver, SQLite index, the full HTTP stack on a socket), and a TCP proxy that
 * injects connection faults between the SDK and that server.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { initDataDir, type OpenedDataDir, openDataDir } from '../app/data-dir.js';
import { buildServer } from '../http/server.js';
import type { IndelibleClient } from './client.js';

export interface TestServer {
  url: string;
  dir: string;
  adminKey: string;
  data: OpenedDataDir;
  app: FastifyInstance;
  /** Stops the server and closes the data directory (which stays on disk). */
  stop(): Promise<void>;
}

/** A scratch directory removed by the returned cleanup. */
export function scratch(prefix: string): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), `indelible-${prefix}-`));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Initialises a data directory and returns its admin key. */
export async function initDir(dir: string): Promise<string> {
  return (await initDataDir(dir)).adminKey;
}

/** Serves an initialised data directory on 127.0.0.1 (random port). Integration every 50 ms. */
export async function serveDir(dir: string, adminKey: string): Promise<TestServer> {
  const data = await openDataDir(dir, { engine: { integrator: { intervalMs: 50 } } });
  const app = await buildServer({
    engine: data.engine,
    keys: data.keys,
    meta: data.meta,
    config: { accessLog: false },
    defaultMetrics: false,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    adminKey,
    data,
    app,
    async stop() {
      try {
        await app.close();
      } finally {
        await data.close();
      }
    },
  };
}

/** Copies a (closed) data directory: same identity, keys and log signing keys — an insider's copy. */
export function copyDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

export type ProxyMode =
  /** Forward everything. */
  | 'pass'
  /** Forward the request; when the answer starts to arrive, cut both connections instead. */
  | 'cut-response'
  /** Forward the request; swallow the answer, keeping the connection open (a hung server). */
  | 'hold-response';

export interface FaultProxy {
  url: string;
  /** Mode for the next requests matching `match` (others pass); `count` times, then 'pass'. */
  fault(mode: ProxyMode, count: number, match: RegExp): void;
  /** Requests seen whose first line matched `match` of a fault (faulted or not). */
  readonly matched: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of `target` (host:port). It reads request heads as they pass, so it can
 * fault exactly the requests whose first line matches — after the server has processed them.
 */
export async function startFaultProxy(targetUrl: string): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  let mode: ProxyMode = 'pass';
  let left = 0;
  let pattern = /$^/;
  let matched = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    let armed: ProxyMode = 'pass';
    client.on('data', (chunk: Buffer) => {
      const head = chunk.toString('latin1');
      const firstLine = head.slice(0, head.indexOf('\r\n'));
      if (/^[A-Z]+ \S+ HTTP\/1\.1$/.test(firstLine) && pattern.test(firstLine)) {
        matched++;
        if (left > 0) {
          left--;
          armed = mode;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (armed === 'cut-response') {
        client.destroy();
        upstream.destroy();
      } else if (armed !== 'hold-response') client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    fault(m, count, match) {
      mode = m;
      left = count;
      pattern = match;
    },
    get matched() {
      return matched;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Event ids of every entry of `log`, in index order, read from the log itself (not the search index). */
export async function loggedIds(client: IndelibleClient, log: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const line of client.export(log)) {
    if (line.kind === 'entry') ids.push((JSON.parse(line.record) as { id: string }).id);
  }
  return ids;
}

/** Waits until the search index covers every durable entry of `log` (it is derived and may lag). */
export async function waitForIndex(client: IndelibleClient, log: string): Promise<void> {
  const size = (await client.getLog(log)).size;
  for (let i = 0; (await client.query(log, { limit: 1 })).coveredSize < size; i++) {
    if (i > 500) throw new Error(`the index of ${log} does not catch up`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
