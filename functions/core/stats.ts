/**
 * Pure numeric helpers for the statistical judge. No dependencies, no I/O, plain arrays in and
 * plain objects out; every function is deterministic.
 *
 * Conventions:
 * - `confidence` for a one-sided bound is the probability that the bound holds (e.g. 0.95); an
 *   interval built from a lower and an upper bound at `c` each is a two-sided interval at `2c - 1`.
 * - p-values are one-sided unless the name says otherwise.
 * - Functions never throw on empty or degenerate input; they return NaN or infinite bounds
 *   (a bound that cannot be established is `-Infinity` / `Infinity`), which callers read as
 *   "the data cannot tell".
 */

// ---------------------------------------------------------------------------------------------
// Normal distribution
// ---------------------------------------------------------------------------------------------

/**
 * Standard normal CDF, Hart (1968) algorithm 5666 as given by West (2005), "Better approximations
 * to cumulative normal functions": double precision (about 1e-15 relative) over the whole line,
 * tails included, so small p-values keep their meaning.
 */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  const x = Math.abs(z);
  let tail: number;
  if (x > 37) {
    tail = 0;
  } else {
    const e = Math.exp(-0.5 * x * x);
    if (x < 7.07106781186547) {
      let num = 3.52624965998911e-2 * x + 0.700383064443688;
      num = num * x + 6.37396220353165;
      num = num * x + 33.912866078383;
      num = num * x + 112.079291497871;
      num = num * x + 221.213596169931;
      num = num * x + 220.206867912376;
      let den = 8.83883476483184e-2 * x + 1.75566716318264;
      den = den * x + 16.064177579207;
      den = den * x + 86.7807322029461;
      den = den * x + 296.564248779674;
      den = den * x + 637.333633378831;
      den = den * x + 793.826512519948;
      den = den * x + 440.413735824752;
      tail = (e * num) / den;
    } else {
      let b = x + 0.65;
      b = x + 4 / b;
      b = x + 3 / b;
      b = x + 2 / b;
      b = x + 1 / b;
      tail = e / b / 2.506628274631;
    }
  }
  return z > 0 ? 1 - tail : tail;
}

/** Upper tail P(Z > z), accurate for large z (no cancellation). */
export function normalSf(z: number): number {
  return normalCdf(-z);
}

const ACKLAM_A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const ACKLAM_B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const ACKLAM_C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const ACKLAM_D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/**
 * Standard normal quantile: Acklam's rational approximation (1.15e-9 relative) refined by one
 * Halley step against `normalCdf`, which brings it to double precision.
 */
export function normalQuantile(p: number): number {
  if (Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const [a0, a1, a2, a3, a4, a5] = ACKLAM_A as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = ACKLAM_B as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = ACKLAM_C as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = ACKLAM_D as [number, number, number, number];
  const pLow = 0.02425;
  let x: number;
  if (p < pLow) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - pLow) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  // One Halley step. Work on the smaller tail to avoid cancellation.
  const e = p < 0.5 ? normalCdf(x) - p : -(normalSf(x) - (1 - p));
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp(0.5 * x * x);
  return x - u / (1 + 0.5 * x * u);
}

// ---------------------------------------------------------------------------------------------
// Gamma and beta functions
// ---------------------------------------------------------------------------------------------

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; about 1e-15 relative). */
export function logGamma(x: number): number {
  if (!(x > 0)) return NaN;
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < 9; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** ln B(a, b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  const EPS = 1e-15;
  // Convergence takes O(sqrt(max(a, b))) terms; allow plenty for request counts in the millions.
  const maxIterations = 200 + Math.ceil(20 * Math.sqrt(Math.max(a, b)));
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= maxIterations; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b) = P(X ≤ x) for X ~ Beta(a, b); a, b > 0. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Quantile of Beta(a, b): the x with I_x(a, b) = p (safeguarded Newton inside a bisection bracket). */
export function betaQuantile(p: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0) return 0;
  if (p === 1) return 1;
  const lnB = logBeta(a, b);
  // Start from the normal approximation of the beta distribution, clamped into (0, 1).
  const mean = a / (a + b);
  const sd = Math.sqrt((a * b) / ((a + b) ** 2 * (a + b + 1)));
  let x = Math.min(1 - 1e-12, Math.max(1e-300, mean + normalQuantile(p) * sd));
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200; i++) {
    const f = incompleteBeta(x, a, b) - p;
    if (f === 0) return x;
    if (f < 0) lo = x; else hi = x;
    const lnPdf = (a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - lnB;
    let next = x - f / Math.exp(lnPdf);
    if (!(next > lo && next < hi) || !Number.isFinite(next)) next = (lo + hi) / 2;
    if (Math.abs(next - x) <= 1e-15 * Math.max(x, 1e-300) || hi - lo <= 1e-16 * Math.max(hi, 1e-300)) return next;
    x = next;
  }
  return x;
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  const kk = Math.floor(k);
  return incompleteBeta(1 - p, n - kk, kk + 1);
}

