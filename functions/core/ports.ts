/**
 * The narrow ports the rollout steps depend on. One adapter per external system implements each
 * (Route 53, CloudWatch, DynamoDB, SNS/OpsCenter/webhooks), and the simulator implements them
 * in memory. Nothing here imports AWS.
 */
import type { IncidentConfig, RolloutMetric, RolloutTarget } from './config.ts';
import type { TrafficRouter } from './router.ts';
import type { RouterAllowances } from './targets.ts';
import type { HookPort, VerificationAllowList, VerificationPort } from './verification.ts';
import type { Judge, Judgement, MetricWindow } from './judge.ts';
import type { Incident, IncidentChange, IncidentDelivery } from './incident.ts';
import type { IncidentUpdateRef } from './incident-status.ts';
import type { ApprovalAnswer, ControlAction, ControlRequest, RolloutEvent, RolloutHistory, RolloutRecord } from './rollout-record.ts';

/**
 * The traffic target's router (Route 53 weighted records, an ALB, a Lambda alias, an AppConfig
 * flag): one port over every kind, dispatching by the target's `type` (core/traffic-router.ts).
 */
export type TrafficPort = TrafficRouter<RolloutTarget>;

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

/** Who holds a traffic target's lock. */
export interface LockHolder {
  owner: string;
  token: string;
  expiresAt: string;
}

export type BeginResult = { started: true } | { started: false; holder: string; expiresAt: string };

export type TakeOverResult =
  | { ok: true; record: RolloutRecord }
  /** The record is closed already (PROMOTED / ROLLED_BACK): nothing to take over. */
  | { ok: false; reason: 'CLOSED'; record: RolloutRecord }
  /** Another rollout holds the target's lock: its traffic is not ours to touch. */
  | { ok: false; reason: 'LOCK_HELD'; record: RolloutRecord; holder: LockHolder }
  | { ok: false; reason: 'NOT_FOUND' };

/**
 * Rollout records and the traffic-target locks (one DynamoDB table in AWS). A lock is per traffic
 * target and carries the owning rollout and its fencing token; the record carries the same token.
 * `fence` proves, in one conditional write that also renews the lease, that the caller may still
 * move the rollout's traffic; a stale caller (a redriven execution, a late Lambda, a superseded
 * workflow) gets FencedOut and moves nothing.
 */
export interface RolloutStore {
  /**
   * Takes the target's lock and creates the record, in one transaction. Refused with the holder when
   * another rollout holds the lock and its lease runs. Idempotent for the same rollout and token.
   */
  begin(record: RolloutRecord, events: RolloutEvent[], lock: { key: string; leaseSeconds: number; now: Date }): Promise<BeginResult>;
  /** The head of the record (no events). */
  get(rolloutId: string): Promise<RolloutRecord | null>;
  /** The head with every event, oldest first. */
  history(rolloutId: string): Promise<RolloutHistory | null>;
  /** The events after `cursor` (opaque; from the previous call), oldest first: what `canary watch` follows. */
  events(rolloutId: string, cursor?: string): Promise<{ events: RolloutEvent[]; cursor?: string }>;
  /**
   * Succeeds only if the record is RUNNING with `token` and the target's lock is this rollout's with
   * `token`; renews the lease in the same write. Throws FencedOut otherwise.
   */
  fence(rolloutId: string, fence: { lockKey: string; token: string; leaseSeconds: number; now: Date }): Promise<void>;
  /**
   * Merges fields into the head and appends events, in one transaction. With `token`, only while the
   * record still carries that token (FencedOut otherwise). A field set to undefined is removed.
   */
  update(rolloutId: string, patch: Partial<RolloutRecord>, events?: RolloutEvent[], options?: { token?: string }): Promise<void>;
  /**
   * Takes a rollout over to finish it (the safety net, the reconciler): sets a new token on the
   * record and on the lock, if the record is still active and the lock is free, expired or this
   * rollout's. Stale holders of the old token are fenced out from then on.
   */
  takeOver(rolloutId: string, args: { lockKey: string; token: string; leaseSeconds: number; now: Date }): Promise<TakeOverResult>;
  /** Takes a target's lock for an owner that is not a rollout (a soak check's post-promotion rollback). */
  acquireLock(lockKey: string, owner: string, leaseSeconds: number, now: Date): Promise<BeginResult>;
  /** Releases the target's lock if this rollout holds it; a no-op otherwise (safe to call twice). */
  releaseLock(lockKey: string, rolloutId: string): Promise<void>;
  /** Who holds the target's lock (an expired lease included), or null. */
  lockHolder(lockKey: string): Promise<LockHolder | null>;
  /**
   * Answers the manual gate of `stageIndex`; refused (RolloutNotRunning / GateNotPending) when
   * the rollout is not running or is not waiting at that gate.
   */
  answerApproval(rolloutId: string, answer: ApprovalAnswer): Promise<void>;
  /** Asks a running (or halted) rollout to roll back at its next step. */
  requestAbort(rolloutId: string, reason: string, now: Date): Promise<void>;
  /**
   * Records `update` as the rollout's latest incident status update, in one conditional write,
   * unless one numbered `update.seq` or later is recorded already: true when this call claimed
   * it (send it now), false when it was claimed before (a retried step: it must not go twice).
   */
  claimIncidentUpdate(rolloutId: string, update: IncidentUpdateRef): Promise<boolean>;
  /**
   * A person's request (`canary promote --full`, `pause`, `resume`): set on the head with a CONTROL
   * event, in one conditional write. Refused (ControlRefused, with controls.ts's words;
   * RolloutNotFound) when the rollout cannot take it; nothing is written then.
   */
  requestControl(rolloutId: string, action: ControlAction, request: ControlRequest): Promise<void>;
  /**
   * `canary retry`: marks a rolled-back rollout as retried by `retryId` (RETRIED event), once.
   * Refused (ControlRefused, retryRefusal's words; RolloutNotFound) otherwise.
   */
  linkRetry(rolloutId: string, retryId: string, request: ControlRequest): Promise<void>;
  /** Undoes linkRetry when the retry could not be started (a no-op unless `retryId` is the link). */
  unlinkRetry(rolloutId: string, retryId: string, at: string, why: string): Promise<void>;
  list(limit: number): Promise<RolloutRecord[]>;
  /**
   * Every rollout still RUNNING or ROLLING_BACK, and every closed one that may still hold its
   * target's lock (a step closed it and failed to release the lock), oldest first: what the
   * reconciler sweeps. A rollout leaves it when it is closed and its lock released.
   */
  listActive(): Promise<RolloutRecord[]>;
}

