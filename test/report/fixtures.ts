/**
 * A rolled-back rollout written out by hand, with times chosen so every figure of its report can
 * be checked by reading: stages 10 → 50 → 100 %, error-rate breaks at 50 %, two failing checks,
 * rollback INSYNC 46 s after the decision.
 */
import type { JudgeMetric } from '../../functions/core/config.ts';
import type { MetricVerdict } from '../../functions/core/judge.ts';
import type { StoredCheck } from '../../functions/core/ports.ts';
import type { CheckEvent, Decision, RolloutEvent, RolloutHistory } from '../../functions/core/rollout-record.ts';

export const METRICS: JudgeMetric[] = [
  { name: 'error-rate', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, critical: true },
  { name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 }, critical: false },
];

const t = (hhmmss: string) => `2026-03-02T${hhmmss}.000Z`;

function verdict(name: string, v: MetricVerdict['verdict'], canaryValue: number | null, baselineValue: number | null, reason: string): MetricVerdict {
  const m = METRICS.find((x) => x.name === name)!;
  return {
    name, verdict: v, critical: m.critical, reason, test: 'threshold-on-mean', canaryValue, baselineValue, threshold: m.threshold,
    sample: { canary: 4, baseline: 4 },
  };
}

const errorFail = (value: number) => verdict('error-rate', 'FAIL', value, 0.1, `error-rate ${value.toFixed(2)} % is above the maximum 1.00 %`);
const latencyPass = verdict('latency-p99', 'PASS', 0.25, 0.25, 'latency-p99 0.250 s within max 1.00 s');

export const DECISION: Decision = {
  outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: t('10:16:00'), stageIndex: 1, weight: 50,
  reasons: ['critical metric failed: error-rate 5.00 % is above the maximum 1.00 %'],
  failing: [errorFail(5)],
};

const check = (at: string, stageIndex: number, weight: number, v: MetricVerdict['verdict'], window: [string, string], metrics: MetricVerdict[]): CheckEvent => ({
  type: 'CHECK', at: t(at), stageIndex, weight, verdict: v, window: { start: t(window[0]), end: t(window[1]) },
  metrics: metrics.map(({ name, verdict: mv, reason, canaryValue, baselineValue }) => ({ name, verdict: mv, reason, canaryValue, baselineValue })),
});

/** The rollout's head with its events, as the store's `history` (and the evidence's record.json) gives it. */
export function rolledBackRecord(): RolloutHistory {
  const lastCheck = check('10:16:00', 1, 50, 'FAIL', ['10:09:00', '10:15:00'], [errorFail(5), latencyPass]);
  const deliveries = [{ target: 'sns' as const, ok: true, attempts: 1, id: 'msg-1' }];
  const events: RolloutEvent[] = [
    { type: 'STARTED', at: t('10:00:00'), stages: [10, 50, 100] },
    { type: 'WEIGHTS_SET', at: t('10:00:01'), canary: 10, baseline: 90, changeId: 'C1', stageIndex: 0 },
    { type: 'IN_SYNC', at: t('10:00:31'), changeId: 'C1', canary: 10 },
    check('10:07:00', 0, 10, 'PASS', ['10:02:00', '10:06:00'], [verdict('error-rate', 'PASS', 0.1, 0.1, 'error-rate 0.10 % within max 1.00 %'), latencyPass]),
    { type: 'WEIGHTS_SET', at: t('10:07:01'), canary: 50, baseline: 50, changeId: 'C2', stageIndex: 1 },
    { type: 'IN_SYNC', at: t('10:07:41'), changeId: 'C2', canary: 50 },
    check('10:14:00', 1, 50, 'FAIL', ['10:09:00', '10:13:00'], [errorFail(4), latencyPass]),
    lastCheck,
    { type: 'DECISION', at: t('10:16:01'), decision: DECISION },
    { type: 'WEIGHTS_SET', at: t('10:16:01'), canary: 0, baseline: 100, changeId: 'C3', stageIndex: 1 },
    { type: 'IN_SYNC', at: t('10:16:46'), changeId: 'C3', canary: 0 },
    { type: 'INCIDENT', at: t('10:16:47'), deliveries },
  ];
  return {
    rolloutId: 'checkout-api-20260302T100000Z-abcd', name: 'checkout-api', targetKey: 'Z0123456789ABCDEFGHIJ/api.example.com/A',
    executionArn: 'arn:aws:states:eu-west-1:111122223333:execution:CanaryRollout:checkout-api-20260302T100000Z-abcd',
    status: 'ROLLED_BACK', startedAt: t('10:00:00'), updatedAt: t('10:16:47'), stageIndex: 1, weight: 0,
    decision: DECISION, checkCount: 3, lastCheck,
    lastChange: { id: 'C3', canary: 0, submittedAt: t('10:16:01'), inSyncAt: t('10:16:46') },
    incident: { dedupKey: 'canary-rollout-checkout-api-20260302T100000Z-abcd', openedAt: t('10:16:47'), deliveries },
    eventCount: events.length, events,
  };
}

/** The raw windows of the three checks; windows of one stage overlap, and check 3 revised a period check 2 saw. */
export function storedChecks(rolloutId = rolledBackRecord().rolloutId): StoredCheck[] {
  const ratio = (num: (number | null)[]) => ({ numerator: num, denominator: num.map(() => 1000) });
  const gauge = (n: number) => ({ values: Array.from({ length: n }, () => 0.25) });
  const judgement = (v: MetricVerdict['verdict'], metrics: MetricVerdict[]) => ({ verdict: v, metrics, criticalFailure: v === 'FAIL' });
  return [
    {
      rolloutId, checkNo: 1, at: t('10:07:00'), stageIndex: 0, weight: 10, range: { start: t('10:02:00'), end: t('10:06:00') },
      window: { periodSeconds: 60, start: t('10:02:00'), metrics: { 'error-rate': { canary: ratio([1, null, 1, 2]), baseline: ratio([1, 1, 1, 1]) }, 'latency-p99': { canary: gauge(4), baseline: gauge(4) } } },
      judgement: judgement('PASS', [verdict('error-rate', 'PASS', 0.1, 0.1, 'error-rate 0.10 % within max 1.00 %'), latencyPass]),
    },
    {
      rolloutId, checkNo: 2, at: t('10:14:00'), stageIndex: 1, weight: 50, range: { start: t('10:09:00'), end: t('10:13:00') },
      window: { periodSeconds: 60, start: t('10:09:00'), metrics: { 'error-rate': { canary: ratio([null, 2, 40, 50]), baseline: ratio([1, 1, 1, 1]) }, 'latency-p99': { canary: gauge(4), baseline: gauge(4) } } },
      judgement: judgement('FAIL', [errorFail(4), latencyPass]),
    },
    {
      rolloutId, checkNo: 3, at: t('10:16:00'), stageIndex: 1, weight: 50, range: { start: t('10:09:00'), end: t('10:15:00') },
      window: { periodSeconds: 60, start: t('10:09:00'), metrics: { 'error-rate': { canary: ratio([null, 2, 40, 52, 60, 55]), baseline: ratio([1, 1, 1, 1, 1, 1]) }, 'latency-p99': { canary: gauge(6), baseline: gauge(6) } } },
      judgement: judgement('FAIL', [errorFail(5), latencyPass]),
    },
  ];
}
