/**
 * A model of the service behind the weighted records: a baseline and a canary version whose
 * request counts follow the traffic split over time (the weight history of the simulated
 * Route 53 records, with clients moving over one TTL after each change is INSYNC), and whose
 * 5xx counts, p99 latency and memory come from a scenario's behaviour plus seeded noise.
 *
 * It answers the rollout config's own CloudWatch queries (by metric name and by which
 * variant's query it is), the way CloudWatch would: one datapoint per complete period, none
 * for a period that has not ended, and ALB's habit of publishing counts only when non-zero.
 */
import { isMetricStatQuery, metricQueryText, type MetricQuery, type RolloutMetric, type Target } from '../functions/core/config.ts';
import type { MetricData, MetricWindow, Series } from '../functions/core/judge.ts';
import type { Clock, MetricRange, MetricsPort } from '../functions/core/ports.ts';
import type { MemoryTraffic, WeightChange, Weights } from './memory-adapters.ts';
import { normalQuantile } from '../functions/core/stats.ts';
import { binomial, hashSeed, normal, poisson, rngFor, type Rng } from './prng.ts';

export type Variant = 'baseline' | 'canary';

/** What a behaviour function knows about one period of one variant. */
export interface VariantContext {
  variant: Variant;
  /** Middle of the period. */
  at: Date;
  /** Seconds since the simulation started (negative before it). */
  elapsedSeconds: number;
  /** The variant's share of the requests (0..1), averaged over the period. */
  share: number;
  /** The canary weight (percent) last submitted to Route 53 before `at`. */
  canaryWeight: number;
  /** Requests (expected) the variant served since the simulation started. */
  servedRequests: number;
  /** Requests per minute the variant receives in this period (expected). */
  requestsPerMinute: number;
  /**
   * Seconds since a rollback (the canary's weight set back to 0 from above 0) was in sync, at the
   * middle of the period; absent before any (Route 53 only: what a scenario whose baseline is
   * slow to recover after a rollback keys on).
   */
  secondsSinceRollback?: number;
}

export interface VariantBehaviour {
  /** Share of requests answered 5xx (0..1). */
  errorRate(c: VariantContext): number;
  /** True 99th percentile of the response time, seconds. */
  latencyP99Seconds(c: VariantContext): number;
  /** Memory utilization (percent of the reservation) before noise. */
  memoryPercent(c: VariantContext): number;
  /** False: no datapoint of this variant reaches CloudWatch for the period (broken pipeline). */
  reporting?(c: VariantContext): boolean;
}

export interface ServiceProfile {
  /** Requests per minute to the service, both variants together. */
  requestsPerMinute: number;
  /**
   * Route 53 only: the share of clients behind resolvers that ignore the TTL, and how long they
   * keep the previous answer (exponentially, this time constant) once the TTL has passed: the
   * canary's share lags its weight. Absent: every client follows within one TTL.
   */
  staleResolvers?: { share: number; seconds: number };
  /**
   * The share of the canary's traffic that actually reaches it (the rest lands on the baseline):
   * 1 normally; below 1 when the canary is starved (failing its load balancer health checks,
   * resolvers pinned to the old answer, a flag the service does not read). Default 1.
   */
  canaryReach?: number;
  /** A factor on the whole service's request rate, given the canary weight last set (clients giving up after a shift). Default 1. */
  requestFactor?(canaryWeight: number): number;
  /** Shape (sigma of the log) of the log-normal response time; p99/median = exp(2.326 sigma). */
  latencySigma: number;
  /** Amplitude of the slow memory wander, percent. */
  memoryNoisePercent: number;
  baseline: VariantBehaviour;
  canary: VariantBehaviour;
}

/** The signals the model produces, and the CloudWatch metrics that carry them. */
export type Signal = 'requests' | 'errors' | 'latency' | 'memory' | 'concurrency';

const SIGNALS: Record<string, Signal> = {
  RequestCount: 'requests',
  HTTPCode_Target_5XX_Count: 'errors',
  TargetResponseTime: 'latency',
  MemoryUtilization: 'memory',
  // Lambda (AWS/Lambda, per version behind an alias): Duration in milliseconds.
  Invocations: 'requests',
  Errors: 'errors',
  Duration: 'latency',
  ConcurrentExecutions: 'concurrency',
  // A flagged service's own metrics (the appconfig-flag preset's default names): Latency in milliseconds.
  Requests: 'requests',
  Latency: 'latency',
};

