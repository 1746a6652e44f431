/**
 * The real `statemachines/rollout.asl.json`, run by aws-local-stepfunctions, with every Task
 * bound to the real Lambda handler. Route 53, CloudWatch and SNS are the real adapters over
 * aws-sdk-client-mock clients backed by a small stateful fake; the lock and the rollout record
 * are the in-memory store (the DynamoDB adapter has its own tests, and runs against moto in
 * test/integration). Time is simulated: each Wait jumps the clock instead of sleeping.
 */
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import {
  ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, Route53Client,
  type ChangeResourceRecordSetsCommandInput, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { handler as analyze } from '../../functions/analyze.ts';
import { handler as checkApproval } from '../../functions/check-approval.ts';
import { handler as checkSync } from '../../functions/check-sync.ts';
import { handler as conclude } from '../../functions/conclude.ts';
import { handler as preflight } from '../../functions/preflight.ts';
import { handler as rollback } from '../../functions/rollback.ts';
import { handler as shiftTraffic } from '../../functions/shift-traffic.ts';
import { handler as verifyRecovery } from '../../functions/verify-recovery.ts';
import type { RolloutConfigInput } from '../../functions/core/config.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryLog, MemoryRollouts } from '../../sim/memory-adapters.ts';
import { runWorkflow, type TaskFunction } from '../../sim/workflow-runner.ts';
import { albEcsConfig, ZONE } from '../fixtures/configs.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:canary-incidents';
const r53 = mockClient(Route53Client);
const cw = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);

type Variant = 'baseline' | 'canary';
/** A metric value for a variant in one period, given the canary's current weight; null = no datapoint. */
type MetricModel = (variant: Variant, metricName: string, canaryWeight: number, periodIndex: number) => number | null;

const healthy: MetricModel = (variant, metricName, canaryWeight) => {
  const share = variant === 'canary' ? canaryWeight / 100 : 1 - canaryWeight / 100;
  switch (metricName) {
    case 'RequestCount': return Math.round(20_000 * share);
    case 'HTTPCode_Target_5XX_Count': {
      const errors = Math.round(20_000 * share * 0.001);
      return errors > 0 ? errors : null; // ALB publishes no 5xx datapoint when there were none
    }
    case 'MemoryUtilization': return 45;
    case 'TargetResponseTime': return 0.25;
    default: return null;
  }
};

interface World {
  weights: Record<string, number>;
  batches: ChangeResourceRecordSetsCommandInput[];
  clock: SimClock;
  rollouts: MemoryRollouts;
}

const LOCK_KEY = `${ZONE}/api.example.com/A`;

function setUp(model: MetricModel, opts: { throttleFirstChanges?: number } = {}): World {
  const world: World = {
    weights: { blue: 100, green: 0 }, batches: [], clock: new SimClock(new Date('2026-03-02T10:00:00Z')),
    rollouts: new MemoryRollouts(),
  };
  const record = (id: string): ResourceRecordSet => ({
    Name: 'api.example.com.', Type: 'A', SetIdentifier: id, Weight: world.weights[id], TTL: 60,
    ResourceRecords: [{ Value: id === 'blue' ? '10.0.0.1' : '10.0.0.2' }],
  });
  r53.on(ListResourceRecordSetsCommand).callsFake(() => ({ ResourceRecordSets: [record('blue'), record('green')], IsTruncated: false, MaxItems: '300' }));
  let throttles = opts.throttleFirstChanges ?? 0;
  r53.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
    if (throttles-- > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    applyBatch(world, input);
    return { ChangeInfo: { Id: `/change/C${world.batches.length}`, Status: 'PENDING', SubmittedAt: world.clock.now() } };
  });
  r53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C1', Status: 'INSYNC', SubmittedAt: new Date() } });
  cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => {
    const period = input.MetricDataQueries![0]!.MetricStat!.Period!;
    const start = input.StartTime!.getTime();
    const results: MetricDataResult[] = input.MetricDataQueries!.map((q) => {
      const variant: Variant = q.Id!.includes('canary') ? 'canary' : 'baseline';
      const timestamps: Date[] = [];
      const values: number[] = [];
      for (let t = start, i = 0; t < input.EndTime!.getTime(); t += period * 1000, i++) {
        const v = model(variant, q.MetricStat!.Metric!.MetricName!, world.weights.green!, i);
        if (v !== null) { timestamps.push(new Date(t)); values.push(v); }
      }
      return { Id: q.Id, Timestamps: timestamps, Values: values, StatusCode: 'Complete' };
    });
    return { MetricDataResults: results };
  });
  sns.on(PublishCommand).resolves({ MessageId: 'msg-1' });
  overrideAwsDeps({ clock: world.clock, rollouts: world.rollouts, log: new MemoryLog(), decisionMetrics: undefined });
  return world;
}

