/**
 * Admin commands run straight on a stopped data directory (`--data`) are recorded in `_audit` like
 * their HTTP counterparts (DESIGN §5 invariant 4), with the operating-system user as the actor.
 */
import { userInfo } from 'node:os';
import { AUDIT_LOG, type OpenedDataDir, openDataDir } from '../app/data-dir.js';
import { createMonitor, type Monitor } from '../monitor/monitor.js';
import { dataDirOption } from './options.js';

/** Who acts from the command line, as recorded in `_audit` (the OS user, when it can be known). */
export function cliActor(): { id: string; type: string } {
  try {
    return { id: `cli:${userInfo().username}`, type: 'operator' };
  } catch {
    return { id: 'cli', type: 'operator' };
  }
}

/**
 * Opens the data directory of `--data` (or INDELIBLE_DATA), its `_audit` log only, with a monitor
 * that records to `_audit` but runs no background checks, runs `work`, and closes both: the monitor
 * first, which flushes what `work` recorded into `_audit` before the engine closes.
 */
export async function withAuditedDataDir<T>(
  data: string | undefined,
  work: (dd: OpenedDataDir, monitor: Monitor) => T | Promise<T>,
): Promise<T> {
  // Only `_audit`: an admin command must not wait for every log's recovery, nor fail because some
  // other log cannot open (a key must be revocable while a damaged object waits to be restored).
  const dd = await openDataDir(dataDirOption(data), { logs: [AUDIT_LOG] });
  const monitor = createMonitor({ engine: dd.engine, meta: dd.meta, background: false });
  const close = async () => {
    try {
      await monitor.close();
    } finally {
      await dd.close();
    }
  };
  let result: T;
  try {
    result = await work(dd, monitor);
  } catch (err) {
    // The work's error is the one to report; closing after it fails too when `_audit` cannot be
    // written (the monitor flushes again), which would only repeat the cause.
    await close().catch(() => undefined);
    throw err;
  }
  await close();
  return result;
}
