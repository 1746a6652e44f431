/**
 * Finishing a rollout whose workflow can no longer finish it: the safety net runs when a rollout's
 * execution ends FAILED, TIMED_OUT or ABORTED (a crash of ours, a timeout, a person pressing Stop),
 * and the reconciler (reconciler.ts) finds the same rollouts on a schedule when that event was
 * lost (EventBridge delivers execution events best effort) or the net itself failed.
 *
 * Both take the rollout over first (a new fencing token on the record and the lock: the dead
 * execution, if it is redriven or one of its Lambdas is still running, is fenced out from then on),
 * restore 100 % baseline before writing anything, wait until any Lambda still running from a
 * stopped execution must have ended and re-apply the rollback if one of them moved traffic after
 * all, then open the incident, close the record and release the lock. A rollout whose last change
 * was the promotion, in sync, is recorded as promoted instead. Safe to run twice, and concurrently
 * with itself.
 */
import { parseRolloutConfig, targetKey, type RolloutConfig } from './config.ts';
import { snapshotRecord } from './evidence.ts';
import { openIncidentOnce } from './open-incident.ts';
import type { Deps } from './ports.ts';
import { isActive, type Decision, type RolloutRecord } from './rollout-record.ts';

export interface ExecutionEnded {
  executionArn: string;
  /** Execution name: the rollout id. */
  name: string;
  status: 'FAILED' | 'TIMED_OUT' | 'ABORTED' | string;
  error?: string | null;
  cause?: string | null;
  /** The execution input (the rollout config) as JSON text, as EventBridge delivers it. */
  input?: string | null;
  /** When the execution stopped (epoch milliseconds, as EventBridge delivers it). */
  stopDate?: number | null;
}

export type SafetyNetAction = 'NOTHING_TO_DO' | 'RELEASED_LOCK' | 'COMPLETED_PROMOTION' | 'RESTORED_BASELINE' | 'CLOSED_WITHOUT_TRAFFIC';

export interface SafetyNetResult {
  rolloutId: string;
  action: SafetyNetAction;
  detail: string;
  /** A write that landed after the stop (a Lambda still running) was undone by re-applying the rollback. */
  reapplied?: boolean;
}

/**
 * How long a Lambda of the workflow can still run after its execution stopped: the steps' Lambda
 * timeout (template.yaml, Globals) and a margin. Stop does not stop a running Lambda.
 */
export const LATE_LAMBDA_SECONDS = 60 + 15;

/**
 * The lease the safety net or the reconciler holds while it finishes a rollout: long enough for
 * its wait for a late Lambda, short enough that the reconciler takes over from one that died.
 */
export const FINISH_LEASE_SECONDS = 600;

/** Tokens of the closers: a rollout carrying one is being finished by the safety net or the reconciler. */
export const isCloserToken = (token: string | undefined) => Boolean(token?.startsWith('safety-net@') || token?.startsWith('reconciler@'));

const iso = (d: Date) => d.toISOString();

function configFromInput(input: string | null | undefined, deps: Deps): RolloutConfig | null {
  if (!input) return null;
  try {
    return parseRolloutConfig(JSON.parse(input), { allowedHostedZoneIds: deps.allowedHostedZoneIds, allowedRecordNames: deps.allowedRecordNames });
  } catch {
    return null;
  }
}

export async function safetyNet(event: ExecutionEnded, deps: Deps): Promise<SafetyNetResult> {
  const rolloutId = event.name;
  deps.log.appendKeys?.({ rolloutId, executionStatus: event.status });
  const record = await deps.rollouts.get(rolloutId);
  if (!record) {
    // Refused in preflight: the lock and the record are taken in one transaction, so nothing moved.
    const config = configFromInput(event.input, deps);
    if (config) await deps.rollouts.releaseLock(targetKey(config.target), rolloutId);
    return { rolloutId, action: 'NOTHING_TO_DO', detail: 'no rollout record: it was refused before anything moved' };
  }
  if (record.executionArn && record.executionArn !== event.executionArn) {
    return { rolloutId, action: 'NOTHING_TO_DO', detail: `execution ${event.executionArn} is not the rollout's (${record.executionArn})` };
  }
  const why = `execution ended ${event.status}${event.error ? `: ${event.error}` : ''}${event.cause ? ` (${event.cause.slice(0, 300)})` : ''}`;
  return finishRollout(record, why, deps, { by: 'safety-net', stoppedAt: event.stopDate ? new Date(event.stopDate) : undefined });
}

/**
 * Finishes an orphaned rollout (its execution no longer runs): see the file's comment. `stoppedAt`
 * is when the execution ended; the rollback is re-checked once a Lambda still running then must
 * have ended.
 */
