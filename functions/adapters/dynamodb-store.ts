/**
 * RolloutStore on one DynamoDB table (partition key `pk`, string; no sort key), through the
 * DocumentClient. Three kinds of items:
 * - the head of a rollout's record, `rollout#<id>`: small and bounded whatever the rollout's length,
 *   listed newest first through the `byStart` index (gsi1pk = 'rollout', startedAt) and, while the
 *   rollout is RUNNING or ROLLING_BACK, or closed but not yet known to have released its target's
 *   lock, through the sparse `byActive` index (activePk = 'active': what the reconciler sweeps);
 * - each event of a rollout, its own item `rollout#<id>#event#<sortKey>`, read in order through the
 *   `byRollout` index (evPk = `rollout#<id>`, evSk = `<at>#<sequence in the writing process>#<random>`);
 * - the lock of a traffic target, `lock#<key>`: owner (rollout id), fencing token, lease.
 * Writes that must agree (take the lock and create the record; fence = check the record and renew
 * the lease; take over) are single transactions.
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { controlRefusal, retryRefusal } from '../core/controls.ts';
import {
  ControlRefusedError, FencedOutError, GateNotPendingError, PreflightError, RolloutNotFoundError, RolloutNotRunningError, ThrottledError, TransientAwsError,
} from '../core/errors.ts';
import type { BeginResult, LockHolder, RolloutStore, TakeOverResult } from '../core/ports.ts';
import {
  isActive, type ApprovalAnswer, type ControlAction, type ControlRequest, type RolloutEvent, type RolloutHistory, type RolloutRecord, type RolloutStatus,
} from '../core/rollout-record.ts';
import type { IncidentUpdateRef } from '../core/incident-status.ts';
import { callAws, isAwsError, mapAwsError } from './aws-errors.ts';

const SERVICE = 'DynamoDB';
const CONDITION_FAILED = 'ConditionalCheckFailedException';
const TRANSACTION_CANCELED = 'TransactionCanceledException';
/** DynamoDB's TTL deletes an expired lock item this long after its lease ended. */
const LOCK_TTL_GRACE_SECONDS = 86_400;
/** Name of the rollouts' listing index and its partition value. */
export const BY_START_INDEX = 'byStart';
/** Sparse index of the rollouts still running or rolling back (the reconciler sweeps it). */
export const BY_ACTIVE_INDEX = 'byActive';
/** Index of a rollout's events, in order. */
export const BY_ROLLOUT_INDEX = 'byRollout';
const ROLLOUT_PARTITION = 'rollout';
const ACTIVE_PARTITION = 'active';
const MAX_PAGES = 1000;

export const lockPk = (key: string) => `lock#${key}`;
export const rolloutPk = (rolloutId: string) => `rollout#${rolloutId}`;
const eventPk = (rolloutId: string, sortKey: string) => `rollout#${rolloutId}#event#${sortKey}`;

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

let lastSequence = 0n;
/**
 * A number that only grows in this process (from the monotonic clock), fixed width: the part of an
 * event's sort key that orders the events one process writes within the same millisecond (a step
 * that records IN_SYNC then DRIFT at the same `at`; every step of a simulation, where time moves
 * only at Waits). The random salt after it keeps keys from two processes apart.
 */
function nextSequence(): string {
  const now = process.hrtime.bigint();
  lastSequence = now > lastSequence ? now : lastSequence + 1n;
  return lastSequence.toString().padStart(20, '0');
}

const cancellationCodes = (err: unknown) =>
  ((err as { CancellationReasons?: ({ Code?: string } | null)[] }).CancellationReasons ?? []).map((r) => r?.Code ?? 'None');

/**
 * Which items of a canceled transaction failed their condition (DynamoDB lists one reason per
 * item), or null when the error is not a cancellation by a condition. A transaction canceled for
 * another reason (a conflict with a concurrent write to one of its items, throttling) says nothing
 * about ownership: `mapTransactionError` makes it retryable instead.
 */