/** Quantile of Student's t distribution with `df` > 0 degrees of freedom (df need not be an integer). */
export function studentTQuantile(p: number, df: number): number {
  if (!(df > 0) || Number.isNaN(p) || p < 0 || p > 1) return NaN;
  if (p === 0.5) return 0;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  const tail = p > 0.5 ? 1 - p : p;
  // P(|T| > t) = I_{df/(df+t²)}(df/2, 1/2).
  const x = betaQuantile(2 * tail, df / 2, 0.5);
  const t = Math.sqrt((df * (1 - x)) / x);
  return p > 0.5 ? t : -t;
}

// ---------------------------------------------------------------------------------------------
// Proportions
// ---------------------------------------------------------------------------------------------

export interface Bounds {
  /** One-sided lower bound at the requested confidence (0 or -Infinity when none). */
  lower: number;
  /** One-sided upper bound at the requested confidence (1 or Infinity when none). */
  upper: number;
}

/**
 * Wilson score bounds for a proportion, each one-sided at `confidence` (the pair is a two-sided
 * interval at 2c - 1). Returns [0, 1] for zero trials.
 */
export function wilsonBounds(successes: number, trials: number, confidence: number): Bounds {
  if (!(trials > 0)) return { lower: 0, upper: 1 };
  const z = normalQuantile(confidence);
  const p = successes / trials;
  const z2 = z * z;
  const centre = (p + z2 / (2 * trials)) / (1 + z2 / trials);
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials);
  return { lower: successes <= 0 ? 0 : Math.max(0, centre - half), upper: successes >= trials ? 1 : Math.min(1, centre + half) };
}

/**
 * Clopper-Pearson ("exact") bounds for a proportion, each one-sided at `confidence`: the lower
 * bound is the Beta(x, n - x + 1) quantile at 1 - c, the upper the Beta(x + 1, n - x) quantile at c.
 * Guaranteed coverage ≥ c for every true proportion (conservative).
 */
export function clopperPearsonBounds(successes: number, trials: number, confidence: number): Bounds {
  if (!(trials > 0)) return { lower: 0, upper: 1 };
  const x = Math.min(Math.max(successes, 0), trials);
  return {
    lower: x <= 0 ? 0 : betaQuantile(1 - confidence, x, trials - x + 1),
    upper: x >= trials ? 1 : betaQuantile(confidence, x + 1, trials - x),
  };
}

/** Jeffreys bounds: quantiles of the Beta(x + 1/2, n - x + 1/2) posterior, each one-sided at `confidence`. */
export function jeffreysBounds(successes: number, trials: number, confidence: number): Bounds {
  if (!(trials > 0)) return { lower: 0, upper: 1 };
  const x = Math.min(Math.max(successes, 0), trials);
  return {
    lower: x <= 0 ? 0 : betaQuantile(1 - confidence, x + 0.5, trials - x + 0.5),
    upper: x >= trials ? 1 : betaQuantile(confidence, x + 0.5, trials - x + 0.5),
  };
}

export interface TwoProportionTest {
  /** Observed proportions. */
  p1: number;
  p2: number;
  /** Ratio tested against (H0: p1 = ratio · p2). */
  ratio: number;
  /** Score statistic: positive when p1 exceeds ratio · p2. */
  z: number;
  /** One-sided p-value of H0: p1 ≤ ratio · p2 (small when p1 is larger). */
  pGreater: number;
  /** One-sided p-value of H0: p1 ≥ ratio · p2 (small when p1 is smaller). */
  pLess: number;
  pTwoSided: number;
}

/**
 * Score test for two independent proportions, H0: p1 = θ · p2 (Farrington & Manning 1990, rate
 * ratio form: the variance is taken at the maximum-likelihood estimates restricted to H0). With
 * θ = 1 it is exactly the classic pooled two-proportion z-test. Handles zero counts.
 */
