/**
 * Twenty rollouts at once on twenty records of one zone (moto), each on its own runner and
 * simulated clock, with Route 53 and CloudWatch throttling injected under the SDK clients and the
 * clients' own retries off: every throttle is either retried by the workflow's Retry policies or
 * absorbed by the step that met it (a throttled preflight or shift tries again later, a throttled change poll
 * polls later, a throttled drift read-back backs off, a throttled metrics read checks again
 * shortly: none of them rolls back), and
 * each rollout must still end in its right state (healthy canaries promoted, bad ones rolled
 * back), with its lock released and one incident per rollback.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchMetrics } from '../../functions/adapters/cloudwatch-metrics.ts';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { Route53Traffic } from '../../functions/adapters/route53-traffic.ts';
import { overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import type { Log, RolloutStore } from '../../functions/core/ports.ts';
import type { RolloutEvent, RolloutRecord } from '../../functions/core/rollout-record.ts';
import { motoSkipReason, useMoto } from '../helpers/moto.ts';
import { createRolloutsTableFromTemplate } from '../helpers/rollouts-table.ts';
import {
  awsClients, createIncidentInbox, createWeightedPair, createZone,
  drainIncidents, eventItems, FAKE_CREDENTIALS, getItem, opened, pointHandlersAt, readWeights, REGION, type Clients, type IncidentInbox,
} from './support/aws.ts';
import { integrationConfig } from './support/configs.ts';
import { contextClock, rolloutContext, runRollout, SimClock, simStart } from './support/rollout.ts';
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

/** What the steps log when they absorb a throttle themselves instead of failing for a retry. */
const ABSORBED = [
  'preflight throttled; trying again later', 'shift throttled; trying again later', 'change poll throttled; polling later',
  'drift read-back throttled; backing off', 'metrics read throttled; checking again shortly',
];

/** A silent log that counts the throttles the steps absorbed, by message. */
function absorbedCounter(): Log & { absorbed: Record<string, number> } {
  const absorbed: Record<string, number> = {};
  return {
    absorbed,
    info: () => undefined,
    error: () => undefined,
    warn: (message: string) => {
      if (ABSORBED.includes(message)) absorbed[message] = (absorbed[message] ?? 0) + 1;
    },
    appendKeys: () => undefined,
  };
}

