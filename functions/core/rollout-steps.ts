/**
 * The rollout's steps, one per Task state of `statemachines/rollout.asl.json`. Each takes the
 * state the workflow carries and the ports, and returns the next state; `next` is what the
 * workflow's Choice states branch on, and `wait.until` what its Wait states wait for.
 * Every step is safe to run twice with the same input.
 */
import { parseRolloutConfig, targetKey, type RolloutConfig } from './config.ts';
import { LockHeldError, LockLostError, PreflightError, TrafficStateError } from './errors.ts';
import { judgeBaselineAlone } from './baseline-health.ts';
import { openIncidentOnce } from './open-incident.ts';
import { verifyRecovery } from './recovery.ts';
import type { MetricVerdict } from './judge.ts';
import type { Deps } from './ports.ts';
import type { Decision, RolloutEvent, RolloutRecord } from './rollout-record.ts';
import { decideAfterCheck, type StageCounters } from './decision.ts';
import { evidenceNote, snapshotRecord, storeEvidence } from './evidence.ts';

export type Next = 'SHIFT' | 'AWAIT_APPROVAL' | 'WAIT_SYNC' | 'BAKE' | 'ANALYZE' | 'ROLLBACK' | 'CONCLUDE';

export interface RolloutState {
  rolloutId: string;
  executionArn?: string;
  config: RolloutConfig;
  stageIndex: number;
  /** Canary weight (percent) set or being set. */
  weight: number;
  phase: 'FORWARD' | 'ROLLING_BACK';
  next: Next;
  change?: { id: string; submittedAt: string; inSyncAt?: string };
  /** Start of the current stage's analysis window (INSYNC + one TTL). */
  analysisStart?: string;
  counters: StageCounters;
  wait: { until: string };
  /** Stages whose manual gate a person approved. */
  approvedStages?: number[];
  /** When the pending manual gate gives up and rolls back. */
  approvalDeadline?: string;
  ttlSeconds: number;
  decision?: Decision;
  outcome?: 'PROMOTED' | 'ROLLED_BACK';
  /** The decision in one line (the execution's failure cause on a rollback). */
  summary?: string;
  /** Set by the workflow's Catch when a step failed unexpectedly. */
  error?: { Error: string; Cause: string };
}

export interface PreflightInput {
  config: unknown;
  execution?: { id?: string; name?: string; startTime?: string };
}

/** How long after a period ends CloudWatch has its datapoints aggregated. */
export const CLOUDWATCH_DELAY_SECONDS = 60;

/** How often a manual gate looks for an answer. */
export const APPROVAL_POLL_SECONDS = 30;

/** How long to wait between two polls of a Route 53 change, and how long before giving up. */
export const SYNC_POLL_SECONDS = 10;
export const SYNC_TIMEOUT_SECONDS = 900;

const iso = (d: Date) => d.toISOString();
const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);
const zeroCounters = (): StageCounters => ({ passed: 0, failed: 0, inconclusive: 0 });

function rolloutIdOf(input: PreflightInput, deps: Deps): string {
  const name = input.execution?.name;
  if (name && /^[A-Za-z0-9_-]{1,80}$/.test(name)) return name;
  if (input.execution?.id) return input.execution.id.split(':').at(-1)!.slice(0, 80);
  return `local-${deps.clock.now().getTime()}`;
}

/** Judges the baseline alone against the absolute thresholds, over the last bake period. */
async function checkBaselineHealth(config: RolloutConfig, deps: Deps): Promise<MetricVerdict[]> {
  const now = deps.clock.now();
  const period = config.analysisPeriodSeconds;
  const end = new Date(Math.floor(now.getTime() / 1000 / period) * period * 1000 - period * 1000);
  const start = addSeconds(end, -Math.max(config.bakeSeconds, 5 * period));
  const window = await deps.metrics.fetchWindow(config.metrics, { start, end, periodSeconds: period });
  return judgeBaselineAlone(config.metrics, window, deps.judge).metrics;
}

