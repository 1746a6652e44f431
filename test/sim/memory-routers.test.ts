import { describe, expect, it } from 'vitest';
import { TrafficStateError, TransientAwsError } from '../../functions/core/errors.ts';
import { AlbTargetSchema, AppConfigFlagTargetSchema, LambdaAliasTargetSchema } from '../../functions/core/targets.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryAlbRouter, MemoryAppConfigRouter, MemoryLambdaAliasRouter } from '../../sim/memory-routers.ts';
import { rngFor } from '../../sim/prng.ts';

const alb = AlbTargetSchema.parse({
  type: 'alb',
  listenerArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2',
  ruleArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee',
  baselineTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/73e2d6bc24d8a067',
  canaryTargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/09f1f3fd0b7a5c10',
});
const alias = LambdaAliasTargetSchema.parse({ type: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7' });
const flag = AppConfigFlagTargetSchema.parse({ type: 'appconfig-flag', applicationId: 'app1234', environmentId: 'env5678', configurationProfileId: 'prof901', flag: 'new_checkout' });

describe('MemoryAlbRouter', () => {
  it('moves the split in one write, in sync at once, reaching requests within seconds', async () => {
    // Prepare
    const clock = new SimClock();
    const router = new MemoryAlbRouter({ clock, rng: rngFor(1, 'alb') });
    router.putForward(alb);
    const preflight = await router.read(alb);

    // Act
    const { changeId } = await router.shift(alb, 5, { expectedPercent: 0, definition: preflight.definition });
    const inSync = await router.isInSync(alb, changeId);
    const shareAtOnce = router.canaryShareAt(alb);
    clock.advance(5);
    const shareLater = router.canaryShareAt(alb);

    // Assess
    expect(preflight).toMatchObject({ canaryPercent: 0, problems: [] });
    expect(inSync).toBe(true);
    expect([shareAtOnce, shareLater]).toEqual([0, 5]);
    expect(router.writes()).toHaveLength(1);
    expect(router.actions(alb)![0]!.ForwardConfig!.TargetGroups!.map((t) => t.Weight)).toEqual([95, 5]);
  });

  it('refuses a shift from a share the rule is not at (compare-and-set), writing nothing', async () => {
    // Prepare
    const router = new MemoryAlbRouter({ clock: new SimClock(), rng: rngFor(1, 'alb') });
    router.putForward(alb, { canary: 50, baseline: 50 });

    // Act
    const result = router.shift(alb, 10, { expectedPercent: 5, definition: {} });

    // Assess
    await expect(result).rejects.toThrow(TrafficStateError);
    expect(router.writes()).toHaveLength(0);
  });

  it('restores to the baseline alone when the canary target group was deleted', async () => {
    // Prepare
    const router = new MemoryAlbRouter({ clock: new SimClock(), rng: rngFor(1, 'alb') });
    router.putForward(alb);
    const preflight = await router.read(alb);
    await router.shift(alb, 25, { expectedPercent: 0, definition: preflight.definition });
    router.deleteTargetGroup(alb.canaryTargetGroupArn);

    // Act
    const { changeId } = await router.restore(alb, preflight.definition);

    // Assess
    expect(changeId).toBe('alb:canary=0,baseline=1');
    expect(router.actions(alb)![0]!.ForwardConfig!.TargetGroups).toEqual([{ TargetGroupArn: alb.baselineTargetGroupArn, Weight: 1 }]);
    expect(await router.isInSync(alb, changeId)).toBe(true);
  });
});

describe('MemoryLambdaAliasRouter', () => {
  it('weights the canary, moves the alias at 100, bumps the revision on every update', async () => {
    // Prepare
    const router = new MemoryLambdaAliasRouter({ clock: new SimClock(), rng: rngFor(1, 'lambda') });
    router.putFunction(alias, ['6', '7'], '6');
    const preflight = await router.read(alias);
    const before = router.alias(alias)!.RevisionId;

    // Act
    await router.shift(alias, 10, { expectedPercent: 0, definition: preflight.definition });
    const atTen = router.alias(alias)!;
    await router.shift(alias, 100, { expectedPercent: 10, definition: preflight.definition });

    // Assess
    expect(preflight.definition).toMatchObject({ baselineVersion: '6' });
    expect(atTen).toMatchObject({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { 7: 0.1 } } });
    expect(atTen.RevisionId).not.toBe(before);
    expect(router.alias(alias)).toMatchObject({ FunctionVersion: '7', RoutingConfig: { AdditionalVersionWeights: {} } });
  });

  it('re-creates a deleted alias at the baseline on restore', async () => {
    // Prepare
    const router = new MemoryLambdaAliasRouter({ clock: new SimClock(), rng: rngFor(1, 'lambda') });
    router.putFunction(alias, ['6', '7'], '6');
    const preflight = await router.read(alias);
    router.deleteAlias(alias);

    // Act
    await router.restore(alias, preflight.definition);

    // Assess
    expect(router.alias(alias)).toMatchObject({ FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: {} } });
  });

  it('refuses a shift when someone moved the alias', async () => {
    // Prepare
    const router = new MemoryLambdaAliasRouter({ clock: new SimClock(), rng: rngFor(1, 'lambda') });
    router.putFunction(alias, ['6', '7'], '6');
    const preflight = await router.read(alias);
    router.setAlias(alias, '6', { 7: 0.5 });

    // Act
    const result = router.shift(alias, 10, { expectedPercent: 5, definition: preflight.definition });

    // Assess
    await expect(result).rejects.toThrow('alias live of checkout gives the canary version 7 50 %, not the 5 % this rollout set');
  });
});

