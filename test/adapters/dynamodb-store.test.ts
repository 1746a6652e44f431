import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { ThrottledError } from '../../functions/core/errors.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { DynamoLocks, DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { RolloutNotRunningError } from '../../functions/core/errors.ts';

const ddbMock = mockClient(DynamoDBDocumentClient);
const client = () => DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
const TABLE = 'canary-state';

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: { httpStatusCode: 400 } });

const now = new Date('2025-06-01T12:00:00.000Z');
const nowEpoch = Date.parse('2025-06-01T12:00:00.000Z') / 1000;
const LOCK_KEY = 'Z0123456789ABCDEFGHIJ/api.example.com/A';

/**
 * A one-item table that applies the lock's condition the way DynamoDB would, so the tests
 * check behaviour (free, renewal, held, takeover), not only the request's text.
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

describe('DynamoLocks', () => {
  beforeEach(() => {
    ddbMock.reset();
  });

  it('acquires a free lock with one conditional write', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});
    const locks = new DynamoLocks(client(), TABLE);

    // Act
    const result = await locks.acquire(LOCK_KEY, 'rollout-1', 1800, now);

    // Assess
    expect(result).toEqual({ acquired: true });
    const calls = ddbMock.commandCalls(PutCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Item: {
        pk: `lock#${LOCK_KEY}`, owner: 'rollout-1', expiresAt: '2025-06-01T12:30:00.000Z',
        expiresAtEpoch: nowEpoch + 1800, ttl: nowEpoch + 1800 + 86_400,
      },
      ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR expiresAtEpoch < :now',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'rollout-1', ':now': nowEpoch },
    });
  });

  it('reports the holder of a live lock after a consistent read', async () => {
    // Prepare
    fakeLockTable({ pk: `lock#${LOCK_KEY}`, owner: 'rollout-0', expiresAt: '2025-06-01T12:10:00.000Z', expiresAtEpoch: nowEpoch + 600 });
    const locks = new DynamoLocks(client(), TABLE);

    // Act
    const result = await locks.acquire(LOCK_KEY, 'rollout-1', 1800, now);

    // Assess
    expect(result).toEqual({ acquired: false, holder: 'rollout-0', expiresAt: '2025-06-01T12:10:00.000Z' });
    expect(ddbMock.commandCalls(GetCommand)[0]!.args[0].input).toEqual({ TableName: TABLE, Key: { pk: `lock#${LOCK_KEY}` }, ConsistentRead: true });
  });

  it('takes over a lock whose lease has ended', async () => {
    // Prepare
    const table = fakeLockTable({ pk: `lock#${LOCK_KEY}`, owner: 'crashed', expiresAt: '2025-06-01T11:59:00.000Z', expiresAtEpoch: nowEpoch - 60 });
    const locks = new DynamoLocks(client(), TABLE);

    // Act
    const result = await locks.acquire(LOCK_KEY, 'rollout-1', 1800, now);

    // Assess
    expect(result).toEqual({ acquired: true });
    expect(table.current()).toMatchObject({ owner: 'rollout-1', expiresAtEpoch: nowEpoch + 1800 });
    expect(ddbMock.commandCalls(PutCommand)[0]!.args[0].input).toMatchObject({
      ConditionExpression: expect.stringContaining('expiresAtEpoch < :now'),
      ExpressionAttributeValues: { ':now': nowEpoch },
    });
  });

  it('renews a lock its owner already holds', async () => {
    // Prepare
    const table = fakeLockTable({ pk: `lock#${LOCK_KEY}`, owner: 'rollout-1', expiresAt: '2025-06-01T12:05:00.000Z', expiresAtEpoch: nowEpoch + 300 });
    const locks = new DynamoLocks(client(), TABLE);

    // Act
    const result = await locks.acquire(LOCK_KEY, 'rollout-1', 1800, now);

    // Assess
    expect(result).toEqual({ acquired: true });
    expect(table.current()).toMatchObject({ expiresAt: '2025-06-01T12:30:00.000Z' });
  });

  it('releases with a condition on the owner and ignores a lock that is not ours', async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(conditionFailed());
    const locks = new DynamoLocks(client(), TABLE);

    // Act
    await locks.release(LOCK_KEY, 'rollout-1');

    // Assess
    expect(ddbMock.commandCalls(DeleteCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: `lock#${LOCK_KEY}` },
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': 'rollout-1' },
    });
  });

  it('maps ProvisionedThroughputExceededException to Throttled', async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    const locks = new DynamoLocks(client(), TABLE);

    // Act
    const result = locks.acquire(LOCK_KEY, 'rollout-1', 1800, now);

    // Assess
    await expect(result).rejects.toThrow(ThrottledError);
    await expect(result).rejects.toMatchObject({ name: 'Throttled', message: expect.stringContaining('DynamoDB throttled') });
  });
});

const record: RolloutRecord = {
  rolloutId: 'r-1', name: 'api', targetKey: LOCK_KEY, executionArn: undefined, status: 'RUNNING',
  startedAt: '2025-06-01T12:00:00.000Z', updatedAt: '2025-06-01T12:00:00.000Z', stageIndex: 0, weight: 0,
  events: [{ type: 'STARTED', at: '2025-06-01T12:00:00.000Z', stages: [1, 5, 100] }],
};

describe('DynamoRollouts', () => {
  beforeEach(() => {
    ddbMock.reset();
  });

  it('creates the record once, with its listing keys and without undefined fields', async () => {
    // Prepare
    ddbMock.on(PutCommand).resolvesOnce({}).rejects(conditionFailed());
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.create(record);
    await rollouts.create(record);

    // Assess
    const calls = ddbMock.commandCalls(PutCommand);
    expect(calls).toHaveLength(2);
    const { executionArn: _none, ...stored } = record;
    expect(calls[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Item: { ...stored, pk: 'rollout#r-1', gsi1pk: 'rollout' },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(Object.keys(calls[0]!.args[0].input.Item!)).not.toContain('executionArn');
  });

  it('reads consistently and strips the table keys', async () => {
    // Prepare
    ddbMock.on(GetCommand).resolvesOnce({ Item: { ...record, pk: 'rollout#r-1', gsi1pk: 'rollout' } }).resolvesOnce({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const found = await rollouts.get('r-1');
    const missing = await rollouts.get('r-2');

    // Assess
    expect(found).toEqual(record);
    expect(missing).toBeNull();
    expect(ddbMock.commandCalls(GetCommand)[0]!.args[0].input).toEqual({ TableName: TABLE, Key: { pk: 'rollout#r-1' }, ConsistentRead: true });
  });

  it('updates fields and appends events in one UpdateItem', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);
    const event = { type: 'WEIGHTS_SET' as const, at: '2025-06-01T12:01:00.000Z', canary: 5, baseline: 95, changeId: 'C1', stageIndex: 1 };

    // Act
    await rollouts.update('r-1', { stageIndex: 1, weight: 5, updatedAt: '2025-06-01T12:01:00.000Z' }, [event]);

    // Assess
    const calls = ddbMock.commandCalls(UpdateCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET #f0 = :v0, #f1 = :v1, #f2 = :v2, #events = list_append(if_not_exists(#events, :empty), :events)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#f0': 'stageIndex', '#f1': 'weight', '#f2': 'updatedAt', '#events': 'events' },
      ExpressionAttributeValues: { ':v0': 1, ':v1': 5, ':v2': '2025-06-01T12:01:00.000Z', ':events': [event], ':empty': [] },
    });
  });

  it('updates fields only when no events are given, and reports a missing rollout', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.update('r-1', { status: 'PROMOTED' });
    const missing = rollouts.update('r-404', { status: 'PROMOTED' });

    // Assess
    await expect(missing).rejects.toMatchObject({ name: 'RolloutNotFound' });
    expect(ddbMock.commandCalls(UpdateCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET #f0 = :v0',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#f0': 'status' },
      ExpressionAttributeValues: { ':v0': 'PROMOTED' },
    });
  });

  it('records an abort request on a running rollout', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    await rollouts.requestAbort('r-1', 'bad deploy', now);

    // Assess
    const at = '2025-06-01T12:00:00.000Z';
    expect(ddbMock.commandCalls(UpdateCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET abortRequested = :abort, updatedAt = :at, #events = list_append(if_not_exists(#events, :empty), :events)',
      ConditionExpression: 'attribute_exists(pk) AND #status IN (:running)',
      ExpressionAttributeNames: { '#status': 'status', '#events': 'events' },
      ExpressionAttributeValues: {
        ':abort': { at, reason: 'bad deploy' }, ':at': at, ':empty': [], ':running': 'RUNNING',
        ':events': [{ type: 'ABORT_REQUESTED', at, reason: 'bad deploy' }],
      },
    });
  });

  it('answers the pending gate of the stage the person saw, and only that one', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolvesOnce({}).rejectsOnce(conditionFailed());
    ddbMock.on(GetCommand).resolves({ Item: { ...record, status: 'RUNNING', pendingApproval: { stageIndex: 3, weight: 25, requestedAt: 'x', deadline: 'y' }, pk: 'rollout#r-1', gsi1pk: 'rollout' } });
    const rollouts = new DynamoRollouts(client(), TABLE);
    const at = '2025-06-01T12:00:00.000Z';

    // Act
    await rollouts.answerApproval('r-1', { stageIndex: 3, approved: true, by: 'alice', at });
    const stale = rollouts.answerApproval('r-1', { stageIndex: 2, approved: false, by: 'bob', reason: 'no', at });

    // Assess
    expect(ddbMock.commandCalls(UpdateCommand)[0]!.args[0].input).toEqual({
      TableName: TABLE,
      Key: { pk: 'rollout#r-1' },
      UpdateExpression: 'SET approval = :answer, updatedAt = :at, #events = list_append(if_not_exists(#events, :empty), :events)',
      ConditionExpression: 'attribute_exists(pk) AND #status = :running AND pendingApproval.stageIndex = :stage',
      ExpressionAttributeNames: { '#status': 'status', '#events': 'events' },
      ExpressionAttributeValues: {
        ':answer': { stageIndex: 3, approved: true, by: 'alice', at }, ':at': at, ':empty': [], ':running': 'RUNNING', ':stage': 3,
        ':events': [{ type: 'APPROVAL_ANSWERED', at, stageIndex: 3, approved: true, by: 'alice' }],
      },
    });
    await expect(stale).rejects.toMatchObject({ name: 'GateNotPending', message: expect.stringContaining('it waits at stage 4') });
  });

  it('refuses to abort a rollout that is not running, naming its status', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(conditionFailed());
    ddbMock.on(GetCommand).resolves({ Item: { ...record, status: 'PROMOTED', pk: 'rollout#r-1', gsi1pk: 'rollout' } });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const result = rollouts.requestAbort('r-1', 'bad deploy', now);

    // Assess
    await expect(result).rejects.toThrow(RolloutNotRunningError);
    await expect(result).rejects.toMatchObject({ name: 'RolloutNotRunning', status: 'PROMOTED', message: expect.stringContaining('PROMOTED') });
  });

  it('lists the newest rollouts through the byStart index', async () => {
    // Prepare
    ddbMock.on(QueryCommand).resolves({ Items: [{ ...record, pk: 'rollout#r-1', gsi1pk: 'rollout' }] });
    const rollouts = new DynamoRollouts(client(), TABLE);

    // Act
    const listed = await rollouts.list(20);

    // Assess
    expect(listed).toEqual([record]);
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
