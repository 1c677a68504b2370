/**
 * Prometheus metrics of one server, in a registry of its own (several servers in one process — tests
 * — never share or clash). Route labels are route templates, never raw paths, so cardinality stays
 * bounded whatever clients send.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../log/engine.js';

export interface HttpMetrics {
  readonly registry: Registry;
  /** One finished request: method, route template, status and duration in seconds. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** Events appended by one ingest request (duplicates included: they were acknowledged). */
  observeIngest(log: string, events: number): void;
  /** Prometheus text exposition. */
  render(): Promise<string>;
  readonly contentType: string;
}

export function createHttpMetrics(
  engine: Engine,
  options: { defaultMetrics?: boolean; registry?: Registry } = {},
): HttpMetrics {
  // One registry for the whole server when given (the monitor's metrics live there too).
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'indelible_' });
  const requests = new Counter({
    name: 'indelible_http_requests_total',
    help: 'HTTP requests by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'indelible_http_request_duration_seconds',
    help: 'HTTP request latency by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const ingested = new Counter({
    name: 'indelible_ingest_events_total',
    help: 'Events acknowledged by the ingest route, per log.',
    labelNames: ['log'] as const,
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'indelible_ingest_batch_events',
    help: 'Events per ingest request.',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    registers: [registry],
  });
  // Gauges read the engine at scrape time: nothing to keep in sync on the hot path.
  const perLog = (name: string, help: string, read: (log: string) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['log'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const info of engine.listLogs()) {
          try {
            this.set({ log: info.name }, read(info.name));
          } catch {
            // A log closing during a scrape is simply left out of this scrape.
          }
        }
      },
    });
  perLog(
    'indelible_log_tree_size',
    'Tree size of the latest signed checkpoint, per log.',
    (l) => engine.log(l).treeSize,
  );
  perLog(
    'indelible_log_durable_entries',
    'Durable (acknowledged) entries, per log.',
    (l) => engine.log(l).size,
  );
  perLog(
    'indelible_log_queue_depth',
    'Events waiting to be sequenced, per log.',
    (l) => engine.log(l).queueDepth,
  );

  // Labelled children cached per (method, route, status): the label hashing is done once, not per request.
  type Child = { requests: ReturnType<typeof requests.labels>; latency: ReturnType<typeof latency.labels> };
  const children = new Map<string, Child>();
  // Per-log ingest counters, cached the same way (one entry per log that received events).
  const ingestedByLog = new Map<string, ReturnType<typeof ingested.labels>>();
  return {
    registry,
    observeRequest(method, route, status, seconds) {
      const id = `${method} ${status} ${route}`;
      let child = children.get(id);
      if (child === undefined) {
        child = {
          requests: requests.labels({ method, route, status: String(status) }),
          latency: latency.labels({ method, route }),
        };
        children.set(id, child);
      }
      child.requests.inc();
      child.latency.observe(seconds);
    },
    observeIngest(log, events) {
      let counter = ingestedByLog.get(log);
      if (counter === undefined) {
        counter = ingested.labels({ log });
        ingestedByLog.set(log, counter);
      }
      counter.inc(events);
      batchSize.observe(events);
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
