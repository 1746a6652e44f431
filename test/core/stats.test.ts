import { describe, expect, it } from 'vitest';
import {
  ar1VarianceInflation, betaQuantile, binomialCdf, clopperPearsonBounds, detrendedLag1Autocorrelation,
  hodgesLehmannShift, incompleteBeta, jeffreysBounds, lag1Autocorrelation, logGamma, madSigma, mannWhitneyNullDistribution,
  mannWhitneyU, median, medianBounds, medianBoundsRobustT, normalCdf, normalQuantile, quantile, rankWithTies,
  rateRatioBounds, selectInPlace, studentTQuantile, theilSen, tieSum, twoProportionTest, wilsonBounds,
} from '../../functions/core/stats.ts';

describe('normal distribution', () => {
  it('matches tabulated CDF values, tails included', () => {
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021048517795, 14);
    expect(normalCdf(-3)).toBeCloseTo(0.0013498980316300946, 15);
    expect(normalCdf(-6) / 9.865876450377e-10).toBeCloseTo(1, 8);
    expect(normalCdf(-40)).toBe(0);
    expect(normalCdf(0.5) + normalCdf(-0.5)).toBeCloseTo(1, 15);
  });

  it('inverts the CDF', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 12);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514722, 12);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(2)).toBeNaN();
    for (const p of [1e-10, 1e-4, 0.02, 0.3, 0.7, 0.99, 1 - 1e-9]) expect(normalCdf(normalQuantile(p)) / p).toBeCloseTo(1, 9);
  });
});

describe('gamma, beta, binomial, t', () => {
  it('computes ln Γ', () => {
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 13);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(0)).toBeNaN();
  });

  it('computes the regularized incomplete beta and its inverse', () => {
    // I_x(a, b) with integers is a binomial tail: I_0.5(2, 3) = P(Bin(4, 0.5) ≥ 2) = 11/16.
    expect(incompleteBeta(0.5, 2, 3)).toBeCloseTo(11 / 16, 14);
    expect(incompleteBeta(0, 2, 3)).toBe(0);
    expect(incompleteBeta(1, 2, 3)).toBe(1);
    // Beta(1, n): quantile 1 - (1 - p)^(1/n).
    expect(betaQuantile(0.95, 1, 300)).toBeCloseTo(1 - 0.05 ** (1 / 300), 13);
    // Large parameters (request counts) converge.
    const q = betaQuantile(0.5, 500, 1e6);
    expect(incompleteBeta(q, 500, 1e6)).toBeCloseTo(0.5, 10);
  });

  it('computes binomial CDFs', () => {
    expect(binomialCdf(3, 10, 0.5)).toBeCloseTo(176 / 1024, 14);
    expect(binomialCdf(-1, 10, 0.5)).toBe(0);
    expect(binomialCdf(10, 10, 0.5)).toBe(1);
  });

  it("computes Student's t quantiles", () => {
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228138851986274, 10);
    expect(studentTQuantile(0.95, 1)).toBeCloseTo(6.313751514675043, 9);
    expect(studentTQuantile(0.05, 4)).toBeCloseTo(-2.131846786326649, 10);
    expect(studentTQuantile(0.5, 3)).toBe(0);
  });
});

