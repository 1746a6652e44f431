/**
 * Twenty rollouts at once on twenty records of one zone (moto), with Route 53 and CloudWatch
 * throttling injected under the SDK clients and the clients' own retries off: the workflow's
 * Retry policies must absorb every throttle, and each rollout must still end in its right state
 * (healthy canaries promoted, bad ones rolled back), with its lock released and one incident per
 * rollback.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { Route53Client } from '@aws-sdk/client-route-53';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchMetrics } from '../../functions/adapters/cloudwatch-metrics.ts';
import { Route53Traffic } from '../../functions/adapters/route53-traffic.ts';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { motoSkipReason, useMoto } from '../helpers/moto.ts';
import {
  awsClients, BASELINE_ID, CANARY_ID, createIncidentInbox, createRolloutsTable, createWeightedPair, createZone,
  drainIncidents, FAKE_CREDENTIALS, getItem, opened, pointHandlersAt, readWeights, REGION, type Clients, type IncidentInbox,
} from './support/aws.ts';
import { integrationConfig } from './support/configs.ts';
import { contextClock, runRollout, SimClock, simStart } from './support/rollout.ts';
import { injectThrottling, type ThrottleStats } from './support/throttle.ts';
import { HEALTHY, serviceNames, TrafficModel, type VariantBehaviour } from './support/traffic-model.ts';

const skip = motoSkipReason();
const TABLE = 'canary-rollouts';
const ROLLOUTS = 20;
const THROTTLE_RATE = 0.2;

type Kind = 'healthy' | 'errors' | 'slow';
const BEHAVIOUR: Record<Kind, VariantBehaviour> = {
  healthy: HEALTHY,
  // 5 % 5xx: the critical error-rate metric fails.
  errors: { ...HEALTHY, errorRate: 0.05 },
  // Four times the baseline's response time: latency fails against the baseline (+20 % allowed).
  slow: { ...HEALTHY, latencySeconds: 0.48 },
};
const kindOf = (i: number): Kind => (i % 4 === 1 ? 'errors' : i % 4 === 3 ? 'slow' : 'healthy');

describe.skipIf(skip !== null)('20 concurrent rollouts under throttling (moto)', () => {
  const moto = useMoto();
  let aws: Clients;
  let zoneId: string;
  let inbox: IncidentInbox;
  const stats: ThrottleStats = { calls: 0, throttled: 0, byCommand: {} };

  beforeAll(async () => {
    aws = awsClients(moto.endpoint);
    zoneId = await createZone(aws.route53, 'example.com');
    await createRolloutsTable(aws.dynamo, TABLE);
    inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });

    // The handlers' Route 53 and CloudWatch clients: no SDK retries, throttling injected.
    const common = { region: REGION, endpoint: moto.endpoint, credentials: FAKE_CREDENTIALS, maxAttempts: 1 };
    const route53 = new Route53Client(common);
    const cloudwatch = new CloudWatchClient(common);
    injectThrottling(route53, 'Route 53', { rate: THROTTLE_RATE }, stats);
    injectThrottling(cloudwatch, 'CloudWatch', { rate: THROTTLE_RATE }, stats);
    overrideAwsDeps({ clock: contextClock, traffic: new Route53Traffic(route53), metrics: new CloudWatchMetrics(cloudwatch) });
  });
  afterAll(() => resetAwsDeps());

  it('every rollout ends in its right state; the Retry policies absorb the throttles', { timeout: 60_000 }, async () => {
    const started = Date.now();
    const start = simStart(3);
    const results = await Promise.all(Array.from({ length: ROLLOUTS }, async (_, i) => {
      const id = `r${String(i).padStart(2, '0')}-${kindOf(i)}`;
      const recordName = `${id}.example.com`;
      await createWeightedPair(aws.route53, zoneId, recordName);
      const names = serviceNames(id);
      const model = new TrafficModel({
        cloudwatch: aws.cloudwatch, route53: aws.route53, zoneId, recordName, names, baseline: HEALTHY, canary: BEHAVIOUR[kindOf(i)], start,
      });
      await model.start();
      const run = await runRollout({
        config: integrationConfig({ name: id, zoneId, recordName, names }),
        executionName: id, clock: new SimClock(start), beforeTask: (at) => model.advanceTo(at),
      });
      return { id, kind: kindOf(i), recordName, run };
    }));
    const seconds = (Date.now() - started) / 1000;

    const retries = results.reduce((n, r) => n + r.run.retries, 0);
    console.log(`[many-rollouts] ${ROLLOUTS} rollouts in ${seconds.toFixed(1)} s: ${stats.throttled} throttles injected in ${stats.calls} Route 53/CloudWatch calls; `
      + `the workflow retried ${retries} task(s). Throttles by call: ${JSON.stringify(stats.byCommand)}`);

    const incidents = opened(await drainIncidents(moto.endpoint, inbox));
    for (const { id, kind, recordName, run } of results) {
      const record = await getItem(aws.doc, TABLE, `rollout#${id}`) as RolloutRecord | undefined;
      const lock = await getItem(aws.doc, TABLE, `lock#${zoneId}/${recordName}/A`);
      const weights = await readWeights(aws.route53, zoneId, recordName);
      const context = `${id}: ${run.status} ${run.error ?? ''} ${run.cause ?? ''}`;
      if (kind === 'healthy') {
        expect(run.status, context).toBe('SUCCEEDED');
        expect(record?.status, context).toBe('PROMOTED');
        expect(weights, context).toEqual({ [BASELINE_ID]: 0, [CANARY_ID]: 100 });
        expect(incidents.filter((inc) => inc.rolloutId === id), context).toHaveLength(0);
      } else {
        expect(run.error, context).toBe('RolledBack');
        expect(record?.status, context).toBe('ROLLED_BACK');
        expect(weights, context).toEqual({ [BASELINE_ID]: 100, [CANARY_ID]: 0 });
        const own = incidents.filter((inc) => inc.rolloutId === id);
        expect(own, context).toHaveLength(1);
        expect(own[0]!.decision.failing.map((m) => m.name), context).toContain(kind === 'errors' ? 'error-rate' : 'latency-p99');
      }
      // Never a rollback caused by our own failure: the decision is the judge's.
      expect(record?.decision?.reasons.join(' '), context).not.toMatch(/the workflow failed/);
      expect(lock, context).toBeUndefined();
    }
    expect(incidents).toHaveLength(results.filter((r) => r.kind !== 'healthy').length);
    // The test would prove nothing if no throttle had been injected or retried.
    expect(stats.throttled).toBeGreaterThan(20);
    expect(retries).toBe(stats.throttled);
  });
});
