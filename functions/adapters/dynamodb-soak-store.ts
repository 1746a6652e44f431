/**
 * SoakStore on the rollouts' DynamoDB table: one `soak#<name>` item per soak check (no `gsi1pk`,
 * so soaks never show in the rollouts' listing). Every write is one conditional UpdateItem, so
 * two runs of the same soak that overlap open at most one incident and resolve only their own.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SoakOpenIncident, SoakRecord, SoakStore } from '../core/ports.ts';
import { callAws, isAwsError, mapAwsError } from './aws-errors.ts';

const SERVICE = 'DynamoDB';
const CONDITION_FAILED = 'ConditionalCheckFailedException';

export const soakPk = (name: string) => `soak#${name}`;

export class DynamoSoakStore implements SoakStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async get(name: string): Promise<SoakRecord | null> {
    const out = await callAws(SERVICE, () => this.#client.send(new GetCommand({
      TableName: this.#table, Key: { pk: soakPk(name) }, ConsistentRead: true,
    })));
    if (!out.Item) return null;
    const { pk: _pk, ...record } = out.Item;
    return record as SoakRecord;
  }

  async claimIncident(name: string, incident: SoakOpenIncident, now: Date): Promise<boolean> {
    return this.#conditional(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: soakPk(name) },
      UpdateExpression: 'SET #name = :name, openIncident = :incident, updatedAt = :at',
      ConditionExpression: 'attribute_not_exists(openIncident)',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':name': name, ':incident': incident, ':at': now.toISOString() },
    }));
  }

  async updateIncident(name: string, dedupKey: string, patch: Partial<Omit<SoakOpenIncident, 'dedupKey'>>, now: Date): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':key': dedupKey, ':at': now.toISOString() };
    const sets = ['updatedAt = :at'];
    Object.entries(patch).forEach(([field, value], i) => {
      if (value === undefined || field === 'dedupKey') return;
      names[`#f${i}`] = field;
      values[`:v${i}`] = value;
      sets.push(`openIncident.#f${i} = :v${i}`);
    });
    await this.#conditional(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: soakPk(name) },
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: 'openIncident.dedupKey = :key',
      ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: values,
    }));
  }

  async closeIncident(name: string, dedupKey: string, now: Date): Promise<void> {
    await this.#conditional(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: soakPk(name) },
      UpdateExpression: 'REMOVE openIncident SET lastResolved = :resolved, updatedAt = :at',
      ConditionExpression: 'openIncident.dedupKey = :key',
      ExpressionAttributeValues: { ':key': dedupKey, ':resolved': { dedupKey, resolvedAt: now.toISOString() }, ':at': now.toISOString() },
    }));
  }

  async recordRollback(name: string, rollback: NonNullable<SoakRecord['postPromotionRollback']>, now: Date): Promise<void> {
    await callAws(SERVICE, () => this.#client.send(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: soakPk(name) },
      UpdateExpression: 'SET #name = :name, postPromotionRollback = :rollback, updatedAt = :at',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':name': name, ':rollback': rollback, ':at': now.toISOString() },
    })));
  }

  /** Sends a conditional write: true when it applied, false when its condition did not hold. */
  async #conditional(command: UpdateCommand): Promise<boolean> {
    try {
      await this.#client.send(command);
      return true;
    } catch (err) {
      if (isAwsError(err, CONDITION_FAILED)) return false;
      return mapAwsError(SERVICE, err);
    }
  }
}
