/**
 * The rollout's steps, one per Task state of the workflow (statemachines/rollout.asl.json runs
 * Preflight, then the rollout in segments: statemachines/rollout-segment.asl.json). Each takes the
 * state the workflow carries and the ports, and returns the next state; `next` is what the
 * workflow's Choice states branch on, `wait.until` what its Wait states wait for. Every step is
 * safe to run twice with the same input.
 *
 * What keeps traffic safe whatever happens:
 * - Fencing: every forward step first proves, in one conditional write that renews the lease, that
 *   the record is RUNNING, carries this execution's token, and that the target's lock is this
 *   rollout's with that token (RolloutStore.fence). A redriven or stale execution is fenced out and
 *   moves nothing; so is one whose rollout the safety net or the reconciler took over.
 * - Forward shifts are compare-and-set on the router (the weights must still be the ones we set),
 *   after reading the target back: a person's change, a deleted record or a raised TTL is noticed
 *   before anything moves and at every check (drift).
 * - A rollback restores traffic first and writes the record, the evidence and the incident after;
 *   none of those writes can keep traffic from going back to the baseline.
 * - Waits are capped (MAX_WAIT_SECONDS) and every step renews the lease, so the lease always
 *   covers the longest wait the workflow makes.
 * - Bounded state: the record's head and the carried state stay small however long the rollout
 *   runs; each segment (child execution) ends after SEGMENT_MAX_STEPS steps and hands over.
 */
import { canaryLabel, parseRolloutConfig, routerKindOf, targetKey, type RolloutConfig } from './config.ts';
import { ConfigValidationError, LockHeldError, PreflightError, ThrottledError, TrafficStateError } from './errors.ts';
import { judgeBaselineAlone } from './baseline-health.ts';
import { openIncidentOnce } from './open-incident.ts';
import { verifyRecovery } from './recovery.ts';
import type { Judgement, MetricVerdict, MetricWindow, Verdict } from './judge.ts';
import type { Deps } from './ports.ts';
import { PERSON_TRIGGERS, isActive, type CheckEvent, type Decision, type DecisionTrigger, type RolloutEvent, type RolloutRecord } from './rollout-record.ts';
import { HALT_MAX_SECONDS, HALT_POLL_SECONDS, PAUSE_MAX_SECONDS, haltIncident } from './controls.ts';
import type { RouterDefinition, RouterReading } from './router.ts';
import { analyzeCheck, emptyWindow, periodsToFetch, startStageAnalysis, type StageAnalysisState } from './stage-analysis.ts';
import { evidenceNote, snapshotRecord, storeEvidence } from './evidence.ts';
import {
  EMPTY_TALLY, REFERENCE_PERIODS, countsOf, isInformational, judgeTally, judgeWindow, settleAllowanceOf, tallySettled, trafficCountMetrics, trafficGate,
  type TrafficCheckState, type TrafficJudgement,
} from './traffic-checks.ts';
import {
  beforeShiftGates, routeHooks, routeVerification, runChecks, runGate, runHooks, verificationPermissionIssues,
  type ActionHook, type GateResult, type HookResult, type MomentInput, type VerificationCheck,
} from './verification.ts';

export type Next = 'SHIFT' | 'RETRY_SHIFT' | 'AWAIT_APPROVAL' | 'WAIT_SYNC' | 'ANALYZE' | 'ROLLBACK' | 'CONCLUDE' | 'WAIT_RECOVERY' | 'DONE'
  /** onFailure: halt: a failure freezes the weights (the Halt state records it and opens the incident)... */
  | 'HALT'
  /** ...then the rollout waits for a person (abort, promote --full, resume), polling the record. */
  | 'HALTED';

/** Where the current segment (child execution) stands; the parent starts each with iterations 0. */
export interface SegmentProgress {
  /** Segment number, from 1 (the parent's NextSegment state counts them). */
  no: number;
  /** Steps run in this segment. */
  iterations: number;
  /** When this segment's first step ran. */
  startedAt?: string;
  /** Set once the segment should end and the parent start the next one. */
  handOver: boolean;
}

export interface RolloutState {
  rolloutId: string;
  executionArn?: string;
  /** The fencing token this execution moves traffic with (see RolloutStore.fence). */
  token: string;
  config: RolloutConfig;
  /** The traffic target as preflight read it: what a rollback restores. */
  routerDefinition: RouterDefinition;
  stageIndex: number;
  /** Canary weight (percent) set or being set. */
  weight: number;
  phase: 'FORWARD' | 'ROLLING_BACK';
  next: Next;
  change?: { id: string; submittedAt: string; inSyncAt?: string; polls?: number };
  /** Start of the current stage's analysis window (in sync + the router's settle time). */
  analysisStart?: string;
  /** When the next check of the stage is due (waits are capped, so a step may wake before it). */
  nextCheckAt?: string;
  /** The sequential analysis of the live weight (its stage, or a hold while a gate waits). */
  analysis?: StageAnalysisState;
  wait: { until: string };
  /** Stages whose manual gate a person approved. */
  approvedStages?: number[];
  /** When the pending manual gate gives up and rolls back. */
  approvalDeadline?: string;
  /** Seconds clients may keep the previous split after a change is in sync (Route 53: the TTL). */
  settleSeconds: number;
  /** When the target was last read back for drift, and how long until the next read (longer after a throttled one). */
  drift?: { lastReadAt?: string; backoffSeconds?: number };
  /** Throttled attempts of the current shift (it waits, backing off, and tries again). */
  shiftAttempts?: number;
  decision?: Decision;
  outcome?: 'PROMOTED' | 'ROLLED_BACK' | 'SUPERSEDED';
  /** The decision in one line (the execution's failure cause on a rollback). */
  summary?: string;
  /** Set by the workflow's Catch when a step failed unexpectedly. */
  error?: { Error: string; Cause: string };
  segment: SegmentProgress;
  /** Prefix of the segment executions' names (execution names are at most 80 characters). */
  segmentPrefix: string;
  /** The traffic-share and throughput checks' tally, references and wait (traffic-checks.ts). */
  traffic?: TrafficCheckState & { changeId: string };
  /** A beforeShift gate that stayed shut: the shift asks it again until approvalTimeoutSeconds from `since`. */
  gateWait?: { stageIndex: number; since: string; reasons: string[] };
  /** `canary promote --full`: who asked and why; the rollout goes to 100 % without the remaining stages' analysis and gates. */
  promotion?: { by: string; reason?: string; at: string; fromStage: number; fromWeight: number };
  /** A pause the workflow is honouring (`canary pause`): the weight is held, checks go on, a failure still acts. */
  pause?: { since: string; by: string };
  /** Seconds this stage's clock stood still for pauses (its bake and extension do not count them). */
  pausedSeconds?: number;
  /**
   * onFailure: halt. `resume` is where `canary resume` goes on (the stage's analysis again, or the
   * shift with its gates asked again); `since`, `deadline` and `decision` are set once halted.
   */
  halt?: { resume: 'ANALYZE' | 'SHIFT'; count: number; since?: string; deadline?: string; decision?: Decision };
  /** Halts so far (each resume spends a halved share of the false-rollback level), and the halt incident's state. */
  haltCount?: number;
  haltIncident?: 'OPEN' | 'RESOLVED';
  /**
   * checkBaselineHealth: compare started on an unhealthy baseline: these metrics are judged against
   * the baseline only until it is healthy again (`healthyAt`; the thresholds return at the next stage).
   */
  hotfix?: { since: string; metrics: string[]; reasons: string[]; healthyAt?: string; nextCheckAt?: string };
}

export interface PreflightInput {
  config: unknown;
  execution?: { id?: string; name?: string; startTime?: string };
  /** Throttled tries so far (the workflow waits and calls preflight again). */
  attempts?: number;
}

/** What preflight returns when Route 53 or CloudWatch throttled it: the workflow waits and tries again. */
export interface PreflightRetry extends PreflightInput {
  next: 'RETRY_PREFLIGHT';
  wait: { until: string };
}

/** How long preflight keeps trying while throttled; nothing has moved, so it then refuses. */
export const PREFLIGHT_THROTTLED_MAX_SECONDS = 2 * 3600;

export {
  CLOUDWATCH_DELAY_SECONDS, APPROVAL_POLL_SECONDS, SYNC_POLL_SECONDS, SYNC_POLL_MAX_SECONDS, SYNC_TIMEOUT_SECONDS, MAX_WAIT_SECONDS, LEASE_MARGIN_SECONDS, SEGMENT_MAX_STEPS, SEGMENT_MAX_SECONDS, DRIFT_BACKOFF_MAX_SECONDS, SHIFT_BACKOFF_SECONDS, SHIFT_BACKOFF_MAX_SECONDS,
} from './timing.ts';
import {
  CLOUDWATCH_DELAY_SECONDS, APPROVAL_POLL_SECONDS, SYNC_POLL_SECONDS, SYNC_POLL_MAX_SECONDS, SYNC_TIMEOUT_SECONDS, MAX_WAIT_SECONDS, LEASE_MARGIN_SECONDS, SEGMENT_MAX_STEPS, SEGMENT_MAX_SECONDS, DRIFT_BACKOFF_MAX_SECONDS, SHIFT_BACKOFF_SECONDS, SHIFT_BACKOFF_MAX_SECONDS,
} from './timing.ts';

/**
 * Verification checks, gates and hooks run inside a step's Lambda (60 s, template.yaml): they
 * get this long from the step's start at most (`notAfter`), leaving the rest for the metrics,
 * the evidence and the record.
 */
export const STEP_VERIFICATION_BUDGET_SECONDS = 40;
/** How often a shut beforeShift gate is asked again. */
export const GATE_RETRY_SECONDS = 60;

const iso = (d: Date) => d.toISOString();
const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);

/** The lease of the traffic target's lock: longer than any wait between two steps. */
export function leaseSeconds(config: RolloutConfig): number {
  return Math.max(config.lockLeaseSeconds, MAX_WAIT_SECONDS + LEASE_MARGIN_SECONDS);
}

/** A wait that ends at `due`, but no later than MAX_WAIT_SECONDS from now. */
function cappedWait(now: Date, due: Date): { until: string } {
  return { until: iso(new Date(Math.min(due.getTime(), now.getTime() + MAX_WAIT_SECONDS * 1000))) };
}

/**
 * A deterministic jitter in [0.5, 1) from the rollout id and a counter: rollouts started together
 * stop polling in lock step, and a simulation stays reproducible.
 */
export function jitter(rolloutId: string, n: number): number {
  let h = 2166136261 ^ n;
  for (let i = 0; i < rolloutId.length; i++) h = Math.imul(h ^ rolloutId.charCodeAt(i), 16777619);
  return 0.5 + ((h >>> 0) % 1000) / 2000;
}

function rolloutIdOf(input: PreflightInput, deps: Deps): string {
  const name = input.execution?.name;
  if (name && /^[A-Za-z0-9_-]{1,80}$/.test(name)) return name;
  if (input.execution?.id) return input.execution.id.split(':').at(-1)!.slice(0, 80);
  return `local-${deps.clock.now().getTime()}`;
}

