/**
 * The whole rollout on moto_server: the deployed state machine file run by aws-local-stepfunctions,
 * the real Lambda handlers, and the real SDK clients over HTTP to Route 53, CloudWatch, DynamoDB
 * and SNS (→ SQS). A service model publishes metrics that follow the weights Route 53 holds, on a
 * simulated timeline. Every outcome is read back from moto: the record set's weights, the
 * rollout item and lock in DynamoDB, the incident in the SQS queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import type { RolloutConfigInput } from '../../functions/core/config.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { motoSkipReason, useMoto } from '../helpers/moto.ts';
import {
  awsClients, BASELINE_ID, CANARY_ID, createIncidentInbox, createRolloutsTable, createWeightedPair, createZone,
  drainIncidents, getItem, opened, pointHandlersAt, readWeights, type Clients, type IncidentInbox, type PublishedIncident,
} from './support/aws.ts';
import { integrationConfig } from './support/configs.ts';
import { contextClock, runRollout, SimClock, simStart, type RolloutRun } from './support/rollout.ts';
import { HEALTHY, serviceNames, TrafficModel, type VariantBehaviour } from './support/traffic-model.ts';

const skip = motoSkipReason();
const TABLE = 'canary-rollouts';

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
    await createRolloutsTable(aws.dynamo, TABLE);
    inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    // Only example.com is the stack's to change (the template's AllowedHostedZoneIds).
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });
    overrideAwsDeps({ clock: contextClock });
  });
  afterAll(() => resetAwsDeps());

  interface Outcome {
    run: RolloutRun;
    weights: Record<string, number>;
    record: RolloutRecord | undefined;
    lock: Record<string, unknown> | undefined;
    incidents: PublishedIncident[];
    model: TrafficModel;
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
    return {
      run,
      model,
      weights: await readWeights(aws.route53, zone, recordName),
      record: await getItem(aws.doc, TABLE, `rollout#${id}`) as RolloutRecord | undefined,
      lock: await getItem(aws.doc, TABLE, `lock#${zone}/${recordName}/A`),
      incidents: opened(await drainIncidents(moto.endpoint, inbox)),
    };
  }

  /** The checks that count, after each stage's bake (those during the bake only watch for failures). */
  const checks = (record: RolloutRecord | undefined) =>
    (record?.events ?? []).flatMap((e) => (e.type === 'CHECK' && !e.duringBake ? [`${e.weight}:${e.verdict}`] : []));

  it('(a) a healthy canary is promoted: canary 100 / baseline 0, lock released, no incident', async () => {
    const { run, weights, record, lock, incidents } = await rollout('healthy', HEALTHY);

    expect(run.status, `${run.error}: ${run.cause}`).toBe('SUCCEEDED');
    expect(weights).toEqual({ [BASELINE_ID]: 0, [CANARY_ID]: 100 });
    expect(lock).toBeUndefined();
    expect(record?.status).toBe('PROMOTED');
    expect(record?.weight).toBe(100);
    expect(record?.decision?.outcome).toBe('PROMOTED');
    // Every stage passed a check before the next weight was set.
    const weightsSet = record!.events.flatMap((e) => (e.type === 'WEIGHTS_SET' ? [e.canary] : []));
    expect(weightsSet).toEqual([10, 50, 100]);
    expect(checks(record).filter((c) => c.endsWith(':PASS'))).toEqual(['10:PASS', '50:PASS']);
    expect(checks(record).some((c) => c.endsWith(':FAIL'))).toBe(false);
    expect(incidents).toEqual([]);
  });

  it('(b) a canary answering 5 % 5xx is rolled back in one change, with exactly one incident naming error-rate', async () => {
    const { run, weights, record, lock, incidents } = await rollout('bad-canary', { ...HEALTHY, errorRate: 0.05 });

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RolledBack');
    expect(run.cause).toMatch(/error-rate/);
    expect(weights).toEqual({ [BASELINE_ID]: 100, [CANARY_ID]: 0 });
    expect(lock).toBeUndefined();
    expect(record?.status).toBe('ROLLED_BACK');
    expect(record?.weight).toBe(0);
    expect(record?.incidentOpened).toBe(true);
    expect(record?.decision?.failing.map((m) => m.name)).toContain('error-rate');
    // Rolled back at the first stage: the canary never got more than 10 %.
    const weightsSet = record!.events.flatMap((e) => (e.type === 'WEIGHTS_SET' ? [e.canary] : []));
    expect(weightsSet).toEqual([10, 0]);

    expect(incidents).toHaveLength(1);
    const incident = incidents[0]!;
    expect(incident.type).toBe('canary.rollback');
    expect(incident.rolloutId).toBe('bad-canary');
    expect(incident.severity).toBe('critical');
    expect(incident.title).toMatch(/error-rate/);
    // The reason names the metric, the canary's rate and the threshold (whatever the judge's test).
    expect(incident.summary).toMatch(/error-rate\b.*\b5\.00 % is above the maximum 1\.00 %/);
    expect(incident.decision.failing.map((m) => m.name)).toContain('error-rate');
    expect(incident.subject).toMatch(/^Canary rollback: bad-canary/);
  });

  it('(c) a canary whose metrics never arrive is rolled back after the inconclusive limit', async () => {
    const { run, weights, record, lock, incidents } = await rollout('silent-canary', { ...HEALTHY, silent: true }, {
      overrides: { inconclusiveLimit: 1 },
    });

    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('RolledBack');
    expect(weights).toEqual({ [BASELINE_ID]: 100, [CANARY_ID]: 0 });
    expect(lock).toBeUndefined();
    expect(record?.status).toBe('ROLLED_BACK');
    // No data is not a pass: two inconclusive checks (limit 1) at the first stage, then back.
    expect(checks(record)).toEqual(['10:INCONCLUSIVE', '10:INCONCLUSIVE']);
    expect(record?.decision?.reasons.join(' ')).toMatch(/2 inconclusive check\(s\) at this stage, limit 1/);
    expect(incidents.map((i) => i.rolloutId)).toEqual(['silent-canary']);
    expect(incidents[0]!.summary).toMatch(/no data is not a pass/);
  });

  describe('(d) a refused config moves nothing: FAILED with the error, record set unchanged, no lock, no incident', () => {
    const refused = async (id: string, options: Parameters<typeof rollout>[2], error: string, cause: RegExp) => {
      const { run, weights, record, lock, incidents } = await rollout(id, HEALTHY, options);
      expect(run.status).toBe('FAILED');
      expect(run.error).toBe(error);
      expect(run.cause).toMatch(cause);
      expect(run.states).toEqual(['Preflight', 'Refused']);
      expect(weights).toEqual(options?.canaryRecord === false ? { [BASELINE_ID]: 100 } : { [BASELINE_ID]: 100, [CANARY_ID]: 0 });
      expect(record).toBeUndefined();
      expect(lock).toBeUndefined();
      expect(incidents).toEqual([]);
    };

    it('a stage list that does not end at 100', () =>
      refused('stages-short', { overrides: { stages: [10, 50] } }, 'ConfigValidationError', /stages\[1\]: the last stage must be 100/));

    it('a hosted zone outside the stack\'s allowed zones', async () => {
      await refused('other-zone', { zone: otherZoneId }, 'ConfigValidationError', /target\.hostedZoneId: \w+ is not one of the hosted zones/);
    });

    it('the canary record missing', () =>
      refused('no-canary', { canaryRecord: false }, 'PreflightFailed', /no weighted record with the canary 'green' SetIdentifier/));
  });
});
