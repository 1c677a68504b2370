#!/usr/bin/env node
/**
 * `indelible`: the command line. Exit codes: 0 success; 1 failure (including a verification that
 * found a problem); 2 usage error (bad flags or arguments).
 */
import { CommanderError } from 'commander';
import { isIndelibleError } from '../core/errors.js';
import { UsageError } from './options.js';
import { buildProgram } from './program.js';
import { exitOnClosedPipe } from './remote.js';

async function main(argv: string[]): Promise<number> {
  // A reader that went away (`indelible help verify | head`) ends the command quietly, status 0. Not
  // the server's: it keeps serving whatever happens to the pipe of its log.
  if (argv[2] !== 'serve') exitOnClosedPipe();
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
