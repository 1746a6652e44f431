/**
 * LockPort and RolloutStore on one DynamoDB table (partition key `pk`, string; no sort key),
 * through the DocumentClient. Locks are `lock#<key>` items written with a condition (a lease,
 * taken over once expired); rollouts are `rollout#<id>` items listed newest first through the
 * `byStart` index (partition `gsi1pk` = 'rollout', sort `startedAt`).
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { GateNotPendingError, RolloutNotFoundError, RolloutNotRunningError, TransientAwsError } from '../core/errors.ts';
import type { LockPort, LockResult, RolloutStore } from '../core/ports.ts';
import type { ApprovalAnswer, RolloutEvent, RolloutRecord } from '../core/rollout-record.ts';
import { callAws, isAwsError, mapAwsError } from './aws-errors.ts';

const SERVICE = 'DynamoDB';
const CONDITION_FAILED = 'ConditionalCheckFailedException';
/** DynamoDB's TTL deletes an expired lock item this long after its lease ended. */
const LOCK_TTL_GRACE_SECONDS = 86_400;
/** Name of the rollouts' listing index and its partition value. */
export const BY_START_INDEX = 'byStart';
const ROLLOUT_PARTITION = 'rollout';

export const lockPk = (key: string) => `lock#${key}`;
export const rolloutPk = (rolloutId: string) => `rollout#${rolloutId}`;

