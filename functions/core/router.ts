/**
 * The router port: one adapter per way of moving user traffic between the baseline and the
 * canary (Route 53 weighted records, ALB weighted target groups, a Lambda alias's weighted
 * routing, an AppConfig feature flag). The steps speak percent (the canary's share, 0-100); each
 * adapter maps it exactly onto its own weights (Route 53 0-255, ALB 0-999, Lambda 0.0-1.0, a
 * flag's percentage) and never writes an all-zero split. Nothing here imports AWS.
 */

/** A router's own description of the traffic target, as read: what `restore` re-creates (JSON, a few KB at most). */
export type RouterDefinition = { [key: string]: unknown };

export interface RouterReading {
  /** The canary's share the router is set to now (percent, 0-100); null when the setup is incomplete (see `problems`). */
  canaryPercent: number | null;
  /**
   * What keeps a rollout from using the router as it is (a record missing, a rule forwarding to
   * other target groups, a deployment already in progress, a TTL above the limit...): one line
   * each, saying what to fix. Empty when the router is usable.
   */
  problems: string[];
  /**
   * How long clients may keep using the previous split once a change is in sync: the record TTL
   * for Route 53 (resolvers cache answers), 0 for an ALB, a Lambda alias or an AppConfig flag
   * (their own poll interval if the adapter knows it).
   */
  settleSeconds: number;
  /** The definition as read, kept by preflight so that a rollback can restore it whatever happened since. */
  definition: RouterDefinition;
}

export interface TrafficRouter<T = unknown> {
  /**
   * Reads the traffic target: the current split, what is wrong with it, and its definition.
   * `definition`: the one preflight kept, for routers that learn something at preflight the
   * config may not say (a Lambda alias's baseline version); the others ignore it.
   */
  read(target: T, definition?: RouterDefinition): Promise<RouterReading>;
  /**
   * Moves the canary's share in one atomic change. With `expectedPercent`, the change is made only
   * if the router is still at that share, as a compare-and-set where the router has one (Route 53:
   * DELETE of the exact current records and CREATE of the new ones in one batch; a Lambda alias:
   * its RevisionId), else after reading it back; a mismatch throws TrafficStateError and changes
   * nothing. At 100 the canary takes everything (a Lambda alias then points at the canary version).
   */
  shift(target: T, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }>;
  /**
   * Back to 100 % baseline in one change, unconditionally, re-creating from `definition` whatever
   * is missing or changed (a deleted record, a raised TTL). Used by rollbacks, the safety net and
   * the reconciler: it must succeed whatever state the router was left in.
   */
  restore(target: T, definition: RouterDefinition): Promise<{ changeId: string }>;
  /** True once the change is in effect everywhere the router serves from (Route 53 INSYNC, an AppConfig deployment COMPLETE...). */
  isInSync(target: T, changeId: string): Promise<boolean>;
}
