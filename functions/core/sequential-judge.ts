/**
 * The sequential judge of one metric: period by period, e-detectors look for a change that puts
 * the canary beyond a limit (a threshold, the allowance over the baseline, a leak's projected
 * crossing); between checks it carries a small state (a few KB, whatever the stage length).
 * Pure; stage-analysis.ts drives it (what a check consumes, the stage's decision).
 *
 * Detectors, each an e-detector (sequential-stats.ts) whose null hypothesis is "healthy at every
 * period": under it, the chance it ever alarms in a stage is at most its share of the level.
 *
 * Ratio metrics (5xx / requests), per period x of n (an absent x beside a present n is 0):
 * - `max` (and mirrored `min`): binomial likelihood ratios of p1 against p0 = threshold, for p1 on
 *   a grid of odds ratios (×1.5 … ×30); valid for every p ≤ p0, so a canary at or under its limit
 *   cannot build evidence however long it runs. Errors come in clusters (a client retrying), so
 *   the ratio is tempered by the baseline's over-dispersion φ (a robust Pearson dispersion,
 *   1 ≤ φ ≤ 4): LR^{1/φ} is valid for clusters of size φ (compound Poisson).
 * - `baseline` (maxIncreasePercent m, minIncrease f): conditional on the period's errors of both
 *   versions, the canary's share is binomial with π = θ n_c / (θ n_c + n_b) when the canary's
 *   rate is θ times the baseline's (Lindon & Malek's multinomial counts, two cells); the null is
 *   θ ≤ θ0 = max(1 + m/100, 1 + f / baseline rate), the baseline rate taken from periods before.
 *
 * Gauge metrics (memory, latency…), per period v (timings in logs, where spikes are symmetric):
 * - `max` / `min`: z = (v - threshold) / σ, σ the period-to-period noise estimated robustly from
 *   the periods before (differenceScale, the larger of the canary's and the baseline's, never
 *   below half the series' resolution); sub-Gaussian e-values exp(λ z - λ²/2), λ on a grid,
 *   z capped at 4 (one spike is at most 4 σ of evidence). The null: the canary's level, given the
 *   past, is at or under the threshold: a canary that IS above it now is caught, not averaged.
 * - `baseline`: the same on the paired difference of the period (canary - baseline, in logs for
 *   timings) minus the allowance max(m % of the baseline, f): a shift both versions share (a
 *   diurnal peak, a dependency's latency spike) cancels in the pair.
 * - `trend-max` / `trend-min` (leaks): the Theil-Sen line over the last hour, the last 8 hours
 *   (10-minute means) and the last 48 hours (hourly means), with bounds on its slope from the
 *   residuals' robust spread and autocorrelation (slopeBounds); FAIL when even the slope's lower
 *   bound, from the fitted level now, crosses the threshold within trendHorizonSeconds. Each look
 *   is a test at a level from a union bound over the stage's looks (perLookLevel).
 *
 * What each guarantee rests on. Ratio detectors: the binomial model of the counts, tempered for
 * clusters (Ville's and Doob's inequalities do the rest, for any stage length). Gauge level and
 * baseline detectors: noise that, given the past, is sub-Gaussian at the estimated scale (the
 * scale is inflated by 1 + 1/√pairs for the error of its estimate, and z is capped). The trend
 * detector: an AR(1) model of the residuals about the line. The Monte-Carlo tests in
 * test/core/sequential-judge.test.ts measure the rate at the limit itself.
 *
 * A single period never carries an alarm: the evidence one period may add is capped at half the
 * alarm level (ratios) or a quarter (gauges), so a one-minute blip of errors or a short latency
 * spike never rolls a canary back on its own (capping an e-value lowers it: still valid).
 */
import type { JudgeMetric } from './config.ts';
import { formatValue, type DetectedChange } from './judge.ts';
import {
  betaMixtureBounds, binomialLogLR, differenceScale, gaussianLogE, leadingAlternative, normalMixtureRadius, logAlarmThreshold, mixtureLog, newEDetector,
  perLookLevel, smallQuantile, updateEDetector, type EDetectorState,
} from './sequential-stats.ts';
import { ar1VarianceInflation, normalQuantile, robustLag1Autocorrelation, robustSpread, theilSen } from './stats.ts';

