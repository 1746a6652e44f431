/**
 * A generator of long recordings of one stage (3 to 48 hours, one period a minute) for the
 * streams bench: diurnal traffic, over-dispersed 5xx counts with shared dependency blips,
 * p99 latency whose noise grows as traffic falls, with shared and one-sided spikes, memory that
 * wanders (and sometimes saw-tooths with a garbage collector), a quantised CPU gauge with
 * periodic batch bursts both versions run, and quiet services. Half the recordings are healthy;
 * the others carry one regression that starts at a random minute: a 5xx jump, a p99 shift, a
 * slow memory leak, periodic 5xx bursts of the canary alone, or a CPU regression.
 *
 * Seeded: one seed, one corpus, byte for byte. Parameters are drawn wide on purpose (the judge
 * is tuned on these, and measured elsewhere on other data).
 */
import type { MetricData } from '../functions/core/judge.ts';
import { mulberry32, normal, poisson, type Rng } from '../sim/prng.ts';

export type RegressionKind = '5xx-jump' | 'latency-shift' | 'slow-leak' | 'error-bursts' | 'cpu-regression';
export const REGRESSION_KINDS: readonly RegressionKind[] = ['5xx-jump', 'latency-shift', 'slow-leak', 'error-bursts', 'cpu-regression'];

export interface StreamRecording {
  id: string;
  kind: 'healthy' | RegressionKind;
  periodSeconds: number;
  start: string;
  periods: number;
  /** Canary weight (percent) of the stage. */
  weight: number;
  /** Mean canary requests per minute over the recording. */
  canaryRpm: number;
  quiet: boolean;
  /** Regression onset, in minutes from the start (fractional: within a period). */
  onsetMinute?: number;
  /** Slow leak: the minute the canary's memory (5-minute mean) first crosses the threshold, if it does. */
  crossingMinute?: number;
  /** Size of the regression: the canary's 5xx rate (percent), p99 or CPU multiplier, leak slope (points per hour). */
  size?: number;
  metrics: Record<string, MetricData>;
}

/** The judge config the recordings are meant for (thresholds of the ALB/ECS preset, plus CPU). */
export const STREAM_METRICS = [
  { name: 'error-rate', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, critical: true },
  { name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } },
  { name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 } },
  { name: 'cpu', kind: 'gauge', unit: 'percent', threshold: { max: 90 }, baseline: { maxIncreasePercent: 50, minIncrease: 5 } },
] as const;

const logUniform = (rng: Rng, lo: number, hi: number) => Math.exp(Math.log(lo) + rng() * (Math.log(hi) - Math.log(lo)));
const uniform = (rng: Rng, lo: number, hi: number) => lo + rng() * (hi - lo);

/** Gamma(shape, 1/shape): mean 1 (Marsaglia & Tsang). */
function gammaMeanOne(rng: Rng, shape: number): number {
  if (shape < 1) return gammaMeanOne(rng, shape + 1) * rng() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rng);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = rng();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return (d * v) / shape;
  }
}

/** Episodes of a Poisson process: [startMinute, lengthMinutes, magnitude] over `periods` minutes. */
function episodes(rng: Rng, periods: number, meanGap: number, length: [number, number], magnitude: [number, number]): [number, number, number][] {
  const out: [number, number, number][] = [];
  let t = -Math.log(1 - rng()) * meanGap;
  while (t < periods) {
    out.push([Math.floor(t), Math.round(uniform(rng, length[0], length[1])), uniform(rng, magnitude[0], magnitude[1])]);
    t += -Math.log(1 - rng()) * meanGap;
  }
  return out;
}

function inEpisode(list: [number, number, number][], minute: number): number | null {
  for (const [s, l, m] of list) if (minute >= s && minute < s + l) return m;
  return null;
}

const round = (v: number, digits: number) => Number(v.toFixed(digits));

