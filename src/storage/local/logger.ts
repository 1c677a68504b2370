/**
 * The subset of a logger the local driver uses; pino's `Logger` satisfies it. Injected through the
 * driver options, never a module global.
 */
export interface StorageLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

/** One JSON line per warning on stderr, for callers that inject no logger. */
export function stderrLogger(): StorageLogger {
  return {
    warn(details, message) {
      process.stderr.write(`${JSON.stringify({ level: 'warn', msg: message, ...details })}\n`);
    },
  };
}
