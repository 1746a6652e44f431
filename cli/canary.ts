#!/usr/bin/env node
/** Entry of the `canary` command (`node cli/canary.ts`, `npx canary`, `npm run simulate`). */
import { main } from './main.ts';

// Output piped into a reader that stopped (`canary simulate | head`): end quietly, as a process
// killed by SIGPIPE would (128 + 13), instead of an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(141);
    throw error;
  });
}

process.exitCode = await main(process.argv.slice(2));
