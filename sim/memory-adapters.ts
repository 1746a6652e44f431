/**
 * In-memory implementations of the rollout's ports, with the semantics of the AWS adapters
 * (Route 53 weighted records, the DynamoDB lock and rollout store, the incident targets), for
 * the simulator and for tests. They hold plain data and copy it in and out, so a caller can
 * never change their state by mutating what it passed or got back.
 */
import { targetKey, type IncidentConfig, type Target } from '../functions/core/config.ts';
import {
  ControlRefusedError, FencedOutError, GateNotPendingError, PreflightError, RolloutNotFoundError, RolloutNotRunningError, ThrottledError, TrafficStateError,
} from '../functions/core/errors.ts';
import type { Incident, IncidentChange, IncidentDelivery } from '../functions/core/incident.ts';
import type { IncidentUpdateRef } from '../functions/core/incident-status.ts';
import type {
  BeginResult, CheckEvidence, Clock, EvidencePort, IncidentPort, LockHolder, Log, RolloutEvidence, RolloutStore, StoredCheck,
  SoakOpenIncident, SoakRecord, SoakStore, TakeOverResult,
} from '../functions/core/ports.ts';
import { controlRefusal, retryRefusal } from '../functions/core/controls.ts';
import {
  isActive, type ApprovalAnswer, type ControlAction, type ControlRequest, type RolloutEvent, type RolloutHistory, type RolloutRecord,
} from '../functions/core/rollout-record.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from '../functions/core/router.ts';
import { uniformInt, type Rng } from './prng.ts';

const copy = <T>(value: T): T => structuredClone(value);

/** Freezes a value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * A frozen copy of plain data, as JSON would carry it: what the in-memory stores keep and hand out,
 * so nobody can change a stored record by mutating what they passed or got back, and nothing needs
 * copying on a read.
 */
const frozenCopy = <T>(value: T): T => (value === null || typeof value !== 'object' ? value : deepFreeze(JSON.parse(JSON.stringify(value)) as T));

/** Both weights of a weighted pair (Route 53 weights: 0-255; we write canary p, baseline 100 - p). */
export interface Weights {
  baseline: number;
  canary: number;
}

/** One weighted record as the simulated Route 53 keeps it. */
export interface SimRecord {
  setIdentifier: string;
  weight: number;
  ttl: number;
  /** The answer (an IP or a name). */
  value: string;
}

/** A weight change batch as the simulated Route 53 saw it. */
export interface WeightChange {
  id: string;
  targetKey: string;
  submittedAt: Date;
  /** When the change reached every authoritative server (drawn at submission). */
  inSyncAt: Date;
  weights: Weights;
  previous: Weights;
  /** Who made it when not a rollout's step: a person, a late Lambda (chaos scenarios). */
  by?: string;
}

/** Route 53's answer to too many requests: the SDK error the adapter maps to Throttled. */
export class SimThrottlingError extends Error {
  constructor(what: string) {
    super(`Rate exceeded (${what})`);
    this.name = 'Throttling';
  }
}

export interface MemoryTrafficOptions {
  clock: Clock;
  rng: Rng;
  /** Seconds from submission to INSYNC, drawn uniformly per change. Default [20, 40]. */
  syncDelaySeconds?: [number, number];
  /**
   * The account-wide request quota every Route 53 call takes a token from (a token bucket on the
   * simulated clock); a call without a token is refused with Throttling, as Route 53 does.
   */
  quota?: { take(now: Date): boolean };
}

type TargetRef = Pick<Target, 'hostedZoneId' | 'recordName' | 'recordType'>;

interface RecordPair {
  target: TargetRef;
  records: Map<string, SimRecord>;
}

type Route53Definition = { kind: 'route53'; records: SimRecord[] };

/**
 * Route 53 in memory, behind the router port: weighted records per hosted zone, name and type; a
 * change batch sets both weights at once and becomes INSYNC some seconds after it was submitted.
 * A forward shift is a compare-and-set (Route 53's DELETE of the exact current record in the same
 * batch as the CREATE of the new one fails if the record changed); a restore UPSERTs both records
 * from their definition. Every call takes a token from the account's quota when one is given.
 */