export async function preflight(input: PreflightInput, deps: Deps): Promise<RolloutState> {
  const config = parseRolloutConfig(input?.config, { allowedHostedZoneIds: deps.allowedHostedZoneIds });
  const rolloutId = rolloutIdOf(input, deps);
  const key = targetKey(config.target);
  deps.log.appendKeys?.({ rolloutId, target: key });

  const records = await deps.traffic.readRecords(config.target);
  const t = config.target;
  if (!records.baseline || !records.canary) {
    const missing = [!records.baseline && `baseline '${t.baselineSetIdentifier}'`, !records.canary && `canary '${t.canarySetIdentifier}'`].filter(Boolean).join(' and ');
    throw new PreflightError(`${t.recordName} ${t.recordType} in zone ${t.hostedZoneId} has no weighted record with the ${missing} SetIdentifier; create both weighted records first (canary at weight 0)`);
  }
  const ttl = Math.max(records.baseline.ttl, records.canary.ttl);
  if (ttl > t.maxTtlSeconds) {
    throw new PreflightError(`${t.recordName} has TTL ${ttl} s, above target.maxTtlSeconds ${t.maxTtlSeconds} s: clients keep an old answer for a whole TTL, so a rollback would take that long to reach them. Lower the TTL to 60 s or raise target.maxTtlSeconds knowingly`);
  }
  if (records.canary.weight !== 0) {
    throw new PreflightError(`the canary record '${t.canarySetIdentifier}' has weight ${records.canary.weight}, expected 0: a rollout starts from 100 % baseline. Another rollout may be running or have been left unfinished; check \`canary list\``);
  }
  if (records.baseline.weight === 0) {
    throw new PreflightError(`the baseline record '${t.baselineSetIdentifier}' has weight 0: there is no live traffic to shift from`);
  }
  if (config.checkBaselineHealth) {
    const verdicts = await checkBaselineHealth(config, deps);
    const failing = verdicts.filter((v) => v.verdict === 'FAIL');
    if (failing.length > 0) {
      throw new PreflightError(`the baseline is unhealthy before any traffic moved: ${failing.map((v) => v.reason).join('; ')}. Fix the baseline first or set checkBaselineHealth: false`);
    }
    const unknown = verdicts.filter((v) => v.verdict === 'INCONCLUSIVE');
    if (unknown.length) deps.log.warn('baseline health could not be judged for some metrics', { reasons: unknown.map((v) => v.reason) });
  }

  const previous = await deps.rollouts.get(rolloutId);
  if (previous && previous.executionArn !== input.execution?.id) {
    throw new PreflightError(`rollout id ${rolloutId} was already used by ${previous.executionArn ?? 'another execution'} (status ${previous.status}); start the execution under a new name`);
  }
  const now = deps.clock.now();
  const lock = await deps.locks.acquire(key, rolloutId, leaseSeconds(config, ttl), now);
  if (!lock.acquired) throw new LockHeldError(key, lock.holder, lock.expiresAt);
  try {
    await deps.rollouts.create({
      rolloutId, name: config.name, targetKey: key, executionArn: input.execution?.id, status: 'RUNNING',
      startedAt: input.execution?.startTime ?? iso(now), updatedAt: iso(now), stageIndex: 0, weight: 0, config,
      events: [{ type: 'STARTED', at: iso(now), stages: config.stages.map((s) => s.weight) }],
    });
  } catch (error) {
    await deps.locks.release(key, rolloutId);
    throw error;
  }
  deps.log.info('preflight passed', { stages: config.stages.map((s) => s.weight), ttl });
  return {
    rolloutId, executionArn: input.execution?.id, config, stageIndex: 0, weight: 0, phase: 'FORWARD',
    next: 'SHIFT', counters: zeroCounters(), wait: { until: iso(now) }, ttlSeconds: ttl,
  };
}

/**
 * The lock's lease: at least the configured one, and always longer than the longest wait between
 * two steps (a bake, a check interval), so a live rollout never loses its lock while waiting.
 */
export function leaseSeconds(config: RolloutConfig, ttlSeconds = 60): number {
  const longestWait = Math.max(...config.stages.map((s) => s.bakeSeconds + ttlSeconds), config.checkIntervalSeconds);
  return Math.max(config.lockLeaseSeconds, longestWait + 600);
}