function canceledConditions(err: unknown): boolean[] | null {
  if (!isAwsError(err, TRANSACTION_CANCELED)) return null;
  const codes = cancellationCodes(err);
  if (!codes.includes('ConditionalCheckFailed')) return null;
  return codes.map((code) => code === 'ConditionalCheckFailed');
}

/**
 * mapAwsError, and a transaction canceled without a failed condition: a conflict with another
 * write to the same item (a person's abort or answer beside a step's fence, the safety net beside a
 * late step) is TransientAwsError, throttling is Throttled; both are retried by the workflow.
 */
function mapTransactionError(err: unknown): never {
  if (isAwsError(err, TRANSACTION_CANCELED)) {
    const codes = cancellationCodes(err);
    if (codes.some((c) => c === 'ThrottlingError' || c === 'ProvisionedThroughputExceeded' || c === 'RequestLimitExceeded')) throw new ThrottledError(SERVICE, err);
    if (codes.includes('TransactionConflict')) throw new TransientAwsError(SERVICE, err);
  }
  return mapAwsError(SERVICE, err);
}

export class DynamoRollouts implements RolloutStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#table = tableName;
  }

  #eventItems(rolloutId: string, events: RolloutEvent[]) {
    const salt = randomUUID().slice(0, 8);
    return events.map((event) => {
      const sortKey = `${event.at}#${nextSequence()}#${salt}`;
      return { Put: { TableName: this.#table, Item: withoutUndefined({ ...event, pk: eventPk(rolloutId, sortKey), evPk: rolloutPk(rolloutId), evSk: sortKey }) } };
    });
  }

  #lockItem(key: string, owner: string, token: string, leaseSeconds: number, now: Date) {
    const expires = new Date(now.getTime() + leaseSeconds * 1000);
    const expiresAtEpoch = epochSeconds(expires);
    return { pk: lockPk(key), owner, token, expiresAt: expires.toISOString(), expiresAtEpoch, ttl: expiresAtEpoch + LOCK_TTL_GRACE_SECONDS };
  }

  async begin(record: RolloutRecord, events: RolloutEvent[], lock: { key: string; leaseSeconds: number; now: Date }): Promise<BeginResult> {
    const token = record.token ?? '';
    try {
      await this.#client.send(new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.#table,
              Item: this.#lockItem(lock.key, record.rolloutId, token, lock.leaseSeconds, lock.now),
              // Free, expired, or ours already (a retried preflight).
              ConditionExpression: 'attribute_not_exists(pk) OR expiresAtEpoch < :now OR (#owner = :owner AND #token = :token)',
              ExpressionAttributeNames: { '#owner': 'owner', '#token': 'token' },
              ExpressionAttributeValues: { ':owner': record.rolloutId, ':token': token, ':now': epochSeconds(lock.now) },
            },
          },
          {
            Put: {
              TableName: this.#table,
              Item: withoutUndefined({
                ...record, eventCount: events.length, pk: rolloutPk(record.rolloutId), gsi1pk: ROLLOUT_PARTITION,
                ...(isActive(record.status) ? { activePk: ACTIVE_PARTITION } : {}),
              }),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          ...this.#eventItems(record.rolloutId, events),
        ],
      }));
      return { started: true };
    } catch (err) {
      const failed = canceledConditions(err);
      if (!failed) mapTransactionError(err);
      if (failed[0]) {
        const holder = await this.lockHolder(lock.key);
        if (holder) return { started: false, holder: holder.owner, expiresAt: holder.expiresAt };
      }
      const existing = await this.get(record.rolloutId);
      if (existing && existing.token === token && isActive(existing.status)) return { started: true };
      if (existing) throw new PreflightError(`rollout id ${record.rolloutId} was already used (status ${existing.status}); start the execution under a new name`);
      // The lock that refused us was released before we read it: nothing was written, try again.
      throw new TransientAwsError(SERVICE, err);
    }
  }

  async get(rolloutId: string): Promise<RolloutRecord | null> {
    const out = await callAws(SERVICE, () => this.#client.send(new GetCommand({
      TableName: this.#table, Key: { pk: rolloutPk(rolloutId) }, ConsistentRead: true,
    })));
    return out.Item ? toRecord(out.Item) : null;
  }

  async history(rolloutId: string): Promise<RolloutHistory | null> {
    const head = await this.get(rolloutId);
    if (!head) return null;
    // A record written before events were items (an older version of the stack) keeps them inline, first.
    const { events: inline, ...rest } = head as RolloutRecord & { events?: unknown };
    const older = Array.isArray(inline) ? (inline as RolloutEvent[]) : [];
    return { ...rest, events: [...older, ...(await this.events(rolloutId)).events] };
  }

  async events(rolloutId: string, cursor?: string): Promise<{ events: RolloutEvent[]; cursor?: string }> {
    const events: RolloutEvent[] = [];
    let last = cursor;
    let startKey: Record<string, unknown> | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await callAws(SERVICE, () => this.#client.send(new QueryCommand({
        TableName: this.#table,
        IndexName: BY_ROLLOUT_INDEX,
        KeyConditionExpression: cursor ? 'evPk = :p AND evSk > :c' : 'evPk = :p',
        ExpressionAttributeValues: { ':p': rolloutPk(rolloutId), ...(cursor ? { ':c': cursor } : {}) },
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      })));
      for (const item of out.Items ?? []) {
        const { pk: _pk, evPk: _evPk, evSk, ...event } = item;
        events.push(event as RolloutEvent);
        last = String(evSk);
      }
      startKey = out.LastEvaluatedKey;
      if (!startKey) break;
    }
    return { events, cursor: last };
  }

  async fence(rolloutId: string, fence: { lockKey: string; token: string; leaseSeconds: number; now: Date }): Promise<void> {
    const lock = this.#lockItem(fence.lockKey, rolloutId, fence.token, fence.leaseSeconds, fence.now);
    try {
      await this.#client.send(new TransactWriteCommand({
        TransactItems: [
          {
            ConditionCheck: {
              TableName: this.#table, Key: { pk: rolloutPk(rolloutId) },
              // HALTED is still the workflow's: it waits for a person, renewing its lease.
              ConditionExpression: '#status IN (:running, :halted) AND #token = :token',
              ExpressionAttributeNames: { '#status': 'status', '#token': 'token' },
              ExpressionAttributeValues: { ':running': 'RUNNING', ':halted': 'HALTED', ':token': fence.token },
            },
          },
          {
            Update: {
              TableName: this.#table, Key: { pk: lock.pk },
              UpdateExpression: 'SET expiresAt = :exp, expiresAtEpoch = :epoch, #ttl = :ttl',
              ConditionExpression: '#owner = :owner AND #token = :token',
              ExpressionAttributeNames: { '#owner': 'owner', '#token': 'token', '#ttl': 'ttl' },
              ExpressionAttributeValues: { ':exp': lock.expiresAt, ':epoch': lock.expiresAtEpoch, ':ttl': lock.ttl, ':owner': rolloutId, ':token': fence.token },
            },
          },
        ],
      }));
    } catch (err) {
      const failed = canceledConditions(err);
      if (!failed) mapTransactionError(err);
      if (failed[0]) {
        const record = await this.get(rolloutId);
        throw new FencedOutError(rolloutId, !record ? 'no rollout record'
          : record.status !== 'RUNNING' && record.status !== 'HALTED' ? `the rollout is ${record.status}` : 'it was taken over (by the safety net or the reconciler)');
      }
      const holder = await this.lockHolder(fence.lockKey);
      throw new FencedOutError(rolloutId, holder ? `the traffic target's lock is held by ${holder.owner}${holder.owner === rolloutId ? ' with another token' : ''}` : "the traffic target's lock was released");
    }
  }

  /**
   * Sets every field of `patch` and appends `events` (each its own item), in one transaction. A field
   * set to `undefined` in the patch is removed. `rolloutId` (the key) cannot be patched.
   */
  async update(rolloutId: string, patch: Partial<RolloutRecord>, events: RolloutEvent[] = [], options: { token?: string } = {}): Promise<void> {
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
    if (patch.status !== undefined && isActive(patch.status)) {
      // In the sparse index while active; it leaves it when its lock is released (releaseLock), so
      // a rollout closed by a step that then failed to release the lock is still swept.
      sets.push('activePk = :active');
      values[':active'] = ACTIVE_PARTITION;
    }
    if (events.length > 0) {
      sets.push('eventCount = if_not_exists(eventCount, :zero) + :n');
      values[':zero'] = 0;
      values[':n'] = events.length;
    }
    if (sets.length === 0 && removes.length === 0) return;
    let condition = 'attribute_exists(pk)';
    if (options.token !== undefined) {
      condition += ' AND #token = :token';
      names['#token'] = 'token';
      values[':token'] = options.token;
    }
    const expression = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].filter(Boolean).join(' ');
    const update = {
      TableName: this.#table,
      Key: { pk: rolloutPk(rolloutId) },
      UpdateExpression: expression,
      ConditionExpression: condition,
      ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
      ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
    };
    try {
      if (events.length === 0) await this.#client.send(new UpdateCommand(update));
      else await this.#client.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, ...this.#eventItems(rolloutId, events)] }));
    } catch (err) {
      const failed = isAwsError(err, CONDITION_FAILED) ? [true] : canceledConditions(err);
      if (!failed?.[0]) mapTransactionError(err);
      const record = await this.get(rolloutId);
      if (!record) throw new RolloutNotFoundError(rolloutId);
      throw new FencedOutError(rolloutId, 'it was taken over (by the safety net or the reconciler)');
    }
  }

  async takeOver(rolloutId: string, args: { lockKey: string; token: string; leaseSeconds: number; now: Date }): Promise<TakeOverResult> {
    const record = await this.get(rolloutId);
    if (!record) return { ok: false, reason: 'NOT_FOUND' };
    if (!isActive(record.status)) return { ok: false, reason: 'CLOSED', record };
    try {
      await this.#client.send(new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.#table, Key: { pk: rolloutPk(rolloutId) },
              UpdateExpression: 'SET #token = :token',
              ConditionExpression: '#status IN (:running, :rollingBack, :halted)',
              ExpressionAttributeNames: { '#token': 'token', '#status': 'status' },
              ExpressionAttributeValues: { ':token': args.token, ':running': 'RUNNING', ':rollingBack': 'ROLLING_BACK', ':halted': 'HALTED' },
            },
          },
          {
            Put: {
              TableName: this.#table,
              Item: this.#lockItem(args.lockKey, rolloutId, args.token, args.leaseSeconds, args.now),
              ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR expiresAtEpoch < :now',
              ExpressionAttributeNames: { '#owner': 'owner' },
              ExpressionAttributeValues: { ':owner': rolloutId, ':now': epochSeconds(args.now) },
            },
          },
        ],
      }));
      return { ok: true, record: { ...record, token: args.token } };
    } catch (err) {
      const failed = canceledConditions(err);
      if (!failed) mapTransactionError(err);
      const now = await this.get(rolloutId);
      if (!now) return { ok: false, reason: 'NOT_FOUND' };
      if (failed[0] || !isActive(now.status)) return { ok: false, reason: 'CLOSED', record: now };
      const holder = await this.lockHolder(args.lockKey);
      if (holder) return { ok: false, reason: 'LOCK_HELD', record: now, holder };
      // The lock that refused us was released before we read it: nothing was written, try again.
      throw new TransientAwsError(SERVICE, err);
    }
  }

  async acquireLock(lockKey: string, owner: string, leaseSeconds: number, now: Date): Promise<BeginResult> {
    try {
      await this.#client.send(new PutCommand({
        TableName: this.#table,
        Item: this.#lockItem(lockKey, owner, owner, leaseSeconds, now),
        ConditionExpression: 'attribute_not_exists(pk) OR #owner = :owner OR expiresAtEpoch < :now',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner, ':now': epochSeconds(now) },
      }));
      return { started: true };
    } catch (err) {
      if (!isAwsError(err, CONDITION_FAILED)) mapAwsError(SERVICE, err);
      const holder = await this.lockHolder(lockKey);
      if (!holder) return this.acquireLock(lockKey, owner, leaseSeconds, now);
      return { started: false, holder: holder.owner, expiresAt: holder.expiresAt };
    }
  }

  async releaseLock(lockKey: string, rolloutId: string): Promise<void> {
    try {
      await this.#client.send(new DeleteCommand({
        TableName: this.#table,
        Key: { pk: lockPk(lockKey) },
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': rolloutId },
      }));
    } catch (err) {
      // Not ours (taken over) or already gone: releasing is idempotent.
      if (!isAwsError(err, CONDITION_FAILED)) mapAwsError(SERVICE, err);
    }
    // A closed rollout holding no lock needs no more sweeping: it leaves the index.
    try {
      await this.#client.send(new UpdateCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(rolloutId) },
        UpdateExpression: 'REMOVE activePk',
        ConditionExpression: 'attribute_exists(activePk) AND NOT (#status IN (:running, :rollingBack, :halted))',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':running': 'RUNNING', ':rollingBack': 'ROLLING_BACK', ':halted': 'HALTED' },
      }));
    } catch (err) {
      // Still active (released early), not a rollout (a soak check's lock), or already out.
      if (!isAwsError(err, CONDITION_FAILED)) mapAwsError(SERVICE, err);
    }
  }

  async lockHolder(lockKey: string): Promise<LockHolder | null> {
    const out = await callAws(SERVICE, () => this.#client.send(new GetCommand({
      TableName: this.#table, Key: { pk: lockPk(lockKey) }, ConsistentRead: true,
    })));
    const item = out.Item;
    if (!item || typeof item.owner !== 'string') return null;
    return { owner: item.owner, token: String(item.token ?? ''), expiresAt: String(item.expiresAt) };
  }

  async requestAbort(rolloutId: string, reason: string, now: Date): Promise<void> {
    const at = now.toISOString();
    await this.#guardedAppend(rolloutId, {
      set: ['abortRequested = :abort', 'updatedAt = :at'], values: { ':abort': { at, reason }, ':at': at, ':running': 'RUNNING', ':halted': 'HALTED' },
      condition: 'attribute_exists(pk) AND #status IN (:running, :halted)',
    }, { type: 'ABORT_REQUESTED', at, reason }, async (current) => {
      throw new RolloutNotRunningError(rolloutId, current.status);
    });
  }

  async answerApproval(rolloutId: string, answer: ApprovalAnswer): Promise<void> {
    const event: RolloutEvent = {
      type: 'APPROVAL_ANSWERED', at: answer.at, stageIndex: answer.stageIndex, approved: answer.approved, by: answer.by,
      ...(answer.reason ? { reason: answer.reason } : {}),
    };
    await this.#guardedAppend(rolloutId, {
      set: ['approval = :answer', 'updatedAt = :at'],
      values: { ':answer': withoutUndefined(answer), ':at': answer.at, ':stage': answer.stageIndex, ':running': 'RUNNING' },
      condition: 'attribute_exists(pk) AND #status = :running AND pendingApproval.stageIndex = :stage',
    }, event, async (current) => {
      if (current.status !== 'RUNNING') throw new RolloutNotRunningError(rolloutId, current.status);
      throw new GateNotPendingError(rolloutId, current.pendingApproval
        ? `at stage ${answer.stageIndex + 1} (it waits at stage ${current.pendingApproval.stageIndex + 1})`
        : 'at any stage');
    });
  }

  /**
   * One conditional write: the head's `incidentUpdate` becomes `update` only while the one it
   * holds (if any) is numbered below it, so that of two steps sending the same status update
   * (a retry, a late Lambda) exactly one claims it.
   */
  async claimIncidentUpdate(rolloutId: string, update: IncidentUpdateRef): Promise<boolean> {
    try {
      await this.#client.send(new UpdateCommand({
        TableName: this.#table,
        Key: { pk: rolloutPk(rolloutId) },
        UpdateExpression: 'SET #update = :update, updatedAt = :at',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#update) OR #update.#seq < :seq)',
        ExpressionAttributeNames: { '#update': 'incidentUpdate', '#seq': 'seq' },
        ExpressionAttributeValues: { ':update': withoutUndefined(update), ':at': update.at, ':seq': update.seq },
      }));
      return true;
    } catch (err) {
      if (!isAwsError(err, CONDITION_FAILED)) return mapAwsError(SERVICE, err);
      if (!(await this.get(rolloutId))) throw new RolloutNotFoundError(rolloutId);
      return false;
    }
  }

  /**
   * A person's request, each its own conditional write (the conditions are controlRefusal's rules,
   * controls.ts, as DynamoDB can test them): refused, nothing is written and the refusal says why
   * from the head as it is then. RESUME clears a pause, or asks a HALTED rollout to go on.
   */
  async requestControl(rolloutId: string, action: ControlAction, request: ControlRequest): Promise<void> {
    const asked = withoutUndefined(request);
    const event: RolloutEvent = { type: 'CONTROL', at: request.at, request: action, by: request.by, ...(request.reason ? { reason: request.reason } : {}) };
    const refused = async (current: RolloutRecord): Promise<never> => {
      throw new ControlRefusedError(controlRefusal(current, action) ?? `rollout ${rolloutId} changed while the request was written: try again`);
    };
    const base = { ':at': request.at, ':asked': asked, ':running': 'RUNNING' };
    if (action === 'PROMOTE') {
      await this.#guardedAppend(rolloutId, {
        set: ['promoteRequested = :asked', 'updatedAt = :at'], values: { ...base, ':halted': 'HALTED' },
        condition: 'attribute_exists(pk) AND #status IN (:running, :halted) AND attribute_not_exists(abortRequested) AND attribute_not_exists(promoteRequested)',
      }, event, refused);
      return;
    }
    if (action === 'PAUSE') {
      await this.#guardedAppend(rolloutId, {
        set: ['paused = :asked', 'updatedAt = :at'], values: base,
        condition: 'attribute_exists(pk) AND #status = :running AND attribute_not_exists(paused) AND attribute_not_exists(promoteRequested)',
      }, event, refused);
      return;
    }
    // RESUME: which write depends on the head; the condition holds it to what was read.
    const current = await this.get(rolloutId);
    if (!current) throw new RolloutNotFoundError(rolloutId);
    if (controlRefusal(current, 'RESUME')) await refused(current);
    if (current.status === 'HALTED') {
      await this.#guardedAppend(rolloutId, {
        set: ['resumeRequested = :asked', 'updatedAt = :at'], remove: ['paused'], values: { ':at': request.at, ':asked': asked, ':halted': 'HALTED' },
        condition: 'attribute_exists(pk) AND #status = :halted AND attribute_not_exists(resumeRequested) AND attribute_not_exists(abortRequested) AND attribute_not_exists(promoteRequested)',
      }, event, refused);
      return;
    }
    // Who asked is kept for the workflow's RESUMED event.
    await this.#guardedAppend(rolloutId, {
      set: ['resumeRequested = :asked', 'updatedAt = :at'], remove: ['paused'], values: { ':at': request.at, ':asked': asked, ':running': 'RUNNING' },
      condition: 'attribute_exists(pk) AND #status = :running AND attribute_exists(paused)',
    }, event, refused);
  }

  async linkRetry(rolloutId: string, retryId: string, request: ControlRequest): Promise<void> {
    const event: RolloutEvent = { type: 'RETRIED', at: request.at, retryId, by: request.by, ...(request.reason ? { reason: request.reason } : {}) };
    await this.#guardedAppend(rolloutId, {
      set: ['retriedBy = :retry', 'updatedAt = :at'],
      values: { ':retry': retryId, ':at': request.at, ':rolledBack': 'ROLLED_BACK', ':failed': 'ROLLBACK_FAILED' },
      condition: 'attribute_exists(pk) AND #status IN (:rolledBack, :failed) AND attribute_not_exists(retriedBy) AND attribute_exists(config)',
    }, event, async (current) => {
      throw new ControlRefusedError(retryRefusal(current) ?? `rollout ${rolloutId} changed while the retry was linked: try again`);
    });
  }

  async unlinkRetry(rolloutId: string, retryId: string, at: string, why: string): Promise<void> {
    await this.#guardedAppend(rolloutId, {
      set: ['updatedAt = :at'], remove: ['retriedBy'], values: { ':at': at, ':retry': retryId },
      condition: 'attribute_exists(pk) AND retriedBy = :retry',
    }, { type: 'NOTE', at, message: `the retry ${retryId} could not be started: ${why}` }, async () => undefined as never).catch((error: unknown) => {
      // Not linked to this retry (any more): nothing to undo.
      if ((error as Error).name !== 'RolloutNotFound') throw error;
    });
  }

  /**
   * A person's write on a rollout (abort, an answer, a request), with its event, in one
   * transaction; `refused` explains a failed condition from the head as it is then (it may return
   * when a refusal needs no error).
   */
  async #guardedAppend(
    rolloutId: string, write: { set: string[]; remove?: string[]; values: Record<string, unknown>; condition: string }, event: RolloutEvent,
    refused: (current: RolloutRecord) => Promise<never>,
  ): Promise<void> {
    const update = `SET ${[...write.set, 'eventCount = if_not_exists(eventCount, :zero) + :one'].join(', ')}${write.remove?.length ? ` REMOVE ${write.remove.join(', ')}` : ''}`;
    const usesStatus = write.condition.includes('#status');
    try {
      await this.#client.send(new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.#table,
              Key: { pk: rolloutPk(rolloutId) },
              UpdateExpression: update,
              ConditionExpression: write.condition,
              ...(usesStatus ? { ExpressionAttributeNames: { '#status': 'status' } } : {}),
              ExpressionAttributeValues: { ...write.values, ':zero': 0, ':one': 1 },
            },
          },
          ...this.#eventItems(rolloutId, [withoutUndefined(event)]),
        ],
      }));
    } catch (err) {
      if (!canceledConditions(err)?.[0]) mapTransactionError(err);
      const current = await this.get(rolloutId);
      if (!current) throw new RolloutNotFoundError(rolloutId);
      await refused(current);
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

  async listActive(): Promise<RolloutRecord[]> {
    const ids: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await callAws(SERVICE, () => this.#client.send(new QueryCommand({
        TableName: this.#table,
        IndexName: BY_ACTIVE_INDEX,
        KeyConditionExpression: 'activePk = :p',
        ExpressionAttributeValues: { ':p': ACTIVE_PARTITION },
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      })));
      // The index projects the keys only (pk, activePk, startedAt): the rollout id is in pk.
      ids.push(...(out.Items ?? []).map((item) => String(item.pk).slice(rolloutPk('').length)));
      startKey = out.LastEvaluatedKey;
      if (!startKey) break;
    }
    // The index is eventually consistent: read each head again before anyone acts on it, and keep
    // those still in it: active, or closed and not yet known to have released the lock (the
    // reconciler releases it). One that has left since the index was read is dropped.
    const fresh = await Promise.all(ids.map((id) => callAws(SERVICE, () => this.#client.send(new GetCommand({
      TableName: this.#table, Key: { pk: rolloutPk(id) }, ConsistentRead: true,
    })))));
    return fresh.flatMap((out) => (out.Item && (out.Item.activePk === ACTIVE_PARTITION || isActive(out.Item.status as RolloutStatus)) ? [toRecord(out.Item)] : []));
  }
}

function toRecord(item: Record<string, unknown>): RolloutRecord {
  const { pk: _pk, gsi1pk: _gsi1pk, activePk: _activePk, ...record } = item;
  return record as unknown as RolloutRecord;
}
