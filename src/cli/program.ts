/** The `indelible` command tree (main.ts runs it; tests walk it without running anything). */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerAlerts } from './alerts.js';
import { registerAppend } from './append.js';
import { registerExport } from './export.js';
import { registerGet } from './get.js';
import { registerInit } from './init.js';
import { registerKeys } from './keys.js';
import { registerLogs } from './logs.js';
import { registerPolicy } from './policy.js';
import { registerQuery } from './query.js';
import { registerReindex } from './reindex.js';
import { registerServe } from './serve.js';
import { registerVerify } from './verify.js';

export function buildProgram(): Command {
  const program = new Command('indelible')
    .description('Indelible: a self-hosted, tamper-evident audit log')
    .version(VERSION)
    // Commander's own usage errors read like ours (`indelible: <message>`, CLI.md), with a pointer
    // to the command's help rather than all of it; subcommands inherit both settings.
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'indelible: ')) })
    .showHelpAfterError('(add --help for the flags and examples)')
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