/** Drops `undefined` (the DocumentClient refuses it unless told otherwise) at every depth. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => withoutUndefined(v)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]),
    ) as T;
  }
  return value;
}

const epochSeconds = (d: Date) => Math.floor(d.getTime() / 1000);

export class DynamoLocks implements LockPort {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async acquire(key: string, owner: string, leaseSeconds: number, now: Date): Promise<LockResult> {
    const expires = new Date(now.getTime() + leaseSeconds * 1000);
    const expiresAtEpoch = epochSeconds(expires);
    // The holder can vanish (released) or its lease end between our write and our read: try again.
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#client.send(new PutCommand({
          TableName: this.#table,
          Item: {
            pk: lockPk(key), owner, expiresAt: expires.toISOString(), expiresAtEpoch,
            ttl: expiresAtEpoch + LOCK_TTL_GRACE_SECONDS,
          },
          // Free, ours already (renewal), or the holder's lease is over (takeover).
          ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR expiresAtEpoch < :now',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner, ':now': epochSeconds(now) },
        }));
        return { acquired: true };
      } catch (err) {
        if (!isAwsError(err, CONDITION_FAILED)) mapAwsError(SERVICE, err);
      }
      const held = await callAws(SERVICE, () => this.#client.send(new GetCommand({
        TableName: this.#table, Key: { pk: lockPk(key) }, ConsistentRead: true,
      })));
      const item = held.Item;
      if (item && typeof item.owner === 'string' && item.owner !== owner && Number(item.expiresAtEpoch) >= epochSeconds(now)) {
        return { acquired: false, holder: item.owner, expiresAt: String(item.expiresAt) };
      }
    }
    throw new TransientAwsError(SERVICE, new Error(`lock ${key} is changing hands too fast to acquire`));
  }

  async release(key: string, owner: string): Promise<void> {
    try {
      await this.#client.send(new DeleteCommand({
        TableName: this.#table,
        Key: { pk: lockPk(key) },
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner },
      }));
    } catch (err) {
      // Not ours (taken over) or already gone: releasing is idempotent.
      if (isAwsError(err, CONDITION_FAILED)) return;
      mapAwsError(SERVICE, err);
    }
  }
}

export class DynamoRollouts implements RolloutStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  async create(record: RolloutRecord): Promise<void> {
    try {
      await this.#client.send(new PutCommand({
        TableName: this.#table,
        Item: withoutUndefined({ ...record, pk: rolloutPk(record.rolloutId), gsi1pk: ROLLOUT_PARTITION }),
        ConditionExpression: 'attribute_not_exists(pk)',
      }));
    } catch (err) {
      if (isAwsError(err, CONDITION_FAILED)) return; // created by an earlier try of the same step
      mapAwsError(SERVICE, err);
    }
  }

  async get(rolloutId: string): Promise<RolloutRecord | null> {
    const out = await callAws(SERVICE, () => this.#client.send(new GetCommand({
      TableName: this.#table, Key: { pk: rolloutPk(rolloutId) }, ConsistentRead: true,
    })));
    return out.Item ? toRecord(out.Item) : null;
  }

  /**
   * Sets every field of `patch` and appends `events`, in one UpdateItem. A field set to
   * `undefined` in the patch is removed. `rolloutId` (the key) cannot be patched.
   */
  async update(rolloutId: string, patch: Partial<RolloutRecord>, events: RolloutEvent[] = []): Promise<void> {
    if ('events' in patch) throw new Error('DynamoRollouts.update: pass events as the third argument (they are appended), not in the patch');
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    Object.entries(patch).forEach(([field, value], i) => {
      if (field === 'rolloutId') return;
      names[`#f${i}`] = field;
      if (value === undefined) {
        removes.push(`#f${i}`);
      } else {
        values[`:v${i}`] = withoutUndefined(value);
        sets.push(`#f${i} = :v${i}`);
      }
    });
    if (events.length > 0) {
      names['#events'] = 'events';
      values[':events'] = withoutUndefined(events);
      values[':empty'] = [];
      sets.push('#events = list_append(if_not_exists(#events, :empty), :events)');
    }
    if (sets.length === 0 && removes.length === 0) return;
    const expression = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : '']
      .filter(Boolean).join(' ');
    try {
      await this.#client.send(new UpdateCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(rolloutId) },
        UpdateExpression: expression,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
      }));
    } catch (err) {
      if (isAwsError(err, CONDITION_FAILED)) throw new RolloutNotFoundError(rolloutId);
      mapAwsError(SERVICE, err);
    }
  }



  async requestAbort(rolloutId: string, reason: string, now: Date): Promise<void> {
    const at = now.toISOString();
    const event: RolloutEvent = { type: 'ABORT_REQUESTED', at, reason };
    try {
      await this.#client.send(new UpdateCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(rolloutId) },
        UpdateExpression: 'SET abortRequested = :abort, updatedAt = :at, #events = list_append(if_not_exists(#events, :empty), :events)',
        ConditionExpression: 'attribute_exists(pk) AND #status IN (:running)',
        ExpressionAttributeNames: { '#status': 'status', '#events': 'events' },
        ExpressionAttributeValues: { ':abort': { at, reason }, ':at': at, ':events': [event], ':empty': [], ':running': 'RUNNING' },
      }));
    } catch (err) {
      if (!isAwsError(err, CONDITION_FAILED)) mapAwsError(SERVICE, err);
      const current = await this.get(rolloutId);
      if (!current) throw new RolloutNotFoundError(rolloutId);
      throw new RolloutNotRunningError(rolloutId, current.status);
    }
  }

  async answerApproval(rolloutId: string, answer: ApprovalAnswer): Promise<void> {
    const event: RolloutEvent = {
      type: 'APPROVAL_ANSWERED', at: answer.at, stageIndex: answer.stageIndex, approved: answer.approved, by: answer.by,
      ...(answer.reason ? { reason: answer.reason } : {}),
    };
    try {
      await this.#client.send(new UpdateCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(rolloutId) },
        UpdateExpression: 'SET approval = :answer, updatedAt = :at, #events = list_append(if_not_exists(#events, :empty), :events)',
        ConditionExpression: 'attribute_exists(pk) AND #status = :running AND pendingApproval.stageIndex = :stage',
        ExpressionAttributeNames: { '#status': 'status', '#events': 'events' },
        ExpressionAttributeValues: {
          ':answer': withoutUndefined(answer), ':at': answer.at, ':events': [withoutUndefined(event)], ':empty': [], ':running': 'RUNNING', ':stage': answer.stageIndex,
        },
      }));
    } catch (err) {
      if (!isAwsError(err, CONDITION_FAILED)) mapAwsError(SERVICE, err);
      const current = await this.get(rolloutId);
      if (!current) throw new RolloutNotFoundError(rolloutId);
      if (current.status !== 'RUNNING') throw new RolloutNotRunningError(rolloutId, current.status);
      throw new GateNotPendingError(rolloutId, current.pendingApproval
        ? `at stage ${answer.stageIndex + 1} (it waits at stage ${current.pendingApproval.stageIndex + 1})`
        : 'at any stage');
    }
  }

  /** The most recently started rollouts, newest first. */
  async list(limit: number): Promise<RolloutRecord[]> {
    const out = await callAws(SERVICE, () => this.#client.send(new QueryCommand({
      TableName: this.#table,
      IndexName: BY_START_INDEX,
      KeyConditionExpression: 'gsi1pk = :p',
      ExpressionAttributeValues: { ':p': ROLLOUT_PARTITION },
      ScanIndexForward: false,
      Limit: limit,
    })));
    return (out.Items ?? []).map(toRecord);
  }
}

function toRecord(item: Record<string, unknown>): RolloutRecord {
  const { pk: _pk, gsi1pk: _gsi1pk, ...record } = item;
  return record as unknown as RolloutRecord;
}
