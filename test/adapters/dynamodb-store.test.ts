/**
 * DynamoRollouts, the one rollout store (records, events and the traffic targets' locks), with
 * aws-sdk-client-mock: the exact commands it sends (transactions, their items and condition
 * expressions), and what it makes of DynamoDB's refusals (a canceled transaction names, per item,
 * the condition that failed). The same adapter runs on moto's DynamoDB over the wire in
 * test/integration (rollouts-table-moto, fencing-moto, lock-race).
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { ControlRefusedError, FencedOutError, GateNotPendingError, PreflightError, RolloutNotRunningError, ThrottledError } from '../../functions/core/errors.ts';
import type { RolloutEvent, RolloutRecord } from '../../functions/core/rollout-record.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
const client = () => DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const TABLE = 'canary-state';

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: { httpStatusCode: 400 } });
/** A canceled transaction, with DynamoDB's reason for each item in order ('None' for an item that was fine). */
const canceled = (...codes: string[]) => new TransactionCanceledException({
  message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
  $metadata: { httpStatusCode: 400 },
  CancellationReasons: codes.map((Code) => (Code === 'None' ? { Code } : { Code, Message: 'The conditional request failed' })),
});

const now = new Date('2025-06-01T12:00:00.000Z');
const nowEpoch = Date.parse('2025-06-01T12:00:00.000Z') / 1000;
const LOCK_KEY = 'Z0123456789ABCDEFGHIJ/api.example.com/A';
const LOCK_PK = `lock#${LOCK_KEY}`;
const TOKEN = 'arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:r-1@2025-06-01T12:00:00.000Z';
const LEASE = 1800;
/** The lock item DynamoRollouts writes for `owner`/`token` at `now` with a 30-minute lease. */
const lockItem = (owner: string, token: string) => ({
  pk: LOCK_PK, owner, token, expiresAt: '2025-06-01T12:30:00.000Z', expiresAtEpoch: nowEpoch + LEASE, ttl: nowEpoch + LEASE + 86_400,
});

const record: RolloutRecord = {
  rolloutId: 'r-1', name: 'api', targetKey: LOCK_KEY, executionArn: undefined, status: 'RUNNING', token: TOKEN,
  startedAt: '2025-06-01T12:00:00.000Z', updatedAt: '2025-06-01T12:00:00.000Z', stageIndex: 0, weight: 0, checkCount: 0,
};
const headItem = (patch: Partial<RolloutRecord> = {}) => ({ ...record, ...patch, pk: 'rollout#r-1', gsi1pk: 'rollout', activePk: 'active' });
const withoutActivePk = ({ activePk: _out, ...item }: Record<string, unknown>) => item;
const started: RolloutEvent = { type: 'STARTED', at: '2025-06-01T12:00:00.000Z', stages: [1, 5, 100] };
/** An event item's own key: `rollout#<id>#event#<at>#<20-digit sequence>#<8 hex of salt>`, its sort key the part after `#event#`. */
const eventKey = (rolloutId: string, at: string) => new RegExp(`^rollout#${rolloutId}#event#${at.replaceAll('.', '\\.')}#\\d{20}#[0-9a-f]{8}$`);

/** Routes GetItem by key, as the table would answer a consistent read (undefined: no such item). */
function items(byPk: Record<string, Record<string, unknown> | undefined>) {
  ddbMock.on(GetCommand).callsFake((input: { Key: { pk: string } }) => ({ Item: byPk[input.Key.pk] }));
}

const transactItems = (call = 0) => ddbMock.commandCalls(TransactWriteCommand)[call]!.args[0].input.TransactItems!;

beforeEach(() => {
  ddbMock.reset();
});

describe('begin: the lock, the head and the first event in one transaction', () => {
  it('takes a free lock and creates the record with its listing keys, without undefined fields', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.begin(record, [started], { key: LOCK_KEY, leaseSeconds: LEASE, now });

    // Assess
    expect(result).toEqual({ started: true });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
    const { executionArn: _none, ...stored } = record;
    const [lock, head, event, ...more] = transactItems();
    expect(more).toEqual([]);
    expect(lock).toEqual({
      Put: {
        TableName: TABLE,
        Item: lockItem('r-1', TOKEN),
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAtEpoch < :now OR (#owner = :owner AND #token = :token)',
        ExpressionAttributeNames: { '#owner': 'owner', '#token': 'token' },
        ExpressionAttributeValues: { ':owner': 'r-1', ':token': TOKEN, ':now': nowEpoch },
      },
    });
    expect(head).toEqual({
      Put: {
        TableName: TABLE,
        // activePk puts the running rollout in the sparse byActive index the reconciler sweeps.
        Item: { ...stored, eventCount: 1, pk: 'rollout#r-1', gsi1pk: 'rollout', activePk: 'active' },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    });
    expect(Object.keys(head!.Put!.Item!)).not.toContain('executionArn');
    expect(event).toEqual({
      Put: { TableName: TABLE, Item: { ...started, pk: expect.stringMatching(eventKey('r-1', started.at)), evPk: 'rollout#r-1', evSk: expect.any(String) } },
    });
    const eventItem = event!.Put!.Item!;
    expect(eventItem.pk).toBe(`rollout#r-1#event#${eventItem.evSk as string}`);
    expect(event!.Put).not.toHaveProperty('ConditionExpression');
  });

  it('another rollout holds the lock and its lease runs: not started, with the holder read consistently', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None', 'None'));
    items({ [LOCK_PK]: { pk: LOCK_PK, owner: 'r-0', token: 'tok-0', expiresAt: '2025-06-01T12:10:00.000Z', expiresAtEpoch: nowEpoch + 600 } });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.begin(record, [started], { key: LOCK_KEY, leaseSeconds: LEASE, now });

    // Assess
    expect(result).toEqual({ started: false, holder: 'r-0', expiresAt: '2025-06-01T12:10:00.000Z' });
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input)).toEqual([{ TableName: TABLE, Key: { pk: LOCK_PK }, ConsistentRead: true }]);
  });

  it('a retried preflight (same rollout, same token, its record already written) is started, not refused', async () => {
    // Prepare: the lock is ours with this token (its condition held); the head exists already.
    ddbMock.on(TransactWriteCommand).rejects(canceled('None', 'ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': headItem() });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.begin(record, [started], { key: LOCK_KEY, leaseSeconds: LEASE, now });

    // Assess
    expect(result).toEqual({ started: true });
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input.Key)).toEqual([{ pk: 'rollout#r-1' }]);
  });

  it.each([
    ['another execution\'s token', { token: 'another-execution@2025-05-31T09:00:00.000Z', status: 'RUNNING' as const }, /already used \(status RUNNING\)/],
    ['the same token, but closed', { status: 'PROMOTED' as const }, /already used \(status PROMOTED\)/],
  ])('a rollout id already used (%s) is a PreflightError that says to start under a new name', async (_case, patch, message) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('None', 'ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': headItem(patch) });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.begin(record, [started], { key: LOCK_KEY, leaseSeconds: LEASE, now });

    // Assess
    await expect(result).rejects.toThrow(PreflightError);
    await expect(result).rejects.toMatchObject({ name: 'PreflightFailed', message: expect.stringMatching(message) });
    await expect(result).rejects.toThrow(/start the execution under a new name/);
  });
});

