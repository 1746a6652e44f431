/**
 * The narrow ports the rollout steps depend on. One adapter per external system implements each
 * (Route 53, CloudWatch, DynamoDB, SNS/OpsCenter/webhooks), and the simulator implements them
 * in memory. Nothing here imports AWS.
 */
import type { RolloutConfig, RolloutMetric, Target } from './config.ts';
import type { Judge, MetricWindow } from './judge.ts';
import type { Incident, IncidentDelivery } from './incident.ts';
import type { RolloutEvent, RolloutRecord } from './rollout-record.ts';

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
}
