/**
 * The analysis of a stage, check by check, with the sequential judge (sequential-judge.ts):
 * each check consumes only the periods completed since the last one, carries a small state
 * (a few KB per metric, whatever the stage length), and costs the same at hour 40 as at minute 5.
 * Pure and JSON-serialisable; no AWS imports. The analyze step calls, per check:
 *
 *   const range = periodsToFetch(state, now, config.analysisPeriodSeconds);   // null: nothing new
 *   const window = range ? await metrics.fetchWindow(config.metrics, { ...range, periodSeconds }) : emptyWindow;
 *   const { action, judgement, reasons, state: next } = analyzeCheck({ config, stageIndex, weight, now, bakeEnd, mode, state, window });
 *
 * The guarantee. The chance that a healthy canary is ever rolled back by the judge during the
 * whole rollout is at most `judge.falseRollbackRate` (α, default 1 %), for any stage length and
 * any check interval: every detector is an e-detector whose alarm level holds for every period
 * of a stage of any length (sequential-stats.ts), and the level is spent by a union bound:
 *   - K = the stages with a weight strictly between 0 and 100 (the 100 % stage is not judged);
 *     each gets α / K: half for the stage itself, half for the holds at its weight (a manual gate
 *     waiting, a pause), the h-th hold (0-based) getting α / (2K) / 2^(h+1);
 *   - within a stage (or hold), each of the M metrics gets an equal share, split equally among
 *     its detectors (a threshold side, the baseline comparison, a gauge's trend per side).
 * How often the stage is checked does not matter: the detectors see every period once, and the
 * checks only read them. Spending the level this way costs little: the alarm level is a log,
 * so halving a share adds 0.7 nats to about 13-17.
 * What is not covered: a rollback for lack of data (no data is never a pass: `inconclusiveLimit`,
 * `maxBakeExtensionSeconds`); the trend (leak) detector's level rests on its AR(1) noise model.
 *
 * The decision (decision.ts, decideSequentialCheck): an alarm is a FAIL (critical metric: roll
 * back at once; others count against `failureLimit`); after the bake a stage advances on
 * `checks` passing checks, where a metric passes when no detector is alarmed or half-way there,
 * the stage has the data the window judge needs (`minDatapoints`, `minDenominator`), and the
 * recent window (the last hour, or the stage so far when shorter) passes the window judge
 * (statistical-judge.ts: a confident statement that the canary is within its limits now); for a
 * ratio the stage's pooled counts carry that statement (a quiet service accumulates events), and
 * the recent window must not show a breach. Anything short of that is INCONCLUSIVE with its
 * cause, extends the bake (`maxBakeExtensionSeconds`), then rolls back saying which cause it was.
 *
 * What the existing limits mean now:
 *   - failureLimit: checks with an alarm a stage tolerates (an alarm is already confirmed, so the
 *     default 0 rolls back on the first);
 *   - inconclusiveLimit: checks after the bake (or in a hold) with no canary data since the stage
 *     started, for some metric;
 *   - maxBakeExtensionSeconds: how long after the bake a stage may wait for a pass;
 *   - checksPerStage / stage.checks: passing checks after the bake before advancing.
 */
import type { JudgeMetric, RolloutConfig } from './config.ts';
import { decideSequentialCheck, type StageAction, type StageCounters } from './decision.ts';
import {
  asDryRun, combineVerdicts, formatValue, isRatioSeries,
  type Judgement, type MetricData, type MetricVerdict, type MetricWindow, type Series,
} from './judge.ts';
import {
  detectorCount, newMetricState, readDetectors, SEQUENTIAL_DEFAULTS, stepMetric,
  type DetectorBudget, type DetectorReading, type PeriodData, type SeqMetricState, type TimeAxis,
} from './sequential-judge.ts';
import { JUDGE_DEFAULTS, judgeMetricStatistically } from './statistical-judge.ts';
import { clopperPearsonBounds, twoProportionTest } from './stats.ts';

/** How long after a period ends CloudWatch has its datapoints aggregated. */
export const PUBLISH_DELAY_SECONDS = 60;
/** At most this many periods per check (a day of minutes): a late check catches up over several. */
export const MAX_PERIODS_PER_CHECK = 1440;
/** The default of `judge.falseRollbackRate`. */
export const DEFAULT_FALSE_ROLLBACK_RATE = 0.01;

export interface StageAnalysisOptions {
  /** 'hold': the weight of `stageIndex` is held (a manual gate waiting, a pause). Default 'stage'. */
  mode?: 'stage' | 'hold';
  /** The how-manieth hold at this stage's weight (0-based): its share of the level halves each time. */
  holdNumber?: number;
}

