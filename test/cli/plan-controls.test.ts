/**
 * `canary validate` says what the operator-control fields do to the plan: onFailure: halt, the
 * hotfix path (checkBaselineHealth: compare), dry-run metrics and checks (never "critical").
 */
import { describe, expect, it } from 'vitest';
import { makeStyle } from '../../cli/io.ts';
import { formatPlan } from '../../cli/plan.ts';
import { parseRolloutConfig } from '../../functions/core/config.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

const memoryStrict = {
  name: 'memory-strict', kind: 'gauge' as const, unit: 'percent' as const, threshold: { max: 10 }, critical: true, dryRun: true,
  queries: {
    canary: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ServiceName: 'checkout-green' }, stat: 'Maximum' } },
    baseline: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ServiceName: 'checkout-blue' }, stat: 'Maximum' } },
  },
};

const planOf = (overrides: Parameters<typeof albEcsConfig>[0]) => formatPlan(parseRolloutConfig(albEcsConfig(overrides)), 'rollout.yaml', makeStyle(false)).join('\n').replace(/\s+/g, ' ');

describe('the plan of the operator controls', () => {
  it('onFailure: halt, checkBaselineHealth: compare and dry runs are each said', () => {
    // Act
    const plan = planOf({
      onFailure: 'halt', checkBaselineHealth: 'compare', metrics: [memoryStrict],
      verification: [{ name: 'reconcile-orders', type: 'lambda', function: 'orders-reconcile', critical: true, dryRun: true }],
      hooks: {
        preRollout: [{ name: 'cdc-running', type: 'alarm', alarms: ['orders-cdc-replication-lag'], dryRun: true }],
        beforeShift: [{ name: 'change-freeze', type: 'alarm', alarms: ['change-freeze'], dryRun: true }],
      },
    });
    // Assess
    expect(plan).toContain('onFailure: halt: instead of rolling back for a failed check, a shut gate or an unanswered manual gate, the weights are frozen, the incident opened, and the rollout waits up to 30 d for canary abort, promote --full or resume (then rolls back); an abort, drift or an error still rolls back');
    expect(plan).toContain('a metric it already breaks does not refuse the start (checkBaselineHealth: compare, the hotfix path) but is judged against the baseline only until the baseline is healthy again');
    expect(plan).toContain('memory-strict: gauge, percent, dry run (judged, recorded and charted, never acts): at most 10.00 %');
    expect(plan).toMatch(/reconcile-orders: [^;]*, dry run \(asked and recorded, never acts\); timeout/);
    expect(plan).not.toMatch(/reconcile-orders: [^;]*critical/);
    expect(plan).toMatch(/preRollout gate cdc-running: .*: dry run: asked and recorded before anything moves, never keeps the rollout from starting/);
    expect(plan).toMatch(/beforeShift gate change-freeze: .* before every stage: dry run: asked and recorded, never shuts/);
  });

  it('the defaults say nothing of them', () => {
    const plan = planOf({});
    expect(plan).not.toContain('onFailure');
    expect(plan).not.toContain('dry run');
    expect(plan).toContain('before any traffic moves: the baseline is checked against the thresholds;');
  });
});
