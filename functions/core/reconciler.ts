/**
 * The reconciler: on a schedule (EventBridge Scheduler, every few minutes), it sweeps the rollouts
 * whose record is still RUNNING or ROLLING_BACK and asks Step Functions whether their execution
 * still runs. Any whose execution has ended (its end event lost, the safety net failed, a
 * redrive given up) is finished like the safety net finishes it: baseline restored, record
 * completed, incident opened, lock released. It retries every run until it succeeds: a rollout
 * that failed to finish stays active and is swept again. Pure core: the ports do the I/O.
 */
import type { Deps } from './ports.ts';
import { targetKey } from './config.ts';
import { finishRollout, isCloserToken, type SafetyNetResult } from './safety-net.ts';

/** A rollout younger than this is left to its workflow (its execution may not be visible yet). */
export const RECONCILE_GRACE_SECONDS = 120;

export interface ReconcileReport {
  swept: number;
  finished: SafetyNetResult[];
  /** Rollouts it could not finish this time (swept again next run). */
  failed: { rolloutId: string; error: string }[];
}

export async function reconcile(deps: Deps): Promise<ReconcileReport> {
  if (!deps.executions) throw new Error('the reconciler needs the executions port (Step Functions)');
  const active = await deps.rollouts.listActive();
  const report: ReconcileReport = { swept: active.length, finished: [], failed: [] };
  for (const record of active) {
    const now = deps.clock.now();
    if (now.getTime() - Date.parse(record.startedAt) < RECONCILE_GRACE_SECONDS * 1000) continue;
    try {
      // The safety net (or an earlier run) is finishing it right now: leave it its lease.
      if (isCloserToken(record.token) && record.config) {
        const holder = await deps.rollouts.lockHolder(targetKey(record.config.target));
        if (holder?.owner === record.rolloutId && holder.token === record.token && Date.parse(holder.expiresAt) > now.getTime()) continue;
      }
      const execution = record.executionArn ? await deps.executions.describe(record.executionArn) : { status: 'NOT_FOUND' as const };
      if (execution.status === 'RUNNING' || execution.status === 'PENDING_REDRIVE') continue;
      const why = `execution ended ${execution.status}${execution.error ? `: ${execution.error}` : ''} and its rollout was still ${record.status}`;
      const result = await finishRollout(record, why, deps, {
        by: 'reconciler', stoppedAt: execution.stopDate ? new Date(execution.stopDate) : undefined,
      });
      report.finished.push(result);
      deps.log.warn('reconciler finished an orphaned rollout', { rolloutId: record.rolloutId, action: result.action, detail: result.detail });
    } catch (error) {
      report.failed.push({ rolloutId: record.rolloutId, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      deps.log.error('reconciler could not finish a rollout; it will try again next run', { rolloutId: record.rolloutId, error: String(error) });
    }
  }
  return report;
}