describe('fence: the record is RUNNING with this token, and the lock is ours with it (the lease renewed)', () => {
  const args = { lockKey: LOCK_KEY, token: TOKEN, leaseSeconds: LEASE, now };

  it('checks the head and renews the lock in one transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.fence('r-1', args);

    // Assess
    expect(transactItems()).toEqual([
      {
        ConditionCheck: {
          TableName: TABLE, Key: { pk: 'rollout#r-1' },
          ConditionExpression: '#status IN (:running, :halted) AND #token = :token',
          ExpressionAttributeNames: { '#status': 'status', '#token': 'token' },
          ExpressionAttributeValues: { ':running': 'RUNNING', ':halted': 'HALTED', ':token': TOKEN },
        },
      },
      {
        Update: {
          TableName: TABLE, Key: { pk: LOCK_PK },
          UpdateExpression: 'SET expiresAt = :exp, expiresAtEpoch = :epoch, #ttl = :ttl',
          ConditionExpression: '#owner = :owner AND #token = :token',
          ExpressionAttributeNames: { '#owner': 'owner', '#token': 'token', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':exp': '2025-06-01T12:30:00.000Z', ':epoch': nowEpoch + LEASE, ':ttl': nowEpoch + LEASE + 86_400, ':owner': 'r-1', ':token': TOKEN,
          },
        },
      },
    ]);
    expect(ddbMock.commandCalls(GetCommand)).toHaveLength(0);
  });

  it.each([
    ['the record is no longer RUNNING', { 'rollout#r-1': headItem({ status: 'ROLLING_BACK' }) }, 'the rollout is ROLLING_BACK'],
    ['the record carries another token (taken over)', { 'rollout#r-1': headItem({ token: 'reconciler@2025-06-01T12:05:00.000Z' }) }, 'it was taken over (by the safety net or the reconciler)'],
    ['the record is gone', {}, 'no rollout record'],
  ])('refused on the head: FencedOut when %s', async (_case, table, detail) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None'));
    items(table);
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.fence('r-1', args);

    // Assess
    await expect(result).rejects.toThrow(FencedOutError);
    await expect(result).rejects.toMatchObject({ name: 'FencedOut', message: `Rollout r-1 is not this execution's to move any more: ${detail}` });
  });

  it.each([
    ['held by another rollout', { pk: LOCK_PK, owner: 'r-2', token: 'tok-2', expiresAt: '2025-06-01T13:00:00.000Z' }, "the traffic target's lock is held by r-2"],
    ['ours with another token', { pk: LOCK_PK, owner: 'r-1', token: 'safety-net@x', expiresAt: '2025-06-01T13:00:00.000Z' }, "the traffic target's lock is held by r-1 with another token"],
    ['released', undefined, "the traffic target's lock was released"],
  ])('refused on the lock: FencedOut when it is %s', async (_case, lock, detail) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('None', 'ConditionalCheckFailed'));
    items({ [LOCK_PK]: lock, 'rollout#r-1': headItem() });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.fence('r-1', args);

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'FencedOut', message: `Rollout r-1 is not this execution's to move any more: ${detail}` });
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input)).toEqual([{ TableName: TABLE, Key: { pk: LOCK_PK }, ConsistentRead: true }]);
  });

  it('maps a throttled transaction to Throttled (retried), not to FencedOut', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.fence('r-1', args);

    // Assess
    await expect(result).rejects.toThrow(ThrottledError);
  });
});

