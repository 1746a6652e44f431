/**
 * The traffic-share and throughput checks (traffic-share.ts) as a check of a stage runs them,
 * beside the judge: which counts to fetch, how they ride in the metrics call, and what a stage
 * does with the verdicts. Pure: windows in, verdicts and a gate out.
 *
 * What the verdicts do:
 * - traffic share PASS: nothing more to prove;
 * - traffic share while the router settles (resolvers and pollers may keep the previous split):
 *   no verdict yet, and the stage does not advance;
 * - traffic share FAIL (the canary serves far less, or far more, than its weight): the check is
 *   recorded FAIL but the stage does not roll back at once: it waits, without advancing, up to
 *   `starvedWaitSeconds` for traffic to follow the weight, then rolls back saying it did not;
 * - traffic share INCONCLUSIVE for too few requests: recorded, never holds a stage (the judge
 *   itself refuses to pass a canary without enough data of its own);
 * - throughput FAIL (successful requests dropped beyond the allowed share against the stage's
 *   start or the pre-rollout minutes): a failed check like a metric's (the failure limit);
 *   INCONCLUSIVE (too few requests to compare): recorded, never holds a stage.
 */
import type { RolloutConfig, RolloutMetric } from './config.ts';
import type { MetricVerdict, MetricWindow, Series } from './judge.ts';
import { checkThroughput, checkTrafficShare, DEFAULT_SETTLE_ALLOWANCE, type RequestCounts } from './traffic-share.ts';
import type { RouterKind } from './targets.ts';

/** The names the counts ride under in a metrics call (not a valid metric name: never met in a config). */
export const TRAFFIC_METRICS = { requests: '__traffic_requests', errors: '__traffic_errors' } as const;
/** Periods just before a stage's shift that its throughput is compared with. */
export const REFERENCE_PERIODS = 5;

/**
 * The request counts of a stage's settled periods, summed: each check adds only the periods it
 * fetched (the analysis is incremental, stage-analysis.ts), so the state stays a few numbers
 * whatever the stage's length.
 */
export interface TrafficTally {
  /** Settled periods seen, with data or not. */
  elapsed: number;
  /** Settled periods where either variant published a count, and the sums over them. */
  periods: number;
  canary: number;
  baseline: number;
  canaryErrors: number;
  baselineErrors: number;
  /** Settled periods where the canary published a count. */
  canaryPeriods: number;
}

export const EMPTY_TALLY: TrafficTally = { elapsed: 0, periods: 0, canary: 0, baseline: 0, canaryErrors: 0, baselineErrors: 0, canaryPeriods: 0 };

/** What a rollout carries between checks for these checks (a few numbers). */
export interface TrafficCheckState {
  /** The stage the reference below belongs to. */
  stageIndex: number;
  /** The stage's settled periods so far. */
  tally?: TrafficTally;
  /** Counts of the periods just before this stage's shift (null: fetched, nothing there). */
  stageStart?: RequestCounts | null;
  /** Counts of the periods just before the rollout's first shift. */
  preRollout?: RequestCounts | null;
  /** Since when the canary's share has been outside the tolerance (the wait before a rollback). */
  starvedSince?: string;
}

/** The synthetic metrics that carry the counts in the metrics call; none when the checks are off. */
export function trafficCountMetrics(config: Pick<RolloutConfig, 'trafficChecks'>): RolloutMetric[] {
  const t = config.trafficChecks;
  if (!t.enabled || !t.requestCounts) return [];
  const { canary, baseline } = t.requestCounts;
  const gauge = (name: string, c: RolloutMetric['queries']['canary'], b: RolloutMetric['queries']['baseline']): RolloutMetric => ({
    name, kind: 'gauge', unit: 'count', critical: false, threshold: {}, queries: { canary: c, baseline: b },
  });
  const metrics = [gauge(TRAFFIC_METRICS.requests, { value: canary.requests }, { value: baseline.requests })];
  if (canary.errors && baseline.errors) metrics.push(gauge(TRAFFIC_METRICS.errors, { value: canary.errors }, { value: baseline.errors }));
  return metrics;
}

const valuesOf = (s: Series | undefined): (number | null)[] => (s && 'values' in s ? s.values : []);

/** The counts a window carries, from period `from` to `to` (exclusive); null when it carries none. */
export function countsOf(window: MetricWindow, from = 0, to?: number): RequestCounts | null {
  const requests = window.metrics[TRAFFIC_METRICS.requests];
  if (!requests) return null;
  const errors = window.metrics[TRAFFIC_METRICS.errors];
  const cut = (xs: (number | null)[]) => xs.slice(from, to);
  return {
    periodSeconds: window.periodSeconds,
    canary: { requests: cut(valuesOf(requests.canary)), ...(errors ? { errors: cut(valuesOf(errors.canary)) } : {}) },
    baseline: { requests: cut(valuesOf(requests.baseline)), ...(errors ? { errors: cut(valuesOf(errors.baseline)) } : {}) },
  };
}

