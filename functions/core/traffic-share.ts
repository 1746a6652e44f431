/**
 * Proof that traffic moved, checked beside the judge once a stage is in sync:
 * - traffic share: the canary's share of requests must be near its weight. A canary that barely
 *   served anyone (resolvers ignoring TTLs, a canary failing its load balancer health checks, a
 *   flag the service does not read) would otherwise pass the judge on almost no data;
 * - throughput: successful requests of both variants together must not drop against the stage's
 *   start or the pre-rollout baseline by more than a configured share (a canary that turns
 *   requests away, or clients that give up, show as a drop even when the error rate looks fine).
 *
 * Both return a MetricVerdict, so that they sit in a judgement, the evidence and an incident
 * like any metric. Pure: counts in, verdicts out.
 *
 * Counts follow CloudWatch's habits: a period where neither variant has a request count is no
 * data; a variant without a count beside the other's present count served no request (ALB and
 * Lambda publish counts only when they are not zero); a missing error count is zero errors.
 */
import type { MetricVerdict, Verdict } from './judge.ts';
import { clopperPearsonBounds, wilsonBounds } from './stats.ts';
import type { RouterKind } from './targets.ts';

/** One variant's counts per period, oldest first (null: no datapoint). */
export interface VariantCounts {
  requests: (number | null)[];
  /** Failed requests (5xx, Lambda Errors) per period; absent or null: none. */
  errors?: (number | null)[];
}

/** Both variants' counts over the same periods. */
export interface RequestCounts {
  periodSeconds: number;
  canary: VariantCounts;
  baseline: VariantCounts;
}

export interface TrafficShareInput {
  kind: RouterKind;
  /** The canary's weight during the periods (percent, 0-100). */
  weight: number;
  /** The periods to check, oldest first; the last one ends `secondsSinceInSync` after the change was in sync. */
  counts: RequestCounts;
  secondsSinceInSync: number;
  /** The router's own settling time (RouterReading.settleSeconds: the record TTL, ALB stickiness, a flag's poll interval). */
  routerSettleSeconds?: number;
}

/** Seconds after in-sync (plus the router's own settling time) during which shares are not judged. */
export const DEFAULT_SETTLE_ALLOWANCE: Record<RouterKind, number> = {
  // Resolvers that ignore TTLs keep answering with the old split well past one TTL.
  route53: 300,
  alb: 30,
  'lambda-alias': 30,
  // Deployed does not mean fetched: clients poll (the poll interval is the router's settling time).
  'appconfig-flag': 60,
};

export interface TrafficShareOptions {
  /** Allowed deviation relative to the smaller variant's share: 0.5 → a 5 % canary must serve 2.5-7.5 %. Default 0.5. */
  tolerance?: number;
  /** Allowed deviation never below this many percentage points (a 100 % stage tolerates this much baseline traffic). Default 0.5. */
  minDeviationPoints?: number;
  /** One-sided confidence of the bounds that make a share certainly outside the tolerance. Default 0.99. */
  confidence?: number;
  /** Fewer requests (both variants) than this is INCONCLUSIVE. Default 100. */
  minRequests?: number;
  /** Fewer requests than would give the canary this many at its weight is INCONCLUSIVE. Default 20. */
  minExpectedCanaryRequests?: number;
  /** Per router kind, replacing DEFAULT_SETTLE_ALLOWANCE. */
  settleAllowanceSeconds?: Partial<Record<RouterKind, number>>;
}

const ROUTER_NAME: Record<RouterKind, string> = {
  route53: 'Route 53', alb: 'the ALB', 'lambda-alias': 'the Lambda alias', 'appconfig-flag': 'the AppConfig flag',
};

