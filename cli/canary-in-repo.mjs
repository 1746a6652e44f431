#!/usr/bin/env node
// The `canary` bin of this repository (`npx canary` here, `npm link`): plain JavaScript that any
// Node runs, in front of cli/canary.ts, which needs Node's type stripping (Node 24, as the
// project pins). Under an older Node (20 is common on CI images) it runs the TypeScript entry with
// the project's own Node 24 from node_modules, or says in one line what to do, instead of
// Node's ERR_UNKNOWN_FILE_EXTENSION and a stack trace. Outside this repository, install
// @canary-analyzer/cli: one bundled file for Node 20 and later.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./canary.ts', import.meta.url));
const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  await import(entry);
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    process.stderr.write(`canary: this checkout runs its TypeScript with Node 24, and this is Node ${process.versions.node} with no Node 24 in node_modules (npm ci without --ignore-scripts installs it); or use @canary-analyzer/cli, which runs on Node 20 and later\n`);
    process.exit(1);
  }
  const run = spawnSync(pinned, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (run.error) {
    process.stderr.write(`canary: could not run ${pinned}: ${run.error.message}\n`);
    process.exit(1);
  }
  process.exit(run.status ?? (run.signal ? 128 + 1 : 1));
}
