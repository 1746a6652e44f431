/**
 * The durable record of a rollout: what was decided, when, and why. Stored by RolloutStore as a
 * small head item whose size does not grow with the rollout's length (DynamoDB refuses items over
 * 400 KB), and an append-only list of events, each its own item. A person, the CLI and reports read
 * the head plus the events (`RolloutHistory`); the steps only ever read the head.
 */
import type { MetricVerdict, Verdict } from './judge.ts';
import type { IncidentDelivery, Severity } from './incident.ts';
import type { RolloutConfig } from './config.ts';
import type { RouterDefinition } from './router.ts';
import type { HookResult, Moment } from './verification.ts';
import type { IncidentUpdateRef } from './incident-status.ts';

/**
 * RUNNING: forward (shifting, baking, checking, waiting at a gate, paused). ROLLING_BACK: the
 * baseline is being (or has been) restored and the rollout not yet closed. HALTED (`onFailure:
 * halt`): a check failed, the weights are frozen and the workflow waits for a person (abort,
 * promote --full, resume); its execution still runs and its lock is held. PROMOTED / ROLLED_BACK:
 * closed. ROLLBACK_FAILED is no longer written (a rollback is retried until it lands) but old
 * records may hold it.
 */
export type RolloutStatus = 'RUNNING' | 'ROLLING_BACK' | 'HALTED' | 'PROMOTED' | 'ROLLED_BACK' | 'ROLLBACK_FAILED';

export const ACTIVE_STATUSES: readonly RolloutStatus[] = ['RUNNING', 'ROLLING_BACK', 'HALTED'];
export const isActive = (status: RolloutStatus) => ACTIVE_STATUSES.includes(status);

/**
 * What made the decision: the judge, a failure of ours, a person (abort, reject, a manual rollback
 * of the weights), a change made outside the rollout (drift), or the safety net / reconciler.
 */
export type DecisionTrigger =
  | 'VERDICT' | 'ERROR' | 'ABORTED' | 'REJECTED' | 'APPROVAL_TIMEOUT' | 'SAFETY_NET' | 'MANUAL_ROLLBACK' | 'DRIFT'
  /** A beforeShift gate stayed shut past its bound (approvalTimeoutSeconds). */
  | 'GATE'
  /** `canary promote --full`: a person sent the canary to 100 % without the remaining stages' analysis. */
  | 'MANUAL_PROMOTION'
  /** A halted rollout (`onFailure: halt`) waited HALT_MAX_SECONDS for a person and was rolled back. */
  | 'HALT_TIMEOUT';

/** Rollbacks a person asked for: they open no incident (the person knows why). */
export const PERSON_TRIGGERS: readonly DecisionTrigger[] = ['ABORTED', 'REJECTED', 'MANUAL_ROLLBACK'];

export interface Decision {
  outcome: 'PROMOTED' | 'ROLLED_BACK';
  trigger?: DecisionTrigger;
  at: string;
  stageIndex: number;
  /** Canary weight (percent) when the decision was made. */
  weight: number;
  reasons: string[];
  failing: MetricVerdict[];
  /** Who decided, when a person did (`canary promote --full`, abort, reject). */
  by?: string;
}

/** One check as the record's events keep it: verdicts and values, not the raw datapoints (those are evidence). */
export interface CheckEvent {
  type: 'CHECK';
  at: string;
  stageIndex: number;
  weight: number;
  verdict: Verdict;
  /** A check while the stage bakes: only a confident failure acts on it. */
  duringBake?: boolean;
  /** A check while the weight is held (a manual gate waiting): it may roll back, never advance. */
  hold?: boolean;
  window: { start: string; end: string };
  metrics: Pick<MetricVerdict, 'name' | 'verdict' | 'reason' | 'canaryValue' | 'baselineValue' | 'dryRun'>[];
}

export type RolloutEvent =
  | { type: 'STARTED'; at: string; stages: number[] }
  | { type: 'WEIGHTS_SET'; at: string; canary: number; baseline: number; changeId: string; stageIndex: number }
  | { type: 'IN_SYNC'; at: string; changeId: string; canary: number }
  | CheckEvent
  | { type: 'DECISION'; at: string; decision: Decision }
  /** The incident opened (its severity by cause: incident.ts severityOf; absent on records written before it). */
  | { type: 'INCIDENT'; at: string; deliveries: IncidentDelivery[]; severity?: Severity; severityReason?: string }
  | { type: 'ABORT_REQUESTED'; at: string; reason: string }
  | { type: 'APPROVAL_REQUESTED'; at: string; stageIndex: number; weight: number; deadline: string }
  | { type: 'APPROVAL_ANSWERED'; at: string; stageIndex: number; approved: boolean; by: string; reason?: string }
  /** A status update of the open incident (incident.statusUpdateEvery), numbered from 1, and where it went. */
  | { type: 'INCIDENT_UPDATE'; at: string; seq: number; note: string; deliveries: IncidentDelivery[] }
  /** After a rollback, the baseline was judged healthy again: the incident was updated RECOVERED. */
  | { type: 'RECOVERED'; at: string; reasons: string[]; window: { start: string; end: string }; deliveries: IncidentDelivery[] }
  /** After a rollback, the baseline stayed unhealthy until the watch ended: the incident was escalated. */
  | { type: 'ESCALATED'; at: string; reasons: string[]; window: { start: string; end: string }; deliveries: IncidentDelivery[] }
  /** The traffic target was found changed outside the rollout (weights, a record, the TTL). */
  | { type: 'DRIFT'; at: string; expectedCanary: number; foundCanary: number | null; problems: string[] }
  | { type: 'NOTE'; at: string; message: string }
  /** A gate (preRollout, beforeShift) asked its checks: open when all passed. */
  | { type: 'GATE'; at: string; moment: 'preRollout' | 'beforeShift'; stageIndex: number; weight: number; open: boolean; checks: Pick<MetricVerdict, 'name' | 'verdict' | 'reason'>[] }
  /** Action hooks started (afterPromotion, afterRollback): their ids, statuses and outputs. */
  | { type: 'HOOKS'; at: string; moment: Extract<Moment, 'afterPromotion' | 'afterRollback'>; results: HookResult[] }
  /** A person's request (`canary promote --full`, `pause`, `resume`), as the CLI recorded it. */
  | { type: 'CONTROL'; at: string; request: ControlAction; by: string; reason?: string }
  /** The workflow holds the weight for a pause (checks go on; a failure still acts). */
  | { type: 'PAUSED'; at: string; stageIndex: number; weight: number; by: string; reason?: string }
  /** The workflow goes on after a pause (its stage clock stopped for `pausedSeconds`) or a halt. */
  | { type: 'RESUMED'; at: string; stageIndex: number; weight: number; by: string; reason?: string; pausedSeconds?: number; fromHalt?: boolean }
  /** onFailure: halt: the weights are frozen and the rollout waits for a person until `deadline`. */
  | { type: 'HALTED'; at: string; stageIndex: number; weight: number; trigger: DecisionTrigger; reasons: string[]; deadline: string }
  /** `canary retry`: this rollout was started again as `retryId` (whose record says `retryOf`). */
  | { type: 'RETRIED'; at: string; retryId: string; by: string; reason?: string };

