import { describe, expect, it } from 'vitest';
import { parseRolloutConfig, type RolloutConfig, type RolloutConfigInput } from '../../functions/core/config.ts';
import type { MetricData, MetricWindow } from '../../functions/core/judge.ts';
import {
  analyzeCheck, emptyWindow, MAX_PERIODS_PER_CHECK, periodsToFetch, segmentAlpha, StageAnalysisInputError, startStageAnalysis,
  type AnalyzeCheckResult, type StageAnalysisState,
} from '../../functions/core/stage-analysis.ts';
import { binomial, mulberry32, normal } from '../../sim/prng.ts';

const placeholder = (name: string) => ({ namespace: 'Test', metricName: name, dimensions: {}, stat: 'Average' });
const METRICS = {
  errors: { name: 'error-rate', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, critical: true },
  latency: { name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } },
  memory: { name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 } },
  cpu: { name: 'cpu', kind: 'gauge', unit: 'percent', threshold: { max: 90 }, baseline: { maxIncreasePercent: 50, minIncrease: 5 } },
} as const;

function configOf(metrics: readonly object[], overrides: Partial<RolloutConfigInput> = {}, bakeSeconds = 3600): RolloutConfig {
  const config = parseRolloutConfig({
    name: 'test', target: { hostedZoneId: 'ZTEST', recordName: 'api.example.com', baselineSetIdentifier: 'b', canarySetIdentifier: 'c' },
    stages: [25, 100], checkIntervalSeconds: 60, analysisPeriodSeconds: 60, ...overrides,
    metrics: metrics.map((m) => {
      const name = (m as { name: string }).name;
      const ratio = (m as { kind: string }).kind === 'ratio';
      return {
        ...m,
        queries: ratio
          ? { canary: { numerator: placeholder(name), denominator: placeholder(name) }, baseline: { numerator: placeholder(name), denominator: placeholder(name) } }
          : { canary: { value: placeholder(name) }, baseline: { value: placeholder(name) } },
      };
    }),
  } as RolloutConfigInput);
  config.stages[0]!.bakeSeconds = bakeSeconds;
  return config;
}

const START = new Date('2026-11-14T09:00:00Z');
const minute = (k: number) => new Date(START.getTime() + k * 60_000);

/** A recording: per metric, canary and baseline series of `periods` minutes. */
type Recording = Record<string, MetricData>;

function slice(rec: Recording, from: number, n: number): MetricWindow {
  const cut = (a: (number | null)[]) => a.slice(from, from + n);
  const metrics: Record<string, MetricData> = {};
  for (const [name, d] of Object.entries(rec)) {
    const s = (x: MetricData['canary']) => ('values' in x ? { values: cut(x.values) } : { numerator: cut(x.numerator), denominator: cut(x.denominator) });
    metrics[name] = { canary: s(d.canary), ...(d.baseline ? { baseline: s(d.baseline) } : {}) };
  }
  return { periodSeconds: 60, start: minute(from).toISOString(), metrics };
}

interface Replay { results: AnalyzeCheckResult[]; last: AnalyzeCheckResult; at: number; state: StageAnalysisState }

/** The analyze step's loop: a check every `every` minutes, each with only the new periods. */
function replay(config: RolloutConfig, rec: Recording, minutes: number, opts: { every?: number; bakeEndMinute?: number; mode?: 'stage' | 'hold'; stopOnDecision?: boolean; json?: boolean } = {}): Replay {
  let state = startStageAnalysis(config, 0, START);
  const bakeEnd = minute(opts.bakeEndMinute ?? (config.stages[0]!.bakeSeconds / 60 + 1));
  const results: AnalyzeCheckResult[] = [];
  let at = 0;
  const checks: number[] = [];
  for (let k = 2; k <= minutes + 1; k += opts.every ?? 1) checks.push(k);
  if (checks.at(-1) !== minutes + 1) checks.push(minutes + 1);
  for (const k of checks) {
    const now = minute(k);
    const range = periodsToFetch(state, now, 60);
    const window = range ? slice(rec, (range.start.getTime() - START.getTime()) / 60_000, (range.end.getTime() - range.start.getTime()) / 60_000) : emptyWindow(state);
    const out = analyzeCheck({ config, stageIndex: 0, weight: 25, now, bakeEnd, mode: opts.mode ?? 'stage', state, window });
    results.push(out);
    // The workflow carries the state as JSON between steps.
    state = opts.json ? JSON.parse(JSON.stringify(out.state)) as StageAnalysisState : out.state;
    at = k;
    if ((opts.stopOnDecision ?? true) && out.action !== 'CHECK_AGAIN') break;
  }
  return { results, last: results.at(-1)!, at, state };
}