export function twoProportionTest(x1: number, n1: number, x2: number, n2: number, ratio = 1): TwoProportionTest {
  const p1 = n1 > 0 ? x1 / n1 : NaN;
  const p2 = n2 > 0 ? x2 / n2 : NaN;
  const nan: TwoProportionTest = { p1, p2, ratio, z: NaN, pGreater: NaN, pLess: NaN, pTwoSided: NaN };
  if (!(n1 > 0) || !(n2 > 0) || !(ratio > 0)) return nan;
  // Restricted MLE of p2 under p1 = θ p2: root in [0, min(1, 1/θ)] of A p² + B p + C = 0.
  const theta = ratio;
  const A = theta * (n1 + n2);
  const B = -(theta * (n1 + x2) + x1 + n2);
  const C = x1 + x2;
  const disc = Math.max(0, B * B - 4 * A * C);
  const p2r = Math.min((-B - Math.sqrt(disc)) / (2 * A), 1, 1 / theta);
  const p1r = theta * p2r;
  const variance = (p1r * (1 - p1r)) / n1 + (theta * theta * p2r * (1 - p2r)) / n2;
  const diff = p1 - theta * p2;
  let z: number;
  if (variance > 0) z = diff / Math.sqrt(variance);
  else z = diff === 0 ? 0 : diff > 0 ? Infinity : -Infinity;
  return { p1, p2, ratio, z, pGreater: normalSf(z), pLess: normalCdf(z), pTwoSided: Math.min(1, 2 * normalSf(Math.abs(z))) };
}

/**
 * Bounds on the rate ratio p1 / p2, each one-sided at `confidence`, by inverting the score test
 * (bisection on log θ). Lower 0 when p1 could be zero; upper Infinity when p2 could be zero.
 */
export function rateRatioBounds(x1: number, n1: number, x2: number, n2: number, confidence: number): Bounds {
  if (!(n1 > 0) || !(n2 > 0)) return { lower: 0, upper: Infinity };
  const z = normalQuantile(confidence);
  const zAt = (logTheta: number) => twoProportionTest(x1, n1, x2, n2, Math.exp(logTheta)).z;
  const solve = (target: number, fallback: number): number => {
    // z(θ) decreases in θ. Find the log θ with z = target.
    let lo = -30;
    let hi = 30;
    if (zAt(lo) < target || zAt(hi) > target) return fallback;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (zAt(mid) > target) lo = mid; else hi = mid;
      if (hi - lo < 1e-12) break;
    }
    return Math.exp((lo + hi) / 2);
  };
  return {
    lower: x1 <= 0 ? 0 : solve(z, 0),
    upper: x2 <= 0 ? Infinity : solve(-z, Infinity),
  };
}

// ---------------------------------------------------------------------------------------------
// Order statistics
// ---------------------------------------------------------------------------------------------

function finite(values: readonly number[]): number[] {
  return values.filter((v) => Number.isFinite(v));
}

/** The finite values, sorted ascending, as a typed array (a numeric sort without a comparator). */
function sortedFinite(values: readonly number[]): Float64Array {
  return Float64Array.from(finite(values)).sort();
}

/**
 * Quantile of already-sorted values, Hyndman & Fan type 7 (R's default, linear interpolation
 * between order statistics). NaN for an empty array.
 */
export function sortedQuantile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0 || Number.isNaN(p)) return NaN;
  const pos = Math.min(Math.max(p, 0), 1) * (n - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const a = sorted[lo]!;
  return frac === 0 || lo + 1 >= n ? a : a + frac * (sorted[lo + 1]! - a);
}

/** Quantile (type 7) of the finite values. */
export function quantile(values: readonly number[], p: number): number {
  return sortedQuantile(sortedFinite(values), p);
}

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Value at 1-based (possibly fractional) position `pos` of sorted values, clamped to the ends. */
function atPosition(sorted: ArrayLike<number>, pos: number): number {
  const n = sorted.length;
  if (pos <= 1) return sorted[0]!;
  if (pos >= n) return sorted[n - 1]!;
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const a = sorted[lo - 1]!;
  return frac === 0 ? a : a + frac * (sorted[lo]! - a);
}

/**
 * k-th smallest (0-based) of `arr`, partially reordering it in place (Hoare quickselect with a
 * median-of-three pivot): O(n) on average, against O(n log n) for a full sort.
 */