/** Keeps the lock's lease alive; a lock taken over by another rollout ends ours (into rollback). */
async function renewLock(state: RolloutState, deps: Deps): Promise<void> {
  const key = targetKey(state.config.target);
  const lock = await deps.locks.acquire(key, state.rolloutId, leaseSeconds(state.config, state.ttlSeconds), deps.clock.now());
  if (!lock.acquired) throw new LockLostError(key, state.rolloutId);
}

export async function shiftTraffic(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await renewLock(state, deps);
  const stage = state.config.stages[state.stageIndex];
  if (!stage) throw new TrafficStateError(`no stage ${state.stageIndex} in the plan`);
  const now = deps.clock.now();
  if (stage.approval && !state.approvedStages?.includes(state.stageIndex)) {
    const deadline = state.approvalDeadline ?? iso(addSeconds(now, state.config.approvalTimeoutSeconds));
    if (!state.approvalDeadline) {
      await deps.rollouts.update(state.rolloutId, {
        pendingApproval: { stageIndex: state.stageIndex, weight: stage.weight, requestedAt: iso(now), deadline }, updatedAt: iso(now),
      }, [{ type: 'APPROVAL_REQUESTED', at: iso(now), stageIndex: state.stageIndex, weight: stage.weight, deadline }]);
      deps.log.info('waiting for approval', { stage: state.stageIndex, weight: stage.weight, deadline });
    }
    return { ...state, next: 'AWAIT_APPROVAL', approvalDeadline: deadline, wait: { until: iso(addSeconds(now, APPROVAL_POLL_SECONDS)) } };
  }
  const weights = { canary: stage.weight, baseline: 100 - stage.weight };
  const { changeId } = await deps.traffic.setWeights(state.config.target, weights);
  deps.log.info('weights set', { stage: state.stageIndex, weight: stage.weight, changeId });
  await deps.rollouts.update(state.rolloutId, { stageIndex: state.stageIndex, weight: stage.weight, updatedAt: iso(now) },
    [{ type: 'WEIGHTS_SET', at: iso(now), ...weights, changeId, stageIndex: state.stageIndex }]);
  return {
    ...state, weight: stage.weight, next: 'WAIT_SYNC', counters: zeroCounters(),
    change: { id: changeId, submittedAt: iso(now) }, wait: { until: iso(addSeconds(now, SYNC_POLL_SECONDS)) },
  };
}

/** Polls the weight change; once INSYNC, waits one TTL (clients' caches) and the bake time. */
export async function checkSync(state: RolloutState, deps: Deps): Promise<RolloutState> {
  if (!state.change) throw new TrafficStateError('no weight change to wait for');
  const now = deps.clock.now();
  if (!(await deps.traffic.isInSync(state.change.id))) {
    const waited = (now.getTime() - Date.parse(state.change.submittedAt)) / 1000;
    if (waited > SYNC_TIMEOUT_SECONDS) {
      throw new TrafficStateError(`Route 53 change ${state.change.id} not INSYNC after ${Math.round(waited)} s`);
    }
    return { ...state, next: 'WAIT_SYNC', wait: { until: iso(addSeconds(now, SYNC_POLL_SECONDS)) } };
  }
  const change = { ...state.change, inSyncAt: state.change.inSyncAt ?? iso(now) };
  await deps.rollouts.update(state.rolloutId, { updatedAt: iso(now) }, [{ type: 'IN_SYNC', at: iso(now), changeId: change.id, canary: state.phase === 'ROLLING_BACK' ? 0 : state.weight }]);
  if (state.phase === 'ROLLING_BACK') {
    return { ...state, change, next: 'CONCLUDE', outcome: 'ROLLED_BACK' };
  }
  if (state.weight === 100) {
    const decision: Decision = {
      outcome: 'PROMOTED', trigger: 'VERDICT', at: iso(now), stageIndex: state.stageIndex, weight: 100, failing: [],
      reasons: [`every stage passed its checks (${state.config.stages.map((s) => `${s.weight} %`).join(' → ')})`],
    };
    return { ...state, change, next: 'CONCLUDE', outcome: 'PROMOTED', decision };
  }
  const analysisStart = addSeconds(now, state.ttlSeconds);
  const firstCheck = state.config.checkDuringBake
    ? earliestCheckAt(state.config, analysisStart)
    : firstCheckAt(state.config, state.stageIndex, analysisStart);
  return {
    ...state, change, next: 'BAKE', analysisStart: iso(analysisStart), counters: zeroCounters(),
    wait: { until: iso(firstCheck) },
  };
}

