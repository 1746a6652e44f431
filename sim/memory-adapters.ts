/**
 * In-memory implementations of the rollout's ports, with the semantics of the AWS adapters
 * (Route 53 weighted records, the DynamoDB lock and rollout store, the incident targets), for
 * the simulator and for tests. They hold plain data and copy it in and out, so a caller can
 * never change their state by mutating what it passed or got back.
 */
import { targetKey, type RolloutConfig, type Target } from '../functions/core/config.ts';
import { GateNotPendingError, RolloutNotFoundError, RolloutNotRunningError, TrafficStateError } from '../functions/core/errors.ts';
import type { Incident, IncidentChange, IncidentDelivery } from '../functions/core/incident.ts';
import type {
  CheckEvidence, Clock, EvidencePort, IncidentPort, LockPort, LockResult, Log, RolloutEvidence, RolloutStore, StoredCheck,
  SoakOpenIncident, SoakRecord, SoakStore, TrafficPort, WeightedRecord, Weights,
} from '../functions/core/ports.ts';
import type { ApprovalAnswer, RolloutEvent, RolloutRecord } from '../functions/core/rollout-record.ts';
import { uniformInt, type Rng } from './prng.ts';

const copy = <T>(value: T): T => structuredClone(value);

/** A weight change batch as the simulated Route 53 saw it. */
export interface WeightChange {
  id: string;
  targetKey: string;
  submittedAt: Date;
  /** When the change reached every authoritative server (drawn at submission). */
  inSyncAt: Date;
  weights: Weights;
  previous: Weights;
}

export interface MemoryTrafficOptions {
  clock: Clock;
  rng: Rng;
  /** Seconds from submission to INSYNC, drawn uniformly per change. Default [20, 40]. */
  syncDelaySeconds?: [number, number];
}

interface RecordPair {
  target: Pick<Target, 'hostedZoneId' | 'recordName' | 'recordType'>;
  records: Map<string, WeightedRecord>;
}

/**
 * Route 53 in memory: weighted records per hosted zone, name and type; a change batch sets both
 * weights at once and becomes INSYNC some seconds after it was submitted.
 */
export class MemoryTraffic implements TrafficPort {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #delay: [number, number];
  readonly #sets = new Map<string, RecordPair>();
  readonly #changes: WeightChange[] = [];

  constructor(options: MemoryTrafficOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#delay = options.syncDelaySeconds ?? [20, 40];
  }

  /** Creates (or replaces) a weighted record of the target. */
  putRecord(target: Pick<Target, 'hostedZoneId' | 'recordName' | 'recordType'>, record: WeightedRecord): void {
    const key = targetKey(target);
    const pair = this.#sets.get(key) ?? { target: { ...target }, records: new Map() };
    pair.records.set(record.setIdentifier, { ...record });
    this.#sets.set(key, pair);
  }

  async readRecords(target: Target): Promise<{ baseline: WeightedRecord | null; canary: WeightedRecord | null }> {
    const records = this.#sets.get(targetKey(target))?.records;
    const get = (id: string) => (records?.has(id) ? { ...records.get(id)! } : null);
    return { baseline: get(target.baselineSetIdentifier), canary: get(target.canarySetIdentifier) };
  }

