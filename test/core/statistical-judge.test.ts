import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJudgeConfig, type JudgeMetric } from '../../functions/core/config.ts';
import type { MetricData, MetricVerdict, MetricWindow } from '../../functions/core/judge.ts';
import { JUDGE_DEFAULTS, judgeMetricStatistically, statisticalJudge } from '../../functions/core/statistical-judge.ts';

const { metrics } = parseJudgeConfig({
  metrics: [
    { name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 } },
    { name: 'error-rate', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, critical: true },
    { name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } },
  ],
});
const [memory, errorRate, latency] = metrics as [JudgeMetric, JudgeMetric, JudgeMetric];

function metric(overrides: Partial<JudgeMetric> & Pick<JudgeMetric, 'name' | 'kind' | 'threshold'>): JudgeMetric {
  return parseJudgeConfig({ metrics: [overrides] }).metrics[0]!;
}

function judgeOne(m: JudgeMetric, data: MetricData | undefined, periodSeconds = 60): MetricVerdict {
  const window: MetricWindow = { periodSeconds, metrics: data ? { [m.name]: data } : {} };
  return judgeMetricStatistically(m, window);
}

/** A deterministic wobble in [-1, 1] (no randomness in tests). */
const wobble = (i: number) => Math.sin(i * 2.3) * 0.6 + Math.cos(i * 0.7) * 0.4;
const series = <T,>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

describe('statistical judge: defaults', () => {
  it('documents and exports its defaults', () => {
    expect(JUDGE_DEFAULTS).toEqual({ confidence: 0.95, minDatapoints: 5, minDenominator: 100, trendHorizonSeconds: 1800 });
    expect(Object.isFrozen(JUDGE_DEFAULTS)).toBe(true);
    expect(statisticalJudge.name).toBe('statistical');
  });
});

