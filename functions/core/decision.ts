/**
 * What a stage does after a check: roll back, advance, or check again. Pure.
 *   - a critical metric failing rolls back at once;
 *   - more failed checks than `failureLimit` roll back;
 *   - a check with no canary data at all for some metric counts against `inconclusiveLimit`:
 *     one more than the limit rolls back (no data is never a pass);
 *   - a check with data, but too little to judge (a quiet stage: few requests), extends the
 *     bake, one check interval at a time, for at most `maxExtensionSeconds`; then it rolls back
 *     saying the stage needs more traffic or a longer bake;
 *   - `checksRequired` passing checks advance the stage.
 */
import type { Judgement } from './judge.ts';

export interface StageCounters {
  passed: number;
  failed: number;
  /** Checks with no canary data for some metric. */
  inconclusive: number;
  /** Checks with data, but too little to judge (the bake was extended). */
  lowSample?: number;
}

export interface StageLimits {
  checksRequired: number;
  failureLimit: number;
  inconclusiveLimit: number;
  /** How long a quiet stage may extend its bake waiting for enough data. */
  maxExtensionSeconds: number;
  /** How long the stage has already waited past its first check. */
  extendedSeconds: number;
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
  const inconclusive = judgement.metrics.filter((m) => m.verdict === 'INCONCLUSIVE');
  const unknown = inconclusive.map((m) => m.reason);
  const missing = inconclusive.some((m) => m.sample.canary === 0);
  if (judgement.verdict === 'FAIL') counters.failed++;
  else if (judgement.verdict === 'INCONCLUSIVE' && missing) counters.inconclusive++;
  else if (judgement.verdict === 'INCONCLUSIVE') counters.lowSample = (counters.lowSample ?? 0) + 1;
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
  if (judgement.verdict === 'INCONCLUSIVE' && !missing && limits.extendedSeconds >= limits.maxExtensionSeconds) {
    return {
      action: 'ROLLBACK', counters,
      reasons: [...unknown, `still too little data to judge after extending the bake by ${Math.round(limits.extendedSeconds)} s (limit maxBakeExtensionSeconds ${limits.maxExtensionSeconds} s): give this stage more traffic (a higher weight) or a longer bake`],
    };
  }
  if (counters.passed >= limits.checksRequired) return { action: 'ADVANCE', counters, reasons: [] };
  return { action: 'CHECK_AGAIN', counters, reasons: [...failing, ...unknown] };
}

export interface SequentialLimits extends StageLimits {
  /** Before the bake ends only a confirmed failure acts (a roll back); nothing advances. */
  duringBake: boolean;
  /** 'hold': the weight is held (a manual gate waiting, a pause): may roll back, never advances. */
  mode: 'stage' | 'hold';
}

/**
 * What a stage does after a check of the sequential judge (stage-analysis.ts), whose FAIL is an
 * any-time-valid alarm (a detected change), never a single window's test:
 *   - a critical metric's alarm rolls back at once; other alarms count as failed checks, and one
 *     more than `failureLimit` rolls back (any time, during the bake and holds too);
 *   - a check where a metric has had no canary data since the stage started counts against
 *     `inconclusiveLimit` once the bake is over (and in holds): one more rolls back;
 *   - before the bake ends, and in holds, nothing else happens: the stage checks again;
 *   - after the bake, `checksRequired` passing checks advance; an INCONCLUSIVE check (data, but
 *     not enough to tell, too noisy to tell, an unconfirmed breach or a suspected change) extends
 *     the bake for at most `maxExtensionSeconds`, then rolls back saying which of these it was.
 */
export function decideSequentialCheck(judgement: Judgement, before: StageCounters, limits: SequentialLimits): StageOutcome {
  const counters = { ...before };
  const failing = judgement.metrics.filter((m) => m.verdict === 'FAIL');
  const inconclusive = judgement.metrics.filter((m) => m.verdict === 'INCONCLUSIVE');
  const unknown = inconclusive.map((m) => m.reason);
  if (failing.length > 0) {
    counters.failed++;
    if (judgement.criticalFailure) {
      return { action: 'ROLLBACK', counters, reasons: failing.filter((m) => m.critical).map((m) => `critical metric failed: ${m.reason}`) };
    }
    if (counters.failed > limits.failureLimit) {
      return {
        action: 'ROLLBACK', counters,
        reasons: [...failing.map((m) => m.reason), `${counters.failed} failed check(s) at this stage, limit ${limits.failureLimit}`],
      };
    }
    return { action: 'CHECK_AGAIN', counters, reasons: failing.map((m) => m.reason) };
  }
  const countsNoData = !limits.duringBake || limits.mode === 'hold';
  const missing = inconclusive.some((m) => m.cause === 'no-data');
  if (missing && countsNoData) {
    counters.inconclusive++;
    if (counters.inconclusive > limits.inconclusiveLimit) {
      return {
        action: 'ROLLBACK', counters,
        reasons: [...unknown, `${counters.inconclusive} inconclusive check(s) at this stage, limit ${limits.inconclusiveLimit}: no data is not a pass`],
      };
    }
    return { action: 'CHECK_AGAIN', counters, reasons: unknown };
  }
  if (limits.mode === 'hold' || limits.duringBake) return { action: 'CHECK_AGAIN', counters, reasons: unknown };
  if (judgement.verdict === 'PASS') {
    counters.passed++;
    if (counters.passed >= limits.checksRequired) return { action: 'ADVANCE', counters, reasons: [] };
    return { action: 'CHECK_AGAIN', counters, reasons: [] };
  }
  counters.lowSample = (counters.lowSample ?? 0) + 1;
  if (limits.extendedSeconds >= limits.maxExtensionSeconds) {
    const extended = `after extending the bake by ${Math.round(limits.extendedSeconds)} s (limit maxBakeExtensionSeconds ${limits.maxExtensionSeconds} s)`;
    const causes = new Set(inconclusive.map((m) => m.cause));
    const advice: string[] = [];
    if (causes.has('unconfirmed') || causes.has('suspected-change')) {
      advice.push(`a possible regression was still unresolved ${extended}: rolled back rather than promoted on a doubt`);
    }
    if (causes.has('too-much-variance')) {
      advice.push(`still too much variance to tell ${extended}: a longer bake, a wider allowance, or baseline.minIncrease (an absolute floor) would settle it`);
    }
    if (causes.has('too-little-data') || causes.has('no-data') || advice.length === 0) {
      advice.push(`still too little data to judge ${extended}: give this stage more traffic (a higher weight) or a longer bake`);
    }
    return { action: 'ROLLBACK', counters, reasons: [...unknown, ...advice] };
  }
  return { action: 'CHECK_AGAIN', counters, reasons: unknown };
}
