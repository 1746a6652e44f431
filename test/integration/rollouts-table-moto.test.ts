/**
 * DynamoRollouts on the rollouts table exactly as template.yaml declares it (moto_server, real SDK
 * clients over HTTP): the indexes it queries are the deployed ones, with their projections. What
 * the reconciler sweeps (the sparse KEYS_ONLY byActive index) and what `canary watch` follows (the
 * byRollout index of events, after a cursor) are read back through them.
 */
import { describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { motoSkipReason, useMoto } from '../helpers/moto.ts';
import { createRolloutsTableFromTemplate } from '../helpers/rollouts-table.ts';
import { awsClients } from './support/aws.ts';

const skip = motoSkipReason();

describe.skipIf(skip !== null)('DynamoRollouts on the template\'s table (moto)', () => {
  const moto = useMoto();
  let table = 0;

  async function store(): Promise<DynamoRollouts> {
    const clients = awsClients(moto.endpoint);
    const name = `rollouts-${++table}`;
    await createRolloutsTableFromTemplate(clients.dynamo, name);
    return new DynamoRollouts(clients.doc, name);
  }

  const head = (id: string, startedAt: string): RolloutRecord => ({
    rolloutId: id, name: 'checkout-api', targetKey: `Z1/${id}.example.com/A`, status: 'RUNNING', token: `${id}@${startedAt}`,
    startedAt, updatedAt: startedAt, stageIndex: 0, weight: 0, checkCount: 0,
  });
  const begin = async (rollouts: DynamoRollouts, record: RolloutRecord) => {
    const now = new Date(record.startedAt);
    expect(await rollouts.begin(record, [{ type: 'STARTED', at: record.startedAt, stages: [10, 100] }], { key: record.targetKey, leaseSeconds: 600, now }))
      .toEqual({ started: true });
  };

  it('listActive finds every running or rolling-back rollout, and every closed one still holding its lock, through the sparse byActive index, oldest first', async () => {
    // Prepare: two running, one rolling back, one promoted with its lock released, one promoted
    // whose lock release has not happened (a step closed it and then failed).
    const rollouts = await store();
    await begin(rollouts, head('r-old', '2026-01-01T10:00:00.000Z'));
    await begin(rollouts, head('r-new', '2026-01-01T12:00:00.000Z'));
    await begin(rollouts, head('r-back', '2026-01-01T11:00:00.000Z'));
    await begin(rollouts, head('r-done', '2026-01-01T09:00:00.000Z'));
    await begin(rollouts, head('r-leak', '2026-01-01T08:00:00.000Z'));
    await rollouts.update('r-back', { status: 'ROLLING_BACK', weight: 0 });
    await rollouts.update('r-done', { status: 'PROMOTED', weight: 100 });
    await rollouts.releaseLock(head('r-done', '2026-01-01T09:00:00.000Z').targetKey, 'r-done');
    await rollouts.update('r-leak', { status: 'PROMOTED', weight: 100 });

    // Act
    const active = await rollouts.listActive();

    // Assess
    expect(active.map((r) => [r.rolloutId, r.status])).toEqual([['r-leak', 'PROMOTED'], ['r-old', 'RUNNING'], ['r-back', 'ROLLING_BACK'], ['r-new', 'RUNNING']]);
    expect(active[1]).toEqual({ ...head('r-old', '2026-01-01T10:00:00.000Z'), eventCount: 1 });
  });

  it('a rollout leaves byActive once closed and its lock released (not before), and listActive is empty on a table without active rollouts', async () => {
    const rollouts = await store();
    expect(await rollouts.listActive()).toEqual([]);
    const record = head('r-1', '2026-01-01T10:00:00.000Z');
    await begin(rollouts, record);
    expect((await rollouts.listActive()).map((r) => r.rolloutId)).toEqual(['r-1']);

    // Released while still running (it cannot happen in the steps, but the index must not lose it).
    await rollouts.releaseLock(record.targetKey, 'r-1');
    expect((await rollouts.listActive()).map((r) => r.rolloutId)).toEqual(['r-1']);
    await rollouts.update('r-1', { status: 'ROLLED_BACK', weight: 0 });
    expect((await rollouts.listActive()).map((r) => r.rolloutId)).toEqual(['r-1']);
    await rollouts.releaseLock(record.targetKey, 'r-1');

    expect(await rollouts.listActive()).toEqual([]);
  });

  it('reads the events in order through byRollout, and only the new ones after a cursor', async () => {
    // Prepare
    const rollouts = await store();
    const record = head('r-1', '2026-01-01T10:00:00.000Z');
    await begin(rollouts, record);
    await rollouts.update('r-1', { weight: 10 }, [
      { type: 'WEIGHTS_SET', at: '2026-01-01T10:00:01.000Z', canary: 10, baseline: 90, changeId: 'C1', stageIndex: 0 },
      { type: 'IN_SYNC', at: '2026-01-01T10:00:31.000Z', changeId: 'C1', canary: 10 },
    ], { token: record.token });

    // Act
    const first = await rollouts.events('r-1');
    const none = await rollouts.events('r-1', first.cursor);
    await rollouts.requestAbort('r-1', 'customers report 502s', new Date('2026-01-01T10:05:00.000Z'));
    const next = await rollouts.events('r-1', first.cursor);

    // Assess
    expect(first.events.map((e) => e.type)).toEqual(['STARTED', 'WEIGHTS_SET', 'IN_SYNC']);
    expect(none).toEqual({ events: [], cursor: first.cursor });
    expect(next.events).toEqual([{ type: 'ABORT_REQUESTED', at: '2026-01-01T10:05:00.000Z', reason: 'customers report 502s' }]);
    const history = (await rollouts.history('r-1'))!;
    expect(history.events.map((e) => e.type)).toEqual(['STARTED', 'WEIGHTS_SET', 'IN_SYNC', 'ABORT_REQUESTED']);
    expect(history).toMatchObject({ weight: 10, eventCount: 4, abortRequested: { reason: 'customers report 502s' } });
    expect(await rollouts.get('r-1')).not.toHaveProperty('events');
  });

  it('claims a status update once: the same number or a lower one is refused, a higher one is claimed', async () => {
    // Prepare
    const rollouts = await store();
    await begin(rollouts, head('r-2', '2026-01-01T10:00:00.000Z'));
    const update = (seq: number) => ({ seq, at: `2026-01-01T10:${String(15 * seq).padStart(2, '0')}:00.000Z`, traffic: 'RESTORED' as const });

    // Act
    const results = [
      await rollouts.claimIncidentUpdate('r-2', update(1)),
      await rollouts.claimIncidentUpdate('r-2', update(1)),
      await rollouts.claimIncidentUpdate('r-2', update(2)),
      await rollouts.claimIncidentUpdate('r-2', update(1)),
    ];
    const missing = rollouts.claimIncidentUpdate('nope', update(1));

    // Assess
    expect(results).toEqual([true, false, true, false]);
    expect((await rollouts.get('r-2'))!.incidentUpdate).toEqual(update(2));
    await expect(missing).rejects.toThrow(/nope/);
  });
});
