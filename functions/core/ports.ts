/**
 * The narrow ports the rollout steps depend on. One adapter per external system implements each
 * (Route 53, CloudWatch, DynamoDB, SNS/OpsCenter/webhooks), and the simulator implements them
 * in memory. Nothing here imports AWS.
 */
import type { RolloutConfig, RolloutMetric, Target } from './config.ts';
import type { Judge, Judgement, MetricWindow } from './judge.ts';
import type { Incident, IncidentChange, IncidentDelivery } from './incident.ts';
import type { ApprovalAnswer, RolloutEvent, RolloutRecord } from './rollout-record.ts';

export interface WeightedRecord {
  setIdentifier: string;
  weight: number;
  ttl: number;
}

export interface Weights {
  baseline: number;
  canary: number;
}

export interface TrafficPort {
  /** The two weighted records of the target; null where a record does not exist. */
  readRecords(target: Target): Promise<{ baseline: WeightedRecord | null; canary: WeightedRecord | null }>;
  /** Sets both weights in one atomic change batch; returns the change id to poll. */
  setWeights(target: Target, weights: Weights): Promise<{ changeId: string }>;
  /** True once the change has propagated to all authoritative servers (INSYNC). */
  isInSync(changeId: string): Promise<boolean>;
}

export interface MetricRange {
  start: Date;
  end: Date;
  periodSeconds: number;
}

export interface MetricsPort {
  /**
   * Fetches every metric of both variants over [start, end) as aligned per-period series
   * (null where a period has no datapoint), in as few API calls as possible.
   */
  fetchWindow(metrics: RolloutMetric[], range: MetricRange): Promise<MetricWindow>;
}

export type LockResult = { acquired: true } | { acquired: false; holder: string; expiresAt: string };

export interface LockPort {
  /** Takes the lock, or renews it when `owner` already holds it; a lock past its lease is taken over. */
  acquire(key: string, owner: string, leaseSeconds: number, now: Date): Promise<LockResult>;
  /** Releases the lock if `owner` holds it; a no-op otherwise (safe to call twice). */
  release(key: string, owner: string): Promise<void>;
}

export interface RolloutStore {
  /** Creates the record; a second call with the same id is a no-op (idempotent). */
  create(record: RolloutRecord): Promise<void>;
  get(rolloutId: string): Promise<RolloutRecord | null>;
  /** Merges fields into the record and appends events (in one write). */
  update(rolloutId: string, patch: Partial<RolloutRecord>, events?: RolloutEvent[]): Promise<void>;
  /**
   * Answers the manual gate of `stageIndex`; refused (RolloutNotRunning / GateNotPending) when
   * the rollout is not running or is not waiting at that gate.
   */
  answerApproval(rolloutId: string, answer: ApprovalAnswer): Promise<void>;
  /** Asks a running rollout to roll back at its next step. */
  requestAbort(rolloutId: string, reason: string, now: Date): Promise<void>;
  list(limit: number): Promise<RolloutRecord[]>;
}

export interface IncidentPort {
  /**
   * Delivers to the stack's targets and those the rollout's config names; never throws:
   * failures are reported per target.
   */
  open(incident: Incident, routing: RolloutConfig['incident']): Promise<IncidentDelivery[]>;
  /**
   * Sends a change of an opened incident (same dedup key) to every target that supports it;
   * `opened` are the deliveries `open` returned (the OpsItem id is taken from them). Never throws.
   */
  update(incident: Incident, routing: RolloutConfig['incident'], change: IncidentChange, opened?: IncidentDelivery[]): Promise<IncidentDelivery[]>;
}

/** The incident a soak check opened and has not resolved yet. */
export interface SoakOpenIncident {
  dedupKey: string;
  openedAt: string;
  /** Set once the incident was delivered (a run that died before delivering is re-tried). */
  deliveries?: IncidentDelivery[];
  reasons: string[];
  severity: Incident['severity'];
}