export function selectInPlace(arr: Float64Array, k: number): number {
  let lo = 0;
  let hi = arr.length - 1;
  while (hi > lo) {
    const a = arr[lo]!;
    const b = arr[(lo + hi) >> 1]!;
    const c = arr[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (arr[i]! < pivot) i++;
      while (arr[j]! > pivot) j--;
      if (i <= j) {
        const t = arr[i]!;
        arr[i] = arr[j]!;
        arr[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return arr[k]!;
  }
  return arr[k]!;
}

/** Value at 1-based, possibly fractional, position `pos` (clamped) of `arr` in sorted order, by selection. */
function selectAtPosition(arr: Float64Array, pos: number): number {
  const n = arr.length;
  if (pos <= 1) return selectInPlace(arr, 0);
  if (pos >= n) return selectInPlace(arr, n - 1);
  const lo = Math.floor(pos);
  const frac = pos - lo;
  const a = selectInPlace(arr, lo - 1);
  return frac === 0 ? a : a + frac * (selectInPlace(arr, lo) - a);
}

export interface MedianBounds extends Bounds {
  median: number;
  /** Sample size the bounds were computed for (the effective size when autocorrelated). */
  effectiveN: number;
}

/**
 * Distribution-free bounds on the median from order statistics, each one-sided at `confidence`:
 * the lower bound is x(k) with k the largest index where P(Binomial(m, 1/2) ≤ k - 1) ≤ 1 - c. With
 * `effectiveN` below n (autocorrelated data) the binomial is taken on m = ⌊effectiveN⌋ and the
 * index scaled to the sample (fraction k/(m+1) of the way through it), which widens the bounds.
 * A bound the sample cannot establish is -Infinity / Infinity.
 */
export function medianBounds(values: readonly number[], confidence: number, effectiveN?: number): MedianBounds {
  const sorted = sortedFinite(values);
  const n = sorted.length;
  const med = sortedQuantile(sorted, 0.5);
  const m = Math.max(0, Math.min(n, Math.floor(effectiveN ?? n)));
  if (n === 0 || m === 0) return { median: med, lower: -Infinity, upper: Infinity, effectiveN: m };
  const alpha = 1 - confidence;
  // k = largest j with P(Binomial(m, 1/2) ≤ j - 1) ≤ α; the pmf by recurrence, in logs (m may be large).
  let k = 0;
  let logPmf = -m * Math.LN2;
  let cdf = 0;
  for (let j = 1; j <= Math.ceil(m / 2); j++) {
    cdf += Math.exp(logPmf); // P(X ≤ j - 1)
    if (cdf > alpha * (1 + 1e-12)) break;
    k = j;
    logPmf += Math.log((m - (j - 1)) / j);
  }
  if (k === 0) return { median: med, lower: -Infinity, upper: Infinity, effectiveN: m };
  const pos = (k / (m + 1)) * (n + 1);
  return { median: med, lower: atPosition(sorted, pos), upper: atPosition(sorted, n + 1 - pos), effectiveN: m };
}

/** Median absolute deviation from the median, scaled by 1.4826 to estimate σ of normal data. */
export function madSigma(values: readonly number[]): number {
  const v = finite(values);
  const med = median(v);
  return 1.4826 * median(v.map((x) => Math.abs(x - med)));
}

/**
 * Parametric bounds on the median, each one-sided at `confidence`, for samples too small (or too
 * autocorrelated) for order statistics to give any: median ± t(c, n_eff - 1) · 1.2533 · σ / √n_eff,
 * σ estimated by the scaled MAD (1.2533 σ/√n is the standard error of a normal sample's median).
 * Both the median and the MAD ignore a minority of spikes. Needs at least 2 values.
 */
export function medianBoundsRobustT(values: readonly number[], confidence: number, effectiveN?: number): MedianBounds {
  const v = finite(values);
  const n = v.length;
  const med = median(v);
  const nEff = Math.min(n, effectiveN ?? n);
  if (n < 2 || !(nEff > 1)) return { median: med, lower: -Infinity, upper: Infinity, effectiveN: nEff };
  const half = studentTQuantile(confidence, nEff - 1) * 1.2533 * madSigma(v) / Math.sqrt(nEff);
  return { median: med, lower: med - half, upper: med + half, effectiveN: nEff };
}

// ---------------------------------------------------------------------------------------------
// Autocorrelation
// ---------------------------------------------------------------------------------------------

/** Lag-1 autocorrelation of a series (in time order), about its mean. NaN for fewer than 3 values. */
export function lag1Autocorrelation(values: readonly number[]): number {
  const n = values.length;
  if (n < 3) return NaN;
  let mean = 0;
  for (const v of values) mean += v;
  mean /= n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    den += d * d;
    if (i > 0) num += d * (values[i - 1]! - mean);
  }
  return den > 0 ? num / den : 0;
}

/**
 * Lag-1 autocorrelation of the residuals about the least-squares line through (times, values):
 * the serial correlation of the noise, without a trend passing for it. O(n).
 */
export function detrendedLag1Autocorrelation(times: readonly number[], values: readonly number[]): number {
  const n = Math.min(times.length, values.length);
  if (n < 3) return NaN;
  let mt = 0;
  let mv = 0;
  for (let i = 0; i < n; i++) {
    mt += times[i]!;
    mv += values[i]!;
  }
  mt /= n;
  mv /= n;
  let stt = 0;
  let stv = 0;
  for (let i = 0; i < n; i++) {
    stt += (times[i]! - mt) ** 2;
    stv += (times[i]! - mt) * (values[i]! - mv);
  }
  const slope = stt > 0 ? stv / stt : 0;
  const residuals = new Array<number>(n);
  for (let i = 0; i < n; i++) residuals[i] = values[i]! - mv - slope * (times[i]! - mt);
  return lag1Autocorrelation(residuals);
}

/** From this many values on, the robust lag-1 autocorrelation is the steadier estimate. */
export const ROBUST_AUTOCORRELATION_MIN_N = 30;

/** Scaled MAD, falling back to the scaled mean absolute deviation when most values tie. */
export function robustSpread(values: readonly number[]): number {
  const v = finite(values);
  if (v.length === 0) return 0;
  const med = median(v);
  const dev = v.map((x) => Math.abs(x - med));
  const mad = 1.4826 * median(dev);
  if (mad > 0) return mad;
  return 1.2533 * (dev.reduce((a, b) => a + b, 0) / dev.length);
}

/**
 * Lag-1 autocorrelation that a minority of bursts cannot dominate: for a stationary AR(1) series
 * Var(Δ) = 2σ²(1 - ρ), so ρ = 1 - s(Δ)² / (2 s(x)²) with s a robust spread (scaled MAD). The
 * classic estimator squares the deviations, so a periodic burst (a batch job every two hours)
 * makes a whole window look like one slow wave and inflates every variance built on it.
 * In [0, 0.9] (negative correlation never narrows a bound); NaN below 4 values.
 */
export function robustLag1Autocorrelation(values: readonly number[]): number {
  const n = values.length;
  if (n < 4) return NaN;
  const diffs: number[] = [];
  for (let i = 1; i < n; i++) diffs.push(values[i]! - values[i - 1]!);
  const s = robustSpread(values);
  const sd = robustSpread(diffs);
  if (!(s > 0)) return 0;
  const rho = 1 - (sd * sd) / (2 * s * s);
  return Math.min(0.9, Math.max(0, rho));
}

/**
 * Variance inflation of a mean (or rank statistic) of n values from an AR(1) process with lag-1
 * correlation ρ, relative to independent values: 1 + 2 Σ_{k=1}^{n-1} (1 - k/n) ρ^k. The effective
 * sample size is n divided by this. Negative ρ is treated as 0 (never narrows the bounds) and ρ is
 * capped at 0.9.
 */
export function ar1VarianceInflation(rho: number, n: number): number {
  const r = Number.isFinite(rho) ? Math.min(Math.max(rho, 0), 0.9) : 0;
  if (r === 0 || n < 2) return 1;
  let sum = 0;
  let rk = 1;
  for (let k = 1; k < n; k++) {
    rk *= r;
    sum += (1 - k / n) * rk;
    if (rk < 1e-12) break;
  }
  return 1 + 2 * sum;
}

// ---------------------------------------------------------------------------------------------
// Mann-Whitney U
// ---------------------------------------------------------------------------------------------

/** Largest n1 + n2 for which the exact null distribution of U is computed (counts stay exact in doubles). */
const EXACT_MAX_TOTAL = 50;
const exactCache = new Map<string, Float64Array>();

/**
 * Null distribution of U for sample sizes (n, m) without ties: P(U = u), u = 0..nm. The counts are
 * the coefficients of the Gaussian binomial [n+m choose n]_q = Π_{i=1..n} (1 - q^(m+i)) / (1 - q^i),
 * built by alternately multiplying and dividing (a strided prefix sum), so it costs O(n · nm).
 */
export function mannWhitneyNullDistribution(n: number, m: number): Float64Array {
  const a = Math.min(n, m);
  const b = Math.max(n, m);
  const key = `${a},${b}`;
  const cached = exactCache.get(key);
  if (cached) return cached;
  const size = a * b + 1;
  const c = new Float64Array(size);
  c[0] = 1;
  let degree = 0;
  for (let i = 1; i <= a; i++) {
    const mult = b + i;
    const newDegree = degree + mult;
    // Multiply by (1 - q^mult), then divide by (1 - q^i); the degree grows by b overall.
    const work = new Float64Array(newDegree + 1);
    for (let u = 0; u <= degree; u++) {
      work[u]! += c[u]!;
      work[u + mult]! -= c[u]!;
    }
    for (let u = i; u <= newDegree; u++) work[u]! += work[u - i]!;
    degree += b;
    for (let u = 0; u <= degree; u++) c[u] = Math.round(work[u]!);
  }
  let total = 0;
  for (let u = 0; u < size; u++) total += c[u]!;
  for (let u = 0; u < size; u++) c[u] = c[u]! / total;
  if (exactCache.size > 2000) exactCache.clear();
  exactCache.set(key, c);
  return c;
}

/** P(U ≤ u) under the exact null distribution. */
function exactCdf(dist: Float64Array, u: number): number {
  if (u < 0) return 0;
  let s = 0;
  const top = Math.min(Math.floor(u), dist.length - 1);
  for (let i = 0; i <= top; i++) s += dist[i]!;
  return Math.min(1, s);
}

export interface MannWhitneyOptions {
  /** Compare x - shift with y (tests a location shift of `shift` instead of 0). */
  shift?: number;
  /**
   * Multiply the null variance by this (≥ 1), e.g. the autocorrelation inflation of the series;
   * forces the normal approximation when above 1.
   */
  varianceInflation?: number;
  /**
   * 'auto' (default): exact when there are no ties, no inflation and n1 + n2 ≤ 50; otherwise the
   * normal approximation. 'exact' asks for the exact distribution at any size (costly beyond a
   * few hundred values, and unavailable with ties, where the normal approximation is used).
   */
  method?: 'auto' | 'exact' | 'normal';
}

export interface MannWhitneyResult {
  /** U of x: pairs with x - shift > y, ties counting one half. */
  u: number;
  /** U of y (n1·n2 - u). */
  uY: number;
  n1: number;
  n2: number;
  /** Normal score (tie- and continuity-corrected), also given when the p-values are exact. */
  z: number;
  /** P-value of H0 against "x is stochastically greater than y". */
  pGreater: number;
  /** P-value of H0 against "x is stochastically smaller than y". */
  pLess: number;
  pTwoSided: number;
  method: 'exact' | 'normal';
  ties: boolean;
  /** Rank-biserial correlation 2U/(n1 n2) - 1, in [-1, 1]: +1 when every x exceeds every y. */
  rankBiserial: number;
}

/** Average ranks (1-based) of the values, and Σ(t³ - t) over tie groups. */
export function rankWithTies(values: readonly number[]): { ranks: number[]; tieSum: number } {
  const n = values.length;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => values[a]! - values[b]!);
  const ranks = new Array<number>(n);
  let tieSum = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    const v = values[order[i]!]!;
    while (j + 1 < n && values[order[j + 1]!] === v) j++;
    const avg = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[order[k]!] = avg;
    const t = j - i + 1;
    if (t > 1) tieSum += t * t * t - t;
    i = j + 1;
  }
  return { ranks, tieSum };
}

