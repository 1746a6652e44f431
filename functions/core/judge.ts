/**
 * The judge's contract: one window of canary and baseline data per metric in, one verdict per
 * metric and an overall verdict out. Pure data; implementations live beside this file.
 */
import type { JudgeMetric } from './config.ts';

/** A gauge series: one value per period, oldest first, `null` where a period has no datapoint. */
export interface GaugeSeries {
  values: (number | null)[];
}

/** A ratio series: counts per period. A null numerator beside a present denominator is zero. */
export interface RatioSeries {
  numerator: (number | null)[];
  denominator: (number | null)[];
}

export type Series = GaugeSeries | RatioSeries;

export interface MetricData {
  canary: Series;
  baseline?: Series;
}

/** The `canary judge --data` format, and what the metrics adapter returns for a check. */
export interface MetricWindow {
  periodSeconds: number;
  /** ISO time of the first period's start, when known. */
  start?: string;
  metrics: Record<string, MetricData>;
}

export type Verdict = 'PASS' | 'FAIL' | 'INCONCLUSIVE';

export interface MetricVerdict {
  name: string;
  verdict: Verdict;
  critical: boolean;
  /** One line a person can read: the value, what it was held against, and the sample. */
  reason: string;
  /** Which test or rule decided. */
  test: string;
  /** Canary statistic that was judged (rate in percent for ratios), null when there was no data. */
  canaryValue: number | null;
  baselineValue: number | null;
  threshold: { max?: number; min?: number };
  /** Datapoints (periods with data) per variant, and for ratios the denominator total. */
  sample: { canary: number; baseline: number; canaryEvents?: number; baselineEvents?: number };
  /** Test-specific figures: confidence bounds, p-value, effect size, slope... */
  details?: Record<string, number | string | boolean | null>;
  /** Why a verdict is INCONCLUSIVE (absent otherwise): what more would settle it. */
  cause?: InconclusiveCause;
  /** A FAIL of the sequential judge: the change it detected. */
  change?: DetectedChange;
  /** A dry-run metric's or check's verdict: recorded, reported and charted, never acted on. */
  dryRun?: boolean;
}

/**
 * - `no-data`: no canary datapoint at all (no data is never a pass);
 * - `too-little-data`: data, but fewer periods or events than the judge needs to tell;
 * - `too-much-variance`: enough data, but the series is too noisy (or too close to its limit) to tell;
 * - `unconfirmed`: a window test sees a breach the any-time-valid detector has not confirmed yet;
 * - `suspected-change`: the change detector is more than half-way to its alarm level.
 */
export type InconclusiveCause = 'no-data' | 'too-little-data' | 'too-much-variance' | 'unconfirmed' | 'suspected-change';

export interface DetectedChange {
  /** Which detector fired: a threshold, the baseline comparison, or the trend toward a threshold. */
  detector: 'max' | 'min' | 'baseline' | 'trend-max' | 'trend-min';
  /** Start of the first period of the estimated change (ISO). */
  since: string;
  /** End of the period at which the evidence crossed the alarm level (ISO). */
  detectedAt: string;
  /** The canary's value since the change (rate in percent for ratios), and the baseline's. */
  value: number | null;
  baselineValue?: number | null;
  /** The bound (at the detector's level) that is beyond the limit, and the limit. */
  bound: number | null;
  limit: number | null;
  /** ln of the e-detector's statistic and of its alarm level. */
  logEvidence: number;
  logThreshold: number;
}

export interface Judgement {
  verdict: Verdict;
  metrics: MetricVerdict[];
  /** True when a critical metric failed: the rollout rolls back at once, whatever the limits. */
  criticalFailure: boolean;
}

export interface Judge {
  readonly name: string;
  judge(metrics: JudgeMetric[], window: MetricWindow): Judgement;
}

export function isRatioSeries(s: Series): s is RatioSeries {
  return 'numerator' in s;
}

/** A verdict that is recorded and never acted on (a dry-run metric's or check's): flagged, and its reason says so. */
export function asDryRun(v: MetricVerdict): MetricVerdict {
  return v.dryRun ? v : { ...v, dryRun: true, reason: `dry run: ${v.reason}` };
}

/**
 * FAIL beats INCONCLUSIVE beats PASS. Dry-run verdicts are kept in `metrics` and count for
 * nothing: the overall verdict and `criticalFailure` are the others'.
 */
export function combineVerdicts(all: MetricVerdict[]): Judgement {
  const judged = combineActing(all.filter((m) => !m.dryRun));
  return { ...judged, metrics: all };
}

function combineActing(metrics: MetricVerdict[]): Judgement {
  const anyFail = metrics.some((m) => m.verdict === 'FAIL');
  const anyInconclusive = metrics.some((m) => m.verdict === 'INCONCLUSIVE');
  return {
    verdict: anyFail ? 'FAIL' : anyInconclusive || metrics.length === 0 ? 'INCONCLUSIVE' : 'PASS',
    metrics,
    criticalFailure: metrics.some((m) => m.verdict === 'FAIL' && m.critical),
  };
}

/**
 * Per-period (numerator, denominator) pairs that count: periods with a denominator. An absent
 * numerator beside a present denominator is zero errors (ALB publishes counts only when non-zero).
 */
export function ratioCounts(s: RatioSeries): { periods: number; numerator: number; denominator: number } {
  let periods = 0;
  let numerator = 0;
  let denominator = 0;
  const n = Math.max(s.numerator.length, s.denominator.length);
  for (let i = 0; i < n; i++) {
    const d = s.denominator[i];
    if (d === null || d === undefined || !Number.isFinite(d)) continue;
    periods++;
    denominator += d;
    const num = s.numerator[i];
    if (num !== null && num !== undefined && Number.isFinite(num)) numerator += num;
  }
  return { periods, numerator, denominator };
}

export function presentValues(s: GaugeSeries): number[] {
  return s.values.filter((v): v is number => v !== null && v !== undefined && Number.isFinite(v));
}

export function formatValue(value: number | null, unit: string): string {
  if (value === null) return 'no data';
  const rounded = Math.abs(value) >= 100 ? value.toFixed(1) : Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
  switch (unit) {
    case 'percent': return `${rounded} %`;
    case 'seconds': return `${rounded} s`;
    case 'milliseconds': return `${rounded} ms`;
    case 'bytes': return `${rounded} B`;
    default: return rounded;
  }
}
