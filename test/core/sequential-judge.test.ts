import { describe, expect, it } from 'vitest';
import { parseJudgeConfig, type JudgeMetric } from '../../functions/core/config.ts';
import {
  newMetricState, slopeBounds, stepMetric, type DetectorBudget, type PeriodData, type SeqMetricState,
} from '../../functions/core/sequential-judge.ts';
import {
  binomialLogLR, differenceScale, klBounds, logAlarmThreshold, mixtureLog, newEDetector, perLookLevel, updateEDetector,
} from '../../functions/core/sequential-stats.ts';
import { lag1Autocorrelation, robustLag1Autocorrelation } from '../../functions/core/stats.ts';
import { binomial, mulberry32, normal, type Rng } from '../../sim/prng.ts';

const metricOf = (m: object): JudgeMetric => parseJudgeConfig({ metrics: [m] }).metrics[0]!;

describe('sequential statistics', () => {
  it('spends the level over epochs of doubling length: the shares of every epoch add up to at most α', () => {
    // Prepare
    const horizon = 100;
    const alpha = 0.01;
    // Act: the level of epoch k is T_k / A_k with T_k its last update.
    let spent = 0;
    for (let k = 0; k < 40; k++) {
      const last = horizon * 2 ** k;
      spent += last / Math.exp(logAlarmThreshold(last, horizon, alpha));
    }
    // Assess
    expect(spent).toBeLessThanOrEqual(alpha * (1 + 1e-9));
    expect(spent).toBeGreaterThan(alpha * 0.99);
    // Within the planned horizon the price is a factor 2: ln A = ln(2H/α).
    expect(logAlarmThreshold(50, horizon, alpha)).toBeCloseTo(Math.log((2 * horizon) / alpha), 10);
    expect(logAlarmThreshold(101, horizon, alpha)).toBeGreaterThan(logAlarmThreshold(100, horizon, alpha));
  });

  it('gives the looks of a repeated test levels that add up to at most α however many there are', () => {
    let total = 0;
    for (let look = 1; look <= 100_000; look++) total += perLookLevel(look, 50, 0.02);
    expect(total).toBeLessThanOrEqual(0.02);
    expect(perLookLevel(1, 50, 0.02)).toBeCloseTo(0.02 / 100, 12);
  });

  it('bounds a proportion by the likelihood-ratio (KL) inversion, and the bounds tighten with events', () => {
    const few = klBounds(4, 100, Math.log(1000));
    const many = klBounds(400, 10_000, Math.log(1000));
    expect(few.lower).toBeLessThan(0.04);
    expect(few.upper).toBeGreaterThan(0.04);
    expect(many.lower).toBeGreaterThan(few.lower);
    expect(many.upper).toBeLessThan(few.upper);
    expect(klBounds(0, 100, Math.log(1000)).lower).toBe(0);
    // At the bound, n · KL equals the level.
    const q = 0.04;
    const kl = q * Math.log(q / many.lower) + (1 - q) * Math.log((1 - q) / (1 - many.lower));
    expect(10_000 * kl).toBeCloseTo(Math.log(1000), 6);
  });

  it('estimates noise from changes: a level shift or a quantised repeat does not pass for noise', () => {
    const wobble = (i: number) => Math.sin(i * 2.3) * 0.6 + Math.cos(i * 0.7) * 0.4;
    const steady = Array.from({ length: 60 }, (_, i) => 50 + wobble(i));
    const shifted = steady.map((v, i) => (i >= 30 ? v + 20 : v));
    expect(differenceScale(shifted).sigma).toBeCloseTo(differenceScale(steady).sigma, 1);
    const quantised = Array.from({ length: 60 }, (_, i) => (i % 7 === 0 ? 2 : 1));
    expect(differenceScale(quantised).step).toBe(1);
    expect(differenceScale([null, 1, null, 2]).pairs).toBe(0);
  });

  it('does not let a periodic burst pass for autocorrelation (the robust estimate), where the classic one does', () => {
    // Prepare: white noise with a 10-period burst every 60 periods.
    const rng = mulberry32(3);
    const values = Array.from({ length: 240 }, (_, i) => 20 + normal(rng) + (i % 60 < 10 ? 30 : 0));
    // Act
    const classic = lag1Autocorrelation(values);
    const robust = robustLag1Autocorrelation(values);
    // Assess
    expect(classic).toBeGreaterThan(0.7);
    expect(robust).toBeLessThan(0.5);
    expect(robust).toBeLessThan(classic / 2);
  });

  it('runs Shiryaev-Roberts and CUSUM together: the CUSUM run starts at the change', () => {
    const d = newEDetector(1, 1);
    for (let t = 0; t < 10; t++) updateEDetector(d, [-1], [0], t);
    expect(mixtureLog(d)).toBeLessThan(-0.5);
    for (let t = 10; t < 15; t++) updateEDetector(d, [2], [1], t);
    expect(d.runStart[0]).toBe(10);
    expect(d.since[0]).toEqual([5]);
    expect(d.cusum[0]).toBe(10);
    // R_t = (1 + R_{t-1}) L_t: with five factors e^2 it is above e^10.
    expect(mixtureLog(d)).toBeGreaterThan(10);
    expect(binomialLogLR(0, 100, 0.02, 0.01)).toBeLessThan(0);
  });

  it('bounds a slope from its residuals: tight on a steady leak, wide on a random walk', () => {
    const rng = mulberry32(5);
    const times = Array.from({ length: 60 }, (_, i) => (i - 59) * 60);
    const leak = times.map((t) => 70 + (0.3 * t) / 60 + 0.3 * normal(rng));
    let w = 0;
    const walk = times.map(() => (w += normal(rng)));
    const l = slopeBounds(times, leak, 1 - 1e-6)!;
    const r = slopeBounds(times, walk, 1 - 1e-6)!;
    expect(l.lower * 60).toBeGreaterThan(0.2);
    expect(r.lower).toBeLessThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// The any-time guarantee, measured: healthy streams exactly at the limit (the hardest null),
// much longer than the planned horizon (so the later epochs' levels are exercised).
// ---------------------------------------------------------------------------------------------

function falseAlarmRate(metric: JudgeMetric, runs: number, periods: number, alpha: number, draw: (rng: Rng, t: number) => PeriodData, seed: number): Record<string, number> {
  const budget: DetectorBudget = { alpha, horizon: 200, periodSeconds: 60 };
  const counts: Record<string, number> = {};
  for (let r = 0; r < runs; r++) {
    const rng = mulberry32(seed + r);
    const s: SeqMetricState = newMetricState(metric);
    for (let t = 0; t < periods; t++) stepMetric(metric, s, t, draw(rng, t), budget);
    const alarmed = [
      ...Object.entries(s.detectors).filter(([, d]) => d!.alarm !== null).map(([id]) => id),
      ...Object.keys(s.trend?.alarm ?? {}),
    ];
    for (const id of alarmed) counts[id] = (counts[id] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v / runs]));
}

describe('sequential judge: any-time false-alarm rate on healthy streams at the limit (Monte-Carlo, fixed seeds)', () => {
  // Per-detector level 0.05; 3 standard errors above it with the runs made.
  const alpha = 0.05;
  const boundFor = (runs: number) => alpha + 3 * Math.sqrt((alpha * (1 - alpha)) / runs);

  it('ratio: a canary exactly at its maximum, and exactly at its allowed ratio to the baseline, ever alarms at most at the level', () => {
    const metric = metricOf({ name: 'e', kind: 'ratio', unit: 'percent', threshold: { max: 1 }, baseline: { maxIncreasePercent: 50 } });
    const rates = falseAlarmRate(metric, 200, 1200, alpha, (rng) => ({
      cn: binomial(rng, 300, 0.01), cd: 300, bn: binomial(rng, 3000, 0.01 / 1.5), bd: 3000,
    }), 100);
    expect(rates.max ?? 0).toBeLessThanOrEqual(boundFor(200));
    expect(rates.baseline ?? 0).toBeLessThanOrEqual(boundFor(200));
  });

  it('gauge: a canary whose level sits exactly on its maximum and on its allowance over the baseline ever alarms at most at the level', () => {
    const metric = metricOf({ name: 'l', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } });
    const rates = falseAlarmRate(metric, 150, 700, alpha, (rng) => {
      const b = (1 / 1.2) * Math.exp(0.05 * normal(rng));
      return { c: Math.exp(0.1 * normal(rng)), b };
    }, 900);
    // The canary's level is 1 s: its maximum, and 1.2 × its baseline's (its allowance).
    expect(rates.max ?? 0).toBeLessThanOrEqual(boundFor(150));
    expect(rates.baseline ?? 0).toBeLessThanOrEqual(boundFor(150));
    expect(rates['trend-max'] ?? 0).toBeLessThanOrEqual(boundFor(150));
  });

  it('can fail: the same gauge a little above its maximum alarms in almost every run', () => {
    const metric = metricOf({ name: 'l', kind: 'gauge', unit: 'seconds', threshold: { max: 1 } });
    const rates = falseAlarmRate(metric, 40, 300, alpha, (rng) => ({ c: 1.1 * Math.exp(0.1 * normal(rng)), b: 1 }), 50);
    expect(rates.max).toBeGreaterThan(0.9);
  });
});