describe('proportion bounds', () => {
  it('gives the textbook Wilson interval (95 % two-sided = 97.5 % per side)', () => {
    const zero = wilsonBounds(0, 10, 0.975);
    expect(zero.lower).toBe(0);
    expect(zero.upper).toBeCloseTo(0.2775328, 6);
    const half = wilsonBounds(5, 10, 0.975);
    expect(half.lower).toBeCloseTo(0.2365931, 6);
    expect(half.upper).toBeCloseTo(0.7634069, 6);
  });

  it('gives the textbook Clopper-Pearson interval', () => {
    const half = clopperPearsonBounds(5, 10, 0.975);
    expect(half.lower).toBeCloseTo(0.1870860, 6);
    expect(half.upper).toBeCloseTo(0.8129140, 6);
    // Zero successes: the one-sided upper bound is 1 - α^(1/n) (the "rule of three" ≈ 3/n).
    const zero = clopperPearsonBounds(0, 300, 0.95);
    expect(zero.lower).toBe(0);
    expect(zero.upper).toBeCloseTo(1 - 0.05 ** (1 / 300), 12);
    const all = clopperPearsonBounds(20, 20, 0.95);
    expect(all.upper).toBe(1);
    expect(all.lower).toBeCloseTo(0.05 ** (1 / 20), 12);
  });

  it('gives the Jeffreys interval', () => {
    const half = jeffreysBounds(5, 10, 0.975);
    expect(half.lower).toBeCloseTo(0.2235287, 6);
    expect(half.upper).toBeCloseTo(0.7764713, 6);
  });

  it('is uninformative without trials', () => {
    for (const f of [wilsonBounds, clopperPearsonBounds, jeffreysBounds]) expect(f(0, 0, 0.95)).toEqual({ lower: 0, upper: 1 });
  });

  it('Clopper-Pearson is wider than Wilson at a small rate (conservative)', () => {
    const cp = clopperPearsonBounds(3, 1000, 0.95);
    const w = wilsonBounds(3, 1000, 0.95);
    expect(cp.upper).toBeGreaterThan(w.upper);
    expect(cp.lower).toBeLessThan(w.lower);
  });
});

describe('two-proportion test', () => {
  it('with ratio 1 is the pooled z-test (hand-computed)', () => {
    // 30/100 vs 20/100: pooled p = 0.25, se = sqrt(0.25 · 0.75 · 2/100) = 0.0612372, z = 0.1 / se.
    const t = twoProportionTest(30, 100, 20, 100);
    expect(t.z).toBeCloseTo(0.1 / Math.sqrt(0.25 * 0.75 * 0.02), 10);
    expect(t.pGreater).toBeCloseTo(1 - normalCdf(t.z), 12);
    expect(t.pTwoSided).toBeCloseTo(2 * t.pGreater, 12);
  });

  it('handles zero counts', () => {
    const none = twoProportionTest(0, 1000, 0, 50000);
    expect(none.z).toBe(0);
    const canaryOnly = twoProportionTest(10, 1000, 0, 50000);
    expect(canaryOnly.z).toBeGreaterThan(3);
    expect(canaryOnly.pGreater).toBeLessThan(0.001);
    expect(twoProportionTest(1, 0, 1, 10).z).toBeNaN();
  });

  it('tests a rate ratio margin and brackets the observed ratio', () => {
    // 2 % vs 0.5 %: four times the baseline, clearly more than 1.5 times.
    expect(twoProportionTest(200, 10000, 500, 100000, 1.5).pGreater).toBeLessThan(1e-6);
    expect(twoProportionTest(200, 10000, 500, 100000, 6).pLess).toBeLessThan(1e-6);
    const rr = rateRatioBounds(200, 10000, 500, 100000, 0.95);
    expect(rr.lower).toBeLessThan(4);
    expect(rr.upper).toBeGreaterThan(4);
    expect(rr.lower).toBeGreaterThan(3);
    expect(rateRatioBounds(0, 100, 5, 100, 0.95).lower).toBe(0);
    expect(rateRatioBounds(5, 100, 0, 100, 0.95).upper).toBe(Infinity);
  });
});