/** Segment execution names: `<prefix>-<n>-r<redrives>`, at most 80 characters, distinct per rollout id. */
export function segmentPrefixOf(rolloutId: string): string {
  if (rolloutId.length <= 68) return rolloutId;
  let h = 2166136261;
  for (let i = 0; i < rolloutId.length; i++) h = Math.imul(h ^ rolloutId.charCodeAt(i), 16777619);
  return `${rolloutId.slice(0, 59)}-${(h >>> 0).toString(36).padStart(7, '0').slice(0, 8)}`;
}

/** Judges the baseline alone against the absolute thresholds, over the last bake period. */
async function checkBaselineHealth(config: RolloutConfig, deps: Deps): Promise<MetricVerdict[]> {
  const now = deps.clock.now();
  const period = config.analysisPeriodSeconds;
  const end = new Date(Math.floor(now.getTime() / 1000 / period) * period * 1000 - period * 1000);
  const start = addSeconds(end, -Math.max(Math.min(config.bakeSeconds, 3600), 5 * period));
  const window = await deps.metrics.fetchWindow(config.metrics, { start, end, periodSeconds: period });
  return judgeBaselineAlone(config.metrics, window, deps.judge).metrics;
}

/**
 * Validates the config, reads the traffic target and the baseline's health, and takes the lock.
 * Nothing moves if it fails. An account busy enough to throttle it only delays it: it returns
 * RETRY_PREFLIGHT and the workflow calls it again after a wait (backing off, with jitter).
 */
export async function preflight(input: PreflightInput, deps: Deps): Promise<RolloutState | PreflightRetry> {
  try {
    return await preflightOnce(input, deps);
  } catch (error) {
    if (!(error instanceof ThrottledError)) throw error;
    const now = deps.clock.now();
    const attempts = (input.attempts ?? 0) + 1;
    const started = Date.parse(input.execution?.startTime ?? '') || now.getTime();
    if (now.getTime() - started > PREFLIGHT_THROTTLED_MAX_SECONDS * 1000) {
      throw new PreflightError(`AWS throttled the preflight for more than ${PREFLIGHT_THROTTLED_MAX_SECONDS / 3600} h (${error.message}); nothing moved: start the rollout again when the account is quieter`);
    }
    const backoff = Math.min(300, 5 * 2 ** Math.min(attempts, 6)) * jitter(input.execution?.name ?? 'preflight', attempts) * 2;
    deps.log.warn('preflight throttled; trying again later', { attempts, backoffSeconds: Math.round(backoff) });
    return { config: input.config, execution: input.execution, attempts, next: 'RETRY_PREFLIGHT', wait: { until: iso(addSeconds(now, backoff)) } };
  }
}

async function preflightOnce(input: PreflightInput, deps: Deps): Promise<RolloutState> {
  const config = parseRolloutConfig(input?.config, {
    allowedHostedZoneIds: deps.allowedHostedZoneIds, allowedRecordNames: deps.allowedRecordNames, routerAllowances: deps.routerAllowances,
  });
  // Functions, secrets, alarms and runbooks the stack may not use would fail with AccessDenied mid-rollout: refused here.
  const notAllowed = deps.verificationAllowList ? verificationPermissionIssues(config, deps.verificationAllowList) : [];
  if (notAllowed.length > 0) throw new ConfigValidationError(notAllowed);
  const stepStart = deps.clock.now();
  const rolloutId = rolloutIdOf(input, deps);
  const key = targetKey(config.target);
  deps.log.appendKeys?.({ rolloutId, target: key });
  // The execution's own token: its id and start (a redrive keeps both, a new execution has another).
  const token = `${input.execution?.id ?? rolloutId}@${input.execution?.startTime ?? ''}`;

  const previous = await deps.rollouts.get(rolloutId);
  if (previous && previous.token !== token) {
    throw new PreflightError(`rollout id ${rolloutId} was already used by ${previous.executionArn ?? 'another execution'} (status ${previous.status}); start the execution under a new name`);
  }
  if (previous && !isActive(previous.status)) {
    throw new PreflightError(`rollout ${rolloutId} already ended ${previous.status}: a redriven preflight does not start it again; start a new execution`);
  }

  const reading = await deps.traffic.read(config.target);
  if (reading.problems.length > 0) throw new PreflightError(reading.problems.join('; '));
  if (reading.canaryPercent !== 0 && !previous) {
    throw new PreflightError(`${canaryLabel(config.target)} takes ${formatPercent(reading.canaryPercent)} of the traffic, expected 0: a rollout starts from 100 % baseline. Another rollout may be running or have been left unfinished; check \`canary list\``);
  }
  // The hotfix path (checkBaselineHealth: compare) of a redriven preflight is the one its record kept.
  let hotfix: RolloutState['hotfix'] = previous?.hotfix ? { since: previous.hotfix.at, metrics: previous.hotfix.metrics, reasons: previous.hotfix.reasons } : undefined;
  if (config.checkBaselineHealth && !previous) {
    // A dry-run metric is judged and never refuses a preflight.
    const dryRun = new Set(config.metrics.filter((m) => m.dryRun).map((m) => m.name));
    const verdicts = await checkBaselineHealth(config, deps);
    const failing = verdicts.filter((v) => v.verdict === 'FAIL' && !dryRun.has(v.name));
    if (failing.length > 0 && config.checkBaselineHealth !== 'compare') {
      throw new PreflightError(`the baseline is unhealthy before any traffic moved: ${failing.map((v) => v.reason).join('; ')}. Fix the baseline first, set checkBaselineHealth: false, or, for the fix of this very incident, checkBaselineHealth: compare (judges the canary against the baseline only until the baseline is healthy)`);
    }
    if (failing.length > 0) {
      hotfix = { since: iso(deps.clock.now()), metrics: failing.map((v) => v.name), reasons: failing.map((v) => v.reason.slice(0, 500)) };
      deps.log.warn('the baseline is unhealthy: starting anyway (checkBaselineHealth: compare), judging against the baseline only', { metrics: hotfix.metrics, reasons: hotfix.reasons });
    }
    const unknown = verdicts.filter((v) => v.verdict === 'INCONCLUSIVE' || (v.verdict === 'FAIL' && dryRun.has(v.name)));
    if (unknown.length) deps.log.warn('baseline health could not be judged for some metrics (or only a dry-run metric failed)', { reasons: unknown.map((v) => v.reason) });
  }
  // The preRollout gate (e.g. the CDC pipeline runs): nothing starts unless every check passes. A
  // redriven preflight of a rollout already begun passed it then.
  let gate: GateResult | null = null;
  if (config.hooks.preRollout.length > 0 && !previous) {
    gate = await runGate(verificationPort(deps), config.hooks.preRollout, momentInput(config, rolloutId, 'preRollout', 0, 0), deps.clock,
      addSeconds(stepStart, STEP_VERIFICATION_BUDGET_SECONDS));
    if (!gate.open) {
      throw new PreflightError(`the preRollout gate is shut, so nothing moved: ${gate.reasons.join('; ')}. Start again once it passes`);
    }
  }

  const now = deps.clock.now();
  const record: RolloutRecord = {
    rolloutId, name: config.name, targetKey: key, executionArn: input.execution?.id, status: 'RUNNING', token,
    startedAt: input.execution?.startTime ?? iso(now), updatedAt: iso(now), stageIndex: 0, weight: 0, config,
    routerDefinition: reading.definition, checkCount: 0,
    ...(hotfix ? { hotfix: { at: hotfix.since, metrics: hotfix.metrics, reasons: hotfix.reasons } } : {}),
    ...(config.retryOf ? { retryOf: config.retryOf } : {}),
  };
  const started: RolloutEvent[] = [{ type: 'STARTED', at: iso(now), stages: config.stages.map((s) => s.weight) }];
  if (config.retryOf) started.push({ type: 'NOTE', at: iso(now), message: `a retry of rollout ${config.retryOf} (canary retry), with the config its record kept` });
  if (hotfix) started.push({ type: 'NOTE', at: iso(now), message: hotfixStartNote(config, hotfix) });
  if (gate) started.push(gateEvent(now, 'preRollout', 0, 0, gate));
  const begun = await deps.rollouts.begin(record, started, { key, leaseSeconds: leaseSeconds(config), now });
  if (!begun.started) throw new LockHeldError(key, begun.holder, begun.expiresAt);
  deps.log.info('preflight passed', { stages: config.stages.map((s) => s.weight), settleSeconds: reading.settleSeconds });
  return {
    rolloutId, executionArn: input.execution?.id, token, config, routerDefinition: reading.definition,
    stageIndex: 0, weight: 0, phase: 'FORWARD', next: 'SHIFT',
    wait: { until: iso(now) }, settleSeconds: reading.settleSeconds,
    segment: { no: 0, iterations: 0, handOver: false }, segmentPrefix: segmentPrefixOf(rolloutId),
    ...(hotfix ? { hotfix } : {}),
  };
}

/** How a metric the baseline breaks is judged in hotfix mode: against the baseline only, no worse than it within its margin (0 % when it has none). */
function relativeOnly(metric: RolloutConfig['metrics'][number]): RolloutConfig['metrics'][number] {
  return { ...metric, threshold: {}, baseline: metric.baseline ?? { maxIncreasePercent: 0 } };
}

/** The margin a hotfix-mode metric is held to, in words. */
function marginText(metric: RolloutConfig['metrics'][number]): string {
  const b = metric.baseline;
  if (!b) return 'no worse than the baseline';
  return `at most ${b.maxIncreasePercent} % above the baseline${b.minIncrease ? ` (or ${b.minIncrease} ${metric.unit === 'percent' ? 'points' : metric.unit} above it)` : ''}`;
}

/** What hotfix mode judges, one line: the plan, the record and every decision's reasons say it. */
export function hotfixText(config: RolloutConfig, metrics: string[]): string {
  const judged = config.metrics.filter((m) => metrics.includes(m.name)).map((m) => `${m.name} ${marginText(m)}`);
  return `checkBaselineHealth: compare (hotfix): the baseline already broke ${metrics.join(', ')} when the rollout started, so ${metrics.length === 1 ? 'that metric is' : 'those metrics are'} judged against the baseline only (${judged.join('; ')}), not against ${metrics.length === 1 ? 'its threshold' : 'their thresholds'}, until the baseline is healthy again`;
}

function hotfixStartNote(config: RolloutConfig, hotfix: NonNullable<RolloutState['hotfix']>): string {
  return `${hotfixText(config, hotfix.metrics)}. The baseline at preflight: ${hotfix.reasons.join('; ')}`;
}

/**
 * The config the judge works from: in hotfix mode the metrics the baseline broke lose their
 * thresholds and keep (or get) the baseline comparison. It changes only when a stage's analysis
 * starts, so a stage is judged one way from its start to its end.
 */
export function judgedConfig(state: Pick<RolloutState, 'config' | 'hotfix'>): RolloutConfig {
  const relative = state.hotfix?.metrics ?? [];
  if (relative.length === 0) return state.config;
  return { ...state.config, metrics: state.config.metrics.map((m) => (relative.includes(m.name) ? relativeOnly(m) : m)) };
}

/** The stage's analysis starts: in hotfix mode the thresholds come back once the baseline was found healthy. */
function startAnalysis(state: RolloutState, stageIndex: number, at: Date, options?: Parameters<typeof startStageAnalysis>[3]): { analysis: StageAnalysisState; hotfix?: RolloutState['hotfix'] } {
  const hotfix = state.hotfix?.healthyAt && state.hotfix.metrics.length > 0 ? { ...state.hotfix, metrics: [] } : state.hotfix;
  return { analysis: startStageAnalysis(judgedConfig({ config: state.config, hotfix }), stageIndex, at, options), ...(hotfix ? { hotfix } : {}) };
}