/** A Step Functions execution as the reconciler and the safety net see it. */
export interface ExecutionStatus {
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE' | 'NOT_FOUND';
  stopDate?: string;
  error?: string;
  cause?: string;
}

export interface ExecutionsPort {
  describe(executionArn: string): Promise<ExecutionStatus>;
}

export interface IncidentPort {
  /**
   * Delivers to the stack's targets and those the rollout's config names; never throws:
   * failures are reported per target.
   */
  open(incident: Incident, routing: IncidentConfig): Promise<IncidentDelivery[]>;
  /**
   * Sends a change of an opened incident (same dedup key) to every target that supports it;
   * `opened` are the deliveries `open` returned (the OpsItem id is taken from them). Never throws.
   */
  update(incident: Incident, routing: IncidentConfig, change: IncidentChange, opened?: IncidentDelivery[]): Promise<IncidentDelivery[]>;
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
  /** Waits (a simulated clock moves instead); the safety net waits for a stopped execution's last Lambda to land. */
  sleep?(ms: number): Promise<void>;
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
  /** The latest snapshot of the rollout record with its events (null when none was stored). */
  record: RolloutHistory | null;
  checks: StoredCheck[];
}

/**
 * The evidence of a rollout (S3 in AWS): every check's raw datapoints and judgement, and
 * snapshots of the record. Writes are idempotent: a retried step writes the same key again.
 */
export interface EvidencePort {
  putCheck(rolloutId: string, checkNo: number, check: CheckEvidence): Promise<void>;
  /** A snapshot of the whole record (taken before a rollback touches traffic, and at the end). */
  putRecord(rolloutId: string, record: RolloutHistory): Promise<void>;
  getRollout(rolloutId: string): Promise<RolloutEvidence>;
  /** Where a person finds the rollout's evidence (a console link or a URI), for incidents. */
  locationOf?(rolloutId: string): string;
}

export interface Deps {
  traffic: TrafficPort;
  metrics: MetricsPort;
  rollouts: RolloutStore;
  /** Step Functions executions (the safety net and the reconciler ask whether one still runs). */
  executions?: ExecutionsPort;
  incidents: IncidentPort;
  judge: Judge;
  clock: Clock;
  log: Log;
  decisionMetrics?: DecisionMetrics;
  /** Hosted zones the stack may change; empty means any. */
  allowedHostedZoneIds: string[];
  /** Record names the stack may change (IAM's normalized form); empty or absent means any. */
  allowedRecordNames?: string[];
  /** Link to the execution in the console, for incidents. */
  consoleLink?: (executionArn: string) => string;
  /** Where checks' raw data and record snapshots are kept; none: only the rollout record. */
  evidence?: EvidencePort;
  /** The `canary report` command line of a rollout, for incidents. */
  reportCommand?: (rolloutId: string) => string;
  /** Soak checks' state (only the soak check uses it). */
  soaks?: SoakStore;
  /** What the routers beside Route 53 may re-weight (the stack's Allowed* parameters); absent: not checked (local runs). */
  routerAllowances?: RouterAllowances;
  /** Runs verification checks and gates (lambda, http, alarm); needed only when the config has some. */
  verification?: VerificationPort;
  /** Starts action hooks (afterPromotion, afterRollback); needed only when the config has some. */
  hooks?: HookPort;
  /** What checks and hooks may use (the stack's Verification* / Hook* parameters); absent: not checked (local runs). */
  verificationAllowList?: VerificationAllowList;
}