/** A percent a person reads: 0.3 %, 4.9 %, 12.5 %, 100 %. */
export function formatPercent(percent: number): string {
  return `${Number(percent.toFixed(Math.abs(percent) < 1 ? 2 : 1))} %`;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const minutes = (seconds: number) => (seconds >= 120 ? `${Number((seconds / 60).toFixed(1))} min` : `${Math.round(seconds)} s`);

interface Summed {
  canary: number;
  baseline: number;
  /** Periods with data. */
  periods: number;
}

/** Sums request counts over `indices`, with CloudWatch's conventions (see the module comment). */
function sumRequests(counts: RequestCounts, indices: number[]): Summed {
  let canary = 0;
  let baseline = 0;
  let periods = 0;
  for (const i of indices) {
    const c = counts.canary.requests[i] ?? null;
    const b = counts.baseline.requests[i] ?? null;
    if (c === null && b === null) continue;
    periods++;
    canary += Math.max(0, c ?? 0);
    baseline += Math.max(0, b ?? 0);
  }
  return { canary, baseline, periods };
}

function periodCount(counts: RequestCounts): number {
  return Math.max(counts.canary.requests.length, counts.baseline.requests.length);
}

function verdictOf(name: string, verdict: Verdict, reason: string, test: string, fields: Partial<MetricVerdict> = {}): MetricVerdict {
  return {
    name, verdict, critical: false, reason, test, canaryValue: null, baselineValue: null, threshold: {},
    sample: { canary: 0, baseline: 0 }, ...fields,
  };
}

/**
 * Is the canary's observed share of requests near its weight? PASS when it is within the
 * tolerance; FAIL when it is outside with confidence (starved, or over-served); INCONCLUSIVE
 * while the router settles, with too few requests, or when a share outside the tolerance could
 * still be noise.
 */
export function checkTrafficShare(input: TrafficShareInput, options: TrafficShareOptions = {}): MetricVerdict {
  const name = 'traffic-share';
  const tolerance = options.tolerance ?? 0.5;
  const minDeviation = (options.minDeviationPoints ?? 0.5) / 100;
  const confidence = options.confidence ?? 0.99;
  const minRequests = options.minRequests ?? 100;
  const minExpected = options.minExpectedCanaryRequests ?? 20;
  const { counts, kind } = input;
  const w = Math.min(Math.max(input.weight, 0), 100) / 100;
  const routerSettle = input.routerSettleSeconds ?? 0;
  const allowance = (options.settleAllowanceSeconds?.[kind] ?? DEFAULT_SETTLE_ALLOWANCE[kind]) + routerSettle;
  const deviation = Math.max(tolerance * Math.min(w, 1 - w), minDeviation);
  const clean = (x: number) => Math.round(x * 1e9) / 1e9;
  const band = { min: clean(Math.max(0, w - deviation) * 100), max: clean(Math.min(1, w + deviation) * 100) };
  const threshold = { min: band.min, max: band.max };
  const tolText = `${formatPercent(band.min).replace(' %', '')}-${formatPercent(band.max)}`;

  // Only periods that start once the router has settled count.
  const n = periodCount(counts);
  const P = counts.periodSeconds;
  const settled: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = input.secondsSinceInSync - (n - i) * P;
    if (start >= allowance) settled.push(i);
  }
  if (settled.length === 0) {
    const why = routerSettle > 0 ? `${minutes(allowance)} (${minutes(routerSettle)} of the router's own${kind === 'route53' ? ' TTL' : ''} + ${minutes(allowance - routerSettle)})` : minutes(allowance);
    return verdictOf(name, 'INCONCLUSIVE', `settling: clients of ${ROUTER_NAME[kind]} may keep the previous split for ${why} after the change is in sync; ${minutes(Math.max(0, input.secondsSinceInSync))} have passed, so no full period since can be judged yet`,
      'settling', { threshold, details: { allowanceSeconds: allowance, secondsSinceInSync: input.secondsSinceInSync } });
  }

  const sum = sumRequests(counts, settled);
  const total = sum.canary + sum.baseline;
  const observed = total > 0 ? sum.canary / total : 0;
  const span = `${count(sum.canary)} of ${count(total)} requests over ${minutes(settled.length * P)} after settling`;
  const fields: Partial<MetricVerdict> = {
    canaryValue: total > 0 ? observed * 100 : null, threshold,
    sample: { canary: sum.periods, baseline: sum.periods, canaryEvents: sum.canary, baselineEvents: sum.baseline },
  };
  if (total < minRequests) {
    return verdictOf(name, 'INCONCLUSIVE', `too few requests to check the traffic share: ${count(total)} over ${minutes(settled.length * P)} after settling (at least ${count(minRequests)} needed)`, 'sample-size', fields);
  }
  // At 0 % (after a rollback) the check is that the canary serves next to nothing: no expected count.
  if (w > 0 && w < 1 && total * w < minExpected) {
    return verdictOf(name, 'INCONCLUSIVE', `too few requests to check a ${formatPercent(w * 100)} share: ${count(total)} requests would give the canary about ${count(total * w)} (at least ${count(minExpected)} needed)`, 'sample-size', fields);
  }

  const bounds = wilsonBounds(sum.canary, total, confidence);
  const conf = `${Number((confidence * 100).toFixed(2))} %`;
  const details = { lowerBound: bounds.lower * 100, upperBound: bounds.upper * 100, confidence, allowanceSeconds: allowance };
  const served = `the canary served ${formatPercent(observed * 100)} of requests at weight ${formatPercent(w * 100)}`;
  if (bounds.upper * 100 < band.min) {
    return verdictOf(name, 'FAIL', `traffic did not move: ${served} (${span}; at most ${formatPercent(bounds.upper * 100)} at ${conf} confidence, tolerance ${tolText})`,
      'wilson-share', { ...fields, details: { ...details, direction: 'starved' } });
  }
  if (bounds.lower * 100 > band.max) {
    const lead = w === 0 ? `traffic did not move back: the canary still served ${formatPercent(observed * 100)} of requests at weight 0 %` : `traffic did not follow the weight: ${served}`;
    return verdictOf(name, 'FAIL', `${lead} (${span}; at least ${formatPercent(bounds.lower * 100)} at ${conf} confidence, tolerance ${tolText})`,
      'wilson-share', { ...fields, details: { ...details, direction: 'over-served' } });
  }
  if (observed * 100 < band.min || observed * 100 > band.max) {
    return verdictOf(name, 'INCONCLUSIVE', `${served}, outside the tolerance ${tolText}, but ${count(total)} requests are too few to be sure (${formatPercent(bounds.lower * 100)}-${formatPercent(bounds.upper * 100)} at ${conf} confidence)`,
      'wilson-share', { ...fields, details });
  }
  return verdictOf(name, 'PASS', `traffic moved: ${served} (${span}; tolerance ${tolText})`, 'wilson-share', { ...fields, details });
}

