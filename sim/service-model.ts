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
import { binomial, normal, poisson, rngFor, type Rng } from './prng.ts';

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
  /** Response times of the period's requests, sorted (a sample of them when there are very many). */
  latencies: Float64Array;
  memory: number;
  reporting: boolean;
}

/** Response times drawn per request up to this many per period; beyond, a sample this big stands for them. */
const MAX_LATENCY_SAMPLES = 20_000;
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

  #history(): { initial: Weights; changes: WeightChange[] } {
    const changes = this.#o.traffic.changes(this.#o.target);
    const initial = changes[0]?.previous ?? this.#o.traffic.weights(this.#o.target) ?? { baseline: 100, canary: 0 };
    return { initial, changes };
  }

  /** The canary's share of requests at `t` (0..1): each change moves clients over one TTL after INSYNC. */
  canaryShareAt(t: number, history = this.#history()): number {
    const share = (w: Weights) => (w.baseline + w.canary === 0 ? 0.5 : w.canary / (w.baseline + w.canary));
    let value = share(history.initial);
    const ttlMs = this.#o.ttlSeconds * 1000;
    for (const c of history.changes) {
      const since = t - c.inSyncAt.getTime();
      const ramp = ttlMs <= 0 ? (since >= 0 ? 1 : 0) : Math.min(1, Math.max(0, since / ttlMs));
      value += (share(c.weights) - share(c.previous)) * ramp;
    }
    return Math.min(1, Math.max(0, value));
  }

  #shareOf(variant: Variant, t: number, history: { initial: Weights; changes: WeightChange[] }): number {
    const canary = this.canaryShareAt(t, history);
    return variant === 'canary' ? canary : 1 - canary;
  }

  /** Mean share of a variant over [from, to). */
  #meanShare(variant: Variant, from: number, to: number, history: { initial: Weights; changes: WeightChange[] }): number {
    const step = 5_000;
    const n = Math.max(1, Math.round((to - from) / step));
    let sum = 0;
    for (let i = 0; i < n; i++) sum += this.#shareOf(variant, from + ((i + 0.5) * (to - from)) / n, history);
    return sum / n;
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
    const latencies = new Float64Array(Math.min(requests, MAX_LATENCY_SAMPLES));
    for (let i = 0; i < latencies.length; i++) latencies[i] = Math.exp(mu + sigma * normal(rng));
    latencies.sort();
    const memory = Math.min(100, Math.max(0, behaviour.memoryPercent(c) + this.#memoryNoise(variant, c.at.getTime(), rng)));
    const sample: PeriodSample = { requests, errors, latencies, memory, reporting: behaviour.reporting?.(c) ?? true };
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
        return s.latencies.length > 0 ? round(statistic(s.latencies, s.requests, query.stat!), 6) : null;
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

/** A CloudWatch statistic over sorted values; pNN by nearest rank. */
function statistic(sorted: Float64Array, count: number, stat: string): number {
  if (stat === 'SampleCount') return count;
  if (stat === 'Minimum') return sorted[0]!;
  if (stat === 'Maximum') return sorted[sorted.length - 1]!;
  if (stat === 'Average') return sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const p = Number(stat.slice(1)) / 100;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1]!;
}