describe('order statistics', () => {
  it('computes medians and quantiles (type 7), ignoring non-finite values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([1, NaN, 3, Infinity])).toBe(2);
    expect(median([])).toBeNaN();
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
    expect(madSigma([1, 2, 3, 4, 100])).toBeCloseTo(1.4826, 10);
  });

  it('selects the k-th smallest in place', () => {
    const values = [9, 3, 7, 1, 8, 2, 6, 4, 5, 0, 5];
    const sorted = [...values].sort((a, b) => a - b);
    for (let k = 0; k < values.length; k++) expect(selectInPlace(Float64Array.from(values), k)).toBe(sorted[k]);
  });

  it('bounds the median by order statistics (hand-computed indices)', () => {
    // n = 5 at 95 %: P(Bin(5, 1/2) ≤ 0) = 1/32 ≤ 0.05 < P(≤ 1) = 6/32, so x(1) and x(5).
    expect(medianBounds([5, 1, 4, 2, 3], 0.95)).toMatchObject({ median: 3, lower: 1, upper: 5 });
    // n = 10: P(≤ 1) = 11/1024 ≤ 0.05 < P(≤ 2) = 56/1024, so x(2) and x(9).
    expect(medianBounds([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95)).toMatchObject({ lower: 2, upper: 9 });
    // n = 4 cannot give a 95 % bound (1/16 > 0.05).
    expect(medianBounds([1, 2, 3, 4], 0.95)).toMatchObject({ lower: -Infinity, upper: Infinity });
    expect(medianBounds([], 0.95).median).toBeNaN();
    // A single-valued series is bounded by its value.
    expect(medianBounds([7, 7, 7, 7, 7, 7], 0.95)).toMatchObject({ median: 7, lower: 7, upper: 7 });
  });

  it('gives a spike-robust t bound on short samples', () => {
    const b = medianBoundsRobustT([10, 11, 9, 10], 0.95);
    expect(b.median).toBe(10);
    // MAD = 0.5 → σ = 0.7413; half-width t(0.95, 3) · 1.2533 · σ / 2.
    expect(b.upper - 10).toBeCloseTo((2.353363434801823 * 1.2533 * 0.7413) / 2, 3);
    const spiky = medianBoundsRobustT([10, 11, 9, 500], 0.95);
    expect(spiky.upper).toBeLessThan(20);
  });
});