/** Metrics published in milliseconds: the model's latency (seconds) times 1000. */
const MILLISECONDS = new Set(['Duration', 'Latency']);

const COUNT_STATS = new Set(['Sum']);
const VALUE_STATS = /^(Average|Maximum|Minimum|SampleCount|p\d{1,2}(\.\d{1,2})?)$/;

/** The config asks for something the model does not produce. */
export class SimulationModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulationModelError';
  }
}

/** Which modelled signal a query reads; throws, naming the metric, when there is none. */
export function signalOf(metric: string, q: MetricQuery): Signal {
  if (!isMetricStatQuery(q)) {
    throw new SimulationModelError(`metric '${metric}': the simulator models single metrics only, not ${metricQueryText(q)}`);
  }
  const signal = SIGNALS[q.metricName];
  if (!signal) {
    throw new SimulationModelError(`metric '${metric}': the simulator has no model for ${q.namespace} ${q.metricName}; it models ${Object.keys(SIGNALS).join(', ')}`);
  }
  if ((signal === 'requests' || signal === 'errors') && !COUNT_STATS.has(q.stat)) {
    throw new SimulationModelError(`metric '${metric}': ${q.metricName} is a count, query it with stat Sum (not ${q.stat})`);
  }
  if ((signal === 'latency' || signal === 'memory' || signal === 'concurrency') && !VALUE_STATS.test(q.stat)) {
    throw new SimulationModelError(`metric '${metric}': the simulator gives ${q.metricName} as Average, Maximum, Minimum, SampleCount or pNN, not ${q.stat}`);
  }
  return signal;
}

/** Checks that every query of the config can be answered (before anything runs). */
export function checkModelCoverage(metrics: RolloutMetric[]): void {
  for (const m of metrics) {
    for (const variant of ['canary', 'baseline'] as const) {
      const q = m.queries[variant];
      for (const query of 'numerator' in q ? [q.numerator, q.denominator] : [q.value]) signalOf(m.name, query);
    }
  }
}

interface PeriodSample {
  /** Requests in the period; 0 means ALB publishes no datapoint. */
  requests: number;
  errors: number;
  /** The period's response times are log-normal(mu, sigma): each statistic is drawn from it (below). */
  latency: { mu: number; sigma: number; seed: number };
  memory: number;
  reporting: boolean;
}

/** An Average over this many requests or fewer is drawn request by request; beyond, from its normal limit. */
const EXACT_AVERAGE_MAX = 200;
/** z of the 99th percentile of a standard normal. */
const Z99 = 2.3263478740408408;

export interface ServiceModelOptions {
  profile: ServiceProfile;
  /** The simulated Route 53 records the model follows (absent with `share`). */
  traffic?: MemoryTraffic;
  target?: Target;
  clock: Clock;
  seed: number;
  /** When the simulation started: `servedRequests` counts from here. */
  startedAt: Date;
  /** TTL of the weighted records: clients move to a new split over this long after INSYNC. */
  ttlSeconds: number;
  /**
   * Where the canary's share comes from when the router is not the simulated Route 53 (an ALB,
   * a Lambda alias, an AppConfig flag: sim/sim-routers.ts): its share at a time (0..1), and the
   * canary weight last set before a time (percent). Absent: `traffic`'s Route 53 records.
   */
  share?: { canaryShareAt(t: number): number; weightAt(t: number): number };
}

interface History {
  initial: Weights;
  changes: readonly WeightChange[];
}

const shareOf = (w: Weights) => (w.baseline + w.canary === 0 ? 0.5 : w.canary / (w.baseline + w.canary));

export class ServiceModel implements MetricsPort {
  readonly #o: ServiceModelOptions;
  readonly #cache = new Map<string, PeriodSample>();
  readonly #phase: Record<Variant, [number, number, number]>;