const formatPercent = (p: number | null) => (p === null ? 'an unknown share' : `${Number(p.toFixed(2))} %`);

/** The verification port, or one that answers every check "not wired" (INCONCLUSIVE, never a pass). */
function verificationPort(deps: Deps) {
  return deps.verification ?? routeVerification({}, deps.clock);
}

/** The hook port, or one that reports every hook FAILED "not wired" (a rollback never fails because of it). */
function hookPort(deps: Deps) {
  return deps.hooks ?? routeHooks({}, deps.clock);
}

/** What every request of a moment carries. */
function momentInput(config: RolloutConfig, rolloutId: string, moment: MomentInput['moment'], stageIndex: number, weight: number, extra: Partial<MomentInput> = {}): MomentInput {
  return { moment, rolloutId, service: config.name, stageIndex, stageCount: config.stages.length, weight, target: config.target, ...extra };
}

function gateEvent(now: Date, moment: 'preRollout' | 'beforeShift', stageIndex: number, weight: number, gate: GateResult): RolloutEvent {
  return { type: 'GATE', at: iso(now), moment, stageIndex, weight, open: gate.open, checks: gate.verdicts.map(({ name, verdict, reason }) => ({ name, verdict, reason })) };
}

/** A hook's result as the record's head keeps it (outputs cut: the HOOKS event has them whole). */
function hookSummary(r: HookResult): HookResult {
  return r.output && r.output.length > 500 ? { ...r, output: `${r.output.slice(0, 499)}…` } : r;
}

/**
 * Starts a moment's action hooks and records them (event and head). Never throws and never
 * fails its step: hooks are started, their ids and outputs kept for the evidence and the incident.
 */
async function startHooks(state: RolloutState, deps: Deps, moment: 'afterPromotion' | 'afterRollback', hooks: ActionHook[], decision: Decision, notAfter: Date): Promise<HookResult[]> {
  if (hooks.length === 0) return [];
  const input = momentInput(state.config, state.rolloutId, moment, state.stageIndex, state.weight, {
    decision: { outcome: decision.outcome, ...(decision.trigger ? { trigger: decision.trigger } : {}), reasons: decision.reasons },
  });
  let results: HookResult[];
  try {
    results = await runHooks(hookPort(deps), hooks, input, deps.clock, notAfter);
  } catch (error) {
    // runHooks never throws; this keeps the promise if a port breaks it.
    results = hooks.map((h) => ({ hook: h.name, type: h.type, moment, id: null, status: 'FAILED' as const, reason: `the hook runner failed: ${String(error)}`, at: iso(deps.clock.now()) }));
  }
  const failed = results.filter((r) => r.status === 'FAILED');
  if (failed.length) deps.log.error(`${moment} hooks failed to start`, { failed: failed.map((r) => `${r.hook}: ${r.reason}`) });
  deps.log.info(`${moment} hooks started`, { hooks: results.map((r) => `${r.hook}: ${r.status}${r.id ? ` ${r.id}` : ''}`) });
  return results;
}


/** Proves this execution still owns the rollout and renews the lease (FencedOut otherwise). */
async function fence(state: RolloutState, deps: Deps): Promise<void> {
  await deps.rollouts.fence(state.rolloutId, {
    lockKey: targetKey(state.config.target), token: state.token, leaseSeconds: leaseSeconds(state.config), now: deps.clock.now(),
  });
}

/**
 * What a read-back of the target says about the forward path: nothing (as we left it), a person's
 * rollback (the canary at 0: respected, recorded, no incident), or drift (anything else: weights
 * we did not set, a record gone, a TTL raised), which rolls back with an incident saying what changed.
 */
export function driftDecision(state: RolloutState, reading: RouterReading, now: Date): { decision: Decision; event: RolloutEvent } | null {
  const expected = state.weight;
  const found = reading.canaryPercent;
  if (reading.problems.length === 0 && found === expected) return null;
  const event: RolloutEvent = { type: 'DRIFT', at: iso(now), expectedCanary: expected, foundCanary: found, problems: reading.problems };
  const base = { outcome: 'ROLLED_BACK' as const, at: iso(now), stageIndex: state.stageIndex, weight: expected, failing: [] };
  if (reading.problems.length === 0 && found === 0) {
    return {
      event,
      decision: { ...base, trigger: 'MANUAL_ROLLBACK', reasons: [`the canary was set to 0 % outside the rollout (it was at ${expected} %): a person rolled it back by hand; the rollout respects it and stops`] },
    };
  }
  const reasons = [...reading.problems];
  if (found !== expected) reasons.push(`the weights were changed outside the rollout: the canary was expected at ${expected} %, found at ${formatPercent(found)}`);
  return { event, decision: { ...base, trigger: 'DRIFT', reasons: [...reasons, 'the rollout does not move traffic it did not set: rolled back to the baseline as preflight read it'] } };
}

/**
 * Reads the target back when due. A throttled read never fails anything: the read backs off (up to
 * DRIFT_BACKOFF_MAX_SECONDS) and the check goes on; `force` reads are retried by the workflow.
 */
async function readBack(state: RolloutState, deps: Deps, force: boolean): Promise<{ reading?: RouterReading; drift: RolloutState['drift'] }> {
  const now = deps.clock.now();
  const last = state.drift?.lastReadAt ? Date.parse(state.drift.lastReadAt) : -Infinity;
  const backoff = state.drift?.backoffSeconds ?? 0;
  if (!force && now.getTime() < last + backoff * 1000) return { drift: state.drift };
  try {
    // A read that went through lets the next one come a minute sooner; a throttled one doubles the
    // wait (below): under a busy account the fleet's reads settle below Route 53's rate instead of
    // saturating it, and rollbacks find room.
    return { reading: await deps.traffic.read(state.config.target, state.routerDefinition), drift: { lastReadAt: iso(now), backoffSeconds: Math.max(0, backoff - 60) } };
  } catch (error) {
    if (force || !(error instanceof ThrottledError)) throw error;
    const next = Math.min(DRIFT_BACKOFF_MAX_SECONDS, Math.max(60, backoff * 2)) * jitter(state.rolloutId, Math.floor(now.getTime() / 1000));
    deps.log.warn('drift read-back throttled; backing off', { backoffSeconds: Math.round(next) });
    return { drift: { lastReadAt: iso(now), backoffSeconds: next } };
  }
}

/** Records a drift or a person's rollback and sends the rollout to Rollback. */
async function onDrift(state: RolloutState, deps: Deps, found: { decision: Decision; event: RolloutEvent }): Promise<RolloutState> {
  deps.log.warn('the traffic target changed outside the rollout', { reasons: found.decision.reasons });
  await deps.rollouts.update(state.rolloutId, { updatedAt: found.event.at }, [found.event], { token: state.token });
  return { ...state, next: 'ROLLBACK', decision: found.decision };
}

/**
 * Fences, reads the target back (drift), asks the stage's manual gate and beforeShift gates (not
 * for `promote --full`: the person's request is the answer), and moves the canary's share in one
 * compare-and-set change. A gate that stays shut rolls back (or halts).
 */
export async function shiftTraffic(state: RolloutState, deps: Deps): Promise<RolloutState> {
  return haltInstead(await shiftTrafficStep(state, deps), 'SHIFT');
}

async function shiftTrafficStep(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await fence(state, deps);
  const stage = state.config.stages[state.stageIndex];
  if (!stage) throw new TrafficStateError(`no stage ${state.stageIndex} in the plan`);
  const now = deps.clock.now();
  if (stage.approval && !state.approvedStages?.includes(state.stageIndex) && !state.promotion) {
    const deadline = state.approvalDeadline ?? iso(addSeconds(now, state.config.approvalTimeoutSeconds));
    if (!state.approvalDeadline) {
      await deps.rollouts.update(state.rolloutId, {
        pendingApproval: { stageIndex: state.stageIndex, weight: stage.weight, requestedAt: iso(now), deadline }, updatedAt: iso(now),
      }, [{ type: 'APPROVAL_REQUESTED', at: iso(now), stageIndex: state.stageIndex, weight: stage.weight, deadline }], { token: state.token });
      deps.log.info('waiting for approval', { stage: state.stageIndex, weight: stage.weight, deadline });
      // The weight already live keeps being judged while the gate waits: a hold of the previous
      // stage's weight, with its own share of the false-rollback level.
      if (state.weight > 0) {
        return {
          ...state, next: 'AWAIT_APPROVAL', approvalDeadline: deadline, wait: { until: iso(addSeconds(now, APPROVAL_POLL_SECONDS)) },
          ...startAnalysis(state, state.stageIndex - 1, now, { mode: 'hold', holdNumber: state.haltCount ?? 0 }),
          nextCheckAt: iso(addSeconds(now, state.config.checkIntervalSeconds + checkPhaseSeconds(state.rolloutId))),
        };
      }
    }
    return { ...state, next: 'AWAIT_APPROVAL', approvalDeadline: deadline, wait: { until: iso(addSeconds(now, APPROVAL_POLL_SECONDS)) } };
  }
  // The beforeShift gates of this weight: all must pass before it is set. A shut gate is asked
  // again every GATE_RETRY_SECONDS (the live weight keeps being checked meanwhile, as at a manual
  // gate) for at most approvalTimeoutSeconds, then the rollout rolls back naming the gate.
  const gates = state.promotion ? [] : beforeShiftGates(state.config.hooks, stage.weight);
  let current = state;
  if (gates.length > 0) {
    const gate = await runGate(verificationPort(deps), gates, momentInput(state.config, state.rolloutId, 'beforeShift', state.stageIndex, stage.weight),
      deps.clock, addSeconds(now, STEP_VERIFICATION_BUDGET_SECONDS));
    await deps.rollouts.update(state.rolloutId, { updatedAt: iso(now) }, [gateEvent(now, 'beforeShift', state.stageIndex, stage.weight, gate)], { token: state.token });
    if (!gate.open) {
      const since = state.gateWait?.stageIndex === state.stageIndex ? state.gateWait.since : iso(now);
      const waited = (now.getTime() - Date.parse(since)) / 1000;
      if (waited >= state.config.approvalTimeoutSeconds) {
        return {
          ...state, next: 'ROLLBACK',
          decision: {
            outcome: 'ROLLED_BACK', trigger: 'GATE', at: iso(now), stageIndex: state.stageIndex, weight: state.weight,
            failing: gate.verdicts.filter((v) => v.verdict !== 'PASS').map(compactVerdict),
            reasons: [`the beforeShift gate of stage ${state.stageIndex + 1} (${stage.weight} %) stayed shut for ${Math.round(waited)} s (approvalTimeoutSeconds ${state.config.approvalTimeoutSeconds} s): ${gate.verdicts.filter((v) => v.verdict !== 'PASS').map((v) => v.name).join(', ')}`, ...gate.reasons],
          },
        };
      }
      deps.log.info('beforeShift gate shut; asking again later', { stage: state.stageIndex, weight: stage.weight, reasons: gate.reasons });
      // The weight already live keeps being judged meanwhile: a hold of it (the one a manual gate
      // at this stage started, if any, goes on).
      const holding = state.analysis?.mode === 'hold' && state.analysis.stageIndex === state.stageIndex - 1;
      const hold = state.weight > 0 && !holding ? {
        ...startAnalysis(state, state.stageIndex - 1, now, { mode: 'hold', holdNumber: state.haltCount ?? 0 }),
        nextCheckAt: iso(addSeconds(now, state.config.checkIntervalSeconds + checkPhaseSeconds(state.rolloutId))),
      } : {};
      return {
        ...state, ...hold, next: 'AWAIT_APPROVAL', gateWait: { stageIndex: state.stageIndex, since, reasons: gate.reasons },
        wait: { until: iso(addSeconds(now, GATE_RETRY_SECONDS)) },
      };
    }
    const { gateWait: _open, ...rest } = state;
    current = rest;
  }
  // Read back before moving: what we set is what is there (or a person moved it: drift). A retry
  // of this step may find its own shift already landed (the answer was lost): that is not drift,
  // and shifting again from there gives the change id to wait for. Route 53 throttling the account
  // only delays the shift: the step waits (backing off, with jitter) and tries again, it never rolls
  // a healthy canary back.
  let changeId: string;
  let drift: RolloutState['drift'];
  try {
    const read = await readBack(current, deps, true);
    drift = read.drift;
    const landed = read.reading!.problems.length === 0 && read.reading!.canaryPercent === stage.weight;
    const found = landed ? null : driftDecision(current, read.reading!, now);
    if (found) return onDrift({ ...current, drift }, deps, found);
    const from = landed ? stage.weight : state.weight;
    ({ changeId } = await deps.traffic.shift(state.config.target, stage.weight, { expectedPercent: from, definition: state.routerDefinition }));
  } catch (error) {
    if (!(error instanceof ThrottledError)) throw error;
    const attempts = (state.shiftAttempts ?? 0) + 1;
    const backoff = Math.min(SHIFT_BACKOFF_MAX_SECONDS, SHIFT_BACKOFF_SECONDS * 2 ** (attempts - 1)) * jitter(state.rolloutId, 1000 + attempts) * 2;
    deps.log.warn('shift throttled; trying again later', { attempts, backoffSeconds: Math.round(backoff) });
    return { ...current, next: 'RETRY_SHIFT', shiftAttempts: attempts, wait: { until: iso(addSeconds(now, backoff)) } };
  }
  deps.log.info('weights set', { stage: state.stageIndex, weight: stage.weight, changeId });
  const change = { id: changeId, canary: stage.weight, submittedAt: iso(now) };
  await deps.rollouts.update(state.rolloutId, { stageIndex: state.stageIndex, weight: stage.weight, lastChange: change, updatedAt: iso(now) },
    [{ type: 'WEIGHTS_SET', at: iso(now), canary: stage.weight, baseline: 100 - stage.weight, changeId, stageIndex: state.stageIndex }], { token: state.token });
  const { shiftAttempts: _done, pausedSeconds: _stageClock, ...rest } = current;
  return {
    ...rest, weight: stage.weight, next: 'WAIT_SYNC', analysis: undefined, drift,
    change: { id: changeId, submittedAt: iso(now), polls: 0 },
    wait: { until: iso(addSeconds(now, SYNC_POLL_SECONDS * jitter(state.rolloutId, 0) * 2)) },
  };
}

