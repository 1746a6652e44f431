/**
 * The statistics of the sequential judge: e-detectors for change detection, their alarm levels,
 * and the robust nuisance estimates they are standardised with. Pure, deterministic, no I/O;
 * every state is plain JSON (no Infinity, no NaN) so it can be carried between checks.
 *
 * The e-detector (Shin, Ramdas & Rinaldo, "E-detectors", 2023; the Shiryaev-Roberts procedure,
 * Pollak 1985): for a per-period likelihood ratio (or any e-value) L_t with E[L_t | past] ≤ 1 under
 * the null, R_t = (1 + R_{t-1}) · L_t, R_0 = 0, is the sum over every possible change point j ≤ t of
 * the test martingale started at j. Under the null, R_t - t is a supermartingale, so E[R_t] ≤ t and,
 * by Doob's maximal inequality for the non-negative submartingale R, P(max_{t ≤ T} R_t ≥ A) ≤ T / A.
 * A change at any time is picked up with a delay of about log(A) / KL, whatever the time already
 * spent: the statistic forgets the past (R falls back toward 0 while the data look healthy).
 *
 * Alarm level, any stage length: the periods are cut into epochs of doubling length,
 * T_k = H · 2^k (H the planned horizon of the stage), and epoch k gets α / 2^{k+1} of the level:
 * A_k = T_k · 2^{k+1} / α. Then P(a false alarm ever) ≤ Σ_k T_k / A_k = Σ_k α / 2^{k+1} = α, for a
 * stage of any length; within the planned horizon the price is a factor 2 (0.7 nats).
 *
 * Unknown size of a regression: the e-detector is a mixture over a small grid of alternatives
 * (uniform weights); E[Σ w_g R_g,t] ≤ t still holds, so the same alarm level applies.
 */

import { logBeta } from './stats.ts';

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/** The floor of a stored log (JSON has no -Infinity): e^-1000 is 0 for every purpose here. */
export const LOG_ZERO = -1000;

