/**
 * The server's configuration: one typed object, read from an optional JSON file (`--config FILE`)
 * and completed by flags and environment variables. Unknown keys, wrong types and conflicting options
 * fail at start with a sentence naming them. Every field is documented in docs/CONFIGURATION.md.
 */
import { readFileSync } from 'node:fs';
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { IndelibleError } from '../core/errors.js';
import { DEFAULT_EVENT_LIMITS } from '../core/event.js';
import { defaultHttpConfig, resolveHttpConfig } from '../http/config.js';
import { defaultEngineConfig } from '../log/config.js';
import { resolveMonitorConfig } from '../monitor/config.js';
import { MonitorConfigSchema } from '../monitor/config-schema.js';

const Int = (min = 0) => Type.Integer({ minimum: min });
const closed = { additionalProperties: false } as const;

/** The server's log levels (pino's), most to least severe. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const ServerConfigSchema = Type.Object(
  {
    /** `HOST:PORT` to listen on. */
    listen: Type.Optional(Type.String()),
    logLevel: Type.Optional(Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)))),
    /** Also set the filesystem immutable flag on sealed tiles and bundles. */
    immutableFlag: Type.Optional(Type.Boolean()),
    http: Type.Optional(
      Type.Object(
        {
          bodyLimit: Type.Optional(Int(1)),
          maxBatchEvents: Type.Optional(Int(1)),
          publicReads: Type.Optional(Type.Boolean()),
          publicMetrics: Type.Optional(Type.Boolean()),
          retryAfterSeconds: Type.Optional(Int(1)),
          idempotencyTtlMs: Type.Optional(Int(1)),
          rateLimit: Type.Optional(
            Type.Object(
              { ratePerSecond: Type.Number({ minimum: 0 }), burst: Type.Number({ minimum: 0 }) },
              closed,
            ),
          ),
          exportIndexWaitMs: Type.Optional(Int(0)),
          trustProxy: Type.Optional(
            Type.Union([Type.Boolean(), Int(1), Type.Array(Type.String(), { minItems: 1 })]),
          ),
          accessLog: Type.Optional(Type.Boolean()),
          drainMs: Type.Optional(Int(0)),
          shutdownGraceMs: Type.Optional(Int(0)),
          exportIdleTimeoutMs: Type.Optional(Int(0)),
          requestTimeoutMs: Type.Optional(Int(0)),
        },
        closed,
      ),
    ),
    engine: Type.Optional(
      Type.Object(
        {
          sequencer: Type.Optional(
            Type.Object(
              {
                maxBatchEvents: Type.Optional(Int(1)),
                maxBatchBytes: Type.Optional(Int(1)),
                maxBatchAgeMs: Type.Optional(Int(0)),
                maxQueuedEvents: Type.Optional(Int(1)),
              },
              closed,
            ),
          ),
          integrator: Type.Optional(
            Type.Object({ intervalMs: Type.Optional(Int(1)), maxPending: Type.Optional(Int(1)) }, closed),
          ),
          readCache: Type.Optional(
            Type.Object({ tiles: Type.Optional(Int(1)), bundles: Type.Optional(Int(1)) }, closed),
          ),
        },
        closed,
      ),
    ),
    /**
     * Write-once archive to S3 Object Lock (docs/ARCHIVE.md). Credentials come from the AWS SDK's
     * default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile or an instance role), never
     * from this file.
     */
    archive: Type.Optional(
      Type.Object(
        {
          bucket: Type.String({ minLength: 3 }),
          prefix: Type.Optional(Type.String()),
          region: Type.Optional(Type.String()),
          endpoint: Type.Optional(Type.String()),
          forcePathStyle: Type.Optional(Type.Boolean()),
          checksums: Type.Optional(
            Type.Union([Type.Literal('when_required'), Type.Literal('when_supported')]),
          ),
          /**
           * Default `retention.min` (how long archived objects are locked in COMPLIANCE mode), e.g.
           * `7y`, for every log without a stored policy; default 365 days. A log's own policy
           * (`PUT /v1/logs/{log}/policy`) replaces it for that log.
           */
          retentionMin: Type.Optional(Type.Union([Type.String(), Int(1000)])),
          /**
           * Default `archive.after` (how long sealed data stays on local disk once archived), e.g.
           * `30d` or `never`, for every log without a stored policy; default 30 days.
           */
          archiveAfter: Type.Optional(Type.Union([Type.String(), Int(0)])),
          /** How often to archive and evict, in ms (default 10 minutes). */
          intervalMs: Type.Optional(Int(1000)),
        },
        closed,
      ),
    ),
    /**
     * Retention pruning (docs/RETENTION.md): how often, in ms, every log is checked against its
     * `retention.max` (default 60,000). Policies themselves are per log (`PUT /v1/logs/{log}/policy`).
     */
    retention: Type.Optional(Type.Object({ intervalMs: Type.Optional(Int(1000)) }, closed)),
    /** Self-audit rules, alerts and webhooks (docs/MONITORING.md). */
    monitor: Type.Optional(MonitorConfigSchema),
    eventLimits: Type.Optional(
      Type.Object(
        {
          maxRecordBytes: Type.Optional(Int(256)),
          maxMetadataDepth: Type.Optional(Int(1)),
          maxTargets: Type.Optional(Int(1)),
          maxActionLength: Type.Optional(Int(1)),
          maxFieldLength: Type.Optional(Int(1)),
        },
        closed,
      ),
    ),
  },
  closed,
);

