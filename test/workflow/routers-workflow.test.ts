/**
 * The real ASL and the real handlers on each router beside Route 53: a promotion and a rollback
 * on an ALB rule, a Lambda alias and an AppConfig flag. The routers are the in-memory ones
 * (sim/memory-routers.ts: the adapters' own state rules, through core/router-state.ts) behind the
 * same single dispatch the Lambdas use; the metrics follow the share each router really serves.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { targetKey, type RolloutConfigInput, type RolloutTarget } from '../../functions/core/config.ts';
import { readAlbActions } from '../../functions/core/router-state.ts';
import { AlbTargetSchema, AppConfigFlagTargetSchema, LambdaAliasTargetSchema } from '../../functions/core/targets.ts';
import { routeTraffic } from '../../functions/core/traffic-router.ts';
import { MemoryAlbRouter, MemoryAppConfigRouter, MemoryLambdaAliasRouter } from '../../sim/memory-routers.ts';
import { rngFor } from '../../sim/prng.ts';
import { RecordingRouter } from '../../sim/sim-routers.ts';
import { handlerEnv, handlerWorld, runHandlers, serviceMetrics, type ErrorModel, type HandlerWorld } from '../helpers/handler-workflow.ts';

const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2';
const alb = AlbTargetSchema.parse({
  type: 'alb', listenerArn: LISTENER, ruleArn: `${LISTENER.replace(':listener/', ':listener-rule/')}/9683b2d02a6cabee`,
  baselineTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067',
  canaryTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/09f1f3fd0b7a5c10',
  stickinessSeconds: 60,
});
const alias = LambdaAliasTargetSchema.parse({ type: 'lambda-alias', functionName: 'orders-api', alias: 'live', baselineVersion: '41', canaryVersion: '42' });
const flag = AppConfigFlagTargetSchema.parse({ type: 'appconfig-flag', applicationId: 'abc1234', environmentId: '54j1r29', configurationProfileId: 'ur8hx2f', flag: 'new-checkout' });

const PRESETS = {
  alb: {
    type: 'alb-ecs', loadBalancer: 'app/shop/50dc6c495c0c9188', baselineTargetGroup: 'targetgroup/shop-blue/73e2d6bc24d8a067',
    canaryTargetGroup: 'targetgroup/shop-green/09f1f3fd0b7a5c10', cluster: 'prod', baselineService: 'shop-blue', canaryService: 'shop-green',
  },
  'lambda-alias': { type: 'lambda-alias', functionName: 'orders-api', alias: 'live', baselineVersion: '41', canaryVersion: '42' },
  'appconfig-flag': { type: 'appconfig-flag', namespace: 'Shop', dimensions: { Service: 'checkout' } },
} as const;

/** A canary whose connection pool is sized for a small share: 3 % errors from about 20 % of the traffic. */
const breaksAt20: ErrorModel = (variant, canaryShare) => (variant === 'canary' && canaryShare >= 0.18 ? 0.03 : 0.001);

interface Setup {
  world: HandlerWorld;
  routers: { alb: MemoryAlbRouter; lambda: MemoryLambdaAliasRouter; appconfig: MemoryAppConfigRouter };
  recording: RecordingRouter;
  config: RolloutConfigInput;
}

