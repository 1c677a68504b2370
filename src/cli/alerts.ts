import type { Command } from 'commander';
import { isRfc3339DateTime } from '../core/event.js';
import { MAX_ALERT_LIMIT } from '../monitor/alert-store.js';
import { type Alert, alertView } from '../monitor/audit-events.js';
import { RULES, SEVERITIES } from '../monitor/config.js';
import { cliActor, withAuditedDataDir } from './operator.js';
import { printJson, UsageError } from './options.js';

function time(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!isRfc3339DateTime(v))
    throw new UsageError(`${flag} must be an RFC 3339 date-time (2026-01-05T09:00:00Z)`);
  return Date.parse(v);
}

function line(a: Alert): string {
  const ack = a.acknowledgedAt === null ? 'open' : `acknowledged ${a.acknowledgedAt} by ${a.acknowledgedBy}`;
  return `${a.id}\t${a.at}\t${a.severity}\t${a.rule}\t${a.subject}\t${ack}\n`;
}

/**
 * Alerts straight on a data directory (the server must be stopped, since the directory is locked
 * while it runs; against a running server use `GET /v1/alerts` and `POST /v1/alerts/{id}/ack`).
 * Both commands are recorded in `_audit`, with the operating-system user as the actor.
 */
export function registerAlerts(program: Command): void {
  const alerts = program.command('alerts').description('list and acknowledge monitoring alerts');
  alerts
    .command('list')
    .description('list alerts, newest first')
    .option('--rule <rule>', `only this rule (${RULES.join(', ')})`)
    .option('--severity <severity>', `only this severity (${SEVERITIES.join(', ')})`)
    .option('--subject <subject>', 'only this subject, e.g. key:key_abc… or ip:203.0.113.7')
    .option('--open', 'only alerts not yet acknowledged')
    .option('--since <time>', 'raised at or after (RFC 3339)')
    .option('--until <time>', 'raised before (RFC 3339)')
    .option('--limit <n>', `at most this many (1..${MAX_ALERT_LIMIT}, default 100)`)
    .option('--cursor <cursor>', 'continue after a previous page (its next_cursor)')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  $ indelible alerts list --open --severity critical --data ./data\n')
    .action(
      async (opts: {
        rule?: string;
        severity?: string;
        subject?: string;
        open?: boolean;
        since?: string;
        until?: string;
        limit?: string;
        cursor?: string;
        data?: string;
        json?: boolean;
      }) => {
        if (opts.rule !== undefined && !(RULES as readonly string[]).includes(opts.rule))
          throw new UsageError(`--rule must be one of ${RULES.join(', ')}`);
        if (opts.severity !== undefined && !(SEVERITIES as readonly string[]).includes(opts.severity))
          throw new UsageError(`--severity must be one of ${SEVERITIES.join(', ')}`);
        const limit = opts.limit === undefined ? undefined : Number(opts.limit);
        if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_ALERT_LIMIT))
          throw new UsageError(`--limit must be an integer in 1..${MAX_ALERT_LIMIT}`);
        if (opts.cursor !== undefined && !/^[1-9][0-9]{0,15}$/.test(opts.cursor))
          throw new UsageError('--cursor must be a next_cursor printed by a previous list');
        const query = {
          ...(opts.rule === undefined ? {} : { rule: opts.rule }),
          ...(opts.severity === undefined ? {} : { severity: opts.severity }),
          ...(opts.subject === undefined ? {} : { subject: opts.subject }),
          ...(opts.open ? { acknowledged: false } : {}),
          since: time('--since', opts.since),
          until: time('--until', opts.until),
          ...(limit === undefined ? {} : { limit }),
          ...(opts.cursor === undefined ? {} : { cursor: opts.cursor }),
        };
        await withAuditedDataDir(opts.data, (_dd, monitor) => {
          const page = monitor.alerts.list(query);
          monitor.recordAdmin({
            what: 'alert.list',
            actor: cliActor(),
            details: { filter: { ...query }, count: page.alerts.length },
          });
          if (opts.json) printJson({ alerts: page.alerts.map(alertView), next_cursor: page.nextCursor });
          else {
            for (const a of page.alerts) process.stdout.write(line(a));
            if (page.nextCursor !== null) process.stdout.write(`(more: --cursor ${page.nextCursor})\n`);
          }
        });
      },
    );
  alerts
    .command('ack <id>')
    .description('acknowledge an alert (recorded in _audit); acknowledging again changes nothing')
    .option('--note <text>', 'why: false positive, handled, …')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ indelible alerts ack 3 --note "planned key rotation" --data ./data\n',
    )
    .action(async (idText: string, opts: { note?: string; data?: string; json?: boolean }) => {
      if (!/^[1-9][0-9]{0,15}$/.test(idText) || !Number.isSafeInteger(Number(idText)))
        throw new UsageError('the alert id must be a positive integer');
      const id = Number(idText);
      await withAuditedDataDir(opts.data, (_dd, monitor) => {
        const actor = cliActor();
        const { before, after, changed } = monitor.acknowledge(id, actor.id, opts.note ?? null);
        const state = (a: Alert) => ({
          acknowledged_at: a.acknowledgedAt,
          acknowledged_by: a.acknowledgedBy,
          note: a.note,
        });
        monitor.recordAdmin({
          what: 'alert.ack',
          actor,
          target: { id: String(id), type: 'alert' },
          before: state(before),
          after: state(after),
          details: { rule: after.rule, changed },
        });
        if (opts.json) printJson({ alert: alertView(after), changed });
        else
          process.stdout.write(
            changed
              ? `acknowledged ${id}\n`
              : `${id} was already acknowledged ${after.acknowledgedAt} by ${after.acknowledgedBy}\n`,
          );
      });
    });
}