export type ServerConfig = Static<typeof ServerConfigSchema>;

export type ConfigErrorCode = 'config.unreadable' | 'config.invalid' | 'config.conflict';
export class ConfigError extends IndelibleError<ConfigErrorCode> {}

/** Validates a parsed config object; the error names the first offending option. */
export function parseServerConfig(value: unknown, source = 'config'): ServerConfig {
  if (!Value.Check(ServerConfigSchema, value)) {
    const first = [...Value.Errors(ServerConfigSchema, value)][0];
    const where = first?.path ? first.path.slice(1).replaceAll('/', '.') : '(root)';
    const what = first?.message ?? 'is invalid';
    // additionalProperties errors point at the parent; name the unknown key itself.
    const unknown =
      first && typeof first.value === 'object' && first.value !== null && first.message.includes('additional')
        ? ` (unknown keys: ${Object.keys(first.value as object).join(', ')})`
        : '';
    throw new ConfigError('config.invalid', `${source}: option ${where || '(root)'} ${what}${unknown}`, {
      details: { option: where },
    });
  }
  const http = { ...defaultHttpConfig, ...value.http };
  const seq = { ...defaultEngineConfig.sequencer, ...value.engine?.sequencer };
  if (http.maxBatchEvents > seq.maxQueuedEvents) {
    throw new ConfigError(
      'config.conflict',
      `${source}: http.maxBatchEvents (${http.maxBatchEvents}) exceeds engine.sequencer.maxQueuedEvents (${seq.maxQueuedEvents}); a full batch could never be accepted`,
    );
  }
  if (seq.maxBatchEvents > seq.maxQueuedEvents) {
    throw new ConfigError(
      'config.conflict',
      `${source}: engine.sequencer.maxBatchEvents (${seq.maxBatchEvents}) exceeds engine.sequencer.maxQueuedEvents (${seq.maxQueuedEvents}); the queue must hold at least one full commit`,
    );
  }
  const limits = { ...DEFAULT_EVENT_LIMITS, ...value.eventLimits };
  if (limits.maxRecordBytes > 65535) {
    throw new ConfigError(
      'config.conflict',
      `${source}: eventLimits.maxRecordBytes (${limits.maxRecordBytes}) exceeds 65535, the largest entry a tlog-tiles entry bundle can hold`,
    );
  }
  // Values beyond their types (a rate limit's burst, a trusted proxy's CIDR) are checked here too,
  // so a bad one stops the server with this error, before the data directory is opened.
  try {
    resolveHttpConfig(value.http);
  } catch (cause) {
    if (!(cause instanceof RangeError)) throw cause;
    throw new ConfigError('config.invalid', `${source}: ${cause.message}`, { cause });
  }
  // The monitor's values beyond their types (a webhook secret's length, a time zone, an off-hours
  // period) are checked here too, so a bad one stops the server before the data directory is opened.
  if (value.monitor !== undefined) resolveMonitorConfig(value.monitor);
  return value;
}

export function loadServerConfig(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(
      'config.unreadable',
      `cannot read config file ${path}: ${(cause as Error).message}`,
      { cause },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError('config.invalid', `${path} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    });
  }
  return parseServerConfig(parsed, path);
}