describe('statistical judge: ratio metrics', () => {
  const baseline = { numerator: series(20, () => 30), denominator: series(20, () => 10_000) };

  it('fails a rate confidently above the maximum, with its evidence', () => {
    const v = judgeOne(errorRate, { canary: { numerator: series(20, () => 40), denominator: series(20, () => 1000) }, baseline });
    expect(v.verdict).toBe('FAIL');
    expect(v.test).toBe('clopper-pearson-bound');
    expect(v.canaryValue).toBeCloseTo(4, 10);
    expect(v.baselineValue).toBeCloseTo(0.3, 10);
    expect(v.sample).toEqual({ canary: 20, baseline: 20, canaryEvents: 20_000, baselineEvents: 200_000 });
    expect(v.details!.lowerBoundPercent as number).toBeGreaterThan(1);
    expect(v.reason).toMatch(/^error-rate: rate 4\.00 % is above the maximum 1\.00 % \(95 % lower bound 3\.\d+ %; 800 of 20000 events in 20 periods\)$/);
  });

  it('passes a rate confidently below the maximum', () => {
    const v = judgeOne(errorRate, { canary: { numerator: series(20, (i) => (i % 2 ? 3 : 2)), denominator: series(20, () => 1000) }, baseline });
    expect(v.verdict).toBe('PASS');
    expect(v.details!.upperBoundPercent as number).toBeLessThanOrEqual(1);
    expect(v.reason).toContain('95 % upper bound');
  });

  it('counts an absent numerator beside a present denominator as zero errors', () => {
    const absent = judgeOne(errorRate, { canary: { numerator: series(10, () => null), denominator: series(10, () => 1000) } });
    const zeros = judgeOne(errorRate, { canary: { numerator: series(10, () => 0), denominator: series(10, () => 1000) } });
    expect(absent.verdict).toBe('PASS');
    expect(absent.canaryValue).toBe(0);
    expect(absent.sample.canaryEvents).toBe(10_000);
    expect({ ...absent, details: undefined }).toEqual({ ...zeros, details: undefined });
    // Numerator arrays shorter than the denominators are absent too.
    expect(judgeOne(errorRate, { canary: { numerator: [], denominator: series(10, () => 1000) } }).verdict).toBe('PASS');
  });

  it('is inconclusive with low traffic rather than passing or failing', () => {
    // 50 requests: below minDenominator.
    const tiny = judgeOne(errorRate, { canary: { numerator: series(10, (i) => (i === 3 ? 1 : null)), denominator: series(10, () => 5) } });
    expect(tiny.verdict).toBe('INCONCLUSIVE');
    expect(tiny.reason).toContain('too few canary events');
    // 200 clean requests: enough to look at, too few to prove ≤ 1 % (that takes about 300).
    const few = judgeOne(errorRate, { canary: { numerator: series(10, () => null), denominator: series(10, () => 20) } });
    expect(few.verdict).toBe('INCONCLUSIVE');
    expect(few.reason).toContain('cannot yet be told from the maximum 1.00 %');
    // 3 errors in 277 requests is 1.08 %, but could well be 0.5 %: not a rollback.
    const noisy = judgeOne(errorRate, { canary: { numerator: [1, null, 1, null, 1, null, null], denominator: [40, 40, 40, 40, 40, 40, 37] } });
    expect(noisy.canaryValue).toBeCloseTo(100 * 3 / 277, 10);
    expect(noisy.verdict).toBe('INCONCLUSIVE');
  });

  it('fails on few requests when the evidence is overwhelming', () => {
    const v = judgeOne(errorRate, { canary: { numerator: series(10, () => 5), denominator: series(10, () => 12) } });
    expect(v.verdict).toBe('FAIL');
  });

  it('is inconclusive, never passing, with no canary data', () => {
    const nulls = judgeOne(errorRate, { canary: { numerator: series(10, () => null), denominator: series(10, () => null) }, baseline });
    expect(nulls.verdict).toBe('INCONCLUSIVE');
    expect(nulls.canaryValue).toBeNull();
    expect(judgeOne(errorRate, undefined).verdict).toBe('INCONCLUSIVE');
    expect(judgeOne(errorRate, { canary: { values: [1, 2, 3, 4, 5] } }).reason).toContain('not a ratio series');
    expect(judgeOne(errorRate, { canary: { numerator: [0, 0, 0], denominator: [1000, 1000, 1000] } }).reason).toContain('too few canary periods');
    // ...but a confident breach in few periods is a breach (caught during the bake).
    const early = judgeOne(errorRate, { canary: { numerator: [null, 40], denominator: [1000, 1000] } });
    expect(early.verdict).toBe('FAIL');
    expect(early.reason).toContain('above the maximum 1.00 %');
    expect(judgeOne(errorRate, { canary: { numerator: [null, 12], denominator: [1000, 1000] } }).verdict).toBe('INCONCLUSIVE');
  });

  it('compares with the baseline by a test on the two proportions', () => {
    const relative = metric({ name: 'errors', kind: 'ratio', unit: 'percent', threshold: { max: 5 }, baseline: { maxIncreasePercent: 50 } });
    // 1 % against 0.3 %: within the absolute 5 %, but more than 50 % above the baseline.
    const worse = judgeOne(relative, { canary: { numerator: series(20, () => 10), denominator: series(20, () => 1000) }, baseline });
    expect(worse.verdict).toBe('FAIL');
    expect(worse.test).toBe('rate-ratio-score-test');
    expect(worse.details!.pValueAboveAllowed as number).toBeLessThan(0.05);
    expect(worse.details!.rateRatioLower as number).toBeGreaterThan(1.5);
    expect(worse.reason).toContain('more than 50 % above the baseline 0.300 %');
    // Same rate as the baseline: no objection.
    const same = judgeOne(relative, { canary: { numerator: series(20, () => 3), denominator: series(20, () => 1000) }, baseline });
    expect(same.verdict).toBe('PASS');
    // No baseline to compare with: inconclusive.
    const alone = judgeOne(relative, { canary: { numerator: series(20, () => 3), denominator: series(20, () => 1000) } });
    expect(alone.verdict).toBe('INCONCLUSIVE');
    expect(alone.reason).toContain('not enough baseline data');
  });

  it('judges a minimum threshold (success rate) the other way round', () => {
    const success = metric({ name: 'success', kind: 'ratio', unit: 'percent', threshold: { min: 99 } });
    expect(judgeOne(success, { canary: { numerator: series(10, () => 950), denominator: series(10, () => 1000) } }).verdict).toBe('FAIL');
    expect(judgeOne(success, { canary: { numerator: series(10, () => 999), denominator: series(10, () => 1000) } }).verdict).toBe('PASS');
  });
});

