/**
 * The soak check's Lambda entry as the schedule invokes it (middy, Powertools), on in-memory
 * ports: a bad soak config is refused naming the field, with no side effects; a good one runs.
 * And the recovery step's entry, on the same ports.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryIncidents, MemoryLog, MemoryRollouts, MemorySoakStore, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { ScriptedMetrics } from '../helpers/fake-metrics.ts';

const context = {
  functionName: 'canary-SoakCheckFunction', functionVersion: '$LATEST', awsRequestId: 'req-1', memoryLimitInMB: '512',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:canary-SoakCheckFunction', logGroupName: '/aws/lambda/x', logStreamName: 's',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const soakConfig = {
  name: 'checkout-live',
  metrics: [{
    name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true, threshold: { max: 1 },
    query: {
      numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { LoadBalancer: 'app/alb/1' }, stat: 'Sum' },
      denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { LoadBalancer: 'app/alb/1' }, stat: 'Sum' },
    },
  }],
};

let env: NodeJS.ProcessEnv;
beforeAll(() => {
  env = { ...process.env };
  Object.assign(process.env, { TABLE_NAME: 'canary-rollouts', TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:canary-incidents', ALLOWED_HOSTED_ZONE_IDS: 'Z0123456789ABCDEFGHIJ' });
});
afterAll(() => {
  process.env = env;
  resetAwsDeps();
});

function memoryPorts() {
  const clock = new SimClock(new Date('2026-03-09T12:00:00.000Z'));
  const ports = {
    clock, metrics: new ScriptedMetrics((_m, _v, role) => (role === 'denominator' ? 1000 : 50)),
    incidents: new MemoryIncidents(), soaks: new MemorySoakStore(), log: new MemoryLog(), rollouts: new MemoryRollouts(),
    traffic: new MemoryTraffic({ clock, rng: mulberry32(3) }), judge: defaultJudge,
  };
  resetAwsDeps();
  overrideAwsDeps(ports);
  return ports;
}

describe('soak-check handler', () => {
  beforeEach(() => {
    delete process.env.SOAK_POST_PROMOTION_ROLLBACK;
  });

  it('refuses a bad soak config naming the field, and touches nothing', async () => {
    // Prepare
    const ports = memoryPorts();
    const { handler } = await import('../../functions/soak-check.ts');
    const bad = { ...soakConfig, windowSeconds: 'long' };

    // Act
    const result = await handler(bad, context);
    const empty = await handler({}, context);

    // Assess
    expect(result).toEqual({ status: 'CONFIG_ERROR', issues: [expect.stringMatching(/^windowSeconds: /)] });
    expect(empty).toMatchObject({ status: 'CONFIG_ERROR', issues: expect.arrayContaining([expect.stringMatching(/^name: /)]) });
    expect(ports.metrics.fetches).toEqual([]);
    expect(ports.incidents.opened).toEqual([]);
    expect(await ports.soaks.get('checkout-live')).toBeNull();
    expect(ports.log.entries.map((e) => `${e.level}: ${e.message}`)).toEqual([
      expect.stringMatching(/^error: soak config error, nothing checked: windowSeconds: /),
      expect.stringMatching(/^error: soak config error, nothing checked: name: /),
    ]);
  });

  it('refuses a post-promotion rollback the stack does not allow', async () => {
    // Prepare
    const ports = memoryPorts();
    const { handler } = await import('../../functions/soak-check.ts');
    const target = { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'api.example.com', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green' };

    // Act
    const result = await handler({ ...soakConfig, postPromotionRollback: { enabled: true, target } }, context);

    // Assess
    expect(result).toEqual({ status: 'CONFIG_ERROR', issues: [expect.stringMatching(/^postPromotionRollback\.enabled: this stack does not let soak checks move traffic/)] });
    expect(ports.metrics.fetches).toEqual([]);
  });

  it('runs a valid soak config: a breach opens the incident', async () => {
    // Prepare
    const ports = memoryPorts();
    const { handler } = await import('../../functions/soak-check.ts');

    // Act
    const result = await handler(soakConfig, context);

    // Assess
    expect(result).toMatchObject({ status: 'CHECKED', name: 'checkout-live', verdict: 'FAIL', action: 'OPENED' });
    expect(ports.incidents.opened).toHaveLength(1);
    expect((await ports.soaks.get('checkout-live'))?.openIncident?.dedupKey).toBe('canary-soak-checkout-live-2026-03-09T12:00:00.000Z');
  });
});

describe('verify-recovery handler', () => {
  it('is the verifyRecovery step behind stepHandler', async () => {
    // Prepare
    const ports = memoryPorts();
    const { handler } = await import('../../functions/verify-recovery.ts');
    const state = {
      rolloutId: 'r-1', token: 'r-1@', routerDefinition: { kind: 'route53', records: [] }, stageIndex: 0, weight: 0, phase: 'FORWARD', next: 'CONCLUDE', outcome: 'PROMOTED',
      counters: { passed: 1, failed: 0, inconclusive: 0 }, wait: { until: '2026-03-09T12:00:00.000Z' }, settleSeconds: 60,
      config: { recovery: { watchSeconds: 900, checkIntervalSeconds: 60 }, metrics: [] },
      segment: { no: 1, iterations: 7, handOver: false }, segmentPrefix: 'r-1',
    };

    // Act
    const result = await handler(state as never, context);

    // Assess
    expect(result).toMatchObject({ next: 'DONE', recovery: { outcome: 'NOT_WATCHED', detail: 'the rollout was not rolled back' } });
    expect(result).toMatchObject({ segment: { no: 1, iterations: 8 } }); // a counted step of the segment
    expect(ports.metrics.fetches).toEqual([]);
  });
});
