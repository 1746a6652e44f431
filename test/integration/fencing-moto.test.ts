/**
 * Fencing over the wire, on moto_server: the real step handlers and the reconciler's handler, the
 * real SDK clients to Route 53, DynamoDB (the table made from template.yaml's schema), SNS and Step
 * Functions (moto records executions: they are RUNNING until stopped). What keeps a stale execution
 * (a Lambda still running after a Stop, a redrive, a superseded workflow) from moving traffic is
 * DynamoDB's conditions, not a read in our code: the refusals are read off the wire
 * (TransactionCanceledException with the failed item's reason) and become FencedOut.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { parseRolloutConfig, targetKey } from '../../functions/core/config.ts';
import type { ReconcileReport } from '../../functions/core/reconciler.ts';
import type { RolloutEvent, RolloutRecord } from '../../functions/core/rollout-record.ts';
import { leaseSeconds, type RolloutState } from '../../functions/core/rollout-steps.ts';
import { FINISH_LEASE_SECONDS } from '../../functions/core/safety-net.ts';
import { handler as checkSyncHandler } from '../../functions/check-sync.ts';
import { handler as preflightHandler } from '../../functions/preflight.ts';
import { handler as reconcilerHandler } from '../../functions/reconciler.ts';
import { handler as rollbackHandler } from '../../functions/rollback.ts';
import { handler as shiftTrafficHandler } from '../../functions/shift-traffic.ts';
import { SimClock } from '../../sim/clock.ts';
import { motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';
import { createRolloutsTableFromTemplate } from '../helpers/rollouts-table.ts';
import {
  awsClients, createIncidentInbox, createWeightedPair, createZone, drainIncidents, eventItems, getItem, listRecords, opened, pairIds,
  pointHandlersAt, readWeights, type Clients, type IncidentInbox,
} from './support/aws.ts';
import { integrationConfig } from './support/configs.ts';
import { lambdaContext } from './support/rollout.ts';
import { serviceNames } from './support/traffic-model.ts';

const skip = motoSkipReason();
const TABLE = 'canary-rollouts';
const STATE_MACHINE = 'CanaryRollout';
const T0 = new Date('2026-03-01T12:00:00.000Z');

type Step<I = RolloutState, O = RolloutState> = (event: I, context: Context) => Promise<O>;
const step = <I, O>(handler: unknown, name: string) => (event: I) => (handler as Step<I, O>)(event, lambdaContext(name));
const preflight = step<{ config: unknown; execution: { id: string; name: string; startTime: string } }, RolloutState>(preflightHandler, 'preflight');
const shiftTraffic = step<RolloutState, RolloutState>(shiftTrafficHandler, 'shift-traffic');
const checkSync = step<RolloutState, RolloutState>(checkSyncHandler, 'check-sync');
const rollback = step<RolloutState, RolloutState>(rollbackHandler, 'rollback');
const reconcile = step<unknown, ReconcileReport>(reconcilerHandler, 'reconciler');

/** What DynamoDB answered to each refused write, read off the wire. */
interface Refusal {
  command: string;
  error: string;
  reasons?: string[];
}

type Next = (args: unknown) => Promise<unknown>;
interface MiddlewareStack { add(middleware: (next: Next, context: { commandName?: string }) => Next, options: { step: 'initialize'; name: string }): void }

