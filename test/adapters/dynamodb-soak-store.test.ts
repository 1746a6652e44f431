/**
 * DynamoSoakStore on moto's DynamoDB (real update and condition expressions over HTTP): one
 * incident claimed at a time, updates and closes only of the incident they name. Plus the
 * mapping of DynamoDB's errors, with aws-sdk-client-mock.
 */
import { CreateTableCommand, DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoSoakStore, soakPk } from '../../functions/adapters/dynamodb-soak-store.ts';
import { ThrottledError } from '../../functions/core/errors.ts';
import type { SoakOpenIncident } from '../../functions/core/ports.ts';
import { motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';

const TABLE = 'canary-soak-state';
const now = new Date('2026-03-09T12:00:00.000Z');
const later = new Date('2026-03-09T12:30:00.000Z');

const incident = (dedupKey: string): SoakOpenIncident => ({
  dedupKey, openedAt: now.toISOString(), reasons: ['error-rate 4 % is above the maximum 1 %'], severity: 'critical',
});

const skip = motoSkipReason();

describe.skipIf(skip !== null)('DynamoSoakStore on moto', () => {
  const moto = useMoto();
  let store: DynamoSoakStore;
  let doc: DynamoDBDocumentClient;

  beforeAll(async () => {
    const dynamo = new DynamoDBClient(motoClientConfig(moto.endpoint));
    await dynamo.send(new CreateTableCommand({
      TableName: TABLE, BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }));
    doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
    store = new DynamoSoakStore(doc, TABLE);
  });

  it('claims one open incident at a time', async () => {
    // Act
    const first = await store.claimIncident('a', incident('k1'), now);
    const second = await store.claimIncident('a', incident('k2'), now);

    // Assess
    expect([first, second]).toEqual([true, false]);
    expect(await store.get('a')).toEqual({ name: 'a', openIncident: incident('k1'), updatedAt: now.toISOString() });
  });

  it('updates and closes only the incident it names, then lets the next one be claimed', async () => {
    // Prepare
    await store.claimIncident('b', incident('k1'), now);
    const deliveries = [{ target: 'sns' as const, ok: true, attempts: 1, id: 'msg-1' }];

    // Act
    await store.updateIncident('b', 'other', { deliveries: [] }, later);
    await store.updateIncident('b', 'k1', { deliveries }, later);
    await store.closeIncident('b', 'other', later);
    const stillOpen = await store.get('b');
    await store.closeIncident('b', 'k1', later);
    const closed = await store.get('b');
    const reclaimed = await store.claimIncident('b', incident('k3'), later);

    // Assess
    expect(stillOpen!.openIncident).toEqual({ ...incident('k1'), deliveries });
    expect(closed).toEqual({ name: 'b', lastResolved: { dedupKey: 'k1', resolvedAt: later.toISOString() }, updatedAt: later.toISOString() });
    expect(reclaimed).toBe(true);
    const raw = await doc.send(new GetCommand({ TableName: TABLE, Key: { pk: soakPk('b') } }));
    expect(raw.Item?.pk).toBe('soak#b');
    expect(raw.Item).not.toHaveProperty('gsi1pk');
  });

  it('is a no-op to update or close when nothing is open', async () => {
    // Act
    await store.updateIncident('c', 'k1', { reasons: ['x'] }, now);
    await store.closeIncident('c', 'k1', now);

    // Assess
    expect(await store.get('c')).toBeNull();
  });

  it('records the post-promotion rollback beside the open incident', async () => {
    // Prepare
    await store.claimIncident('d', incident('k1'), now);

    // Act
    await store.recordRollback('d', { rolloutId: 'r-42', at: later.toISOString(), changeId: 'C9' }, later);

    // Assess
    expect(await store.get('d')).toMatchObject({
      openIncident: { dedupKey: 'k1' }, postPromotionRollback: { rolloutId: 'r-42', at: later.toISOString(), changeId: 'C9' },
    });
  });
});

describe('DynamoSoakStore errors', () => {
  // Created here, not at collection: mocking the client's prototype would also catch the moto suite.
  let ddbMock: ReturnType<typeof mockClient>;
  afterAll(() => ddbMock?.restore());

  it('maps throttling to Throttled, for Step Functions and Lambda retries', async () => {
    // Prepare
    ddbMock = mockClient(DynamoDBDocumentClient);
    ddbMock.on(UpdateCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    ddbMock.on(GetCommand).rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: { httpStatusCode: 400 } }));
    const store = new DynamoSoakStore(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' })), TABLE);

    // Act
    const claim = store.claimIncident('a', incident('k1'), now);
    const get = store.get('a');

    // Assess
    await expect(claim).rejects.toBeInstanceOf(ThrottledError);
    await expect(get).rejects.toBeInstanceOf(ThrottledError);
  });
});