/** Healthy traffic: ~600 canary requests a minute at 0.05 % errors, p99 ~0.3 s, memory ~55 %, CPU 1-3 %. */
function healthy(minutes: number, seed: number, changes: {
  errorRate?: (t: number) => number; latency?: (t: number) => number; memory?: (t: number) => number; cpu?: (t: number) => number;
} = {}): Recording {
  const rng = mulberry32(seed);
  const series = () => ({ c: [] as (number | null)[], b: [] as (number | null)[] });
  const en = series(), ed = series(), lat = series(), mem = series(), cpu = series();
  for (let t = 0; t < minutes; t++) {
    for (const v of ['c', 'b'] as const) {
      const n = v === 'c' ? 600 : 1800;
      const p = v === 'c' && changes.errorRate ? changes.errorRate(t) : 0.0005;
      const x = binomial(rng, n, p);
      ed[v].push(n);
      en[v].push(x > 0 ? x : null);
      lat[v].push(Number(((v === 'c' && changes.latency ? changes.latency(t) : 1) * 0.3 * Math.exp(0.08 * normal(rng))).toFixed(5)));
      mem[v].push(Number(((v === 'c' && changes.memory ? changes.memory(t) : 55) + 0.5 * normal(rng)).toFixed(2)));
      cpu[v].push(Math.max(0, Math.round((v === 'c' && changes.cpu ? changes.cpu(t) : 1.5) + 0.7 * normal(rng))));
    }
  }
  return {
    'error-rate': { canary: { numerator: en.c, denominator: ed.c }, baseline: { numerator: en.b, denominator: ed.b } },
    'latency-p99': { canary: { values: lat.c }, baseline: { values: lat.b } },
    memory: { canary: { values: mem.c }, baseline: { values: mem.b } },
    cpu: { canary: { values: cpu.c }, baseline: { values: cpu.b } },
  };
}

const ALL = [METRICS.errors, METRICS.latency, METRICS.memory, METRICS.cpu];