/**
 * When a stage's first check runs: once the bake's periods are complete and published. The
 * window starts at the first whole period after clients switched (INSYNC + one TTL), the bake
 * is at least one period, and CloudWatch needs a minute more to aggregate.
 */
export function firstCheckAt(config: RolloutConfig, stageIndex: number, analysisStart: Date): Date {
  const periodMs = config.analysisPeriodSeconds * 1000;
  const firstPeriod = new Date(Math.ceil(analysisStart.getTime() / periodMs) * periodMs);
  const bake = Math.max(config.stages[stageIndex]!.bakeSeconds, config.analysisPeriodSeconds);
  return addSeconds(firstPeriod, bake + CLOUDWATCH_DELAY_SECONDS);
}

/** The first moment one whole period of the stage is complete and published. */
export function earliestCheckAt(config: RolloutConfig, analysisStart: Date): Date {
  const periodMs = config.analysisPeriodSeconds * 1000;
  const firstPeriod = new Date(Math.ceil(analysisStart.getTime() / periodMs) * periodMs);
  return addSeconds(firstPeriod, config.analysisPeriodSeconds + CLOUDWATCH_DELAY_SECONDS);
}

/** The analysis window of a check: from the stage's start to the last complete period. */
export function analysisWindow(state: RolloutState, now: Date): { start: Date; end: Date; periodSeconds: number } {
  const period = state.config.analysisPeriodSeconds;
  const periodMs = period * 1000;
  const start = new Date(Math.ceil(Date.parse(state.analysisStart ?? iso(now)) / periodMs) * periodMs);
  // A period is complete once it has ended; CloudWatch needs up to a minute more to aggregate.
  const end = new Date(Math.floor((now.getTime() - CLOUDWATCH_DELAY_SECONDS * 1000) / periodMs) * periodMs);
  return { start, end: end < start ? start : end, periodSeconds: period };
}