/**
 * The wait before the next poll of a change: 15 s, then backing off to 60 s, with jitter. A
 * rollback's change is polled more often (from 5 s, at most 15 s apart): its INSYNC is the moment
 * traffic is safe, and Conclude (the incident, the lock) waits for it.
 */
function nextPoll(state: RolloutState, now: Date, polls: number): { until: string } {
  const [first, cap] = state.phase === 'ROLLING_BACK' ? [5, 15] : [SYNC_POLL_SECONDS, SYNC_POLL_MAX_SECONDS];
  const base = Math.min(cap, first * 1.5 ** polls);
  return { until: iso(addSeconds(now, Math.max(2, base * jitter(state.rolloutId, polls + 1) * 2))) };
}

/**
 * Polls the weight change (the rollback's too). Once in sync: a rollback concludes; a forward
 * stage waits one settle time (clients' caches) and its bake; at 100 % the rollout is promoted,
 * after reading the target back (a person's rollback during the last shift wins).
 */
export async function checkSync(state: RolloutState, deps: Deps): Promise<RolloutState> {
  if (!state.change) throw new TrafficStateError('no weight change to wait for');
  if (state.phase === 'FORWARD') await fence(state, deps);
  const now = deps.clock.now();
  const polls = (state.change.polls ?? 0) + 1;
  let inSync: boolean;
  try {
    inSync = await deps.traffic.isInSync(state.config.target, state.change.id);
  } catch (error) {
    // A throttled poll says nothing about the change: poll later, it never rolls anything back.
    if (!(error instanceof ThrottledError)) throw error;
    deps.log.warn('change poll throttled; polling later', { polls });
    return { ...state, next: 'WAIT_SYNC', change: { ...state.change, polls }, wait: nextPoll(state, now, polls) };
  }
  if (!inSync) {
    const waited = (now.getTime() - Date.parse(state.change.submittedAt)) / 1000;
    if (waited > SYNC_TIMEOUT_SECONDS && state.phase === 'FORWARD') {
      throw new TrafficStateError(`weight change ${state.change.id} not in sync after ${Math.round(waited)} s`);
    }
    return { ...state, next: 'WAIT_SYNC', change: { ...state.change, polls }, wait: nextPoll(state, now, polls) };
  }
  const change = { ...state.change, polls, inSyncAt: state.change.inSyncAt ?? iso(now) };
  const canary = state.phase === 'ROLLING_BACK' ? 0 : state.weight;
  const event: RolloutEvent = { type: 'IN_SYNC', at: iso(now), changeId: change.id, canary };
  const lastChange = { id: change.id, canary, submittedAt: change.submittedAt, inSyncAt: change.inSyncAt };
  if (state.phase === 'ROLLING_BACK') {
    // The record is best effort here: traffic is back, Conclude writes the outcome again.
    await deps.rollouts.update(state.rolloutId, { lastChange, updatedAt: iso(now) }, [event]).catch((error: unknown) =>
      deps.log.error('could not record the rollback in sync; Conclude records the outcome', { error: String(error) }));
    return { ...state, change, next: 'CONCLUDE', outcome: 'ROLLED_BACK' };
  }
  await deps.rollouts.update(state.rolloutId, { lastChange, updatedAt: iso(now) }, [event], { token: state.token });
  if (state.weight === 100) {
    const { reading, drift } = await readBack(state, deps, true);
    const found = driftDecision(state, reading!, now);
    if (found) return onDrift({ ...state, change, drift }, deps, found);
    const judged = state.config.stages.filter((s) => s.weight < 100).map((s) => `${s.weight} %`);
    const p = state.promotion;
    const skipped = p ? state.config.stages.slice(p.fromStage, state.config.stages.length - 1).map((s) => `${s.weight} %`) : [];
    const decision: Decision = p ? {
      outcome: 'PROMOTED', trigger: 'MANUAL_PROMOTION', by: p.by, at: iso(now), stageIndex: state.stageIndex, weight: 100, failing: [],
      reasons: [
        `promoted to 100 % by ${p.by} (canary promote --full${p.reason ? `: ${p.reason}` : ''}) from stage ${p.fromStage + 1} (canary ${p.fromWeight} %)`,
        skipped.length ? `the analysis and gates of ${skipped.join(' → ')} were skipped at that person's request` : 'no stage was skipped (the last stage was next)',
        ...(state.haltCount ? [`the rollout had halted (onFailure: halt) ${state.haltCount === 1 ? 'once' : `${state.haltCount} times`}; the person decided to promote`] : []),
      ],
    } : {
      outcome: 'PROMOTED', trigger: 'VERDICT', at: iso(now), stageIndex: state.stageIndex, weight: 100, failing: [],
      reasons: [`every stage before 100 % passed its checks (${judged.join(' → ')}); the canary takes all the traffic`],
    };
    return { ...state, change, drift, next: 'CONCLUDE', outcome: 'PROMOTED', decision };
  }
  const analysisStart = addSeconds(now, state.settleSeconds);
  // Each rollout checks at its own second within the minute, so a fleet does not call
  // GetMetricData all at once when a period completes.
  // ...and the counted checks wait for the traffic share to be judgeable.
  const synced = { ...state, change, analysisStart: iso(analysisStart) };
  const firstCheck = addSeconds(state.config.checkDuringBake
    ? earliestCheckAt(state.config, analysisStart)
    : countedChecksFrom(synced, now), checkPhaseSeconds(state.rolloutId));
  return {
    ...state, change, next: 'ANALYZE', analysisStart: iso(analysisStart),
    ...startAnalysis(state, state.stageIndex, analysisStart),
    nextCheckAt: iso(firstCheck), wait: cappedWait(now, firstCheck),
  };
}

/** A rollout's own offset of its checks after a period is published: 0-20 s, from its id. */
export function checkPhaseSeconds(rolloutId: string): number {
  return Math.floor((jitter(rolloutId, 7) - 0.5) * 40);
}

/**
 * When a stage's first counted check runs: once the bake's periods are complete and published. The
 * window starts at the first whole period after clients switched (in sync + settle time), the bake
 * is at least one period, and CloudWatch needs a minute more to aggregate.
 */
export function firstCheckAt(config: RolloutConfig, stageIndex: number, analysisStart: Date): Date {
  const periodMs = config.analysisPeriodSeconds * 1000;
  const firstPeriod = new Date(Math.ceil(analysisStart.getTime() / periodMs) * periodMs);
  const bake = Math.max(config.stages[stageIndex]!.bakeSeconds, config.analysisPeriodSeconds);
  return addSeconds(firstPeriod, bake + CLOUDWATCH_DELAY_SECONDS);
}

/**
 * When the traffic-share check can first judge a stage: one whole period that starts after the
 * change is in sync, the router's settle time and the share's settling allowance, published.
 * Null when the traffic checks are off.
 */
export function trafficReadyAt(state: Pick<RolloutState, 'config' | 'change' | 'analysisStart' | 'settleSeconds'>): Date | null {
  const config = state.config;
  if (trafficCountMetrics(config).length === 0) return null;
  const inSync = state.change?.inSyncAt ?? (state.analysisStart ? iso(addSeconds(new Date(state.analysisStart), -state.settleSeconds)) : undefined);
  if (!inSync) return null;
  const periodMs = config.analysisPeriodSeconds * 1000;
  const settled = addSeconds(new Date(inSync), state.settleSeconds + settleAllowanceOf(config, routerKindOf(config.target)));
  const firstPeriod = new Date(Math.ceil(settled.getTime() / periodMs) * periodMs);
  return addSeconds(firstPeriod, config.analysisPeriodSeconds + CLOUDWATCH_DELAY_SECONDS);
}

/**
 * When a stage's counted checks begin: after its bake (firstCheckAt), and not before the
 * traffic share can be judged (a stage is never promoted before traffic is shown to have moved).
 */
/** Seconds the current stage's clock has stood still for pauses, the one under way included. */
export function pausedSecondsOf(state: Pick<RolloutState, 'pause' | 'pausedSeconds'>, now: Date): number {
  const ongoing = state.pause ? Math.max(0, (now.getTime() - Date.parse(state.pause.since)) / 1000) : 0;
  return (state.pausedSeconds ?? 0) + ongoing;
}

