/**
 * Short rollout configs for the integration tier: three stages, two-minute bakes, one-minute
 * periods. The `alb-ecs` preset fills in memory and error rate; its latency metric asks for p99,
 * which moto's GetMetricData cannot compute, so it is replaced (same name) by one on Maximum.
 */
import type { RolloutConfigInput } from '../../../functions/core/config.ts';
import { pairIds } from './aws.ts';
import type { ServiceNames } from './traffic-model.ts';

export function integrationConfig(args: {
  name: string; zoneId: string; recordName: string; names: ServiceNames;
}, overrides: Partial<RolloutConfigInput> = {}): RolloutConfigInput {
  const { names } = args;
  const alb = (tg: string) => ({ LoadBalancer: names.loadBalancer, TargetGroup: tg });
  return {
    name: args.name,
    target: {
      hostedZoneId: args.zoneId,
      recordName: args.recordName,
      recordType: 'A',
      baselineSetIdentifier: pairIds(args.recordName).baseline,
      canarySetIdentifier: pairIds(args.recordName).canary,
    },
    stages: [10, 50, 100],
    bakeSeconds: 120,
    analysisPeriodSeconds: 60,
    checkIntervalSeconds: 60,
    preset: { type: 'alb-ecs', ...names },
    metrics: [{
      name: 'latency-p99',
      kind: 'gauge',
      unit: 'seconds',
      threshold: { max: 1 },
      baseline: { maxIncreasePercent: 20 },
      queries: {
        canary: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: alb(names.canaryTargetGroup), stat: 'Maximum' } },
        baseline: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: alb(names.baselineTargetGroup), stat: 'Maximum' } },
      },
    }],
    ...overrides,
  };
}
