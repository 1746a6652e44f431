import { describe, expect, it } from 'vitest';
import { buildIncident, severityOf } from '../../functions/core/incident.ts';
import type { InconclusiveCause, MetricVerdict, Verdict } from '../../functions/core/judge.ts';
import type { Decision, DecisionTrigger } from '../../functions/core/rollout-record.ts';

const metric = (name: string, verdict: Verdict, critical: boolean, cause?: InconclusiveCause): MetricVerdict => ({
  name, verdict, critical, reason: `${name}: ${verdict}`, test: 't', canaryValue: null, baselineValue: null, threshold: { max: 1 }, sample: { canary: 0, baseline: 0 },
  ...(cause ? { cause } : {}),
});
const decision = (failing: MetricVerdict[], trigger: DecisionTrigger = 'VERDICT'): Decision => ({
  outcome: 'ROLLED_BACK', trigger, at: '2026-01-01T00:10:00.000Z', stageIndex: 2, weight: 10, failing, reasons: failing.map((m) => m.reason),
});

describe('incident', () => {
  it('is critical when a critical metric failed', () => {
    const incident = buildIncident({ rolloutId: 'r1', service: 'api', target: 'Z/api/A', decision: decision([metric('error-rate', 'FAIL', true)]) });
    expect(incident.severity).toBe('critical');
    expect(incident.title).toBe('Canary rollback: api at stage 3 (10 % canary): error-rate: FAIL');
    expect(incident.dedupKey).toBe('canary-rollout-r1');
  });

  it('is a warning, not a page, when a critical metric merely had no data', () => {
    const incident = buildIncident({ rolloutId: 'r1', service: 'api', target: 'Z/api/A', decision: decision([metric('error-rate', 'INCONCLUSIVE', true, 'no-data')]) });
    expect(incident.severity).toBe('warning');
    expect(incident.severityReason).toBe('warning: the stage could not be judged: too little data to judge error-rate; nothing failed');
    expect(incident.summary.split('\n')[2]).toBe('Severity warning: the stage could not be judged: too little data to judge error-rate; nothing failed.');
  });
});

describe('severityOf: the severity of a rollback by its cause', () => {
  const starved = metric('traffic-share', 'FAIL', false);
  const cases: [string, Decision, 'critical' | 'error' | 'warning', RegExp][] = [
    ['a critical metric FAILED', decision([metric('error-rate', 'FAIL', true), metric('memory', 'FAIL', false)]), 'critical', /^critical: error-rate failed/],
    ['a critical verification check FAILED', decision([metric('reconcile-orders', 'FAIL', true)]), 'critical', /reconcile-orders failed/],
    ['a non-critical metric FAILED', decision([metric('latency-p99', 'FAIL', false), metric('memory', 'INCONCLUSIVE', false, 'too-little-data')]), 'error', /^error: latency-p99 failed$/],
    ['a verification check FAILED', decision([metric('service-alarms', 'FAIL', false)]), 'error', /service-alarms failed/],
    ['throughput dropped (a FAIL beside a starved share)', decision([starved, metric('throughput-vs-stage-start', 'FAIL', false)]), 'error', /throughput-vs-stage-start failed/],
    ['a possible regression never confirmed nor ruled out', decision([metric('latency-p99', 'INCONCLUSIVE', false, 'suspected-change')]), 'error', /possible regression of latency-p99/],
    ['the canary was starved of traffic (traffic did not move)', decision([starved, metric('error-rate', 'INCONCLUSIVE', true, 'too-little-data')]), 'warning', /traffic did not follow the weight \(a starved canary\); too little data/],
    ['too little data (the bake extension ran out)', decision([metric('error-rate', 'INCONCLUSIVE', true, 'too-little-data')]), 'warning', /could not be judged/],
    ['no data (the inconclusive limit)', decision([metric('memory', 'INCONCLUSIVE', false, 'no-data')]), 'warning', /could not be judged/],
    ['too noisy to tell', decision([metric('latency-p99', 'INCONCLUSIVE', false, 'too-much-variance')]), 'warning', /could not be judged/],
    ['a manual gate timed out', decision([], 'APPROVAL_TIMEOUT'), 'warning', /manual gate got no answer/],
    ['a beforeShift gate stayed shut without a FAIL', decision([metric('smoke', 'INCONCLUSIVE', false)], 'GATE'), 'warning', /beforeShift gate stayed shut/],
    ['a beforeShift gate check FAILED', decision([metric('smoke', 'FAIL', false)], 'GATE'), 'error', /smoke failed/],
    ['a failure of ours', decision([], 'ERROR'), 'error', /workflow failed/],
    ['the execution died (safety net)', decision([], 'SAFETY_NET'), 'error', /ended without finishing/],
    ['drift', decision([], 'DRIFT'), 'error', /changed outside the rollout/],
    ['a cause it cannot tell (never downgraded)', { ...decision([]), trigger: undefined }, 'error', /not classified/],
  ];
  it.each(cases)('%s', (_what, d, severity, reason) => {
    // Act
    const found = severityOf(d);
    // Assess
    expect(found.severity).toBe(severity);
    expect(found.reason).toMatch(reason);
    expect(buildIncident({ rolloutId: 'r1', service: 'api', target: 'Z/api/A', decision: d }).severity).toBe(severity);
  });
});