export interface StageAnalysisState {
  version: 1;
  stageIndex: number;
  mode: 'stage' | 'hold';
  holdNumber: number;
  /** INSYNC + one TTL: when clients had moved. */
  analysisStart: string;
  periodSeconds: number;
  /** Start of the stage's first whole period (period index 0). */
  firstPeriodStart: string;
  /** Periods consumed so far: the next check starts at firstPeriodStart + periods × periodSeconds. */
  periods: number;
  /** This segment's share of the false-rollback level, and its planned length in periods. */
  alpha: number;
  horizonPeriods: number;
  counters: StageCounters;
  checks: number;
  metrics: Record<string, SeqMetricState>;
}

/** Input that does not fit the state (another period, another stage): a bug of the caller's. */
export class StageAnalysisInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StageAnalysisInputError';
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A deep copy of plain JSON data (several times quicker than structuredClone on the state). */
function clonePlain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clonePlain) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = clonePlain(v);
    return out as T;
  }
  return value;
}

/** The stages the judge analyses: weights strictly between 0 and 100. */
function analysedStages(config: RolloutConfig): number {
  return Math.max(1, config.stages.filter((s) => s.weight > 0 && s.weight < 100).length);
}

/** This segment's share of the rollout's false-rollback level (see the top of this file). */
export function segmentAlpha(config: RolloutConfig, mode: 'stage' | 'hold', holdNumber = 0): number {
  const total = config.judge?.falseRollbackRate ?? DEFAULT_FALSE_ROLLBACK_RATE;
  const perStage = total / analysedStages(config);
  return mode === 'stage' ? perStage / 2 : perStage / 2 / 2 ** (holdNumber + 1);
}

/** The planned length of a stage (bake, extension, counted checks) or a hold (the approval timeout), in periods. */
function plannedPeriods(config: RolloutConfig, stageIndex: number, mode: 'stage' | 'hold'): number {
  const stage = config.stages[stageIndex];
  const seconds = mode === 'hold'
    ? config.approvalTimeoutSeconds
    : (stage?.bakeSeconds ?? config.bakeSeconds) + config.maxBakeExtensionSeconds + (stage?.checks ?? config.checksPerStage) * config.checkIntervalSeconds;
  return Math.max(30, Math.ceil(seconds / config.analysisPeriodSeconds) + 10);
}

/** A new stage (or the hold at a manual gate / a pause) starts being analysed at `analysisStart` (INSYNC + one TTL). */
export function startStageAnalysis(config: RolloutConfig, stageIndex: number, analysisStart: Date, options: StageAnalysisOptions = {}): StageAnalysisState {
  if (!config.stages[stageIndex]) throw new StageAnalysisInputError(`stageIndex ${stageIndex}: the rollout has ${config.stages.length} stages`);
  const mode = options.mode ?? 'stage';
  const holdNumber = Math.max(0, Math.floor(options.holdNumber ?? 0));
  const periodMs = config.analysisPeriodSeconds * 1000;
  const first = Math.ceil(analysisStart.getTime() / periodMs) * periodMs;
  const metrics: Record<string, SeqMetricState> = {};
  for (const m of config.metrics) metrics[m.name] = newMetricState(m);
  return {
    version: 1, stageIndex, mode, holdNumber,
    analysisStart: analysisStart.toISOString(), periodSeconds: config.analysisPeriodSeconds, firstPeriodStart: iso(first), periods: 0,
    alpha: segmentAlpha(config, mode, holdNumber), horizonPeriods: plannedPeriods(config, stageIndex, mode),
    counters: { passed: 0, failed: 0, inconclusive: 0, lowSample: 0 }, checks: 0, metrics,
  };
}

/** The complete periods to fetch at `now` (CloudWatch needs ~60 s after a period ends): from where the last check stopped; null when nothing new is complete. */
export function periodsToFetch(state: StageAnalysisState, now: Date, periodSeconds: number): { start: Date; end: Date } | null {
  if (periodSeconds !== state.periodSeconds) {
    throw new StageAnalysisInputError(`periodSeconds ${periodSeconds} differs from the stage's analysis period ${state.periodSeconds} s`);
  }
  const periodMs = periodSeconds * 1000;
  const start = Date.parse(state.firstPeriodStart) + state.periods * periodMs;
  const complete = Math.floor((now.getTime() - PUBLISH_DELAY_SECONDS * 1000) / periodMs) * periodMs;
  const end = Math.min(complete, start + MAX_PERIODS_PER_CHECK * periodMs);
  return end > start ? { start: new Date(start), end: new Date(end) } : null;
}