/** Tuning of the sequential judge (see the comment at the top of this file and stage-analysis.ts). */
export const SEQUENTIAL_DEFAULTS = Object.freeze({
  /** Periods kept per series for the recent window (the pass gate, the noise estimates, the hourly trend). */
  ringPeriods: 60,
  /** Nuisance estimates (noise, dispersion, baseline level) are refreshed every this many periods (every period for the first 20). */
  refreshEvery: 5,
  /** A gauge detector starts once this many periods have given it a noise estimate. */
  warmupPeriods: 5,
  /** Largest standardised value one gauge period counts for. */
  zCap: 4,
  /** Share of the alarm level one period may add: ratios, gauges. */
  ratioPeriodShare: 1 / 2,
  gaugePeriodShare: 1 / 4,
  /** Above this share of its alarm level a detector holds the stage back (a suspected change). */
  suspectShare: 1 / 2,
  ratioGrid: [1.5, 2, 3, 5, 10, 30] as readonly number[],
  baselineGrid: [1.5, 2, 4, 10, 30] as readonly number[],
  gaussianGrid: [0.5, 1, 2, 3] as readonly number[],
  /** Upper bound on the over-dispersion φ a ratio's likelihood ratios are tempered by. */
  maxDispersion: 4,
});

export type DetectorId = 'max' | 'min' | 'baseline';
export type TrendSide = 'trend-max' | 'trend-min';

/** A snapshot of an alarm: what the explanation needs. */
export interface AlarmSnapshot {
  /** Period index (from the stage's first period) of the first crossing of this alarm episode. */
  firstAt: number;
  /** Latest period index at which the statistic was at or above the alarm level. */
  lastAt: number;
  logEvidence: number;
  logThreshold: number;
  /** The change-point estimate (period index) and the sufficient statistics since it. */
  since: number;
  sums: number[];
  /** The nuisance values the data were standardised with. */
  scale: number;
  allowance: number;
}

export interface DetectorRecord {
  e: EDetectorState;
  alarm: AlarmSnapshot | null;
}

export interface TrendScaleState {
  /** Means of `every` periods each (null where none had data), oldest first. */
  points: (number | null)[];
  /** The bucket being filled. */
  sum: number;
  count: number;
  filled: number;
}

export interface TrendAlarm {
  side: TrendSide;
  scale: number;
  /** Period index of the look that found it, and of the first look of the episode. */
  firstAt: number;
  lastAt: number;
  slopePerSecond: number;
  slopeBound: number;
  endLevel: number;
  secondsToCross: number;
  points: number;
  spanSeconds: number;
  level: number;
}

export interface TrendState {
  looks: number;
  scales: TrendScaleState[];
  /** Active alarms by side (the latest look of each side that failed). */
  alarm: Partial<Record<TrendSide, TrendAlarm>>;
  /** The latest look's finding per side, even when not an alarm (for the explanation). */
  lastLook?: { side: TrendSide; scale: number; slopePerSecond: number; lower: number; upper: number; secondsAtSlope: number | null } | null;
}

export interface Nuisance {
  /** Noise of the gauge level (in transformed units), of the paired difference, the baseline's level. */
  sigma: number;
  sigmaPair: number;
  baselineLevel: number | null;
  /** Ratio metrics: the baseline's rate (fraction) and the over-dispersion of the counts. */
  baselineRate: number | null;
  dispersion: number;
  /** Periods the estimates came from. */
  pairs: number;
}

export interface SeqMetricState {
  kind: 'gauge' | 'ratio';
  canaryPeriods: number;
  baselinePeriods: number;
  firstCanaryPeriod: number | null;
  lastCanaryPeriod: number | null;
  /** Ratio totals since the stage start: canary and baseline numerators and denominators. */
  totals: { cn: number; cd: number; bn: number; bd: number };
  /** The last ringPeriods periods: gauges use c and b, ratios cn/cd/bn/bd. */
  ring: Record<string, (number | null)[]>;
  nuisance: Nuisance;
  detectors: Partial<Record<DetectorId, DetectorRecord>>;
  trend?: TrendState;
}

/** What a metric's detectors are given, for its alarm levels. */
export interface DetectorBudget {
  /** Level share of each detector of this metric. */
  alpha: number;
  /** Planned horizon of the stage in periods. */
  horizon: number;
  periodSeconds: number;
}

const TREND_SCALES: readonly { every: number; ring: number; minPoints: number; lookEvery: number }[] = [
  { every: 1, ring: 60, minPoints: 15, lookEvery: 5 },
  { every: 10, ring: 48, minPoints: 12, lookEvery: 1 },
  { every: 60, ring: 48, minPoints: 12, lookEvery: 1 },
];

/** Looks the trend detector makes per planned horizon (its per-look level divides by this). */
export function trendLooksPerHorizon(horizon: number): number {
  return TREND_SCALES.reduce((n, s) => n + Math.ceil(horizon / (s.every * s.lookEvery)), 0);
}

/** How many detectors a metric runs: the shares of its level. */
export function detectorCount(metric: JudgeMetric): number {
  const sides = (metric.threshold.max !== undefined ? 1 : 0) + (metric.threshold.min !== undefined ? 1 : 0);
  return (metric.kind === 'gauge' ? 2 * sides : sides) + (metric.baseline ? 1 : 0);
}

const isTiming = (metric: JudgeMetric) => metric.kind === 'gauge' && (metric.unit === 'seconds' || metric.unit === 'milliseconds');