export class MemoryTraffic implements TrafficRouter<Target> {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #delay: [number, number];
  readonly #quota?: { take(now: Date): boolean };
  readonly #sets = new Map<string, RecordPair>();
  readonly #changes: WeightChange[] = [];
  readonly #changesByKey = new Map<string, WeightChange[]>();
  #seq = 0;
  /** Route 53 requests made and refused for the quota, over the whole run. */
  readonly calls = { total: 0, throttled: 0 };

  constructor(options: MemoryTrafficOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#delay = options.syncDelaySeconds ?? [20, 40];
    this.#quota = options.quota;
  }

  #call(what: string): void {
    this.calls.total++;
    if (this.#quota && !this.#quota.take(this.#clock.now())) {
      this.calls.throttled++;
      // What the Route 53 adapter makes of Route 53's Throttling answer (aws-errors.ts).
      throw new ThrottledError('Route 53', new SimThrottlingError(what));
    }
  }

  /** Creates (or replaces) a weighted record of the target, as a person with the console would. */
  putRecord(target: TargetRef, record: Omit<SimRecord, 'value'> & { value?: string }): void {
    const key = targetKey(target);
    const pair = this.#sets.get(key) ?? { target: { ...target }, records: new Map() };
    pair.records.set(record.setIdentifier, { value: `10.0.0.${pair.records.size + 1}`, ...record });
    this.#sets.set(key, pair);
  }

  /** Deletes a weighted record (a chaos scenario: someone removed it). */
  deleteRecord(target: TargetRef, setIdentifier: string): void {
    this.#sets.get(targetKey(target))?.records.delete(setIdentifier);
  }

  /**
   * Sets weights outside the router port, as a person (or a late Lambda) would: no quota, no
   * compare-and-set; recorded as a change with its author so the service model follows it.
   */
  setWeightsBy(target: Target, weights: Weights, by: string): void {
    const records = this.#sets.get(targetKey(target))?.records;
    const b = records?.get(target.baselineSetIdentifier);
    const c = records?.get(target.canarySetIdentifier);
    if (!b || !c) throw new TrafficStateError('no weighted pair to change');
    this.#record(target, { baseline: b.weight, canary: c.weight }, weights, by);
    b.weight = weights.baseline;
    c.weight = weights.canary;
  }

  /** The longest TTL of the target's records now (what clients may cache), without a Route 53 call. */
  ttl(target: TargetRef): number {
    return Math.max(0, ...[...(this.#sets.get(targetKey(target))?.records.values() ?? [])].map((r) => r.ttl));
  }

  /** The record's TTL (chaos scenarios raise it). */
  setTtl(target: TargetRef, ttl: number): void {
    for (const record of this.#sets.get(targetKey(target))?.records.values() ?? []) record.ttl = ttl;
  }

  async read(target: Target): Promise<RouterReading> {
    this.#call('ListResourceRecordSets');
    const records = this.#sets.get(targetKey(target))?.records;
    return route53Reading(target, records?.get(target.baselineSetIdentifier) ?? null, records?.get(target.canarySetIdentifier) ?? null);
  }

  async shift(target: Target, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    checkPercent(canaryPercent);
    this.#call('ChangeResourceRecordSets');
    const records = this.#sets.get(targetKey(target))?.records;
    const b = records?.get(target.baselineSetIdentifier);
    const c = records?.get(target.canarySetIdentifier);
    if (!b || !c) {
      throw new TrafficStateError(`${target.recordName} ${target.recordType} in zone ${target.hostedZoneId} has no weighted record pair '${target.baselineSetIdentifier}'/'${target.canarySetIdentifier}' (deleted outside the rollout?)`);
    }
    if (options.expectedPercent !== undefined && (c.weight !== options.expectedPercent || b.weight !== 100 - options.expectedPercent)) {
      // Route 53 refuses a DELETE whose values differ from the record's: the whole batch fails.
      throw new TrafficStateError(`the weights changed outside the rollout: expected canary ${options.expectedPercent} / baseline ${100 - options.expectedPercent}, found ${c.weight} / ${b.weight} (InvalidChangeBatch: the DELETE did not match)`);
    }
    const weights = { canary: canaryPercent, baseline: 100 - canaryPercent };
    const id = this.#record(target, { baseline: b.weight, canary: c.weight }, weights);
    b.weight = weights.baseline;
    c.weight = weights.canary;
    return { changeId: id };
  }

  async restore(target: Target, definition: RouterDefinition): Promise<{ changeId: string }> {
    this.#call('ChangeResourceRecordSets');
    const def = definition as unknown as Route53Definition;
    const key = targetKey(target);
    const pair = this.#sets.get(key) ?? { target: { hostedZoneId: target.hostedZoneId, recordName: target.recordName, recordType: target.recordType }, records: new Map() };
    this.#sets.set(key, pair);
    const weightsNow = () => ({
      baseline: pair.records.get(target.baselineSetIdentifier)?.weight ?? 0,
      canary: pair.records.get(target.canarySetIdentifier)?.weight ?? 0,
    });
    const previous = weightsNow();
    // UPSERT of both records as preflight read them, the canary at 0: re-creates what is missing.
    for (const record of def.records) {
      pair.records.set(record.setIdentifier, { ...record, weight: record.setIdentifier === target.canarySetIdentifier ? 0 : record.weight });
    }
    return { changeId: this.#record(target, previous, weightsNow()) };
  }

  async isInSync(_target: Target, changeId: string): Promise<boolean> {
    this.#call('GetChange');
    const change = this.#changes.find((c) => c.id === changeId.replace(/^\/change\//, ''));
    if (!change) throw new TrafficStateError(`NoSuchChange: no change with id ${changeId}`);
    return this.#clock.now().getTime() >= change.inSyncAt.getTime();
  }

  #record(target: TargetRef, previous: Weights, weights: Weights, by?: string): string {
    const now = this.#clock.now();
    const delay = uniformInt(this.#rng, this.#delay[0], this.#delay[1]);
    const id = `CSIM${String(++this.#seq).padStart(6, '0')}`;
    const change: WeightChange = {
      id, targetKey: targetKey(target), submittedAt: now, inSyncAt: new Date(now.getTime() + delay * 1000),
      weights: { ...weights }, previous: { ...previous }, ...(by ? { by } : {}),
    };
    this.#changes.push(change);
    const log = this.#changesByKey.get(change.targetKey) ?? [];
    log.push(change);
    this.#changesByKey.set(change.targetKey, log);
    return id;
  }

  /**
   * The target's change batches as kept (not copied: read them, never change them), oldest first:
   * what the service model follows on every datapoint, so it must not cost a copy each time.
   */
  changeLog(target: TargetRef): readonly WeightChange[] {
    return this.#changesByKey.get(targetKey(target)) ?? [];
  }

  /** Every change batch submitted for a target, oldest first. */
  changes(target?: TargetRef): WeightChange[] {
    const key = target ? targetKey(target) : undefined;
    return this.#changes.filter((c) => key === undefined || c.targetKey === key).map(copy);
  }

  /** The weights now stored for the target (what Route 53 would list); null when a record is missing. */
  weights(target: Target): Weights | null {
    const records = this.#sets.get(targetKey(target))?.records;
    const b = records?.get(target.baselineSetIdentifier);
    const c = records?.get(target.canarySetIdentifier);
    return b && c ? { baseline: b.weight, canary: c.weight } : null;
  }
}

function checkPercent(p: number): void {
  if (!Number.isInteger(p) || p < 0 || p > 100) throw new RangeError(`canary share ${p} is not an integer percent in 0..100`);
}

/** What reading a Route 53 weighted pair tells a rollout (shared with the tests of the AWS adapter). */
export function route53Reading(target: Target, b: SimRecord | null, c: SimRecord | null): RouterReading {
  const problems: string[] = [];
  if (!b || !c) {
    const missing = [!b && `baseline '${target.baselineSetIdentifier}'`, !c && `canary '${target.canarySetIdentifier}'`].filter(Boolean).join(' and ');
    problems.push(`${target.recordName} ${target.recordType} in zone ${target.hostedZoneId} has no weighted record with the ${missing} SetIdentifier; create both weighted records (canary at weight 0)`);
  }
  const ttl = Math.max(b?.ttl ?? 0, c?.ttl ?? 0);
  if (ttl > target.maxTtlSeconds) {
    problems.push(`${target.recordName} has TTL ${ttl} s, above target.maxTtlSeconds ${target.maxTtlSeconds} s: clients keep an old answer for a whole TTL, so a rollback would take that long to reach them. Lower the TTL to 60 s or raise target.maxTtlSeconds knowingly`);
  }
  let canaryPercent: number | null = null;
  if (b && c) {
    const total = b.weight + c.weight;
    if (total === 0) problems.push('both weighted records have weight 0, which Route 53 answers as an equal split');
    else canaryPercent = (100 * c.weight) / total;
  }
  return {
    canaryPercent, problems, settleSeconds: ttl,
    definition: { kind: 'route53', records: [b, c].filter((r): r is SimRecord => r !== null).map((r) => ({ ...r })) },
  };
}

export type RolloutListener = (rolloutId: string, events: RolloutEvent[], record: RolloutRecord) => void;

/** DynamoDB's item size limit (400 KB). */
export const DYNAMO_ITEM_LIMIT_BYTES = 409_600;

interface HeldLock extends LockHolder {
  expiresAtMs: number;
}

/**
 * Rollout records and traffic-target locks in memory, with the conditional semantics of the
 * DynamoDB adapter (the head and each event are items; a write of an item over 400 KB is refused
 * with ValidationException as DynamoDB refuses it). Listeners see every appended event, in order
 * (live progress).
 */
export class MemoryRollouts implements RolloutStore {
  /** Frozen heads, replaced (never changed) by each write. */
  readonly #records = new Map<string, RolloutRecord>();
  readonly #events = new Map<string, RolloutEvent[]>();
  readonly #locks = new Map<string, HeldLock>();
  readonly #listeners: RolloutListener[] = [];
  readonly #itemSize: (item: unknown) => number;
  /** The largest item written so far (bytes): what `canary simulate --json` reports. */
  maxItemBytes = 0;

  constructor(options: { itemSize?: (item: unknown) => number } = {}) {
    this.#itemSize = options.itemSize ?? ((item) => Buffer.byteLength(JSON.stringify(item)));
  }

  subscribe(listener: RolloutListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** Refuses an item over DynamoDB's limit, as DynamoDB does; remembers the largest. */
  #checkSize(item: unknown): void {
    const bytes = this.#itemSize(item);
    if (bytes > DYNAMO_ITEM_LIMIT_BYTES) {
      throw Object.assign(new Error(`Item size has exceeded the maximum allowed size (${bytes} bytes)`), { name: 'ValidationException' });
    }
    this.maxItemBytes = Math.max(this.maxItemBytes, bytes);
  }

  /** Stores a new head (and appends events) once every item is within DynamoDB's size. */
  #commit(rolloutId: string, head: RolloutRecord, events: readonly RolloutEvent[]): void {
    const frozenEvents = events.map(frozenCopy);
    for (const e of frozenEvents) this.#checkSize(e);
    const list = this.#events.get(rolloutId) ?? [];
    const next = Object.freeze({ ...head, eventCount: list.length + frozenEvents.length });
    this.#checkSize(next);
    list.push(...frozenEvents);
    this.#events.set(rolloutId, list);
    this.#records.set(rolloutId, next);
    if (frozenEvents.length) for (const listener of this.#listeners) listener(rolloutId, frozenEvents, next);
  }

  #lockFree(key: string, rolloutId: string, now: Date): HeldLock | null {
    const held = this.#locks.get(key);
    if (held && held.owner !== rolloutId && held.expiresAtMs >= now.getTime()) return held;
    return null;
  }

  async begin(record: RolloutRecord, events: RolloutEvent[], lock: { key: string; leaseSeconds: number; now: Date }): Promise<BeginResult> {
    const existing = this.#records.get(record.rolloutId);
    if (existing) {
      if (existing.token === record.token && isActive(existing.status)) return { started: true };
      throw new PreflightError(`rollout id ${record.rolloutId} was already used (status ${existing.status}); start the execution under a new name`);
    }
    const held = this.#lockFree(lock.key, record.rolloutId, lock.now);
    if (held) return { started: false, holder: held.owner, expiresAt: held.expiresAt };
    // Checked before anything is stored: DynamoDB's transaction refuses all of it or none.
    const head = frozenCopy({ ...record, eventCount: 0 });
    this.#checkSize(head);
    for (const e of events) this.#checkSize(e);
    const expiresAtMs = lock.now.getTime() + lock.leaseSeconds * 1000;
    this.#locks.set(lock.key, { owner: record.rolloutId, token: record.token ?? '', expiresAt: new Date(expiresAtMs).toISOString(), expiresAtMs });
    this.#commit(record.rolloutId, head, events);
    return { started: true };
  }

  /** The head as stored: frozen, so it is handed out without a copy (a caller cannot change it). */
  async get(rolloutId: string): Promise<RolloutRecord | null> {
    return this.#records.get(rolloutId) ?? null;
  }

  async history(rolloutId: string): Promise<RolloutHistory | null> {
    const record = this.#records.get(rolloutId);
    return record ? { ...record, events: [...(this.#events.get(rolloutId) ?? [])] } : null;
  }

  async events(rolloutId: string, cursor?: string): Promise<{ events: RolloutEvent[]; cursor?: string }> {
    const all = this.#events.get(rolloutId) ?? [];
    const from = cursor ? Number(cursor) : 0;
    return { events: all.slice(from), cursor: String(all.length) };
  }

  async fence(rolloutId: string, fence: { lockKey: string; token: string; leaseSeconds: number; now: Date }): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new FencedOutError(rolloutId, 'no rollout record');
    // HALTED is still the workflow's: it waits for a person, renewing its lease.
    if (record.status !== 'RUNNING' && record.status !== 'HALTED') throw new FencedOutError(rolloutId, `the rollout is ${record.status}`);
    if (record.token !== fence.token) throw new FencedOutError(rolloutId, 'it was taken over (by the safety net or the reconciler)');
    const held = this.#locks.get(fence.lockKey);
    if (!held || held.owner !== rolloutId || held.token !== fence.token) {
      throw new FencedOutError(rolloutId, held ? `the traffic target's lock is held by ${held.owner}` : 'the traffic target\'s lock was released');
    }
    held.expiresAtMs = fence.now.getTime() + fence.leaseSeconds * 1000;
    held.expiresAt = new Date(held.expiresAtMs).toISOString();
  }

  async update(rolloutId: string, patch: Partial<RolloutRecord>, events: RolloutEvent[] = [], options: { token?: string } = {}): Promise<void> {
    if ('events' in patch) throw new Error('MemoryRollouts.update: pass events as the third argument (they are appended), not in the patch');
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    if (options.token !== undefined && record.token !== options.token) throw new FencedOutError(rolloutId, 'it was taken over (by the safety net or the reconciler)');
    const next: Record<string, unknown> = { ...record };
    for (const [field, value] of Object.entries(patch)) {
      if (field === 'rolloutId') continue;
      if (value === undefined) delete next[field];
      else next[field] = frozenCopy(value);
    }
    this.#commit(rolloutId, next as unknown as RolloutRecord, events);
  }

  async takeOver(rolloutId: string, args: { lockKey: string; token: string; leaseSeconds: number; now: Date }): Promise<TakeOverResult> {
    const record = this.#records.get(rolloutId);
    if (!record) return { ok: false, reason: 'NOT_FOUND' };
    if (!isActive(record.status)) return { ok: false, reason: 'CLOSED', record };
    const held = this.#lockFree(args.lockKey, rolloutId, args.now);
    if (held) return { ok: false, reason: 'LOCK_HELD', record, holder: { owner: held.owner, token: held.token, expiresAt: held.expiresAt } };
    const expiresAtMs = args.now.getTime() + args.leaseSeconds * 1000;
    this.#locks.set(args.lockKey, { owner: rolloutId, token: args.token, expiresAt: new Date(expiresAtMs).toISOString(), expiresAtMs });
    this.#commit(rolloutId, { ...record, token: args.token }, []);
    return { ok: true, record: this.#records.get(rolloutId)! };
  }

  async acquireLock(lockKey: string, owner: string, leaseSeconds: number, now: Date): Promise<BeginResult> {
    const held = this.#lockFree(lockKey, owner, now);
    if (held) return { started: false, holder: held.owner, expiresAt: held.expiresAt };
    const expiresAtMs = now.getTime() + leaseSeconds * 1000;
    this.#locks.set(lockKey, { owner, token: owner, expiresAt: new Date(expiresAtMs).toISOString(), expiresAtMs });
    return { started: true };
  }

  async releaseLock(lockKey: string, rolloutId: string): Promise<void> {
    if (this.#locks.get(lockKey)?.owner === rolloutId) this.#locks.delete(lockKey);
  }

  async lockHolder(lockKey: string): Promise<LockHolder | null> {
    const held = this.#locks.get(lockKey);
    return held ? { owner: held.owner, token: held.token, expiresAt: held.expiresAt } : null;
  }

  async answerApproval(rolloutId: string, answer: ApprovalAnswer): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    if (record.status !== 'RUNNING') throw new RolloutNotRunningError(rolloutId, record.status);
    if (record.pendingApproval?.stageIndex !== answer.stageIndex) {
      throw new GateNotPendingError(rolloutId, record.pendingApproval
        ? `at stage ${answer.stageIndex + 1} (it waits at stage ${record.pendingApproval.stageIndex + 1})`
        : 'at any stage');
    }
    const event: RolloutEvent = {
      type: 'APPROVAL_ANSWERED', at: answer.at, stageIndex: answer.stageIndex, approved: answer.approved, by: answer.by,
      ...(answer.reason ? { reason: answer.reason } : {}),
    };
    this.#commit(rolloutId, { ...record, approval: frozenCopy(answer), updatedAt: answer.at }, [event]);
  }

  async requestAbort(rolloutId: string, reason: string, now: Date): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    if (record.status !== 'RUNNING' && record.status !== 'HALTED') throw new RolloutNotRunningError(rolloutId, record.status);
    const at = now.toISOString();
    this.#commit(rolloutId, { ...record, abortRequested: { at, reason }, updatedAt: at }, [{ type: 'ABORT_REQUESTED', at, reason }]);
  }

  async claimIncidentUpdate(rolloutId: string, update: IncidentUpdateRef): Promise<boolean> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    if ((record.incidentUpdate?.seq ?? 0) >= update.seq) return false;
    this.#commit(rolloutId, { ...record, incidentUpdate: frozenCopy(update), updatedAt: update.at }, []);
    return true;
  }

  async requestControl(rolloutId: string, action: ControlAction, request: ControlRequest): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    const refused = controlRefusal(record, action);
    if (refused) throw new ControlRefusedError(refused);
    const asked = frozenCopy(request);
    const next: Record<string, unknown> = { ...record, updatedAt: request.at };
    if (action === 'PROMOTE') next.promoteRequested = asked;
    else if (action === 'PAUSE') next.paused = asked;
    else {
      // Resuming a pause or a halt: who asked is kept for the workflow's RESUMED event.
      next.resumeRequested = asked;
      delete next.paused;
    }
    const event: RolloutEvent = { type: 'CONTROL', at: request.at, request: action, by: request.by, ...(request.reason ? { reason: request.reason } : {}) };
    this.#commit(rolloutId, next as unknown as RolloutRecord, [event]);
  }

  async linkRetry(rolloutId: string, retryId: string, request: ControlRequest): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    const refused = retryRefusal(record);
    if (refused) throw new ControlRefusedError(refused);
    const event: RolloutEvent = { type: 'RETRIED', at: request.at, retryId, by: request.by, ...(request.reason ? { reason: request.reason } : {}) };
    this.#commit(rolloutId, { ...record, retriedBy: retryId, updatedAt: request.at }, [event]);
  }

  async unlinkRetry(rolloutId: string, retryId: string, at: string, why: string): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (record?.retriedBy !== retryId) return;
    const { retriedBy: _undone, ...rest } = record;
    this.#commit(rolloutId, { ...rest, updatedAt: at }, [{ type: 'NOTE', at, message: `the retry ${retryId} could not be started: ${why}` }]);
  }

  async list(limit: number): Promise<RolloutRecord[]> {
    return [...this.#records.values()]
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.rolloutId.localeCompare(a.rolloutId))
      .slice(0, limit);
  }

  async listActive(): Promise<RolloutRecord[]> {
    const holding = new Set([...this.#locks.values()].map((l) => l.owner));
    return [...this.#records.values()].filter((r) => isActive(r.status) || holding.has(r.rolloutId))
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.rolloutId.localeCompare(b.rolloutId));
  }
}

/** An incident sink: records what would have been delivered, to the same targets the routing names. */
export class MemoryIncidents implements IncidentPort {
  readonly opened: { incident: Incident; routing: IncidentConfig; deliveries: IncidentDelivery[] }[] = [];

  async open(incident: Incident, routing: IncidentConfig): Promise<IncidentDelivery[]> {
    const n = this.opened.length + 1;
    const deliveries: IncidentDelivery[] = [{ target: 'sns', ok: true, attempts: 1, id: `sim-sns-${n}` }];
    if (routing?.snsTopicArn) deliveries.push({ target: 'sns', ok: true, attempts: 1, id: `sim-sns-${n}-extra` });
    if (routing?.opsCenter?.enabled) deliveries.push({ target: 'opscenter', ok: true, attempts: 1, id: `oi-sim${String(n).padStart(8, '0')}` });
    if (routing?.webhook) deliveries.push({ target: routing.webhook.type, ok: true, attempts: 1, id: incident.dedupKey });
    this.opened.push({ incident: copy(incident), routing: copy(routing), deliveries: copy(deliveries) });
    return deliveries;
  }

  readonly changes: { incident: Incident; change: IncidentChange; deliveries: IncidentDelivery[] }[] = [];

  async update(incident: Incident, routing: IncidentConfig, change: IncidentChange, opened: IncidentDelivery[] = []): Promise<IncidentDelivery[]> {
    const n = this.changes.length + 1;
    const deliveries: IncidentDelivery[] = [{ target: 'sns', ok: true, attempts: 1, id: `sim-sns-update-${n}` }];
    const opsItem = opened.find((d) => d.target === 'opscenter' && d.ok)?.id;
    if (routing?.opsCenter?.enabled && opsItem) deliveries.push({ target: 'opscenter', ok: true, attempts: 1, id: opsItem });
    // As the webhook adapter: PagerDuty takes no STATUS updates (a trigger could re-open a resolved alert).
    if (routing?.webhook && !(routing.webhook.type === 'pagerduty' && change.kind === 'STATUS')) {
      deliveries.push({ target: routing.webhook.type, ok: true, attempts: 1, id: incident.dedupKey });
    }
    this.changes.push({ incident: copy(incident), change: copy(change), deliveries: copy(deliveries) });
    return deliveries;
  }
}

/** Soak checks' state in memory, with the conditional semantics of DynamoSoakStore. */
export class MemorySoakStore implements SoakStore {
  readonly #records = new Map<string, SoakRecord>();

  async get(name: string): Promise<SoakRecord | null> {
    const record = this.#records.get(name);
    return record ? copy(record) : null;
  }

  #touch(name: string, now: Date): SoakRecord {
    const record = this.#records.get(name) ?? { name };
    record.updatedAt = now.toISOString();
    this.#records.set(name, record);
    return record;
  }

  async claimIncident(name: string, incident: SoakOpenIncident, now: Date): Promise<boolean> {
    if (this.#records.get(name)?.openIncident) return false;
    this.#touch(name, now).openIncident = copy(incident);
    return true;
  }

  async updateIncident(name: string, dedupKey: string, patch: Partial<Omit<SoakOpenIncident, 'dedupKey'>>, now: Date): Promise<void> {
    const open = this.#records.get(name)?.openIncident;
    if (open?.dedupKey !== dedupKey) return;
    for (const [field, value] of Object.entries(patch)) {
      if (value !== undefined && field !== 'dedupKey') (open as unknown as Record<string, unknown>)[field] = copy(value);
    }
    this.#touch(name, now);
  }

  async closeIncident(name: string, dedupKey: string, now: Date): Promise<void> {
    const record = this.#records.get(name);
    if (record?.openIncident?.dedupKey !== dedupKey) return;
    delete record.openIncident;
    this.#touch(name, now).lastResolved = { dedupKey, resolvedAt: now.toISOString() };
  }

  async recordRollback(name: string, rollback: NonNullable<SoakRecord['postPromotionRollback']>, now: Date): Promise<void> {
    this.#touch(name, now).postPromotionRollback = copy(rollback);
  }
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  extra: object[];
}

/** A logger that keeps its lines (the simulator shows them with --debug). */
export class MemoryLog implements Log {
  readonly entries: LogEntry[] = [];
  #keys: Record<string, unknown> = {};
  readonly #sink?: (entry: LogEntry) => void;

  constructor(sink?: (entry: LogEntry) => void) {
    this.#sink = sink;
  }

  #add(level: LogEntry['level'], message: string, extra: object[]): void {
    const entry = { level, message, extra: [{ ...this.#keys }, ...extra] };
    this.entries.push(entry);
    this.#sink?.(entry);
  }

  info(message: string, ...extra: object[]): void {
    this.#add('info', message, extra);
  }

  warn(message: string, ...extra: object[]): void {
    this.#add('warn', message, extra);
  }

  error(message: string, ...extra: object[]): void {
    this.#add('error', message, extra);
  }

  appendKeys(keys: Record<string, unknown>): void {
    this.#keys = { ...this.#keys, ...keys };
  }
}

/**
 * The evidence store in memory (S3 in AWS): checks by rollout and number, and the last record
 * snapshot. Putting the same check number again replaces it, as the same S3 key would.
 */
export class MemoryEvidence implements EvidencePort {
  /** Each check as the JSON text S3 would hold: one serialisation per write, a fresh copy per read. */
  readonly #checks = new Map<string, Map<number, string>>();
  readonly #records = new Map<string, RolloutHistory>();
  /** Every write, in order (tests check what was stored before what). */
  readonly writes: { kind: 'check' | 'record'; rolloutId: string; checkNo?: number }[] = [];

  async putCheck(rolloutId: string, checkNo: number, check: CheckEvidence): Promise<void> {
    const checks = this.#checks.get(rolloutId) ?? new Map<number, string>();
    checks.set(checkNo, JSON.stringify({ rolloutId, checkNo, ...check }));
    this.#checks.set(rolloutId, checks);
    this.writes.push({ kind: 'check', rolloutId, checkNo });
  }

  async putRecord(rolloutId: string, record: RolloutHistory): Promise<void> {
    this.#records.set(rolloutId, copy(record));
    this.writes.push({ kind: 'record', rolloutId });
  }

  async getRollout(rolloutId: string): Promise<RolloutEvidence> {
    const stored = this.#checks.get(rolloutId) ?? new Map<number, string>();
    const checks = [...stored.keys()].sort((a, b) => a - b).map((no) => JSON.parse(stored.get(no)!) as StoredCheck);
    return { record: copy(this.#records.get(rolloutId) ?? null), checks };
  }

  locationOf(rolloutId: string): string {
    return `memory://evidence/rollouts/${rolloutId}/`;
  }
}