function budgetOf(state: StageAnalysisState, config: RolloutConfig, metric: JudgeMetric): DetectorBudget {
  const share = state.alpha / Math.max(1, config.metrics.length) / Math.max(1, detectorCount(metric));
  return { alpha: share, horizon: state.horizonPeriods, periodSeconds: state.periodSeconds };
}

function seriesAt(s: Series | undefined, kind: 'gauge' | 'ratio', i: number): { v?: number | null; n?: number | null; d?: number | null } {
  if (!s) return {};
  if (kind === 'ratio') return isRatioSeries(s) ? { n: s.numerator[i] ?? null, d: s.denominator[i] ?? null } : {};
  return isRatioSeries(s) ? {} : { v: s.values[i] ?? null };
}

function periodData(kind: 'gauge' | 'ratio', data: MetricData | undefined, i: number): PeriodData {
  const c = seriesAt(data?.canary, kind, i);
  const b = seriesAt(data?.baseline, kind, i);
  return kind === 'ratio' ? { cn: c.n, cd: c.d, bn: b.n, bd: b.d } : { c: c.v, b: b.v };
}

function timeAxis(state: StageAnalysisState): TimeAxis {
  const first = Date.parse(state.firstPeriodStart);
  const periodMs = state.periodSeconds * 1000;
  return {
    startOf: (index) => iso(first + index * periodMs),
    endOf: (index) => iso(first + (index + 1) * periodMs),
    clock: (at) => `${at.slice(11, 16)} UTC`,
  };
}

/** The last periods of the ring as a window the window judge reads. */
function recentWindow(metric: JudgeMetric, s: SeqMetricState, state: StageAnalysisState): MetricWindow {
  const data: MetricData = metric.kind === 'ratio'
    ? { canary: { numerator: s.ring.cn!, denominator: s.ring.cd! }, baseline: { numerator: s.ring.bn!, denominator: s.ring.bd! } }
    : { canary: { values: s.ring.c! }, baseline: { values: s.ring.b! } };
  const length = metric.kind === 'ratio' ? s.ring.cd!.length : s.ring.c!.length;
  const start = Date.parse(state.firstPeriodStart) + (state.periods - length) * state.periodSeconds * 1000;
  return { periodSeconds: state.periodSeconds, start: iso(start), metrics: { [metric.name]: data } };
}

interface Gate {
  verdict: 'PASS' | 'INCONCLUSIVE';
  cause?: MetricVerdict['cause'];
  reason: string;
  canaryValue: number | null;
  baselineValue: number | null;
  details: Record<string, number | string | boolean | null>;
}