describe('stage analysis: the contract', () => {
  it('fetches from where the last check stopped, only complete and published periods, at most a day at once', () => {
    // Prepare
    const config = configOf(ALL);
    const state = startStageAnalysis(config, 0, new Date('2026-11-14T09:00:30Z'));
    // Act / Assess: the first whole period starts at 09:01 and is published at 09:03.
    expect(state.firstPeriodStart).toBe('2026-11-14T09:01:00.000Z');
    expect(periodsToFetch(state, new Date('2026-11-14T09:02:59Z'), 60)).toBeNull();
    expect(periodsToFetch(state, new Date('2026-11-14T09:03:00Z'), 60)).toEqual({ start: new Date('2026-11-14T09:01:00Z'), end: new Date('2026-11-14T09:02:00Z') });
    const later = periodsToFetch({ ...state, periods: 3 }, new Date('2026-11-14T09:10:20Z'), 60);
    expect(later).toEqual({ start: new Date('2026-11-14T09:04:00Z'), end: new Date('2026-11-14T09:09:00Z') });
    const days = periodsToFetch(state, new Date('2026-11-17T09:00:00Z'), 60)!;
    expect((days.end.getTime() - days.start.getTime()) / 60_000).toBe(MAX_PERIODS_PER_CHECK);
    expect(() => periodsToFetch(state, new Date(), 300)).toThrow(StageAnalysisInputError);
  });

  it('rejects a window that is not the periods to judge, naming what to fetch, and changes nothing', () => {
    const config = configOf(ALL);
    const state = startStageAnalysis(config, 0, START);
    const rec = healthy(10, 1);
    const wrong = { ...slice(rec, 1, 3) };
    const args = { config, stageIndex: 0, weight: 25, now: minute(5), bakeEnd: minute(60), mode: 'stage' as const, state, window: wrong };
    expect(() => analyzeCheck(args)).toThrow(/window.start 2026-11-14T09:01:00.000Z is not the start of the periods to judge, 2026-11-14T09:00:00.000Z/);
    expect(() => analyzeCheck({ ...args, stageIndex: 1 })).toThrow(StageAnalysisInputError);
    expect(state.periods).toBe(0);
  });

  it('does not modify the state it is given (a retried step sees the same input)', () => {
    const config = configOf(ALL);
    const state = startStageAnalysis(config, 0, START);
    const before = JSON.stringify(state);
    analyzeCheck({ config, stageIndex: 0, weight: 25, now: minute(12), bakeEnd: minute(60), mode: 'stage', state, window: slice(healthy(10, 2), 0, 10) });
    expect(JSON.stringify(state)).toBe(before);
  });

  it('spends the false-rollback level across stages and holds: shares add up to at most judge.falseRollbackRate', () => {
    const config = configOf(ALL, { stages: [1, 5, { weight: 25, approval: true }, 100], judge: { falseRollbackRate: 0.02 } });
    const stages = 3;
    let total = stages * segmentAlpha(config, 'stage');
    for (let h = 0; h < 30; h++) total += stages * segmentAlpha(config, 'hold', h);
    expect(total).toBeLessThanOrEqual(0.02);
    expect(segmentAlpha(config, 'stage')).toBeCloseTo(0.02 / 3 / 2, 12);
    expect(segmentAlpha(configOf(ALL), 'stage')).toBeCloseTo(0.01 / 2, 12);
  });

  it('consumes the same periods to the same state whether checked every minute (through JSON) or once (incremental = batch)', () => {
    // Prepare: 10 hours with a late 5xx jump, so detectors, runs and alarms all have history.
    const config = configOf(ALL, {}, 36_000);
    const rec = healthy(600, 7, { errorRate: (t) => (t >= 560 ? 0.03 : 0.0005), memory: (t) => 55 + t / 60 });
    // Act
    const minuteByMinute = replay(config, rec, 600, { stopOnDecision: false, json: true });
    const everyHour = replay(config, rec, 600, { every: 60, stopOnDecision: false });
    const once = analyzeCheck({
      config, stageIndex: 0, weight: 25, now: minute(601), bakeEnd: minute(601), mode: 'stage',
      state: startStageAnalysis(config, 0, START), window: slice(rec, 0, 600),
    });
    // Assess
    expect(minuteByMinute.state.periods).toBe(600);
    expect(once.state.metrics).toEqual(minuteByMinute.state.metrics);
    expect(everyHour.state.metrics).toEqual(minuteByMinute.state.metrics);
    expect(once.judgement.metrics.find((m) => m.name === 'error-rate')!.verdict).toBe('FAIL');
  });

  it('keeps its state bounded: after 48 hours it is the size it was after 2 hours, a few KB per metric', () => {
    const config = configOf(ALL, {}, 48 * 3600);
    const rec = healthy(48 * 60, 11);
    const at = (hours: number) => analyzeCheck({
      config, stageIndex: 0, weight: 25, now: minute(hours * 60 + 1), bakeEnd: minute(48 * 60 + 60), mode: 'stage',
      state: startStageAnalysis(config, 0, START), window: slice(rec, 0, hours * 60),
    }).state;
    const sizes = (s: StageAnalysisState) => Object.values(s.metrics).map((m) => JSON.stringify(m).length);
    const two = sizes(at(2));
    const fortyEight = sizes(at(24)); // one check takes at most a day
    for (const size of fortyEight) expect(size).toBeLessThan(8_000);
    fortyEight.forEach((size, i) => expect(size).toBeLessThan(two[i]! * 1.6));
    expect(JSON.stringify(at(24)).length).toBeLessThan(25_000);
  });
});