/**
 * The window from period `from` on: as the judge sees it (the counts left out), or with the
 * counts kept (`keepCounts`: what the evidence stores).
 */
export function judgeWindow(window: MetricWindow, from = 0, options: { keepCounts?: boolean } = {}): MetricWindow {
  const metrics: MetricWindow['metrics'] = {};
  const cut = (s: Series): Series => ('values' in s ? { values: s.values.slice(from) } : { numerator: s.numerator.slice(from), denominator: s.denominator.slice(from) });
  for (const [name, data] of Object.entries(window.metrics)) {
    if (!options.keepCounts && (name === TRAFFIC_METRICS.requests || name === TRAFFIC_METRICS.errors)) continue;
    metrics[name] = from === 0 ? data : { canary: cut(data.canary), ...(data.baseline ? { baseline: cut(data.baseline) } : {}) };
  }
  const start = window.start && from > 0 ? new Date(Date.parse(window.start) + from * window.periodSeconds * 1000).toISOString() : window.start;
  return { periodSeconds: window.periodSeconds, ...(start ? { start } : {}), metrics };
}

/** Seconds after in-sync (beyond the router's own settle time) before shares are judged. */
export function settleAllowanceOf(config: Pick<RolloutConfig, 'trafficChecks'>, kind: RouterKind): number {
  return config.trafficChecks.settleAllowanceSeconds ?? DEFAULT_SETTLE_ALLOWANCE[kind];
}

export interface TrafficJudgement {
  /** The share's verdict; null while the router settles (no verdict yet). */
  share: MetricVerdict | null;
  throughput: MetricVerdict[];
}

/**
 * Adds to `tally` the periods of `counts` (the first starting at `startMs`) that start once the
 * router has settled (`settledFromMs`: in sync + the router's settle time + the allowance).
 */
export function tallySettled(tally: TrafficTally, counts: RequestCounts, startMs: number, settledFromMs: number): TrafficTally {
  const out = { ...tally };
  const n = Math.max(counts.canary.requests.length, counts.baseline.requests.length);
  const P = counts.periodSeconds * 1000;
  for (let i = 0; i < n; i++) {
    if (startMs + i * P < settledFromMs) continue;
    out.elapsed++;
    const c = counts.canary.requests[i] ?? null;
    const b = counts.baseline.requests[i] ?? null;
    if (c === null && b === null) continue;
    out.periods++;
    if (c !== null) out.canaryPeriods++;
    out.canary += Math.max(0, c ?? 0);
    out.baseline += Math.max(0, b ?? 0);
    out.canaryErrors += Math.max(0, counts.canary.errors?.[i] ?? 0);
    out.baselineErrors += Math.max(0, counts.baseline.errors?.[i] ?? 0);
  }
  return out;
}

/**
 * The tally as the counts the checks of traffic-share.ts read: one period spanning all its
 * periods, with the same sums and seconds, so a check 40 hours into a stage costs what one at
 * minute 5 costs (per-period arrays would grow with the stage). The verdicts' period counts are
 * put back by `withPeriods`.
 */
function aggregate(t: TrafficTally, periodSeconds: number): RequestCounts {
  const one = (x: number) => (t.periods > 0 ? [x] : []);
  return {
    periodSeconds: Math.max(t.periods, 1) * periodSeconds,
    canary: { requests: one(t.canary), errors: one(t.canaryErrors) },
    baseline: { requests: one(t.baseline), errors: one(t.baselineErrors) },
  };
}

/** A verdict on the aggregated tally, its sample counted in the tally's periods again. */
function withPeriods(v: MetricVerdict, periods: number, side: 'both' | 'canary'): MetricVerdict {
  if (!v.sample) return v;
  return { ...v, sample: { ...v.sample, canary: v.sample.canary > 0 ? periods : 0, ...(side === 'both' ? { baseline: v.sample.baseline > 0 ? periods : 0 } : {}) } };
}

/**
 * Judges a stage's settled periods: the traffic share over all of them, the throughput of them
 * against the stage's start and the pre-rollout minutes. No share verdict while nothing has
 * settled yet.
 */