export function generateRecording(seed: number, index: number, kind: StreamRecording['kind']): StreamRecording {
  const rng = mulberry32((seed * 1_000_003 + index * 7919) >>> 0);
  const hours = logUniform(rng, 3, 48);
  const periods = Math.round(hours * 60);
  const weight = [5, 10, 25, 50][Math.floor(rng() * 4)]!;
  const quiet = rng() < 0.2;
  const totalRpm = quiet ? logUniform(rng, 40, 400) : logUniform(rng, 400, 30_000);
  const diurnalAmp = uniform(rng, 0.2, 0.8);
  const diurnalPhase = rng() * 2 * Math.PI;
  const share = weight / 100;

  // 5xx
  const baseRate = logUniform(rng, 0.00005, 0.003);
  const canaryRate = baseRate * uniform(rng, 0.7, 1.3);
  const clustering = logUniform(rng, 3, 40); // gamma shape: smaller is burstier
  const blips = episodes(rng, periods, logUniform(rng, 120, 720), [1, 4], [3, 10]);
  // p99 latency
  const p99 = logUniform(rng, 0.08, 0.45);
  const canaryP99 = p99 * uniform(rng, 0.9, 1.1);
  const loadEffect = uniform(rng, 0, 0.35);
  const spikes = episodes(rng, periods, logUniform(rng, 60, 360), [1, 3], [1.5, 4]).map(([s, l, m]) => {
    const who = rng();
    return { s, l, m, canary: who < 0.9, baseline: who < 0.8 || who >= 0.9 };
  });
  // memory
  const memSd = uniform(rng, 0.5, 3);
  const memRho = uniform(rng, 0.95, 0.995);
  const sawAmp = rng() < 0.3 ? uniform(rng, 2, 6) : 0;
  const sawPeriod = uniform(rng, 10, 60);
  const memBase = uniform(rng, 30, 65);
  const memCanary = Math.min(76 - 3 * memSd - sawAmp, memBase + uniform(rng, -5, 8));
  const memJitter = uniform(rng, 0.1, 0.5);
  // cpu
  const cpuBase = logUniform(rng, 0.5, 30);
  const cpuCanaryFactor = uniform(rng, 0.85, 1.3);
  // Both versions run the batch job; it never takes a healthy canary's CPU past ~80 %.
  const cpuPeak = cpuBase * (1 + diurnalAmp) * cpuCanaryFactor;
  const batch = rng() < 0.4
    ? { every: uniform(rng, 60, 180), length: uniform(rng, 5, 15), add: Math.max(0, Math.min(uniform(rng, 15, 40), 78 - cpuPeak)), offset: rng() * 180 }
    : null;

  const rec: StreamRecording = {
    id: `${kind}-${String(index).padStart(3, '0')}`, kind, periodSeconds: 60,
    start: new Date(Date.UTC(2026, 10, 14, 0, 0, 0) + Math.floor(rng() * 24) * 3_600_000).toISOString(),
    periods, weight, canaryRpm: 0, quiet, metrics: {},
  };
  const startHour = new Date(rec.start).getUTCHours();

  // The regression.
  const onset = kind === 'healthy' ? Infinity : uniform(rng, 0.05, 0.85) * periods;
  let jumpRate = 0;
  let shift = 1;
  let leakSlope = 0;
  let cpuFactor = 1;
  let bursts: { every: number; length: number; rate: number } | null = null;
  if (kind !== 'healthy') rec.onsetMinute = round(onset, 3);
  switch (kind) {
    case '5xx-jump':
      jumpRate = logUniform(rng, 0.02, 0.1);
      rec.size = round(100 * jumpRate, 3);
      break;
    case 'latency-shift':
      shift = uniform(rng, 1.5, 3);
      rec.size = round(shift, 3);
      break;
    case 'slow-leak': {
      const crossing = onset + Math.max(60, uniform(rng, 0.3, 0.9) * (periods - onset));
      // From the canary's level at the onset to the threshold at the crossing.
      leakSlope = (80 - memCanary) / (crossing - onset);
      rec.crossingMinute = round(crossing, 3);
      rec.size = round(leakSlope * 60, 3);
      break;
    }
    case 'error-bursts':
      bursts = { every: uniform(rng, 60, 180), length: uniform(rng, 5, 15), rate: uniform(rng, 0.03, 0.1) };
      rec.size = round(100 * bursts.rate, 3);
      break;
    case 'cpu-regression':
      cpuFactor = uniform(rng, 2.5, 4);
      rec.size = round(cpuFactor, 3);
      break;
  }

  const series = () => ({ c: new Array<number | null>(periods).fill(null), b: new Array<number | null>(periods).fill(null) });
  const errN = series();
  const errD = series();
  const lat = series();
  const mem = series();
  const cpu = series();
  let memC = 0;
  let memB = 0;
  let canaryRequests = 0;
  const innovation = memSd * Math.sqrt(1 - memRho * memRho);
  for (let t = 0; t < periods; t++) {
    const minuteOfDay = (startHour * 60 + t) % 1440;
    const load = 1 + diurnalAmp * Math.sin((2 * Math.PI * minuteOfDay) / 1440 + diurnalPhase);
    const rpm = totalRpm * load * (1 + 0.05 * normal(rng));
    const regressed = t + 1 > onset; // the period contains or follows the onset
    const frac = regressed ? Math.min(1, t + 1 - onset) : 0; // part of this period after the onset
    for (const v of ['c', 'b'] as const) {
      const n = poisson(rng, Math.max(0, rpm * (v === 'c' ? share : 1 - share)));
      if (v === 'c') canaryRequests += n;
      // 5xx: over-dispersed (clusters), shared blips that stay under 0.8 %.
      let p = v === 'c' ? canaryRate : baseRate;
      const blip = inEpisode(blips, t);
      if (blip !== null) p = Math.min(Math.max(p, 0.008 * 0.9), p * blip);
      if (v === 'c' && jumpRate > 0 && regressed) p = p * (1 - frac) + jumpRate * frac;
      if (v === 'c' && bursts && regressed) {
        const since = t - onset;
        if (since >= 0 && since % bursts.every < bursts.length) p = bursts.rate;
      }
      const errors = n > 0 ? Math.min(n, poisson(rng, n * p * gammaMeanOne(rng, clustering))) : 0;
      errD[v][t] = n > 0 ? n : null;
      errN[v][t] = errors > 0 ? errors : null;
      // p99: the true p99 rises with load; its estimate is noisier with fewer requests.
      if (n > 0) {
        let trueP99 = (v === 'c' ? canaryP99 : p99) * (1 + loadEffect * (load - 1));
        const spike = spikes.find((sp) => t >= sp.s && t < sp.s + sp.l && (v === 'c' ? sp.canary : sp.baseline));
        if (spike) trueP99 *= spike.m;
        if (v === 'c' && shift !== 1 && regressed) trueP99 *= 1 + (shift - 1) * frac;
        const sigma = 0.03 + 0.6 / Math.sqrt(1 + n / 10);
        lat[v][t] = round(trueP99 * Math.exp(sigma * normal(rng)), 6);
      }
      // memory: AR(1) wander, jitter, sometimes a GC saw-tooth; a leak climbs from the onset.
      const prev = v === 'c' ? memC : memB;
      const wander = t === 0 ? memSd * normal(rng) : memRho * prev + innovation * normal(rng);
      if (v === 'c') memC = wander; else memB = wander;
      const saw = sawAmp > 0 ? sawAmp * (((t + (v === 'c' ? 7 : 0)) % sawPeriod) / sawPeriod) : 0;
      let m = (v === 'c' ? memCanary : memBase) + wander + saw + memJitter * normal(rng);
      if (v === 'c' && leakSlope > 0 && regressed) m += leakSlope * Math.max(0, t + 0.5 - onset);
      mem[v][t] = round(Math.min(100, Math.max(0, m)), 2);
      // cpu: integer percent, follows traffic, batch bursts on both versions.
      let level = cpuBase * load * (v === 'c' ? cpuCanaryFactor : 1);
      if (batch && (t + batch.offset) % batch.every < batch.length) level += batch.add;
      if (v === 'c' && cpuFactor !== 1 && regressed) level = level * (1 + (cpuFactor - 1) * frac) + 8 * frac;
      const value = Math.round(level * (1 + 0.08 * normal(rng)) + 0.6 * normal(rng));
      cpu[v][t] = Math.min(100, Math.max(0, value));
    }
  }
  rec.canaryRpm = round(canaryRequests / periods, 2);
  if (kind === 'slow-leak') {
    // The crossing a person would see: the first minute after the onset whose last 5 minutes of
    // canary memory average above 80 % (the wander puts it before or after the level's own).
    delete rec.crossingMinute;
    for (let t = Math.ceil(onset) + 4; t < periods; t++) {
      let sum = 0;
      for (let k = t - 4; k <= t; k++) sum += mem.c[k] ?? 0;
      if (sum / 5 > 80) {
        rec.crossingMinute = t + 1;
        break;
      }
    }
  }
  rec.metrics = {
    'error-rate': { canary: { numerator: errN.c, denominator: errD.c }, baseline: { numerator: errN.b, denominator: errD.b } },
    'latency-p99': { canary: { values: lat.c }, baseline: { values: lat.b } },
    memory: { canary: { values: mem.c }, baseline: { values: mem.b } },
    cpu: { canary: { values: cpu.c }, baseline: { values: cpu.b } },
  };
  return rec;
}

/** `count` recordings: half healthy, the rest spread over the regression kinds. */
export function generateCorpus(seed: number, count: number): StreamRecording[] {
  const out: StreamRecording[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 2 === 0 ? 'healthy' : REGRESSION_KINDS[((i - 1) / 2) % REGRESSION_KINDS.length]!;
    out.push(generateRecording(seed, i, kind));
  }
  return out;
}