// ---------------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------------

export interface ThroughputInput {
  /** The periods being checked (the stage since it settled), both variants. */
  current: RequestCounts;
  /** The periods just before this stage's shift. */
  stageStart?: RequestCounts;
  /** The periods before the rollout's first shift. */
  preRollout?: RequestCounts;
}

export interface ThroughputOptions {
  /** Largest drop of successful requests per second allowed, as a share: 0.2 → 20 %. Default 0.2. */
  maxDropShare?: number;
  /** One-sided confidence that a drop beyond the limit is not noise. Default 0.99. */
  confidence?: number;
  /** Fewer successful requests than this in either window is INCONCLUSIVE. Default 100. */
  minRequests?: number;
}

interface Rate {
  successes: number;
  seconds: number;
  periods: number;
}

/** Successful requests (requests - errors) of both variants, over the periods with data. */
function successRate(counts: RequestCounts): Rate {
  let successes = 0;
  let periods = 0;
  for (let i = 0; i < periodCount(counts); i++) {
    const c = counts.canary.requests[i] ?? null;
    const b = counts.baseline.requests[i] ?? null;
    if (c === null && b === null) continue;
    periods++;
    const ce = counts.canary.errors?.[i] ?? 0;
    const be = counts.baseline.errors?.[i] ?? 0;
    successes += Math.max(0, (c ?? 0) - (ce ?? 0)) + Math.max(0, (b ?? 0) - (be ?? 0));
  }
  return { successes, seconds: periods * counts.periodSeconds, periods };
}

const perSecond = (r: Rate) => (r.seconds > 0 ? r.successes / r.seconds : 0);
const rateText = (x: number) => `${Number(x.toFixed(x < 10 ? 2 : 1))}/s`;