describe.skipIf(skip !== null)('20 concurrent rollouts under throttling (moto)', () => {
  const moto = useMoto();
  let aws: Clients;
  let zoneId: string;
  let inbox: IncidentInbox;
  const stats: ThrottleStats = { calls: 0, throttled: 0, byCommand: {} };
  const log = absorbedCounter();

  beforeAll(async () => {
    aws = awsClients(moto.endpoint);
    zoneId = await createZone(aws.route53, 'example.com');
    inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });

    // The handlers' Route 53 and CloudWatch clients: no SDK retries, throttling injected.
    const common = { region: REGION, endpoint: moto.endpoint, credentials: FAKE_CREDENTIALS, maxAttempts: 1 };
    const route53 = new Route53Client(common);
    const cloudwatch = new CloudWatchClient(common);
    injectThrottling(route53, 'Route 53', { rate: THROTTLE_RATE }, stats);
    injectThrottling(cloudwatch, 'CloudWatch', { rate: THROTTLE_RATE }, stats);
    overrideAwsDeps({ clock: contextClock, log, rollouts: storeOfTheRunningRollout(), traffic: new Route53Traffic(route53), metrics: new CloudWatchMetrics(cloudwatch) });
  });
  afterAll(() => resetAwsDeps());

  /**
   * Each rollout keeps its records in its own table, made from template.yaml's schema (the items,
   * keys and indexes are those of the stack's one table). moto's DynamoDB is the reason: it copies
   * the whole table for every TransactWriteItems (measured here: 57 ms at 100 items, 656 ms at
   * 1,000) and answers HTTP 500 when another request changes the table during the copy, where
   * DynamoDB isolates transactions. On one shared table twenty rollouts' ~500 transactions took
   * minutes in moto, or failed; on their own tables they run at once.
   */
  const tables = new Map<string, { name: string; store: DynamoRollouts }>();
  async function tableFor(id: string): Promise<string> {
    const name = `${TABLE}-${id}`;
    await createRolloutsTableFromTemplate(aws.dynamo, name);
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: REGION, endpoint: moto.endpoint, credentials: FAKE_CREDENTIALS, maxAttempts: 3 }), {
      marshallOptions: { removeUndefinedValues: true },
    });
    tables.set(id, { name, store: new DynamoRollouts(doc, name) });
    return name;
  }
  /** The rollout store the handlers get: the running rollout's (found through its context, as its clock is). */
  function storeOfTheRunningRollout(): RolloutStore {
    return new Proxy({} as RolloutStore, {
      get: (_target, method: string) => {
        const name = rolloutContext.getStore()?.name;
        const store = name === undefined ? undefined : tables.get(name)?.store;
        if (!store) throw new Error(`no rollout table for ${name ?? 'a call outside a rollout'}`);
        return (store[method as keyof RolloutStore] as (...args: unknown[]) => unknown).bind(store);
      },
    });
  }

  it('every rollout ends in its right state; the Retry policies absorb the throttles', { timeout: 300_000 }, async () => {
    const started = Date.now();
    const start = simStart(3);
    const results = await Promise.all(Array.from({ length: ROLLOUTS }, async (_, i) => {
      const id = `r${String(i).padStart(2, '0')}-${kindOf(i)}`;
      const recordName = `${id}.example.com`;
      const table = await tableFor(id);
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
      return { id, kind: kindOf(i), recordName, table, run };
    }));
    const seconds = (Date.now() - started) / 1000;

    const retries = results.reduce((n, r) => n + r.run.totalRetries, 0);
    const absorbed = Object.values(log.absorbed).reduce((n, k) => n + k, 0);
    const errors: Record<string, number> = {};
    for (const r of results) for (const [key, n] of Object.entries(r.run.errors)) errors[key] = (errors[key] ?? 0) + n;
    const messages = Object.assign({}, ...results.map((r) => r.run.errorMessages)) as Record<string, string>;
    const notThrottles = Object.keys(errors).filter((key) => !key.endsWith(' Throttled'));
    const simulatedHours = Math.max(...results.map((r) => (Date.parse(r.run.stopDate!) - start.getTime()) / 3_600_000));
    console.log(`[many-rollouts] ${ROLLOUTS} rollouts (up to ${simulatedHours.toFixed(1)} simulated hours each) in ${seconds.toFixed(1)} s: `
      + `${stats.throttled} throttles injected in ${stats.calls} Route 53/CloudWatch calls; the workflow retried ${retries} task(s), `
      + `the steps absorbed ${absorbed} (${JSON.stringify(log.absorbed)}). Throttles by call: ${JSON.stringify(stats.byCommand)}. `
      + `Errors the tasks threw: ${JSON.stringify(errors)}`);
    if (notThrottles.length) console.log(`[many-rollouts] errors other than throttling: ${JSON.stringify(Object.fromEntries(notThrottles.map((k) => [k, messages[k]])), null, 1)}`);

    const incidents = opened(await drainIncidents(moto.endpoint, inbox));
    for (const { id, kind, recordName, table, run } of results) {
      const record = await getItem(aws.doc, table, `rollout#${id}`) as RolloutRecord | undefined;
      const lock = await getItem(aws.doc, table, `lock#${zoneId}/${recordName}/A`);
      const weights = await readWeights(aws.route53, zoneId, recordName);
      const events = await eventItems(aws.doc, table, id) as RolloutEvent[];
      const weightsSet = events.flatMap((e) => (e.type === 'WEIGHTS_SET' ? [e.canary] : []));
      const context = `${id}: ${run.status} ${run.error ?? ''} ${run.cause ?? ''}`;
      expect(record?.eventCount, context).toBe(events.length);
      if (kind === 'healthy') {
        expect(run.status, context).toBe('SUCCEEDED');
        expect(record?.status, context).toBe('PROMOTED');
        expect(weights, context).toEqual({ baseline: 0, canary: 100 });
        // Every stage in order, each once: a retried shift re-shifted in place, never twice forward.
        expect(weightsSet, context).toEqual([10, 50, 100]);
        expect(incidents.filter((inc) => inc.rolloutId === id), context).toHaveLength(0);
      } else {
        expect(run.error, context).toBe('RolledBack');
        expect(record?.status, context).toBe('ROLLED_BACK');
        expect(weights, context).toEqual({ baseline: 100, canary: 0 });
        expect(weightsSet.at(-1), context).toBe(0);
        const own = incidents.filter((inc) => inc.rolloutId === id);
        expect(own, context).toHaveLength(1);
        expect(own[0]!.decision.failing.map((m) => m.name), context).toContain(kind === 'errors' ? 'error-rate' : 'latency-p99');
      }
      // Never a rollback caused by our own failure (nor a drift of our own retries): the decision is the judge's.
      expect(record?.decision?.trigger, context).toBe('VERDICT');
      expect(record?.decision?.reasons.join(' '), context).not.toMatch(/the workflow failed/);
      expect(events.filter((e) => e.type === 'DRIFT'), context).toEqual([]);
      expect(lock, context).toBeUndefined();
    }
    expect(incidents).toHaveLength(results.filter((r) => r.kind !== 'healthy').length);
    // The test would prove nothing if no throttle had been injected, retried or absorbed.
    expect(stats.throttled).toBeGreaterThan(20);
    expect(retries).toBeGreaterThan(0);
    expect(absorbed).toBeGreaterThan(0);
    // Each throttle was met exactly once: retried by the workflow, or absorbed by its step; and
    // every retry was a throttle's (no step failed for any other reason).
    expect(notThrottles).toEqual([]);
    expect(retries + absorbed).toBe(stats.throttled);
  });
});