/** Whether the stage may pass on this metric (no alarm assumed): enough data, and within its limits now. */
function passGate(metric: JudgeMetric, s: SeqMetricState, state: StageAnalysisState, axis: TimeAxis): Gate {
  const o = {
    confidence: metric.judge?.confidence ?? JUDGE_DEFAULTS.confidence,
    minDatapoints: metric.judge?.minDatapoints ?? JUDGE_DEFAULTS.minDatapoints,
    minDenominator: metric.judge?.minDenominator ?? JUDGE_DEFAULTS.minDenominator,
  };
  const recent = judgeMetricStatistically(metric, recentWindow(metric, s, state));
  const recentMinutes = Math.round((Math.min(state.periods, SEQUENTIAL_DEFAULTS.ringPeriods) * state.periodSeconds) / 60);
  const strip = (reason: string) => reason.replace(`${metric.name}: `, '');
  if (metric.kind === 'gauge') {
    const base = { canaryValue: recent.canaryValue, baselineValue: recent.baselineValue, details: { ...recent.details } };
    if (recent.verdict === 'PASS') return { verdict: 'PASS', reason: `last ${recentMinutes} min: ${strip(recent.reason)}`, ...base };
    if (recent.verdict === 'FAIL') {
      return { verdict: 'INCONCLUSIVE', cause: 'unconfirmed', reason: `last ${recentMinutes} min: ${strip(recent.reason)}; not (yet) confirmed by the change detector`, ...base };
    }
    return { verdict: 'INCONCLUSIVE', cause: recent.cause ?? 'too-little-data', reason: `last ${recentMinutes} min: ${strip(recent.reason)}`, ...base };
  }
  // Ratio: the stage's pooled counts say whether the rate is within its limits; the recent window
  // must not show a breach (a late regression is not averaged away), and must have data.
  const t = s.totals;
  const rate = t.cd > 0 ? (100 * t.cn) / t.cd : null;
  const baselineRate = t.bd > 0 ? (100 * t.bn) / t.bd : null;
  const fmt = (v: number) => formatValue(v, 'percent');
  const since = `since ${axis.clock(state.firstPeriodStart)}`;
  const sample = `${t.cn} of ${t.cd} events in ${s.canaryPeriods} periods ${since}`;
  const base = { canaryValue: rate, baselineValue: baselineRate, details: { stageErrors: t.cn, stageEvents: t.cd, stageBaselineErrors: t.bn, stageBaselineEvents: t.bd } as Gate['details'] };
  if (recent.verdict === 'FAIL') {
    return { verdict: 'INCONCLUSIVE', cause: 'unconfirmed', reason: `last ${recentMinutes} min: ${strip(recent.reason)}; not (yet) confirmed by the change detector`, ...base };
  }
  const recentEvents = (s.ring.cd ?? []).reduce<number>((a, d) => a + (d ?? 0), 0);
  if (recentEvents === 0) {
    const last = s.lastCanaryPeriod === null ? 'never' : `last at ${axis.clock(axis.endOf(s.lastCanaryPeriod))}`;
    return { verdict: 'INCONCLUSIVE', cause: 'too-little-data', reason: `no canary events in the last ${recentMinutes} min (${last})`, ...base };
  }
  if (s.canaryPeriods < o.minDatapoints || t.cd < o.minDenominator) {
    return { verdict: 'INCONCLUSIVE', cause: 'too-little-data', reason: `too little data: ${sample}, need ${o.minDenominator} events in ${o.minDatapoints} periods`, ...base };
  }
  const cp = clopperPearsonBounds(t.cn, t.cd, o.confidence);
  const level = `${Number((o.confidence * 100).toPrecision(4))} %`;
  Object.assign(base.details, { stageUpperBoundPercent: 100 * cp.upper, stageLowerBoundPercent: 100 * cp.lower });
  const parts: string[] = [];
  const { max, min } = metric.threshold;
  if (max !== undefined && 100 * cp.upper > max) {
    const cause = rate! < max ? 'too-little-data' : 'too-much-variance';
    const more = cause === 'too-little-data' ? 'more events would settle it' : 'too close to the maximum to tell';
    return { verdict: 'INCONCLUSIVE', cause, reason: `rate ${fmt(rate!)} cannot yet be told from the maximum ${fmt(max)} (${level} upper bound ${fmt(100 * cp.upper)}; ${sample}): ${more}`, ...base };
  }
  if (min !== undefined && 100 * cp.lower < min) {
    const cause = rate! > min ? 'too-little-data' : 'too-much-variance';
    return { verdict: 'INCONCLUSIVE', cause, reason: `rate ${fmt(rate!)} cannot yet be told from the minimum ${fmt(min)} (${level} lower bound ${fmt(100 * cp.lower)}; ${sample})`, ...base };
  }
  if (max !== undefined) parts.push(`rate ${fmt(rate!)} is within the maximum ${fmt(max)} (${level} upper bound ${fmt(100 * cp.upper)}; ${sample})`);
  if (min !== undefined) parts.push(`rate ${fmt(rate!)} is within the minimum ${fmt(min)} (${level} lower bound ${fmt(100 * cp.lower)}; ${sample})`);
  if (metric.baseline) {
    if (s.baselinePeriods < o.minDatapoints || t.bd < o.minDenominator) {
      return { verdict: 'INCONCLUSIVE', cause: 'too-little-data', reason: `not enough baseline data to compare with (${t.bd} events in ${s.baselinePeriods} periods, need ${o.minDenominator} in ${o.minDatapoints})`, ...base };
    }
    const m = metric.baseline.maxIncreasePercent;
    const f = metric.baseline.minIncrease ?? 0;
    const pb = t.bn / t.bd;
    const allowed = Math.max(1 + m / 100, pb > 0 ? 1 + f / 100 / pb : 1 + m / 100);
    const test = twoProportionTest(t.cn, t.cd, t.bn, t.bd, allowed);
    if (test.pGreater < 1 - o.confidence) {
      return {
        verdict: 'INCONCLUSIVE', cause: 'unconfirmed',
        reason: `rate ${fmt(rate!)} is above ×${allowed.toFixed(2)} the baseline's ${fmt(baselineRate!)} over the stage (p = ${test.pGreater.toPrecision(2)}), not (yet) confirmed by the change detector`, ...base,
      };
    }
    parts.push(`no significant increase over the baseline's ${fmt(baselineRate!)} (allowed ×${allowed.toFixed(2)}, p = ${test.pGreater.toPrecision(2)})`);
  }
  return { verdict: 'PASS', reason: parts.join('; '), ...base };
}

