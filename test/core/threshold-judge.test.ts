import { describe, expect, it } from 'vitest';
import { parseJudgeConfig } from '../../functions/core/config.ts';
import { thresholdJudge } from '../../functions/core/threshold-judge.ts';

const { metrics } = parseJudgeConfig({
  metrics: [
    { name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 } },
    { name: 'error-rate', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, critical: true },
    { name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } },
  ],
});

describe('threshold judge', () => {
  it('counts an absent 5xx datapoint beside a present request count as zero errors', () => {
    const j = thresholdJudge.judge(metrics, {
      periodSeconds: 60,
      metrics: {
        memory: { canary: { values: [50, 51] }, baseline: { values: [50, 50] } },
        'error-rate': { canary: { numerator: [null, 2, null], denominator: [500, 500, 500] }, baseline: { numerator: [null], denominator: [1000] } },
        'latency-p99': { canary: { values: [0.3, 0.31] }, baseline: { values: [0.3, 0.3] } },
      },
    });
    const errors = j.metrics.find((m) => m.name === 'error-rate')!;
    expect(errors.verdict).toBe('PASS');
    expect(errors.canaryValue).toBeCloseTo(100 * 2 / 1500);
    expect(errors.sample).toMatchObject({ canary: 3, canaryEvents: 1500 });
    expect(j.verdict).toBe('PASS');
  });

  it('is inconclusive, never passing, with no data at all', () => {
    const j = thresholdJudge.judge(metrics, {
      periodSeconds: 60,
      metrics: {
        memory: { canary: { values: [null, null] } },
        'error-rate': { canary: { numerator: [null, null], denominator: [null, null] } },
      },
    });
    expect(j.metrics.map((m) => m.verdict)).toEqual(['INCONCLUSIVE', 'INCONCLUSIVE', 'INCONCLUSIVE']);
    expect(j.verdict).toBe('INCONCLUSIVE');
    expect(j.metrics[0]!.reason).toContain('not enough canary data');
  });

  it('fails a critical ratio above its threshold with a reason naming value and threshold', () => {
    const j = thresholdJudge.judge(metrics.slice(1, 2), {
      periodSeconds: 60, metrics: { 'error-rate': { canary: { numerator: [10, 12], denominator: [500, 500] } } },
    });
    expect(j.criticalFailure).toBe(true);
    expect(j.metrics[0]!.reason).toBe('error-rate 2.20 % is above the maximum 1.00 % (1000 requests in 2 periods)');
  });

  it('fails a gauge too far above the baseline', () => {
    const j = thresholdJudge.judge(metrics.slice(2), {
      periodSeconds: 60, metrics: { 'latency-p99': { canary: { values: [0.5, 0.5] }, baseline: { values: [0.3, 0.3] } } },
    });
    expect(j.verdict).toBe('FAIL');
    expect(j.metrics[0]!.reason).toContain('more than 20 % above the baseline 0.300 s');
  });
});