describe('Mann-Whitney U', () => {
  const x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
  const y = [1.15, 0.88, 0.90, 0.74, 1.21];

  it('reproduces the textbook example (Hollander & Wolfe; R: W = 35, p = 0.1272)', () => {
    const r = mannWhitneyU(x, y);
    expect(r.u).toBe(35);
    expect(r.uY).toBe(15);
    expect(r.method).toBe('exact');
    expect(r.pGreater).toBeCloseTo(0.1272, 4);
    expect(r.rankBiserial).toBeCloseTo(0.4, 12);
  });

  it('has the exact null distribution (n = m = 2: 1, 1, 2, 1, 1 over 6)', () => {
    expect(Array.from(mannWhitneyNullDistribution(2, 2)).map((p) => p * 6)).toEqual([1, 1, 2, 1, 1].map((c) => expect.closeTo(c, 12)));
    const d = mannWhitneyNullDistribution(20, 25);
    expect(d.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('gives the smallest exact p-value for complete separation', () => {
    const r = mannWhitneyU([1, 2, 3], [4, 5, 6]);
    expect(r.u).toBe(0);
    expect(r.pLess).toBeCloseTo(1 / 20, 14);
    expect(r.rankBiserial).toBe(-1);
  });

  it('corrects for ties (hand-computed)', () => {
    // U = 0 + 0.5 + 0.5 + 1.5; tie groups 2 (×3), 3 (×2), 4 (×2): Σ(t³ - t) = 36;
    // Var = 16/12 · (9 - 36/56); z = (2.5 - 8 + 0.5)/sd.
    const r = mannWhitneyU([1, 2, 2, 3], [2, 3, 4, 4]);
    expect(r.u).toBe(2.5);
    expect(r.ties).toBe(true);
    expect(r.method).toBe('normal');
    const sd = Math.sqrt((16 / 12) * (9 - 36 / 56));
    expect(r.pLess).toBeCloseTo(normalCdf((2.5 - 8 + 0.5) / sd), 12);
    expect(rankWithTies([1, 2, 2, 3]).ranks).toEqual([1, 2.5, 2.5, 4]);
    expect(tieSum([2, 2, 2, 3, 3])).toBe(30);
  });

  it('finds nothing in single-valued samples', () => {
    const r = mannWhitneyU([5, 5, 5], [5, 5, 5, 5]);
    expect(r.u).toBe(6);
    expect(r.pGreater).toBe(1);
    expect(r.pLess).toBe(1);
  });

  it('tests a shift and inflates the variance on request', () => {
    // Shifted back by 10, the samples coincide: every pair a tie, U = nm/2.
    const shifted = mannWhitneyU([11, 12, 13, 14, 15], [1, 2, 3, 4, 5], { shift: 10 });
    expect(shifted.u).toBe(12.5);
    expect(mannWhitneyU([11, 12, 13, 14, 15], [1, 2, 3, 4, 5]).u).toBe(25);
    const plain = mannWhitneyU(x, y, { method: 'normal' });
    const inflated = mannWhitneyU(x, y, { varianceInflation: 2 });
    expect(inflated.pGreater).toBeGreaterThan(plain.pGreater);
    expect(mannWhitneyU([], y).pGreater).toBeNaN();
  });

  it('estimates the Hodges-Lehmann shift with exact Moses bounds', () => {
    // Differences 1, 2, 3; P(U ≤ 0) = 1/4, so at 75 % the bounds are the extreme differences.
    expect(hodgesLehmannShift([1, 2, 3], [0], 0.75)).toEqual({ estimate: 2, lower: 1, upper: 3 });
    expect(hodgesLehmannShift([1, 2, 3], [0], 0.95)).toMatchObject({ estimate: 2, lower: -Infinity, upper: Infinity });
    const hl = hodgesLehmannShift(x, y, 0.975);
    expect(hl.estimate).toBeCloseTo(0.305, 12);
    expect(hl.lower).toBeLessThan(0);
    expect(hl.upper).toBeGreaterThan(0.305);
  });
});

describe('trend', () => {
  const t = [0, 60, 120, 180, 240, 300, 360, 420, 480, 540];

  it('recovers a straight line and ignores one outlier', () => {
    const line = theilSen(t, t.map((s) => 2 * s + 1), 0.95);
    expect(line.slope).toBeCloseTo(2, 12);
    expect(line.intercept).toBeCloseTo(1, 9);
    const spiky = t.map((s) => s);
    spiky[4] = 10_000;
    expect(theilSen(t, spiky, 0.95).slope).toBeCloseTo(1, 12);
  });

  it('computes the Mann-Kendall statistic (hand-computed, n = 5 rising)', () => {
    const r = theilSen([0, 1, 2, 3, 4], [1, 2, 3, 4, 5], 0.95);
    expect(r.s).toBe(10);
    // Var(S) = 5 · 4 · 15 / 18; z = (S - 1)/sd.
    expect(r.z).toBeCloseTo(9 / Math.sqrt(300 / 18), 12);
    expect(r.lower).toBeGreaterThan(0);
  });

  it('finds no trend in a flat or single-valued series', () => {
    const flat = theilSen(t, t.map(() => 50), 0.95, { autocorrelated: true });
    expect(flat.slope).toBe(0);
    expect(flat.s).toBe(0);
    expect(flat.lower).toBeLessThanOrEqual(0);
    expect(flat.upper).toBeGreaterThanOrEqual(0);
    expect(theilSen([0], [1], 0.95).slope).toBeNaN();
  });

  it('widens the bounds for autocorrelated noise', () => {
    const wander = [50, 51, 52, 53, 53, 52, 51, 52, 53, 54, 55, 56, 55, 56, 57];
    const times = wander.map((_, i) => 60 * i);
    const naive = theilSen(times, wander, 0.95);
    const corrected = theilSen(times, wander, 0.95, { autocorrelated: true });
    expect(corrected.varianceInflation).toBeGreaterThan(1);
    expect(corrected.lower).toBeLessThan(naive.lower);
  });

  it('measures autocorrelation and its variance inflation', () => {
    expect(lag1Autocorrelation([1, -1, 1, -1, 1, -1])).toBeLessThan(-0.5);
    expect(ar1VarianceInflation(0, 10)).toBe(1);
    expect(ar1VarianceInflation(-0.4, 10)).toBe(1);
    // 1 + 2 [(1 - 1/3) 0.5 + (1 - 2/3) 0.25]
    expect(ar1VarianceInflation(0.5, 3)).toBeCloseTo(1 + 2 * ((2 / 3) * 0.5 + (1 / 3) * 0.25), 12);
    // A straight line has no residual autocorrelation to speak of.
    expect(Math.abs(detrendedLag1Autocorrelation([0, 1, 2, 3, 4], [0, 2, 4, 6, 8]))).toBe(0);
  });
});
