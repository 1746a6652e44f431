/**
 * One rollout per traffic target, on moto's DynamoDB (transactions and conditional writes, over
 * HTTP, on the table made from template.yaml's schema): two preflights racing for the same
 * record, a lock whose lease ended taken over by the next rollout (the dead one fenced out from
 * then on), a live lease respected, and release being idempotent.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { awsDeps, overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { parseRolloutConfig, targetKey } from '../../functions/core/config.ts';
import { FencedOutError, LockHeldError } from '../../functions/core/errors.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { leaseSeconds, preflight } from '../../functions/core/rollout-steps.ts';
import { motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';
import { createRolloutsTableFromTemplate } from '../helpers/rollouts-table.ts';
import {
  awsClients, createIncidentInbox, createWeightedPair, createZone, getItem, pointHandlersAt, serializeRequests, type Clients,
} from './support/aws.ts';
import { integrationConfig } from './support/configs.ts';
import { serviceNames } from './support/traffic-model.ts';

const skip = motoSkipReason();
const TABLE = 'canary-rollouts';
const NOW = new Date('2026-03-01T12:00:00.000Z');

describe.skipIf(skip !== null)('the traffic-target lock on moto DynamoDB', () => {
  const moto = useMoto();
  let aws: Clients;
  let zoneId: string;

  beforeAll(async () => {
    aws = awsClients(moto.endpoint);
    zoneId = await createZone(aws.route53, 'example.com');
    await createRolloutsTableFromTemplate(aws.dynamo, TABLE);
    const inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });
    // A fixed clock; no baseline health check (no metrics are published here). The store's requests
    // reach moto one at a time: moto does not isolate a transaction from a concurrent one (see
    // serializeRequests), DynamoDB does.
    const dynamo = serializeRequests(new DynamoDBClient(motoClientConfig(moto.endpoint)));
    overrideAwsDeps({ clock: { now: () => NOW }, rollouts: new DynamoRollouts(DynamoDBDocumentClient.from(dynamo), TABLE) });
  });
  afterAll(() => resetAwsDeps());

  async function target(id: string) {
    const recordName = `${id}.example.com`;
    await createWeightedPair(aws.route53, zoneId, recordName);
    const config = integrationConfig({ name: id, zoneId, recordName, names: serviceNames(id) }, { checkBaselineHealth: false });
    const parsed = parseRolloutConfig(config);
    return { config, key: targetKey(parsed.target), lockPk: `lock#${targetKey(parsed.target)}`, lease: leaseSeconds(parsed) };
  }

  const executionArn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`;
  const start = (config: unknown, name: string, at = NOW) =>
    preflight({ config, execution: { id: executionArn(name), name, startTime: at.toISOString() } }, { ...awsDeps(), clock: { now: () => at } });

  it('two preflights racing for one record: exactly one wins, the other is refused with LockHeld naming the winner', async () => {
    // Several rounds, each on a fresh record: a race that only sometimes goes wrong shows up here.
    for (let round = 0; round < 5; round++) {
      const { config, lockPk } = await target(`race-${round}`);
      const names = [`rollout-a-${round}`, `rollout-b-${round}`];
      const results = await Promise.allSettled(names.map((name) => start(config, name)));

      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [names[i]!] : []));
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
      expect(won, `round ${round}`).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const winner = won[0]!;
      expect(lost[0]).toBeInstanceOf(LockHeldError);
      const error = lost[0] as LockHeldError;
      expect(error.name).toBe('LockHeld');
      expect(error.holder).toBe(winner);
      expect(error.message).toContain(`locked by rollout ${winner}`);

      // The lock and the record carry the same fencing token: the winner's execution's.
      const token = `${executionArn(winner)}@${NOW.toISOString()}`;
      expect(await getItem(aws.doc, TABLE, lockPk)).toMatchObject({ owner: winner, token });
      // Only the winner wrote a rollout record (the lock, the head and the first event are one transaction).
      const loser = names.find((n) => n !== winner)!;
      expect(await getItem(aws.doc, TABLE, `rollout#${winner}`)).toMatchObject({ status: 'RUNNING', token, eventCount: 1, activePk: 'active' });
      expect(await getItem(aws.doc, TABLE, `rollout#${loser}`)).toBeUndefined();
      expect((await awsDeps().rollouts.events(loser)).events).toEqual([]);
    }
  });

  it('a lock whose lease ended (its holder died) is taken over by the next rollout, and the dead one is fenced out', async () => {
    const { config, key, lockPk, lease } = await target('stale');
    const { rollouts } = awsDeps();
    // A rollout that began long enough ago that its lease is over, and never came back.
    const longAgo = new Date(NOW.getTime() - (lease + 60) * 1000);
    await start(config, 'dead-rollout', longAgo);
    const dead = await rollouts.get('dead-rollout') as RolloutRecord;
    expect(await getItem(aws.doc, TABLE, lockPk)).toMatchObject({ owner: 'dead-rollout' });

    await start(config, 'successor');

    const lock = await getItem(aws.doc, TABLE, lockPk);
    expect(lock).toMatchObject({ owner: 'successor', token: `${executionArn('successor')}@${NOW.toISOString()}` });
    expect(Date.parse(String(lock?.expiresAt))).toBe(NOW.getTime() + lease * 1000);
    // Were the dead rollout's execution to wake up, its next step moves nothing.
    const fenced = rollouts.fence('dead-rollout', { lockKey: key, token: dead.token!, leaseSeconds: lease, now: NOW });
    await expect(fenced).rejects.toThrow(FencedOutError);
    await expect(fenced).rejects.toThrow(/the traffic target's lock is held by successor/);
  });

  it('a lock still in its lease is not taken over', async () => {
    const { config, key, lockPk, lease } = await target('live');
    const { rollouts } = awsDeps();
    // Taken a minute ago: still held.
    expect(await rollouts.acquireLock(key, 'live-holder', lease, new Date(NOW.getTime() - 60_000))).toEqual({ started: true });
    await expect(start(config, 'intruder')).rejects.toMatchObject({ name: 'LockHeld', holder: 'live-holder' });
    expect(await getItem(aws.doc, TABLE, lockPk)).toMatchObject({ owner: 'live-holder' });
    expect(await getItem(aws.doc, TABLE, 'rollout#intruder')).toBeUndefined();
  });

  it('release is idempotent, and never frees a lock someone else holds', async () => {
    const { key, lockPk } = await target('release');
    const { rollouts } = awsDeps();
    expect(await rollouts.acquireLock(key, 'owner-1', 600, NOW)).toEqual({ started: true });

    await rollouts.releaseLock(key, 'someone-else');
    expect((await getItem(aws.doc, TABLE, lockPk))?.owner).toBe('owner-1');
    expect(await rollouts.lockHolder(key)).toEqual({ owner: 'owner-1', token: 'owner-1', expiresAt: new Date(NOW.getTime() + 600_000).toISOString() });

    await rollouts.releaseLock(key, 'owner-1');
    expect(await getItem(aws.doc, TABLE, lockPk)).toBeUndefined();
    expect(await rollouts.lockHolder(key)).toBeNull();
    await expect(rollouts.releaseLock(key, 'owner-1')).resolves.toBeUndefined();
    await expect(rollouts.releaseLock(key, 'owner-1')).resolves.toBeUndefined();

    // Free again: the next owner takes it at once.
    expect(await rollouts.acquireLock(key, 'owner-2', 600, NOW)).toEqual({ started: true });
    expect(await rollouts.acquireLock(key, 'owner-2', 600, NOW)).toEqual({ started: true }); // renewal
    expect(await rollouts.acquireLock(key, 'owner-3', 600, NOW)).toMatchObject({ started: false, holder: 'owner-2' });
  });
});
