import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runMain } from './helpers.ts';

const JUDGE_CONFIG = JSON.stringify({
  metrics: [
    { name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 } },
    { name: 'error-rate', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, critical: true },
    { name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1.0 }, baseline: { maxIncreasePercent: 20 } },
  ],
});

function files(entries: Record<string, unknown>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'canary-judge-'));
  return Object.fromEntries(Object.entries(entries).map(([name, content]) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return [name, path];
  }));
}

const steady = (n: number, v: number) => Array.from({ length: n }, () => v);

describe('canary judge', () => {
  it('judges a window with the Lambdas\' judge and exits 0 whenever a verdict was produced', () => {
    // Prepare
    const f = files({
      'config.json': JUDGE_CONFIG,
      'window.json': {
        periodSeconds: 60,
        metrics: {
          memory: { canary: { values: [51.2, 52.0, null, 51.8, 52.1, 51.9] }, baseline: { values: steady(6, 50) } },
          'error-rate': { canary: { numerator: [null, 20, 25, 22, 30, 24], denominator: steady(6, 500) }, baseline: { numerator: [3, null, 4, 3, 2, 4], denominator: steady(6, 9500) } },
        },
      },
    });

    // Act
    const text = runCli(['judge', '--config', f['config.json']!, '--data', f['window.json']!]);
    const json = runCli(['judge', '--config', f['config.json']!, '--data', f['window.json']!, '--json']);

    // Assess
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('verdict: FAIL (a critical metric failed');
    expect(text.stdout).toMatch(/error-rate: rate 4\.\d+ % is above the maximum 1\.00 %/);
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.verdict).toBe('FAIL');
    expect(out.metrics.map((m: { name: string; verdict: string }) => [m.name, m.verdict])).toEqual([
      ['memory', 'PASS'], ['error-rate', 'FAIL'], ['latency-p99', 'INCONCLUSIVE'],
    ]);
    expect(out.metrics[2].reason).toContain('no canary data');
  });

  it('accepts a full rollout config (its preset metrics) as well', () => {
    const f = files({ 'window.json': { periodSeconds: 60, metrics: { memory: { canary: { values: steady(6, 40) } } } } });
    const run = runCli(['judge', '--config', 'examples/rollout.yaml', '--data', f['window.json']!, '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).metrics.map((m: { name: string }) => m.name)).toEqual(['memory', 'error-rate', 'latency-p99']);
  });

  it('rejects a malformed window naming the field, exit 1', () => {
    const f = files({ 'config.json': JUDGE_CONFIG, 'window.json': { periodSeconds: 60, metrics: { memory: { canary: { value: [1, 2] } } } } });
    const run = runCli(['judge', '--config', f['config.json']!, '--data', f['window.json']!]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('data: metrics.memory.canary');
    expect(run.stderr).not.toMatch(/at .*\.ts:\d+/); // one clear message, no stack trace
  });
});

describe('canary backtest', () => {
  it('replays the stage schedule over a recording and says when it would have rolled back (exit 2)', () => {
    // Act
    const run = runCli(['backtest', '--config', 'examples/rollout.yaml', '--recording', 'examples/recordings/error-spike.json', '--json']);

    // Assess
    expect(run.code).toBe(2);
    const out = JSON.parse(run.stdout);
    expect(out.outcome).toBe('ROLLED_BACK');
    // Errors start 26 minutes into the recording; the 4th stage (25 %) is running then.
    expect(out.decision).toMatchObject({ stageIndex: 3, weight: 25 });
    expect(out.decision.reasons[0]).toContain('error-rate');
    expect(Date.parse(out.decision.at) - Date.parse('2026-11-14T09:00:00Z')).toBeGreaterThanOrEqual(27 * 60_000);
  });

  it('promotes over a healthy recording, with a judge-only config and default stages (exit 0)', () => {
    const n = 60;
    const f = files({
      'config.json': JUDGE_CONFIG,
      'recording.json': {
        periodSeconds: 60, start: '2026-11-14T09:00:00Z',
        metrics: {
          memory: { canary: { values: steady(n, 45) }, baseline: { values: steady(n, 45) } },
          'error-rate': { canary: { numerator: steady(n, 0).map(() => null), denominator: steady(n, 600) }, baseline: { numerator: steady(n, 2), denominator: steady(n, 9000) } },
          'latency-p99': { canary: { values: steady(n, 0.25) }, baseline: { values: steady(n, 0.25) } },
        },
      },
    });
    const run = runCli(['backtest', '--config', f['config.json']!, '--recording', f['recording.json']!]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('PROMOTED');
  });

  it('refuses a recording without its start time', () => {
    const f = files({ 'config.json': JUDGE_CONFIG, 'recording.json': { periodSeconds: 60, metrics: {} } });
    const run = runCli(['backtest', '--config', f['config.json']!, '--recording', f['recording.json']!]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('recording: start');
  });
});

describe('canary judge --fail-on: a pipeline gates on a window', () => {
  const judge = (window: string, ...args: string[]) =>
    runMain(['judge', '--config', 'examples/judge/config.json', '--data', `examples/judge/${window}-window.json`, ...args]);

  it('--fail-on FAIL exits 2 on a FAIL verdict and 0 on the others', async () => {
    const failing = await judge('error-regression', '--fail-on', 'FAIL');
    expect(failing.code).toBe(2);
    expect(failing.stdout).toMatch(/^verdict: FAIL/);
    expect(failing.stdout).toContain('exit 2: the verdict is FAIL (--fail-on FAIL)');
    expect((await judge('healthy', '--fail-on', 'FAIL')).code).toBe(0);
    expect((await judge('no-data', '--fail-on', 'FAIL')).code).toBe(0);
  });

  it('--fail-on INCONCLUSIVE exits 2 on anything but PASS: no data is not a pass', async () => {
    expect((await judge('no-data', '--fail-on', 'INCONCLUSIVE')).code).toBe(2);
    expect((await judge('memory-leak', '--fail-on', 'INCONCLUSIVE')).code).toBe(2);
    expect((await judge('healthy', '--fail-on', 'INCONCLUSIVE')).code).toBe(0);
  });

  it('without --fail-on, exit 0 whatever the verdict; --json carries the exit code; a wrong verdict name is refused', async () => {
    expect((await judge('error-regression')).code).toBe(0);
    const json = await judge('error-regression', '--fail-on', 'FAIL', '--json');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ verdict: 'FAIL', exitCode: 2 });
    const wrong = await judge('healthy', '--fail-on', 'PASS');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^canary: option '--fail-on <verdict>' argument 'PASS' is invalid. Allowed choices are FAIL, INCONCLUSIVE.\n$/);
  });
});