/** Σ(t³ - t) over groups of equal values (the tie correction of rank statistics). */
export function tieSum(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[i]) j++;
    const t = j - i + 1;
    if (t > 1) sum += t * t * t - t;
    i = j + 1;
  }
  return sum;
}

/**
 * Mann-Whitney U (Wilcoxon rank-sum) test of x against y. Exact p-values for small untied samples,
 * otherwise the normal approximation with tie-corrected variance and a continuity correction.
 * Non-finite values are dropped. With an empty sample the p-values are NaN.
 */
export function mannWhitneyU(xIn: readonly number[], yIn: readonly number[], options: MannWhitneyOptions = {}): MannWhitneyResult {
  const shift = options.shift ?? 0;
  const x = finite(xIn).map((v) => v - shift);
  const y = finite(yIn);
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) {
    return { u: NaN, uY: NaN, n1, n2, z: NaN, pGreater: NaN, pLess: NaN, pTwoSided: NaN, method: 'normal', ties: false, rankBiserial: NaN };
  }
  const { ranks, tieSum } = rankWithTies([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i]!;
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const nm = n1 * n2;
  const total = n1 + n2;
  const inflation = Math.max(1, options.varianceInflation ?? 1);
  const ties = tieSum > 0;
  const variance = ((nm / 12) * (total + 1 - tieSum / (total * (total - 1)))) * inflation;
  const mean = nm / 2;
  const sd = Math.sqrt(variance);
  const zOf = (d: number) => (sd > 0 ? d / sd : d === 0 ? 0 : d > 0 ? Infinity : -Infinity);
  const z = zOf(u - mean - 0.5 * Math.sign(u - mean));
  const method = options.method === 'exact' || (options.method !== 'normal' && !ties && inflation === 1 && total <= EXACT_MAX_TOTAL)
    ? 'exact' : 'normal';
  let pGreater: number;
  let pLess: number;
  if (method === 'exact' && !ties) {
    const dist = mannWhitneyNullDistribution(n1, n2);
    pLess = exactCdf(dist, u);
    pGreater = exactCdf(dist, nm - u); // symmetry: P(U ≥ u) = P(U ≤ nm - u)
  } else {
    pGreater = normalSf(zOf(u - mean - 0.5));
    pLess = normalCdf(zOf(u - mean + 0.5));
  }
  pGreater = Math.min(1, pGreater);
  pLess = Math.min(1, pLess);
  return {
    u, uY: nm - u, n1, n2, z, pGreater, pLess, pTwoSided: Math.min(1, 2 * Math.min(pGreater, pLess)),
    method: method === 'exact' && !ties ? 'exact' : 'normal', ties, rankBiserial: (2 * u) / nm - 1,
  };
}