export function countedChecksFrom(state: Pick<RolloutState, 'config' | 'stageIndex' | 'change' | 'analysisStart' | 'settleSeconds'>, now: Date): Date {
  const bakeEnd = firstCheckAt(state.config, state.stageIndex, new Date(state.analysisStart ?? iso(now)));
  const ready = trafficReadyAt(state);
  return ready && ready > bakeEnd ? ready : bakeEnd;
}

/** The first moment one whole period of the stage is complete and published. */
export function earliestCheckAt(config: RolloutConfig, analysisStart: Date): Date {
  const periodMs = config.analysisPeriodSeconds * 1000;
  const firstPeriod = new Date(Math.ceil(analysisStart.getTime() / periodMs) * periodMs);
  return addSeconds(firstPeriod, config.analysisPeriodSeconds + CLOUDWATCH_DELAY_SECONDS);
}

type CheckMode = 'stage' | 'hold';

/** One check of the live weight: drift read-back, metrics, verdict, evidence and record. */
async function runCheck(state: RolloutState, deps: Deps, mode: CheckMode, record: RolloutRecord | null): Promise<{
  /** RETRY: no verdict (a throttled read); `state.nextCheckAt` says when to try again. */
  state: RolloutState; action: 'ROLLBACK' | 'ADVANCE' | 'CHECK_AGAIN' | 'RETRY'; decision?: Decision;
}> {
  const now = deps.clock.now();
  const { reading, drift } = await readBack(state, deps, false);
  const found = reading ? driftDecision(state, reading, now) : null;
  if (found) {
    const next = await onDrift({ ...state, drift }, deps, found);
    return { state: next, action: 'ROLLBACK', decision: found.decision };
  }

  // The stage's analysis consumes only the periods completed since the last check (its state is
  // carried, a few KB per metric whatever the stage's length).
  const config = state.config;
  // What the judge holds the metrics to (hotfix mode: some against the baseline only).
  const judged = judgedConfig(state);
  const analysis = state.analysis ?? startStageAnalysis(judged, state.stageIndex, new Date(state.analysisStart ?? iso(now)));
  const period = config.analysisPeriodSeconds;
  const periodMs = period * 1000;
  const range = periodsToFetch(analysis, now, period);
  // The request counts of the traffic checks ride in the same metrics call. At a stage's first
  // check the call also reaches back over the periods before its shift: throughput's reference.
  const countMetrics = trafficCountMetrics(config);
  const changeId = state.change?.id ?? 'none';
  const known = state.traffic?.changeId === changeId ? state.traffic : undefined;
  const shiftAt = state.change ? Math.floor(Date.parse(state.change.submittedAt) / periodMs) * periodMs : null;
  const reachBack = range !== null && countMetrics.length > 0 && config.trafficChecks.throughput.enabled && !known && shiftAt !== null && shiftAt <= range.start.getTime();
  const fetchStart = range && reachBack ? new Date(shiftAt! - REFERENCE_PERIODS * periodMs) : range?.start;
  const offset = range && fetchStart ? Math.round((range.start.getTime() - fetchStart.getTime()) / periodMs) : 0;
  const checks: VerificationCheck[] = config.verification;
  let fetched: MetricWindow;
  let verified: MetricVerdict[];
  try {
    // The verification checks run beside the metrics query (each bounded by its timeout and the step's budget).
    [fetched, verified] = await Promise.all([
      range ? deps.metrics.fetchWindow([...config.metrics, ...countMetrics], { start: fetchStart!, end: range.end, periodSeconds: period }) : Promise.resolve(emptyWindow(analysis)),
      checks.length > 0
        ? runChecks(verificationPort(deps), checks, momentInput(config, state.rolloutId, 'analysis', state.stageIndex, state.weight, {
          window: { start: analysis.firstPeriodStart, end: range ? range.end : new Date(Date.parse(analysis.firstPeriodStart) + analysis.periods * periodMs) },
        }), deps.clock, addSeconds(now, STEP_VERIFICATION_BUDGET_SECONDS))
        : Promise.resolve([]),
    ]);
  } catch (error) {
    // A throttled metrics read is no verdict: the check runs again soon, at a jittered moment (the
    // fleet's checks must not meet at the same second again).
    if (!(error instanceof ThrottledError)) throw error;
    const retryAt = addSeconds(now, 5 + 15 * jitter(state.rolloutId, Math.floor(now.getTime() / 1000)));
    deps.log.warn('metrics read throttled; checking again shortly', { retryAt: iso(retryAt) });
    return { state: { ...state, drift, nextCheckAt: iso(retryAt) }, action: 'RETRY' };
  }
  // The new periods as the judge sees them, and with the counts kept (the evidence).
  const window = range ? judgeWindow(fetched, offset) : fetched;
  const storedWindow = range ? judgeWindow(fetched, offset, { keepCounts: true }) : fetched;
  // The traffic checks: this stage's settled periods summed, and its references (the stage's
  // start; the rollout's first, the pre-rollout minutes).
  let traffic: RolloutState['traffic'] = known ?? (countMetrics.length > 0 ? { changeId, stageIndex: state.stageIndex, ...(state.traffic?.preRollout !== undefined ? { preRollout: state.traffic.preRollout } : {}) } : undefined);
  if (traffic && reachBack) {
    // The periods just before the shift (those between the shift and the analysis window are neither).
    const stageStart = countsOf(fetched, 0, REFERENCE_PERIODS) ?? null;
    traffic = { ...traffic, stageStart, preRollout: state.traffic?.preRollout ?? stageStart };
  }
  const counts = range ? countsOf(fetched, offset) : null;
  const inSyncAt = Date.parse(state.change?.inSyncAt ?? state.analysisStart ?? iso(now));
  const settledFrom = inSyncAt + (state.settleSeconds + settleAllowanceOf(config, routerKindOf(config.target))) * 1000;
  if (traffic && counts && range) traffic = { ...traffic, tally: tallySettled(traffic.tally ?? EMPTY_TALLY, counts, range.start.getTime(), settledFrom) };
  const trafficJudged: TrafficJudgement | null = traffic && state.weight > 0
    ? judgeTally({
      config, kind: routerKindOf(config.target), weight: state.weight, tally: traffic.tally ?? EMPTY_TALLY, periodSeconds: period,
      routerSettleSeconds: state.settleSeconds, stageStart: traffic.stageStart, preRollout: traffic.preRollout,
    })
    : null;

  // What the stage acts on: the judge, the verification checks, throughput. The share's FAIL is
  // the traffic gate's (the stage waits for traffic to move), not a failed check; verdicts that
  // cannot say yet (too few requests to compare) are recorded and never hold a stage.
  const share = trafficJudged?.share ? [trafficJudged.share] : [];
  const beside = [...verified, ...(trafficJudged?.throughput ?? [])];
  // A pause stops the stage's clock: its bake and extension do not count the paused time.
  const bakeEnd = addSeconds(countedChecksFrom(state, now), pausedSecondsOf(state, now));
  const duringBake = mode === 'stage' && now < bakeEnd;
  const result = analyzeCheck({
    config: judged, stageIndex: analysis.stageIndex, weight: state.weight, now, bakeEnd, mode, state: analysis, window,
    extra: beside.filter((v) => !isInformational(v)),
  });
  const informational = [...beside.filter(isInformational), ...share.filter(isInformational)];
  const judgement = withVerdicts(result.judgement, [...share.filter((v) => !isInformational(v)), ...informational], informational.length);
  const checked = result.range ?? { start: iso(now), end: iso(now) };
  let action = result.action;
  let reasons = result.reasons;
  // Traffic that did not follow the weight: the stage waits (no advance), then rolls back.
  const gate = trafficGate(trafficJudged, traffic?.starvedSince, now, config.trafficChecks.starvedWaitSeconds);
  if (traffic) {
    const { starvedSince: _was, ...rest } = traffic;
    traffic = gate.starvedSince ? { ...rest, starvedSince: gate.starvedSince } : rest;
  }
  if (gate.action === 'ROLLBACK' && action !== 'ROLLBACK') {
    action = 'ROLLBACK';
    reasons = gate.reasons;
  }
  if (gate.action === 'HOLD' && action === 'ADVANCE') action = 'CHECK_AGAIN';
  const event: CheckEvent = {
    type: 'CHECK', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, verdict: judgement.verdict,
    ...(duringBake ? { duringBake: true } : {}), ...(mode === 'hold' ? { hold: true } : {}),
    window: checked,
    metrics: judgement.metrics.map(({ name, verdict, reason, canaryValue, baselineValue, dryRun }) => ({ name, verdict, reason, canaryValue, baselineValue, ...(dryRun ? { dryRun } : {}) })),
  };
  // The raw datapoints (the request counts included) and the judgement, the verification checks'
  // answers and the traffic checks' included, go to the evidence store before the check is
  // recorded and before any decision; a retry of this step numbers the check the same and overwrites it.
  const checkNo = (record?.checkCount ?? 0) + 1;
  const stored = await storeEvidence(deps, `check #${checkNo}`, (evidence) => evidence.putCheck(state.rolloutId, checkNo, {
    at: iso(now), stageIndex: state.stageIndex, weight: state.weight, range: checked, window: storedWindow, judgement,
  }));
  await deps.rollouts.update(state.rolloutId, { updatedAt: iso(now), checkCount: checkNo, lastCheck: event },
    stored ? [event] : [event, evidenceNote(now, `check #${checkNo}`)], { token: state.token });
  deps.decisionMetrics?.record(`Check${judgement.verdict[0]}${judgement.verdict.slice(1).toLowerCase()}`, 1);
  deps.log.info('check judged', { verdict: judgement.verdict, mode, action, reasons: judgement.metrics.map((m) => m.reason) });

  const next: RolloutState = { ...state, drift, analysis: result.state, ...(traffic ? { traffic } : {}) };
  if (action === 'ROLLBACK') {
    // Dry-run verdicts decided nothing: they are in the evidence and the report, not in the decision.
    const decision: Decision = {
      outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: iso(now), stageIndex: state.stageIndex, weight: state.weight,
      reasons: state.hotfix?.metrics.length ? [...reasons, `${hotfixText(config, state.hotfix.metrics)}${state.hotfix.healthyAt ? ` (it was healthy again at ${state.hotfix.healthyAt}: the thresholds apply from the next stage)` : ''}`] : reasons,
      failing: judgement.metrics.filter((m) => m.verdict !== 'PASS' && !m.dryRun).map(compactVerdict),
    };
    return { state: next, action: 'ROLLBACK', decision };
  }
  // A hold never advances (the gate's answer does); the analysis already knows its mode.
  return { state: next, action: mode === 'hold' && action === 'ADVANCE' ? 'CHECK_AGAIN' : action };
}

const RANK: Record<Verdict, number> = { PASS: 0, INCONCLUSIVE: 1, FAIL: 2 };

/**
 * A judgement with more verdicts beside the judge's (verification checks, traffic checks): the
 * overall verdict is the worst of all but the last `informational` ones (recorded, never acted
 * on); a critical FAIL among them is a critical failure. The judge's own fields are kept.
 */
