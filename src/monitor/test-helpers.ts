/** Test fixtures of the monitor (tests only): a manual clock, a fake engine, access events. */
import Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import type { AccessInput } from './audit-events.js';
import type { MonitorConfigInput } from './config.js';
import { createMonitor, type Monitor, type MonitoredEngine } from './monitor.js';

export class ManualClock {
  constructor(public t = Date.UTC(2026, 0, 5, 12, 0, 0)) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** An engine double: appends are collected (or fail while `failing`), logs have settable progress. */
export class FakeEngine implements MonitoredEngine {
  readonly appended: unknown[] = [];
  failing: Error | undefined;
  readonly progress = new Map<string, { size: number; treeSize: number; queueDepth: number }>();

  async append(log: string, events: readonly unknown[]): Promise<unknown> {
    if (this.failing) throw this.failing;
    if (log !== '_audit') throw new Error(`unexpected log ${log}`);
    this.appended.push(...events.map((e) => structuredClone(e)));
    return { entries: [] };
  }
  listLogs() {
    return [...this.progress.keys()].map((name) => ({ name }));
  }
  log(name: string) {
    const p = this.progress.get(name);
    if (!p) throw new Error(`no log ${name}`);
    return p;
  }
  indexLag(): number {
    return 0;
  }
}

export function access(over: Partial<AccessInput> = {}): AccessInput {
  return {
    kind: 'read',
    keyId: 'key_aaaaaaaaaaaa',
    role: 'reader',
    method: 'GET',
    route: '/v1/logs/:log/events',
    log: 'acme',
    filter: {},
    count: 1,
    status: 200,
    ip: '192.0.2.10',
    requestId: 'req-1',
    at: '2026-01-05T12:00:00.000Z',
    ...over,
  };
}

/** A monitor over a fake engine and an in-memory meta DB, without background timers. */
export function testMonitor(
  config: MonitorConfigInput = {},
  opts: { clock?: ManualClock; engine?: FakeEngine; meta?: Database.Database; registry?: Registry } = {},
): { monitor: Monitor; clock: ManualClock; engine: FakeEngine; meta: Database.Database } {
  const clock = opts.clock ?? new ManualClock();
  const engine = opts.engine ?? new FakeEngine();
  const meta = opts.meta ?? new Database(':memory:');
  const monitor = createMonitor({
    engine,
    meta,
    clock,
    config,
    background: false,
    ...(opts.registry ? { registry: opts.registry } : {}),
  });
  return { monitor, clock, engine, meta };
}
