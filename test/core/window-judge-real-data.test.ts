import { describe, expect, it } from 'vitest';
import { parseJudgeConfig, parseRolloutConfig, type JudgeMetric } from '../../functions/core/config.ts';
import type { MetricData, MetricVerdict } from '../../functions/core/judge.ts';
import { judgeMetricStatistically } from '../../functions/core/statistical-judge.ts';
import { mulberry32, normal } from '../../sim/prng.ts';

const metricOf = (m: object): JudgeMetric => parseJudgeConfig({ metrics: [m] }).metrics[0]!;
const judgeOne = (m: JudgeMetric, data: MetricData): MetricVerdict => judgeMetricStatistically(m, { periodSeconds: 60, metrics: { [m.name]: data } });

describe('window judge on real-data shapes', () => {
  it('holds a gauge against max(maxIncreasePercent, minIncrease): a near-idle CPU a few points up passes', () => {
    // Prepare: quantised idle CPU, canary ~3 %, baseline ~1.5 %.
    const rng = mulberry32(1);
    const idle = (level: number) => Array.from({ length: 60 }, () => Math.max(0, Math.round(level + 0.6 * normal(rng))));
    const data = { canary: { values: idle(3) }, baseline: { values: idle(1.5) } };
    const floor = metricOf({ name: 'cpu', kind: 'gauge', unit: 'percent', threshold: { max: 90 }, baseline: { maxIncreasePercent: 50, minIncrease: 5 } });
    const ratioOnly = metricOf({ name: 'cpu', kind: 'gauge', unit: 'percent', threshold: { max: 90 }, baseline: { maxIncreasePercent: 50 } });
    // Act
    const withFloor = judgeOne(floor, data);
    const without = judgeOne(ratioOnly, data);
    // Assess
    expect(withFloor.verdict).toBe('PASS');
    expect(withFloor.reason).toMatch(/within the allowed \+\d+ % \(50 % or \+5\.00 %, the larger\) of the baseline/);
    expect(without.verdict).not.toBe('PASS');
  });

  it('holds a ratio against the floor in percentage points when it is the larger allowance', () => {
    const m = (minIncrease?: number) => metricOf({
      name: 'e', kind: 'ratio', unit: 'percent', threshold: { max: 5 }, baseline: { maxIncreasePercent: 50, ...(minIncrease !== undefined ? { minIncrease } : {}) },
    });
    // Canary 0.3 %, baseline 0.1 %: ×3, but +0.2 points.
    const data = {
      canary: { numerator: Array(30).fill(6), denominator: Array(30).fill(2000) },
      baseline: { numerator: Array(30).fill(6), denominator: Array(30).fill(6000) },
    };
    expect(judgeOne(m(), data).verdict).toBe('FAIL');
    const floored = judgeOne(m(0.5), data);
    expect(floored.verdict).toBe('PASS');
    expect(floored.reason).toContain('50 % or +0.500 %, the larger');
  });

  it('does not let a periodic burst both versions share inflate the baseline comparison into INCONCLUSIVE', () => {
    // Prepare: 180 periods of CPU with a 10-minute batch job every hour on both versions; the
    // canary runs at +81 % of the baseline, beyond the allowed +50 %.
    const rng = mulberry32(9);
    const series = (factor: number) => Array.from({ length: 180 }, (_, i) => factor * (10 + (i % 60 < 10 ? 30 : 0)) * Math.exp(0.05 * normal(rng)));
    const m = metricOf({ name: 'cpu', kind: 'gauge', unit: 'percent', threshold: { max: 200 }, baseline: { maxIncreasePercent: 50 } });
    // Act
    const v = judgeOne(m, { canary: { values: series(1.81) }, baseline: { values: series(1) } });
    // Assess: the robust autocorrelation keeps the baseline's inflation near 1, and the verdict is said.
    expect(v.details!.baselineVarianceInflation as number).toBeLessThan(1.5);
    expect(v.verdict).toBe('FAIL');
  });

  it('says why it is INCONCLUSIVE: no data, too little data, or too much variance', () => {
    const latency = metricOf({ name: 'l', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } });
    const rng = mulberry32(2);
    const noisy = (scale: number, n: number) => Array.from({ length: n }, () => scale * 0.3 * Math.exp(0.5 * normal(rng)));
    expect(judgeOne(latency, { canary: { values: [null, null] } }).cause).toBe('no-data');
    expect(judgeOne(latency, { canary: { values: noisy(1, 3) } }).cause).toBe('too-little-data');
    const variance = judgeOne(latency, { canary: { values: noisy(1.2, 120) }, baseline: { values: noisy(1, 120) } });
    expect(variance).toMatchObject({ verdict: 'INCONCLUSIVE', cause: 'too-much-variance' });
    expect(variance.reason).toMatch(/too much variance: ~\d+ independent of 240 datapoints/);
    const quiet = (n: number) => Array.from({ length: n }, () => 0.3 * Math.exp(0.03 * normal(rng)));
    expect(judgeOne(latency, { canary: { values: quiet(30) }, baseline: { values: quiet(30) } })).toMatchObject({ verdict: 'PASS' });
    expect(judgeOne(latency, { canary: { values: quiet(30) }, baseline: { values: quiet(30) } }).cause).toBeUndefined();
  });
});

describe('config: the judge-related fields', () => {
  const base = {
    name: 'api', target: { hostedZoneId: 'Z1', recordName: 'api.example.com', baselineSetIdentifier: 'b', canarySetIdentifier: 'c' },
    preset: { type: 'alb-ecs', loadBalancer: 'app/a/1', baselineTargetGroup: 'tg-b', canaryTargetGroup: 'tg-c', cluster: 'c', baselineService: 'b', canaryService: 'c' },
  };

  it('accepts judge.falseRollbackRate and baseline.minIncrease, and leaves them optional', () => {
    expect(parseRolloutConfig(base).judge).toBeUndefined();
    expect(parseRolloutConfig({ ...base, judge: {} }).judge).toEqual({ falseRollbackRate: 0.01 });
    expect(parseRolloutConfig({ ...base, judge: { falseRollbackRate: 0.001 } }).judge).toEqual({ falseRollbackRate: 0.001 });
    expect(metricOf({ name: 'c', kind: 'gauge', threshold: { max: 1 }, baseline: { maxIncreasePercent: 50, minIncrease: 5 } }).baseline).toEqual({ maxIncreasePercent: 50, minIncrease: 5 });
  });

  it('rejects a bad level or floor naming the field', () => {
    expect(() => parseRolloutConfig({ ...base, judge: { falseRollbackRate: 0 } })).toThrow(/judge\.falseRollbackRate: judge\.falseRollbackRate must be above 0/);
    expect(() => parseRolloutConfig({ ...base, judge: { falseRollbackRate: 0.5 } })).toThrow(/judge\.falseRollbackRate/);
    expect(() => parseRolloutConfig({ ...base, judge: { level: 0.01 } })).toThrow(/judge: unknown field\(s\) 'level'/);
    expect(() => metricOf({ name: 'c', kind: 'gauge', threshold: { max: 1 }, baseline: { maxIncreasePercent: 50, minIncrease: -1 } })).toThrow(/metrics\[0\]\.baseline\.minIncrease/);
  });
});