describe('update: the head\'s fields, and events appended as their own items', () => {
  const weightsSet: RolloutEvent = { type: 'WEIGHTS_SET', at: '2025-06-01T12:01:00.000Z', canary: 5, baseline: 95, changeId: 'C1', stageIndex: 1 };

  it('without events: one UpdateItem; a field set to undefined is removed', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.update('r-1', { stageIndex: 1, weight: 5, updatedAt: '2025-06-01T12:01:00.000Z', pendingApproval: undefined });

    // Assess
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input)).toEqual([{
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET #f0 = :v0, #f1 = :v1, #f2 = :v2 REMOVE #f3',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#f0': 'stageIndex', '#f1': 'weight', '#f2': 'updatedAt', '#f3': 'pendingApproval' },
      ExpressionAttributeValues: { ':v0': 1, ':v1': 5, ':v2': '2025-06-01T12:01:00.000Z' },
    }]);
  });

  it('with events: the head\'s update (counting them) and one Put per event, in one transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);
    const inSync: RolloutEvent = { type: 'IN_SYNC', at: '2025-06-01T12:01:00.000Z', changeId: 'C1', canary: 5 };

    // Act
    await rollouts.update('r-1', { weight: 5 }, [weightsSet, inSync]);

    // Assess
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
    const [update, first, second, ...more] = transactItems();
    expect(more).toEqual([]);
    expect(update).toEqual({
      Update: {
        TableName: TABLE,
        Key: { pk: 'rollout#r-1' },
        UpdateExpression: 'SET #f0 = :v0, eventCount = if_not_exists(eventCount, :zero) + :n',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#f0': 'weight' },
        ExpressionAttributeValues: { ':v0': 5, ':zero': 0, ':n': 2 },
      },
    });
    expect(first!.Put!.Item).toEqual({ ...weightsSet, pk: expect.stringMatching(eventKey('r-1', weightsSet.at)), evPk: 'rollout#r-1', evSk: expect.any(String) });
    expect(second!.Put!.Item).toEqual({ ...inSync, pk: expect.stringMatching(eventKey('r-1', inSync.at)), evPk: 'rollout#r-1', evSk: expect.any(String) });
    // Same instant: the counter keeps them in order in the byRollout index.
    expect(String(first!.Put!.Item!.evSk) < String(second!.Put!.Item!.evSk)).toBe(true);
  });

  it('keeps the write order of events written by separate updates at the same instant (a step\'s IN_SYNC then DRIFT)', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);
    const at = '2025-06-01T12:02:00.000Z';

    // Act: fifty pairs, so that a random order would show.
    for (let i = 0; i < 50; i++) {
      await rollouts.update('r-1', {}, [{ type: 'IN_SYNC', at, changeId: 'C2', canary: 100 }]);
      await rollouts.update('r-1', {}, [{ type: 'DRIFT', at, expectedCanary: 100, foundCanary: 0, problems: [] }]);
    }

    // Assess
    const keys = ddbMock.commandCalls(TransactWriteCommand).map((c) => String(c.args[0].input.TransactItems![1]!.Put!.Item!.evSk));
    expect(keys).toHaveLength(100);
    expect([...keys].sort()).toEqual(keys);
  });

  it('puts a rollout in the byActive index while it is active and leaves it there when it closes (releaseLock takes it out)', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.update('r-1', { status: 'ROLLING_BACK' });
    await rollouts.update('r-1', { status: 'ROLLED_BACK' });

    // Assess
    const [rollingBack, closed] = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(rollingBack).toMatchObject({
      UpdateExpression: 'SET #f0 = :v0, activePk = :active',
      ExpressionAttributeNames: { '#f0': 'status' },
      ExpressionAttributeValues: { ':v0': 'ROLLING_BACK', ':active': 'active' },
    });
    expect(closed).toEqual({
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET #f0 = :v0',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#f0': 'status' },
      ExpressionAttributeValues: { ':v0': 'ROLLED_BACK' },
    });
  });

  it('with a token, only while the record carries it: FencedOut once it was taken over', async () => {
    // Prepare: the plain update and the transaction both refused on the head's condition.
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': headItem({ token: 'reconciler@2025-06-01T12:05:00.000Z' }) });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const plain = rollouts.update('r-1', { checkCount: 3 }, [], { token: TOKEN });
    const withEvent = rollouts.update('r-1', { weight: 5 }, [weightsSet], { token: TOKEN });

    // Assess
    await expect(plain).rejects.toThrow(FencedOutError);
    await expect(withEvent).rejects.toMatchObject({ name: 'FencedOut', message: expect.stringContaining('it was taken over') });
    expect(ddbMock.commandCalls(UpdateCommand)[0]!.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_exists(pk) AND #token = :token',
      ExpressionAttributeNames: { '#f0': 'checkCount', '#token': 'token' },
      ExpressionAttributeValues: { ':v0': 3, ':token': TOKEN },
    });
    expect(transactItems()[0]!.Update).toMatchObject({
      ConditionExpression: 'attribute_exists(pk) AND #token = :token',
      ExpressionAttributeValues: { ':token': TOKEN },
    });
  });

  it('reports a missing rollout as RolloutNotFound, and refuses events passed in the patch', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    items({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const missing = rollouts.update('r-404', { status: 'PROMOTED' });
    const misused = rollouts.update('r-1', { events: [weightsSet] } as Partial<RolloutRecord>);

    // Assess
    await expect(missing).rejects.toMatchObject({ name: 'RolloutNotFound', message: expect.stringContaining('r-404') });
    await expect(misused).rejects.toThrow(/pass events as the third argument/);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
  });

  it('sends nothing when there is nothing to write', async () => {
    // Prepare
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.update('r-1', {});

    // Assess
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe('takeOver: a new token on the record and the lock, for the safety net and the reconciler', () => {
  const args = { lockKey: LOCK_KEY, token: 'reconciler@2025-06-01T12:00:00.000Z', leaseSeconds: LEASE, now };

  it('sets the token on the active record and takes the lock (free, expired or this rollout\'s) in one transaction', async () => {
    // Prepare
    items({ 'rollout#r-1': headItem() });
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.takeOver('r-1', args);

    // Assess
    expect(result).toEqual({ ok: true, record: { ...record, executionArn: undefined, token: args.token } });
    expect(transactItems()).toEqual([
      {
        Update: {
          TableName: TABLE, Key: { pk: 'rollout#r-1' },
          UpdateExpression: 'SET #token = :token',
          ConditionExpression: '#status IN (:running, :rollingBack, :halted)',
          ExpressionAttributeNames: { '#token': 'token', '#status': 'status' },
          ExpressionAttributeValues: { ':token': args.token, ':running': 'RUNNING', ':rollingBack': 'ROLLING_BACK', ':halted': 'HALTED' },
        },
      },
      {
        Put: {
          TableName: TABLE,
          Item: lockItem('r-1', args.token),
          ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR expiresAtEpoch < :now',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': 'r-1', ':now': nowEpoch },
        },
      },
    ]);
  });

  it('CLOSED without writing anything when the record has ended already', async () => {
    // Prepare
    items({ 'rollout#r-1': headItem({ status: 'PROMOTED' }) });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.takeOver('r-1', args);

    // Assess
    expect(result).toMatchObject({ ok: false, reason: 'CLOSED', record: { status: 'PROMOTED' } });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('CLOSED when the record closed between the read and the transaction', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolvesOnce({ Item: headItem() }).resolves({ Item: headItem({ status: 'ROLLED_BACK' }) });
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None'));
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.takeOver('r-1', args);

    // Assess
    expect(result).toMatchObject({ ok: false, reason: 'CLOSED', record: { status: 'ROLLED_BACK' } });
  });

  it('LOCK_HELD, with the holder, when another rollout holds the target: its traffic is not ours', async () => {
    // Prepare
    const holder = { owner: 'r-2', token: 'tok-2', expiresAt: '2025-06-01T13:00:00.000Z' };
    items({ 'rollout#r-1': headItem(), [LOCK_PK]: { pk: LOCK_PK, ...holder, expiresAtEpoch: nowEpoch + 3600 } });
    ddbMock.on(TransactWriteCommand).rejects(canceled('None', 'ConditionalCheckFailed'));
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.takeOver('r-1', args);

    // Assess
    expect(result).toEqual({ ok: false, reason: 'LOCK_HELD', record: { ...record, executionArn: undefined }, holder });
  });

  it('NOT_FOUND when there is no record', async () => {
    // Prepare
    items({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.takeOver('r-1', args);

    // Assess
    expect(result).toEqual({ ok: false, reason: 'NOT_FOUND' });
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });
});

/**
 * A one-item table that applies acquireLock's condition the way DynamoDB would, so the tests
 * check behaviour (free, renewal, held, expired), not only the request's text.
 */
function fakeLockTable(initial?: Record<string, unknown>) {
  let item = initial;
  ddbMock.on(PutCommand).callsFake((input: { Item: Record<string, unknown>; ExpressionAttributeValues: Record<string, unknown> }) => {
    const owner = input.ExpressionAttributeValues[':owner'];
    const nowValue = input.ExpressionAttributeValues[':now'] as number;
    if (item && item.owner !== owner && !((item.expiresAtEpoch as number) < nowValue)) throw conditionFailed();
    item = input.Item;
    return {};
  });
  ddbMock.on(GetCommand).callsFake(() => ({ Item: item }));
  return { current: () => item };
}

describe('acquireLock / releaseLock / lockHolder (the soak check\'s rollback; anyone who is not a rollout)', () => {
  it('acquires a free lock with one conditional write, the owner as its token', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.acquireLock(LOCK_KEY, 'soak-api', LEASE, now);

    // Assess
    expect(result).toEqual({ started: true });
    expect(ddbMock.commandCalls(PutCommand).map((c) => c.args[0].input)).toEqual([{
      TableName: TABLE,
      Item: lockItem('soak-api', 'soak-api'),
      ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR expiresAtEpoch < :now',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'soak-api', ':now': nowEpoch },
    }]);
  });

  it('reports the holder of a live lock after a consistent read', async () => {
    // Prepare
    fakeLockTable({ pk: LOCK_PK, owner: 'r-0', token: 'tok-0', expiresAt: '2025-06-01T12:10:00.000Z', expiresAtEpoch: nowEpoch + 600 });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.acquireLock(LOCK_KEY, 'soak-api', LEASE, now);

    // Assess
    expect(result).toEqual({ started: false, holder: 'r-0', expiresAt: '2025-06-01T12:10:00.000Z' });
    expect(ddbMock.commandCalls(GetCommand)[0]!.args[0].input).toEqual({ TableName: TABLE, Key: { pk: LOCK_PK }, ConsistentRead: true });
  });

  it('takes a lock whose lease has ended, and renews one its owner holds', async () => {
    // Prepare
    const table = fakeLockTable({ pk: LOCK_PK, owner: 'crashed', token: 'x', expiresAt: '2025-06-01T11:59:00.000Z', expiresAtEpoch: nowEpoch - 60 });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const taken = await rollouts.acquireLock(LOCK_KEY, 'soak-api', LEASE, now);
    const renewed = await rollouts.acquireLock(LOCK_KEY, 'soak-api', 3600, now);

    // Assess
    expect(taken).toEqual({ started: true });
    expect(renewed).toEqual({ started: true });
    expect(table.current()).toMatchObject({ owner: 'soak-api', expiresAt: '2025-06-01T13:00:00.000Z', expiresAtEpoch: nowEpoch + 3600 });
  });

  it('tries again when the lock it was refused is gone by the time it reads it', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejectsOnce(conditionFailed()).resolves({});
    items({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = await rollouts.acquireLock(LOCK_KEY, 'soak-api', LEASE, now);

    // Assess
    expect(result).toEqual({ started: true });
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(2);
  });

  it('releases with a condition on the owner, and ignores a lock that is not (or no longer) ours', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).resolvesOnce({}).rejects(conditionFailed());
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.releaseLock(LOCK_KEY, 'r-1');
    await rollouts.releaseLock(LOCK_KEY, 'r-1');

    // Assess
    const calls = ddbMock.commandCalls(DeleteCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    expect(calls[0]).toEqual({
      TableName: TABLE,
      Key: { pk: LOCK_PK },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'r-1' },
    });
    // Then the rollout leaves the index the reconciler sweeps, only if it is closed.
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input)).toEqual([1, 2].map(() => ({
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'REMOVE activePk',
      ConditionExpression: 'attribute_exists(activePk) AND NOT (#status IN (:running, :rollingBack, :halted))',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':running': 'RUNNING', ':rollingBack': 'ROLLING_BACK', ':halted': 'HALTED' },
    })));
  });

  it('lockHolder reads the lock consistently: owner, token and lease; null when free', async () => {
    // Prepare
    ddbMock.on(GetCommand)
      .resolvesOnce({ Item: { pk: LOCK_PK, owner: 'r-1', token: TOKEN, expiresAt: '2025-06-01T12:30:00.000Z', expiresAtEpoch: nowEpoch + LEASE } })
      .resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const held = await rollouts.lockHolder(LOCK_KEY);
    const free = await rollouts.lockHolder(LOCK_KEY);

    // Assess
    expect(held).toEqual({ owner: 'r-1', token: TOKEN, expiresAt: '2025-06-01T12:30:00.000Z' });
    expect(free).toBeNull();
    expect(ddbMock.commandCalls(GetCommand)[0]!.args[0].input).toEqual({ TableName: TABLE, Key: { pk: LOCK_PK }, ConsistentRead: true });
  });

  it('maps ProvisionedThroughputExceededException to Throttled', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    ddbMock.on(DeleteCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const acquire = rollouts.acquireLock(LOCK_KEY, 'soak-api', LEASE, now);
    const release = rollouts.releaseLock(LOCK_KEY, 'soak-api');

    // Assess
    await expect(acquire).rejects.toThrow(ThrottledError);
    await expect(acquire).rejects.toMatchObject({ name: 'Throttled', message: expect.stringContaining('DynamoDB throttled') });
    await expect(release).rejects.toThrow(ThrottledError);
  });
});

