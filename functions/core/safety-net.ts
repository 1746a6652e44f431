/**
 * The safety net: runs when a rollout's execution ends FAILED, TIMED_OUT or ABORTED (a crash of
 * ours, a timeout, or a person pressing Stop in the console). If the rollout had not finished,
 * it restores 100 % baseline in one change, records why, opens the incident (once) and releases
 * the lock, so traffic is never left half-shifted. Safe to run twice.
 */
import { parseRolloutConfig, targetKey, type RolloutConfig } from './config.ts';
import { snapshotRecord } from './evidence.ts';
import { openIncidentOnce } from './open-incident.ts';
import type { Deps } from './ports.ts';
import type { Decision, RolloutRecord } from './rollout-record.ts';

export interface ExecutionEnded {
  executionArn: string;
  /** Execution name: the rollout id. */
  name: string;
  status: 'FAILED' | 'TIMED_OUT' | 'ABORTED' | string;
  error?: string | null;
  cause?: string | null;
  /** The execution input (the rollout config) as JSON text, as EventBridge delivers it. */
  input?: string | null;
}

export type SafetyNetAction = 'NOTHING_TO_DO' | 'RELEASED_LOCK' | 'COMPLETED_PROMOTION' | 'RESTORED_BASELINE';

export interface SafetyNetResult {
  rolloutId: string;
  action: SafetyNetAction;
  detail: string;
}

const iso = (d: Date) => d.toISOString();

/** The last weight change reached INSYNC at canary 100: the promotion happened, only its record did not. */
function promotionCompleted(record: RolloutRecord): boolean {
  const lastSet = [...record.events].reverse().find((e) => e.type === 'WEIGHTS_SET');
  if (!lastSet || lastSet.type !== 'WEIGHTS_SET' || lastSet.canary !== 100) return false;
  return record.events.some((e) => e.type === 'IN_SYNC' && e.changeId === lastSet.changeId);
}

function configFromInput(input: string | null | undefined, deps: Deps): RolloutConfig | null {
  if (!input) return null;
  try {
    return parseRolloutConfig(JSON.parse(input), { allowedHostedZoneIds: deps.allowedHostedZoneIds });
  } catch {
    return null;
  }
}

export async function safetyNet(event: ExecutionEnded, deps: Deps): Promise<SafetyNetResult> {
  const rolloutId = event.name;
  deps.log.appendKeys?.({ rolloutId, executionStatus: event.status });
  const record = await deps.rollouts.get(rolloutId);
  const config = record?.config ?? configFromInput(event.input, deps);
  if (!config) {
    return { rolloutId, action: 'NOTHING_TO_DO', detail: 'no rollout record and no valid config: it was refused before anything moved' };
  }
  const key = targetKey(config.target);
  if (!record) {
    // Refused in preflight, or died between taking the lock and writing the record.
    await deps.locks.release(key, rolloutId);
    return { rolloutId, action: 'RELEASED_LOCK', detail: 'no rollout record: nothing had moved; lock released if it was held' };
  }
  if (record.status === 'PROMOTED' || record.status === 'ROLLED_BACK') {
    await deps.locks.release(key, rolloutId);
    return { rolloutId, action: 'RELEASED_LOCK', detail: `rollout had already ended ${record.status}` };
  }
  const now = deps.clock.now();
  const why = `execution ended ${event.status}${event.error ? `: ${event.error}` : ''}${event.cause ? ` (${event.cause.slice(0, 300)})` : ''}`;

  if (record.status === 'RUNNING' && promotionCompleted(record)) {
    const decision: Decision = record.decision ?? {
      outcome: 'PROMOTED', at: iso(now), stageIndex: record.stageIndex, weight: 100, failing: [],
      reasons: ['every stage passed; the safety net recorded the promotion after the ' + why],
    };
    await deps.rollouts.update(rolloutId, { status: 'PROMOTED', decision, weight: 100, updatedAt: iso(now) },
      [{ type: 'DECISION', at: iso(now), decision }]);
    await deps.locks.release(key, rolloutId);
    return { rolloutId, action: 'COMPLETED_PROMOTION', detail: 'canary was already at 100 % and in sync; recorded the promotion' };
  }

  const decision: Decision = record.decision ?? {
    outcome: 'ROLLED_BACK', trigger: 'SAFETY_NET', at: iso(now), stageIndex: record.stageIndex, weight: record.weight, failing: [],
    reasons: [`the safety net restored the baseline: the ${why}`],
  };
  await deps.rollouts.update(rolloutId, { status: 'ROLLING_BACK', decision, updatedAt: iso(now) },
    record.decision ? [{ type: 'NOTE', at: iso(now), message: `safety net: ${why}` }] : [{ type: 'DECISION', at: iso(now), decision }]);
  await snapshotRecord(rolloutId, deps, 'before the safety net\'s rollback');
  const { changeId } = await deps.traffic.setWeights(config.target, { canary: 0, baseline: 100 });
  const events: Parameters<Deps['rollouts']['update']>[2] = [
    { type: 'WEIGHTS_SET', at: iso(now), canary: 0, baseline: 100, changeId, stageIndex: record.stageIndex },
  ];
  await deps.rollouts.update(rolloutId, { weight: 0, updatedAt: iso(now) }, events);
  await openIncidentOnce(deps, { rolloutId, config, decision, executionArn: event.executionArn });
  await deps.rollouts.update(rolloutId, { status: 'ROLLED_BACK', updatedAt: iso(now) });
  await snapshotRecord(rolloutId, deps, 'at the end');
  await deps.locks.release(key, rolloutId);
  deps.log.warn('safety net restored the baseline', { changeId, reasons: decision.reasons });
  return { rolloutId, action: 'RESTORED_BASELINE', detail: `baseline restored (change ${changeId}): ${why}` };
}