function setUp(target: RolloutTarget & { type: 'alb' | 'lambda-alias' | 'appconfig-flag' }, errors?: ErrorModel): Setup {
  const start = new Date('2026-03-02T10:00:00Z');
  const clock = { now: () => world.clock.now() };
  const routers = {
    alb: new MemoryAlbRouter({ clock, rng: rngFor(1, 'alb') }),
    lambda: new MemoryLambdaAliasRouter({ clock, rng: rngFor(1, 'lambda') }),
    appconfig: new MemoryAppConfigRouter({ clock, rng: rngFor(1, 'appconfig') }),
  };
  const recording = new RecordingRouter(routeTraffic({ alb: () => routers.alb, 'lambda-alias': () => routers.lambda, 'appconfig-flag': () => routers.appconfig }), clock);
  const shareAt = (at: Date) => {
    switch (target.type) {
      case 'alb': return routers.alb.canaryShareAt(target, at) / 100;
      case 'lambda-alias': return routers.lambda.canaryShareAt(target, at) / 100;
      case 'appconfig-flag': return routers.appconfig.canaryShareAt(target, at) / 100;
    }
  };
  // The metrics port needs the world's clock, which handlerWorld creates: wire it after.
  const lazyMetrics = { fetchWindow: (m: never, r: never) => metrics.fetchWindow(m, r) };
  const world = handlerWorld({
    traffic: routeTraffic({ alb: () => recording, 'lambda-alias': () => recording, 'appconfig-flag': () => recording }),
    metrics: lazyMetrics,
  }, start);
  const metrics = serviceMetrics(world.clock, shareAt, errors);
  // Each target as a rollout finds it: 100 % baseline.
  if (target.type === 'alb') routers.alb.putForward(target);
  if (target.type === 'lambda-alias') routers.lambda.putFunction(target, ['41', '42'], '41');
  if (target.type === 'appconfig-flag') routers.appconfig.putFlag(target, 0, { 'dark-mode': true });
  const config = { name: 'shop', target, preset: PRESETS[target.type], stages: [5, 25, 100] } as unknown as RolloutConfigInput;
  return { world, routers, recording, config };
}