/** What a person may ask of a rollout besides abort and a gate's answer. */
export type ControlAction = 'PROMOTE' | 'PAUSE' | 'RESUME';

/** A person's request as the head keeps it (one each, bounded). */
export interface ControlRequest {
  at: string;
  by: string;
  reason?: string;
}

/** The limits of a request's fields (the CLI refuses longer ones before any call). */
export const MAX_REASON_CHARS = 500;
export const MAX_BY_CHARS = 100;

export interface ApprovalAnswer {
  stageIndex: number;
  approved: boolean;
  by: string;
  reason?: string;
  at: string;
}

/** The last weight change submitted to the router, and when it was in effect everywhere. */
export interface WeightChangeRef {
  id: string;
  canary: number;
  submittedAt: string;
  inSyncAt?: string;
}

export interface IncidentRef {
  dedupKey: string;
  openedAt: string;
  deliveries: IncidentDelivery[];
  /** By cause (incident.ts severityOf); absent on records written before it. */
  severity?: Severity;
}

/** The head of a rollout's record: bounded in size whatever the rollout's length. */
export interface RolloutRecord {
  rolloutId: string;
  name: string;
  targetKey: string;
  /** The rollout's (parent) execution: what a pipeline and `canary status` follow. */
  executionArn?: string;
  status: RolloutStatus;
  /**
   * Fencing token of whoever may move this rollout's traffic now: the workflow's at preflight, the
   * safety net's or the reconciler's once they take the rollout over. A step carrying another token
   * is stale (a redriven execution, a late Lambda) and may not move traffic.
   */
  token?: string;
  startedAt: string;
  updatedAt: string;
  stageIndex: number;
  weight: number;
  decision?: Decision;
  abortRequested?: { at: string; reason: string };
  /** A manual gate waiting for `canary approve` / `canary reject`. */
  pendingApproval?: { stageIndex: number; weight: number; requestedAt: string; deadline: string };
  /** The latest answer to a manual gate. */
  approval?: ApprovalAnswer;
  /** The incident of an automatic rollback, once delivered. */
  incident?: IncidentRef;
  /** The resolved config, so the safety net and the reconciler can finish a rollout whose execution died. */
  config?: RolloutConfig;
  /** The traffic target as preflight read it: what a rollback restores. */
  routerDefinition?: RouterDefinition;
  /** The last weight change (the rollback's, once there is one). */
  lastChange?: WeightChangeRef;
  /** Checks made so far, and the last one's verdicts. */
  checkCount?: number;
  lastCheck?: CheckEvent;
  /** How the recovery watch after a rollback ended. */
  recovery?: { outcome: 'RECOVERED' | 'ESCALATED'; at: string };
  /** The incident's latest status update (claimed before it is sent: a retried step never sends one twice). */
  incidentUpdate?: IncidentUpdateRef;
  /** Action hooks started so far (afterPromotion, afterRollback): ids and statuses, outputs cut, for the incident. */
  hooks?: HookResult[];
  /** Events appended so far (each stored as its own item). */
  eventCount?: number;
  /** `canary promote --full` asked for, not yet acted on (or acted on: the decision says MANUAL_PROMOTION). */
  promoteRequested?: ControlRequest;
  /** Set by `canary pause`, removed by `canary resume`: the weight is held while it is here. */
  paused?: ControlRequest;
  /** `canary resume` of a HALTED rollout, not yet acted on. */
  resumeRequested?: ControlRequest;
  /** While HALTED: why, since when, and until when it waits for a person. */
  halted?: { at: string; deadline: string; stageIndex: number; weight: number; trigger: DecisionTrigger; reasons: string[] };
  /** `checkBaselineHealth: compare` started on an unhealthy baseline: the metrics judged against the baseline only, and why. */
  hotfix?: { at: string; metrics: string[]; reasons: string[]; healthyAt?: string };
  /** `canary retry`: the rollout this one retries, and the one that retried this one. */
  retryOf?: string;
  retriedBy?: string;
}

/** A rollout's head with all its events, oldest first: what reports, `watch` and the simulator show. */
export interface RolloutHistory extends RolloutRecord {
  events: RolloutEvent[];
}