function verdictOf(
  metric: JudgeMetric, s: SeqMetricState, readings: DetectorReading[], state: StageAnalysisState, axis: TimeAxis, needGate: boolean,
): MetricVerdict {
  const detectorDetails: Record<string, number> = {};
  for (const r of readings) {
    if (r.id.startsWith('trend')) continue;
    detectorDetails[`${r.id}LogEvidence`] = Number(r.logEvidence.toFixed(3));
    detectorDetails[`${r.id}LogThreshold`] = Number(r.logThreshold.toFixed(3));
  }
  const sample = metric.kind === 'ratio'
    ? { canary: s.canaryPeriods, baseline: s.baselinePeriods, canaryEvents: s.totals.cd, baselineEvents: s.totals.bd }
    : { canary: s.canaryPeriods, baseline: s.baselinePeriods };
  const base = { name: metric.name, critical: metric.critical, threshold: metric.threshold, sample };
  const alarms = readings.filter((r) => r.alarmed);
  if (alarms.length > 0) {
    const first = alarms[0]!;
    return {
      ...base, verdict: 'FAIL', test: `e-detector:${alarms.map((a) => a.id).join('+')}`,
      reason: alarms.map((a) => a.reason!).join('; ').replace(new RegExp(`; ${metric.name}: `, 'g'), '; '),
      canaryValue: first.change?.value ?? null, baselineValue: first.change?.baselineValue ?? null,
      change: first.change, details: { ...detectorDetails, alpha: budgetShare(state, metric), ...(first.details ?? {}) },
    };
  }
  if (s.canaryPeriods === 0) {
    return {
      ...base, verdict: 'INCONCLUSIVE', cause: 'no-data', test: 'data-gate', canaryValue: null, baselineValue: null,
      reason: `${metric.name}: no canary data since ${axis.clock(state.firstPeriodStart)} (${state.periods} period${state.periods === 1 ? '' : 's'})`,
      details: detectorDetails,
    };
  }
  const quiet = `no change detected since ${axis.clock(state.firstPeriodStart)}`;
  if (!needGate) {
    return {
      ...base, verdict: 'PASS', test: 'e-detector', canaryValue: null, baselineValue: null,
      reason: `${metric.name}: ${quiet}`, details: detectorDetails,
    };
  }
  const gate = passGate(metric, s, state, axis);
  const suspect = readings.filter((r) => !r.id.startsWith('trend') && r.logEvidence >= SEQUENTIAL_DEFAULTS.suspectShare * r.logThreshold);
  const details = { ...gate.details, ...detectorDetails };
  const values = { canaryValue: gate.canaryValue, baselineValue: gate.baselineValue };
  if (gate.verdict === 'PASS' && suspect.length > 0) {
    const what = suspect.map((r) => `${r.id} evidence e^${r.logEvidence.toFixed(1)} of the e^${r.logThreshold.toFixed(1)} that confirms a change`).join(', ');
    return { ...base, ...values, verdict: 'INCONCLUSIVE', cause: 'suspected-change', test: 'e-detector', reason: `${metric.name}: a change may be starting (${what}); ${gate.reason}`, details };
  }
  if (gate.verdict === 'PASS') {
    return { ...base, ...values, verdict: 'PASS', test: 'e-detector+window', reason: `${metric.name}: ${quiet}; ${gate.reason}`, details };
  }
  const cause = gate.cause ?? 'too-little-data';
  const label = cause === 'too-much-variance' ? 'too much variance to tell' : cause === 'too-little-data' ? 'too little data' : cause === 'unconfirmed' ? 'unconfirmed' : cause;
  return { ...base, ...values, verdict: 'INCONCLUSIVE', cause, test: 'window', reason: `${metric.name}: ${label}: ${gate.reason}`, details };
}

function budgetShare(state: StageAnalysisState, metric: JudgeMetric): number {
  return state.alpha / Math.max(1, Object.keys(state.metrics).length) / Math.max(1, detectorCount(metric));
}

