/**
 * The plain threshold judge (as Argo Rollouts and Flagger do): the window's mean (gauges) or
 * pooled rate (ratios) against the threshold, and against the baseline's when configured.
 * No data is INCONCLUSIVE, never PASS.
 */
import type { JudgeMetric } from './config.ts';
import {
  combineVerdicts, formatValue, isRatioSeries, presentValues, ratioCounts,
  type Judge, type MetricData, type MetricVerdict, type MetricWindow, type Series,
} from './judge.ts';

interface Summary { value: number | null; periods: number; events?: number }

function summarise(kind: JudgeMetric['kind'], s: Series | undefined): Summary {
  if (!s) return { value: null, periods: 0 };
  if (kind === 'ratio') {
    if (!isRatioSeries(s)) return { value: null, periods: 0 };
    const c = ratioCounts(s);
    return { value: c.denominator > 0 ? (100 * c.numerator) / c.denominator : null, periods: c.periods, events: c.denominator };
  }
  if (isRatioSeries(s)) return { value: null, periods: 0 };
  const v = presentValues(s);
  return { value: v.length ? v.reduce((a, b) => a + b, 0) / v.length : null, periods: v.length };
}

export function judgeMetricByThreshold(metric: JudgeMetric, data: MetricData | undefined): MetricVerdict {
  const canary = summarise(metric.kind, data?.canary);
  const baseline = summarise(metric.kind, data?.baseline);
  const fmt = (v: number | null) => formatValue(v, metric.unit);
  const sampleText = metric.kind === 'ratio'
    ? `${canary.events ?? 0} requests in ${canary.periods} periods`
    : `${canary.periods} datapoints`;
  const base = {
    name: metric.name, critical: metric.critical, test: 'threshold-on-mean',
    canaryValue: canary.value, baselineValue: baseline.value, threshold: metric.threshold,
    sample: { canary: canary.periods, baseline: baseline.periods, canaryEvents: canary.events, baselineEvents: baseline.events },
  };
  const minPeriods = metric.judge?.minDatapoints ?? 1;
  if (canary.value === null || canary.periods < minPeriods) {
    return { ...base, verdict: 'INCONCLUSIVE', reason: `${metric.name}: not enough canary data (${sampleText}, need ${minPeriods})` };
  }
  const { max, min } = metric.threshold;
  if (max !== undefined && canary.value > max) {
    return { ...base, verdict: 'FAIL', reason: `${metric.name} ${fmt(canary.value)} is above the maximum ${fmt(max)} (${sampleText})` };
  }
  if (min !== undefined && canary.value < min) {
    return { ...base, verdict: 'FAIL', reason: `${metric.name} ${fmt(canary.value)} is below the minimum ${fmt(min)} (${sampleText})` };
  }
  if (metric.baseline) {
    if (baseline.value === null) {
      return { ...base, verdict: 'INCONCLUSIVE', reason: `${metric.name}: no baseline data to compare ${fmt(canary.value)} with` };
    }
    const limit = baseline.value * (1 + metric.baseline.maxIncreasePercent / 100);
    if (canary.value > limit) {
      return {
        ...base, verdict: 'FAIL',
        reason: `${metric.name} ${fmt(canary.value)} is more than ${metric.baseline.maxIncreasePercent} % above the baseline ${fmt(baseline.value)} (limit ${fmt(limit)}, ${sampleText})`,
      };
    }
  }
  const against = [max !== undefined ? `max ${fmt(max)}` : '', min !== undefined ? `min ${fmt(min)}` : '',
    metric.baseline && baseline.value !== null ? `baseline ${fmt(baseline.value)} +${metric.baseline.maxIncreasePercent} %` : '']
    .filter(Boolean).join(', ');
  return { ...base, verdict: 'PASS', reason: `${metric.name} ${fmt(canary.value)} within ${against} (${sampleText})` };
}

export const thresholdJudge: Judge = {
  name: 'threshold',
  judge(metrics: JudgeMetric[], window: MetricWindow) {
    return combineVerdicts(metrics.map((m) => judgeMetricByThreshold(m, window.metrics[m.name])));
  },
};
