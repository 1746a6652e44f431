import { describe, expect, it } from 'vitest';
import { buildIncident } from '../../functions/core/incident.ts';
import type { MetricVerdict, Verdict } from '../../functions/core/judge.ts';
import type { Decision } from '../../functions/core/rollout-record.ts';

const metric = (name: string, verdict: Verdict, critical: boolean): MetricVerdict => ({
  name, verdict, critical, reason: `${name}: ${verdict}`, test: 't', canaryValue: null, baselineValue: null, threshold: { max: 1 }, sample: { canary: 0, baseline: 0 },
});
const decision = (failing: MetricVerdict[]): Decision => ({
  outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: '2026-01-01T00:10:00.000Z', stageIndex: 2, weight: 10, failing, reasons: failing.map((m) => m.reason),
});

describe('incident', () => {
  it('is critical when a critical metric failed', () => {
    const incident = buildIncident({ rolloutId: 'r1', service: 'api', target: 'Z/api/A', decision: decision([metric('error-rate', 'FAIL', true)]) });
    expect(incident.severity).toBe('critical');
    expect(incident.title).toBe('Canary rollback: api at stage 3 (10 % canary): error-rate: FAIL');
    expect(incident.dedupKey).toBe('canary-rollout-r1');
  });

  it('is not critical when a critical metric merely had no data', () => {
    const incident = buildIncident({ rolloutId: 'r1', service: 'api', target: 'Z/api/A', decision: decision([metric('error-rate', 'INCONCLUSIVE', true)]) });
    expect(incident.severity).toBe('error');
  });
});