export async function analyze(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await renewLock(state, deps);
  const now = deps.clock.now();
  const stage = state.config.stages[state.stageIndex]!;
  deps.log.appendKeys?.({ stage: state.stageIndex, weight: state.weight });

  const record = await deps.rollouts.get(state.rolloutId);
  if (record?.abortRequested) {
    const decision: Decision = {
      outcome: 'ROLLED_BACK', trigger: 'ABORTED', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [],
      reasons: [`aborted: ${record.abortRequested.reason}`],
    };
    return { ...state, next: 'ROLLBACK', decision };
  }

  const range = analysisWindow(state, now);
  const window = await deps.metrics.fetchWindow(state.config.metrics, range);
  const judgement = deps.judge.judge(state.config.metrics, window);
  const bakeEnd = firstCheckAt(state.config, state.stageIndex, new Date(state.analysisStart ?? iso(now)));
  const duringBake = now < bakeEnd;
  let outcome = decideAfterCheck(judgement, state.counters, {
    checksRequired: stage.checks, failureLimit: state.config.failureLimit, inconclusiveLimit: state.config.inconclusiveLimit,
    maxExtensionSeconds: state.config.maxBakeExtensionSeconds, extendedSeconds: Math.max(0, (now.getTime() - bakeEnd.getTime()) / 1000),
  });
  // During the bake only a failure counts: a pass or too little data just waits for more.
  if (duringBake && judgement.verdict !== 'FAIL') outcome = { action: 'CHECK_AGAIN', counters: state.counters, reasons: [] };
  const event: RolloutEvent = {
    type: 'CHECK', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, verdict: judgement.verdict,
    ...(duringBake ? { duringBake: true } : {}),
    window: { start: iso(range.start), end: iso(range.end) },
    metrics: judgement.metrics.map(({ name, verdict, reason, canaryValue, baselineValue }) => ({ name, verdict, reason, canaryValue, baselineValue })),
  };
  // The raw datapoints and the judgement go to the evidence store before the check is recorded
  // and before any decision; a retry of this step numbers the check the same and overwrites it.
  const checkNo = (record?.events.filter((e) => e.type === 'CHECK').length ?? 0) + 1;
  const stored = await storeEvidence(deps, `check #${checkNo}`, (evidence) => evidence.putCheck(state.rolloutId, checkNo, {
    at: iso(now), stageIndex: state.stageIndex, weight: state.weight,
    range: { start: iso(range.start), end: iso(range.end) }, window, judgement,
  }));
  await deps.rollouts.update(state.rolloutId, { updatedAt: iso(now) }, stored ? [event] : [event, evidenceNote(now, `check #${checkNo}`)]);
  deps.decisionMetrics?.record(`Check${judgement.verdict[0]}${judgement.verdict.slice(1).toLowerCase()}`, 1);
  deps.log.info('check judged', { verdict: judgement.verdict, action: outcome.action, counters: outcome.counters, reasons: judgement.metrics.map((m) => m.reason) });

  switch (outcome.action) {
    case 'ROLLBACK': {
      const decision: Decision = {
        outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: iso(now), stageIndex: state.stageIndex, weight: state.weight,
        reasons: outcome.reasons, failing: judgement.metrics.filter((m) => m.verdict !== 'PASS'),
      };
      return { ...state, counters: outcome.counters, next: 'ROLLBACK', decision };
    }
    case 'ADVANCE':
      return { ...state, counters: outcome.counters, stageIndex: state.stageIndex + 1, next: 'SHIFT' };
    case 'CHECK_AGAIN': {
      const next = addSeconds(now, state.config.checkIntervalSeconds);
      return {
        ...state, counters: outcome.counters, next: 'ANALYZE',
        // Checks during the bake land on its end, where the stage's counted checks begin.
        wait: { until: iso(duringBake && next > bakeEnd ? bakeEnd : next) },
      };
    }
  }
}

/** Polls a manual gate: approved → set the stage's weight; rejected, aborted or timed out → roll back. */
export async function checkApproval(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await renewLock(state, deps);
  const now = deps.clock.now();
  const record = await deps.rollouts.get(state.rolloutId);
  const base = { outcome: 'ROLLED_BACK' as const, at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [] };
  if (record?.abortRequested) {
    return { ...state, next: 'ROLLBACK', decision: { ...base, trigger: 'ABORTED', reasons: [`aborted: ${record.abortRequested.reason}`] } };
  }
  const stage = state.config.stages[state.stageIndex]!;
  const answer = record?.approval?.stageIndex === state.stageIndex ? record.approval : undefined;
  if (answer?.approved) {
    await deps.rollouts.update(state.rolloutId, { pendingApproval: undefined, updatedAt: iso(now) });
    const { approvalDeadline: _done, ...rest } = state;
    return { ...rest, next: 'SHIFT', approvedStages: [...(state.approvedStages ?? []), state.stageIndex] };
  }
  if (answer) {
    return {
      ...state, next: 'ROLLBACK',
      decision: { ...base, trigger: 'REJECTED', reasons: [`${answer.by} rejected stage ${state.stageIndex + 1} (${stage.weight} %)${answer.reason ? `: ${answer.reason}` : ''}`] },
    };
  }
  if (state.approvalDeadline && now.getTime() >= Date.parse(state.approvalDeadline)) {
    return {
      ...state, next: 'ROLLBACK',
      decision: { ...base, trigger: 'APPROVAL_TIMEOUT', reasons: [`no approval for stage ${state.stageIndex + 1} (${stage.weight} %) within ${state.config.approvalTimeoutSeconds} s`] },
    };
  }
  return { ...state, next: 'AWAIT_APPROVAL', wait: { until: iso(addSeconds(now, APPROVAL_POLL_SECONDS)) } };
}