describe('a person\'s writes: requestAbort and answerApproval', () => {
  const at = '2025-06-01T12:00:00.000Z';

  it('records an abort request on a running rollout, with its event, in one transaction', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.requestAbort('r-1', 'bad deploy', now);

    // Assess
    const [update, event, ...more] = transactItems();
    expect(more).toEqual([]);
    expect(update).toEqual({
      Update: {
        TableName: TABLE,
        Key: { pk: 'rollout#r-1' },
        UpdateExpression: 'SET abortRequested = :abort, updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one',
        ConditionExpression: 'attribute_exists(pk) AND #status IN (:running, :halted)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':abort': { at, reason: 'bad deploy' }, ':at': at, ':running': 'RUNNING', ':halted': 'HALTED', ':zero': 0, ':one': 1 },
      },
    });
    expect(event!.Put!.Item).toEqual({
      type: 'ABORT_REQUESTED', at, reason: 'bad deploy', pk: expect.stringMatching(eventKey('r-1', at)), evPk: 'rollout#r-1', evSk: expect.any(String),
    });
  });

  it('refuses to abort a rollout that is not running, naming its status; a missing one is RolloutNotFound', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': headItem({ status: 'PROMOTED' }) });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const closed = rollouts.requestAbort('r-1', 'bad deploy', now);
    const missing = rollouts.requestAbort('r-404', 'bad deploy', now);

    // Assess
    await expect(closed).rejects.toThrow(RolloutNotRunningError);
    await expect(closed).rejects.toMatchObject({ name: 'RolloutNotRunning', status: 'PROMOTED', message: expect.stringContaining('PROMOTED') });
    await expect(missing).rejects.toMatchObject({ name: 'RolloutNotFound' });
  });

  it('answers the pending gate of the stage the person saw, with its event', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.answerApproval('r-1', { stageIndex: 3, approved: false, by: 'alice', reason: 'latency', at });

    // Assess
    const [update, event] = transactItems();
    expect(update).toEqual({
      Update: {
        TableName: TABLE,
        Key: { pk: 'rollout#r-1' },
        UpdateExpression: 'SET approval = :answer, updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one',
        ConditionExpression: 'attribute_exists(pk) AND #status = :running AND pendingApproval.stageIndex = :stage',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':answer': { stageIndex: 3, approved: false, by: 'alice', reason: 'latency', at }, ':at': at, ':stage': 3, ':running': 'RUNNING', ':zero': 0, ':one': 1,
        },
      },
    });
    expect(event!.Put!.Item).toMatchObject({ type: 'APPROVAL_ANSWERED', at, stageIndex: 3, approved: false, by: 'alice', reason: 'latency', evPk: 'rollout#r-1' });
  });

  it.each([
    ['a gate at another stage', headItem({ pendingApproval: { stageIndex: 3, weight: 25, requestedAt: 'x', deadline: 'y' } }), GateNotPendingError, /not waiting for an approval at stage 3 \(it waits at stage 4\)/],
    ['no gate at all', headItem(), GateNotPendingError, /not waiting for an approval at any stage/],
    ['a rollout that is not running', headItem({ status: 'ROLLED_BACK' }), RolloutNotRunningError, /is ROLLED_BACK, not RUNNING/],
  ])('refuses an answer for %s', async (_case, head, type, message) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': head });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.answerApproval('r-1', { stageIndex: 2, approved: true, by: 'bob', at });

    // Assess
    await expect(result).rejects.toThrow(type);
    await expect(result).rejects.toThrow(message);
  });
});

