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
  /** Shape (sigma of the log) of the log-normal response time; p99/median = exp(2.326 sigma). */
  latencySigma: number;
  /** Amplitude of the slow memory wander, percent. */
  memoryNoisePercent: number;
  baseline: VariantBehaviour;
  canary: VariantBehaviour;
}

/** The signals the model produces, and the CloudWatch metrics that carry them. */
export type Signal = 'requests' | 'errors' | 'latency' | 'memory';

const SIGNALS: Record<string, Signal> = {
  RequestCount: 'requests',
  HTTPCode_Target_5XX_Count: 'errors',
  TargetResponseTime: 'latency',
  MemoryUtilization: 'memory',
};

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
  if ((signal === 'latency' || signal === 'memory') && !VALUE_STATS.test(q.stat)) {
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
  traffic: MemoryTraffic;
  target: Target;
  clock: Clock;
  seed: number;
  /** When the simulation started: `servedRequests` counts from here. */
  startedAt: Date;
  /** TTL of the weighted records: clients move to a new split over this long after INSYNC. */
  ttlSeconds: number;
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
    const changes = this.#o.traffic.changeLog(this.#o.target);
    const initial = changes[0]?.previous ?? this.#o.traffic.weights(this.#o.target) ?? { baseline: 100, canary: 0 };
    return { initial, changes };
  }

  /** The canary's share of requests at `t` (0..1): each change moves clients over one TTL after INSYNC. */
  canaryShareAt(t: number, history = this.#history()): number {
    let value = shareOf(history.initial);
    const ttlMs = this.#o.ttlSeconds * 1000;
    for (const c of history.changes) {
      const since = t - c.inSyncAt.getTime();
      const ramp = ttlMs <= 0 ? (since >= 0 ? 1 : 0) : Math.min(1, Math.max(0, since / ttlMs));
      value += (shareOf(c.weights) - shareOf(c.previous)) * ramp;
    }
    return Math.min(1, Math.max(0, value));
  }

  /**
   * The integral of the canary's share over [from, to) (share × milliseconds), exactly: the share
   * is piecewise linear (each change ramps over one TTL after INSYNC). O(changes), whatever the span,
   * so a check at hour 40 of a stage costs what one at minute 5 costs.
   */
  #canaryShareIntegral(from: number, to: number, history: History): number {
    const ttlMs = this.#o.ttlSeconds * 1000;
    // F(t) = ∫ ramp from -∞ to t of one change whose ramp starts at a.
    const ramped = (t: number, a: number) => {
      if (t <= a) return 0;
      if (ttlMs <= 0) return t - a;
      return t <= a + ttlMs ? ((t - a) ** 2) / (2 * ttlMs) : ttlMs / 2 + (t - a - ttlMs);
    };
    let total = shareOf(history.initial) * (to - from);
    for (const c of history.changes) {
      const a = c.inSyncAt.getTime();
      total += (shareOf(c.weights) - shareOf(c.previous)) * (ramped(to, a) - ramped(from, a));
    }
    return total;
  }

  /** Mean share of a variant over [from, to). */
  #meanShare(variant: Variant, from: number, to: number, history: History): number {
    if (to <= from) return variant === 'canary' ? this.canaryShareAt(from, history) : 1 - this.canaryShareAt(from, history);
    const canary = Math.min(1, Math.max(0, this.#canaryShareIntegral(from, to, history) / (to - from)));
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
    return {
      variant,
      at: new Date(mid),
      elapsedSeconds: (mid - from) / 1000,
      share,
      canaryWeight: submitted ? submitted.weights.canary : history.initial.canary,
      servedRequests: served,
      requestsPerMinute: rpm * share * this.#rateFactor(mid),
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
      case 'latency':
        return s.requests > 0 ? round(latencyStatistic(s.latency, s.requests, query.stat!), 6) : null;
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