/** The scale the gauge detectors work in: logs for timings (skewed, multiplicative), raw otherwise. */
function transform(metric: JudgeMetric, v: number): number {
  return isTiming(metric) ? Math.log(Math.max(v, 1e-9)) : v;
}

function untransform(metric: JudgeMetric, v: number): number {
  return isTiming(metric) ? Math.exp(v) : v;
}

export function newMetricState(metric: JudgeMetric): SeqMetricState {
  const ring: Record<string, (number | null)[]> = metric.kind === 'ratio' ? { cn: [], cd: [], bn: [], bd: [] } : { c: [], b: [] };
  const detectors: Partial<Record<DetectorId, DetectorRecord>> = {};
  const grid = metric.kind === 'ratio' ? SEQUENTIAL_DEFAULTS.ratioGrid.length : SEQUENTIAL_DEFAULTS.gaussianGrid.length;
  const sums = metric.kind === 'ratio' ? 2 : 3;
  if (metric.threshold.max !== undefined) detectors.max = { e: newEDetector(grid, sums), alarm: null };
  if (metric.threshold.min !== undefined) detectors.min = { e: newEDetector(grid, sums), alarm: null };
  if (metric.baseline) {
    detectors.baseline = metric.kind === 'ratio'
      ? { e: newEDetector(SEQUENTIAL_DEFAULTS.baselineGrid.length, 4), alarm: null }
      : { e: newEDetector(grid, 4), alarm: null };
  }
  const state: SeqMetricState = {
    kind: metric.kind, canaryPeriods: 0, baselinePeriods: 0, firstCanaryPeriod: null, lastCanaryPeriod: null,
    totals: { cn: 0, cd: 0, bn: 0, bd: 0 }, ring, detectors,
    nuisance: { sigma: 0, sigmaPair: 0, baselineLevel: null, baselineRate: null, dispersion: 1, pairs: 0 },
  };
  if (metric.kind === 'gauge' && (metric.threshold.max !== undefined || metric.threshold.min !== undefined)) {
    state.trend = { looks: 0, scales: TREND_SCALES.slice(1).map(() => ({ points: [], sum: 0, count: 0, filled: 0 })), alarm: {}, lastLook: null };
  }
  return state;
}

const finiteOrNull = (v: number | null | undefined): number | null => (v === null || v === undefined || !Number.isFinite(v) ? null : v);

function push(ring: (number | null)[], v: number | null, size: number): void {
  ring.push(v);
  if (ring.length > size) ring.shift();
}

// ---------------------------------------------------------------------------------------------
// Nuisance estimates (from periods before the one being judged: predictable)
// ---------------------------------------------------------------------------------------------

/** The paired difference a gauge's baseline comparison judges, minus its allowance, and the allowance. */
function pairExcess(metric: JudgeMetric, c: number, b: number): { y: number; allowance: number } {
  const m = (metric.baseline?.maxIncreasePercent ?? 0) / 100;
  const f = metric.baseline?.minIncrease ?? 0;
  if (isTiming(metric)) {
    const bb = Math.max(b, 1e-9);
    const allowance = Math.log1p(Math.max(m, f / bb));
    return { y: Math.log(Math.max(c, 1e-9)) - Math.log(bb) - allowance, allowance };
  }
  const allowance = Math.max(Math.abs(b) * m, f);
  return { y: c - b - allowance, allowance };
}

function refreshGaugeNuisance(metric: JudgeMetric, s: SeqMetricState): void {
  const c = s.ring.c!;
  const b = s.ring.b!;
  const tc = c.map((v) => (v === null ? null : transform(metric, v)));
  const tb = b.map((v) => (v === null ? null : transform(metric, v)));
  const sc = differenceScale(tc);
  const sb = differenceScale(tb);
  const inflate = (x: { sigma: number; pairs: number }) => (x.pairs > 0 ? x.sigma * (1 + 1 / Math.sqrt(x.pairs)) : 0);
  const presentC = tc.filter((v): v is number => v !== null);
  const level = presentC.length ? Math.abs(smallQuantile(presentC, 0.5)) : 0;
  // Floors: half the resolution of a quantised series, and a hair of the level (a flat series
  // is not infinitely precise: CloudWatch rounds).
  const relative = isTiming(metric) ? 0.005 : 1e-3 * Math.max(level, Math.abs(metric.threshold.max ?? metric.threshold.min ?? 0), 1e-9);
  s.nuisance.sigma = Math.max(inflate(sc), inflate(sb), sc.step / 2, relative);
  s.nuisance.pairs = sc.pairs;
  const presentB = b.filter((v): v is number => v !== null);
  s.nuisance.baselineLevel = presentB.length ? smallQuantile(presentB, 0.5) : null;
  if (metric.baseline) {
    const ys = c.map((cv, i) => {
      const bv = b[i];
      return cv === null || bv === null || bv === undefined ? null : pairExcess(metric, cv, bv).y;
    });
    const sp = differenceScale(ys);
    s.nuisance.sigmaPair = Math.max(inflate(sp), sp.step / 2, Math.max(sc.step, sb.step) / 2, relative);
  }
}

