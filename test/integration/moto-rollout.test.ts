/**
 * The whole rollout on moto_server: the deployed state machine files (the rollout and its
 * segments, child executions) run by the local Step Functions in simulated time, the real Lambda
 * handlers, and the real SDK clients over HTTP to Route 53, CloudWatch, DynamoDB and SNS (→ SQS).
 * A service model publishes metrics that follow the weights Route 53 holds. Every outcome is read
 * back from moto: the record set, the rollout's head and its event items in DynamoDB (the table
 * made from template.yaml's schema), the lock, the incident and its updates in the SQS queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import type { RolloutConfigInput } from '../../functions/core/config.ts';
import type { RolloutEvent, RolloutRecord } from '../../functions/core/rollout-record.ts';
import { motoSkipReason, useMoto } from '../helpers/moto.ts';
import { createRolloutsTableFromTemplate } from '../helpers/rollouts-table.ts';
import {
  awsClients, createIncidentInbox, createWeightedPair, createZone, drainIncidents, eventItems, getItem, listRecords, opened,
  pointHandlersAt, readWeights, type Clients, type IncidentInbox, type PublishedIncident,
} from './support/aws.ts';
import { integrationConfig } from './support/configs.ts';
import { contextClock, runRollout, SimClock, simStart, type RolloutRun } from './support/rollout.ts';
import { HEALTHY, serviceNames, TrafficModel, type VariantBehaviour } from './support/traffic-model.ts';

const skip = motoSkipReason();
const TABLE = 'canary-rollouts';

type StoredEvent = RolloutEvent & { pk: string; evPk: string; evSk: string };

describe.skipIf(skip !== null)('rollout workflow on moto_server', () => {
  const moto = useMoto();
  let aws: Clients;
  let zoneId: string;
  let otherZoneId: string;
  let inbox: IncidentInbox;

  beforeAll(async () => {
    aws = awsClients(moto.endpoint);
    zoneId = await createZone(aws.route53, 'example.com');
    otherZoneId = await createZone(aws.route53, 'example.org');
    await createRolloutsTableFromTemplate(aws.dynamo, TABLE);
    inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    // Only example.com is the stack's to change (the template's AllowedHostedZoneIds).
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });
    overrideAwsDeps({ clock: contextClock });
  });
  afterAll(() => resetAwsDeps());

  interface Outcome {
    run: RolloutRun;
    weights: Record<string, number>;
    /** The head item as stored (with its table keys). */
    head: (RolloutRecord & Record<string, unknown>) | undefined;
    /** The event items, in the byRollout index's order. */
    events: StoredEvent[];
    lock: Record<string, unknown> | undefined;
    /** Every message on the incident topic: incidents opened and their updates. */
    messages: PublishedIncident[];
    incidents: PublishedIncident[];
    model: TrafficModel;
    recordName: string;
    zone: string;
  }

  /** One rollout of `id`.example.com from 100 % baseline, with the canary behaving as told. */
  async function rollout(id: string, canary: VariantBehaviour, options: {
    overrides?: Partial<RolloutConfigInput>; canaryRecord?: boolean; zone?: string;
  } = {}): Promise<Outcome> {
    const zone = options.zone ?? zoneId;
    const recordName = `${id}.${zone === zoneId ? 'example.com' : 'example.org'}`;
    await createWeightedPair(aws.route53, zone, recordName, { baseline: 100, canary: options.canaryRecord === false ? null : 0 });
    const names = serviceNames(id);
    const start = simStart(3);
    const model = new TrafficModel({
      cloudwatch: aws.cloudwatch, route53: aws.route53, zoneId: zone, recordName, names, baseline: HEALTHY, canary, start,
    });
    await model.start();
    const config = integrationConfig({ name: id, zoneId: zone, recordName, names }, options.overrides);
    const run = await runRollout({
      config, executionName: id, clock: new SimClock(start), beforeTask: (at) => model.advanceTo(at),
    });
    const messages = await drainIncidents(moto.endpoint, inbox);
    return {
      run, model, recordName, zone,
      weights: await readWeights(aws.route53, zone, recordName),
      head: await getItem(aws.doc, TABLE, `rollout#${id}`) as Outcome['head'],
      events: await eventItems(aws.doc, TABLE, id) as StoredEvent[],
      lock: await getItem(aws.doc, TABLE, `lock#${zone}/${recordName}/A`),
      messages,
      incidents: opened(messages),
    };
  }

  /** The checks that count, after each stage's bake (those during the bake only watch for failures). */
  const checks = (events: StoredEvent[]) =>
    events.flatMap((e) => (e.type === 'CHECK' && !e.duringBake ? [`${e.weight}:${e.verdict}`] : []));
  const weightsSet = (events: StoredEvent[]) => events.flatMap((e) => (e.type === 'WEIGHTS_SET' ? [e.canary] : []));

  /** What every rollout's stored record holds, whatever its outcome: a bounded head, events as their own items. */
  function expectStoredShape(o: Outcome): void {
    const id = o.run.name;
    expect(o.head, 'the head').toBeDefined();
    expect(o.head, 'events are items, not a list on the head').not.toHaveProperty('events');
    expect(o.head!.eventCount).toBe(o.events.length);
    expect(o.head!.token).toBe(`${o.run.executionArn}@${o.run.startDate}`);
    expect(o.head!.executionArn).toBe(o.run.executionArn);
    for (const e of o.events) {
      expect(e.evPk).toBe(`rollout#${id}`);
      expect(e.pk).toBe(`rollout#${id}#event#${e.evSk}`);
    }
    expect(o.events.map((e) => e.evSk)).toEqual(o.events.map((e) => e.evSk).sort());
    expect(o.events[0]).toMatchObject({ type: 'STARTED', stages: [10, 50, 100] });
    // Closed: out of the reconciler's sparse byActive index.
    expect(o.head).not.toHaveProperty('activePk');
    // The execution stayed far from AWS's quotas (the runner enforces them).
    for (const execution of [o.run, ...o.run.children]) expect(execution.aws.historyEvents).toBeLessThan(25_000);
  }

  it('(a) a healthy canary is promoted: canary 100 / baseline 0, lock released, no incident', async () => {
    const o = await rollout('healthy', HEALTHY);
    const { run, weights, head, events, lock, messages } = o;

    expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    expect(run.states).toEqual(['Preflight', 'AfterPreflight', 'NextSegment', 'RunSegment', 'AfterSegment', 'Promoted']);
    expect(run.children.map((c) => [c.name, c.status])).toEqual([['healthy-1-r0', 'SUCCEEDED']]);
    expect(weights).toEqual({ baseline: 0, canary: 100 });
    expect(lock).toBeUndefined();
    expectStoredShape(o);
    expect(head).toMatchObject({ status: 'PROMOTED', weight: 100, decision: { outcome: 'PROMOTED', trigger: 'VERDICT' } });
    expect(head!.lastChange).toMatchObject({ canary: 100, inSyncAt: expect.any(String) });
    // Every stage passed a check before the next weight was set, and each change was waited for.
    expect(weightsSet(events)).toEqual([10, 50, 100]);
    expect(events.flatMap((e) => (e.type === 'IN_SYNC' ? [e.canary] : []))).toEqual([10, 50, 100]);
    expect(checks(events).filter((c) => c.endsWith(':PASS'))).toEqual(['10:PASS', '50:PASS']);
    expect(checks(events).some((c) => c.endsWith(':FAIL'))).toBe(false);
    expect(head!.checkCount).toBe(events.filter((e) => e.type === 'CHECK').length);
    expect(events.at(-1)).toMatchObject({ type: 'DECISION', decision: { outcome: 'PROMOTED' } });
    expect(messages).toEqual([]);
  });

  it('(b) a canary answering 5 % 5xx is rolled back in one change, with exactly one incident naming error-rate', async () => {
    const o = await rollout('bad-canary', { ...HEALTHY, errorRate: 0.05 });
    const { run, weights, head, events, lock, incidents, messages } = o;

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RolledBack');
    expect(run.cause).toMatch(/error-rate/);
    expect(weights).toEqual({ baseline: 100, canary: 0 });
    // The rollback put the records back as preflight read them (UPSERT): same TTL and values.
    const records = await listRecords(aws.route53, o.zone, o.recordName);
    const bySetId = Object.fromEntries(records.map((r) => [r.SetIdentifier, [r.Weight, r.TTL, r.ResourceRecords]]));
    expect(bySetId).toEqual({ 'bad-canary-blue': [100, 60, [{ Value: '10.0.0.1' }]], 'bad-canary-green': [0, 60, [{ Value: '10.0.0.2' }]] });
    expect(lock).toBeUndefined();
    expectStoredShape(o);
    expect(head).toMatchObject({ status: 'ROLLED_BACK', weight: 0, decision: { outcome: 'ROLLED_BACK', trigger: 'VERDICT' } });
    expect(head!.decision!.failing.map((m) => m.name)).toContain('error-rate');
    expect(head!.lastChange).toMatchObject({ canary: 0, inSyncAt: expect.any(String) });
    // Rolled back at the first stage: the canary never got more than 10 %.
    expect(weightsSet(events)).toEqual([10, 0]);
    // The decision is recorded before the record's rollback weights, and the incident after.
    const order = events.map((e) => e.type).filter((t) => ['DECISION', 'WEIGHTS_SET', 'INCIDENT'].includes(t));
    expect(order).toEqual(['WEIGHTS_SET', 'DECISION', 'WEIGHTS_SET', 'INCIDENT']);

    expect(incidents).toHaveLength(1);
    const incident = incidents[0]!;
    expect(incident.type).toBe('canary.rollback');
    expect(incident.rolloutId).toBe('bad-canary');
    expect(incident.severity).toBe('critical');
    expect(incident.title).toMatch(/error-rate/);
    // The reason names the metric, the canary's rate and the threshold (whatever the judge's test).
    expect(incident.summary).toMatch(/error-rate\b.*\b5\.00 %.*\b1\.00 %/);
    expect(incident.decision.failing.map((m) => m.name)).toContain('error-rate');
    // The subject leads with the severity, so a mail rule or a pager filter can tell a page from a note.
    expect(incident.subject).toMatch(/^\[CRITICAL\] Canary rollback: bad-canary/);
    // The head keeps the delivery (SNS's message id), once.
    expect(head!.incident).toMatchObject({ dedupKey: incident.dedupKey, deliveries: [{ target: 'sns', ok: true, id: expect.any(String) }] });
    expect(events.filter((e) => e.type === 'INCIDENT')).toHaveLength(1);
    // The baseline stayed healthy: the recovery watch updated the same incident RECOVERED.
    expect(head!.recovery).toMatchObject({ outcome: 'RECOVERED' });
    expect(messages.filter((m) => m.type === 'canary.incident-update').map((m) => [m.eventType, m.dedupKey])).toEqual([['RECOVERED', incident.dedupKey]]);
  });

  it('(c) a canary whose metrics never arrive is rolled back after the inconclusive limit', async () => {
    const o = await rollout('silent-canary', { ...HEALTHY, silent: true }, {
      overrides: { inconclusiveLimit: 1 },
    });
    const { run, weights, head, events, lock, incidents } = o;

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RolledBack');
    expect(weights).toEqual({ baseline: 100, canary: 0 });
    expect(lock).toBeUndefined();
    expectStoredShape(o);
    expect(head?.status).toBe('ROLLED_BACK');
    // No data is not a pass: two inconclusive checks (limit 1) at the first stage, then back.
    expect(checks(events)).toEqual(['10:INCONCLUSIVE', '10:INCONCLUSIVE']);
    expect(head?.decision?.reasons.join(' ')).toMatch(/2 inconclusive check\(s\) at this stage, limit 1/);
    expect(weightsSet(events)).toEqual([10, 0]);
    expect(incidents.map((i) => i.rolloutId)).toEqual(['silent-canary']);
    expect(incidents[0]!.summary).toMatch(/no data is not a pass/);
  });

  describe('(d) a refused config moves nothing: FAILED with the error, record set unchanged, no record, no lock, no incident', () => {
    const refused = async (id: string, options: Parameters<typeof rollout>[2], error: string, cause: RegExp) => {
      const { run, weights, head, events, lock, messages } = await rollout(id, HEALTHY, options);
      expect(run.status).toBe('FAILED');
      expect(run.error).toBe(error);
      expect(run.cause).toMatch(cause);
      expect(run.states).toEqual(['Preflight', 'Refused']);
      // Refused before any segment ran: no step could have moved traffic.
      expect(run.children).toEqual([]);
      expect(run.invocations).toEqual({ PreflightFunctionArn: 1 });
      expect(weights).toEqual(options?.canaryRecord === false ? { baseline: 100 } : { baseline: 100, canary: 0 });
      expect(head).toBeUndefined();
      expect(events).toEqual([]);
      expect(lock).toBeUndefined();
      expect(messages).toEqual([]);
    };

    it('a stage list that does not end at 100', () =>
      refused('stages-short', { overrides: { stages: [10, 50] } }, 'ConfigValidationError', /stages\[1\]: the last stage must be 100/));

    it('a hosted zone outside the stack\'s allowed zones', async () => {
      await refused('other-zone', { zone: otherZoneId }, 'ConfigValidationError', /target\.hostedZoneId: \w+ is not one of the hosted zones/);
    });

    it('the canary record missing', () =>
      refused('no-canary', { canaryRecord: false }, 'PreflightFailed', /no weighted record with the canary 'no-canary-green' SetIdentifier/));
  });
});
