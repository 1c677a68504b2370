/**
 * Builds the browser verifier bundle: src/browser/verifier.ts (the core's verification functions)
 * for esbuild's `browser` platform, with the core's two platform modules swapped for their browser
 * twins — `./crypto.js` → src/browser/crypto.ts (@noble), `./encoding.js` → src/browser/encoding.ts
 * (no Buffer). The build FAILS if anything in the bundle imports a Node built-in, so a core change
 * that would break browsers breaks the build (and browser.test.ts) instead.
 *
 * Works from source (tsx, .ts files) and from the compiled tree (dist, .js files) alike.
 * Run `node dist/src/browser/build.js OUTFILE` to write the bundle (IIFE, global `IndelibleVerifier`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
const coreDir = join(here, '..', 'core');

export interface BrowserBundle {
  /** The bundle: an IIFE that defines `globalThis.IndelibleVerifier`. */
  code: string;
  metafile: Metafile;
}

const NODE_BUILTIN = new RegExp(
  `^(node:.*|(${builtinModules.map((m) => m.replace(/[/\\\\^$.*+?()[\]{}|]/g, '\\$&')).join('|')})(/.*)?)$`,
);

/** Maps the core's platform modules to the browser ones, and refuses every Node built-in. */
const browserPlatform: Plugin = {
  name: 'indelible-browser-platform',
  setup(b) {
    // Any import that lands on src/core/crypto.js or encoding.js, from the core or elsewhere.
    b.onResolve({ filter: /(^|\/)(crypto|encoding)\.js$/ }, (args) => {
      if (!args.path.startsWith('.')) return undefined;
      const target = resolve(dirname(args.importer), args.path);
      for (const name of ['crypto', 'encoding']) {
        if (target === join(coreDir, `${name}.js`)) return { path: join(here, `${name}.${ext}`) };
      }
      return undefined;
    });
    b.onResolve({ filter: NODE_BUILTIN }, (args) => ({
      errors: [
        {
          text: `the browser bundle may not use the Node built-in "${args.path}" (imported by ${args.importer})`,
        },
      ],
    }));
  },
};

export async function buildBrowserVerifier(options: { minify?: boolean } = {}): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: [join(here, `verifier.${ext}`)],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'IndelibleVerifier',
    target: ['es2022'],
    minify: options.minify ?? false,
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [browserPlatform],
  });
  checkMetafile(result.metafile);
  const code = result.outputFiles[0]?.text;
  if (code === undefined) throw new Error('esbuild produced no output');
  return { code, metafile: result.metafile };
}

/**
 * Belt and braces over the plugin: no input may be a Node built-in, an external, or the Node
 * versions of the core's platform modules.
 */
export function checkMetafile(metafile: Metafile): void {
  const bad: string[] = [];
  const nodeTwins = [join('core', `crypto.${ext}`), join('core', `encoding.${ext}`)];
  for (const [path, input] of Object.entries(metafile.inputs)) {
    if (NODE_BUILTIN.test(path) || nodeTwins.some((t) => path.endsWith(t))) bad.push(path);
    for (const imp of input.imports)
      if (imp.external || NODE_BUILTIN.test(imp.path)) bad.push(`${path} → ${imp.path}`);
  }
  for (const output of Object.values(metafile.outputs)) {
    for (const imp of output.imports) bad.push(`output → ${imp.path}`);
  }
  if (bad.length > 0) throw new Error(`the browser bundle pulls in Node-only code: ${bad.join(', ')}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: build.js OUTFILE\n');
    process.exit(2);
  }
  const { code } = await buildBrowserVerifier({ minify: true });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, code);
  process.stdout.write(`wrote ${out} (${code.length} bytes)\n`);
}