export function judgeTally(args: {
  config: Pick<RolloutConfig, 'trafficChecks'>;
  kind: RouterKind;
  weight: number;
  tally: TrafficTally;
  periodSeconds: number;
  routerSettleSeconds: number;
  stageStart?: RequestCounts | null;
  preRollout?: RequestCounts | null;
}): TrafficJudgement {
  const t = args.config.trafficChecks;
  const { tally } = args;
  if (tally.elapsed === 0) return { share: null, throughput: [] };
  const allowance = settleAllowanceOf(args.config, args.kind);
  const counts = aggregate(tally, args.periodSeconds);
  // Every period of the tally is settled: the last ends this long after the change was in sync.
  const secondsSinceInSync = allowance + args.routerSettleSeconds + Math.max(tally.periods, 1) * args.periodSeconds;
  const share = withPeriods(checkTrafficShare(
    { kind: args.kind, weight: args.weight, counts, secondsSinceInSync, routerSettleSeconds: args.routerSettleSeconds },
    { tolerance: t.tolerance, settleAllowanceSeconds: { [args.kind]: allowance } },
  ), tally.periods, 'both');
  const throughput = t.throughput.enabled && tally.periods > 0
    ? checkThroughput({
      current: counts,
      ...(args.stageStart ? { stageStart: args.stageStart } : {}),
      ...(args.preRollout && t.throughput.againstPreRollout ? { preRollout: args.preRollout } : {}),
    }, { maxDropShare: t.throughput.maxDropShare }).map((v) => withPeriods(v, tally.periods, 'canary'))
    : [];
  // traffic-share.ts reads a missing canary count beside a baseline count as no canary request
  // (ALB publishes counts only when non-zero). When the canary has no count in any settled
  // period, its metrics may as well have stopped arriving: that is no data (which the judge's
  // own metrics count against the inconclusive limit), not proof of starvation.
  if (share.verdict === 'FAIL' && tally.canaryPeriods === 0) {
    return {
      share: {
        ...share, verdict: 'INCONCLUSIVE', test: 'no-canary-counts', sample: { ...share.sample, canary: 0 },
        reason: `no request count from the canary in ${minutes(tally.elapsed * args.periodSeconds)} after settling while the baseline served ${Math.round(tally.baseline).toLocaleString('en-US')} requests: it served nothing, or its metrics stopped arriving (counted as no data, not as a pass)`,
      },
      throughput,
    };
  }
  return { share, throughput };
}

/**
 * Judges the counts of one window (all at once, as a test or a tool has them). `counts` are the
 * analysis window's periods; the last one ends `secondsSinceInSync` after the change was in sync.
 */
export function judgeTraffic(args: {
  config: Pick<RolloutConfig, 'trafficChecks'>;
  kind: RouterKind;
  weight: number;
  counts: RequestCounts;
  secondsSinceInSync: number;
  routerSettleSeconds: number;
  stageStart?: RequestCounts | null;
  preRollout?: RequestCounts | null;
}): TrafficJudgement {
  const n = Math.max(args.counts.canary.requests.length, args.counts.baseline.requests.length);
  const P = args.counts.periodSeconds;
  const settledFrom = (settleAllowanceOf(args.config, args.kind) + args.routerSettleSeconds) * 1000;
  const tally = tallySettled(EMPTY_TALLY, args.counts, (args.secondsSinceInSync - n * P) * 1000, settledFrom);
  return judgeTally({ ...args, tally, periodSeconds: P });
}

export type TrafficGate =
  /** Nothing to hold the stage for. */
  | { action: 'NONE'; starvedSince?: string }
  /** The stage may not advance yet (settling, or waiting for traffic to follow the weight). */
  | { action: 'HOLD'; starvedSince?: string }
  /** Traffic did not follow the weight within the wait: roll back, saying so. */
  | { action: 'ROLLBACK'; reasons: string[]; starvedSince: string };

const minutes = (s: number) => (s >= 120 ? `${Number((s / 60).toFixed(1))} min` : `${Math.round(s)} s`);

/**
 * What the share's verdict does to the stage (see the module comment). `judged`: false while
 * the router settles (no verdict yet); `starvedSince` the carried start of the wait.
 */
export function trafficGate(judgement: TrafficJudgement | null, starvedSince: string | undefined, now: Date, waitSeconds: number): TrafficGate {
  if (!judgement) return { action: 'NONE' };
  const share = judgement.share;
  if (share === null) return { action: 'HOLD', ...(starvedSince ? { starvedSince } : {}) };
  if (share.verdict === 'PASS') return { action: 'NONE' };
  if (share.verdict === 'INCONCLUSIVE') return { action: 'NONE', ...(starvedSince ? { starvedSince } : {}) };
  const since = starvedSince ?? now.toISOString();
  const waited = (now.getTime() - Date.parse(since)) / 1000;
  if (waited >= waitSeconds) {
    return {
      action: 'ROLLBACK', starvedSince: since,
      reasons: [share.reason, `traffic did not follow the weight for ${minutes(waited)} (trafficChecks.starvedWaitSeconds ${waitSeconds} s): a canary that barely served anyone is not judged healthy`],
    };
  }
  return { action: 'HOLD', starvedSince: since };
}

/** Verdicts that are recorded but never move a stage (see the module comment). */
export function isInformational(v: MetricVerdict): boolean {
  return v.verdict === 'INCONCLUSIVE' && (v.name === 'traffic-share' || v.name.startsWith('throughput-'));
}