describe('a person\'s requests: promote --full, pause, resume, and the retry link', () => {
  const at = '2025-06-01T12:00:00.000Z';
  const asked = { at, by: 'alice', reason: 'fix for INC-1234' };
  /** The head's Update of a request transaction, as sent. */
  const update = (expression: string, condition: string, values: Record<string, unknown>) => ({
    Update: {
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: expression,
      ConditionExpression: condition,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ...values, ':zero': 0, ':one': 1 },
    },
  });

  it('promote --full: one transaction, allowed while RUNNING or HALTED and never over an abort or another promote', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.requestControl('r-1', 'PROMOTE', asked);

    // Assess
    const [head, event, ...more] = transactItems();
    expect(more).toEqual([]);
    expect(head).toEqual(update(
      'SET promoteRequested = :asked, updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one',
      'attribute_exists(pk) AND #status IN (:running, :halted) AND attribute_not_exists(abortRequested) AND attribute_not_exists(promoteRequested)',
      { ':at': at, ':asked': asked, ':running': 'RUNNING', ':halted': 'HALTED' },
    ));
    expect(event!.Put!.Item).toEqual({
      type: 'CONTROL', at, request: 'PROMOTE', by: 'alice', reason: 'fix for INC-1234', pk: expect.stringMatching(eventKey('r-1', at)), evPk: 'rollout#r-1', evSk: expect.any(String),
    });
  });

  it('pause: only a running rollout that is neither paused nor promoting; a pause without a reason stores none', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.requestControl('r-1', 'PAUSE', { at, by: 'bob' });

    // Assess
    const [head, event] = transactItems();
    expect(head).toEqual(update(
      'SET paused = :asked, updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one',
      'attribute_exists(pk) AND #status = :running AND attribute_not_exists(paused) AND attribute_not_exists(promoteRequested)',
      { ':at': at, ':asked': { at, by: 'bob' }, ':running': 'RUNNING' },
    ));
    expect(event!.Put!.Item).toMatchObject({ type: 'CONTROL', request: 'PAUSE', by: 'bob' });
    expect(event!.Put!.Item).not.toHaveProperty('reason');
  });

  it('resume: the write is chosen by the head read, and its condition holds the head to what was read', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolves({});
    items({
      'rollout#r-1': headItem({ paused: { at, by: 'bob' } }),
      'rollout#r-2': { ...headItem({ status: 'HALTED' }), rolloutId: 'r-2', pk: 'rollout#r-2' },
    });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.requestControl('r-1', 'RESUME', { at, by: 'carol' });
    await rollouts.requestControl('r-2', 'RESUME', { at, by: 'carol' });

    // Assess
    expect(transactItems(0)[0]).toEqual(update(
      'SET resumeRequested = :asked, updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one REMOVE paused',
      'attribute_exists(pk) AND #status = :running AND attribute_exists(paused)',
      { ':at': at, ':asked': { at, by: 'carol' }, ':running': 'RUNNING' },
    ));
    const halted = transactItems(1)[0]!.Update!;
    expect(halted.Key).toEqual({ pk: 'rollout#r-2' });
    expect(halted.ConditionExpression).toBe('attribute_exists(pk) AND #status = :halted AND attribute_not_exists(resumeRequested) AND attribute_not_exists(abortRequested) AND attribute_not_exists(promoteRequested)');
    expect(halted.ExpressionAttributeValues).toEqual({ ':at': at, ':asked': { at, by: 'carol' }, ':halted': 'HALTED', ':zero': 0, ':one': 1 });
  });

  it.each([
    ['PROMOTE', headItem({ abortRequested: { at, reason: 'bad' } }), /was asked to abort at .*: it rolls back, it cannot be promoted/],
    ['PAUSE', headItem({ paused: { at, by: 'bob' } }), /is already paused \(by bob at /],
    ['PAUSE', headItem({ status: 'ROLLED_BACK' }), /has ended: there is nothing to pause \(start it again with canary retry r-1\)/],
  ] as const)('a refused %s says why from the head as it is then, and nothing else is written', async (action, head, message) => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': head });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.requestControl('r-1', action, asked);

    // Assess
    await expect(result).rejects.toThrow(ControlRefusedError);
    await expect(result).rejects.toThrow(message);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it('resume of a rollout that is neither paused nor halted is refused from the read, before any write', async () => {
    // Prepare
    items({ 'rollout#r-1': headItem() });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.requestControl('r-1', 'RESUME', asked);

    // Assess
    await expect(result).rejects.toThrow(/is running, not paused or halted: there is nothing to resume/);
    expect(ddbMock.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it('linkRetry marks a rolled-back rollout once (a second retry is refused); unlinkRetry undoes only its own link', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejects(canceled('ConditionalCheckFailed', 'None'));
    items({ 'rollout#r-1': headItem({ status: 'ROLLED_BACK', retriedBy: 'r-1-retry', config: {} as RolloutRecord['config'] }) });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.linkRetry('r-1', 'r-1-retry', { at, by: 'alice' });
    const second = rollouts.linkRetry('r-1', 'r-1-again', { at, by: 'bob' });
    await expect(second).rejects.toThrow(ControlRefusedError);
    await rollouts.unlinkRetry('r-1', 'r-1-other', at, 'StartExecution failed'); // not its link: nothing to undo

    // Assess
    const [link, linked] = transactItems(0);
    expect(link).toEqual(update(
      'SET retriedBy = :retry, updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one',
      'attribute_exists(pk) AND #status IN (:rolledBack, :failed) AND attribute_not_exists(retriedBy) AND attribute_exists(config)',
      { ':retry': 'r-1-retry', ':at': at, ':rolledBack': 'ROLLED_BACK', ':failed': 'ROLLBACK_FAILED' },
    ));
    expect(linked!.Put!.Item).toMatchObject({ type: 'RETRIED', retryId: 'r-1-retry', by: 'alice' });
    const unlink = transactItems(2)[0]!.Update!;
    expect(unlink.UpdateExpression).toBe('SET updatedAt = :at, eventCount = if_not_exists(eventCount, :zero) + :one REMOVE retriedBy');
    expect(unlink.ConditionExpression).toBe('attribute_exists(pk) AND retriedBy = :retry');
    expect(unlink.ExpressionAttributeValues).toMatchObject({ ':retry': 'r-1-other' });
  });
});

describe('claimIncidentUpdate: a status update is claimed once, in one conditional write', () => {
  beforeEach(() => ddbMock.reset());
  const update = { seq: 2, at: '2025-06-01T12:30:00.000Z', traffic: 'RESTORED' as const, verdict: 'FAIL' as const, values: { 'error-rate': 3.1, memory: null } };

  it('sets the head\'s incidentUpdate while the one it holds is numbered below (or absent)', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const claimed = await rollouts.claimIncidentUpdate('r-1', { ...update, recorded: undefined });

    // Assess
    expect(claimed).toBe(true);
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input)).toEqual([{
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET #update = :update, updatedAt = :at',
      ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#update) OR #update.#seq < :seq)',
      ExpressionAttributeNames: { '#update': 'incidentUpdate', '#seq': 'seq' },
      ExpressionAttributeValues: { ':update': update, ':at': '2025-06-01T12:30:00.000Z', ':seq': 2 },
    }]);
  });

  it('false when it was claimed already (a retried step); RolloutNotFound when there is no record; throttling is Throttled', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    ddbMock.on(GetCommand).resolvesOnce({ Item: headItem({ status: 'ROLLED_BACK' }) }).resolvesOnce({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const again = await rollouts.claimIncidentUpdate('r-1', update);
    const missing = rollouts.claimIncidentUpdate('r-1', update);

    // Assess
    expect(again).toBe(false);
    await expect(missing).rejects.toThrow(/r-1/);
    ddbMock.reset();
    ddbMock.on(UpdateCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    await expect(rollouts.claimIncidentUpdate('r-1', update)).rejects.toThrow(ThrottledError);
  });
});

describe('reads', () => {
  it('get reads the head consistently and strips the table keys', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolvesOnce({ Item: headItem() }).resolvesOnce({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const found = await rollouts.get('r-1');
    const missing = await rollouts.get('r-2');

    // Assess
    const { executionArn: _none, ...stored } = record;
    expect(found).toEqual(stored);
    expect(missing).toBeNull();
    expect(ddbMock.commandCalls(GetCommand)[0]!.args[0].input).toEqual({ TableName: TABLE, Key: { pk: 'rollout#r-1' }, ConsistentRead: true });
  });

  it('events: every page of the byRollout index in order, the items without their keys, and a cursor to follow from', async () => {
    // Prepare
    const item = (evSk: string, event: RolloutEvent) => ({ ...event, pk: `rollout#r-1#event#${evSk}`, evPk: 'rollout#r-1', evSk });
    const e1: RolloutEvent = started;
    const e2: RolloutEvent = { type: 'WEIGHTS_SET', at: '2025-06-01T12:01:00.000Z', canary: 1, baseline: 99, changeId: 'C1', stageIndex: 0 };
    const e3: RolloutEvent = { type: 'IN_SYNC', at: '2025-06-01T12:01:30.000Z', changeId: 'C1', canary: 1 };
    ddbMock.on(QueryCommand)
      .resolvesOnce({ Items: [item('2025-06-01T12:00:00.000Z#000#aaaaaaaa', e1), item('2025-06-01T12:01:00.000Z#000#bbbbbbbb', e2)], LastEvaluatedKey: { pk: 'p1' } })
      .resolvesOnce({ Items: [item('2025-06-01T12:01:30.000Z#000#cccccccc', e3)] })
      .resolvesOnce({ Items: [] });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const all = await rollouts.events('r-1');
    const after = await rollouts.events('r-1', all.cursor);

    // Assess
    expect(all).toEqual({ events: [e1, e2, e3], cursor: '2025-06-01T12:01:30.000Z#000#cccccccc' });
    expect(after).toEqual({ events: [], cursor: all.cursor });
    expect(ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: TABLE, IndexName: 'byRollout', KeyConditionExpression: 'evPk = :p', ExpressionAttributeValues: { ':p': 'rollout#r-1' } },
      {
        TableName: TABLE, IndexName: 'byRollout', KeyConditionExpression: 'evPk = :p', ExpressionAttributeValues: { ':p': 'rollout#r-1' },
        ExclusiveStartKey: { pk: 'p1' },
      },
      {
        TableName: TABLE, IndexName: 'byRollout', KeyConditionExpression: 'evPk = :p AND evSk > :c',
        ExpressionAttributeValues: { ':p': 'rollout#r-1', ':c': '2025-06-01T12:01:30.000Z#000#cccccccc' },
      },
    ]);
  });

  it('history: the head with the events of a record written before events were items first, then the items', async () => {
    // Prepare
    const old: RolloutEvent = { type: 'STARTED', at: '2025-01-01T00:00:00.000Z', stages: [10, 100] };
    const later: RolloutEvent = { type: 'NOTE', at: '2025-06-01T12:00:00.000Z', message: 'upgraded' };
    ddbMock.on(GetCommand).resolves({ Item: { ...headItem(), events: [old] } });
    ddbMock.on(QueryCommand).resolves({ Items: [{ ...later, pk: 'rollout#r-1#event#k', evPk: 'rollout#r-1', evSk: 'k' }] });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const history = await rollouts.history('r-1');

    // Assess
    const { executionArn: _none, ...stored } = record;
    expect(history).toEqual({ ...stored, events: [old, later] });
  });

  it('listActive: every page of the sparse byActive index (keys only), each head read again, those that left it since dropped', async () => {
    // Prepare
    ddbMock.on(QueryCommand)
      .resolvesOnce({ Items: [{ pk: 'rollout#r-1', activePk: 'active', startedAt: 'a' }, { pk: 'rollout#r-2', activePk: 'active', startedAt: 'b' }], LastEvaluatedKey: { pk: 'rollout#r-2' } })
      .resolvesOnce({ Items: [{ pk: 'rollout#r-3', activePk: 'active', startedAt: 'c' }, { pk: 'rollout#r-4', activePk: 'active', startedAt: 'd' }] });
    items({
      'rollout#r-1': headItem(),
      // Closed and its lock released since the index was read (it is eventually consistent).
      'rollout#r-2': withoutActivePk({ ...headItem({ status: 'PROMOTED' }), rolloutId: 'r-2', pk: 'rollout#r-2' }),
      'rollout#r-3': { ...headItem({ status: 'ROLLING_BACK' }), rolloutId: 'r-3', pk: 'rollout#r-3' },
      // Closed, its lock not released yet: still swept, so the reconciler releases it.
      'rollout#r-4': { ...headItem({ status: 'ROLLED_BACK' }), rolloutId: 'r-4', pk: 'rollout#r-4', activePk: 'active' },
    });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const active = await rollouts.listActive();

    // Assess
    expect(active.map((r) => [r.rolloutId, r.status])).toEqual([['r-1', 'RUNNING'], ['r-3', 'ROLLING_BACK'], ['r-4', 'ROLLED_BACK']]);
    expect(active[2]).not.toHaveProperty('activePk');
    expect(ddbMock.commandCalls(QueryCommand).map((c) => c.args[0].input)).toEqual([
      { TableName: TABLE, IndexName: 'byActive', KeyConditionExpression: 'activePk = :p', ExpressionAttributeValues: { ':p': 'active' } },
      { TableName: TABLE, IndexName: 'byActive', KeyConditionExpression: 'activePk = :p', ExpressionAttributeValues: { ':p': 'active' }, ExclusiveStartKey: { pk: 'rollout#r-2' } },
    ]);
    expect(ddbMock.commandCalls(GetCommand).map((c) => c.args[0].input)).toEqual(
      ['r-1', 'r-2', 'r-3', 'r-4'].map((id) => ({ TableName: TABLE, Key: { pk: `rollout#${id}` }, ConsistentRead: true })),
    );
  });

  it('list: the newest rollouts through the byStart index', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [headItem()] });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const listed = await rollouts.list(20);

    // Assess
    const { executionArn: _none, ...stored } = record;
    expect(listed).toEqual([stored]);
    expect(ddbMock.commandCalls(QueryCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      IndexName: 'byStart',
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': 'rollout' },
      ScanIndexForward: false,
      Limit: 20,
    });
  });
});

