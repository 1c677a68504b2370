/**
 * README and CLI.md promise that every command's `--help` shows examples: each command that runs
 * (a leaf of the command tree) has an `Example:` or `Examples:` section with an `indelible` line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from './program.js';

function leaves(cmd: Command, path: string[] = []): Array<[string, Command]> {
  if (cmd.commands.length === 0) return [[path.join(' '), cmd]];
  return cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
}

const commands = leaves(buildProgram());

test('the command tree is walked (a sanity check of the walk itself)', () => {
  const names = commands.map(([name]) => name);
  for (const name of ['serve', 'keys revoke', 'policy release', 'alerts ack', 'verify']) {
    assert.ok(names.includes(name), `${name} is a command`);
  }
});

for (const [name, cmd] of commands) {
  test(`indelible ${name} --help shows an example`, () => {
    let out = '';
    cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    cmd.outputHelp();
    assert.match(out, new RegExp(`\\nExamples?:\\n {2}\\$ (\\S+=\\S+ )*indelible ${name}\\b`), out);
  });
}

test('help into a pipe its reader closed ends quietly, status 1 for the lost output (was an unhandled EPIPE)', () => {
  const bin = fileURLToPath(new URL('./bin.js', import.meta.url));
  // `true` exits without reading: the help text meets a closed pipe.
  for (let i = 0; i < 3; i++) {
    const res = spawnSync(
      'bash',
      ['-c', `"${process.execPath}" "${bin}" help verify | true; echo "status \${PIPESTATUS[0]}"`],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(res.stdout.trim(), 'status 1', res.stderr);
    assert.equal(res.stderr, '');
  }
});
