/**
 * The baseline judged on its own: as if it were the candidate, against the absolute thresholds
 * only (no comparison, there is nothing to compare it with). Preflight's baseline health check
 * and the recovery watch after a rollback both ask this question. Pure.
 */
import type { JudgeMetric } from './config.ts';
import type { Judge, Judgement, MetricWindow } from './judge.ts';

export function judgeBaselineAlone(metrics: JudgeMetric[], window: MetricWindow, judge: Judge): Judgement {
  const asCandidate: MetricWindow = {
    ...window,
    metrics: Object.fromEntries(Object.entries(window.metrics).map(([name, data]) => [name, { canary: data.baseline ?? data.canary }])),
  };
  const thresholdsOnly = metrics.map(({ baseline: _ignored, ...metric }) => metric);
  return judge.judge(thresholdsOnly, asCandidate);
}