describe('statistical judge: gauge metrics', () => {
  const steady = (level: number, n = 20, noise = 1) => series(n, (i) => level + noise * wobble(i));

  it('passes a steady level under the maximum and fails one over it, on the median', () => {
    const ok = judgeOne(memory, { canary: { values: steady(55) } });
    expect(ok.verdict).toBe('PASS');
    expect(ok.test).toBe('median-bound');
    expect(ok.canaryValue).toBeCloseTo(55, 0);
    expect(ok.details!.medianUpper as number).toBeLessThan(80);
    const over = judgeOne(memory, { canary: { values: steady(88) } });
    expect(over.verdict).toBe('FAIL');
    expect(over.reason).toMatch(/^memory: median 8\d\.\d\d % is above the maximum 80\.00 % \(95 % lower bound 8\d\.\d\d %; 20 datapoints\)$/);
  });

  it('does not fail on one spike', () => {
    const values = steady(60);
    values[7] = 99;
    const v = judgeOne(memory, { canary: { values } });
    expect(v.verdict).toBe('PASS');
    const lat = steady(0.3, 20, 0.02);
    lat[12] = 2.5;
    const latencyVerdict = judgeOne(latency, { canary: { values: lat }, baseline: { values: steady(0.3, 20, 0.02).map((x, i) => x + 0.005 * wobble(i + 5)) } });
    expect(latencyVerdict.verdict).toBe('PASS');
    expect(latencyVerdict.details!.changeRatioUpper as number).toBeLessThanOrEqual(1.2);
  });

  it('fails a real shift above the baseline by Mann-Whitney with its effect size', () => {
    const base = steady(0.3, 20, 0.02);
    const v = judgeOne(latency, { canary: { values: steady(0.45, 20, 0.03) }, baseline: { values: base } });
    expect(v.verdict).toBe('FAIL');
    expect(v.test).toBe('mann-whitney-hodges-lehmann');
    expect(v.details!.changeRatio as number).toBeCloseTo(1.5, 1);
    expect(v.details!.changeRatioLower as number).toBeGreaterThan(1.2);
    expect(v.details!.pValueAboveBaseline as number).toBeLessThan(1e-6);
    expect(v.details!.rankBiserial).toBe(1);
    expect(v.reason).toContain('more than the allowed +20 %');
    expect(v.reason).toContain('Mann-Whitney p =');
  });

  it('passes a small, significant shift that stays within the allowance', () => {
    const v = judgeOne(latency, { canary: { values: steady(0.315, 20, 0.005) }, baseline: { values: steady(0.3, 20, 0.005) } });
    expect(v.details!.pValueAboveBaseline as number).toBeLessThan(0.05);
    expect(v.verdict).toBe('PASS');
  });

  it('is inconclusive when the shift cannot be told from the allowance', () => {
    const v = judgeOne(latency, {
      canary: { values: [0.3, 0.45, 0.33, 0.5, 0.31, 0.42] }, baseline: { values: [0.3, 0.29, 0.33, 0.31, 0.3, 0.32] },
    });
    expect(v.verdict).toBe('INCONCLUSIVE');
  });

  it('fails a steady leak before it crosses the maximum', () => {
    // 1 %/min from 50 % for 20 minutes: at 69 % now, at 80 % in about 11 minutes.
    const values = series(20, (i) => 50 + i + 0.3 * wobble(i));
    expect(Math.max(...values)).toBeLessThan(80);
    const v = judgeOne(memory, { canary: { values } });
    expect(v.verdict).toBe('FAIL');
    expect(v.test).toBe('theil-sen-trend');
    expect(v.details!.slopePerMinute as number).toBeCloseTo(1, 1);
    expect(v.details!.secondsToMax as number).toBeLessThanOrEqual(1800);
    expect(v.reason).toMatch(/^memory: climbing (0\.9\d\d|1\.\d\d) %\/min .* projected to cross the maximum 80\.00 % within \d+ min \(horizon 30 min\)/);
    // The same climb with a horizon shorter than the crossing: only the level is judged.
    const patient = judgeOne({ ...memory, judge: { trendHorizonSeconds: 60 } }, { canary: { values } });
    expect(patient.verdict).not.toBe('FAIL');
  });

  it('fails a climb that is already above the maximum even when the median is not', () => {
    const values = series(20, (i) => 62 + 1.5 * i);
    const v = judgeOne(memory, { canary: { values } });
    expect(v.canaryValue!).toBeLessThan(80);
    expect(v.verdict).toBe('FAIL');
    expect(v.reason).toContain('already above the maximum');
  });

  it('does not call a flat, noisy series a leak', () => {
    const v = judgeOne(memory, { canary: { values: steady(72, 30, 2) } });
    expect(v.verdict).toBe('PASS');
    expect(v.details!.secondsToMax).toBeUndefined();
  });

  it('handles a single-valued series', () => {
    expect(judgeOne(memory, { canary: { values: series(10, () => 50) } }).verdict).toBe('PASS');
    expect(judgeOne(memory, { canary: { values: series(10, () => 85) } }).verdict).toBe('FAIL');
    const flat = judgeOne(latency, { canary: { values: series(10, () => 0.3) }, baseline: { values: series(10, () => 0.3) } });
    expect(flat.verdict).toBe('PASS');
  });

  it('is inconclusive, never passing, with no or too little data', () => {
    const nulls = judgeOne(memory, { canary: { values: series(20, () => null) }, baseline: { values: steady(50) } });
    expect(nulls.verdict).toBe('INCONCLUSIVE');
    expect(nulls.canaryValue).toBeNull();
    expect(nulls.reason).toContain('no canary data');
    const few = judgeOne(memory, { canary: { values: [50, null, 51, null, 52, null] } });
    expect(few.verdict).toBe('INCONCLUSIVE');
    expect(few.reason).toContain('too few canary datapoints (3, need 5)');
    expect(judgeOne({ ...memory, judge: { minDatapoints: 3 } }, { canary: { values: [50, null, 51, null, 52] } }).verdict).toBe('PASS');
    expect(judgeOne(memory, { canary: { numerator: [1], denominator: [2] } }).reason).toContain('not a gauge series');
    const noBaseline = judgeOne(latency, { canary: { values: steady(0.3) } });
    expect(noBaseline.verdict).toBe('INCONCLUSIVE');
    expect(noBaseline.reason).toContain('not enough baseline data');
  });

  it('uses the additive shift when values are not all positive', () => {
    const temp = metric({ name: 'temperature-delta', kind: 'gauge', unit: 'none', threshold: { max: 50 }, baseline: { maxIncreasePercent: 10 } });
    const v = judgeOne(temp, { canary: { values: steady(5, 20, 0.2) }, baseline: { values: steady(0, 20, 0.2) } });
    expect(v.details!.shiftScale).toBe('difference');
    expect(v.verdict).toBe('FAIL');
  });
});