describe('rollout workflow on each router (real ASL, real handlers)', () => {
  beforeEach(() => {
    handlerEnv();
    // The stack's parameters naming what its routers may change (template.yaml's Globals).
    process.env.ALLOWED_LISTENER_ARNS = LISTENER;
    process.env.ALLOWED_LAMBDA_FUNCTION_ARNS = 'arn:aws:lambda:us-east-1:123456789012:function:orders-api';
    process.env.ALLOWED_LAMBDA_ALIASES = 'live';
    process.env.ALLOWED_APPCONFIG_APPLICATION_ARNS = 'arn:aws:appconfig:us-east-1:123456789012:application/abc1234';
    resetAwsDeps();
  });
  afterEach(() => {
    for (const name of ['ALLOWED_LISTENER_ARNS', 'ALLOWED_LAMBDA_FUNCTION_ARNS', 'ALLOWED_LAMBDA_ALIASES', 'ALLOWED_APPCONFIG_APPLICATION_ARNS']) delete process.env[name];
    resetAwsDeps();
  });

  it('refuses a target outside the stack\'s allowances before the lock is taken, naming the parameter; nothing moves', async () => {
    // Prepare
    const s = setUp(alb);
    process.env.ALLOWED_LISTENER_ARNS = '';

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'ConfigValidationError' });
    expect(run.cause).toContain('target.listenerArn');
    expect(run.cause).toContain('AllowedListenerArns');
    expect(s.routers.alb.writes()).toEqual([]);
    expect(await s.world.rollouts.list(10)).toEqual([]);
  });

  it('ALB: promotes through 5 → 25 → 100 with one ModifyRule per stage, then the rule forwards to the canary alone', async () => {
    // Prepare
    const s = setUp(alb);

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(s.routers.alb.writes().map((w) => readAlbActions(w.actions, alb).weights)).toEqual([
      { canary: 5, baseline: 95 }, { canary: 25, baseline: 75 }, { canary: 100, baseline: 0 },
    ]);
    // Stickiness as the target asks, on every shift.
    expect(s.routers.alb.writes().every((w) => w.actions[0]!.ForwardConfig?.TargetGroupStickinessConfig?.DurationSeconds === 60)).toBe(true);
    const record = await s.world.rollouts.history('rollout-1');
    expect(record).toMatchObject({ status: 'PROMOTED', targetKey: `alb:${alb.ruleArn}` });
    // Proof that traffic moved: every counted check saw the canary serve its weight.
    const counted = record!.events.filter((e) => e.type === 'CHECK' && !e.duringBake);
    expect(counted.map((e) => e.type === 'CHECK' && e.metrics.find((m) => m.name === 'traffic-share')?.verdict)).toEqual(['PASS', 'PASS']);
    expect(await s.world.rollouts.lockHolder(targetKey(alb))).toBeNull();
    expect(s.world.incidents.opened).toHaveLength(0);
  });

  it('ALB: rolls back at 25 % in one ModifyRule back to the preflight weights, stickiness off, one incident', async () => {
    // Prepare
    const s = setUp(alb, breaksAt20);

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
    expect(run.cause).toContain('error-rate');
    const writes = s.routers.alb.writes();
    expect(writes.map((w) => readAlbActions(w.actions, alb).weights?.canary)).toEqual([5, 25, 0]);
    expect(readAlbActions(writes.at(-1)!.actions, alb).weights).toEqual({ canary: 0, baseline: 1 }); // as preflight read it
    expect(writes.at(-1)!.actions[0]!.ForwardConfig?.TargetGroupStickinessConfig).toEqual({ Enabled: false });
    expect(await s.world.rollouts.get('rollout-1')).toMatchObject({ status: 'ROLLED_BACK', decision: { stageIndex: 1, weight: 25 } });
    expect(s.world.incidents.opened).toHaveLength(1);
    expect(s.world.incidents.opened[0]!.incident.target).toBe(`alb:${alb.ruleArn}`);
  });

  it('Lambda alias: promotes by weighting the canary version, then points the alias at it', async () => {
    // Prepare
    const s = setUp(alias);

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(s.recording.changes(alias).map((c) => [c.id, c.weights.canary])).toEqual([
      ['lambda:41+42@0.05', 5], ['lambda:41+42@0.25', 25], ['lambda:42', 100],
    ]);
    expect(s.routers.lambda.alias(alias)).toMatchObject({ FunctionVersion: '42', RoutingConfig: { AdditionalVersionWeights: {} } });
    expect(await s.world.rollouts.get('rollout-1')).toMatchObject({ status: 'PROMOTED', targetKey: 'lambda:orders-api:live' });
  });

  it('Lambda alias: rolls back by pointing the alias at the baseline version with no extra weight', async () => {
    // Prepare
    const s = setUp(alias, breaksAt20);

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
    expect(s.recording.changes(alias).map((c) => c.weights.canary)).toEqual([5, 25, 0]);
    expect(s.routers.lambda.alias(alias)).toMatchObject({ FunctionVersion: '41', RoutingConfig: { AdditionalVersionWeights: {} } });
    expect(s.world.incidents.opened).toHaveLength(1);
  });

  it('AppConfig flag: each stage is a deployment that must be COMPLETE before the stage is judged; promoted at 100 %', async () => {
    // Prepare
    const s = setUp(flag);

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    const record = await s.world.rollouts.history('rollout-1');
    const changes = s.recording.changes(flag);
    expect(changes.map((c) => c.weights.canary)).toEqual([5, 25, 100]);
    // The predefined AllAtOnce strategy bakes 10 minutes: in sync once COMPLETE, and the analysis waits for it.
    for (const c of changes) {
      const inSync = record!.events.find((e) => e.type === 'IN_SYNC' && e.changeId === c.id)!;
      expect(Date.parse(inSync.at) - c.submittedAt.getTime()).toBeGreaterThanOrEqual(600_000);
    }
    expect(s.routers.appconfig.canaryShareAt(flag)).toBe(100);
    expect(record).toMatchObject({ status: 'PROMOTED', targetKey: 'appconfig:abc1234/54j1r29' });
  });

  it('AppConfig flag: the kill switch deploys the flag at 0 %, disabled, and waits for that deployment to complete', async () => {
    // Prepare
    const s = setUp(flag, breaksAt20);

    // Act
    const run = await runHandlers(s.world, s.config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
    expect(s.recording.changes(flag).map((c) => c.weights.canary)).toEqual([5, 25, 0]);
    const reading = await s.routers.appconfig.read(flag);
    expect(reading.canaryPercent).toBe(0);
    const deployed = s.routers.appconfig.canaryShareAt(flag, new Date(s.world.clock.now().getTime() + 3_600_000));
    expect(deployed).toBe(0);
    // The rollback's deployment is in sync (COMPLETE) before the rollout concludes.
    const record = await s.world.rollouts.history('rollout-1');
    const rollbackChange = s.recording.changes(flag).at(-1)!;
    expect(record!.events.some((e) => e.type === 'IN_SYNC' && e.changeId === rollbackChange.id && e.canary === 0)).toBe(true);
    expect(record!.status).toBe('ROLLED_BACK');
  });
});
