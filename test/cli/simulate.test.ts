/**
 * `canary simulate` as a person and a pipeline use it: `node cli/canary.ts simulate`, its exit
 * codes (0 promoted, 2 rolled back, 1 error), its output (progress, or one JSON document), and
 * the same bytes for the same seed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { colorEnabled } from '../../cli/io.ts';
import { SCENARIO_NAMES } from '../../sim/scenarios.ts';
import { runCli, runMain } from './helpers.ts';

const ESC = '\u001b[';

describe('canary simulate (a process)', () => {
  it('healthy, the default: live progress, then PROMOTED, exit 0', () => {
    // Act
    const run = runCli(['simulate']);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain('scenario healthy, seed 1, config examples/rollout.json');
    for (const stage of ['stage 1/5', 'stage 2/5', 'stage 3/5', 'stage 4/5', 'stage 5/5']) expect(out).toContain(stage);
    expect(out).toMatch(/check \d+ at 1 %: PASS/);
    expect(out).toMatch(/✓ memory\b[^✓✗]*80\.00 %/); // a check's line wraps at 120 columns
    expect(out).toMatch(/✓ error-rate\b.*1\.00 %/);
    expect(out).toMatch(/✓ latency-p99\b.*s/);
    expect(out).toMatch(/\[█+ *\]/); // the weight bar
    expect(out).toMatch(/^PROMOTED: canary at 100 %, decided at \+\d\d:\d\d:\d\d simulated \(stage 5\/5, 100 %\)$/m);
    expect(out).not.toContain(ESC); // not a terminal: no colors
    // Wall time is measured by `npm run bench:simulate`, not asserted here (shared, noisy machines).
  });

  it('memory-leak: ROLLED BACK naming memory, exit 2', () => {
    const run = runCli(['simulate', '--scenario', 'memory-leak']);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/^ROLLED BACK at stage \d\/5 \(canary \d+ %\), decided at \+\d\d:\d\d:\d\d simulated/m);
    expect(run.stdout).toMatch(/✗ memory/);
    expect(run.stdout).toMatch(/↩ rolling back/);
    expect(run.stdout).toMatch(/incident: "Canary rollback: checkout-api at stage \d .*memory/);
  });

  it('fleet-throttling --json: every rollout listed with the fields of a single run, every healthy one promoted', () => {
    const run = runCli(['simulate', '--scenario', 'fleet-throttling', '--rollouts', '20', '--json']);
    expect(run.stderr).toBe('');
    const doc = JSON.parse(run.stdout);
    expect(doc.scenario.name).toBe('fleet-throttling');
    expect(run.code).toBe(0);
    expect(doc.rollouts).toHaveLength(20);
    for (const r of doc.rollouts) {
      expect(r).toMatchObject({ healthy: true, outcome: 'PROMOTED', finalWeights: { canary: 100, baseline: 0 }, lockHolder: null });
      expect(r.aws.executions.length).toBeGreaterThan(1);
    }
    expect(doc.summary).toMatchObject({ promoted: 20, healthyWronglyStopped: 0, leftShifted: 0, locksHeld: 0 });
  });

  it.each(SCENARIO_NAMES.filter((s) => s !== 'fleet-throttling'))('%s --json: one JSON document on stdout, its exitCode the process exit code', (scenario) => {
    const run = runCli(['simulate', '--scenario', scenario, '--json']);
    expect(run.stderr).toBe('');
    const doc = JSON.parse(run.stdout);
    expect(doc.scenario.name).toBe(scenario);
    expect(run.code).toBe(doc.exitCode);
    expect(doc.exitCode).toBe(doc.outcome === 'PROMOTED' ? 0 : doc.outcome === 'ROLLED_BACK' ? 2 : 1);
    expect(doc.rolloutId).toBe(`sim-${scenario}-1`);
    expect(doc.finalWeights).toEqual(doc.outcome === 'PROMOTED' ? { canary: 100, baseline: 0 } : { canary: 0, baseline: 100 });
    expect(doc.lock.releasedAtEnd).toBe(true);
    expect(doc.decision.reasons.length).toBeGreaterThan(0);
    expect(doc.events.at(0).type).toBe('STARTED');
    if (scenario === 'error-spike') expect(doc.decision).toMatchObject({ outcome: 'ROLLED_BACK', stage: 3, weight: 10 });
    if (scenario === 'healthy') expect(doc.decision).toMatchObject({ outcome: 'PROMOTED', stage: 5, weight: 100 });
    if (scenario === 'metrics-outage') expect(doc.outcome).toBe('ROLLED_BACK');
  });

  it('the same seed prints the same bytes; another seed prints other noise', () => {
    const a = runCli(['simulate', '--scenario', 'latency-regression', '--seed', '7']);
    const b = runCli(['simulate', '--scenario', 'latency-regression', '--seed', '7']);
    const c = runCli(['simulate', '--scenario', 'latency-regression', '--seed', '8']);
    expect(a.code).toBe(2);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).not.toBe(a.stdout);
    const ja = runCli(['simulate', '--scenario', 'healthy', '--seed', '3', '--json']);
    const jb = runCli(['simulate', '--scenario', 'healthy', '--seed', '3', '--json']);
    expect(jb.stdout).toBe(ja.stdout);
  });

  it('a bad config: exit 1, one line per field and problem, nothing simulated, no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'name: checkout\ntarget:\n  hostedZoneId: nope\n  recordName: api.example.com\n  baselineSetIdentifier: blue\n  canarySetIdentifier: green\npreset:\n  type: alb-ecs\n');
    const run = runCli(['simulate', '--config', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^canary: .*bad\.yaml is not a valid rollout config \(\d+ problems\):$/);
    expect(lines).toContain('  target.hostedZoneId: hostedZoneId must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ (line 3)');
    expect(lines).toContain('  preset.loadBalancer: missing: add this field (a string) (line 7)');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('bad options: exit 1 with one line', () => {
    for (const args of [['simulate', '--scenario', 'meteor-strike'], ['simulate', '--seed', 'abc'], ['simulate', '--config', '/nonexistent.yaml'], ['simulate', '--bogus']]) {
      const run = runCli(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(/^canary: [^\n]+\n$/);
      expect(run.stdout).toBe('');
    }
  });
});

describe('canary simulate (in-process)', () => {
  it('colors only when asked for (a terminal without NO_COLOR)', async () => {
    const plain = await runMain(['simulate', '--scenario', 'error-spike'], { color: false });
    const colored = await runMain(['simulate', '--scenario', 'error-spike'], { color: true });
    expect(plain.code).toBe(2);
    expect(colored.code).toBe(2);
    expect(plain.stdout).not.toContain(ESC);
    expect(colored.stdout).toContain(ESC);
    // --json never has colors.
    expect((await runMain(['simulate', '--json'], { color: true })).stdout).not.toContain(ESC);
  });

  it('colorEnabled: a TTY without NO_COLOR or TERM=dumb', () => {
    expect(colorEnabled(true, {})).toBe(true);
    expect(colorEnabled(false, {})).toBe(false);
    expect(colorEnabled(true, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(true, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled(true, { TERM: 'dumb' })).toBe(false);
  });

  it('--list-scenarios names every scenario', async () => {
    const run = await runMain(['simulate', '--list-scenarios']);
    expect(run.code).toBe(0);
    for (const name of SCENARIO_NAMES) expect(run.stdout).toMatch(new RegExp(`^${name} `, 'm'));
  });

  it('simulates a YAML config too (examples/rollout.yaml is examples/rollout.json)', async () => {
    const yaml = await runMain(['simulate', '--config', 'examples/rollout.yaml', '--json']);
    const json = await runMain(['simulate', '--config', 'examples/rollout.json', '--json']);
    expect(yaml.code).toBe(0);
    const { config: _y, ...a } = JSON.parse(yaml.stdout);
    const { config: _j, ...b } = JSON.parse(json.stdout);
    expect(a).toEqual(b);
  });
});