function withVerdicts(judgement: Judgement, extra: MetricVerdict[], informational = 0): Judgement {
  if (extra.length === 0) return judgement;
  const counted = extra.slice(0, extra.length - informational).filter((v) => !v.dryRun);
  const worst = counted.reduce<Verdict>((w, v) => (RANK[v.verdict] > RANK[w] ? v.verdict : w), judgement.verdict);
  return {
    ...judgement,
    verdict: worst,
    metrics: [...judgement.metrics, ...extra],
    criticalFailure: judgement.criticalFailure || counted.some((v) => v.verdict === 'FAIL' && v.critical),
  };
}

/** A verdict without its test details: what a decision carries (the evidence keeps the details). */
function compactVerdict(m: MetricVerdict): MetricVerdict {
  const { details: _details, ...rest } = m;
  return rest;
}

/** The abort a person asked for (`canary abort`), as a decision. */
function abortDecision(state: RolloutState, record: RolloutRecord | null, now: Date): Decision | null {
  if (!record?.abortRequested) return null;
  return {
    outcome: 'ROLLED_BACK', trigger: 'ABORTED', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [],
    reasons: [`aborted: ${record.abortRequested.reason}`],
  };
}

/**
 * `canary promote --full`, once seen: the rollout goes to 100 % now (ShiftTraffic, then the wait
 * for sync and the read-back, as every shift, fenced as every step), without the remaining
 * stages' analysis and gates. A NOTE says who asked, why, and what is skipped; the decision at
 * 100 % says MANUAL_PROMOTION. A halted rollout is RUNNING again from here.
 */
async function promotionFrom(state: RolloutState, record: RolloutRecord | null, deps: Deps, now: Date): Promise<RolloutState | null> {
  const asked = record?.promoteRequested;
  if (!asked || state.promotion) return null;
  const last = state.config.stages.length - 1;
  const skipped = state.config.stages.slice(state.stageIndex, last).map((st) => `${st.weight} %`);
  const message = `${asked.by} asked to promote to 100 % now (canary promote --full${asked.reason ? `: ${asked.reason}` : ''}): ` +
    `${skipped.length ? `the analysis and gates of ${skipped.join(' → ')} are skipped` : 'the last stage is next'}; the shift to 100 % still waits for sync and reads the target back`;
  await deps.rollouts.update(state.rolloutId, {
    pendingApproval: undefined, paused: undefined, updatedAt: iso(now),
    ...(record?.status === 'HALTED' ? { status: 'RUNNING' as const, halted: undefined } : {}),
  }, [{ type: 'NOTE', at: iso(now), message }], { token: state.token });
  deps.log.warn('promoting to 100 % at a person\'s request', { by: asked.by, reason: asked.reason, skipped });
  const { approvalDeadline: _a, gateWait: _g, analysis: _an, pause: _p, halt: _h, decision: _d, ...rest } = state;
  return {
    ...rest, stageIndex: last, next: 'SHIFT',
    promotion: { by: asked.by, ...(asked.reason ? { reason: asked.reason } : {}), at: iso(now), fromStage: state.stageIndex, fromWeight: state.weight },
  };
}

/**
 * Follows `canary pause` / `canary resume` (the head's `paused`): a pause starts (PAUSED), ends
 * (RESUMED, the stage clock moved on by the pause's length, the approval deadline and a shut
 * gate's wait with it), or, past PAUSE_MAX_SECONDS, ends by itself.
 */
async function observePause(state: RolloutState, record: RolloutRecord | null, deps: Deps, now: Date): Promise<RolloutState> {
  const asked = record?.paused;
  const at = iso(now);
  if (asked && !state.pause) {
    await deps.rollouts.update(state.rolloutId, { updatedAt: at }, [{
      type: 'PAUSED', at, stageIndex: state.stageIndex, weight: state.weight, by: asked.by, ...(asked.reason ? { reason: asked.reason } : {}),
    }], { token: state.token });
    deps.log.info('paused: the weight is held; checks go on and a failure still acts', { by: asked.by });
    return { ...state, pause: { since: at, by: asked.by } };
  }
  if (!state.pause) return state;
  const pausedFor = Math.max(0, (now.getTime() - Date.parse(state.pause.since)) / 1000);
  let by: string;
  let reason: string | undefined;
  if (asked && pausedFor >= PAUSE_MAX_SECONDS) {
    by = 'the pause limit';
    reason = `paused for ${Math.round(pausedFor / 86_400)} d, the longest a pause holds (${PAUSE_MAX_SECONDS / 86_400} d)`;
    await deps.rollouts.update(state.rolloutId, { paused: undefined, updatedAt: at }, [], { token: state.token });
  } else if (!asked) {
    by = record?.resumeRequested?.by ?? 'a person';
    reason = record?.resumeRequested?.reason;
  } else {
    return state;
  }
  await deps.rollouts.update(state.rolloutId, { updatedAt: at }, [{
    type: 'RESUMED', at, stageIndex: state.stageIndex, weight: state.weight, by, ...(reason ? { reason } : {}), pausedSeconds: Math.round(pausedFor),
  }], { token: state.token });
  deps.log.info('resumed after a pause', { by, pausedSeconds: Math.round(pausedFor) });
  const later = (t: string) => iso(addSeconds(new Date(t), pausedFor));
  const { pause: _done, ...rest } = state;
  return {
    ...rest, pausedSeconds: (state.pausedSeconds ?? 0) + pausedFor,
    ...(state.approvalDeadline ? { approvalDeadline: later(state.approvalDeadline) } : {}),
    ...(state.gateWait ? { gateWait: { ...state.gateWait, since: later(state.gateWait.since) } } : {}),
  };
}

/** How often hotfix mode asks whether the baseline is healthy again. */
export const BASELINE_RECHECK_SECONDS = 300;

/**
 * Hotfix mode (checkBaselineHealth: compare): every BASELINE_RECHECK_SECONDS, the baseline alone
 * against the thresholds of the metrics it broke. Once all pass, the thresholds apply again from
 * the next stage (a stage is judged one way from start to end), and a NOTE says so.
 */
async function watchBaseline(state: RolloutState, deps: Deps, now: Date): Promise<RolloutState> {
  const h = state.hotfix;
  if (!h || h.metrics.length === 0 || h.healthyAt) return state;
  if (h.nextCheckAt && now < new Date(h.nextCheckAt)) return state;
  let verdicts: MetricVerdict[];
  try {
    verdicts = await checkBaselineHealth(state.config, deps);
  } catch (error) {
    if (!(error instanceof ThrottledError)) throw error;
    return { ...state, hotfix: { ...h, nextCheckAt: iso(addSeconds(now, 60)) } };
  }
  const broken = verdicts.filter((v) => h.metrics.includes(v.name));
  if (broken.length < h.metrics.length || broken.some((v) => v.verdict !== 'PASS')) {
    return { ...state, hotfix: { ...h, nextCheckAt: iso(addSeconds(now, BASELINE_RECHECK_SECONDS)) } };
  }
  const at = iso(now);
  await deps.rollouts.update(state.rolloutId, { hotfix: { at: h.since, metrics: h.metrics, reasons: h.reasons, healthyAt: at }, updatedAt: at }, [{
    type: 'NOTE', at,
    message: `checkBaselineHealth: compare: the baseline is healthy again (${broken.map((v) => v.reason).join('; ')}): ${h.metrics.join(', ')} ${h.metrics.length === 1 ? 'is' : 'are'} held to ${h.metrics.length === 1 ? 'its threshold' : 'their thresholds'} again from the next stage`,
  }], { token: state.token });
  deps.log.info('hotfix mode: the baseline is healthy again; thresholds apply from the next stage', { metrics: h.metrics });
  return { ...state, hotfix: { ...h, healthyAt: at } };
}

async function analyzeStep(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await fence(state, deps);
  const now = deps.clock.now();
  deps.log.appendKeys?.({ stage: state.stageIndex, weight: state.weight });
  const record = await deps.rollouts.get(state.rolloutId);
  const aborted = abortDecision(state, record, now);
  if (aborted) return { ...state, next: 'ROLLBACK', decision: aborted };
  const promoted = await promotionFrom(state, record, deps, now);
  if (promoted) return promoted;
  const current = await observePause(state, record, deps, now);

  const due = new Date(current.nextCheckAt ?? iso(now));
  if (now < due) return { ...current, next: 'ANALYZE', wait: cappedWait(now, due) }; // woke early: the lease is renewed

  // Paused: the weight is held. The check runs as a hold: it may roll back (a failure, no data
  // past the limit, traffic that did not move), never advance, never extend the bake.
  const checked = await runCheck(current, deps, current.pause ? 'hold' : 'stage', record);
  switch (checked.action) {
    case 'RETRY':
      return { ...checked.state, next: 'ANALYZE', wait: cappedWait(now, new Date(checked.state.nextCheckAt!)) };
    case 'ROLLBACK':
      return { ...checked.state, next: 'ROLLBACK', decision: checked.decision };
    case 'ADVANCE':
      return watchBaseline({ ...checked.state, stageIndex: state.stageIndex + 1, next: 'SHIFT' }, deps, now);
    case 'CHECK_AGAIN': {
      const bakeEnd = addSeconds(countedChecksFrom(current, now), pausedSecondsOf(current, now));
      let nextCheck = addSeconds(now, current.config.checkIntervalSeconds);
      // Checks during the bake land on its end (at this rollout's second), where the counted checks begin.
      const counted = addSeconds(bakeEnd, checkPhaseSeconds(state.rolloutId));
      if (now < bakeEnd && nextCheck > counted) nextCheck = counted;
      return watchBaseline({ ...checked.state, next: 'ANALYZE', nextCheckAt: iso(nextCheck), wait: cappedWait(now, nextCheck) }, deps, now);
    }
  }
}

/** The rollouts' own decisions to roll back that `onFailure: halt` turns into a halt (not a person's, not drift, not an error of ours). */
export const HALTING_TRIGGERS: readonly DecisionTrigger[] = ['VERDICT', 'GATE', 'APPROVAL_TIMEOUT'];

/** onFailure: halt: a step's decision to roll back becomes a halt (the Halt state records it and pages). */
function haltInstead(out: RolloutState, resume: 'ANALYZE' | 'SHIFT'): RolloutState {
  if (out.next !== 'ROLLBACK' || out.phase !== 'FORWARD' || out.config.onFailure !== 'halt') return out;
  const trigger = out.decision?.trigger;
  if (!trigger || !HALTING_TRIGGERS.includes(trigger)) return out;
  return { ...out, next: 'HALT', halt: { resume, count: (out.haltCount ?? 0) + 1 } };
}

/**
 * Fences, reads the target back (drift), judges the complete periods, stores the evidence; rolls
 * back (or halts), advances the stage or checks again. Acts on an abort, `promote --full` and a pause.
 */
export async function analyze(state: RolloutState, deps: Deps): Promise<RolloutState> {
  return haltInstead(await analyzeStep(state, deps), 'ANALYZE');
}

/**
 * Polls a manual gate: approved → set the stage's weight; rejected, aborted or timed out → roll
 * back. While the gate waits, the weight already live is still checked every check interval (hold
 * mode): a failure rolls back without waiting for the answer. Paused, an approval waits for the
 * resume (and the timeout does not run); a rejection, an abort or a failure still roll back.
 */
export async function checkApproval(state: RolloutState, deps: Deps): Promise<RolloutState> {
  return haltInstead(await checkApprovalStep(state, deps), 'SHIFT');
}

