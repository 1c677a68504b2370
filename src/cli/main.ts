#!/usr/bin/env node
/**
 * `indelible`: the command line. Exit codes: 0 success; 1 failure (including a verification that
 * found a problem); 2 usage error (bad flags or arguments).
 */
import { Command, CommanderError } from 'commander';
import { isIndelibleError } from '../core/errors.js';
import { registerAlerts } from './alerts.js';
import { registerAppend } from './append.js';
import { registerExport } from './export.js';
import { registerGet } from './get.js';
import { registerInit } from './init.js';
import { registerKeys } from './keys.js';
import { registerLogs } from './logs.js';
import { UsageError } from './options.js';
import { registerPolicy } from './policy.js';
import { registerQuery } from './query.js';
import { registerReindex } from './reindex.js';
import { registerServe } from './serve.js';
import { registerVerify } from './verify.js';

export function buildProgram(): Command {
  const program = new Command('indelible')
    .description('Indelible: a self-hosted, tamper-evident audit log')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 success; 1 failure (a request failed, or a verification found a problem); 2 usage error.
Environment: INDELIBLE_URL, INDELIBLE_API_KEY, INDELIBLE_LOG for the commands that talk to a server;
INDELIBLE_DATA for those that open a data directory; NO_COLOR turns colour off.
Run \`indelible help COMMAND\` for a command's flags and examples; docs/CLI.md is the reference.
`,
    );
  registerInit(program);
  registerServe(program);
  registerLogs(program);
  registerKeys(program);
  registerPolicy(program);
  registerAppend(program);
  registerQuery(program);
  registerGet(program);
  registerExport(program);
  registerReindex(program);
  registerVerify(program);
  registerAlerts(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isIndelibleError(err)) {
      process.stderr.write(`indelible: ${err.message} [${err.code}]\n`);
      return 1;
    }
    // System errors (EADDRINUSE, EACCES, ENOENT…) and usage errors are the user's to fix: no stack.
    const sys = err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
    if (err instanceof UsageError) {
      process.stderr.write(`indelible: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(
      `indelible: ${err instanceof Error ? (sys ? err.message : (err.stack ?? err.message)) : String(err)}\n`,
    );
    return 1;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