/** ln(1 + e^x) without overflow. */
export function log1pExp(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** ln Σ e^{x_i}. */
export function logSumExp(xs: readonly number[]): number {
  let max = -Infinity;
  for (const x of xs) if (x > max) max = x;
  if (!Number.isFinite(max)) return max;
  let s = 0;
  for (const x of xs) s += Math.exp(x - max);
  return max + Math.log(s);
}

// ---------------------------------------------------------------------------------------------
// Alarm level
// ---------------------------------------------------------------------------------------------

/**
 * ln A after `updates` updates of an e-detector whose planned horizon is `horizon` updates and
 * whose share of the false-alarm level is `alpha` (see the epochs above).
 */
export function logAlarmThreshold(updates: number, horizon: number, alpha: number): number {
  const h = Math.max(1, horizon);
  const k = updates <= h ? 0 : Math.ceil(Math.log2(updates / h));
  return Math.log(h) + k * Math.LN2 + (k + 1) * Math.LN2 - Math.log(alpha);
}

/**
 * The level a single look of a repeated test gets (a union bound over looks, by the same
 * epochs): look number `look` (1-based) when at most `looksPerHorizon` looks fall in the planned
 * horizon and the looks' share of the level is `alpha`.
 */
export function perLookLevel(look: number, looksPerHorizon: number, alpha: number): number {
  const h = Math.max(1, looksPerHorizon);
  const k = look <= h ? 0 : Math.ceil(Math.log2(look / h));
  return alpha / (2 ** (k + 1) * h * 2 ** k);
}

// ---------------------------------------------------------------------------------------------
// The e-detector (Shiryaev-Roberts and CUSUM over a grid of alternatives)
// ---------------------------------------------------------------------------------------------

export interface EDetectorState {
  /** ln R_g per alternative g (Shiryaev-Roberts). */
  logR: number[];
  /** CUSUM statistic (ln of the largest test martingale over change points) per alternative. */
  cusum: number[];
  /** Index of the first period of the current CUSUM run per alternative: the change-point estimate. */
  runStart: number[];
  /** Sufficient statistics of the data since runStart, per alternative (for the explanation). */
  since: number[][];
  /** Updates so far (periods with data). */
  updates: number;
  /** Largest ln of the mixture seen, and where. */
  peak: number;
}

export function newEDetector(grid: number, sums: number): EDetectorState {
  return {
    logR: Array.from({ length: grid }, () => LOG_ZERO),
    cusum: Array.from({ length: grid }, () => 0),
    runStart: Array.from({ length: grid }, () => 0),
    since: Array.from({ length: grid }, () => Array.from({ length: sums }, () => 0)),
    updates: 0,
    peak: LOG_ZERO,
  };
}

/** ln of the mixture statistic Σ_g R_g / G. */
export function mixtureLog(d: EDetectorState): number {
  return Math.max(LOG_ZERO, logSumExp(d.logR) - Math.log(d.logR.length));
}

/**
 * One period of data: `logL[g]` is ln L_g for alternative g, `stats` the period's sufficient
 * statistics (added to the running sums since each run's start). In place.
 */
export function updateEDetector(d: EDetectorState, logL: readonly number[], stats: readonly number[], index: number): void {
  for (let g = 0; g < d.logR.length; g++) {
    const l = logL[g]!;
    d.logR[g] = Math.max(LOG_ZERO, log1pExp(d.logR[g]!) + l);
    if (d.cusum[g]! <= 0) {
      d.runStart[g] = index;
      const s = d.since[g]!;
      for (let i = 0; i < s.length; i++) s[i] = 0;
    }
    d.cusum[g] = Math.max(0, d.cusum[g]! + l);
    const s = d.since[g]!;
    for (let i = 0; i < s.length; i++) s[i] = s[i]! + (stats[i] ?? 0);
  }
  d.updates++;
  d.peak = Math.max(d.peak, mixtureLog(d));
}

/** The alternative whose CUSUM run carries the most evidence (the change the detector sees). */
export function leadingAlternative(d: EDetectorState): number {
  let best = 0;
  for (let g = 1; g < d.cusum.length; g++) if (d.cusum[g]! > d.cusum[best]!) best = g;
  return best;
}

// ---------------------------------------------------------------------------------------------
// Likelihood ratios
// ---------------------------------------------------------------------------------------------

/**
 * ln of the binomial likelihood ratio of p1 against p0 for x successes in n trials. For p1 > p0 it
 * is increasing in x, so its expectation is ≤ 1 under every p ≤ p0 (and mirrored for p1 < p0).
 */
export function binomialLogLR(x: number, n: number, p1: number, p0: number): number {
  const fails = n - x;
  return (x > 0 ? x * Math.log(p1 / p0) : 0) + (fails > 0 ? fails * (Math.log1p(-p1) - Math.log1p(-p0)) : 0);
}

/** Kullback-Leibler divergence of Bernoulli(q) from Bernoulli(p) (nats). */
export function klBernoulli(q: number, p: number): number {
  const a = q > 0 ? q * Math.log(q / p) : 0;
  const b = q < 1 ? (1 - q) * Math.log((1 - q) / (1 - p)) : 0;
  return a + b;
}

/**
 * Chernoff bounds on a proportion: the p below (above) the observed x/n at which n · KL = logLevel,
 * i.e. the rates a likelihood-ratio test at level e^{-logLevel} cannot exclude.
 */
export function klBounds(x: number, n: number, logLevel: number): { lower: number; upper: number } {
  if (!(n > 0)) return { lower: 0, upper: 1 };
  const q = Math.min(1, Math.max(0, x / n));
  const solve = (lo: number, hi: number, below: boolean): number => {
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      const inside = n * klBernoulli(q, mid) < logLevel;
      if (below ? inside : !inside) hi = mid; else lo = mid;
    }
    return (lo + hi) / 2;
  };
  const lower = q <= 0 ? 0 : n * klBernoulli(q, 1e-15) < logLevel ? 0 : solve(1e-15, q, true);
  const upper = q >= 1 ? 1 : n * klBernoulli(q, 1 - 1e-15) < logLevel ? 1 : solve(q, 1 - 1e-15, false);
  return { lower, upper };
}

/**
 * ln of the sub-Gaussian e-value of a standardised observation z for drift λ: exp(λ z - λ²/2) has
 * expectation ≤ 1 when z is 1-sub-Gaussian with mean ≤ 0 (the null: at or below the limit).
 */