describe('MemoryAppConfigRouter', () => {
  it('deploys each stage: DEPLOYING, then BAKING for the strategy\'s bake, then COMPLETE; clients follow within a poll', async () => {
    // Prepare
    const clock = new SimClock();
    const router = new MemoryAppConfigRouter({ clock, rng: rngFor(1, 'appconfig') });
    router.putFlag(flag, 0, { dark_mode: true });
    const preflight = await router.read(flag);

    // Act
    const { changeId } = await router.shift(flag, 5, { expectedPercent: 0, definition: preflight.definition });
    const states = [router.deploymentState(flag, 2)];
    const syncedAtOnce = await router.isInSync(flag, changeId);
    clock.advance(31 + 45);
    states.push(router.deploymentState(flag, 2));
    const shareDeployed = router.canaryShareAt(flag);
    clock.advance(600);
    states.push(router.deploymentState(flag, 2));

    // Assess
    expect(preflight).toMatchObject({ canaryPercent: 0, problems: [], settleSeconds: 45 });
    expect(states).toEqual(['DEPLOYING', 'BAKING', 'COMPLETE']);
    expect(syncedAtOnce).toBe(false);
    expect(shareDeployed).toBe(5);
    expect(await router.isInSync(flag, changeId)).toBe(true);
    expect((await router.read(flag)).canaryPercent).toBe(5);
  });

  it('holds the environment: a deployment in progress refuses the next shift; a restore stops its own and deploys 0 %', async () => {
    // Prepare
    const clock = new SimClock();
    const router = new MemoryAppConfigRouter({ clock, rng: rngFor(2, 'appconfig') });
    router.putFlag(flag);
    const preflight = await router.read(flag);
    const first = await router.shift(flag, 5, { expectedPercent: 0, definition: preflight.definition });

    // Act
    const reading = await router.read(flag);
    const restored = await router.restore(flag, preflight.definition);

    // Assess
    expect(reading.problems[0]).toMatch(/^deployment 2 \(prof901 version 2\) is DEPLOYING on environment env5678/);
    expect(router.deploymentState(flag, 2)).toBe('ROLLED_BACK');
    await expect(router.isInSync(flag, first.changeId)).rejects.toThrow(/AppConfig rolled back deployment 2 .* stopped by the rollback/);
    clock.advance(3600);
    expect(await router.isInSync(flag, restored.changeId)).toBe(true);
    expect(router.canaryShareAt(flag)).toBe(0);
  });

  it('surfaces a rollback by AppConfig itself', async () => {
    // Prepare
    const clock = new SimClock();
    const router = new MemoryAppConfigRouter({ clock, rng: rngFor(3, 'appconfig') });
    router.putFlag(flag);
    const { changeId } = await router.shift(flag, 5, { expectedPercent: 0, definition: (await router.read(flag)).definition });
    clock.advance(60);
    router.rollBack(flag, 2);

    // Act
    const result = router.isInSync(flag, changeId);

    // Assess
    await expect(result).rejects.toThrow('AppConfig rolled back deployment 2 of flag new_checkout of configuration profile prof901 to environment env5678 (state ROLLED_BACK): CloudWatch alarm in ALARM state');
    expect(router.canaryShareAt(flag)).toBe(0);
  });

  it('re-creates a flag deleted from the deployed configuration on restore, other flags kept', async () => {
    // Prepare
    const clock = new SimClock();
    const router = new MemoryAppConfigRouter({ clock, rng: rngFor(4, 'appconfig') });
    router.putFlag(flag, 0, { dark_mode: true });
    const preflight = await router.read(flag);
    const without = router.createVersion(flag, JSON.stringify({ version: '1', flags: { dark_mode: { name: 'dark_mode' } }, values: { dark_mode: { enabled: true } } }));
    router.deploy(flag, without);
    clock.advance(3600);
    const broken = await router.read(flag);

    // Act
    const { changeId } = await router.restore(flag, preflight.definition);
    clock.advance(3600);

    // Assess
    expect(broken.problems[0]).toMatch(/flag new_checkout of configuration profile prof901 does not exist/);
    expect(await router.isInSync(flag, changeId)).toBe(true);
    expect(await router.read(flag)).toMatchObject({ canaryPercent: 0, problems: [] });
  });

  it("waits (a retried TransientAwsError) rather than stop another profile's deployment on the environment", async () => {
    // Prepare
    const clock = new SimClock();
    const router = new MemoryAppConfigRouter({ clock, rng: rngFor(5, 'appconfig') });
    const other = AppConfigFlagTargetSchema.parse({ ...flag, configurationProfileId: 'prof902', flag: 'dark_mode' });
    router.putFlag(flag);
    router.putFlag(other);
    const preflight = await router.read(flag);
    const theirs = router.deploy(other, router.createVersion(other, JSON.stringify({ flags: {}, values: {} })));

    // Act
    const result = router.restore(flag, preflight.definition);

    // Assess
    await expect(result).rejects.toBeInstanceOf(TransientAwsError);
    expect(router.deploymentState(other, theirs)).toBe('DEPLOYING');
  });
});