function refreshRatioNuisance(s: SeqMetricState): void {
  const bn = s.ring.bn!;
  const bd = s.ring.bd!;
  let x = 0;
  let n = 0;
  for (let i = 0; i < bd.length; i++) {
    const d = bd[i];
    if (d === null || d === undefined || !(d > 0)) continue;
    n += d;
    x += bn[i] ?? 0;
  }
  s.nuisance.baselineRate = n > 0 ? (x + 0.5) / (n + 1) : null;
  // Over-dispersion: the trimmed mean of squared Pearson residuals of the baseline's periods
  // about its own rate over the ring (the top tenth dropped, so one burst does not set it).
  const p = s.nuisance.baselineRate;
  if (p === null || n === 0) return;
  const r2: number[] = [];
  for (let i = 0; i < bd.length; i++) {
    const d = bd[i];
    if (d === null || d === undefined || !(d > 0)) continue;
    const e = d * p;
    if (e < 1) continue; // too few expected errors for a residual to mean anything
    r2.push(((bn[i] ?? 0) - e) ** 2 / (e * (1 - p)));
  }
  if (r2.length < 5) return;
  r2.sort((a, b2) => a - b2);
  const kept = r2.slice(0, Math.max(1, Math.floor(r2.length * 0.9)));
  // The trimmed mean of a χ²₁ at 90 % is 0.66 of its mean: rescale so Poisson counts give 1.
  const dispersion = kept.reduce((a, b2) => a + b2, 0) / kept.length / 0.66;
  s.nuisance.dispersion = Math.min(SEQUENTIAL_DEFAULTS.maxDispersion, Math.max(1, dispersion));
}

// ---------------------------------------------------------------------------------------------
// One period
// ---------------------------------------------------------------------------------------------

/** Odds-ratio alternatives of a rate p0: above it for a maximum, below for a minimum. */
function oddsShift(p0: number, ratio: number): number {
  const odds = (p0 / (1 - p0)) * ratio;
  return odds / (1 + odds);
}

function recordAlarm(d: DetectorRecord, index: number, logE: number, logA: number, scale: number, allowance: number): void {
  const g = leadingAlternative(d.e);
  const episode = d.alarm && d.alarm.lastAt === index - 1 ? d.alarm.firstAt : index;
  d.alarm = {
    firstAt: episode, lastAt: index, logEvidence: logE, logThreshold: logA,
    since: d.e.runStart[g]!, sums: [...d.e.since[g]!], scale, allowance,
  };
}

function feed(d: DetectorRecord, logL: number[], stats: number[], index: number, budget: DetectorBudget, capShare: number, scale: number, allowance: number): void {
  const logA = logAlarmThreshold(d.e.updates + 1, budget.horizon, budget.alpha);
  const cap = capShare * logA;
  for (let g = 0; g < logL.length; g++) logL[g] = Math.min(cap, logL[g]!);
  updateEDetector(d.e, logL, stats, index);
  const logE = mixtureLog(d.e);
  if (logE >= logA) recordAlarm(d, index, logE, logA, scale, allowance);
}

export interface PeriodData {
  /** Gauge values, or ratio numerators / denominators; null where the period has no datapoint. */
  c?: number | null;
  b?: number | null;
  cn?: number | null;
  cd?: number | null;
  bn?: number | null;
  bd?: number | null;
}

/** Consumes one period (index counted from the stage's first period). In place. */
export function stepMetric(metric: JudgeMetric, s: SeqMetricState, index: number, data: PeriodData, budget: DetectorBudget): void {
  const D = SEQUENTIAL_DEFAULTS;
  // Early in a stage every period improves the estimates a lot: refresh at each one.
  if (index < D.ringPeriods / 3 || index % D.refreshEvery === 0) {
    if (metric.kind === 'ratio') refreshRatioNuisance(s); else refreshGaugeNuisance(metric, s);
  }
  if (metric.kind === 'ratio') stepRatio(metric, s, index, data, budget);
  else stepGauge(metric, s, index, data, budget);
}