export function gaussianLogE(z: number, lambda: number): number {
  return lambda * z - (lambda * lambda) / 2;
}

// ---------------------------------------------------------------------------------------------
// Robust nuisance estimates
// ---------------------------------------------------------------------------------------------

/** Type-7 quantile of a small array (copied, sorted). */
export function smallQuantile(values: readonly number[], p: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const pos = Math.min(Math.max(p, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  return frac === 0 || lo + 1 >= n ? s[lo]! : s[lo]! + frac * (s[lo + 1]! - s[lo]!);
}

export interface DifferenceScale {
  /** Robust scale of the period-to-period noise (σ of a normal series with the same spread of changes). */
  sigma: number;
  /** Smallest non-zero change seen: the series' resolution when it is quantised. */
  step: number;
  /** Changes it was estimated from. */
  pairs: number;
}

/**
 * The noise of a series from its changes between consecutive periods: Q75(|Δ|) / (1.1503 · √2).
 * A level shift moves one change, a slow trend barely moves any, and a burst moves two per burst,
 * so none of them passes for noise the way they would in a standard deviation; the 75th
 * percentile (not the median) still sees the noise of a quantised series that mostly repeats.
 */
export function differenceScale(values: readonly (number | null)[]): DifferenceScale {
  const diffs: number[] = [];
  let step = Infinity;
  for (let i = 1; i < values.length; i++) {
    const a = values[i - 1];
    const b = values[i];
    if (a === null || a === undefined || b === null || b === undefined) continue;
    const d = Math.abs(b - a);
    diffs.push(d);
    if (d > 0 && d < step) step = d;
  }
  if (diffs.length === 0) return { sigma: 0, step: 0, pairs: 0 };
  return { sigma: smallQuantile(diffs, 0.75) / (1.1503 * Math.SQRT2), step: Number.isFinite(step) ? step : 0, pairs: diffs.length };
}

// ---------------------------------------------------------------------------------------------
// Confidence sequences (the bounds an explanation quotes)
// ---------------------------------------------------------------------------------------------

/**
 * Any-time-valid bounds on a proportion from x successes in n trials (counted from a fixed
 * start): the rates p at which Robbins' beta-binomial mixture martingale,
 * B(x + ½, n - x + ½) / B(½, ½) / (p^x (1 - p)^(n - x)), stays below e^logLevel (Howard, Ramdas,
 * McAuliffe & Sekhon 2021, the conjugate mixture). Holds at every n at once with probability
 * ≥ 1 - e^-logLevel; x and n need not be integers (cluster-scaled counts).
 */
export function betaMixtureBounds(x: number, n: number, logLevel: number): { lower: number; upper: number } {
  if (!(n > 0)) return { lower: 0, upper: 1 };
  const k = Math.min(Math.max(x, 0), n);
  const logMix = logBeta(k + 0.5, n - k + 0.5) - logBeta(0.5, 0.5);
  const statistic = (p: number) => logMix - (k > 0 ? k * Math.log(p) : 0) - (n - k > 0 ? (n - k) * Math.log1p(-p) : 0);
  const q = Math.min(1 - 1e-12, Math.max(1e-12, k / n));
  const solve = (lo: number, hi: number, increasingInside: boolean): number => {
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      const inside = statistic(mid) < logLevel;
      if (inside === increasingInside) hi = mid; else lo = mid;
    }
    return (lo + hi) / 2;
  };
  const lower = statistic(1e-12) < logLevel ? 0 : solve(1e-12, q, true);
  const upper = statistic(1 - 1e-12) < logLevel ? 1 : solve(q, 1 - 1e-12, false);
  return { lower, upper };
}

/**
 * Radius of an any-time-valid bound on the mean of n 1-sub-Gaussian observations (counted from a
 * fixed start): the one-sided normal-mixture boundary √((n + 1)(2·logLevel + ln(n + 1))) / n
 * (Robbins' mixture with a unit-variance mixing distribution; Howard et al. 2021).
 */
export function normalMixtureRadius(n: number, logLevel: number): number {
  if (!(n > 0)) return Infinity;
  return Math.sqrt((n + 1) * (2 * logLevel + Math.log(n + 1))) / n;
}
