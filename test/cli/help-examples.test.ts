/**
 * Every example a `--help` shows works in a fresh clone with nothing beside it: the files it names
 * are in the repository, and the examples that need no AWS account (simulate, validate, judge,
 * backtest) run and end promoted or rolled back (exit 0 or 2), not in an error.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runMain } from './helpers.ts';

const COMMANDS = ['simulate', 'validate', 'judge', 'backtest', 'start', 'status', 'watch', 'list', 'approve', 'reject', 'abort', 'promote', 'pause', 'resume', 'retry', 'report'];
const LOCAL = new Set(['simulate', 'validate', 'judge', 'backtest']);
/** Options whose value is a file the command writes, not one it reads. */
const OUTPUTS = new Set(['--out', '--report']);

/** `$ ...` lines of a help text, without trailing comments. */
function examplesOf(help: string): string[] {
  return [...help.matchAll(/^ {2}\$ (.+)$/gm)].map((m) => m[1]!.replace(/\s+#.*$/, '').trim());
}

/** Shell words (double and single quotes), without `> file` redirections. */
function words(command: string): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  const redirect = out.indexOf('>');
  return redirect >= 0 ? [...out.slice(0, redirect), ...out.slice(redirect + 2)] : out;
}

/** The `canary ...` invocations of an example line (after `&&`, without `VAR=value` prefixes). */
function canaryInvocations(line: string): string[][] {
  return line.split('&&').map((part) => words(part.trim())).map((w) => {
    while (w.length && /^[A-Z_]+=/.test(w[0]!)) w.shift();
    return w;
  }).filter((w) => w[0] === 'canary').map((w) => w.slice(1));
}

describe('the examples of every --help', async () => {
  const helps = new Map<string, string>();
  helps.set('(top level)', (await runMain(['--help'])).stdout);
  for (const command of COMMANDS) helps.set(command, (await runMain([command, '--help'])).stdout);
  const examples = [...helps.entries()].flatMap(([where, help]) => examplesOf(help).map((line) => ({ where, line })));

  it('there are examples for every command', () => {
    for (const command of COMMANDS) expect(examples.some((e) => e.where === command), command).toBe(true);
  });

  it.each(examples)('$where: $line names only files that are in the repository', ({ line }) => {
    expect(line).not.toContain('../');
    for (const args of canaryInvocations(line)) {
      args.forEach((arg, i) => {
        if (!/\.(ya?ml|json)$/.test(arg) || OUTPUTS.has(args[i - 1] ?? '')) return;
        const path = resolve(REPO, arg);
        expect(relative(REPO, path).startsWith('..'), arg).toBe(false);
        expect(existsSync(path), `${arg} (in: ${line})`).toBe(true);
      });
    }
  });

  it.each(examples.filter((e) => canaryInvocations(e.line).some((args) => LOCAL.has(args[0]!))))('$where: $line runs (exit 0 or 2)', async ({ line }) => {
    // Files the example writes go to a scratch directory; the files it reads are the repository's.
    const scratch = mkdtempSync(join(tmpdir(), 'canary-example-'));
    for (const args of canaryInvocations(line)) {
      const run = await runMain(args, { cwd: scratch });
      expect(run.stderr, line).toBe('');
      expect([0, 2], `${line}: exit ${run.code}`).toContain(run.code);
    }
  });
});