/**
 * Applies a change batch as Route 53 does: all or nothing, and a DELETE must match the record
 * exactly (here: its weight), else the whole batch is refused (InvalidChangeBatch).
 */
function applyBatch(world: World, input: ChangeResourceRecordSetsCommandInput): void {
  for (const change of input.ChangeBatch!.Changes!) {
    const id = change.ResourceRecordSet!.SetIdentifier!;
    if (change.Action === 'DELETE' && world.weights[id] !== change.ResourceRecordSet!.Weight) {
      throw Object.assign(new Error(`Tried to delete resource record set ${id} but the values provided do not match the current values`), { name: 'InvalidChangeBatch', $metadata: { httpStatusCode: 400 } });
    }
  }
  world.batches.push(input);
  for (const change of input.ChangeBatch!.Changes!) {
    if (change.Action !== 'DELETE') world.weights[change.ResourceRecordSet!.SetIdentifier!] = change.ResourceRecordSet!.Weight!;
  }
}

const lambdaContext = { functionName: 'test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** Each task is the real handler; before it runs, the simulated clock jumps to the Wait's deadline. */
function realHandlers(clock: SimClock, beforeApprovalCheck?: () => Promise<void>): Record<string, TaskFunction> {
  const bind = (h: (event: never, context: Context) => Promise<unknown>): TaskFunction => async (input: never) => {
    const until = (input as { wait?: { until?: string } }).wait?.until;
    if (until) clock.advanceTo(until);
    const out = await h(input, lambdaContext);
    clock.advance(1);
    return out;
  };
  return {
    PreflightFunctionArn: bind(preflight), ShiftTrafficFunctionArn: bind(shiftTraffic), CheckSyncFunctionArn: bind(checkSync),
    VerifyRecoveryFunctionArn: bind(verifyRecovery),
    CheckApprovalFunctionArn: async (input: never) => {
      await beforeApprovalCheck?.();
      return bind(checkApproval)(input);
    },
    AnalyzeFunctionArn: bind(analyze), RollbackFunctionArn: bind(rollback), ConcludeFunctionArn: bind(conclude),
  };
}

const baseConfig = (overrides: Partial<RolloutConfigInput> = {}) => albEcsConfig({ bakeSeconds: 300, checkBaselineHealth: true, ...overrides });

function run(world: World, input: unknown, executionName = 'rollout-1', beforeApprovalCheck?: () => Promise<void>) {
  return runWorkflow({ input, tasks: realHandlers(world.clock, beforeApprovalCheck), executionName });
}

/** A person answering the pending gate, as `canary approve` / `canary reject` does. */
function person(world: World, approved: boolean, reason?: string) {
  return async () => {
    const record = await world.rollouts.get('rollout-1');
    if (record?.pendingApproval && record.approval?.stageIndex !== record.pendingApproval.stageIndex) {
      await world.rollouts.answerApproval('rollout-1', { stageIndex: record.pendingApproval.stageIndex, approved, by: 'alice', reason, at: world.clock.now().toISOString() });
    }
  };
}

/** SNS messages of one kind: OPENED (the incident), RECOVERED, ESCALATED, RESOLVED. */
const published = (eventType: string) => sns.commandCalls(PublishCommand).filter((c) => c.args[0].input.MessageAttributes?.eventType?.StringValue === eventType);

const canaryWeights = (w: World) => w.batches.map((b) => b.ChangeBatch!.Changes!.find((c) => c.Action !== 'DELETE' && c.ResourceRecordSet!.SetIdentifier === 'green')!.ResourceRecordSet!.Weight);
const history = async (w: World, id = 'rollout-1') => (await w.rollouts.history(id))!;

describe('rollout workflow (real ASL, real handlers)', () => {
  beforeEach(() => {
    process.env.TABLE_NAME = 'canary-rollouts';
    process.env.TOPIC_ARN = TOPIC;
    process.env.AWS_REGION = 'us-east-1';
    process.env.ALLOWED_HOSTED_ZONE_IDS = ZONE;
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    r53.reset(); cw.reset(); sns.reset();
    resetAwsDeps();
  });
  afterEach(() => resetAwsDeps());

  it('promotes a healthy canary through 1 → 5 → 10 → 25 → 100', async () => {
    // Prepare
    const world = setUp(healthy);

    // Act
    const result = await run(world, baseConfig());

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(canaryWeights(world)).toEqual([1, 5, 10, 25, 100]);
    for (const batch of world.batches) {
      // Both weights in one atomic batch, as a compare-and-set: DELETE the exact records just read, CREATE the new ones.
      const changes = batch.ChangeBatch!.Changes!;
      expect(changes.map((c) => c.Action)).toEqual(['DELETE', 'CREATE', 'DELETE', 'CREATE']);
      expect(changes.filter((c) => c.Action === 'CREATE').reduce((sum, c) => sum + c.ResourceRecordSet!.Weight!, 0)).toBe(100);
    }
    expect(world.weights).toEqual({ blue: 0, green: 100 });
    const record = await history(world);
    expect(record).toMatchObject({ status: 'PROMOTED', weight: 100, decision: { outcome: 'PROMOTED' } });
    // One counted check per analysed stage after its bake; the checks during the bake only watch for failures.
    const checks = record!.events.filter((e) => e.type === 'CHECK');
    expect(checks.filter((e) => e.type === 'CHECK' && !e.duringBake)).toHaveLength(4);
    expect(checks.filter((e) => e.type === 'CHECK' && e.duringBake).length).toBeGreaterThan(0);
    expect(await world.rollouts.lockHolder(LOCK_KEY)).toBeNull();
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    // Every GetMetricData call carries every metric of both variants (3 metrics, ratio = 2 queries).
    expect(cw.commandCalls(GetMetricDataCommand).every((c) => c.args[0].input.MetricDataQueries!.length === 8)).toBe(true);
  });

  it('rolls back to canary 0 with one incident when the 5xx rate crosses 1 % at the 10 % stage', async () => {
    // Prepare
    const model: MetricModel = (variant, metric, weight, i) => {
      if (variant === 'canary' && metric === 'HTTPCode_Target_5XX_Count' && weight >= 10) {
        return Math.round(20_000 * (weight / 100) * 0.03);
      }
      return healthy(variant, metric, weight, i);
    };
    const world = setUp(model);

    // Act
    const result = await run(world, baseConfig());

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RolledBack');
    expect(result.cause).toContain('error-rate');
    expect(canaryWeights(world)).toEqual([1, 5, 10, 0]);
    // The rollback: both records UPSERTed as preflight read them, the canary at 0, in one batch.
    const last = world.batches.at(-1)!.ChangeBatch!.Changes!;
    expect(last.map((c) => c.Action)).toEqual(['UPSERT', 'UPSERT']);
    expect(last.map((c) => [c.ResourceRecordSet!.SetIdentifier, c.ResourceRecordSet!.Weight, c.ResourceRecordSet!.TTL]).sort()).toEqual([['blue', 100, 60], ['green', 0, 60]]);
    const publishes = published('OPENED');
    expect(publishes).toHaveLength(1);
    // The baseline is healthy after the rollback: the recovery watch marks the incident recovered.
    expect(published('RECOVERED')).toHaveLength(1);
    expect(published('ESCALATED')).toHaveLength(0);
    const message = JSON.parse(publishes[0]!.args[0].input.Message!);
    expect(message).toMatchObject({ rolloutId: 'rollout-1', service: 'checkout-api', decision: { outcome: 'ROLLED_BACK', stageIndex: 2, weight: 10 } });
    expect(message.summary).toMatch(/error-rate: 3\.00 % since \d\d:\d\d UTC, change detected at \d\d:\d\d UTC; any-time-valid lower bound [\d.]+ % > 1\.00 %/);
    expect(publishes[0]!.args[0].input.TopicArn).toBe(TOPIC);
    const record = await world.rollouts.get('rollout-1');
    expect(record).toMatchObject({ status: 'ROLLED_BACK', weight: 0, incident: { dedupKey: 'canary-rollout-rollout-1' } });
    expect(await world.rollouts.lockHolder(LOCK_KEY)).toBeNull();
  });

  it('escalates the incident when the baseline stays unhealthy after the rollback', async () => {
    // Prepare: the canary breaks at 10 %, and so does the baseline once all traffic is back on it.
    const model: MetricModel = (variant, metric, weight, i) => {
      const broken = (variant === 'canary' && weight >= 10) || (variant === 'baseline' && weight === 0 && rolledBack);
      if (metric === 'HTTPCode_Target_5XX_Count' && broken) return Math.round(20_000 * (variant === 'canary' ? weight / 100 : 1) * 0.03);
      return healthy(variant, metric, weight, i);
    };
    let rolledBack = false;
    const world = setUp(model);
    r53.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
      applyBatch(world, input);
      if (world.weights.green === 0 && world.batches.length > 1) rolledBack = true;
      return { ChangeInfo: { Id: `/change/C${world.batches.length}`, Status: 'PENDING', SubmittedAt: world.clock.now() } };
    });

    // Act
    const result = await run(world, baseConfig());

    // Assess
    expect(result.status).toBe('FAILED');
    expect(canaryWeights(world)).toEqual([1, 5, 10, 0]);
    expect(published('OPENED')).toHaveLength(1);
    expect(published('RECOVERED')).toHaveLength(0);
    const escalations = published('ESCALATED');
    expect(escalations).toHaveLength(1);
    expect(JSON.parse(escalations[0]!.args[0].input.Message!)).toMatchObject({ rolloutId: 'rollout-1', eventType: 'ESCALATED' });
  });

  it('rolls back after the inconclusive limit when the canary metrics vanish', async () => {
    // Prepare: from the 5 % stage on, the canary publishes nothing at all.
    const model: MetricModel = (variant, metric, weight, i) => (variant === 'canary' && weight >= 5 ? null : healthy(variant, metric, weight, i));
    const world = setUp(model);

    // Act
    const result = await run(world, baseConfig({ inconclusiveLimit: 2 }));

    // Assess
    expect(result.status).toBe('FAILED');
    expect(canaryWeights(world)).toEqual([1, 5, 0]);
    const record = await history(world);
    const checksAt5 = record.events.filter((e) => e.type === 'CHECK' && e.weight === 5 && !e.duringBake);
    expect(checksAt5.map((e) => e.type === 'CHECK' && e.verdict)).toEqual(['INCONCLUSIVE', 'INCONCLUSIVE', 'INCONCLUSIVE']);
    expect(record.decision!.reasons.at(-1)).toContain('3 inconclusive check(s) at this stage, limit 2: no data is not a pass');
    expect(published('OPENED')).toHaveLength(1);
  });

  it('waits out a throttled weight change (backing off) and goes on, never rolling back', async () => {
    // Prepare
    const world = setUp(healthy, { throttleFirstChanges: 2 });

    // Act
    const result = await run(world, baseConfig({ stages: [10, 100] }));

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states.filter((s) => s === 'WaitToShift')).toHaveLength(2);
    expect(canaryWeights(world)).toEqual([10, 100]);
  });

  it('rejects a bad config before any Route 53 call', async () => {
    // Prepare
    const world = setUp(healthy);

    // Act
    const result = await run(world, baseConfig({ stages: [10, 50] }));

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ConfigValidationError');
    expect(result.cause).toContain('stages[1]: the last stage must be 100');
    expect(r53.calls()).toHaveLength(0);
    expect(await world.rollouts.list(10)).toHaveLength(0);
    expect(sns.calls()).toHaveLength(0);
  });

  it('refuses a second rollout on a locked record, naming the running one', async () => {
    // Prepare
    const world = setUp(healthy);
    await world.rollouts.acquireLock(LOCK_KEY, 'rollout-0', 3600, world.clock.now());

    // Act
    const result = await run(world, baseConfig(), 'rollout-2');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('LockHeld');
    expect(result.cause).toContain('locked by rollout rollout-0');
    expect(r53.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(0);
    expect(world.weights).toEqual({ blue: 100, green: 0 });
  });

  it('refuses a record whose TTL is above the limit, saying why', async () => {
    // Prepare
    const world = setUp(healthy);

    // Act
    const result = await run(world, baseConfig({ target: { ...albEcsConfig().target, maxTtlSeconds: 30 } as never }));

    // Assess
    expect(result.error).toBe('PreflightFailed');
    expect(result.cause).toContain('clients keep an old answer for a whole TTL');
    expect(r53.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(0);
  });

  it('refuses to start when the baseline itself is unhealthy', async () => {
    // Prepare
    const world = setUp((variant, metric, weight, i) => (metric === 'MemoryUtilization' ? 92 : healthy(variant, metric, weight, i)));

    // Act
    const result = await run(world, baseConfig());

    // Assess
    expect(result.error).toBe('PreflightFailed');
    expect(result.cause).toContain('the baseline is unhealthy before any traffic moved');
    expect(r53.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(0);
  });

  describe('manual gates', () => {
    const gated = () => baseConfig({ stages: [1, { weight: 25, approval: true }, 100], approvalTimeoutSeconds: 600 });

    it('waits at the gate without moving traffic, then goes on once approved', async () => {
      // Prepare
      const world = setUp(healthy);
      let weightWhileWaiting: number | undefined;
      const approve = person(world, true);

      // Act
      const result = await run(world, gated(), 'rollout-1', async () => {
        weightWhileWaiting ??= world.weights.green;
        await approve();
      });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(weightWhileWaiting).toBe(1); // still at the previous stage while the gate is pending
      expect(canaryWeights(world)).toEqual([1, 25, 100]);
      const record = await history(world);
      expect(record.events.map((e) => e.type)).toEqual(expect.arrayContaining(['APPROVAL_REQUESTED', 'APPROVAL_ANSWERED']));
      expect(record.pendingApproval).toBeUndefined();
    });

    it('rolls back when a person rejects, without paging anyone', async () => {
      // Prepare
      const world = setUp(healthy);

      // Act
      const result = await run(world, gated(), 'rollout-1', person(world, false, 'dashboards look odd'));

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.cause).toBe('alice rejected stage 2 (25 %): dashboards look odd');
      expect(canaryWeights(world)).toEqual([1, 0]);
      expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
      expect((await world.rollouts.get('rollout-1'))!.decision).toMatchObject({ trigger: 'REJECTED', outcome: 'ROLLED_BACK' });
    });

    it('rolls back with an incident when nobody answers before the timeout', async () => {
      // Prepare
      const world = setUp(healthy);

      // Act
      const result = await run(world, gated());

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.cause).toBe('no approval for stage 2 (25 %) within 600 s');
      expect(canaryWeights(world)).toEqual([1, 0]);
      expect(published('OPENED')).toHaveLength(1);
    });
  });
});
