/** The durable record of a rollout: what was decided, when, and why. Stored by RolloutStore. */
import type { MetricVerdict, Verdict } from './judge.ts';
import type { IncidentDelivery } from './incident.ts';
import type { RolloutConfig } from './config.ts';

export type RolloutStatus = 'RUNNING' | 'ROLLING_BACK' | 'PROMOTED' | 'ROLLED_BACK' | 'ROLLBACK_FAILED';

/** What made the decision: the judge, a failure of ours, or a person. */
export type DecisionTrigger = 'VERDICT' | 'ERROR' | 'ABORTED' | 'REJECTED' | 'APPROVAL_TIMEOUT' | 'SAFETY_NET';

export interface Decision {
  outcome: 'PROMOTED' | 'ROLLED_BACK';
  trigger?: DecisionTrigger;
  at: string;
  stageIndex: number;
  /** Canary weight (percent) when the decision was made. */
  weight: number;
  reasons: string[];
  failing: MetricVerdict[];
}

export type RolloutEvent =
  | { type: 'STARTED'; at: string; stages: number[] }
  | { type: 'WEIGHTS_SET'; at: string; canary: number; baseline: number; changeId: string; stageIndex: number }
  | { type: 'IN_SYNC'; at: string; changeId: string; canary: number }
  | { type: 'CHECK'; at: string; stageIndex: number; weight: number; verdict: Verdict; duringBake?: boolean; window: { start: string; end: string }; metrics: Pick<MetricVerdict, 'name' | 'verdict' | 'reason' | 'canaryValue' | 'baselineValue'>[] }
  | { type: 'DECISION'; at: string; decision: Decision }
  | { type: 'INCIDENT'; at: string; deliveries: IncidentDelivery[] }
  | { type: 'ABORT_REQUESTED'; at: string; reason: string }
  | { type: 'APPROVAL_REQUESTED'; at: string; stageIndex: number; weight: number; deadline: string }
  | { type: 'APPROVAL_ANSWERED'; at: string; stageIndex: number; approved: boolean; by: string; reason?: string }
  /** After a rollback, the baseline was judged healthy again: the incident was updated RECOVERED. */
  | { type: 'RECOVERED'; at: string; reasons: string[]; window: { start: string; end: string }; deliveries: IncidentDelivery[] }
  /** After a rollback, the baseline stayed unhealthy until the watch ended: the incident was escalated. */
  | { type: 'ESCALATED'; at: string; reasons: string[]; window: { start: string; end: string }; deliveries: IncidentDelivery[] }
  | { type: 'NOTE'; at: string; message: string };

export interface ApprovalAnswer {
  stageIndex: number;
  approved: boolean;
  by: string;
  reason?: string;
  at: string;
}

export interface RolloutRecord {
  rolloutId: string;
  name: string;
  targetKey: string;
  executionArn?: string;
  status: RolloutStatus;
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
  incidentOpened?: boolean;
  /** The resolved config, so the safety net can finish a rollout whose execution died. */
  config?: RolloutConfig;
  events: RolloutEvent[];
}
