/**
 * Incident status updates on the real ASL (rollout and segments, WaitForRecovery/VerifyRecovery)
 * with the real handlers: a 5xx rollback whose baseline takes 50 minutes to recover, watched for
 * an hour, gets a status update every 15 minutes on the stack's SNS topic (the real adapter over
 * aws-sdk-client-mock) until recovery is verified, and none after; a Lambda that dies after
 * sending one is retried by the workflow's Retry policy and the update is not sent twice.
 */
import { CloudWatchClient, GetMetricDataCommand, type GetMetricDataCommandInput, type MetricDataResult } from '@aws-sdk/client-cloudwatch';
import {
  ChangeResourceRecordSetsCommand, GetChangeCommand, ListResourceRecordSetsCommand, Route53Client,
  type ChangeResourceRecordSetsCommandInput, type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { PublishCommand, SNSClient, type PublishCommandInput } from '@aws-sdk/client-sns';
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
import { SimClock } from '../../sim/clock.ts';
import { MemoryLog, MemoryRollouts } from '../../sim/memory-adapters.ts';
import { runWorkflow, type TaskFunction } from '../../sim/workflow-runner.ts';
import { albEcsConfig, ZONE } from '../fixtures/configs.ts';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:canary-incidents';
const r53 = mockClient(Route53Client);
const cw = mockClient(CloudWatchClient);
const sns = mockClient(SNSClient);
const lambdaContext = { functionName: 'test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

interface World {
  weights: Record<string, number>;
  clock: SimClock;
  rollouts: MemoryRollouts;
  /** When the rollback's weight change was made (the baseline's trouble is counted from here). */
  rolledBackAt?: number;
  /** Every SNS message with the simulated time it was published at. */
  published: { at: string; input: PublishCommandInput }[];
}

/**
 * 20,000 requests a minute. The canary fails 3 % of its requests from the 10 % stage; the
 * baseline fails 4 % for the first 20 minutes after the rollback, 2 % until minute 50, then 0.1 %.
 */
function errorRate(variant: 'canary' | 'baseline', weight: number, t: number, world: World): number {
  if (variant === 'canary') return weight >= 10 ? 0.03 : 0.001;
  if (world.rolledBackAt === undefined || t < world.rolledBackAt) return 0.001;
  const min = (t - world.rolledBackAt) / 60_000;
  return min < 20 ? 0.04 : min < 50 ? 0.02 : 0.001;
}

function setUp(): World {
  const world: World = { weights: { blue: 100, green: 0 }, clock: new SimClock(new Date('2026-03-02T10:00:00Z')), rollouts: new MemoryRollouts(), published: [] };
  const record = (id: string): ResourceRecordSet => ({
    Name: 'api.example.com.', Type: 'A', SetIdentifier: id, Weight: world.weights[id], TTL: 60, ResourceRecords: [{ Value: id === 'blue' ? '10.0.0.1' : '10.0.0.2' }],
  });
  r53.on(ListResourceRecordSetsCommand).callsFake(() => ({ ResourceRecordSets: [record('blue'), record('green')], IsTruncated: false, MaxItems: '300' }));
  let changes = 0;
  r53.on(ChangeResourceRecordSetsCommand).callsFake((input: ChangeResourceRecordSetsCommandInput) => {
    for (const c of input.ChangeBatch!.Changes!) if (c.Action !== 'DELETE') world.weights[c.ResourceRecordSet!.SetIdentifier!] = c.ResourceRecordSet!.Weight!;
    if (++changes > 1 && world.weights.green === 0) world.rolledBackAt ??= world.clock.now().getTime();
    return { ChangeInfo: { Id: `/change/C${changes}`, Status: 'PENDING', SubmittedAt: world.clock.now() } };
  });
  r53.on(GetChangeCommand).resolves({ ChangeInfo: { Id: '/change/C1', Status: 'INSYNC', SubmittedAt: new Date() } });
  cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => {
    const period = input.MetricDataQueries![0]!.MetricStat!.Period! * 1000;
    const results: MetricDataResult[] = input.MetricDataQueries!.map((q) => {
      const variant = q.Id!.includes('canary') ? 'canary' : 'baseline';
      const weight = world.weights.green!;
      const share = variant === 'canary' ? weight / 100 : 1 - weight / 100;
      const timestamps: Date[] = [];
      const values: number[] = [];
      for (let t = input.StartTime!.getTime(); t < input.EndTime!.getTime(); t += period) {
        const requests = 20_000 * share;
        const value = ({
          RequestCount: Math.round(requests),
          HTTPCode_Target_5XX_Count: Math.round(requests * errorRate(variant, weight, t, world)) || null,
          MemoryUtilization: 45,
          TargetResponseTime: 0.25,
        } as Record<string, number | null>)[q.MetricStat!.Metric!.MetricName!] ?? null;
        if (value !== null) { timestamps.push(new Date(t)); values.push(value); }
      }
      return { Id: q.Id, Timestamps: timestamps, Values: values, StatusCode: 'Complete' };
    });
    return { MetricDataResults: results };
  });
  sns.on(PublishCommand).callsFake((input: PublishCommandInput) => {
    world.published.push({ at: world.clock.now().toISOString(), input });
    return { MessageId: `msg-${world.published.length}` };
  });
  overrideAwsDeps({ clock: world.clock, rollouts: world.rollouts, log: new MemoryLog(), decisionMetrics: undefined });
  return world;
}

/** Each Task is the real handler; `verifyRecoveryCrash` may make one invocation die after it ran (a Lambda killed after its sends). */
function handlers(world: World, verifyRecoveryCrash?: (published: number) => boolean): Record<string, TaskFunction> {
  const bind = (h: (event: never, context: Context) => Promise<unknown>): TaskFunction => async (input: never) => {
    const until = (input as { wait?: { until?: string } }).wait?.until;
    if (until) world.clock.advanceTo(until);
    const out = await h(input, lambdaContext);
    world.clock.advance(1);
    return out;
  };
  return {
    PreflightFunctionArn: bind(preflight), ShiftTrafficFunctionArn: bind(shiftTraffic), CheckSyncFunctionArn: bind(checkSync),
    CheckApprovalFunctionArn: bind(checkApproval), AnalyzeFunctionArn: bind(analyze), RollbackFunctionArn: bind(rollback), ConcludeFunctionArn: bind(conclude),
    VerifyRecoveryFunctionArn: async (input: never) => {
      const before = world.published.length;
      const out = await bind(verifyRecovery)(input);
      if (world.published.length > before && verifyRecoveryCrash?.(world.published.length)) {
        throw Object.assign(new Error('RequestId: x Error: Runtime exited with error: signal: killed'), { name: 'Runtime.ExitError' });
      }
      return out;
    },
  };
}

const eventType = (p: { input: PublishCommandInput }) => p.input.MessageAttributes!.eventType!.StringValue!;
const minutesBetween = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 60_000;

describe('incident status updates on the real ASL', () => {
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

  const config = albEcsConfig({ bakeSeconds: 300, recovery: { watch: '1h' } });

  it('a 5xx rollback watched for an hour: an update every 15 minutes until recovery is verified, none after', async () => {
    // Prepare
    const world = setUp();

    // Act
    const result = await runWorkflow({ input: config, tasks: handlers(world), executionName: 'rollout-1' });

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RolledBack');
    const kinds = world.published.map(eventType);
    expect(kinds).toEqual(['OPENED', 'STATUS', 'STATUS', 'STATUS', 'RECOVERED']);
    const [opened, ...updates] = world.published;
    // Critical: the error-rate metric of the alb-ecs preset is critical and FAILED.
    expect(opened!.input.Subject).toMatch(/^\[CRITICAL\] Canary rollback: checkout-api at stage 3/);
    expect(opened!.input.MessageAttributes!.severity!.StringValue).toBe('critical');
    const status = updates.slice(0, 3);
    expect(status.map((u) => minutesBetween(opened!.at, u.at))).toEqual([15, 30, 45].map((m) => expect.closeTo(m, 1)));
    expect(status.map((u) => JSON.parse(u.input.Message!).seq)).toEqual([1, 2, 3]);
    expect(status.map((u) => u.input.Subject!.slice(0, 12))).toEqual(['[STATUS 1] C', '[STATUS 2] C', '[STATUS 3] C']);
    const notes = status.map((u) => JSON.parse(u.input.Message!).note as string);
    expect(notes[0]).toMatch(/Traffic: restored, 100 % baseline since \d\d:\d\d:\d\d UTC/);
    expect(notes[0]).toMatch(/Recovery: not yet recovered: .*\n- error-rate.* 4\.00 % is above the maximum 1\.00 %/);
    expect(notes[1]).toMatch(/Traffic: unchanged/);
    expect(notes[1]).toMatch(/Since update 1: error-rate 4\.00 % → 2\.00 %\./);
    expect(notes[2]).toMatch(/Since update 2: no change\./);
    const recovered = updates[3]!;
    expect(minutesBetween(world.rolledBackAt ? new Date(world.rolledBackAt).toISOString() : opened!.at, recovered.at)).toBeGreaterThan(50);
    expect(JSON.parse(recovered.input.Message!).note).toMatch(/This ends the status updates \(the last was number 3\)\.$/);
    // The record: one INCIDENT_UPDATE per update, the head's claim recorded, then RECOVERED.
    const history = (await world.rollouts.history('rollout-1'))!;
    const tail = history.events.filter((e) => ['INCIDENT', 'INCIDENT_UPDATE', 'RECOVERED', 'ESCALATED'].includes(e.type));
    expect(tail.map((e) => e.type)).toEqual(['INCIDENT', 'INCIDENT_UPDATE', 'INCIDENT_UPDATE', 'INCIDENT_UPDATE', 'RECOVERED']);
    expect(tail[0]).toMatchObject({ severity: 'critical' });
    expect(history.incident).toMatchObject({ severity: 'critical' });
    expect(history.incidentUpdate).toMatchObject({ seq: 3, recorded: true });
  });

  it('a Lambda killed after sending an update is retried by the workflow, and the update is not sent twice', async () => {
    // Prepare: the invocation that publishes the second status update (the 3rd message) dies right after.
    const world = setUp();
    let crashed = 0;

    // Act
    const result = await runWorkflow({
      input: config, executionName: 'rollout-1',
      tasks: handlers(world, (published) => published === 3 && crashed++ === 0),
    });

    // Assess
    expect(crashed).toBe(1);
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(world.published.map(eventType)).toEqual(['OPENED', 'STATUS', 'STATUS', 'STATUS', 'RECOVERED']);
    expect(world.published.filter((p) => eventType(p) === 'STATUS').map((p) => JSON.parse(p.input.Message!).seq)).toEqual([1, 2, 3]);
  });
});