  async setWeights(target: Target, weights: Weights): Promise<{ changeId: string }> {
    for (const [variant, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 255) throw new RangeError(`${variant} weight ${w} is not an integer in 0..255`);
    }
    const key = targetKey(target);
    const records = this.#sets.get(key)?.records;
    const baseline = records?.get(target.baselineSetIdentifier);
    const canary = records?.get(target.canarySetIdentifier);
    if (!baseline || !canary) {
      throw new TrafficStateError(`${target.recordName} ${target.recordType} in zone ${target.hostedZoneId} has no weighted record pair '${target.baselineSetIdentifier}'/'${target.canarySetIdentifier}'`);
    }
    const now = this.#clock.now();
    const previous = { baseline: baseline.weight, canary: canary.weight };
    baseline.weight = weights.baseline;
    canary.weight = weights.canary;
    const delay = uniformInt(this.#rng, this.#delay[0], this.#delay[1]);
    const id = `CSIM${String(this.#changes.length + 1).padStart(6, '0')}`;
    this.#changes.push({ id, targetKey: key, submittedAt: now, inSyncAt: new Date(now.getTime() + delay * 1000), weights: { ...weights }, previous });
    return { changeId: id };
  }

  async isInSync(changeId: string): Promise<boolean> {
    const change = this.#changes.find((c) => c.id === changeId.replace(/^\/change\//, ''));
    if (!change) throw new TrafficStateError(`NoSuchChange: no change with id ${changeId}`);
    return this.#clock.now().getTime() >= change.inSyncAt.getTime();
  }

  /** Every change batch submitted for a target, oldest first. */
  changes(target?: Pick<Target, 'hostedZoneId' | 'recordName' | 'recordType'>): WeightChange[] {
    const key = target ? targetKey(target) : undefined;
    return this.#changes.filter((c) => key === undefined || c.targetKey === key).map(copy);
  }

  /** The weights now stored for the target (what Route 53 would list). */
  weights(target: Target): Weights | null {
    const records = this.#sets.get(targetKey(target))?.records;
    const b = records?.get(target.baselineSetIdentifier);
    const c = records?.get(target.canarySetIdentifier);
    return b && c ? { baseline: b.weight, canary: c.weight } : null;
  }
}

/** The traffic-target lock: a lease per key, renewed by its owner, taken over once expired. */
export class MemoryLocks implements LockPort {
  readonly #locks = new Map<string, { owner: string; expiresAt: Date }>();

  async acquire(key: string, owner: string, leaseSeconds: number, now: Date): Promise<LockResult> {
    const held = this.#locks.get(key);
    if (held && held.owner !== owner && held.expiresAt.getTime() >= now.getTime()) {
      return { acquired: false, holder: held.owner, expiresAt: held.expiresAt.toISOString() };
    }
    this.#locks.set(key, { owner, expiresAt: new Date(now.getTime() + leaseSeconds * 1000) });
    return { acquired: true };
  }

  async release(key: string, owner: string): Promise<void> {
    if (this.#locks.get(key)?.owner === owner) this.#locks.delete(key);
  }

  /** The current holder of a key, if any (expired leases included: they are only taken over). */
  holder(key: string): { owner: string; expiresAt: string } | null {
    const held = this.#locks.get(key);
    return held ? { owner: held.owner, expiresAt: held.expiresAt.toISOString() } : null;
  }
}

export type RolloutListener = (rolloutId: string, events: RolloutEvent[], record: RolloutRecord) => void;

/** The rollout store in memory. Listeners see every appended event, in order (live progress). */
export class MemoryRollouts implements RolloutStore {
  readonly #records = new Map<string, RolloutRecord>();
  readonly #listeners: RolloutListener[] = [];