describe('statistical judge: overall verdict', () => {
  it('combines metrics and honours critical', () => {
    const j = statisticalJudge.judge(metrics, {
      periodSeconds: 60,
      metrics: {
        memory: { canary: { values: series(20, (i) => 50 + wobble(i)) } },
        'error-rate': { canary: { numerator: series(20, () => 80), denominator: series(20, () => 1000) } },
        'latency-p99': { canary: { values: series(20, (i) => 0.3 + 0.01 * wobble(i)) }, baseline: { values: series(20, (i) => 0.3 + 0.01 * wobble(i + 3)) } },
      },
    });
    expect(j.metrics.map((m) => m.verdict)).toEqual(['PASS', 'FAIL', 'PASS']);
    expect(j.verdict).toBe('FAIL');
    expect(j.criticalFailure).toBe(true);
    for (const m of j.metrics) {
      expect(m.reason.startsWith(`${m.name}: `)).toBe(true);
      expect(m.test).not.toBe('');
      expect(m.details).toBeDefined();
    }
  });

  it('is inconclusive, never passing, on an empty window', () => {
    const j = statisticalJudge.judge(metrics, { periodSeconds: 60, metrics: {} });
    expect(j.verdict).toBe('INCONCLUSIVE');
    expect(j.criticalFailure).toBe(false);
  });
});

const SCENARIOS = path.resolve(import.meta.dirname, '../../bench/judge-corpus');
const haveScenarios = existsSync(path.join(SCENARIOS, 'labels.json'));
if (!haveScenarios) console.warn(`skipping the labelled-window tests: ${SCENARIOS} is absent`);

describe.skipIf(!haveScenarios)('statistical judge on the labelled windows of bench/judge-corpus', () => {
  it('judges a few windows of each family as labelled', () => {
    const config = parseJudgeConfig(JSON.parse(readFileSync(path.join(SCENARIOS, 'config.json'), 'utf8')));
    const labels = JSON.parse(readFileSync(path.join(SCENARIOS, 'labels.json'), 'utf8')) as Record<string, { family: string; label: string }>;
    const byFamily = new Map<string, string[]>();
    for (const [id, l] of Object.entries(labels)) byFamily.set(l.family, [...(byFamily.get(l.family) ?? []), id]);
    let judged = 0;
    for (const ids of byFamily.values()) {
      for (const id of ids.sort().slice(0, 2)) {
        const window = JSON.parse(readFileSync(path.join(SCENARIOS, 'windows', `${id}.json`), 'utf8')) as MetricWindow;
        const { verdict } = statisticalJudge.judge(config.metrics, window);
        const label = labels[id]!.label;
        const ok = label === 'PASS' ? verdict === 'PASS' : label === 'FAIL' ? verdict === 'FAIL'
          : label === 'NOT_FAIL' ? verdict !== 'FAIL' : verdict !== 'PASS';
        expect(ok, `${id} labelled ${label} was judged ${verdict}`).toBe(true);
        judged++;
      }
    }
    expect(judged).toBeGreaterThan(0);
  });
});