  constructor(options: ServiceModelOptions) {
    this.#o = options;
    const phases = (v: Variant): [number, number, number] => {
      const rng = rngFor(options.seed, 'phase', v);
      return [rng() * 2 * Math.PI, rng() * 2 * Math.PI, rng() * 2 * Math.PI];
    };
    this.#phase = { baseline: phases('baseline'), canary: phases('canary') };
  }

  get profile(): ServiceProfile {
    return this.#o.profile;
  }

  #history(): History {
    const { traffic, target } = this.#o;
    if (this.#o.share || !traffic || !target) return { initial: { baseline: 100, canary: 0 }, changes: [] };
    const changes = traffic.changeLog(target);
    const initial = changes[0]?.previous ?? traffic.weights(target) ?? { baseline: 100, canary: 0 };
    return { initial, changes };
  }

  /**
   * The canary's share of requests at `t` (0..1), as the router serves it: each Route 53 change
   * moves clients over one TTL after INSYNC (and those behind stale resolvers later still);
   * another router's share comes from the router itself (`share`).
   */
  canaryShareAt(t: number, history = this.#history()): number {
    if (this.#o.share) return Math.min(1, Math.max(0, this.#o.share.canaryShareAt(t)));
    let value = shareOf(history.initial);
    const ttlMs = this.#o.ttlSeconds * 1000;
    const stale = this.#o.profile.staleResolvers;
    for (const c of history.changes) {
      const since = t - c.inSyncAt.getTime();
      const ramp = ttlMs <= 0 ? (since >= 0 ? 1 : 0) : Math.min(1, Math.max(0, since / ttlMs));
      // Clients behind resolvers that ignore the TTL move later, a few at a time.
      const late = stale && since > ttlMs ? 1 - Math.exp(-(since - ttlMs) / (stale.seconds * 1000)) : 0;
      const moved = stale ? (1 - stale.share) * ramp + stale.share * late : ramp;
      value += (shareOf(c.weights) - shareOf(c.previous)) * moved;
    }
    return Math.min(1, Math.max(0, value));
  }

  /**
   * The integral of the canary's share over [from, to) (share × milliseconds), exactly: the share
   * is piecewise linear (each change ramps over one TTL after INSYNC). O(changes), whatever the span,
   * so a check at hour 40 of a stage costs what one at minute 5 costs.
   */
  #canaryShareIntegral(from: number, to: number, history: History): number {
    if (this.#o.share) return this.#sharedIntegral(from, to);
    const ttlMs = this.#o.ttlSeconds * 1000;
    const stale = this.#o.profile.staleResolvers;
    // F(t) = ∫ ramp from -∞ to t of one change whose ramp starts at a.
    const ramped = (t: number, a: number) => {
      if (t <= a) return 0;
      if (ttlMs <= 0) return t - a;
      return t <= a + ttlMs ? ((t - a) ** 2) / (2 * ttlMs) : ttlMs / 2 + (t - a - ttlMs);
    };
    // ...and of the stale resolvers' late move: 1 - exp(-(t - a - ttl) / tau) from a + ttl on.
    const late = (t: number, a: number) => {
      if (!stale || t <= a + ttlMs) return 0;
      const tau = stale.seconds * 1000;
      const x = t - a - ttlMs;
      return x - tau * (1 - Math.exp(-x / tau));
    };
    const moved = (t: number, a: number) => (stale ? (1 - stale.share) * ramped(t, a) + stale.share * late(t, a) : ramped(t, a));
    let total = shareOf(history.initial) * (to - from);
    for (const c of history.changes) {
      const a = c.inSyncAt.getTime();
      total += (shareOf(c.weights) - shareOf(c.previous)) * (moved(to, a) - moved(from, a));
    }
    return total;
  }

  /** The integral of another router's share over [from, to): at most 2,000 midpoint samples, 5 s apart or wider. */
  #sharedIntegral(from: number, to: number): number {
    const n = Math.max(1, Math.min(2000, Math.ceil((to - from) / 5000)));
    const step = (to - from) / n;
    let total = 0;
    for (let i = 0; i < n; i++) total += this.canaryShareAt(from + (i + 0.5) * step) * step;
    return total;
  }