export interface AnalyzeCheckArgs {
  config: RolloutConfig;
  stageIndex: number;
  weight: number;
  now: Date;
  /** When the stage's bake ends; before it only a confident FAIL may act (roll back), after it the stage may ADVANCE. */
  bakeEnd: Date;
  /** 'stage': normal; 'hold': the weight is held (a manual gate waiting, a pause): may ROLLBACK, never ADVANCE. */
  mode: 'stage' | 'hold';
  state: StageAnalysisState;
  /** Exactly the periods periodsToFetch returned (canary and baseline series per metric); ignored when it returned null. */
  window: MetricWindow;
  /**
   * Verdicts judged beside the metrics (verification checks, the throughput check): part of the
   * judgement the decision is made on, as a metric's would be (a critical one's FAIL rolls back).
   */
  extra?: MetricVerdict[];
}

export interface AnalyzeCheckResult {
  action: StageAction;
  judgement: Judgement;
  reasons: string[];
  state: StageAnalysisState;
  /** The periods this check consumed (null: none were complete). */
  range: { start: string; end: string } | null;
}

/** One check: consumes only the new periods, returns the action and the judgement with reasons. */
export function analyzeCheck(args: AnalyzeCheckArgs): AnalyzeCheckResult {
  const { config, now, bakeEnd, mode, window } = args;
  if (args.stageIndex !== args.state.stageIndex) {
    throw new StageAnalysisInputError(`the state analyses stage ${args.state.stageIndex}, not stage ${args.stageIndex}: start a new one with startStageAnalysis`);
  }
  // The state is the caller's (a workflow's carried input): work on a copy, so a retried step
  // sees what it saw the first time.
  const state = clonePlain(args.state);
  const range = periodsToFetch(state, now, config.analysisPeriodSeconds);
  const count = range ? Math.round((range.end.getTime() - range.start.getTime()) / (state.periodSeconds * 1000)) : 0;
  if (range && window.start !== undefined && Date.parse(window.start) !== range.start.getTime()) {
    throw new StageAnalysisInputError(`window.start ${window.start} is not the start of the periods to judge, ${range.start.toISOString()}: fetch exactly periodsToFetch's range`);
  }
  if (range && window.periodSeconds !== state.periodSeconds) {
    throw new StageAnalysisInputError(`window.periodSeconds ${window.periodSeconds} differs from the stage's analysis period ${state.periodSeconds} s`);
  }
  const first = state.periods;
  for (const metric of config.metrics) {
    const s = (state.metrics[metric.name] ??= newMetricState(metric));
    const budget = budgetOf(state, config, metric);
    const data = window.metrics[metric.name];
    for (let i = 0; i < count; i++) stepMetric(metric, s, first + i, periodData(metric.kind, data, i), budget);
  }
  state.periods += count;
  state.checks++;

  const axis = timeAxis(state);
  const duringBake = now < bakeEnd;
  const needGate = mode === 'stage' && !duringBake;
  // A check with no new period still reads the latest one (a detector above its level stays FAIL).
  const from = count > 0 ? first : Math.max(0, state.periods - 1);
  const to = Math.max(0, state.periods - 1);
  const verdicts = config.metrics.map((metric) => {
    const s = state.metrics[metric.name]!;
    const readings = state.periods === 0 ? [] : readDetectors(metric, s, from, to, budgetOf(state, config, metric), axis);
    const verdict = verdictOf(metric, s, readings, state, axis, needGate);
    return metric.dryRun ? asDryRun(verdict) : verdict;
  });
  const judgement = combineVerdicts([...verdicts, ...(args.extra ?? [])]);
  // Dry-run verdicts are recorded with the judgement and never decide anything.
  const acting: Judgement = { ...judgement, metrics: judgement.metrics.filter((m) => !m.dryRun) };
  const stage = config.stages[args.stageIndex]!;
  const outcome = decideSequentialCheck(acting, state.counters, {
    checksRequired: stage.checks, failureLimit: config.failureLimit, inconclusiveLimit: config.inconclusiveLimit,
    maxExtensionSeconds: config.maxBakeExtensionSeconds, extendedSeconds: Math.max(0, (now.getTime() - bakeEnd.getTime()) / 1000),
    duringBake, mode,
  });
  state.counters = outcome.counters;
  return {
    action: outcome.action, judgement, reasons: outcome.reasons, state,
    range: range ? { start: range.start.toISOString(), end: range.end.toISOString() } : null,
  };
}

/** An empty window for a check where periodsToFetch returned null. */
export function emptyWindow(state: StageAnalysisState): MetricWindow {
  return { periodSeconds: state.periodSeconds, metrics: {} };
}
