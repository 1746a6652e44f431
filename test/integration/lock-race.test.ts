/**
 * One rollout per traffic target, on moto's DynamoDB (conditional writes, over HTTP): two
 * preflights racing for the same record, a stale lock taken over, and release being idempotent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsDeps, overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { parseRolloutConfig, targetKey } from '../../functions/core/config.ts';
import { LockHeldError } from '../../functions/core/errors.ts';
import { leaseSeconds, preflight } from '../../functions/core/rollout-steps.ts';
import { motoSkipReason, useMoto } from '../helpers/moto.ts';
import {
  awsClients, createIncidentInbox, createRolloutsTable, createWeightedPair, createZone, getItem, pointHandlersAt, type Clients,
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
    await createRolloutsTable(aws.dynamo, TABLE);
    const inbox = await createIncidentInbox(moto.endpoint, aws.sns, 'canary-incidents');
    pointHandlersAt(moto.endpoint, { tableName: TABLE, topicArn: inbox.topicArn, allowedZones: [zoneId] });
    // A fixed clock; no baseline health check (no metrics are published here).
    overrideAwsDeps({ clock: { now: () => NOW } });
  });
  afterAll(() => resetAwsDeps());

  async function target(id: string) {
    const recordName = `${id}.example.com`;
    await createWeightedPair(aws.route53, zoneId, recordName);
    const config = integrationConfig({ name: id, zoneId, recordName, names: serviceNames(id) }, { checkBaselineHealth: false });
    const key = targetKey(parseRolloutConfig(config).target);
    return { config, key, lockPk: `lock#${key}` };
  }

  const start = (config: unknown, name: string) =>
    preflight({ config, execution: { id: `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`, name } }, awsDeps());

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

      const lock = await getItem(aws.doc, TABLE, lockPk);
      expect(lock?.owner).toBe(winner);
      // Only the winner wrote a rollout record.
      const loser = names.find((n) => n !== winner)!;
      expect(await getItem(aws.doc, TABLE, `rollout#${winner}`)).toMatchObject({ status: 'RUNNING' });
      expect(await getItem(aws.doc, TABLE, `rollout#${loser}`)).toBeUndefined();
    }
  });

  it('a lock whose lease ended (its holder died) is taken over by the next rollout', async () => {
    const { config, key, lockPk } = await target('stale');
    const { locks } = awsDeps();
    const lease = leaseSeconds(parseRolloutConfig(config));
    // Taken long enough ago that its lease is over.
    const longAgo = new Date(NOW.getTime() - (lease + 60) * 1000);
    expect(await locks.acquire(key, 'dead-rollout', lease, longAgo)).toEqual({ acquired: true });
    expect((await getItem(aws.doc, TABLE, lockPk))?.owner).toBe('dead-rollout');

    await start(config, 'successor');

    const lock = await getItem(aws.doc, TABLE, lockPk);
    expect(lock?.owner).toBe('successor');
    expect(Date.parse(String(lock?.expiresAt))).toBe(NOW.getTime() + lease * 1000);
  });

  it('a lock still in its lease is not taken over', async () => {
    const { config, key } = await target('live');
    const { locks } = awsDeps();
    const lease = leaseSeconds(parseRolloutConfig(config));
    // Taken a minute ago: still held.
    await locks.acquire(key, 'live-holder', lease, new Date(NOW.getTime() - 60_000));
    await expect(start(config, 'intruder')).rejects.toMatchObject({ name: 'LockHeld', holder: 'live-holder' });
  });

  it('release is idempotent, and never frees a lock someone else holds', async () => {
    const { key, lockPk } = await target('release');
    const { locks } = awsDeps();
    expect(await locks.acquire(key, 'owner-1', 600, NOW)).toEqual({ acquired: true });

    await locks.release(key, 'someone-else');
    expect((await getItem(aws.doc, TABLE, lockPk))?.owner).toBe('owner-1');

    await locks.release(key, 'owner-1');
    expect(await getItem(aws.doc, TABLE, lockPk)).toBeUndefined();
    await expect(locks.release(key, 'owner-1')).resolves.toBeUndefined();
    await expect(locks.release(key, 'owner-1')).resolves.toBeUndefined();

    // Free again: the next rollout takes it at once.
    expect(await locks.acquire(key, 'owner-2', 600, NOW)).toEqual({ acquired: true });
    expect(await locks.acquire(key, 'owner-2', 600, NOW)).toEqual({ acquired: true }); // renewal
    expect(await locks.acquire(key, 'owner-3', 600, NOW)).toMatchObject({ acquired: false, holder: 'owner-2' });
  });
});