describe.skipIf(skip !== null)('fencing on moto: a stale token moves nothing', () => {
  const moto = useMoto();
  let aws: Clients;
  let sfn: SFNClient;
  let zoneId: string;
  let inbox: IncidentInbox;
  let stateMachineArn: string;
  let clock: SimClock;
  let dynamo: DynamoDBClient;
  let table: string;
  let store: DynamoRollouts;
  const refusals: Refusal[] = [];

  beforeAll(async () => {
    aws = awsClients(moto.endpoint);
    sfn = new SFNClient(motoClientConfig(moto.endpoint));
    zoneId = await createZone(aws.route53, 'example.com');
    inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    stateMachineArn = (await sfn.send(new CreateStateMachineCommand({
      name: STATE_MACHINE, roleArn: 'arn:aws:iam::123456789012:role/StatesExecutionRole',
      definition: JSON.stringify({ StartAt: 'Run', States: { Run: { Type: 'Pass', End: true } } }),
    }))).stateMachineArn!;
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });
    // The store the handlers use, over a client that notes every error DynamoDB answers.
    dynamo = new DynamoDBClient({ ...motoClientConfig(moto.endpoint), maxAttempts: 1 });
    (dynamo.middlewareStack as unknown as MiddlewareStack).add((next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const e = error as { name: string; CancellationReasons?: { Code?: string }[] };
        refusals.push({ command: context.commandName ?? '?', error: e.name, ...(e.CancellationReasons ? { reasons: e.CancellationReasons.map((r) => r.Code ?? '?') } : {}) });
        throw error;
      }
    }, { step: 'initialize', name: 'noteRefusals' });
  });
  afterAll(() => resetAwsDeps());
  // Each test on a table of its own (the reconciler sweeps the whole table) and its own clock.
  let tables = 0;
  beforeEach(async () => {
    table = `${TABLE}-${++tables}`;
    await createRolloutsTableFromTemplate(aws.dynamo, table);
    store = new DynamoRollouts(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), table);
    // A simulated clock whose sleep moves it (the reconciler waits for a stopped execution's last Lambda).
    clock = new SimClock(T0);
    overrideAwsDeps({ clock, rollouts: store });
    refusals.length = 0;
  });

  async function target(id: string) {
    const recordName = `${id}.example.com`;
    await createWeightedPair(aws.route53, zoneId, recordName);
    const config = integrationConfig({ name: id, zoneId, recordName, names: serviceNames(id) }, { checkBaselineHealth: false });
    const parsed = parseRolloutConfig(config, { allowedHostedZoneIds: [zoneId] });
    return { config, recordName, key: targetKey(parsed.target), lease: leaseSeconds(parsed) };
  }

  /** A rollout started the way Step Functions starts it: an execution (recorded by moto), then its preflight. */
  async function start(name: string, config: unknown): Promise<RolloutState> {
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(config) }));
    return preflight({ config, execution: { id: executionArn!, name, startTime: clock.now().toISOString() } });
  }

  /** Through the first stage's change: shifted to the first weight and in sync. */
  async function firstStage(state: RolloutState): Promise<RolloutState> {
    const shifted = await shiftTraffic(state);
    expect(shifted).toMatchObject({ next: 'WAIT_SYNC', weight: state.config.stages[0]!.weight });
    clock.advanceTo(shifted.wait.until);
    return checkSync(shifted);
  }

  const head = async (id: string) => await getItem(aws.doc, table, `rollout#${id}`) as (RolloutRecord & Record<string, unknown>) | undefined;
  const events = async (id: string) => await eventItems(aws.doc, table, id) as RolloutEvent[];
  const lock = (key: string) => getItem(aws.doc, table, `lock#${key}`);

  it('taken over (by the safety net, which then died): the old token\'s fence and updates are refused by DynamoDB, nothing moves; the reconciler waits out the net\'s lease, then restores the baseline', async () => {
    // Prepare: rollout A at 10 %, in sync; its execution is then stopped (a person pressed Stop).
    const { config, recordName, key } = await target('taken');
    const state = await firstStage(await start('taken', config));
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 90, canary: 10 });
    await sfn.send(new StopExecutionCommand({ executionArn: state.executionArn!, cause: 'stopped from the console' }));
    clock.advance(300);
    // The safety net's first write (what it does before anything else: a new token on the record and
    // the lock, for its own short lease), and then it died.
    const netToken = `safety-net@${clock.now().toISOString()}`;
    expect(await store.takeOver('taken', { lockKey: key, token: netToken, leaseSeconds: FINISH_LEASE_SECONDS, now: clock.now() })).toMatchObject({ ok: true });
    expect(await lock(key)).toMatchObject({ owner: 'taken', token: netToken });
    const before = { head: await head('taken'), events: await events('taken') };

    // Act: the stopped execution's Lambdas, still running with the old token: its next shift, and
    // its writes of a check (with an event) and of a field.
    const nextStage = await shiftTraffic({ ...state, stageIndex: 1 }).catch((error: unknown) => error);
    const recordCheck = await store.update('taken', { checkCount: 9 }, [{ type: 'NOTE', at: clock.now().toISOString(), message: 'late' }], { token: state.token })
      .catch((error: unknown) => error);
    const recordField = await store.update('taken', { weight: 50 }, [], { token: state.token }).catch((error: unknown) => error);

    // Assess: FencedOut, from DynamoDB's own refusals.
    expect(nextStage).toMatchObject({ name: 'FencedOut', message: expect.stringContaining('it was taken over (by the safety net or the reconciler)') });
    expect(recordCheck).toMatchObject({ name: 'FencedOut', message: expect.stringContaining('it was taken over') });
    expect(recordField).toMatchObject({ name: 'FencedOut', message: expect.stringContaining('it was taken over') });
    expect(refusals).toEqual([
      // The fence: the head's condition (its token) and the lock's (its token) both failed.
      { command: 'TransactWriteItemsCommand', error: 'TransactionCanceledException', reasons: ['ConditionalCheckFailed', 'ConditionalCheckFailed'] },
      // The update with its event: the head's condition failed, the event's Put did not happen.
      { command: 'TransactWriteItemsCommand', error: 'TransactionCanceledException', reasons: ['ConditionalCheckFailed', 'None'] },
      // The plain update.
      { command: 'UpdateItemCommand', error: 'ConditionalCheckFailedException' },
    ]);
    // Nothing moved, nothing was written: traffic at 10 %, the head and its events as the reconciler left them.
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 90, canary: 10 });
    expect(await head('taken')).toEqual(before.head);
    expect(await events('taken')).toEqual(before.events);

    // Act: a reconciler run while the safety net's lease runs, then one after it ended (the execution
    // is ABORTED in Step Functions all along).
    const early = await reconcile({});
    const afterEarly = { weights: await readWeights(aws.route53, zoneId, recordName), head: await head('taken') };
    clock.advance(FINISH_LEASE_SECONDS + 1);
    const report = await reconcile({});

    // Assess: the first run left the rollout to the safety net that held it.
    expect(early).toEqual({ swept: 1, finished: [], failed: [] });
    expect(afterEarly).toEqual({ weights: { baseline: 90, canary: 10 }, head: before.head });

    // Then the second took the rollout over from the dead safety net: the baseline restored as preflight
    // read it, the rollout closed, the lock released, an incident.
    expect(report.failed).toEqual([]);
    expect(report.finished).toEqual([expect.objectContaining({ rolloutId: 'taken', action: 'RESTORED_BASELINE' })]);
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 100, canary: 0 });
    expect((await listRecords(aws.route53, zoneId, recordName)).map((r) => [r.SetIdentifier, r.TTL])).toEqual(
      expect.arrayContaining([[pairIds(recordName).baseline, 60], [pairIds(recordName).canary, 60]]),
    );
    expect(await head('taken')).toMatchObject({ status: 'ROLLED_BACK', weight: 0, decision: { trigger: 'SAFETY_NET' } });
    expect((await head('taken'))!.decision!.reasons[0]).toMatch(/the reconciler restored the baseline: the execution ended ABORTED/);
    expect(await head('taken')).not.toHaveProperty('activePk');
    expect(await lock(key)).toBeUndefined();
    expect(opened(await drainIncidents(moto.endpoint, inbox)).map((i) => i.rolloutId)).toEqual(['taken']);
    // And the stale execution's forward step stays fenced out: the record is closed now.
    await expect(shiftTraffic({ ...state, stageIndex: 1 })).rejects.toMatchObject({ name: 'FencedOut', message: expect.stringContaining('the rollout is ROLLED_BACK') });
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 100, canary: 0 });
  });

  it('another rollout holds the target: the stale rollback and the reconciler\'s takeOver leave its traffic alone', async () => {
    // Prepare: rollout A at 10 %; its execution stopped; its lease runs out; a person sets the canary
    // to 0 by hand and starts rollout B, which takes the expired lock and shifts to 10 %.
    const { config, recordName, key, lease } = await target('shared');
    const a = await firstStage(await start('shared-a', config));
    await sfn.send(new StopExecutionCommand({ executionArn: a.executionArn!, cause: 'stopped from the console' }));
    clock.advance(lease + 60);
    const ids = pairIds(recordName);
    const byHand = (id: string, weight: number, ip: string) => ({
      Action: 'UPSERT' as const, ResourceRecordSet: { Name: recordName, Type: 'A' as const, SetIdentifier: id, Weight: weight, TTL: 60, ResourceRecords: [{ Value: ip }] },
    });
    await aws.route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: [byHand(ids.canary, 0, '10.0.0.2'), byHand(ids.baseline, 100, '10.0.0.1')] } }));
    // B's own stages: moto refuses a CREATE identical to one it applied before on the record (A's
    // 10 %), even with the record deleted in the same batch, which Route 53 accepts.
    const b = await firstStage(await start('shared-b', { ...config, stages: [20, 60, 100] }));
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 80, canary: 20 });
    const bLock = await lock(key);
    expect(bLock).toMatchObject({ owner: 'shared-b', token: b.token });
    const aEvents = await events('shared-a');

    // Act: a late Lambda of A's execution rolls back (its Catch sent it there).
    const stale = await rollback({ ...a, next: 'ROLLBACK', error: { Error: 'States.Timeout', Cause: 'a late step' } });

    // Assess: superseded, nothing moved or written.
    expect(stale).toMatchObject({ next: 'DONE', outcome: 'SUPERSEDED', summary: 'the traffic target is now locked by rollout shared-b' });
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 80, canary: 20 });
    expect(await events('shared-a')).toEqual(aEvents);
    // A's forward steps are refused on the lock (its condition, the transaction's second item).
    await expect(shiftTraffic({ ...a, stageIndex: 1 })).rejects.toMatchObject({ name: 'FencedOut', message: expect.stringContaining("the traffic target's lock is held by shared-b") });
    expect(refusals).toContainEqual({ command: 'TransactWriteItemsCommand', error: 'TransactionCanceledException', reasons: ['None', 'ConditionalCheckFailed'] });

    // Act: the reconciler sweeps both active rollouts: A's execution was stopped, B's runs.
    const report = await reconcile({});

    // Assess: A closed without touching traffic; B, its lock and its traffic untouched.
    expect(report).toMatchObject({ swept: 2, failed: [] });
    expect(report.finished).toEqual([expect.objectContaining({ rolloutId: 'shared-a', action: 'CLOSED_WITHOUT_TRAFFIC' })]);
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 80, canary: 20 });
    expect(await lock(key)).toEqual(bLock);
    expect(await head('shared-a')).toMatchObject({ status: 'ROLLED_BACK', decision: { trigger: 'SAFETY_NET' } });
    expect((await head('shared-a'))!.decision!.reasons[0]).toMatch(/closed the rollout without touching traffic.*rollout shared-b now holds the traffic target/);
    expect((await events('shared-a')).filter((e) => e.type === 'WEIGHTS_SET').map((e) => e.canary)).toEqual([10]);
    expect(await head('shared-b')).toMatchObject({ status: 'RUNNING', token: b.token, weight: 20 });
    expect(opened(await drainIncidents(moto.endpoint, inbox))).toEqual([]);

    // Act: A's late rollback once more, now that the reconciler closed A.
    const again = await rollback({ ...a, next: 'ROLLBACK', error: { Error: 'States.Timeout', Cause: 'a late step' } });

    // Assess: still nothing moved; B goes on: its own fence holds.
    expect(again).toMatchObject({ outcome: 'SUPERSEDED', summary: expect.stringContaining('already closed ROLLED_BACK') });
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 80, canary: 20 });
    const bNext = await shiftTraffic({ ...b, stageIndex: 1 });
    expect(bNext).toMatchObject({ weight: 60, next: 'WAIT_SYNC' });
    expect(await readWeights(aws.route53, zoneId, recordName)).toEqual({ baseline: 40, canary: 60 });
  });
});