export interface ShiftEstimate extends Bounds {
  /** Hodges-Lehmann estimate: median of all pairwise differences x_i - y_j. */
  estimate: number;
}

/**
 * Hodges-Lehmann estimate of the location shift of x over y, with the distribution-free (Moses)
 * bounds that invert the Mann-Whitney test, each one-sided at `confidence`: the lower bound is the
 * k-th smallest pairwise difference with k the largest index where P(U ≤ k - 1) ≤ 1 - c (exact
 * distribution for small untied samples, otherwise normal with tie correction and `varianceInflation`).
 */
export function hodgesLehmannShift(
  xIn: readonly number[], yIn: readonly number[], confidence: number, options: { varianceInflation?: number } = {},
): ShiftEstimate {
  const x = finite(xIn);
  const y = finite(yIn);
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) return { estimate: NaN, lower: -Infinity, upper: Infinity };
  const diffs = new Float64Array(n1 * n2);
  let idx = 0;
  for (const a of x) for (const b of y) diffs[idx++] = a - b;
  const N = diffs.length;
  const estimate = selectAtPosition(diffs, (N + 1) / 2);
  const alpha = 1 - confidence;
  const inflation = Math.max(1, options.varianceInflation ?? 1);
  const ties = tieSum([...x, ...y]);
  let k: number;
  if (ties === 0 && inflation === 1 && n1 + n2 <= EXACT_MAX_TOTAL) {
    const dist = mannWhitneyNullDistribution(n1, n2);
    k = 0;
    let cum = 0;
    for (let j = 1; j <= N; j++) {
      cum += dist[j - 1]!; // cum = P(U ≤ j - 1)
      if (cum <= alpha + 1e-12) k = j; else break;
    }
  } else {
    const total = n1 + n2;
    const sd = Math.sqrt((N / 12) * (total + 1 - ties / (total * (total - 1))) * inflation);
    k = Math.floor(N / 2 + 0.5 - normalQuantile(confidence) * sd);
  }
  if (k < 1) return { estimate, lower: -Infinity, upper: Infinity };
  return { estimate, lower: selectInPlace(diffs, k - 1), upper: selectInPlace(diffs, N - k) };
}