describe('stage analysis: decisions', () => {
  it('promotes a healthy canary once the bake is over and the recent window passes, with reasons', () => {
    // Prepare: a 30-minute bake.
    const config = configOf(ALL, {}, 1800);
    // Act
    const run = replay(config, healthy(120, 3), 120);
    // Assess
    expect(run.last.action).toBe('ADVANCE');
    expect(run.at).toBeGreaterThanOrEqual(31);
    expect(run.at).toBeLessThanOrEqual(33);
    const errors = run.last.judgement.metrics.find((m) => m.name === 'error-rate')!;
    expect(errors.verdict).toBe('PASS');
    expect(errors.reason).toMatch(/^error-rate: no change detected since 09:00 UTC; rate 0\.\d+ % is within the maximum 1\.00 % \(95 % upper bound/);
    // Nothing acts before the bake ends.
    expect(run.results.slice(0, -1).every((r) => r.action === 'CHECK_AGAIN')).toBe(true);
  });

  it('rolls back a 5xx jump that starts late, as quickly as one that starts early, saying what changed and since when', () => {
    // Prepare: a 24-hour stage; the same jump (0.05 % → 4 %) at minute 60 or at minute 1400.
    const config = configOf([METRICS.errors, METRICS.memory], {}, 86_400);
    const delays = [60, 1400].map((onset) => {
      const rec = healthy(1440, 21, { errorRate: (t) => (t >= onset ? 0.04 : 0.0005) });
      const run = replay(config, rec, 1440);
      expect(run.last.action).toBe('ROLLBACK');
      const errors = run.last.judgement.metrics.find((m) => m.name === 'error-rate')!;
      expect(errors.verdict).toBe('FAIL');
      expect(errors.change?.since).toBe(minute(onset).toISOString());
      expect(run.last.reasons[0]).toMatch(/^critical metric failed: error-rate: \d\.\d+ % since \d\d:\d\d UTC, change detected at \d\d:\d\d UTC; any-time-valid lower bound \d\.\d+ % > 1\.00 %/);
      return run.at - onset;
    });
    // Assess: the delay does not grow with the 23 hours already spent in the stage.
    expect(delays[0]).toBeLessThanOrEqual(5);
    expect(Math.abs(delays[1]! - delays[0]!)).toBeLessThanOrEqual(1);
  });

  it('catches a canary that is now above an absolute threshold, however long it was fine before', () => {
    const config = configOf([METRICS.memory], {}, 86_400);
    const rec = healthy(1200, 5, { memory: (t) => (t >= 1100 ? 86 : 55) });
    const run = replay(config, rec, 1200);
    expect(run.last.action).toBe('ROLLBACK');
    expect(run.at - 1100).toBeLessThanOrEqual(10);
    expect(run.last.reasons[0]).toMatch(/^memory: 8\d\.\d+ % since 03:20 UTC, change detected at 03:2\d UTC; any-time-valid lower bound 8\d\.\d+ % > 80\.00 %/);
  });

  it('rolls back a leak before it crosses its threshold, with the projected crossing', () => {
    const config = configOf([METRICS.memory], {}, 86_400);
    // 0.2 points a minute from minute 300: crosses 80 % at minute 425.
    const rec = healthy(600, 9, { memory: (t) => 55 + Math.max(0, t - 300) * 0.2 });
    const run = replay(config, rec, 600);
    expect(run.last.action).toBe('ROLLBACK');
    expect(run.at).toBeLessThan(425);
    expect(run.last.reasons[0]).toMatch(/^memory: climbing 0\.\d+ %\/min over the last .* projected to cross the maximum 80\.00 % within \d+ min \(horizon 30 min\)/);
  });

  it('rolls back a p99 that shifts +80 % over the baseline mid-stage (the paired comparison)', () => {
    const config = configOf([METRICS.latency], {}, 86_400);
    const rec = healthy(900, 13, { latency: (t) => (t >= 700 ? 1.8 : 1) });
    const run = replay(config, rec, 900);
    expect(run.last.action).toBe('ROLLBACK');
    expect(run.at - 700).toBeLessThanOrEqual(10);
    expect(run.last.reasons[0]).toMatch(/^latency-p99: 0\.5\d+ s against the baseline's 0\.\d+ s since 20:40 UTC, change detected at 20:4\d UTC: \+\d+ % per period, any-time-valid lower bound \+\d+ % beyond the allowed \+20 %/);
  });

  it('does not call a few points more of a near-idle, quantised CPU a regression (minIncrease), and does not stall on it', () => {
    // The canary idles at ~4 % CPU, the baseline at ~1.5 %: +167 %, but +2.5 points, under the 5-point floor.
    const config = configOf([METRICS.cpu], {}, 1800);
    const run = replay(config, healthy(200, 17, { cpu: () => 4 }), 200);
    expect(run.last.action).toBe('ADVANCE');
    expect(run.at).toBeLessThanOrEqual(33);
    // Without the floor the same canary is beyond +50 %: caught.
    const strict = configOf([{ ...METRICS.cpu, baseline: { maxIncreasePercent: 50 } }], {}, 1800);
    const caught = replay(strict, healthy(200, 17, { cpu: () => 4 }), 200);
    expect(caught.last.action).toBe('ROLLBACK');
    expect(caught.last.reasons[0]).toMatch(/^cpu: \d\.\d+ % against the baseline's 1\.\d+ % since 09:\d\d UTC, change detected at 09:\d\d UTC/);
  });

  it('never passes without data: INCONCLUSIVE no-data counts after the bake and rolls back past inconclusiveLimit', () => {
    const config = configOf([METRICS.errors], { inconclusiveLimit: 2 }, 600);
    const empty: Recording = { 'error-rate': { canary: { numerator: Array(60).fill(null), denominator: Array(60).fill(null) } } };
    const run = replay(config, empty, 60);
    expect(run.last.action).toBe('ROLLBACK');
    expect(run.at).toBe(13); // the bake ends at minute 11: the checks at 11, 12 and 13 have no data, one more than the limit
    const v = run.last.judgement.metrics[0]!;
    expect(v).toMatchObject({ verdict: 'INCONCLUSIVE', cause: 'no-data' });
    expect(run.last.reasons.at(-1)).toBe('3 inconclusive check(s) at this stage, limit 2: no data is not a pass');
  });

  it('tells too little data from too much variance when a stage runs out of extension', () => {
    // Too little data: 3 canary requests a minute cannot show a rate under 1 % within the extension.
    const quiet = configOf([METRICS.errors], { maxBakeExtensionSeconds: 600 }, 600);
    const few: Recording = { 'error-rate': { canary: { numerator: Array(60).fill(null), denominator: Array(60).fill(3) }, baseline: { numerator: Array(60).fill(null), denominator: Array(60).fill(300) } } };
    const a = replay(quiet, few, 60);
    expect(a.last.action).toBe('ROLLBACK');
    expect(a.last.judgement.metrics[0]!.cause).toBe('too-little-data');
    expect(a.last.reasons.at(-1)).toMatch(/^still too little data to judge after extending the bake by 600 s .*: give this stage more traffic/);
    // Too much variance: a wildly noisy p99 around its allowance over the baseline.
    const noisy = configOf([METRICS.latency], { maxBakeExtensionSeconds: 600 }, 600);
    const rng = mulberry32(4);
    const values = (scale: number) => Array.from({ length: 60 }, () => Number((scale * 0.3 * Math.exp(0.6 * normal(rng))).toFixed(5)));
    const b = replay(noisy, { 'latency-p99': { canary: { values: values(1.2) }, baseline: { values: values(1) } } }, 60);
    expect(b.last.action).toBe('ROLLBACK');
    expect(b.last.judgement.metrics[0]!.cause).toBe('too-much-variance');
    expect(b.last.reasons.at(-1)).toMatch(/^still too much variance to tell after extending the bake/);
  });

  it('in a hold, rolls back on a change and never advances', () => {
    const config = configOf([METRICS.errors], {}, 600);
    let state = startStageAnalysis(config, 0, START, { mode: 'hold' });
    expect(state.alpha).toBeCloseTo(segmentAlpha(config, 'hold', 0), 12);
    const rec = healthy(120, 8, { errorRate: (t) => (t >= 90 ? 0.05 : 0.0005) });
    const actions: string[] = [];
    for (let k = 2; k <= 121; k++) {
      const range = periodsToFetch(state, minute(k), 60)!;
      const out = analyzeCheck({
        config, stageIndex: 0, weight: 25, now: minute(k), bakeEnd: START, mode: 'hold', state,
        window: slice(rec, (range.start.getTime() - START.getTime()) / 60_000, 1),
      });
      state = out.state;
      actions.push(out.action);
      if (out.action === 'ROLLBACK') break;
    }
    expect(actions.includes('ADVANCE')).toBe(false);
    expect(actions.at(-1)).toBe('ROLLBACK');
    expect(actions.length).toBeLessThan(97);
  });

  it('counts alarms of a non-critical metric against failureLimit', () => {
    const config = configOf([METRICS.memory], { failureLimit: 2 }, 86_400);
    const rec = healthy(400, 5, { memory: (t) => (t >= 200 ? 95 : 55) });
    const run = replay(config, rec, 400);
    expect(run.last.action).toBe('ROLLBACK');
    const fails = run.results.filter((r) => r.judgement.verdict === 'FAIL');
    expect(fails).toHaveLength(3);
    expect(run.last.reasons.at(-1)).toBe('3 failed check(s) at this stage, limit 2');
  });
});
