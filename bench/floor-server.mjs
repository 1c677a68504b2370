// biome-ignore-all format: verbatim copy of a shared file (see below)
// biome-ignore-all assist/source/organizeImports: verbatim copy of a shared file (see below)
// Provenance: verbatim copy of ../shared/bench/floor-server.mjs (the project's shared benchmark
// material; see ../shared/bench/README.md), SHA-256 of the original
// ec7766c52295921cdec9653f9682d054d71d693c6be3a88e344acefb29f98103. Copied so bench/http.ts runs
// where ../shared is absent (CI, users' machines). Only these provenance lines were added; keep the
// rest byte-identical so figures stay comparable with the README's.
// Usage: node floor-server.mjs PORT FILE [group|naive]  — prints "ready" when listening.
// The floor for durable ingest over HTTP, with no validation, hashing, signing or index: parse the JSON
// batch, append each event as an NDJSON line, answer 201 with the indices only after fsync.
// mode "group" (default): group commit — requests arriving while an fsync runs share the next one.
// mode "naive": one write + fsync per request, blocking.
import http from 'node:http';
import fs from 'node:fs';
const [port, file, mode = 'group'] = process.argv.slice(2);
const fd = fs.openSync(file, 'a');
let next = 0;
let pending = []; // {lines, n, res}
let syncing = false;
function flush() {
  if (syncing || pending.length === 0) return;
  syncing = true;
  const batch = pending; pending = [];
  fs.write(fd, batch.map((b) => b.lines).join(''), (err) => {
    if (err) throw err;
    fs.fsync(fd, (err2) => {
      if (err2) throw err2;
      for (const b of batch) {
        const entries = Array.from({ length: b.n }, () => ({ index: next++ }));
        b.res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ entries }));
      }
      syncing = false;
      flush();
    });
  });
}
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body;
    try { body = JSON.parse(Buffer.concat(chunks)); } catch { res.writeHead(400).end(); return; }
    const evs = Array.isArray(body.events) ? body.events : [body];
    const lines = evs.map((e) => JSON.stringify(e)).join('\n') + '\n';
    if (mode === 'naive') {
      fs.writeSync(fd, lines); fs.fsyncSync(fd);
      const entries = evs.map(() => ({ index: next++ }));
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ entries }));
      return;
    }
    pending.push({ lines, n: evs.length, res });
    flush();
  });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
