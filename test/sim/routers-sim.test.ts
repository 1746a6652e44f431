/**
 * The simulator on every router and with the scenarios of proof-that-traffic-moved and
 * verification: the example rollouts on an ALB, a Lambda alias and an AppConfig flag, a starved
 * canary, a throughput drop, a data mismatch, an alarm; and the service model following each
 * router's effective share (Route 53's lagging its weight).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseRolloutConfig, route53TargetOf } from '../../functions/core/config.ts';
import type { RolloutEvent } from '../../functions/core/rollout-record.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryTraffic } from '../../sim/memory-adapters.ts';
import { healthy, profile } from '../../sim/profiles.ts';
import { rngFor } from '../../sim/prng.ts';
import { ServiceModel } from '../../sim/service-model.ts';
import { simulate, type SimulationResult } from '../../sim/simulate.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

const example = (name: string) => parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), 'utf8'));
const defaultConfig = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8'));

const counted = (r: SimulationResult) => (r.record?.events ?? [])
  .filter((e): e is Extract<RolloutEvent, { type: 'CHECK' }> => e.type === 'CHECK' && !e.duringBake);

function expectCleanEnd(r: SimulationResult, outcome: 'PROMOTED' | 'ROLLED_BACK'): void {
  expect(r.outcome).toBe(outcome);
  expect(r.lockHolder).toBeNull();
  expect(r.finalWeights).toEqual(outcome === 'PROMOTED' ? { canary: 100, baseline: 0 } : { canary: 0, baseline: 100 });
  expect(r.incidents).toHaveLength(outcome === 'PROMOTED' ? 0 : 1);
}

describe('simulate: the example rollouts on each router', () => {
  it.each([
    ['rollout-alb.yaml', 'alb:arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/checkout-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee'],
    ['rollout-lambda-alias.yaml', 'lambda:orders-api:live'],
    ['rollout-appconfig.yaml', 'appconfig:abc1234/54j1r29'],
  ])('%s: healthy is promoted, every stage proven to have moved traffic', async (file, key) => {
    // Act
    const r = await simulate({ config: example(file), scenario: 'healthy', seed: 1 });

    // Assess
    expectCleanEnd(r, 'PROMOTED');
    expect(r.record?.targetKey).toBe(key);
    expect(r.weightChanges.map((c) => c.weights.canary)).toEqual([1, 5, 10, 25, 100]);
    expect(counted(r).map((c) => [c.weight, c.verdict, c.metrics.find((m) => m.name === 'traffic-share')?.verdict])).toEqual([
      [1, 'PASS', 'PASS'], [5, 'PASS', 'PASS'], [10, 'PASS', 'PASS'], [25, 'PASS', 'PASS'],
    ]);
  });

  it.each(['rollout-alb.yaml', 'rollout-lambda-alias.yaml', 'rollout-appconfig.yaml'])('%s: error-spike is rolled back at 10 %, naming error-rate', async (file) => {
    // Act
    const r = await simulate({ config: example(file), scenario: 'error-spike', seed: 1 });

    // Assess
    expectCleanEnd(r, 'ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 2, weight: 10 });
    expect(r.decision!.failing.filter((m) => m.verdict === 'FAIL').map((m) => m.name)).toEqual(['error-rate']);
    expect(r.weightChanges.map((c) => c.weights.canary)).toEqual([1, 5, 10, 0]);
  });

  it('an ALB forwarding to Lambda target groups (the alb-lambda preset) is simulated too', async () => {
    // Prepare
    const alb = example('rollout-alb.yaml');
    const config = {
      ...alb,
      preset: {
        type: 'alb-lambda', loadBalancer: 'app/checkout-alb/50dc6c495c0c9188',
        baselineTargetGroup: 'targetgroup/checkout-blue/6d0ecf831eec9f09', canaryTargetGroup: 'targetgroup/checkout-green/5e1c0a3b7d2f4a61',
        baselineFunction: { functionName: 'checkout', qualifier: 'blue' }, canaryFunction: { functionName: 'checkout', qualifier: 'green' },
      },
    };

    // Act
    const healthyRun = await simulate({ config, scenario: 'healthy', seed: 2 });
    const spike = await simulate({ config, scenario: 'error-spike', seed: 2 });

    // Assess
    expectCleanEnd(healthyRun, 'PROMOTED');
    expectCleanEnd(spike, 'ROLLED_BACK');
    expect(spike.decision!.failing.filter((m) => m.verdict === 'FAIL').map((m) => m.name)).toEqual(expect.arrayContaining(['http-5xx-rate']));
  });

  it('refuses a chaos scenario (it acts on Route 53 records) with another router, saying so', async () => {
    await expect(simulate({ config: example('rollout-alb.yaml'), scenario: 'manual-rollback' })).rejects.toThrow("scenario 'manual-rollback' acts on Route 53 records: run it with a Route 53 target (this config's is alb)");
  });
});

describe('simulate: proof that traffic moved', () => {
  it.each([1, 2])('canary-starved (seed %i): rolled back at the first stage saying traffic did not move, after waiting for it', async (seed) => {
    // Act
    const r = await simulate({ config: defaultConfig, scenario: 'canary-starved', seed });

    // Assess
    expectCleanEnd(r, 'ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 0, weight: 1, trigger: 'VERDICT' });
    expect(r.decision!.reasons[0]).toMatch(/^traffic did not move: the canary served 0\.\d+ % of requests at weight 1 %/);
    expect(r.decision!.reasons[1]).toMatch(/^traffic did not follow the weight for 1\d(\.\d)? min \(trafficChecks\.starvedWaitSeconds 600 s\)/);
    expect(r.decision!.failing.map((m) => [m.name, m.verdict])).toContainEqual(['traffic-share', 'FAIL']);
    // It waited: the first starved check and the rollback are at least starvedWaitSeconds apart, and nothing advanced meanwhile.
    const starved = counted(r).concat((r.record?.events ?? []).filter((e): e is Extract<RolloutEvent, { type: 'CHECK' }> => e.type === 'CHECK' && Boolean(e.duringBake)))
      .filter((c) => c.metrics.some((m) => m.name === 'traffic-share' && m.verdict === 'FAIL'))
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    expect(Date.parse(r.decision!.at) - Date.parse(starved[0]!.at)).toBeGreaterThanOrEqual(600_000);
    expect(r.weightChanges.map((c) => c.weights.canary)).toEqual([1, 0]);
  });

  it('throughput-drop: rolled back at the 10 % stage naming the throughput check; error rate and latency passed', async () => {
    // Act
    const r = await simulate({ config: defaultConfig, scenario: 'throughput-drop', seed: 1 });

    // Assess
    expectCleanEnd(r, 'ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 2, weight: 10 });
    const failing = r.decision!.failing.filter((m) => m.verdict === 'FAIL').map((m) => m.name);
    expect(failing).toContain('throughput-vs-stage-start');
    expect(failing).not.toContain('error-rate');
    expect(r.decision!.reasons[0]).toMatch(/^throughput dropped: [\d.]+\/s successful requests against [\d.]+\/s at the stage's start \(-\d+(\.\d)? %, more than the 20 % allowed\)$/);
  });

  it('the traffic checks can be turned off: then a starved canary is judged on its metrics alone (and promoted here)', async () => {
    // Act
    const r = await simulate({ config: { ...defaultConfig, trafficChecks: { enabled: false } }, scenario: 'canary-starved', seed: 1 });

    // Assess
    expect(r.outcome).toBe('PROMOTED');
    expect(counted(r).every((c) => !c.metrics.some((m) => m.name === 'traffic-share'))).toBe(true);
  });
});

describe('simulate: verification checks', () => {
  it('data-mismatch: rolled back at the 10 % stage, the decision naming the check and its reason', async () => {
    // Act
    const r = await simulate({ config: defaultConfig, scenario: 'data-mismatch', seed: 1 });

    // Assess
    expectCleanEnd(r, 'ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 2, weight: 10 });
    expect(r.decision!.reasons).toEqual(["critical metric failed: check 'reconcile-orders' (lambda orders-reconcile): FAIL: 37 of 120000 records differ between the legacy and the new store (checksum mismatch)"]);
    expect(r.incidents[0]!.severity).toBe('critical');
    // Stages before 10 % passed the same check.
    expect(counted(r).filter((c) => c.weight < 10).every((c) => c.metrics.find((m) => m.name === 'reconcile-orders')?.verdict === 'PASS')).toBe(true);
  });

  it('alarm: a CloudWatch alarm going to ALARM mid-stage rolls back at the 10 % stage, naming it', async () => {
    // Act
    const r = await simulate({ config: defaultConfig, scenario: 'alarm', seed: 1 });

    // Assess
    expectCleanEnd(r, 'ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 2, weight: 10 });
    expect(r.decision!.reasons[0]).toMatch(/^check 'service-alarms' \(alarm orders-health\): FAIL: in ALARM: orders-health \(Threshold Crossed/);
    // Mid-stage: at least two minutes after the 10 % stage's change was in sync.
    const inSync = r.record!.events.find((e) => e.type === 'IN_SYNC' && e.canary === 10)!;
    expect(Date.parse(r.decision!.at) - Date.parse(inSync.at)).toBeGreaterThan(120_000);
  });

  it('the scenario\'s check joins the config\'s own, and hooks the config names start on the rollback', async () => {
    // Prepare
    const config = {
      ...defaultConfig,
      verification: [{ name: 'cdc-lag', type: 'http', secretId: 'canary/cdc' }],
      hooks: { afterRollback: [{ name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump' }] },
    };

    // Act
    const r = await simulate({ config, scenario: 'data-mismatch', seed: 1 });

    // Assess
    expect(r.config.verification.map((c) => c.name)).toEqual(['cdc-lag', 'reconcile-orders']);
    expect(r.hooks.map((h) => [h.hook, h.moment, h.status])).toEqual([['heap-dump', 'afterRollback', 'STARTED']]);
    expect(r.incidents[0]!.summary).toContain("afterRollback hook 'heap-dump' (ssm-automation): STARTED, id sim-ssm-automation-1");
  });
});

describe('the service model follows the router\'s effective share', () => {
  it('behind Route 53, the canary\'s share lags its weight: most clients within one TTL, those behind stale resolvers later', async () => {
    // Prepare
    const clock = new SimClock(new Date('2026-01-01T00:00:00Z'));
    const traffic = new MemoryTraffic({ clock, rng: rngFor(1, 'route53'), syncDelaySeconds: [30, 30] });
    const target = route53TargetOf(parseRolloutConfig(albEcsConfig()));
    traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60 });
    traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60 });
    const model = new ServiceModel({ profile: profile(30000, healthy()), traffic, target, clock, seed: 1, startedAt: clock.now(), ttlSeconds: 60 });
    const definition = (await traffic.read(target)).definition;
    await traffic.shift(target, 10, { expectedPercent: 0, definition });
    const inSync = clock.now().getTime() + 30_000;

    // Act
    const share = (seconds: number) => model.canaryShareAt(inSync + seconds * 1000);

    // Assess: 95 % of clients ramp over the TTL; the 5 % behind stale resolvers follow over minutes.
    expect(share(0)).toBe(0);
    expect(share(60)).toBeCloseTo(0.095, 5);
    expect(share(60 + 120)).toBeCloseTo(0.095 + 0.005 * (1 - Math.exp(-1)), 5);
    expect(share(60 + 1200)).toBeCloseTo(0.1, 4);
  });

  it('behind another router, the share is what that router serves, and a starved canary gets only its reach', () => {
    // Prepare
    const clock = new SimClock(new Date('2026-01-01T00:00:00Z'));
    const served = { canaryShareAt: (t: number) => (t >= Date.parse('2026-01-01T00:01:00Z') ? 0.2 : 0), weightAt: () => 20 };
    const start = clock.now();
    const full = new ServiceModel({ profile: profile(30000, healthy()), clock, seed: 1, startedAt: start, ttlSeconds: 60, share: served });
    const starved = new ServiceModel({ profile: profile(30000, healthy(), { canaryReach: 0.1 }), clock, seed: 1, startedAt: start, ttlSeconds: 60, share: served });
    clock.advance(600);

    // Act
    const canary = (m: ServiceModel) => m.sample('canary', Date.parse('2026-01-01T00:05:00Z'), 60)!.requests;

    // Assess: about 20 % of 30,000 requests a minute, and a tenth of that when starved.
    expect(canary(full)).toBeGreaterThan(5600);
    expect(canary(full)).toBeLessThan(6400);
    expect(canary(starved)).toBeGreaterThan(500);
    expect(canary(starved)).toBeLessThan(700);
  });
});