async function checkApprovalStep(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await fence(state, deps);
  const now = deps.clock.now();
  const record = await deps.rollouts.get(state.rolloutId);
  const base = { outcome: 'ROLLED_BACK' as const, at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [] };
  const aborted = abortDecision(state, record, now);
  if (aborted) return { ...state, next: 'ROLLBACK', decision: aborted };
  const promoted = await promotionFrom(state, record, deps, now);
  if (promoted) return promoted;
  const current = await observePause(state, record, deps, now);
  const paused = Boolean(current.pause);
  const poll = { until: iso(addSeconds(now, APPROVAL_POLL_SECONDS)) };
  const stage = current.config.stages[current.stageIndex]!;
  if (current.gateWait?.stageIndex === current.stageIndex) {
    // A shut beforeShift gate: the live weight is checked while it waits, then the shift asks it
    // again (not while paused: the weight is held until the resume).
    const held = await holdCheck(current, deps, now, record);
    if (held.next === 'ROLLBACK') return held;
    return paused ? { ...held, next: 'AWAIT_APPROVAL', wait: poll } : { ...held, next: 'SHIFT' };
  }
  const answer = record?.approval?.stageIndex === current.stageIndex ? record.approval : undefined;
  if (answer?.approved && !paused) {
    await deps.rollouts.update(current.rolloutId, { pendingApproval: undefined, updatedAt: iso(now) }, [], { token: current.token });
    const { approvalDeadline: _done, ...rest } = current;
    return { ...rest, next: 'SHIFT', approvedStages: [...(current.approvedStages ?? []), current.stageIndex] };
  }
  if (answer && !answer.approved) {
    return {
      ...current, next: 'ROLLBACK',
      decision: { ...base, trigger: 'REJECTED', by: answer.by, reasons: [`${answer.by} rejected stage ${current.stageIndex + 1} (${stage.weight} %)${answer.reason ? `: ${answer.reason}` : ''}`] },
    };
  }
  if (!paused && current.approvalDeadline && now.getTime() >= Date.parse(current.approvalDeadline)) {
    return {
      ...current, next: 'ROLLBACK',
      decision: { ...base, trigger: 'APPROVAL_TIMEOUT', reasons: [`no approval for stage ${current.stageIndex + 1} (${stage.weight} %) within ${current.config.approvalTimeoutSeconds} s`] },
    };
  }
  const held = await holdCheck(current, deps, now, record);
  if (held.next === 'ROLLBACK') return held;
  return { ...held, next: 'AWAIT_APPROVAL', wait: poll };
}

/** The live weight (the previous stage's) keeps being judged while a gate waits; a failure rolls back. */
async function holdCheck(state: RolloutState, deps: Deps, now: Date, record: RolloutRecord | null): Promise<RolloutState> {
  if (state.weight > 0 && state.analysis?.mode === 'hold' && now >= new Date(state.nextCheckAt ?? iso(now))) {
    const checked = await runCheck(state, deps, 'hold', record);
    if (checked.action === 'ROLLBACK') return { ...checked.state, next: 'ROLLBACK', decision: checked.decision };
    if (checked.action === 'RETRY') return checked.state;
    return { ...checked.state, nextCheckAt: iso(addSeconds(now, state.config.checkIntervalSeconds)) };
  }
  return state;
}

/**
 * Reverses the whole shift: the router back to the baseline as preflight read it (canary 0), in one
 * change, before anything is written. Then the decision, the record and a snapshot of the evidence.
 * A rollout that is no longer this execution's (closed, or its target locked by another rollout) is
 * left alone: whoever closed it already restored the baseline.
 */
export async function rollback(state: RolloutState, deps: Deps): Promise<RolloutState> {
  const now = deps.clock.now();
  const decision: Decision = state.decision ?? {
    outcome: 'ROLLED_BACK', trigger: 'ERROR', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [],
    reasons: [`the workflow failed and rolled back to be safe: ${state.error?.Error ?? 'unknown error'}: ${(state.error?.Cause ?? '').slice(0, 500)}`],
  };
  const stale = await staleRollback(state, deps);
  if (stale) {
    deps.log.warn('not rolling back: the rollout is no longer this execution\'s', { reason: stale.why });
    const { error: _handled, ...rest } = state;
    if (stale.promoted) {
      // The promotion was recorded and only what followed it failed (releasing the lock, say):
      // the rollout is promoted; the lock goes now, or the reconciler releases it.
      await deps.rollouts.releaseLock(targetKey(state.config.target), state.rolloutId).catch(() => undefined);
      return { ...rest, next: 'DONE', outcome: 'PROMOTED', summary: stale.why };
    }
    return { ...rest, next: 'DONE', outcome: 'SUPERSEDED', summary: stale.why };
  }

  // Traffic first. A person's own rollback (canary set to 0 by hand) is left as the person set it.
  let changeId = state.change?.id ?? 'none';
  const restore = decision.trigger !== 'MANUAL_ROLLBACK';
  if (restore) {
    changeId = (await deps.traffic.restore(state.config.target, state.routerDefinition)).changeId;
    deps.log.warn('rolled back: baseline restored', { stage: state.stageIndex, weight: state.weight, changeId, reasons: decision.reasons });
  }

  const events: RolloutEvent[] = state.phase === 'ROLLING_BACK' ? [] : [{ type: 'DECISION', at: iso(now), decision }];
  if (restore) events.push({ type: 'WEIGHTS_SET', at: iso(now), canary: 0, baseline: 100, changeId, stageIndex: state.stageIndex });
  // Evidence capture, once traffic is back: the afterRollback hooks are started (never awaited by
  // the restore, which has landed; never failing this step), before anything restarts the canary.
  const hooks = state.phase === 'ROLLING_BACK' ? []
    : await startHooks(state, deps, 'afterRollback', state.config.hooks.afterRollback, decision, addSeconds(now, STEP_VERIFICATION_BUDGET_SECONDS));
  if (hooks.length > 0) events.push({ type: 'HOOKS', at: iso(deps.clock.now()), moment: 'afterRollback', results: hooks });
  const lastChange = { id: changeId, canary: 0, submittedAt: iso(now) };
  await deps.rollouts.update(state.rolloutId, {
    status: 'ROLLING_BACK', decision, weight: 0, lastChange, updatedAt: iso(now), ...(hooks.length > 0 ? { hooks: hooks.map(hookSummary) } : {}),
  }, events)
    .catch((error: unknown) => deps.log.error('could not record the rollback (traffic is restored; Conclude records the outcome)', { error: String(error) }));
  await snapshotRecord(state.rolloutId, deps, 'after the rollback');
  const { error: _handled, ...rest } = state;
  if (!restore) return { ...rest, phase: 'ROLLING_BACK', next: 'CONCLUDE', decision, outcome: 'ROLLED_BACK' };
  return {
    ...rest, phase: 'ROLLING_BACK', next: 'WAIT_SYNC', decision, outcome: 'ROLLED_BACK',
    change: { id: changeId, submittedAt: iso(now), polls: 0 }, wait: { until: iso(addSeconds(now, SYNC_POLL_SECONDS)) },
  };
}

/**
 * Why this execution must not roll the target back (and whether the rollout was promoted), or null
 * when it must. Reads only: when the store cannot be read the rollback goes ahead (restoring the
 * baseline never waits on the store).
 */
async function staleRollback(state: RolloutState, deps: Deps): Promise<{ why: string; promoted: boolean } | null> {
  try {
    const record = await deps.rollouts.get(state.rolloutId);
    if (record && !isActive(record.status)) {
      return { why: `the rollout was already closed ${record.status} (by the safety net, the reconciler or an earlier run)`, promoted: record.status === 'PROMOTED' };
    }
    const holder = await deps.rollouts.lockHolder(targetKey(state.config.target));
    if (holder && holder.owner !== state.rolloutId && Date.parse(holder.expiresAt) >= deps.clock.now().getTime()) {
      return { why: `the traffic target is now locked by rollout ${holder.owner}`, promoted: false };
    }
  } catch (error) {
    deps.log.error('could not read the record before the rollback; rolling back anyway', { error: String(error) });
  }
  return null;
}

/**
 * Records the outcome, opens the incident of an automatic rollback (once), and releases the lock.
 * The same function records a halt and waits in it (HALT, HALTED: see `halt`): it is the step
 * that owns the incident.
 */
export async function conclude(state: RolloutState, deps: Deps): Promise<RolloutState> {
  if (state.next === 'HALT' || state.next === 'HALTED') return halt(state, deps);
  const now = deps.clock.now();
  const outcome = state.phase === 'ROLLING_BACK' ? 'ROLLED_BACK' : 'PROMOTED';
  const decision: Decision = state.decision ?? {
    outcome, at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [], reasons: [],
  };
  const key = targetKey(state.config.target);
  if (outcome === 'PROMOTED') {
    // Fenced: a rollout taken over by the safety net or the reconciler is never promoted over them.
    await deps.rollouts.update(state.rolloutId, { status: 'PROMOTED', decision, weight: 100, updatedAt: iso(now) },
      [{ type: 'DECISION', at: iso(now), decision }], { token: state.token });
    if (state.haltIncident === 'OPEN') {
      // A halted rollout a person promoted: its page is answered.
      await resolveHaltIncident(state, await deps.rollouts.get(state.rolloutId), deps, now,
        `${decision.by ?? 'A person'} promoted the halted rollout to 100 % (${decision.reasons[0] ?? 'canary promote --full'}).`);
    }
    // Started once the canary holds 100 % and the promotion is recorded; a retried step does not start them twice.
    const hooks = state.config.hooks.afterPromotion;
    if (hooks.length > 0 && !(await deps.rollouts.get(state.rolloutId))?.hooks?.some((h) => h.moment === 'afterPromotion')) {
      const results = await startHooks(state, deps, 'afterPromotion', hooks, decision, addSeconds(now, STEP_VERIFICATION_BUDGET_SECONDS));
      await deps.rollouts.update(state.rolloutId, { hooks: results.map(hookSummary), updatedAt: iso(now) }, [{ type: 'HOOKS', at: iso(deps.clock.now()), moment: 'afterPromotion', results }])
        .catch((error: unknown) => deps.log.error('could not record the afterPromotion hooks', { error: String(error) }));
    }
  } else {
    // A person who aborted, rejected or rolled back by hand knows why: incidents are for what we detected.
    if (!decision.trigger || !PERSON_TRIGGERS.includes(decision.trigger)) {
      await openIncidentOnce(deps, { rolloutId: state.rolloutId, config: state.config, decision, executionArn: state.executionArn });
    } else if (state.haltIncident === 'OPEN' && state.config.recovery.watchSeconds === 0) {
      // A halted rollout a person rolled back, with no recovery watch to update its page: answered here.
      await resolveHaltIncident(state, await deps.rollouts.get(state.rolloutId), deps, now, `${decision.reasons[0] ?? 'A person rolled the halted rollout back'}: traffic is back at 100 % baseline.`);
    }
    await deps.rollouts.update(state.rolloutId, { status: 'ROLLED_BACK', decision, weight: 0, updatedAt: iso(now) });
  }
  await snapshotRecord(state.rolloutId, deps, 'at the end');
  await deps.rollouts.releaseLock(key, state.rolloutId);
  deps.decisionMetrics?.record(outcome === 'PROMOTED' ? 'RolloutPromoted' : 'RolloutRolledBack', 1);
  deps.log.info('rollout concluded', { outcome, reasons: decision.reasons });
  return { ...state, next: outcome === 'PROMOTED' ? 'DONE' : 'WAIT_RECOVERY', outcome, decision, summary: decision.reasons.join('; ').slice(0, 32_000) };
}

