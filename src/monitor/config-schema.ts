/**
 * The `monitor` section of the server's configuration file, as a TypeBox schema for
 * src/app/config.ts (`monitor: Type.Optional(MonitorConfigSchema)`): shapes and types only; the
 * value rules (ranges, time zones, URLs, secrets) are `resolveMonitorConfig`'s, which names the
 * option it refuses. Every field is optional and documented in docs/MONITORING.md.
 */
import { Type } from '@sinclair/typebox';
import { RULES, SEVERITIES } from './config.js';

const closed = { additionalProperties: false } as const;
const Int = () => Type.Optional(Type.Integer({ minimum: 1 }));
const base = {
  enabled: Type.Optional(Type.Boolean()),
  severity: Type.Optional(Type.Union(SEVERITIES.map((s) => Type.Literal(s)))),
};
const windowRule = Type.Optional(Type.Object({ ...base, threshold: Int(), windowMs: Int() }, closed));

export const MonitorConfigSchema = Type.Object(
  {
    audit: Type.Optional(
      Type.Object({ flushIntervalMs: Int(), maxBatchEvents: Int(), maxQueuedEvents: Int() }, closed),
    ),
    checkIntervalMs: Int(),
    rules: Type.Optional(
      Type.Object(
        {
          bulk_read: windowRule,
          large_export: windowRule,
          auth_failures: windowRule,
          enumeration: windowRule,
          new_address: Type.Optional(
            Type.Object(
              { ...base, ipv4PrefixLength: Int(), ipv6PrefixLength: Int(), maxNetworksPerKey: Int() },
              closed,
            ),
          ),
          off_hours: Type.Optional(
            Type.Object(
              {
                ...base,
                timeZone: Type.Optional(Type.String()),
                allowed: Type.Optional(
                  Type.Array(
                    Type.Object(
                      {
                        days: Type.Array(Type.Integer({ minimum: 0, maximum: 6 })),
                        from: Type.String(),
                        to: Type.String(),
                      },
                      closed,
                    ),
                  ),
                ),
                windowMs: Int(),
              },
              closed,
            ),
          ),
          dormant_key: Type.Optional(Type.Object({ ...base, dormantMs: Int() }, closed)),
          integration_stalled: Type.Optional(Type.Object({ ...base, stalledMs: Int() }, closed)),
          checkpoint_stale: Type.Optional(Type.Object({ ...base, maxAgeMs: Int() }, closed)),
          verification_failure: Type.Optional(Type.Object({ ...base, windowMs: Int() }, closed)),
          audit_write_failure: Type.Optional(Type.Object({ ...base, windowMs: Int() }, closed)),
          revoked_key_used: Type.Optional(Type.Object({ ...base, windowMs: Int() }, closed)),
        },
        closed,
      ),
    ),
    webhooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.Optional(Type.String()),
            url: Type.String(),
            secret: Type.String(),
            events: Type.Optional(Type.Array(Type.Union(RULES.map((r) => Type.Literal(r))))),
          },
          closed,
        ),
      ),
    ),
    delivery: Type.Optional(
      Type.Object({ initialBackoffMs: Int(), maxBackoffMs: Int(), timeoutMs: Int() }, closed),
    ),
  },
  closed,
);