  subscribe(listener: RolloutListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  #emit(rolloutId: string, events: RolloutEvent[]): void {
    if (events.length === 0) return;
    const record = this.#records.get(rolloutId)!;
    for (const listener of this.#listeners) listener(rolloutId, copy(events), copy(record));
  }

  async create(record: RolloutRecord): Promise<void> {
    if (this.#records.has(record.rolloutId)) return;
    this.#records.set(record.rolloutId, copy({ ...record, events: record.events ?? [] }));
    this.#emit(record.rolloutId, record.events ?? []);
  }

  async get(rolloutId: string): Promise<RolloutRecord | null> {
    const record = this.#records.get(rolloutId);
    return record ? copy(record) : null;
  }

  async update(rolloutId: string, patch: Partial<RolloutRecord>, events: RolloutEvent[] = []): Promise<void> {
    if ('events' in patch) throw new Error('MemoryRollouts.update: pass events as the third argument (they are appended), not in the patch');
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    for (const [field, value] of Object.entries(patch)) {
      if (field === 'rolloutId') continue;
      if (value === undefined) delete (record as unknown as Record<string, unknown>)[field];
      else (record as unknown as Record<string, unknown>)[field] = copy(value);
    }
    record.events.push(...copy(events));
    this.#emit(rolloutId, events);
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
    record.approval = copy(answer);
    record.updatedAt = answer.at;
    record.events.push(event);
    this.#emit(rolloutId, [event]);
  }

  async requestAbort(rolloutId: string, reason: string, now: Date): Promise<void> {
    const record = this.#records.get(rolloutId);
    if (!record) throw new RolloutNotFoundError(rolloutId);
    if (record.status !== 'RUNNING') throw new RolloutNotRunningError(rolloutId, record.status);
    const at = now.toISOString();
    const event: RolloutEvent = { type: 'ABORT_REQUESTED', at, reason };
    record.abortRequested = { at, reason };
    record.updatedAt = at;
    record.events.push(event);
    this.#emit(rolloutId, [event]);
  }

  async list(limit: number): Promise<RolloutRecord[]> {
    return [...this.#records.values()]
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.rolloutId.localeCompare(a.rolloutId))
      .slice(0, limit)
      .map(copy);
  }
}

/** An incident sink: records what would have been delivered, to the same targets the routing names. */
export class MemoryIncidents implements IncidentPort {
  readonly opened: { incident: Incident; routing: RolloutConfig['incident']; deliveries: IncidentDelivery[] }[] = [];

  async open(incident: Incident, routing: RolloutConfig['incident']): Promise<IncidentDelivery[]> {
    const n = this.opened.length + 1;
    const deliveries: IncidentDelivery[] = [{ target: 'sns', ok: true, attempts: 1, id: `sim-sns-${n}` }];
    if (routing?.snsTopicArn) deliveries.push({ target: 'sns', ok: true, attempts: 1, id: `sim-sns-${n}-extra` });
    if (routing?.opsCenter?.enabled) deliveries.push({ target: 'opscenter', ok: true, attempts: 1, id: `oi-sim${String(n).padStart(8, '0')}` });
    if (routing?.webhook) deliveries.push({ target: routing.webhook.type, ok: true, attempts: 1, id: incident.dedupKey });
    this.opened.push({ incident: copy(incident), routing: copy(routing), deliveries: copy(deliveries) });
    return deliveries;
  }

  readonly changes: { incident: Incident; change: IncidentChange; deliveries: IncidentDelivery[] }[] = [];

  async update(incident: Incident, routing: RolloutConfig['incident'], change: IncidentChange, opened: IncidentDelivery[] = []): Promise<IncidentDelivery[]> {
    const n = this.changes.length + 1;
    const deliveries: IncidentDelivery[] = [{ target: 'sns', ok: true, attempts: 1, id: `sim-sns-update-${n}` }];
    const opsItem = opened.find((d) => d.target === 'opscenter' && d.ok)?.id;
    if (routing?.opsCenter?.enabled && opsItem) deliveries.push({ target: 'opscenter', ok: true, attempts: 1, id: opsItem });
    if (routing?.webhook) deliveries.push({ target: routing.webhook.type, ok: true, attempts: 1, id: incident.dedupKey });
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
  readonly #checks = new Map<string, Map<number, StoredCheck>>();
  readonly #records = new Map<string, RolloutRecord>();
  /** Every write, in order (tests check what was stored before what). */
  readonly writes: { kind: 'check' | 'record'; rolloutId: string; checkNo?: number }[] = [];

  async putCheck(rolloutId: string, checkNo: number, check: CheckEvidence): Promise<void> {
    const checks = this.#checks.get(rolloutId) ?? new Map<number, StoredCheck>();
    checks.set(checkNo, copy({ rolloutId, checkNo, ...check }));
    this.#checks.set(rolloutId, checks);
    this.writes.push({ kind: 'check', rolloutId, checkNo });
  }

  async putRecord(rolloutId: string, record: RolloutRecord): Promise<void> {
    this.#records.set(rolloutId, copy(record));
    this.writes.push({ kind: 'record', rolloutId });
  }

  async getRollout(rolloutId: string): Promise<RolloutEvidence> {
    const checks = [...(this.#checks.get(rolloutId)?.values() ?? [])].sort((a, b) => a.checkNo - b.checkNo);
    return { record: copy(this.#records.get(rolloutId) ?? null), checks: copy(checks) };
  }

  locationOf(rolloutId: string): string {
    return `memory://evidence/rollouts/${rolloutId}/`;
  }
}