// ---------------------------------------------------------------------------------------------
// Trend
// ---------------------------------------------------------------------------------------------

export interface TrendResult {
  /** Theil-Sen slope: median of pairwise slopes (value units per time unit). */
  slope: number;
  /** Sen's distribution-free bounds on the slope, each one-sided at the requested confidence. */
  lower: number;
  upper: number;
  /** Intercept such that the line passes through the median of y - slope · t. */
  intercept: number;
  /** Mann-Kendall S statistic and its normal score (tie-corrected, variance inflated). */
  s: number;
  z: number;
  /** P-value of "no trend" against a rising / falling trend. */
  pIncreasing: number;
  pDecreasing: number;
  n: number;
  /** Lag-1 autocorrelation of the residuals about the line (NaN below 3 points). */
  residualAutocorrelation: number;
  /** Variance inflation applied to S. */
  varianceInflation: number;
}

export interface TrendOptions {
  /** Multiply the variance of S by this (≥ 1). */
  varianceInflation?: number;
  /**
   * Estimate the inflation from the data instead: ar1VarianceInflation of the lag-1
   * autocorrelation of the residuals about the Theil-Sen line (after Yue & Wang 2004), so that
   * autocorrelated noise does not pass for a trend.
   */
  autocorrelated?: boolean;
  /**
   * With `autocorrelated`: estimate ρ with robustLag1Autocorrelation (bursts do not dominate it)
   * from ROBUST_AUTOCORRELATION_MIN_N values on; below, the robust estimate is the noisier one.
   */
  robust?: boolean;
}