/**
 * onFailure: halt. Run by the Halt state (on the Conclude function, which owns the incident):
 * first it records HALTED (the weights stay as they are; the lock stays held) and opens the
 * incident saying the rollout waits for a person; then, every HALT_POLL_SECONDS, it looks for the
 * answer: `canary abort` rolls back, `canary promote --full` goes to 100 %, `canary resume` judges
 * the stage again from now (the incident is resolved). Without an answer within HALT_MAX_SECONDS
 * it rolls back (HALT_TIMEOUT). It neither moves nor reads the target meanwhile; every poll fences
 * (renewing the lease), and the segment hands over as usual, so a long wait stays within quotas.
 */
export async function halt(state: RolloutState, deps: Deps): Promise<RolloutState> {
  await fence(state, deps);
  const now = deps.clock.now();
  const h = state.halt;
  if (!h) throw new TrafficStateError('no halt to record or wait in');
  const record = await deps.rollouts.get(state.rolloutId);
  if (!h.since || !h.deadline || !h.decision) return enterHalt(state, h, record, deps, now);

  const aborted = abortDecision(state, record, now);
  const { halt: _answered, ...rest } = state;
  const stageText = `stage ${state.stageIndex + 1} (canary ${state.weight} %)`;
  if (aborted) {
    return { ...rest, next: 'ROLLBACK', decision: { ...aborted, reasons: [...aborted.reasons, `it had halted at ${stageText} at ${h.since}: ${h.decision.reasons[0] ?? 'a check failed'}`] } };
  }
  const promoted = await promotionFrom(state, record, deps, now);
  if (promoted) return promoted;
  const resume = record?.resumeRequested;
  if (resume && resume.at >= h.since) return resumeFromHalt(state, h, record!, deps, now);
  if (now.getTime() >= Date.parse(h.deadline)) {
    return {
      ...rest, next: 'ROLLBACK',
      decision: {
        ...h.decision, trigger: 'HALT_TIMEOUT', at: iso(now),
        reasons: [`halted at ${stageText} since ${h.since} and no person answered within ${HALT_MAX_SECONDS / 86_400} d (canary abort, promote --full or resume): rolled back`, ...h.decision.reasons],
      },
    };
  }
  return { ...state, next: 'HALTED', wait: { until: iso(new Date(Math.min(now.getTime() + HALT_POLL_SECONDS * 1000, Date.parse(h.deadline)))) } };
}

async function enterHalt(state: RolloutState, h: NonNullable<RolloutState['halt']>, record: RolloutRecord | null, deps: Deps, now: Date): Promise<RolloutState> {
  const decision: Decision = state.decision ?? {
    outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [], reasons: ['a check failed'],
  };
  // The decision's time, not this step's: a retried step finds its own halt recorded.
  const since = decision.at;
  const deadline = iso(addSeconds(new Date(since), HALT_MAX_SECONDS));
  const halted = {
    at: since, deadline, stageIndex: state.stageIndex, weight: state.weight, trigger: decision.trigger ?? 'VERDICT',
    reasons: decision.reasons.slice(0, 10).map((r) => r.slice(0, 500)),
  };
  if (record?.halted?.at !== since) {
    await deps.rollouts.update(state.rolloutId, { status: 'HALTED', halted, resumeRequested: undefined, pendingApproval: undefined, updatedAt: iso(now) },
      [{ type: 'HALTED', ...halted, at: iso(now) }], { token: state.token });
    deps.log.error('halted (onFailure: halt): the weights are frozen until a person decides', { reasons: decision.reasons, deadline });
    deps.decisionMetrics?.record('RolloutHalted', 1);
  }
  if (!(record?.incident && record.incident.openedAt >= since)) {
    const incident = haltIncident({
      rolloutId: state.rolloutId, service: state.config.name, target: targetKey(state.config.target), decision, deadline,
      consoleLink: state.executionArn && deps.consoleLink ? deps.consoleLink(state.executionArn) : undefined,
      evidenceLink: deps.evidence?.locationOf?.(state.rolloutId), reportCommand: deps.reportCommand?.(state.rolloutId),
    });
    const deliveries = await deps.incidents.open(incident, state.config.incident);
    const failed = deliveries.filter((d) => !d.ok);
    if (failed.length) deps.log.error('incident delivery failed on some targets', { failed });
    const at = iso(deps.clock.now());
    await deps.rollouts.update(state.rolloutId, { incident: { dedupKey: incident.dedupKey, openedAt: at, deliveries } }, [{ type: 'INCIDENT', at, deliveries }]);
  }
  await snapshotRecord(state.rolloutId, deps, 'at the halt');
  const { decision: _held, ...rest } = state;
  return {
    ...rest, next: 'HALTED', halt: { ...h, since, deadline, decision }, haltCount: h.count, haltIncident: 'OPEN',
    wait: { until: iso(addSeconds(now, HALT_POLL_SECONDS)) },
  };
}

/**
 * `canary resume` of a halted rollout: RUNNING again, the incident resolved, and the stage judged
 * again from now at the frozen weight (a fresh analysis, with half the previous share of the
 * false-rollback level for each halt, so the resumes together spend at most one more share), or
 * the shift asked again (its manual gate or beforeShift gates).
 */
async function resumeFromHalt(state: RolloutState, h: NonNullable<RolloutState['halt']>, record: RolloutRecord, deps: Deps, now: Date): Promise<RolloutState> {
  const asked = record.resumeRequested!;
  const at = iso(now);
  const stageText = `stage ${state.stageIndex + 1} (canary ${state.weight} %)`;
  if (record.status === 'HALTED') {
    await deps.rollouts.update(state.rolloutId, { status: 'RUNNING', halted: undefined, updatedAt: at }, [{
      type: 'RESUMED', at, stageIndex: state.stageIndex, weight: state.weight, by: asked.by, ...(asked.reason ? { reason: asked.reason } : {}), fromHalt: true,
    }], { token: state.token });
  }
  if (state.haltIncident === 'OPEN') {
    await resolveHaltIncident(state, record, deps, now, `${asked.by} resumed the halted rollout${asked.reason ? ` (${asked.reason})` : ''}: ${h.resume === 'ANALYZE' ? `${stageText} is judged again from ${at}` : `the shift to stage ${state.stageIndex + 1} is asked again`}.`);
  }
  deps.log.warn('resumed after a halt', { by: asked.by, resume: h.resume });
  const { halt: _done, pause: _p, decision: _d, ...rest } = state;
  const base: RolloutState = { ...rest, haltIncident: state.haltIncident === 'OPEN' ? 'RESOLVED' : state.haltIncident };
  if (h.resume === 'SHIFT') {
    const { approvalDeadline: _a, gateWait: _g, analysis: _an, ...again } = base;
    return { ...again, next: 'SHIFT' };
  }
  const { analysis, hotfix } = startAnalysis(base, state.stageIndex, now);
  const traffic = base.traffic ? (({ starvedSince: _s, ...t }) => t)(base.traffic) : undefined;
  const synced: RolloutState = { ...base, analysisStart: at, pausedSeconds: 0, ...(hotfix ? { hotfix } : {}), ...(traffic ? { traffic } : {}) };
  const firstCheck = addSeconds(state.config.checkDuringBake ? earliestCheckAt(state.config, now) : countedChecksFrom(synced, now), checkPhaseSeconds(state.rolloutId));
  return {
    ...synced, next: 'ANALYZE', analysis: { ...analysis, alpha: analysis.alpha / 2 ** h.count },
    nextCheckAt: iso(firstCheck), wait: cappedWait(now, firstCheck),
  };
}

/** The halt's incident answered (resumed, promoted): RESOLVED on every target that supports it, noted in the record. */
async function resolveHaltIncident(state: RolloutState, record: RolloutRecord | null, deps: Deps, now: Date, note: string): Promise<void> {
  const decision = state.halt?.decision ?? record?.decision ?? {
    outcome: 'ROLLED_BACK' as const, at: iso(now), stageIndex: state.stageIndex, weight: state.weight, failing: [], reasons: [note],
  };
  const incident = haltIncident({
    rolloutId: state.rolloutId, service: state.config.name, target: targetKey(state.config.target), decision, deadline: state.halt?.deadline ?? iso(now),
  });
  const deliveries = await deps.incidents.update(incident, state.config.incident, { kind: 'RESOLVED', at: iso(now), note }, record?.incident?.deliveries ?? []);
  const failed = deliveries.filter((d) => !d.ok);
  if (failed.length) deps.log.error('incident RESOLVED update failed on some targets', { failed });
  await deps.rollouts.update(state.rolloutId, { updatedAt: iso(now) }, [{ type: 'NOTE', at: iso(now), message: `incident resolved: ${note}` }]);
}

/**
 * The recovery watch after a rollback (recovery.ts), on the metrics that act: a dry-run metric's
 * baseline neither holds back RECOVERED nor escalates.
 */
export async function watchRecovery(state: RolloutState, deps: Deps): Promise<RolloutState> {
  const acting = state.config.metrics.filter((m) => !m.dryRun);
  if (acting.length === state.config.metrics.length || acting.length === 0) return verifyRecovery(state, deps);
  const out = await verifyRecovery({ ...state, config: { ...state.config, metrics: acting } }, deps);
  return { ...out, config: state.config };
}

type StepFunction = (state: never, deps: Deps) => Promise<unknown>;

/**
 * Counts a segment's steps: past SEGMENT_MAX_STEPS (or SEGMENT_MAX_SECONDS) the segment hands over
 * to the next one at its next loop, so no execution nears Step Functions' 25,000 history events.
 */
export function countedStep<S extends { segment?: SegmentProgress }>(step: (state: S, deps: Deps) => Promise<S>) {
  return async (state: S, deps: Deps): Promise<S> => {
    const out = await step(state, deps);
    const seg = out.segment ?? state.segment ?? { no: 0, iterations: 0, handOver: false };
    const now = deps.clock.now();
    const startedAt = seg.startedAt ?? iso(now);
    const iterations = seg.iterations + 1;
    const handOver = iterations >= SEGMENT_MAX_STEPS || now.getTime() - Date.parse(startedAt) >= SEGMENT_MAX_SECONDS * 1000;
    return { ...out, segment: { ...seg, iterations, startedAt, handOver } };
  };
}

/**
 * Each step by the name of the function the state machines call it through (its
 * `DefinitionSubstitutions` key), for running the ASL locally with the same steps.
 */
export const STEPS_BY_FUNCTION: Record<string, StepFunction> = {
  PreflightFunctionArn: preflight as StepFunction,
  ShiftTrafficFunctionArn: countedStep(shiftTraffic) as StepFunction,
  CheckApprovalFunctionArn: countedStep(checkApproval) as StepFunction,
  CheckSyncFunctionArn: countedStep(checkSync) as StepFunction,
  AnalyzeFunctionArn: countedStep(analyze) as StepFunction,
  RollbackFunctionArn: countedStep(rollback) as StepFunction,
  ConcludeFunctionArn: countedStep(conclude) as StepFunction,
  VerifyRecoveryFunctionArn: countedStep(watchRecovery) as StepFunction,
};

