/**
 * What a person or a CI log sees: colors on request (FORCE_COLOR) or not at all (NO_COLOR), runs
 * of alike progress lines collapsed, every line within 120 columns, and one vocabulary: the
 * terminal summary, the JSON and the HTML report count the checks and time the restore the same.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { colorEnabled, fitWidth, makeStyle, MAX_WIDTH, visibleLength } from '../../cli/io.ts';
import { EventRenderer } from '../../cli/render.ts';
import { describeCheckCounts } from '../../functions/core/report.ts';
import type { RolloutEvent } from '../../functions/core/rollout-record.ts';
import { SCENARIO_NAMES } from '../../sim/scenarios.ts';
import { rolledBackRecord, storedChecks } from '../report/fixtures.ts';
import { REPO, runCli, runMain } from './helpers.ts';

const ESC = '\u001b[';

describe('colors', () => {
  it('FORCE_COLOR turns them on where stdout is not a terminal (a CI log); FORCE_COLOR=0 and NO_COLOR keep them off', () => {
    expect(colorEnabled(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled(false, { FORCE_COLOR: '' })).toBe(true);
    expect(colorEnabled(true, { FORCE_COLOR: '0' })).toBe(false);
    expect(colorEnabled(true, { FORCE_COLOR: 'false' })).toBe(false);
    expect(colorEnabled(false, { NO_COLOR: '1' })).toBe(false);
    // The more specific request wins, as in Node and chalk.
    expect(colorEnabled(false, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
  });

  it('a piped `canary simulate` has colors with FORCE_COLOR=1, none without; --json never', () => {
    const forced = runCli(['simulate', '--scenario', 'error-spike'], { FORCE_COLOR: '1' });
    const plain = runCli(['simulate', '--scenario', 'error-spike']);
    const json = runCli(['simulate', '--scenario', 'error-spike', '--json'], { FORCE_COLOR: '1' });
    expect(forced.code).toBe(2);
    expect(forced.stdout).toContain(`${ESC}1m${ESC}31mROLLED BACK`);
    expect(plain.stdout).not.toContain(ESC);
    expect(json.stdout).not.toContain(ESC);
    expect(JSON.parse(json.stdout).outcome).toBe('ROLLED_BACK');
  });
});

describe('progress lines', () => {
  const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
  const bake = (minute: number): Extract<RolloutEvent, { type: 'CHECK' }> => ({
    type: 'CHECK', at: at(minute), stageIndex: 0, weight: 1, verdict: 'PASS', duringBake: true,
    window: { start: at(0), end: at(minute - 1) }, metrics: [{ name: 'memory', verdict: 'PASS', reason: 'fine', canaryValue: 50, baselineValue: 50 }],
  });

  it('a run of quiet bake checks prints its first line, a heartbeat every tenth, and its last one when the run ends', () => {
    // Prepare
    const renderer = new EventRenderer({ style: makeStyle(false), startedAt: at(0), stages: [1, 100] });
    const events: RolloutEvent[] = [
      { type: 'WEIGHTS_SET', at: at(0), canary: 1, baseline: 99, changeId: 'C1', stageIndex: 0 },
      ...Array.from({ length: 12 }, (_, i) => bake(i + 2)),
      { ...bake(14), duringBake: false },
    ];
    // Act
    const lines = events.flatMap((e) => renderer.render(e));
    // Assess
    const baking = lines.filter((l) => l.includes('baking'));
    expect(baking).toEqual([
      '+00:02:00             baking data to 00:01:00 UTC, nothing failing',
      '+00:12:00             baking data to 00:11:00 UTC, nothing failing (9 alike not shown)',
      '+00:13:00             baking data to 00:12:00 UTC, nothing failing',
    ]);
    expect(lines.at(-2)).toMatch(/^\+00:14:00 +check 1 at 1 %: PASS/);
    expect(renderer.flush()).toEqual([]);
  });

  it('a run still going when the events stop is ended by flush', () => {
    const renderer = new EventRenderer({ style: makeStyle(false), startedAt: at(0) });
    const lines = [bake(2), bake(3), bake(4)].flatMap((e) => renderer.render(e));
    expect(lines).toHaveLength(1);
    expect(renderer.flush()).toEqual(['+00:04:00             baking data to 00:03:00 UTC, nothing failing (1 alike not shown)']);
  });

  it('a simulated rollout collapses its bakes: never two quiet bake lines of a stage in a row without a note', async () => {
    const run = await runMain(['simulate', '--scenario', 'healthy']);
    const lines = run.stdout.split('\n');
    expect(run.stdout).toMatch(/nothing failing \(\d+ alike not shown\)/);
    for (let i = 1; i < lines.length; i++) {
      if (lines[i]!.includes('baking') && lines[i - 1]!.includes('baking')) expect(lines[i]).toMatch(/alike not shown/);
    }
  });

  it.each(SCENARIO_NAMES)('simulate --scenario %s keeps every line within 120 columns', async (scenario) => {
    const run = await runMain(['simulate', '--scenario', scenario]);
    const long = run.stdout.split('\n').filter((l) => visibleLength(l) > MAX_WIDTH);
    expect(long).toEqual([]);
  });

  it('canary report keeps every line within 120 columns too (charts, summary, timeline)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-report-width-'));
    writeFileSync(join(dir, 'evidence.json'), JSON.stringify({ record: rolledBackRecord(), checks: storedChecks() }));
    const run = await runMain(['report', '--input', join(dir, 'evidence.json'), '--out', join(dir, 'r.html')], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Post-incident summary');
    expect(run.stdout.split('\n').filter((l) => visibleLength(l) > MAX_WIDTH)).toEqual([]);
  });

  it('fitWidth breaks at spaces, indents the rest under the text, and keeps a longer word whole', () => {
    const line = `+00:08:00             ✓ latency-p99: ${'word '.repeat(30)}end`;
    const fitted = fitWidth([line], 60);
    expect(fitted.every((l) => visibleLength(l) <= 60)).toBe(true);
    expect(fitted[1]).toMatch(/^ {24}word/);
    expect(fitted.join(' ').replace(/ +/g, ' ')).toBe(line.replace(/ +/g, ' '));
    const arn = `  execution arn:aws:states:eu-west-1:111122223333:execution:CanaryRollout:${'x'.repeat(80)}`;
    expect(fitWidth([arn], 60)).toEqual(['  execution', `    arn:aws:states:eu-west-1:111122223333:execution:CanaryRollout:${'x'.repeat(80)}`]);
  });
});

describe('one vocabulary', () => {
  it('the terminal summary, the JSON and the HTML report count the checks and time the restore the same way', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'canary-vocabulary-'));
    // Act
    const text = await runMain(['simulate', '--scenario', 'error-spike', '--report', join(dir, 'r.html')]);
    const json = JSON.parse((await runMain(['simulate', '--scenario', 'error-spike', '--json'])).stdout);
    const html = readFileSync(join(dir, 'r.html'), 'utf8');
    // Assess: a bake check's failure is counted as one, apart from the counted checks that passed.
    // (How many bake checks run depends on the stage's timing, not on what is counted.)
    expect(json.checks).toEqual({ total: 2, passed: 2, failed: 0, inconclusive: 0, duringBake: { total: expect.any(Number), failed: 1 }, whileHeld: { total: 0, failed: 0 } });
    const bake = json.checks.duringBake.total;
    expect(bake).toBeGreaterThan(2);
    const counts = describeCheckCounts(json.checks);
    expect(counts).toBe(`2 counted checks (2 passed, 0 failed, 0 inconclusive) · ${bake} bake checks (1 failed)`);
    expect(text.stdout.replace(/\n {2}/g, ' ')).toContain(counts);
    expect(html).toContain(`Checks: ${counts}.`);
    // One restore time: the rollback's INSYNC as the record has it.
    const restored = text.stdout.replace(/\n {2}/g, ' ').match(/traffic back at 100 % baseline \(INSYNC\) at (\+\d\d:\d\d:\d\d)/)![1]!;
    const insync = json.events.find((e: { type: string; canary?: number }) => e.type === 'IN_SYNC' && e.canary === 0);
    expect(html).toContain(`<th scope="row">Traffic restored</th><td class="mono">${restored}</td><td class="mono muted">${insync.at.slice(0, 10)} ${insync.at.slice(11, 19)} UTC</td>`);
    // 1-based stages where a person or a script reads them.
    expect(json.decision).toMatchObject({ stage: 3, stageIndex: 2 });
    expect(text.stdout).toMatch(/^ROLLED BACK at stage 3\/5/m);
    expect(html).toContain('decided at stage 3 (10 %)');
  });

  it('the HTML report of a leak shows the trend projection, the datapoints that decided, and bake checks toned down', async () => {
    // A slow leak while a gate waits: the trend detector fires before memory reaches 80 %.
    const dir = mkdtempSync(join(tmpdir(), 'canary-leak-'));
    const run = await runMain(['simulate', '--scenario', 'leak-during-approval', '--report', join(dir, 'leak.html')]);
    expect(run.code).toBe(2);
    const html = readFileSync(join(dir, 'leak.html'), 'utf8');
    const memory = html.slice(html.indexOf('data-metric="memory"'), html.indexOf('</svg>', html.indexOf('data-metric="memory"')));
    expect(memory).toContain('class="trend-fit"');
    expect(memory).toMatch(/class="trend-label"[^>]*>at \+0\d:\d\d:\d\d</);
    // The datapoints the trend detector looked at (its last hour), ringed.
    expect((memory.match(/class="decisive"/g) ?? []).length).toBeGreaterThanOrEqual(55);
    expect((memory.match(/bake-marker/g) ?? []).length).toBeGreaterThan(0);
    expect(memory).not.toMatch(/bake-marker"><line/); // no full-height line for a quiet bake check
    expect(html).toMatch(/Time to detect<\/span><b>(\d+ h )?\d+ min<\/b><small>from the first bad datapoint \(\+00:\d\d:00, memory\)/);
  });

  it('status words: ROLLED BACK for people everywhere, ROLLED_BACK in JSON', async () => {
    const run = await runMain(['simulate', '--scenario', 'error-spike']);
    expect(run.stdout).not.toContain('ROLLED_BACK');
    expect(run.stdout).not.toContain('ROLL BACK');
    expect(readFileSync(join(REPO, 'cli', 'render.ts'), 'utf8')).toContain('statusWords');
  });
});