function stepRatio(metric: JudgeMetric, s: SeqMetricState, index: number, data: PeriodData, budget: DetectorBudget): void {
  const D = SEQUENTIAL_DEFAULTS;
  const cd = finiteOrNull(data.cd);
  const bd = finiteOrNull(data.bd);
  // An absent numerator beside a present denominator is zero (ALB publishes counts only when non-zero).
  const cn = cd === null ? null : Math.min(cd, Math.max(0, finiteOrNull(data.cn) ?? 0));
  const bn = bd === null ? null : Math.min(bd, Math.max(0, finiteOrNull(data.bn) ?? 0));
  push(s.ring.cn!, cn, D.ringPeriods);
  push(s.ring.cd!, cd, D.ringPeriods);
  push(s.ring.bn!, bn, D.ringPeriods);
  push(s.ring.bd!, bd, D.ringPeriods);
  if (cd !== null) {
    s.canaryPeriods++;
    s.firstCanaryPeriod ??= index;
    s.lastCanaryPeriod = index;
    s.totals.cn += cn!;
    s.totals.cd += cd;
  }
  if (bd !== null) {
    s.baselinePeriods++;
    s.totals.bn += bn!;
    s.totals.bd += bd;
  }
  const phi = s.nuisance.dispersion;
  if (cd !== null && cd > 0) {
    const x = cn!;
    for (const side of ['max', 'min'] as const) {
      const d = s.detectors[side];
      const limit = metric.threshold[side];
      if (!d || limit === undefined) continue;
      const p0 = Math.min(1 - 1e-9, Math.max(1e-9, limit / 100));
      const logL = D.ratioGrid.map((r) => binomialLogLR(x, cd, oddsShift(p0, side === 'max' ? r : 1 / r), p0) / phi);
      feed(d, logL, [x, cd], index, budget, D.ratioPeriodShare, phi, p0);
    }
  }
  const d = s.detectors.baseline;
  if (d && metric.baseline && cd !== null && cd > 0 && bd !== null && bd > 0) {
    const xc = cn!;
    const xb = bn!;
    const m = metric.baseline.maxIncreasePercent / 100;
    const f = (metric.baseline.minIncrease ?? 0) / 100;
    const pb = s.nuisance.baselineRate;
    // θ0 with the absolute floor needs the baseline's rate from earlier periods; without one yet
    // the floor cannot be placed and the detector waits.
    const theta0 = f > 0 ? (pb === null ? Infinity : Math.max(1 + m, 1 + f / pb)) : 1 + m;
    if (xc + xb > 0 && Number.isFinite(theta0)) {
      const pi = (theta: number) => (theta * cd) / (theta * cd + bd);
      const pi0 = pi(theta0);
      const logL = D.baselineGrid.map((r) => binomialLogLR(xc, xc + xb, pi(theta0 * r), pi0) / phi);
      feed(d, logL, [xc, cd, xb, bd], index, budget, D.ratioPeriodShare, phi, theta0);
    }
  }
}

function stepGauge(metric: JudgeMetric, s: SeqMetricState, index: number, data: PeriodData, budget: DetectorBudget): void {
  const D = SEQUENTIAL_DEFAULTS;
  const c = finiteOrNull(data.c);
  const b = finiteOrNull(data.b);
  push(s.ring.c!, c, D.ringPeriods);
  push(s.ring.b!, b, D.ringPeriods);
  if (b !== null) s.baselinePeriods++;
  if (c !== null) {
    s.canaryPeriods++;
    s.firstCanaryPeriod ??= index;
    s.lastCanaryPeriod = index;
  }
  const ready = s.nuisance.pairs + 1 >= D.warmupPeriods && s.nuisance.sigma > 0;
  if (c !== null && ready) {
    const tc = transform(metric, c);
    for (const side of ['max', 'min'] as const) {
      const d = s.detectors[side];
      const limit = metric.threshold[side];
      if (!d || limit === undefined) continue;
      const tl = transform(metric, limit);
      const z = Math.min(D.zCap, (side === 'max' ? tc - tl : tl - tc) / s.nuisance.sigma);
      feed(d, D.gaussianGrid.map((l) => gaussianLogE(z, l)), [1, tc, c], index, budget, D.gaugePeriodShare, s.nuisance.sigma, 0);
    }
    const d = s.detectors.baseline;
    if (d && b !== null && s.nuisance.sigmaPair > 0) {
      const { y, allowance } = pairExcess(metric, c, b);
      const z = Math.min(D.zCap, y / s.nuisance.sigmaPair);
      feed(d, D.gaussianGrid.map((l) => gaussianLogE(z, l)), [1, y, c, b], index, budget, D.gaugePeriodShare, s.nuisance.sigmaPair, allowance);
    }
  }
  if (s.trend) stepTrend(metric, s, s.trend, index, c, budget);
}

// ---------------------------------------------------------------------------------------------
// Trend (leaks)
// ---------------------------------------------------------------------------------------------

/**
 * The Theil-Sen line with bounds on its slope from the spread of the residuals about it:
 * slope ± z · s_r · √f / √Σ(t - t̄)², s_r the residuals' robust spread (scaled MAD) and f the
 * AR(1) variance inflation of their robust lag-1 autocorrelation. At the small levels a look
 * gets (1e-6 and below), Sen's rank bounds cannot be established at all on an autocorrelated
 * hour (the Mann-Kendall statistic saturates), while a steady leak's line is tight: this bound
 * sees that, and a wandering series' wide residuals and correlation keep it from seeing a trend
 * in wander.
 */