  /** Mean share of a variant over [from, to); a starved canary receives only `canaryReach` of its share (the rest lands on the baseline). */
  #meanShare(variant: Variant, from: number, to: number, history: History): number {
    const reach = this.#o.profile.canaryReach ?? 1;
    if (to <= from) return variant === 'canary' ? this.canaryShareAt(from, history) * reach : 1 - this.canaryShareAt(from, history) * reach;
    const canary = Math.min(1, Math.max(0, this.#canaryShareIntegral(from, to, history) / (to - from))) * reach;
    return variant === 'canary' ? canary : 1 - canary;
  }

  /** Slow traffic wander (±4 %), the same for both variants. */
  #rateFactor(t: number): number {
    return 1 + 0.04 * Math.sin((2 * Math.PI * t) / (23 * 60_000) + this.#phase.baseline[0]);
  }

  #context(variant: Variant, start: number, periodMs: number): VariantContext {
    const history = this.#history();
    const from = this.#o.startedAt.getTime();
    const mid = start + periodMs / 2;
    const rpm = this.#o.profile.requestsPerMinute;
    let served = 0;
    if (mid > from) served = (rpm / 60_000) * this.#meanShare(variant, from, mid, history) * (mid - from);
    const share = this.#meanShare(variant, start, start + periodMs, history);
    const submitted = history.changes.filter((c) => c.submittedAt.getTime() <= mid).at(-1);
    const canaryWeight = this.#o.share ? this.#o.share.weightAt(mid) : submitted ? submitted.weights.canary : history.initial.canary;
    const rollback = history.changes.filter((c) => c.weights.canary === 0 && c.previous.canary > 0 && c.inSyncAt.getTime() <= mid).at(-1);
    return {
      ...(rollback ? { secondsSinceRollback: (mid - rollback.inSyncAt.getTime()) / 1000 } : {}),
      variant,
      at: new Date(mid),
      elapsedSeconds: (mid - from) / 1000,
      share,
      canaryWeight,
      servedRequests: served,
      requestsPerMinute: rpm * share * this.#rateFactor(mid) * (this.#o.profile.requestFactor?.(canaryWeight) ?? 1),
    };
  }

