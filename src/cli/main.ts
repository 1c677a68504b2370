#!/usr/bin/env node
// Placeholder until the server lands (issue: HTTP service). Says so plainly instead of pretending.
console.error(
  'indelible: the server is not built yet; `npm start` will start it once the HTTP service lands.',
);
process.exit(1);
