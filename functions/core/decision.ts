/**
 * What a stage does after a check: roll back, advance, or check again. Pure.
 *   - a critical metric failing rolls back at once;
 *   - more failed checks than `failureLimit`, or more inconclusive ones than
 *     `inconclusiveLimit`, roll back (no data is never a pass, and waiting for it is bounded);
 *   - `checksRequired` passing checks advance the stage.
 */
import type { Judgement } from './judge.ts';

export interface StageCounters {
  passed: number;
  failed: number;
  inconclusive: number;
}

export interface StageLimits {
  checksRequired: number;
  failureLimit: number;
  inconclusiveLimit: number;
}

export type StageAction = 'ROLLBACK' | 'ADVANCE' | 'CHECK_AGAIN';

export interface StageOutcome {
  action: StageAction;
  counters: StageCounters;
  reasons: string[];
}

export function decideAfterCheck(judgement: Judgement, before: StageCounters, limits: StageLimits): StageOutcome {
  const counters = { ...before };
  const failing = judgement.metrics.filter((m) => m.verdict === 'FAIL').map((m) => m.reason);
  const unknown = judgement.metrics.filter((m) => m.verdict === 'INCONCLUSIVE').map((m) => m.reason);
  if (judgement.verdict === 'FAIL') counters.failed++;
  else if (judgement.verdict === 'INCONCLUSIVE') counters.inconclusive++;
  else counters.passed++;

  if (judgement.criticalFailure) {
    const critical = judgement.metrics.filter((m) => m.verdict === 'FAIL' && m.critical).map((m) => `critical metric failed: ${m.reason}`);
    return { action: 'ROLLBACK', counters, reasons: critical };
  }
  if (counters.failed > limits.failureLimit) {
    return {
      action: 'ROLLBACK', counters,
      reasons: [...failing, `${counters.failed} failed check(s) at this stage, limit ${limits.failureLimit}`],
    };
  }
  if (counters.inconclusive > limits.inconclusiveLimit) {
    return {
      action: 'ROLLBACK', counters,
      reasons: [...unknown, `${counters.inconclusive} inconclusive check(s) at this stage, limit ${limits.inconclusiveLimit}: no data is not a pass`],
    };
  }
  if (counters.passed >= limits.checksRequired) return { action: 'ADVANCE', counters, reasons: [] };
  return { action: 'CHECK_AGAIN', counters, reasons: [...failing, ...unknown] };
}