export async function finishRollout(record: RolloutRecord, why: string, deps: Deps, options: { by: 'safety-net' | 'reconciler'; stoppedAt?: Date }): Promise<SafetyNetResult> {
  const rolloutId = record.rolloutId;
  const config = record.config;
  if (!config) return { rolloutId, action: 'NOTHING_TO_DO', detail: 'the record has no config (written by an older version): finish it by hand' };
  const key = targetKey(config.target);
  if (!isActive(record.status)) {
    await deps.rollouts.releaseLock(key, rolloutId);
    return { rolloutId, action: 'RELEASED_LOCK', detail: `rollout had already ended ${record.status}` };
  }
  const now = deps.clock.now();
  const token = `${options.by}@${iso(now)}`;
  const taken = await deps.rollouts.takeOver(rolloutId, { lockKey: key, token, leaseSeconds: FINISH_LEASE_SECONDS, now });
  if (!taken.ok && taken.reason === 'NOT_FOUND') return { rolloutId, action: 'NOTHING_TO_DO', detail: 'the record is gone' };
  if (!taken.ok && taken.reason === 'CLOSED') {
    await deps.rollouts.releaseLock(key, rolloutId);
    return { rolloutId, action: 'RELEASED_LOCK', detail: `rollout had already ended ${taken.record.status}` };
  }
  const by = options.by === 'safety-net' ? 'the safety net' : 'the reconciler';
  if (!taken.ok) {
    // Another rollout holds the target (it started from 100 % baseline, so ours was undone): its
    // traffic is not ours to touch. Close the record, say why.
    const decision: Decision = record.decision ?? {
      outcome: 'ROLLED_BACK', trigger: 'SAFETY_NET', at: iso(now), stageIndex: record.stageIndex, weight: record.weight, failing: [],
      reasons: [`${by} closed the rollout without touching traffic: the ${why}, and rollout ${taken.holder.owner} now holds the traffic target`],
    };
    await deps.rollouts.update(rolloutId, { status: 'ROLLED_BACK', decision, updatedAt: iso(now) },
      [{ type: 'NOTE', at: iso(now), message: decision.reasons[0]! }]);
    // The other rollout's lock stays (the release is conditional on the owner); the closed record
    // leaves the index of rollouts to sweep.
    await deps.rollouts.releaseLock(key, rolloutId);
    return { rolloutId, action: 'CLOSED_WITHOUT_TRAFFIC', detail: decision.reasons[0]! };
  }

  const definition = record.routerDefinition;
  const last = record.lastChange;
  if (record.status === 'RUNNING' && last?.canary === 100 && last.inSyncAt) {
    const reading = await deps.traffic.read(config.target, definition);
    if (reading.problems.length === 0 && reading.canaryPercent === 100) {
      const decision: Decision = record.decision?.outcome === 'PROMOTED' ? record.decision : {
        outcome: 'PROMOTED', trigger: 'VERDICT', at: iso(now), stageIndex: record.stageIndex, weight: 100, failing: [],
        reasons: [`every stage passed; ${by} recorded the promotion after the ${why}`],
      };
      await deps.rollouts.update(rolloutId, { status: 'PROMOTED', decision, weight: 100, updatedAt: iso(now) },
        [{ type: 'DECISION', at: iso(now), decision }], { token });
      await deps.rollouts.releaseLock(key, rolloutId);
      return { rolloutId, action: 'COMPLETED_PROMOTION', detail: 'canary was already at 100 % and in sync; recorded the promotion' };
    }
  }

  // Traffic first: the baseline as preflight read it, whatever state the target is in.
  if (!definition) throw new Error(`rollout ${rolloutId} has no router definition to restore`);
  let { changeId } = await deps.traffic.restore(config.target, definition);
  let reapplied = false;
  deps.log.warn(`${by} restored the baseline`, { changeId, why });
  const restoredAt = iso(deps.clock.now());
  const decision: Decision = record.decision ?? {
    outcome: 'ROLLED_BACK', trigger: 'SAFETY_NET', at: restoredAt, stageIndex: record.stageIndex, weight: record.weight, failing: [],
    reasons: [`${by} restored the baseline: the ${why}`],
  };
  // Then the record, so `canary status` says what happened while the late-Lambda wait runs.
  await deps.rollouts.update(rolloutId, { status: 'ROLLING_BACK', decision, weight: 0, lastChange: { id: changeId, canary: 0, submittedAt: restoredAt }, updatedAt: restoredAt }, [
    record.decision ? { type: 'NOTE', at: restoredAt, message: `${by}: ${why}` } : { type: 'DECISION', at: restoredAt, decision },
    { type: 'WEIGHTS_SET', at: restoredAt, canary: 0, baseline: 100, changeId, stageIndex: record.stageIndex },
  ], { token });

  if (options.stoppedAt) {
    // Stop does not stop a running Lambda: one may still land a weight change. Wait until it must
    // have ended, read the target back, and restore again if it moved.
    const until = options.stoppedAt.getTime() + LATE_LAMBDA_SECONDS * 1000;
    const wait = until - deps.clock.now().getTime();
    if (wait > 0) await (deps.clock.sleep?.(wait) ?? new Promise((r) => setTimeout(r, wait)));
    const reading = await deps.traffic.read(config.target, definition);
    if (reading.canaryPercent !== 0 || reading.problems.length > 0) {
      ({ changeId } = await deps.traffic.restore(config.target, definition));
      reapplied = true;
      deps.log.warn('a change landed after the stop; the rollback was applied again', { found: reading.canaryPercent, changeId });
    }
  }

  const at = iso(deps.clock.now());
  if (reapplied) {
    await deps.rollouts.update(rolloutId, { lastChange: { id: changeId, canary: 0, submittedAt: at }, updatedAt: at }, [
      { type: 'WEIGHTS_SET', at, canary: 0, baseline: 100, changeId, stageIndex: record.stageIndex },
      { type: 'NOTE', at, message: 'a weight change landed after the execution stopped (a Lambda still running); the rollback was applied again' },
    ], { token });
  }
  if (!decision.trigger || !['ABORTED', 'REJECTED', 'MANUAL_ROLLBACK'].includes(decision.trigger)) {
    await openIncidentOnce(deps, { rolloutId, config, decision, executionArn: record.executionArn });
  }
  // Closed, then the lock released: a closed rollout stays in the index the reconciler sweeps until
  // its lock is released (releaseLock takes it out), so a failed release is retried there.
  await deps.rollouts.update(rolloutId, { status: 'ROLLED_BACK', updatedAt: at }, [], { token });
  await deps.rollouts.releaseLock(key, rolloutId);
  await snapshotRecord(rolloutId, deps, 'at the end');
  return { rolloutId, action: 'RESTORED_BASELINE', detail: `baseline restored (change ${changeId}): ${why}`, reapplied };
}