/**
 * DynamoDB cancels a transaction that conflicts with another write to one of its items (a person's
 * abort beside a step's fence; the safety net's takeOver beside a late step's fence) or that is
 * throttled: no condition failed, so nothing is known about ownership. Those are retried, never
 * read as "fenced out", "lock held" or a refused preflight.
 */
describe('a transaction canceled without a failed condition is retryable, not a verdict on ownership', () => {
  const fenceArgs = { lockKey: LOCK_KEY, token: TOKEN, leaseSeconds: LEASE, now };
  const takeOverArgs = { lockKey: LOCK_KEY, token: 'safety-net@2025-06-01T12:00:00.000Z', leaseSeconds: LEASE, now };

  it.each([
    ['fence', (r: DynamoRollouts) => r.fence('r-1', fenceArgs), canceled('None', 'TransactionConflict')],
    ['update with events', (r: DynamoRollouts) => r.update('r-1', { weight: 5 }, [started], { token: TOKEN }), canceled('TransactionConflict', 'None')],
    ['takeOver', (r: DynamoRollouts) => r.takeOver('r-1', takeOverArgs), canceled('None', 'TransactionConflict')],
    ['begin', (r: DynamoRollouts) => r.begin(record, [started], { key: LOCK_KEY, leaseSeconds: LEASE, now }), canceled('TransactionConflict', 'None', 'None')],
    ['requestAbort', (r: DynamoRollouts) => r.requestAbort('r-1', 'bad deploy', now), canceled('TransactionConflict', 'None')],
  ])('%s: a conflict is TransientAwsError (the workflow retries it)', async (_op, call, error) => {
    // Prepare: the record is ours and running, the lock ours with the old token.
    ddbMock.on(TransactWriteCommand).rejects(error);
    items({ 'rollout#r-1': headItem(), [LOCK_PK]: lockItem('r-1', TOKEN) });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = call(rollouts);

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('TransactionCanceledException') });
  });

  it('a transaction throttled on one of its items is Throttled', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('None', 'ThrottlingError'));
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.fence('r-1', fenceArgs);

    // Assess
    await expect(result).rejects.toThrow(ThrottledError);
  });

  it('begin refused by a lock that is gone when read (released meanwhile): retryable, not a raw cancellation', async () => {
    // Prepare
    ddbMock.on(TransactWriteCommand).rejects(canceled('ConditionalCheckFailed', 'None', 'None'));
    items({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.begin(record, [started], { key: LOCK_KEY, leaseSeconds: LEASE, now });

    // Assess
    await expect(result).rejects.toMatchObject({ name: 'TransientAwsError' });
  });
});