  /** Memory wanders slowly (two slow waves) plus a little per-period jitter. */
  #memoryNoise(variant: Variant, t: number, rng: Rng): number {
    const [a, b] = this.#phase[variant];
    const amp = this.#o.profile.memoryNoisePercent;
    return amp * (0.6 * Math.sin((2 * Math.PI * t) / (17 * 60_000) + a) + 0.4 * Math.sin((2 * Math.PI * t) / (7 * 60_000) + b)) + 0.3 * amp * normal(rng);
  }

  /** The period starting at `start`, or null while it has not ended (CloudWatch has nothing yet). */
  sample(variant: Variant, start: number, periodSeconds: number): PeriodSample | null {
    const periodMs = periodSeconds * 1000;
    if (start + periodMs > this.#o.clock.now().getTime()) return null;
    const key = `${variant}:${start}:${periodSeconds}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;

    const profile = this.#o.profile;
    const behaviour = profile[variant];
    const c = this.#context(variant, start, periodMs);
    const rng = rngFor(this.#o.seed, variant, start, periodSeconds);
    const requests = poisson(rng, c.requestsPerMinute * (periodSeconds / 60));
    const errors = binomial(rng, requests, Math.min(1, Math.max(0, behaviour.errorRate(c))));
    const sigma = profile.latencySigma;
    const mu = Math.log(behaviour.latencyP99Seconds(c)) - Z99 * sigma;
    const memory = Math.min(100, Math.max(0, behaviour.memoryPercent(c) + this.#memoryNoise(variant, c.at.getTime(), rng)));
    const latency = { mu, sigma, seed: hashSeed(this.#o.seed, variant, start, periodSeconds, 'latency') };
    const sample: PeriodSample = { requests, errors, latency, memory, reporting: behaviour.reporting?.(c) ?? true };
    this.#cache.set(key, sample);
    return sample;
  }

  /** One CloudWatch datapoint of a query for a period, or null where CloudWatch would have none. */
  datapoint(metric: string, variant: Variant, query: MetricQuery, start: number, periodSeconds: number): number | null {
    const signal = signalOf(metric, query);
    const s = this.sample(variant, start, periodSeconds);
    if (!s || !s.reporting) return null;
    switch (signal) {
      case 'memory':
        return round(s.memory, 4);
      case 'requests':
        return s.requests > 0 ? s.requests : null;
      case 'errors':
        return s.errors > 0 ? s.errors : null;
      case 'latency': {
        if (s.requests === 0) return null;
        const seconds = latencyStatistic(s.latency, s.requests, query.stat!);
        return MILLISECONDS.has(query.metricName!) ? round(seconds * 1000, 3) : round(seconds, 6);
      }
      case 'concurrency': {
        // Little's law: requests in flight = arrival rate × mean duration (a Lambda version's ConcurrentExecutions).
        if (s.requests === 0) return null;
        const mean = Math.exp(s.latency.mu + (s.latency.sigma ** 2) / 2);
        return round((s.requests / periodSeconds) * mean, 3);
      }
    }
  }

  async fetchWindow(metrics: RolloutMetric[], range: MetricRange): Promise<MetricWindow> {
    const periodMs = range.periodSeconds * 1000;
    const startMs = range.start.getTime();
    const periods = Math.max(0, Math.floor((range.end.getTime() - startMs) / periodMs));
    const series = (metric: string, variant: Variant, q: MetricQuery) =>
      Array.from({ length: periods }, (_, k) => this.datapoint(metric, variant, q, startMs + k * periodMs, range.periodSeconds));
    const window: MetricWindow = { periodSeconds: range.periodSeconds, start: range.start.toISOString(), metrics: {} };
    for (const m of metrics) {
      const of = (variant: Variant): Series => {
        const q = m.queries[variant];
        return 'numerator' in q
          ? { numerator: series(m.name, variant, q.numerator), denominator: series(m.name, variant, q.denominator) }
          : { values: series(m.name, variant, q.value) };
      };
      const data: MetricData = { canary: of('canary'), baseline: of('baseline') };
      window.metrics[m.name] = data;
    }
    return window;
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * A CloudWatch statistic of `n` log-normal(mu, sigma) response times, drawn as the statistic of a
 * real sample of n requests would be, at O(1) cost: pNN is the nearest-rank order statistic, and
 * the k-th smallest of n uniforms is G_k / (G_k + G_{n-k+1}) with G_a ~ Gamma(a) (exact for the
 * tails, where one of the shapes is small); Maximum and Minimum are its extremes; an Average of a
 * few requests is drawn request by request, of many from its normal limit.
 */
function latencyStatistic(l: PeriodSample['latency'], n: number, stat: string): number {
  const rng = rngFor(l.seed, stat);
  const at = (u: number) => Math.exp(l.mu + l.sigma * normalQuantile(Math.min(1 - 1e-12, Math.max(1e-12, u))));
  if (stat === 'SampleCount') return n;
  if (stat === 'Average') {
    if (n <= EXACT_AVERAGE_MAX) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += Math.exp(l.mu + l.sigma * normal(rng));
      return sum / n;
    }
    const mean = Math.exp(l.mu + (l.sigma ** 2) / 2);
    const sd = Math.sqrt((Math.exp(l.sigma ** 2) - 1) * Math.exp(2 * l.mu + l.sigma ** 2));
    return Math.max(1e-6, mean + (sd / Math.sqrt(n)) * normal(rng));
  }
  const p = stat === 'Maximum' ? 1 : stat === 'Minimum' ? 0 : Number(stat.slice(1)) / 100;
  const k = Math.min(n, Math.max(1, Math.ceil(p * n)));
  const a = gammaInt(rng, k);
  return at(a / (a + gammaInt(rng, n - k + 1)));
}

/** Gamma(shape) for an integer shape: a sum of exponentials when small, Wilson-Hilferty when large. */
function gammaInt(rng: Rng, shape: number): number {
  if (shape <= 30) {
    let sum = 0;
    for (let i = 0; i < shape; i++) {
      let u = 0;
      while (u === 0) u = rng();
      sum -= Math.log(u);
    }
    return sum;
  }
  const z = normal(rng);
  return shape * (1 - 1 / (9 * shape) + z / (3 * Math.sqrt(shape))) ** 3;
}
