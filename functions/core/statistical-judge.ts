/**
 * The statistical judge: every verdict is a confidence statement about the canary, never a bare
 * comparison of a point value. Pure: plain data in, plain data out (see judge.ts for the contract).
 *
 * Decision rules (c = confidence, one-sided; α = 1 - c):
 *
 * Ratio metrics (e.g. 5xx / requests), judged on the counts pooled over the window (an absent
 * numerator beside a present denominator is zero):
 * - threshold: Clopper-Pearson bounds on the canary's rate. FAIL when the lower bound is above
 *   `threshold.max` (below `min`), PASS when the upper bound is at or below `max` (lower bound at
 *   or above `min`), INCONCLUSIVE while the interval straddles it.
 * - baseline (`baseline.maxIncreasePercent`): score test of H0 "canary rate ≤ (1 + m) · baseline
 *   rate" (Farrington-Manning). FAIL when rejected at α. Otherwise no objection: an equivalence
 *   proof on rare events would need tens of canary errors, which an early stage never sees, so the
 *   absolute bound above carries the burden of proof.
 *
 * Gauge metrics (memory, latency...), one value per period:
 * - level: distribution-free bounds on the window's median (order statistics; a t bound with a
 *   MAD scale when the window is too short for them), so one spike cannot fail a release; same
 *   FAIL / PASS / INCONCLUSIVE rule as for ratios. The median, not a high quantile, for both
 *   memory and latency: a latency gauge is already a tail (p99) per period, and its per-period
 *   noise with little traffic is large, so a window quantile of it would judge the noise; memory
 *   is a level, and where it is going is the trend rule's business, not a quantile's. The bounds
 *   describe this window (period-to-period noise), not where a wandering series goes next.
 * - trend (leaks): Theil-Sen slope with Sen's bounds from a Mann-Kendall statistic whose variance
 *   is inflated by 1 + 2 Σ (1 - k/n) ρ^k, ρ the lag-1 autocorrelation of the residuals about the
 *   line, because per-period gauges (memory above all) are autocorrelated and wandering noise
 *   would otherwise pass for a climb. FAIL when the slope's lower bound is above 0 and, climbing
 *   at that lower bound from the fitted level at the end of the window, the series crosses
 *   `threshold.max` within `trendHorizonSeconds` (or is already above it); INCONCLUSIVE when the
 *   fitted line (the slope's point estimate) would cross within the horizon but the lower bound
 *   would not, significant or not: a PASS never rests on a series heading for its limit. Mirror
 *   rule for `threshold.min`. Never a PASS on its own.
 * - baseline (`baseline.maxIncreasePercent`): Hodges-Lehmann shift of log values (the ratio
 *   canary / baseline; an additive shift when a value is ≤ 0) with Mann-Whitney (Moses) bounds,
 *   the variance inflated for autocorrelation as above (each sample's by its own residuals).
 *   FAIL when the lower bound of the ratio exceeds 1 + m/100 — a significant increase whose size
 *   is beyond the allowance; PASS when the upper bound is within it; INCONCLUSIVE between.
 *   Rank-based: one spike moves one rank, a real shift moves them all.
 *
 * Data gates: no canary data, fewer than `minDatapoints` periods with data, or (ratios) fewer than
 * `minDenominator` canary events is INCONCLUSIVE, never PASS. The one exception is a ratio with
 * enough events whose rate is confidently above its maximum: a FAIL even from fewer periods. A configured baseline comparison
 * whose baseline fails the same gates is INCONCLUSIVE.
 *
 * The metric's verdict is its worst check (FAIL > INCONCLUSIVE > PASS); the overall verdict is
 * `combineVerdicts` (a critical metric's FAIL is a critical failure).
 *
 * Defaults (`JUDGE_DEFAULTS`; each can be set per metric under `judge`):
 * - confidence 0.95, one-sided: the conventional level; each FAIL has at most a 5 % chance at a
 *   canary exactly on its limit and far less below it, and each PASS at most 5 % at a canary
 *   exactly on the limit. Bounds are conservative (Clopper-Pearson, order statistics), so the
 *   real error rates are at or under the nominal ones.
 * - minDatapoints 5: the smallest sample for which order statistics give a one-sided 95 % bound
 *   on a median at all (0.5^5 = 3.1 % ≤ 5 %; with 4 points 6.25 % is not). Five one-minute
 *   periods; it applies to ratio metrics' periods too.
 * - minDenominator 100 events: below it one or two errors decide the verdict, and errors cluster
 *   (a retrying client) more than the binomial model assumes. At a 1 % maximum, 100 requests can
 *   FAIL on 4 errors but PASS needs about 300 clean requests: the bound, not this gate, sets that.
 * - trendHorizonSeconds 1800: half an hour, about one stage's bake plus its checks, so a leak that
 *   would cross the limit before the next stage is judged fails now.
 *
 * Why Clopper-Pearson (exact) bounds rather than Wilson or Jeffreys for the decision: the
 * decisions are one-sided and 5xx rates live near zero, where the one-sided coverage of Wilson
 * (and to a lesser degree Jeffreys) drops below nominal (Brown, Cai & DasGupta 2001; Cai 2005).
 * Clopper-Pearson guarantees coverage ≥ c at every rate; the price is a slightly later PASS near
 * the limit, which the next check recovers. Wilson and Jeffreys are reported in `details`.
 */