/** A soak check's state between runs (`soak#<name>` in the table). */
export interface SoakRecord {
  name: string;
  openIncident?: SoakOpenIncident;
  lastResolved?: { dedupKey: string; resolvedAt: string };
  /** The post-promotion rollback a soak made, at most one per promoted rollout. */
  postPromotionRollback?: { rolloutId: string; at: string; changeId: string };
  updatedAt?: string;
}

/** Soak checks' state between scheduled runs. */
export interface SoakStore {
  get(name: string): Promise<SoakRecord | null>;
  /** Records `incident` as the open one unless one is open already; false when it was. */
  claimIncident(name: string, incident: SoakOpenIncident, now: Date): Promise<boolean>;
  /** Merges `patch` into the open incident if it is still the one with `dedupKey` (a no-op otherwise). */
  updateIncident(name: string, dedupKey: string, patch: Partial<Omit<SoakOpenIncident, 'dedupKey'>>, now: Date): Promise<void>;
  /** Clears the open incident if it is still the one with `dedupKey` (a no-op otherwise). */
  closeIncident(name: string, dedupKey: string, now: Date): Promise<void>;
  recordRollback(name: string, rollback: NonNullable<SoakRecord['postPromotionRollback']>, now: Date): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** Structured logger (Powertools Logger fits). */
export type LogAttributes = Record<string, unknown>;
export interface Log {
  info(message: string, ...extra: LogAttributes[]): void;
  warn(message: string, ...extra: LogAttributes[]): void;
  error(message: string, ...extra: LogAttributes[]): void;
  appendKeys?(keys: Record<string, unknown>): void;
}

/** Decision metrics published per rollout (EMF in Lambda). */
export interface DecisionMetrics {
  record(name: string, value: number, dimensions?: Record<string, string>): void;
}

/** One check as the evidence store keeps it: the raw datapoints the judge saw, and its judgement. */
export interface CheckEvidence {
  /** When the check ran (ISO). */
  at: string;
  stageIndex: number;
  /** Canary weight (percent) during the check. */
  weight: number;
  /** The analysis window that was queried (ISO). */
  range: { start: string; end: string };
  window: MetricWindow;
  judgement: Judgement;
}

/** A stored check, as read back: numbered from 1 in the order the checks ran. */
export interface StoredCheck extends CheckEvidence {
  rolloutId: string;
  checkNo: number;
}

/** Everything stored about a rollout: what a report is built from. */
export interface RolloutEvidence {
  /** The latest snapshot of the rollout record (null when none was stored). */
  record: RolloutRecord | null;
  checks: StoredCheck[];
}

/**
 * The evidence of a rollout (S3 in AWS): every check's raw datapoints and judgement, and
 * snapshots of the record. Writes are idempotent: a retried step writes the same key again.
 */
export interface EvidencePort {
  putCheck(rolloutId: string, checkNo: number, check: CheckEvidence): Promise<void>;
  /** A snapshot of the whole record (taken before a rollback touches traffic, and at the end). */
  putRecord(rolloutId: string, record: RolloutRecord): Promise<void>;
  getRollout(rolloutId: string): Promise<RolloutEvidence>;
  /** Where a person finds the rollout's evidence (a console link or a URI), for incidents. */
  locationOf?(rolloutId: string): string;
}

export interface Deps {
  traffic: TrafficPort;
  metrics: MetricsPort;
  locks: LockPort;
  rollouts: RolloutStore;
  incidents: IncidentPort;
  judge: Judge;
  clock: Clock;
  log: Log;
  decisionMetrics?: DecisionMetrics;
  /** Hosted zones the stack may change; empty means any. */
  allowedHostedZoneIds: string[];
  /** Link to the execution in the console, for incidents. */
  consoleLink?: (executionArn: string) => string;
  /** Where checks' raw data and record snapshots are kept; none: only the rollout record. */
  evidence?: EvidencePort;
  /** The `canary report` command line of a rollout, for incidents. */
  reportCommand?: (rolloutId: string) => string;
  /** Soak checks' state (only the soak check uses it). */
  soaks?: SoakStore;
}
