import { existsSync, readdirSync } from 'node:fs';
import type { Command } from 'commander';
import { LOG_LEVELS, loadServerConfig, type ServerConfig } from '../app/config.js';
import { initDataDir, isInitialized, isUnfinishedInit, openDataDir } from '../app/data-dir.js';
import { RetentionService } from '../retention/retention-service.js';
import { VERSION } from '../version.js';
import { cliActor } from './operator.js';
import { dataDirOption, UsageError } from './options.js';
import { settingsSummary } from './settings-summary.js';

/** Parses `HOST:PORT` (IPv6 as `[::1]:7070`). */
export function parseListen(value: string, source = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new UsageError(`${source} expects HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: (m[1] ?? m[2])!, port };
}

interface ServeOptions {
  data?: string;
  listen?: string;
  init?: boolean;
  immutableFlag?: boolean;
  logLevel?: string;
  config?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP server on a data directory')
    .option('--data <dir>', 'data directory (env INDELIBLE_DATA)')
    .option('--listen <host:port>', 'address to listen on (env INDELIBLE_LISTEN)', undefined)
    .option('--init', 'initialise the data directory first if it is missing or empty, printing the admin key')
    .option(
      '--immutable-flag',
      'also set the filesystem immutable flag on sealed files (needs root / CAP_LINUX_IMMUTABLE)',
    )
    .option('--log-level <level>', 'pino log level (env INDELIBLE_LOG_LEVEL)', undefined)
    .option('--config <file>', 'JSON configuration file (see docs/CONFIGURATION.md)')
    .addHelpText('after', '\nExample:\n  $ indelible serve --data ./data --listen 127.0.0.1:7070\n')
    .action(async (opts: ServeOptions) => {
      const dir = dataDirOption(opts.data);
      // Loaded here, not at the top: every other command starts faster without the HTTP stack.
      const [
        { pino },
        { serverLogDestination },
        { buildServer },
        { createMonitor },
        { registerArchiveMetrics },
      ] = await Promise.all([
        import('pino'),
        import('./log-destination.js'),
        import('../http/server.js'),
        import('../monitor/monitor.js'),
        import('../retention/archive-metrics.js'),
      ]);
      const config: ServerConfig = opts.config ? loadServerConfig(opts.config) : {};
      /** Where a setting came from, for its error: the flag, the environment or the configuration file. */
      const sourceOf = (flag: string, given: unknown, env: string, key: string) =>
        given !== undefined
          ? flag
          : process.env[env] !== undefined
            ? env
            : `${opts.config ?? 'config'}: ${key}`;
      const listen = parseListen(
        opts.listen ?? process.env.INDELIBLE_LISTEN ?? config.listen ?? '127.0.0.1:7070',
        sourceOf('--listen', opts.listen, 'INDELIBLE_LISTEN', 'listen'),
      );
      // Asynchronous log writes keep the request path off the terminal or pipe (log-destination.ts).
      // Lines reach stdout at most 250 ms late: the destination's own flush, without a callback, only
      // writes what is buffered (pino's logger.flush would also fsync stdout and, while a pipe is
      // stalled, leave a listener behind each time). At stop, logger.flush.
      const logDestination = serverLogDestination();
      const level = opts.logLevel ?? process.env.INDELIBLE_LOG_LEVEL ?? config.logLevel ?? 'info';
      if (!LOG_LEVELS.includes(level)) {
        const from = sourceOf('--log-level', opts.logLevel, 'INDELIBLE_LOG_LEVEL', 'logLevel');
        throw new UsageError(`${from} must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`);
      }
      const logger = pino(
        {
          level,
          redact: ['req.headers.authorization', 'headers.authorization'],
        },
        logDestination,
      );
      setInterval(() => {
        try {
          logDestination.flush();
        } catch {
          // The destination is closed (stopping): nothing left to flush.
        }
      }, 250).unref();
      let adminKey: string | undefined;
      if (!isInitialized(dir)) {
        // An init cut short (its marker, no identity) is started over like an empty directory.
        const empty = !existsSync(dir) || readdirSync(dir).length === 0 || isUnfinishedInit(dir);
        if (!opts.init) {
          throw new UsageError(
            `${dir} is not an Indelible data directory; create it with \`indelible init --data ${dir}\` (or pass --init)`,
          );
        }
        if (!empty) {
          throw new UsageError(
            `${dir} is not an Indelible data directory and not empty; --init initialises only a missing or empty directory`,
          );
        }
        adminKey = (await initDataDir(dir, { actor: cliActor() })).adminKey;
      }
      // A start that fails once the directory is initialised (its archive bucket unreachable, its
      // address in use) prints the new admin key all the same: the next `serve --init` finds the
      // directory initialised and prints none.
      const failedStart = (err: unknown): unknown => {
        if (adminKey) {
          process.stderr.write(
            `\nThe data directory ${dir} was initialised before the server failed to start.\nAdmin API key (shown only now; store it safely):\n  ${adminKey}\n\n`,
          );
        }
        return err;
      };
      const dd = await openDataDir(dir, {
        logger,
        immutableFlag: opts.immutableFlag === true || config.immutableFlag === true,
        ...(config.engine ? { engine: config.engine } : {}),
        ...(config.eventLimits ? { eventLimits: config.eventLimits } : {}),
        ...(config.archive ? { archive: config.archive } : {}),
      }).catch((err: unknown) => {
        throw failedStart(err);
      });
      // A start that fails past this point (a monitor, retention or HTTP setting that cannot be
      // honoured) closes what it opened, so the process exits and the data directory is unlocked.
      let monitor!: ReturnType<typeof createMonitor>;
      let retention!: RetentionService;
      let app!: Awaited<ReturnType<typeof buildServer>>;
      try {
        // The self-audit monitor records every access in `_audit`; there is no switch to turn it off.
        monitor = createMonitor({
          engine: dd.engine,
          meta: dd.meta,
          logger,
          ...(config.monitor ? { config: config.monitor } : {}),
        });
        dd.engine.observeCommits((_log, events, seconds) => {
          monitor.metrics.observeFsync(seconds);
          monitor.metrics.observeCommitBatch(events);
        });
        for (const r of dd.engine.recoveries()) {
          const { tornBytes, ...replayed } = r;
          monitor.recordLifecycle('recovery', {
            ...replayed,
            ...(tornBytes === undefined ? {} : { torn_bytes: tornBytes }),
          });
        }
        // Damaged or altered objects found by the index feed or the archiver raise `verification_failure`.
        dd.engine.observeIndexFailures((log, err) =>
          monitor.reportIntegrityError(err, { source: 'index', log }),
        );
        dd.archive?.observeFailures((log, err) =>
          monitor.reportIntegrityError(err, { source: 'archive', log }),
        );
        if (dd.archive) registerArchiveMetrics(monitor.registry, dd.archive);
        // Retention pruning after each log's retention.max (never under legal hold), recorded in _audit.
        retention = new RetentionService({
          engine: dd.engine,
          logger,
          audit: (log, d) => monitor.recordPrune({ log, ...d }),
          onFailure: (log, err) => monitor.reportIntegrityError(err, { source: 'retention', log }),
          // The store of the log's opened archiver: its own target (policy archive.target) or the server's.
          ...(dd.archive
            ? { archiveOf: async (log: string) => (await dd.archive!.archiver(log)).store }
            : {}),
        });
        retention.start(config.retention?.intervalMs ?? 60_000);
        app = await buildServer({
          engine: dd.engine,
          keys: dd.keys,
          meta: dd.meta,
          logger,
          monitor,
          ...(config.http ? { config: config.http } : {}),
        });
      } catch (err) {
        // Either may not exist yet (declared, not yet assigned).
        await (retention as RetentionService | undefined)?.close().catch(() => undefined);
        await (monitor as typeof monitor | undefined)?.close().catch(() => undefined);
        await dd.close().catch(() => undefined);
        throw failedStart(err);
      }
      let stopping: Promise<void> | undefined;
      const stop = (signal: string) => {
        stopping ??= (async () => {
          logger.info({ signal }, 'shutting down: finishing in-flight writes');
          monitor.recordLifecycle('stop', { signal });
          try {
            await app.close();
            await retention.close();
            await monitor.close();
          } finally {
            await dd.close();
          }
          logger.info({}, 'stopped');
          logger.flush();
        })();
        return stopping;
      };
      // A shutdown that cannot finish (an integration that fails: a full disk, a damaged tile) says
      // so in the log and exits 1; acknowledged entries stay in the journal for the next start.
      const stopOnSignal = (signal: string) =>
        stop(signal)
          .catch((err: unknown) => {
            logger.error(
              { err },
              'shutdown failed; acknowledged entries stay in the journal for the next start',
            );
            logger.flush();
            process.exitCode = 1;
          })
          .finally(() => {
            // Stopped: should anything still hold the process, a signal takes its default action.
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          });
      // A signal while stopping (a second Ctrl-C, a supervisor that signals the process and then its
      // group) does not cut the shutdown short: with the default action it killed the process before
      // it signed the acknowledged entries and flushed its log. The shutdown is bounded (drainMs,
      // shutdownGraceMs, the last integration); SIGKILL stops at once, and the journal keeps what
      // was acknowledged for the next start.
      const onSignal = (signal: string) => {
        if (stopping !== undefined) {
          logger.warn({ signal }, 'already shutting down; send SIGKILL to stop at once');
          return;
        }
        void stopOnSignal(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await app.listen({ host: listen.host, port: listen.port });
      } catch (err) {
        // A port already in use, say: close what was opened, so the process exits with the error.
        await stop('listen failed');
        throw failedStart(err);
      }
      const bound = app.addresses()[0];
      const port = bound && typeof bound === 'object' ? bound.port : listen.port;
      const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
      const url = `http://${host}:${port}`;
      monitor.recordLifecycle('start', {
        url,
        logs: dd.engine.listLogs().length,
        version: VERSION,
        settings: settingsSummary(config.http, config.monitor),
      });
      process.stdout.write(`Indelible is serving ${dir} at ${url}\n`);
      if (adminKey) {
        process.stdout.write(
          `\nNew data directory. Admin API key (shown only now; store it safely):\n  ${adminKey}\n\n`,
        );
      }
    });
}