export function slopeBounds(times: readonly number[], values: readonly number[], confidence: number): { slope: number; intercept: number; lower: number; upper: number } | null {
  const n = values.length;
  const fit = theilSen(times, values, 0.5);
  if (!Number.isFinite(fit.slope) || n < 4) return null;
  const residuals = values.map((v, i) => v - fit.intercept - fit.slope * times[i]!);
  let mt = 0;
  for (const t of times) mt += t;
  mt /= n;
  let stt = 0;
  for (const t of times) stt += (t - mt) ** 2;
  if (!(stt > 0)) return null;
  const inflation = ar1VarianceInflation(robustLag1Autocorrelation(residuals), n);
  const se = (robustSpread(residuals) * Math.sqrt(inflation)) / Math.sqrt(stt);
  const z = normalQuantile(confidence);
  return { slope: fit.slope, intercept: fit.intercept, lower: fit.slope - z * se, upper: fit.slope + z * se };
}

function stepTrend(metric: JudgeMetric, s: SeqMetricState, t: TrendState, index: number, c: number | null, budget: DetectorBudget): void {
  const due: number[] = [];
  // Scale 0 is the raw ring (one point per period), looked at every lookEvery periods.
  if ((index + 1) % TREND_SCALES[0]!.lookEvery === 0) due.push(0);
  for (let k = 1; k < TREND_SCALES.length; k++) {
    const spec = TREND_SCALES[k]!;
    const acc = t.scales[k - 1]!;
    if (c !== null) {
      acc.sum += c;
      acc.count++;
    }
    acc.filled++;
    if (acc.filled === spec.every) {
      push(acc.points, acc.count > 0 ? acc.sum / acc.count : null, spec.ring);
      acc.sum = 0;
      acc.count = 0;
      acc.filled = 0;
      due.push(k);
    }
  }
  const confidenceFor = () => {
    t.looks++;
    return 1 - perLookLevel(t.looks, trendLooksPerHorizon(budget.horizon), budget.alpha);
  };
  for (const k of due) {
    const spec = TREND_SCALES[k]!;
    const points = k === 0 ? s.ring.c! : t.scales[k - 1]!.points;
    // Times in seconds at each point's middle; the newest point is the last.
    const times: number[] = [];
    const values: number[] = [];
    const last = points.length - 1;
    for (let i = 0; i <= last; i++) {
      const v = points[i];
      if (v === null || v === undefined) continue;
      times.push((i - last) * spec.every * budget.periodSeconds);
      values.push(v);
    }
    if (values.length < spec.minPoints) continue;
    const confidence = confidenceFor();
    const fit = slopeBounds(times, values, confidence);
    if (!fit) continue;
    const endLevel = fit.intercept; // the line at time 0, the newest point
    const horizon = metric.judge?.trendHorizonSeconds ?? 1800;
    for (const side of ['trend-max', 'trend-min'] as const) {
      const limit = side === 'trend-max' ? metric.threshold.max : metric.threshold.min;
      if (limit === undefined) continue;
      const gap = side === 'trend-max' ? limit - endLevel : endLevel - limit;
      const slow = side === 'trend-max' ? fit.lower : -fit.upper;
      const point = side === 'trend-max' ? fit.slope : -fit.slope;
      const eta = (rate: number) => (!(rate > 0) ? Infinity : gap <= 0 ? 0 : gap / rate);
      const etaSlow = eta(slow);
      const atSlope = eta(point);
      t.lastLook = { side, scale: spec.every, slopePerSecond: fit.slope, lower: fit.lower, upper: fit.upper, secondsAtSlope: Number.isFinite(atSlope) ? atSlope : null };
      const previous = t.alarm[side];
      if (etaSlow <= horizon) {
        t.alarm[side] = {
          side, scale: spec.every, firstAt: previous ? previous.firstAt : index, lastAt: index,
          slopePerSecond: fit.slope, slopeBound: side === 'trend-max' ? fit.lower : fit.upper, endLevel, secondsToCross: etaSlow,
          points: values.length, spanSeconds: -times[0]! + spec.every * budget.periodSeconds, level: confidence,
        };
      } else if (previous && previous.scale === spec.every) {
        // The scale that raised the alarm no longer sees the climb: the episode is over.
        delete t.alarm[side];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the state
// ---------------------------------------------------------------------------------------------

export interface DetectorReading {
  id: DetectorId | TrendSide;
  /** Alarmed at a period in [from, to] (a trend alarm: standing at `to`). */
  alarmed: boolean;
  logEvidence: number;
  logThreshold: number;
  change?: DetectedChange;
  reason?: string;
  /** A trend alarm's figures, for a report to draw the line and its projection. */
  details?: Record<string, number | string>;
}

export interface TimeAxis {
  /** ISO start of the period with this index. */
  startOf(index: number): string;
  endOf(index: number): string;
  clock(iso: string): string;
}

/** Each detector of a metric: whether it alarmed in periods [from, to], with its explanation. */
export function readDetectors(metric: JudgeMetric, s: SeqMetricState, from: number, to: number, budget: DetectorBudget, axis: TimeAxis): DetectorReading[] {
  const out: DetectorReading[] = [];
  const fmt = (v: number) => formatValue(v, metric.kind === 'ratio' ? 'percent' : metric.unit);
  for (const id of ['max', 'min', 'baseline'] as const) {
    const d = s.detectors[id];
    if (!d) continue;
    const logThreshold = logAlarmThreshold(Math.max(1, d.e.updates), budget.horizon, budget.alpha);
    const logEvidence = mixtureLog(d.e);
    const a = d.alarm;
    const alarmed = a !== null && a.lastAt >= from && a.lastAt <= to;
    const reading: DetectorReading = { id, alarmed, logEvidence, logThreshold };
    if (alarmed && a) {
      const explained = explainAlarm(metric, id, a, axis, fmt);
      reading.change = explained.change;
      reading.reason = explained.reason;
    }
    out.push(reading);
  }
  if (s.trend) {
    for (const side of ['trend-max', 'trend-min'] as const) {
      const a = s.trend.alarm[side];
      const limit = side === 'trend-max' ? metric.threshold.max : metric.threshold.min;
      if (limit === undefined) continue;
      // A trend alarm stands until a later look at its scale no longer sees the climb (looks
      // come every few periods, not at every check).
      const alarmed = a !== undefined && a.firstAt <= to;
      const reading: DetectorReading = { id: side, alarmed, logEvidence: 0, logThreshold: 0 };
      if (alarmed && a) {
        const perMin = (v: number) => `${formatValue(v * 60, metric.unit)}/min`;
        const verb = side === 'trend-max' ? 'climbing' : 'falling';
        const word = side === 'trend-max' ? 'maximum' : 'minimum';
        const bound = side === 'trend-max' ? 'lower' : 'upper';
        const when = a.secondsToCross === 0 ? `already ${side === 'trend-max' ? 'above' : 'below'} the ${word} ${fmt(limit)}`
          : `projected to cross the ${word} ${fmt(limit)} within ${duration(a.secondsToCross)} (horizon ${duration(metric.judge?.trendHorizonSeconds ?? 1800)})`;
        const since = Math.max(0, a.lastAt + 1 - Math.round(a.spanSeconds / budget.periodSeconds));
        reading.reason = `${metric.name}: ${verb} ${perMin(a.slopePerSecond)} over the last ${duration(a.spanSeconds)} (since ${axis.clock(axis.startOf(since))}) to ${fmt(a.endLevel)}, detected at ${axis.clock(axis.endOf(a.firstAt))}: ${when} at the slope's ${bound} bound ${perMin(a.slopeBound)} (${a.points} ${a.scale === 1 ? 'periods' : `means of ${a.scale} periods`}; ${pctLevel(a.level)} per look)`;
        reading.change = {
          detector: side, since: axis.startOf(since), detectedAt: axis.endOf(a.firstAt), value: a.endLevel, bound: a.slopeBound * 60,
          limit, logEvidence: 0, logThreshold: 0,
        };
        reading.details = {
          slopePerMinute: a.slopePerSecond * 60, slopeLowerPerMinute: a.slopeBound * 60, endLevel: a.endLevel,
          trendSince: axis.startOf(since), trendEnd: axis.startOf(a.lastAt),
          [side === 'trend-max' ? 'secondsToMax' : 'secondsToMin']: a.secondsToCross,
        };
      }
      out.push(reading);
    }
  }
  return out;
}

function pctLevel(confidence: number): string {
  const alpha = 1 - confidence;
  return `level ${alpha.toExponential(1)}`;
}

export function duration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function explainAlarm(
  metric: JudgeMetric, id: DetectorId, a: AlarmSnapshot, axis: TimeAxis, fmt: (v: number) => string,
): { change: DetectedChange; reason: string } {
  const since = axis.startOf(a.since);
  const detectedAt = axis.endOf(a.firstAt);
  const head = `${metric.name}:`;
  const when = `since ${axis.clock(since)}, change detected at ${axis.clock(detectedAt)}`;
  const evidence = `e-value e^${a.logEvidence.toFixed(1)} ≥ e^${a.logThreshold.toFixed(1)}`;
  const base = { since, detectedAt, logEvidence: a.logEvidence, logThreshold: a.logThreshold };
  // The bounds quoted are confidence sequences over the periods since the estimated change, at
  // the detector's own level (errors counted in clusters of φ, as the detector counts them).
  if (metric.kind === 'ratio' && id !== 'baseline') {
    const [x, n] = a.sums as [number, number];
    const rate = n > 0 ? (100 * x) / n : null;
    const kb = betaMixtureBounds(x / a.scale, n / a.scale, a.logThreshold);
    const limit = metric.threshold[id]!;
    const bound = id === 'max' ? 100 * kb.lower : 100 * kb.upper;
    const beyond = id === 'max' ? bound > limit : bound < limit;
    // The alarm weighs every possible change point; the bound, the one estimated: it can fall
    // short of the limit when the change is gradual, and then says so.
    const cmp = beyond ? (id === 'max' ? '>' : '<') : (id === 'max' ? '≤' : '≥');
    return {
      change: { detector: id, ...base, value: rate, bound, limit },
      reason: `${head} ${rate === null ? 'no data' : fmt(rate)} ${when}; any-time-valid ${id === 'max' ? 'lower' : 'upper'} bound ${fmt(bound)} ${cmp} ${fmt(limit)} (${x} of ${n} events; ${evidence})`,
    };
  }
  if (metric.kind === 'ratio') {
    const [xc, nc, xb, nb] = a.sums as [number, number, number, number];
    const cr = nc > 0 ? (100 * xc) / nc : null;
    const br = nb > 0 ? (100 * xb) / nb : null;
    const theta0 = a.allowance;
    const kb = betaMixtureBounds(xc / a.scale, (xc + xb) / a.scale, a.logThreshold);
    const ratioOf = (pi: number) => (pi >= 1 ? Infinity : (pi / (1 - pi)) * (nb / nc));
    const lower = ratioOf(kb.lower);
    const ratio = xb > 0 ? (xc / nc) / (xb / nb) : Infinity;
    const times = (v: number) => (Number.isFinite(v) ? `×${v.toFixed(2)}` : '×∞');
    return {
      change: { detector: 'baseline', ...base, value: cr, baselineValue: br, bound: Number.isFinite(lower) ? lower : null, limit: theta0 },
      reason: `${head} ${cr === null ? 'no data' : fmt(cr)} against the baseline's ${br === null ? 'no data' : fmt(br)} ${when}: ${times(ratio)} the baseline's rate, any-time-valid lower bound ${times(lower)} ${lower > theta0 ? '>' : '≤'} allowed ${times(theta0)} (${xc} of ${nc} canary and ${xb} of ${nb} baseline events; ${evidence})`,
    };
  }
  if (id !== 'baseline') {
    const [count, sumT, sumRaw] = a.sums as [number, number, number];
    const meanT = count > 0 ? sumT / count : NaN;
    const half = a.scale * normalMixtureRadius(count, a.logThreshold);
    const limit = metric.threshold[id]!;
    const bound = untransform(metric, id === 'max' ? meanT - half : meanT + half);
    const value = isTiming(metric) ? untransform(metric, meanT) : sumRaw / Math.max(1, count);
    const beyond = id === 'max' ? bound > limit : bound < limit;
    const cmp = beyond ? (id === 'max' ? '>' : '<') : (id === 'max' ? '≤' : '≥');
    return {
      change: { detector: id, ...base, value, bound, limit },
      reason: `${head} ${fmt(value)} ${when}; any-time-valid ${id === 'max' ? 'lower' : 'upper'} bound ${fmt(bound)} ${cmp} ${fmt(limit)} (${count} periods, noise ${isTiming(metric) ? `${(100 * a.scale).toFixed(1)} %` : fmt(a.scale)} per period; ${evidence})`,
    };
  }
  const [count, sumY, sumC, sumB] = a.sums as [number, number, number, number];
  const meanC = sumC / Math.max(1, count);
  const meanB = sumB / Math.max(1, count);
  const meanY = sumY / Math.max(1, count);
  const half = a.scale * normalMixtureRadius(count, a.logThreshold);
  const m = metric.baseline!.maxIncreasePercent;
  const f = metric.baseline!.minIncrease;
  const allowed = `allowed +${m} %${f !== undefined ? ` or +${fmt(f)}, the larger` : ''}`;
  let shown: string;
  let boundShown: string;
  if (isTiming(metric)) {
    // meanY is log(c/b) minus log(1 + allowance): the excess ratio over the allowed one.
    const ratio = Math.exp(meanY + a.allowance);
    shown = `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(0)} %`;
    boundShown = `+${((Math.exp(meanY - half + a.allowance) - 1) * 100).toFixed(0)} %`;
  } else {
    shown = `${meanY + a.allowance >= 0 ? '+' : ''}${fmt(meanY + a.allowance)}`;
    boundShown = `+${fmt(meanY - half + a.allowance)}`;
  }
  return {
    change: { detector: 'baseline', ...base, value: meanC, baselineValue: meanB, bound: meanY - half, limit: 0 },
    reason: `${head} ${fmt(meanC)} against the baseline's ${fmt(meanB)} ${when}: ${shown} per period, any-time-valid lower bound ${boundShown} ${meanY - half > 0 ? 'beyond' : 'within'} the ${allowed} (${count} paired periods; ${evidence})`,
  };
}
