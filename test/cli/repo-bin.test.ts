/**
 * The repository's own `canary` bin (cli/canary-in-repo.mjs: `npx canary` in this checkout) under
 * the system Node (20 here, as on many CI images), which cannot run TypeScript: it runs the
 * TypeScript entry with the project's Node 24 from node_modules, and without that Node it says
 * what to do in one line (no ERR_UNKNOWN_FILE_EXTENSION, no stack trace).
 *
 * Without the system Node the suite is skipped with a message, unless CI=true: then it fails.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, REPO } from './helpers.ts';

const SYSTEM_NODE = process.env.CANARY_SYSTEM_NODE ?? '/usr/bin/node';
const systemMajor = existsSync(SYSTEM_NODE)
  ? Number(spawnSync(SYSTEM_NODE, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).stdout.trim())
  : null;
if (systemMajor === null) {
  const reason = `no system Node at ${SYSTEM_NODE} (set CANARY_SYSTEM_NODE): SKIPPING the repository bin test`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must run it`);
  console.warn(`\n⚠  ${reason}\n`);
}

describe.skipIf(systemMajor === null)('the repository\'s canary bin under the system Node', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; bin: { canary: string } };

  it('is the bin package.json names, and runs the CLI (with the project\'s Node 24 when the system one is older)', () => {
    // Act
    const run = spawnSync(SYSTEM_NODE, [join(REPO, pkg.bin.canary), 'validate', 'examples/rollout.yaml'], { cwd: REPO, env: cleanEnv({}), encoding: 'utf8', timeout: 60_000 });

    // Assess
    expect(pkg.bin.canary).toBe('cli/canary-in-repo.mjs');
    expect(run.stderr).not.toMatch(/ERR_UNKNOWN_FILE_EXTENSION|at .*node:internal/);
    expect(run.stdout).toContain('examples/rollout.yaml is valid');
    expect(run.status).toBe(0);
  });

  it.skipIf(systemMajor !== null && systemMajor >= 24)('without Node 24 in node_modules, one line says what to do, exit 1', () => {
    // Prepare: the bin alone in a checkout with no node_modules.
    const checkout = mkdtempSync(join(tmpdir(), 'canary-checkout-'));
    mkdirSync(join(checkout, 'cli'));
    copyFileSync(join(REPO, 'cli', 'canary-in-repo.mjs'), join(checkout, 'cli', 'canary-in-repo.mjs'));

    // Act
    const run = spawnSync(SYSTEM_NODE, [join(checkout, 'cli', 'canary-in-repo.mjs'), '--version'], { cwd: checkout, env: cleanEnv({}), encoding: 'utf8', timeout: 60_000 });

    // Assess
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^canary: this checkout runs its TypeScript with Node 24, and this is Node \d+\.\d+\.\d+ with no Node 24 in node_modules/);
    expect(run.stderr).toContain('@canary-analyzer/cli');
  });
});