/**
 * Robust linear trend: Theil-Sen slope with Sen's (1968) confidence bounds from the Mann-Kendall
 * statistic, whose variance is corrected for ties and inflated for autocorrelation (see
 * TrendOptions). Pairs with equal times are skipped.
 */
export function theilSen(times: readonly number[], values: readonly number[], confidence: number, options: TrendOptions = {}): TrendResult {
  const n = Math.min(times.length, values.length);
  const slopes = new Float64Array((n * (n - 1)) / 2);
  let count = 0;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const ti = times[i]!;
    const vi = values[i]!;
    for (let j = i + 1; j < n; j++) {
      const dt = times[j]! - ti;
      const dv = values[j]! - vi;
      if (dt !== 0) slopes[count++] = dv / dt;
      s += (dv > 0 ? 1 : dv < 0 ? -1 : 0) * (dt > 0 ? 1 : dt < 0 ? -1 : 0);
    }
  }
  if (n < 2 || count === 0) {
    return {
      slope: NaN, lower: -Infinity, upper: Infinity, intercept: NaN, s: 0, z: 0, pIncreasing: NaN, pDecreasing: NaN, n,
      residualAutocorrelation: NaN, varianceInflation: 1,
    };
  }
  const pairSlopes = slopes.subarray(0, count);
  const slope = selectAtPosition(pairSlopes, (count + 1) / 2);
  const levels = new Float64Array(n);
  for (let i = 0; i < n; i++) levels[i] = values[i]! - slope * times[i]!;
  const residuals = new Array<number>(n);
  for (let i = 0; i < n; i++) residuals[i] = levels[i]!;
  const intercept = selectAtPosition(levels, (n + 1) / 2);
  for (let i = 0; i < n; i++) residuals[i] = residuals[i]! - intercept;
  const rho = options.robust && n >= ROBUST_AUTOCORRELATION_MIN_N ? robustLag1Autocorrelation(residuals) : lag1Autocorrelation(residuals);
  const inflation = options.autocorrelated ? ar1VarianceInflation(rho, n) : Math.max(1, options.varianceInflation ?? 1);
  // Tie correction: Σ t(t-1)(2t+5) over groups of equal values.
  const byValue = Float64Array.from(values.slice(0, n)).sort();
  let tieTerm = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && byValue[j + 1] === byValue[i]) j++;
    const t = j - i + 1;
    if (t > 1) tieTerm += t * (t - 1) * (2 * t + 5);
    i = j + 1;
  }
  const variance = ((n * (n - 1) * (2 * n + 5) - tieTerm) / 18) * inflation;
  const sd = Math.sqrt(variance);
  const z = sd > 0 ? (s - Math.sign(s)) / sd : 0;
  const c = normalQuantile(confidence) * sd;
  const m1 = (count - c) / 2;
  const m2 = (count + c) / 2 + 1;
  return {
    slope,
    lower: m1 < 1 ? -Infinity : selectAtPosition(pairSlopes, m1),
    upper: m2 > count ? Infinity : selectAtPosition(pairSlopes, m2),
    intercept, s, z,
    pIncreasing: sd > 0 ? normalSf(z) : NaN,
    pDecreasing: sd > 0 ? normalCdf(z) : NaN,
    n,
    residualAutocorrelation: rho,
    varianceInflation: inflation,
  };
}