/**
 * The ratio of two Poisson rates with exact bounds: conditionally on the total, the current
 * count is Binomial(total, p) with p / (1 - p) = ratio · seconds_now / seconds_ref.
 */
function rateRatio(now: Rate, ref: Rate, confidence: number): { ratio: number; lower: number; upper: number } {
  const scale = ref.seconds / now.seconds;
  const total = now.successes + ref.successes;
  const b = clopperPearsonBounds(now.successes, total, confidence);
  const odds = (p: number) => (p >= 1 ? Infinity : p / (1 - p));
  return { ratio: perSecond(now) / perSecond(ref), lower: odds(b.lower) * scale, upper: odds(b.upper) * scale };
}

function compareThroughput(name: string, label: string, now: Rate, ref: Rate, maxDrop: number, confidence: number, minRequests: number): MetricVerdict {
  const limit = 1 - maxDrop;
  const threshold = { min: limit * perSecond(ref) };
  const sample = { canary: now.periods, baseline: ref.periods, canaryEvents: now.successes, baselineEvents: ref.successes };
  // No successes now is a drop to judge, not a lack of data; a thin reference is.
  if (ref.successes < minRequests || now.periods === 0) {
    return verdictOf(name, 'INCONCLUSIVE', `too few successful requests to compare throughput with ${label}: ${count(ref.successes)} then over ${minutes(ref.seconds)}, ${count(now.successes)} now over ${minutes(now.seconds)} (at least ${count(minRequests)} needed in the reference)`,
      'sample-size', { threshold, sample });
  }
  const r = rateRatio(now, ref, confidence);
  const change = (r.ratio - 1) * 100;
  const changeText = `${change >= 0 ? '+' : ''}${Number(change.toFixed(1))} %`;
  const fields: Partial<MetricVerdict> = {
    canaryValue: perSecond(now), baselineValue: perSecond(ref), threshold, sample,
    details: { ratio: r.ratio, lowerBound: r.lower, upperBound: r.upper, confidence, maxDropShare: maxDrop },
  };
  const figures = `${rateText(perSecond(now))} successful requests against ${rateText(perSecond(ref))} at ${label}`;
  const allowed = `${Number((maxDrop * 100).toFixed(1))} %`;
  if (r.upper < limit) {
    return verdictOf(name, 'FAIL', `throughput dropped: ${figures} (${changeText}, more than the ${allowed} allowed)`, 'poisson-rate-ratio', fields);
  }
  if (r.ratio < limit) {
    return verdictOf(name, 'INCONCLUSIVE', `throughput may have dropped: ${figures} (${changeText}, beyond the ${allowed} allowed, but too few requests to be sure)`, 'poisson-rate-ratio', fields);
  }
  return verdictOf(name, 'PASS', `throughput held: ${figures} (${changeText}; at most ${allowed} drop allowed)`, 'poisson-rate-ratio', fields);
}

/**
 * Successful requests per second (both variants) now, against the stage's start and against
 * the pre-rollout baseline: one verdict per reference given. A drop beyond `maxDropShare` that
 * is not noise FAILs. Requests per second are compared, so windows of different lengths are
 * fine; slow daily swings are not told apart from a drop: keep maxDropShare above the swing
 * expected over a stage, or leave out the pre-rollout reference for long stages.
 */
export function checkThroughput(input: ThroughputInput, options: ThroughputOptions = {}): MetricVerdict[] {
  const maxDrop = options.maxDropShare ?? 0.2;
  const confidence = options.confidence ?? 0.99;
  const minRequests = options.minRequests ?? 100;
  const now = successRate(input.current);
  const out: MetricVerdict[] = [];
  if (input.stageStart) out.push(compareThroughput('throughput-vs-stage-start', 'the stage\'s start', now, successRate(input.stageStart), maxDrop, confidence, minRequests));
  if (input.preRollout) out.push(compareThroughput('throughput-vs-pre-rollout', 'the pre-rollout baseline', now, successRate(input.preRollout), maxDrop, confidence, minRequests));
  return out;
}