import type { JudgeMetric } from './config.ts';
import {
  combineVerdicts, formatValue, isRatioSeries, ratioCounts,
  type GaugeSeries, type InconclusiveCause, type Judge, type MetricData, type MetricVerdict, type MetricWindow, type Verdict,
} from './judge.ts';
import {
  ar1VarianceInflation, clopperPearsonBounds, detrendedLag1Autocorrelation, hodgesLehmannShift, mannWhitneyU, median, medianBounds, medianBoundsRobustT,
  rateRatioBounds, ROBUST_AUTOCORRELATION_MIN_N, robustLag1Autocorrelation, theilSen, twoProportionTest, wilsonBounds,
} from './stats.ts';

export interface JudgeDefaults {
  confidence: number;
  minDatapoints: number;
  minDenominator: number;
  trendHorizonSeconds: number;
}

/** Defaults of the statistical judge's knobs (see the comment at the top of this file). */
export const JUDGE_DEFAULTS: Readonly<JudgeDefaults> = Object.freeze({
  confidence: 0.95,
  minDatapoints: 5,
  minDenominator: 100,
  trendHorizonSeconds: 1800,
});

type Details = Record<string, number | string | boolean | null>;

interface Check {
  verdict: Verdict;
  test: string;
  /** Fragment after "<metric>: ". */
  reason: string;
  /** Why an INCONCLUSIVE check is one. */
  cause?: InconclusiveCause;
}

/**
 * Below this many effectively independent datapoints a bound that straddles its limit is "too
 * little data" (more periods would settle it); above, "too much variance" (the series is too
 * noisy, or too close to its limit, for more of the same to settle it soon).
 */
const FEW_INDEPENDENT = 10;

/**
 * Lag-1 autocorrelation of the residuals about a line. From ROBUST_AUTOCORRELATION_MIN_N values
 * on, both are robust: Tukey's resistant line (the slope between the medians of the first and
 * last thirds) and robustLag1Autocorrelation, so a periodic burst passes neither for a trend nor
 * for a slow wave. Below, the least-squares line and the classic estimate (steadier on few points).
 */
function robustDetrendedAutocorrelation(times: readonly number[], values: readonly number[]): number {
  const n = Math.min(times.length, values.length);
  if (n < 4) return NaN;
  if (n < ROBUST_AUTOCORRELATION_MIN_N) return detrendedLag1Autocorrelation(times, values);
  const third = Math.floor(n / 3);
  const slope = (median(values.slice(n - third, n)) - median(values.slice(0, third)))
    / (median(times.slice(n - third, n)) - median(times.slice(0, third)) || 1);
  const residuals = new Array<number>(n);
  for (let i = 0; i < n; i++) residuals[i] = values[i]! - slope * times[i]!;
  return robustLag1Autocorrelation(residuals);
}