/**
 * Reverses the whole shift: baseline 100, canary 0 in one change batch. The decision is stored
 * before traffic is touched, so the evidence survives whatever happens next.
 */
export async function rollback(state: RolloutState, deps: Deps): Promise<RolloutState> {
  const now = deps.clock.now();
  const decision: Decision = state.decision ?? {
    outcome: 'ROLLED_BACK', trigger: 'ERROR', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [],
    reasons: [`the workflow failed and rolled back to be safe: ${state.error?.Error ?? 'unknown error'}: ${(state.error?.Cause ?? '').slice(0, 500)}`],
  };
  await deps.rollouts.update(state.rolloutId, { status: 'ROLLING_BACK', decision, updatedAt: iso(now) },
    state.phase === 'ROLLING_BACK' ? [] : [{ type: 'DECISION', at: iso(now), decision }]);
  await snapshotRecord(state.rolloutId, deps, 'before the rollback');
  const { changeId } = await deps.traffic.setWeights(state.config.target, { canary: 0, baseline: 100 });
  deps.log.warn('rolling back', { stage: state.stageIndex, weight: state.weight, changeId, reasons: decision.reasons });
  await deps.rollouts.update(state.rolloutId, { weight: 0, updatedAt: iso(now) },
    [{ type: 'WEIGHTS_SET', at: iso(now), canary: 0, baseline: 100, changeId, stageIndex: state.stageIndex }]);
  const { error: _handled, ...rest } = state;
  return {
    ...rest, phase: 'ROLLING_BACK', next: 'WAIT_SYNC', decision, outcome: 'ROLLED_BACK',
    change: { id: changeId, submittedAt: iso(now) }, wait: { until: iso(addSeconds(now, SYNC_POLL_SECONDS)) },
  };
}

/** Records the outcome, opens the incident of a rollback (once), and releases the lock. */
export async function conclude(state: RolloutState, deps: Deps): Promise<RolloutState> {
  const now = deps.clock.now();
  const outcome = state.phase === 'ROLLING_BACK' ? 'ROLLED_BACK' : 'PROMOTED';
  const decision = state.decision ?? {
    outcome, at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [], reasons: [],
  };
  // A person who aborted or rejected the rollout knows why: incidents are for what we detected.
  if (outcome === 'ROLLED_BACK' && decision.trigger !== 'ABORTED' && decision.trigger !== 'REJECTED') {
    await openIncidentOnce(deps, { rolloutId: state.rolloutId, config: state.config, decision, executionArn: state.executionArn });
  }
  const patch: Partial<RolloutRecord> = { status: outcome, decision, updatedAt: iso(now), weight: outcome === 'PROMOTED' ? 100 : 0 };
  await deps.rollouts.update(state.rolloutId, patch, outcome === 'PROMOTED' ? [{ type: 'DECISION', at: iso(now), decision }] : []);
  await snapshotRecord(state.rolloutId, deps, 'at the end');
  await deps.locks.release(targetKey(state.config.target), state.rolloutId);
  deps.decisionMetrics?.record(outcome === 'PROMOTED' ? 'RolloutPromoted' : 'RolloutRolledBack', 1);
  deps.log.info('rollout concluded', { outcome, reasons: decision.reasons });
  return { ...state, next: 'CONCLUDE', outcome, decision, summary: decision.reasons.join('; ').slice(0, 32_000) };
}

/**
 * Each step by the name of the function the state machine calls it through (its
 * `DefinitionSubstitutions` key), for running the ASL locally with the same steps.
 */
export const STEPS_BY_FUNCTION = {
  PreflightFunctionArn: preflight,
  ShiftTrafficFunctionArn: shiftTraffic,
  CheckApprovalFunctionArn: checkApproval,
  CheckSyncFunctionArn: checkSync,
  AnalyzeFunctionArn: analyze,
  RollbackFunctionArn: rollback,
  ConcludeFunctionArn: conclude,
  VerifyRecoveryFunctionArn: verifyRecovery,
} as const;