function optionsOf(metric: JudgeMetric): JudgeDefaults {
  const o = metric.judge ?? {};
  return {
    confidence: o.confidence ?? JUDGE_DEFAULTS.confidence,
    minDatapoints: o.minDatapoints ?? JUDGE_DEFAULTS.minDatapoints,
    minDenominator: o.minDenominator ?? JUDGE_DEFAULTS.minDenominator,
    trendHorizonSeconds: o.trendHorizonSeconds ?? JUDGE_DEFAULTS.trendHorizonSeconds,
  };
}

/** Finite numbers as they are, anything else as null (details are JSON). */
function num(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function pct(confidence: number): string {
  return `${Number((confidence * 100).toPrecision(4))} %`;
}

function signedPercent(ratio: number): string {
  const p = (ratio - 1) * 100;
  if (!Number.isFinite(p)) return p > 0 ? '+∞ %' : '-∞ %';
  const text = Math.abs(p) >= 10 ? p.toFixed(0) : p.toFixed(1);
  return `${p >= 0 ? '+' : ''}${text} %`;
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function worst(checks: Check[]): Verdict {
  if (checks.some((c) => c.verdict === 'FAIL')) return 'FAIL';
  if (checks.some((c) => c.verdict === 'INCONCLUSIVE')) return 'INCONCLUSIVE';
  return 'PASS';
}

function conclude(
  base: Omit<MetricVerdict, 'verdict' | 'reason' | 'test' | 'details'>, checks: Check[], details: Details,
): MetricVerdict {
  const verdict = worst(checks);
  if (checks.length === 0) {
    return { ...base, verdict: 'PASS', test: 'none', reason: `${base.name}: no threshold or baseline comparison configured`, details };
  }
  const deciding = verdict === 'PASS' ? checks : checks.filter((c) => c.verdict === verdict);
  const causes = deciding.map((c) => c.cause).filter((c): c is InconclusiveCause => c !== undefined);
  // The cause that takes longest to clear speaks for the metric.
  const cause = verdict !== 'INCONCLUSIVE' ? undefined
    : (['no-data', 'too-much-variance', 'too-little-data'] as const).find((c) => causes.includes(c)) ?? 'too-little-data';
  return {
    ...base, verdict,
    test: deciding.map((c) => c.test).join('+'),
    reason: `${base.name}: ${deciding.map((c) => c.reason).join('; ')}`,
    details,
    ...(cause ? { cause } : {}),
  };
}

function inconclusive(
  base: Omit<MetricVerdict, 'verdict' | 'reason' | 'test' | 'details'>, test: string, reason: string, details: Details = {},
  cause: InconclusiveCause = 'too-little-data',
): MetricVerdict {
  return { ...base, verdict: 'INCONCLUSIVE', test, reason: `${base.name}: ${reason}`, details, cause };
}

/** A threshold check on bounds [lower, upper] of a statistic whose point value is `value`. */
function boundCheck(
  metric: JudgeMetric, test: string, what: string, value: number, lower: number, upper: number,
  confidence: number, unit: string, sampleText: string, fewData: (limit: number) => boolean,
): Check[] {
  const causeAt = (limit: number): InconclusiveCause => (fewData(limit) ? 'too-little-data' : 'too-much-variance');
  const fmt = (v: number) => formatValue(v, unit);
  const checks: Check[] = [];
  const { max, min } = metric.threshold;
  const c = pct(confidence);
  if (max !== undefined) {
    if (lower > max) {
      checks.push({ verdict: 'FAIL', test, reason: `${what} ${fmt(value)} is above the maximum ${fmt(max)} (${c} lower bound ${fmt(lower)}; ${sampleText})` });
    } else if (upper <= max) {
      checks.push({ verdict: 'PASS', test, reason: `${what} ${fmt(value)} is within the maximum ${fmt(max)} (${c} upper bound ${fmt(upper)}; ${sampleText})` });
    } else {
      const ub = Number.isFinite(upper) ? fmt(upper) : 'unbounded';
      checks.push({ verdict: 'INCONCLUSIVE', test, cause: causeAt(max), reason: `${what} ${fmt(value)} cannot yet be told from the maximum ${fmt(max)} (${c} upper bound ${ub}; ${sampleText})` });
    }
  }
  if (min !== undefined) {
    if (upper < min) {
      checks.push({ verdict: 'FAIL', test, reason: `${what} ${fmt(value)} is below the minimum ${fmt(min)} (${c} upper bound ${fmt(upper)}; ${sampleText})` });
    } else if (lower >= min) {
      checks.push({ verdict: 'PASS', test, reason: `${what} ${fmt(value)} is within the minimum ${fmt(min)} (${c} lower bound ${fmt(lower)}; ${sampleText})` });
    } else {
      const lb = Number.isFinite(lower) ? fmt(lower) : 'unbounded';
      checks.push({ verdict: 'INCONCLUSIVE', test, cause: causeAt(min), reason: `${what} ${fmt(value)} cannot yet be told from the minimum ${fmt(min)} (${c} lower bound ${lb}; ${sampleText})` });
    }
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Ratio metrics
// ---------------------------------------------------------------------------------------------

function judgeRatio(metric: JudgeMetric, data: MetricData | undefined, o: JudgeDefaults): MetricVerdict {
  const canarySeries = data?.canary && isRatioSeries(data.canary) ? data.canary : undefined;
  const baselineSeries = data?.baseline && isRatioSeries(data.baseline) ? data.baseline : undefined;
  const c = canarySeries ? ratioCounts(canarySeries) : { periods: 0, numerator: 0, denominator: 0 };
  const b = baselineSeries ? ratioCounts(baselineSeries) : undefined;
  const rate = (x: { numerator: number; denominator: number }) => (x.denominator > 0 ? (100 * x.numerator) / x.denominator : null);
  const base = {
    name: metric.name, critical: metric.critical,
    canaryValue: rate(c), baselineValue: b ? rate(b) : null, threshold: metric.threshold,
    sample: { canary: c.periods, baseline: b?.periods ?? 0, canaryEvents: c.denominator, baselineEvents: b?.denominator ?? 0 },
  };
  const fmt = (v: number) => formatValue(v, 'percent');
  const sampleText = `${c.numerator} of ${c.denominator} events in ${c.periods} period${c.periods === 1 ? '' : 's'}`;
  if (data?.canary && !canarySeries) return inconclusive(base, 'data-gate', 'canary data is not a ratio series (numerator / denominator)');
  if (c.periods === 0 || c.denominator <= 0) return inconclusive(base, 'data-gate', 'no canary data (no periods with a denominator)', {}, 'no-data');
  if (c.denominator < o.minDenominator) return inconclusive(base, 'data-gate', `too few canary events to judge a rate (${c.denominator}, need ${o.minDenominator})`);

  const conf = o.confidence;
  const cp = clopperPearsonBounds(c.numerator, c.denominator, conf);
  const wilson = wilsonBounds(c.numerator, c.denominator, conf);
  const value = (100 * c.numerator) / c.denominator;
  const details: Details = {
    confidence: conf, canaryErrors: c.numerator, canaryEvents: c.denominator, canaryRatePercent: num(value),
    lowerBoundPercent: num(100 * cp.lower), upperBoundPercent: num(100 * cp.upper),
    wilsonLowerPercent: num(100 * wilson.lower), wilsonUpperPercent: num(100 * wilson.upper),
  };
  // A rate's bounds narrow with events alone: below the limit, more events settle it; at or past
  // it (yet not confidently), the canary sits too close to the limit for that to happen soon.
  const checks = boundCheck(metric, 'clopper-pearson-bound', 'rate', value, 100 * cp.lower, 100 * cp.upper, conf, 'percent', sampleText,
    (limit) => (limit === metric.threshold.max ? value < limit : value > limit));
  if (c.periods < o.minDatapoints) {
    // Few periods, but enough events: a confident breach is a breach (a check during the bake
    // catches it minutes early); a pass still needs the window's time coverage.
    const breach = checks.find((check) => check.verdict === 'FAIL');
    if (breach) return conclude(base, [breach], details);
    return inconclusive(base, 'data-gate', `too few canary periods with data (${c.periods}, need ${o.minDatapoints})`);
  }

  if (metric.baseline) {
    const m = metric.baseline.maxIncreasePercent;
    const test = 'rate-ratio-score-test';
    if (!b || b.periods < o.minDatapoints || b.denominator < o.minDenominator) {
      checks.push({
        verdict: 'INCONCLUSIVE', test, cause: 'too-little-data',
        reason: `not enough baseline data to compare with (${b?.denominator ?? 0} events in ${b?.periods ?? 0} periods, need ${o.minDenominator} in ${o.minDatapoints})`,
      });
    } else {
      // The absolute floor (percentage points) as a ratio at the baseline's rate, when larger.
      const floor = metric.baseline.minIncrease ?? 0;
      const baselineRateNow = (100 * b.numerator) / b.denominator;
      const limit = floor > 0 ? (baselineRateNow > 0 ? Math.max(1 + m / 100, 1 + floor / baselineRateNow) : Infinity) : 1 + m / 100;
      const t = twoProportionTest(c.numerator, c.denominator, b.numerator, b.denominator, limit);
      const same = twoProportionTest(c.numerator, c.denominator, b.numerator, b.denominator, 1);
      const rr = rateRatioBounds(c.numerator, c.denominator, b.numerator, b.denominator, conf);
      const baselineRate = (100 * b.numerator) / b.denominator;
      const ratio = b.numerator > 0 ? value / baselineRate : c.numerator > 0 ? Infinity : 1;
      Object.assign(details, {
        baselineErrors: b.numerator, baselineEvents: b.denominator, baselineRatePercent: num(baselineRate),
        rateRatio: num(ratio), rateRatioLower: num(rr.lower), rateRatioUpper: num(rr.upper),
        allowedRatio: limit, pValueAboveAllowed: num(t.pGreater), pValueAboveBaseline: num(same.pGreater),
      });
      const allowedText = floor > 0 ? `${signedPercent(limit)}: ${m} % or +${fmt(floor)}, the larger` : signedPercent(limit);
      const against = `the baseline ${fmt(baselineRate)} (allowed ${allowedText}`;
      if (Number.isFinite(limit) && t.pGreater < 1 - conf) {
        checks.push({
          verdict: 'FAIL', test,
          reason: `rate ${fmt(value)} is more than ${floor > 0 ? 'allowed' : `${m} %`} above ${against}; ratio ${Number.isFinite(ratio) ? ratio.toFixed(2) : '∞'}, ${pct(conf)} lower bound ${rr.lower.toFixed(2)}, p = ${t.pGreater.toPrecision(2)}; ${sampleText})`,
        });
      } else {
        checks.push({
          verdict: 'PASS', test,
          reason: `no significant increase over ${against}, p = ${Number.isFinite(t.pGreater) ? t.pGreater.toPrecision(2) : 1})`,
        });
      }
    }
  }
  return conclude(base, checks, details);
}

// ---------------------------------------------------------------------------------------------
// Gauge metrics
// ---------------------------------------------------------------------------------------------

interface GaugeSample { times: number[]; values: number[] }

function gaugeSample(s: GaugeSeries, periodSeconds: number): GaugeSample {
  const times: number[] = [];
  const values: number[] = [];
  s.values.forEach((v, i) => {
    if (v !== null && v !== undefined && Number.isFinite(v)) {
      times.push(i * periodSeconds);
      values.push(v);
    }
  });
  return { times, values };
}

function judgeGauge(metric: JudgeMetric, data: MetricData | undefined, periodSeconds: number, o: JudgeDefaults): MetricVerdict {
  const canarySeries = data?.canary && !isRatioSeries(data.canary) ? data.canary : undefined;
  const baselineSeries = data?.baseline && !isRatioSeries(data.baseline) ? data.baseline : undefined;
  const cs = canarySeries ? gaugeSample(canarySeries, periodSeconds) : { times: [], values: [] };
  const bs = baselineSeries ? gaugeSample(baselineSeries, periodSeconds) : undefined;
  const n = cs.values.length;
  const base = {
    name: metric.name, critical: metric.critical,
    canaryValue: n > 0 ? median(cs.values) : null,
    baselineValue: bs && bs.values.length > 0 ? median(bs.values) : null,
    threshold: metric.threshold,
    sample: { canary: n, baseline: bs?.values.length ?? 0 },
  };
  const unit = metric.unit;
  const fmt = (v: number) => formatValue(v, unit);
  if (data?.canary && !canarySeries) return inconclusive(base, 'data-gate', 'canary data is not a gauge series (values)');
  if (n === 0) return inconclusive(base, 'data-gate', 'no canary data (every period is empty)', {}, 'no-data');
  if (n < o.minDatapoints) return inconclusive(base, 'data-gate', `too few canary datapoints (${n}, need ${o.minDatapoints})`);

  const conf = o.confidence;
  // One Theil-Sen fit serves the trend rule and, through its residuals, the autocorrelation
  // (variance inflation) every other bound on this series uses.
  const trend = theilSen(cs.times, cs.values, conf, { autocorrelated: true, robust: true });
  const inflation = trend.varianceInflation;
  const nEff = n / inflation;
  // The level is the window's own: its bounds carry the period-to-period noise (a p99 from few
  // requests), not where a wandering process might be later; that is the trend rule's job.
  let mb = medianBounds(cs.values, conf);
  let levelTest = 'median-bound';
  if (!Number.isFinite(mb.lower) || !Number.isFinite(mb.upper)) {
    // Too few points for order statistics to bound the median at this confidence (below 5 at
    // 95 %): a t bound on the median with a MAD scale (still spike-robust).
    mb = medianBoundsRobustT(cs.values, conf);
    levelTest = 'median-bound-robust-t';
  }
  const details: Details = {
    confidence: conf, canaryMedian: num(mb.median), medianLower: num(mb.lower), medianUpper: num(mb.upper), levelMethod: levelTest,
    canaryAutocorrelation: num(trend.residualAutocorrelation), canaryEffectiveN: num(nEff),
  };
  const sampleText = `${n} datapoints`;
  const trendSampleText = `${n} datapoints${inflation > 1.05 ? `, ~${Math.max(1, Math.floor(nEff))} independent` : ''}`;
  const fewData = () => nEff < FEW_INDEPENDENT;
  const checks = boundCheck(metric, levelTest, 'median', mb.median, mb.lower, mb.upper, conf, unit, sampleText, fewData);

  // Trend: a steady climb toward the maximum (or fall toward the minimum) fails before the crossing.
  const { max, min } = metric.threshold;
  if (max !== undefined || min !== undefined) {
    const tLast = cs.times[n - 1]!;
    const endLevel = trend.intercept + trend.slope * tLast;
    Object.assign(details, {
      slopePerMinute: num(trend.slope * 60), slopeLowerPerMinute: num(trend.lower * 60), slopeUpperPerMinute: num(trend.upper * 60),
      trendPValueIncreasing: num(trend.pIncreasing), trendPValueDecreasing: num(trend.pDecreasing), endLevel: num(endLevel),
      trendHorizonSeconds: o.trendHorizonSeconds,
    });
    const perMin = (v: number) => `${formatValue(v * 60, unit)}/min`;
    // FAIL when even the slowest plausible climb (the slope's lower bound) crosses within the
    // horizon; INCONCLUSIVE when the fitted line (the point estimate) would cross within it: a
    // PASS never rests on a series heading for its limit, significant or not.
    const trendCheck = (direction: 'max' | 'min', limit: number, slow: number, point: number, p: number): void => {
      const gap = direction === 'max' ? limit - endLevel : endLevel - limit;
      const etaAt = (rate: number) => (!(rate > 0) ? Infinity : gap <= 0 ? 0 : gap / rate);
      const etaSlow = etaAt(slow);
      const etaPoint = etaAt(point);
      if (etaPoint > o.trendHorizonSeconds) return;
      details[direction === 'max' ? 'secondsToMax' : 'secondsToMin'] = num(etaSlow);
      details[direction === 'max' ? 'secondsToMaxAtSlope' : 'secondsToMinAtSlope'] = num(etaPoint);
      const verb = direction === 'max' ? 'climbing' : 'falling';
      const bound = direction === 'max' ? 'lower' : 'upper';
      const word = direction === 'max' ? 'maximum' : 'minimum';
      const head = `${verb} ${perMin(trend.slope)} (${pct(conf)} ${bound} bound ${perMin(direction === 'max' ? trend.lower : trend.upper)}) to ${fmt(endLevel)}`;
      const tail = ` (${trendSampleText}, trend p = ${p.toPrecision(2)})`;
      const horizon = `horizon ${formatDuration(o.trendHorizonSeconds)}`;
      if (etaSlow <= o.trendHorizonSeconds) {
        const where = etaSlow === 0 ? `already ${direction === 'max' ? 'above' : 'below'} the ${word} ${fmt(limit)}`
          : `projected to cross the ${word} ${fmt(limit)} within ${formatDuration(etaSlow)} (${horizon})`;
        checks.push({ verdict: 'FAIL', test: 'theil-sen-trend', reason: `${head}: ${where}${tail}` });
      } else {
        const slowText = Number.isFinite(etaSlow) ? `in ${formatDuration(etaSlow)} at the ${bound} bound` : 'the climb is not significant';
        const where = etaPoint === 0 ? `${direction === 'max' ? 'above' : 'below'} the ${word} ${fmt(limit)} at this rate`
          : `would cross the ${word} ${fmt(limit)} in ${formatDuration(etaPoint)} at this rate`;
        checks.push({ verdict: 'INCONCLUSIVE', test: 'theil-sen-trend', cause: fewData() ? 'too-little-data' : 'too-much-variance', reason: `${head}: ${where}, ${slowText} (${horizon})${tail}` });
      }
    };
    if (max !== undefined) trendCheck('max', max, trend.lower, trend.slope, trend.pIncreasing);
    if (min !== undefined) trendCheck('min', min, -trend.upper, -trend.slope, trend.pDecreasing);
  }

  if (metric.baseline) {
    checks.push(compareGaugeWithBaseline(metric, cs, bs, inflation, o, details));
  }
  return conclude(base, checks, details);
}

function compareGaugeWithBaseline(
  metric: JudgeMetric, cs: GaugeSample, bs: GaugeSample | undefined, canaryInflation: number, o: JudgeDefaults, details: Details,
): Check {
  const test = 'mann-whitney-hodges-lehmann';
  const m = metric.baseline!.maxIncreasePercent;
  const nb = bs?.values.length ?? 0;
  if (!bs || nb < o.minDatapoints) {
    return { verdict: 'INCONCLUSIVE', test, cause: 'too-little-data', reason: `not enough baseline data to compare with (${nb} datapoints, need ${o.minDatapoints})` };
  }
  const conf = o.confidence;
  const unit = metric.unit;
  const fmt = (v: number) => formatValue(v, unit);
  const nc = cs.values.length;
  const baselineInflation = ar1VarianceInflation(robustDetrendedAutocorrelation(bs.times, bs.values), nb);
  // Var(U) ≈ (f_c/n_c + f_b/n_b)/12 scaled: each sample's inflation weighted by the other's size.
  const inflation = (nb * canaryInflation + nc * baselineInflation) / (nc + nb);
  const positive = cs.values.every((v) => v > 0) && bs.values.every((v) => v > 0);
  const baselineMedian = median(bs.values);
  const canaryMedian = median(cs.values);
  const sampleText = `${nc} vs ${nb} datapoints`;
  // Work in shift space: log values (shift = log of the ratio canary / baseline) when every value
  // is positive, raw values otherwise (the allowance is then m % of the baseline median's size).
  const scale: 'ratio' | 'difference' = positive ? 'ratio' : 'difference';
  const xc = positive ? cs.values.map(Math.log) : cs.values;
  const xb = positive ? bs.values.map(Math.log) : bs.values;
  // The allowance: m % of the baseline, or the absolute floor minIncrease when larger (a +1 point
  // change of a near-idle CPU is not a +100 % regression).
  const floor = metric.baseline!.minIncrease ?? 0;
  const allowed = positive
    ? Math.log1p(Math.max(m / 100, floor / baselineMedian))
    : Math.max((Math.abs(baselineMedian) * m) / 100, floor);
  const hl = hodgesLehmannShift(xc, xb, conf, { varianceInflation: inflation });
  const mw = mannWhitneyU(xc, xb, { varianceInflation: inflation });
  const mwAllowed = mannWhitneyU(xc, xb, { varianceInflation: inflation, shift: allowed });
  // As a relative change (ratio) where the baseline has a size, else as an absolute shift.
  const relative = positive || baselineMedian !== 0;
  const asRatio = (shift: number) => (positive ? Math.exp(shift) : 1 + shift / Math.abs(baselineMedian));
  const show = (shift: number) => {
    if (!Number.isFinite(shift)) return 'unbounded';
    if (relative) return signedPercent(asRatio(shift));
    return `${shift >= 0 ? '+' : ''}${fmt(shift)}`;
  };
  Object.assign(details, {
    baselineMedian: num(baselineMedian), shiftScale: scale,
    shiftEstimate: num(hl.estimate), shiftLower: num(hl.lower), shiftUpper: num(hl.upper), allowedShift: num(allowed),
    changeRatio: relative ? num(asRatio(hl.estimate)) : null,
    changeRatioLower: relative ? num(asRatio(hl.lower)) : null,
    changeRatioUpper: relative ? num(asRatio(hl.upper)) : null,
    allowedRatio: relative ? num(asRatio(allowed)) : null,
    pValueAboveBaseline: num(mw.pGreater), pValueAboveAllowed: num(mwAllowed.pGreater), rankBiserial: num(mw.rankBiserial),
    baselineVarianceInflation: num(baselineInflation),
  });
  const c = pct(conf);
  const head = `median ${fmt(canaryMedian)} vs baseline ${fmt(baselineMedian)}: ${show(hl.estimate)}`;
  const allowance = floor > 0 ? `${show(allowed)} (${m} % or +${fmt(floor)}, the larger)` : `+${m} %`;
  if (hl.lower > allowed) {
    return {
      verdict: 'FAIL', test,
      reason: `${head}, more than the allowed ${allowance} (${c} lower bound ${show(hl.lower)}, Mann-Whitney p = ${mw.pGreater.toPrecision(2)}; ${sampleText})`,
    };
  }
  if (hl.upper <= allowed) {
    return { verdict: 'PASS', test, reason: `${head}, within ${floor > 0 ? `the allowed ${allowance}` : `+${m} %`} of the baseline (${c} upper bound ${show(hl.upper)}; ${sampleText})` };
  }
  const independent = (nc + nb) / inflation;
  const cause: InconclusiveCause = independent < 2 * FEW_INDEPENDENT ? 'too-little-data' : 'too-much-variance';
  const why = cause === 'too-little-data' ? 'too little data' : `too much variance: ~${Math.floor(independent)} independent of ${nc + nb} datapoints`;
  return {
    verdict: 'INCONCLUSIVE', test, cause,
    reason: `${head}, cannot yet be told from the allowed ${allowance} (${c} bounds ${show(hl.lower)} to ${show(hl.upper)}; ${sampleText}; ${why})`,
  };
}

// ---------------------------------------------------------------------------------------------

export function judgeMetricStatistically(metric: JudgeMetric, window: MetricWindow): MetricVerdict {
  const o = optionsOf(metric);
  const data = window.metrics[metric.name];
  return metric.kind === 'ratio' ? judgeRatio(metric, data, o) : judgeGauge(metric, data, window.periodSeconds > 0 ? window.periodSeconds : 60, o);
}

export const statisticalJudge: Judge = {
  name: 'statistical',
  judge(metrics: JudgeMetric[], window: MetricWindow) {
    return combineVerdicts(metrics.map((m) => judgeMetricStatistically(m, window)));
  },
};

