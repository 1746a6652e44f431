import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkThroughput, checkTrafficShare, formatPercent, type RequestCounts } from '../../functions/core/traffic-share.ts';

/** `periods` one-minute periods with these canary and baseline request counts each. */
function perMinute(periods: number, canary: number | null, baseline: number | null, errors: { canary?: number; baseline?: number } = {}): RequestCounts {
  return {
    periodSeconds: 60,
    canary: { requests: Array(periods).fill(canary), errors: Array(periods).fill(errors.canary ?? null) },
    baseline: { requests: Array(periods).fill(baseline), errors: Array(periods).fill(errors.baseline ?? null) },
  };
}

describe('checkTrafficShare', () => {
  it('passes a canary that serves about its weight', () => {
    // Prepare
    const counts = perMinute(5, 49, 951);

    // Act
    const v = checkTrafficShare({ kind: 'alb', weight: 5, counts, secondsSinceInSync: 600 });

    // Assess
    expect(v.verdict).toBe('PASS');
    expect(v.reason).toBe('traffic moved: the canary served 4.9 % of requests at weight 5 % (245 of 5,000 requests over 5 min after settling; tolerance 2.5-7.5 %)');
    expect(v).toMatchObject({ name: 'traffic-share', critical: false, canaryValue: 4.9, threshold: { min: 2.5, max: 7.5 }, sample: { canaryEvents: 245, baselineEvents: 4755 } });
  });

  it('fails a starved canary: traffic did not move', () => {
    // Prepare
    const counts = perMinute(10, 3, 997);

    // Act
    const v = checkTrafficShare({ kind: 'route53', weight: 5, counts, secondsSinceInSync: 1200, routerSettleSeconds: 60 });

    // Assess
    expect(v.verdict).toBe('FAIL');
    expect(v.reason).toMatch(/^traffic did not move: the canary served 0\.3 % of requests at weight 5 % \(30 of 10,000 requests over 10 min after settling; at most 0\.\d+ % at 99 % confidence, tolerance 2\.5-7\.5 %\)$/);
    expect(v.details).toMatchObject({ direction: 'starved' });
  });

  it('fails a canary served far beyond its weight', () => {
    // Prepare
    const counts = perMinute(5, 400, 600);

    // Act
    const v = checkTrafficShare({ kind: 'lambda-alias', weight: 10, counts, secondsSinceInSync: 400 });

    // Assess
    expect(v.verdict).toBe('FAIL');
    expect(v.reason).toMatch(/^traffic did not follow the weight: the canary served 40 % of requests at weight 10 %/);
  });

  it('fails a promotion the baseline still serves a fifth of (the ALB that kept sending to the old version)', () => {
    // Prepare
    const counts = perMinute(5, 800, 200);

    // Act
    const v = checkTrafficShare({ kind: 'alb', weight: 100, counts, secondsSinceInSync: 400 });

    // Assess
    expect(v.verdict).toBe('FAIL');
    expect(v.reason).toMatch(/^traffic did not move: the canary served 80 % of requests at weight 100 % .*tolerance 99\.5-100 %\)$/);
  });

  it('waits while Route 53 settles, much longer than an ALB', () => {
    // Prepare
    const counts = perMinute(5, 0, 1000);

    // Act
    const route53 = checkTrafficShare({ kind: 'route53', weight: 5, counts, secondsSinceInSync: 300, routerSettleSeconds: 60 });
    const alb = checkTrafficShare({ kind: 'alb', weight: 5, counts: perMinute(4, 0, 1000), secondsSinceInSync: 300 });

    // Assess
    expect(route53.verdict).toBe('INCONCLUSIVE');
    expect(route53.reason).toBe("settling: clients of Route 53 may keep the previous split for 6 min (60 s of the router's own TTL + 5 min) after the change is in sync; 5 min have passed, so no full period since can be judged yet");
    expect(alb.verdict).toBe('FAIL');
  });

  it('counts only the periods that start after the settling allowance', () => {
    // Prepare: the first two periods still carry the old split, the last three the new one.
    const counts: RequestCounts = {
      periodSeconds: 60,
      canary: { requests: [0, 0, 50, 50, 50] },
      baseline: { requests: [1000, 1000, 950, 950, 950] },
    };

    // Act
    const v = checkTrafficShare({ kind: 'alb', weight: 5, counts, secondsSinceInSync: 210 });

    // Assess
    expect(v.verdict).toBe('PASS');
    expect(v.sample).toMatchObject({ canaryEvents: 150, baselineEvents: 2850 });
  });

  it('is inconclusive with too few requests, saying how many are needed', () => {
    // Act
    const few = checkTrafficShare({ kind: 'alb', weight: 50, counts: perMinute(2, 20, 20), secondsSinceInSync: 600 });
    const small = checkTrafficShare({ kind: 'alb', weight: 1, counts: perMinute(5, 0, 200), secondsSinceInSync: 600 });

    // Assess
    expect(few.reason).toBe('too few requests to check the traffic share: 80 over 2 min after settling (at least 100 needed)');
    expect(small.reason).toBe('too few requests to check a 1 % share: 1,000 requests would give the canary about 10 (at least 20 needed)');
    expect([few.verdict, small.verdict]).toEqual(['INCONCLUSIVE', 'INCONCLUSIVE']);
  });

  it('is inconclusive when a share outside the tolerance could still be noise', () => {
    // Act
    const v = checkTrafficShare({ kind: 'alb', weight: 5, counts: perMinute(1, 9, 491), secondsSinceInSync: 600 });

    // Assess
    expect(v.verdict).toBe('INCONCLUSIVE');
    expect(v.reason).toMatch(/^the canary served 1\.8 % of requests at weight 5 %, outside the tolerance 2\.5-7\.5 %, but 500 requests are too few to be sure \(/);
  });

  it('reads a missing canary count beside a baseline count as no canary request, and skips periods without data', () => {
    // Prepare
    const counts: RequestCounts = { periodSeconds: 60, canary: { requests: [null, null, null, null] }, baseline: { requests: [1000, null, 1000, 1000] } };

    // Act
    const v = checkTrafficShare({ kind: 'alb', weight: 10, counts, secondsSinceInSync: 600 });

    // Assess
    expect(v.verdict).toBe('FAIL');
    expect(v.sample).toMatchObject({ canary: 3, canaryEvents: 0, baselineEvents: 3000 });
  });

  it('checks that a rolled-back canary serves next to nothing at weight 0', () => {
    // Act
    const gone = checkTrafficShare({ kind: 'alb', weight: 0, counts: perMinute(5, 0, 1000), secondsSinceInSync: 600 });
    const lingering = checkTrafficShare({ kind: 'route53', weight: 0, counts: perMinute(5, 100, 900), secondsSinceInSync: 1200, routerSettleSeconds: 60 });

    // Assess
    expect(gone.verdict).toBe('PASS');
    expect(lingering.verdict).toBe('FAIL');
    expect(lingering.reason).toMatch(/^traffic did not move back: the canary still served 10 % of requests at weight 0 % \(500 of 5,000 requests over 5 min after settling; at least 9\.\d+ % at 99 % confidence, tolerance 0-0\.5 %\)$/);
  });

  it('honours a configured tolerance and settling allowance', () => {
    // Act
    const strict = checkTrafficShare({ kind: 'alb', weight: 10, counts: perMinute(10, 80, 920), secondsSinceInSync: 1200 }, { tolerance: 0.1 });
    const patient = checkTrafficShare({ kind: 'alb', weight: 10, counts: perMinute(5, 0, 100), secondsSinceInSync: 600 }, { settleAllowanceSeconds: { alb: 900 } });

    // Assess
    expect(strict.verdict).toBe('FAIL');
    expect(strict.threshold).toEqual({ min: 9, max: 11 });
    expect(patient.verdict).toBe('INCONCLUSIVE');
    expect(patient.test).toBe('settling');
  });

  it('never fails a canary whose requests are drawn at its weight (false alarms below 1 % at 99 % confidence)', () => {
    // A property over weights and volumes: binomial counts at the weight itself.
    let fails = 0;
    let runs = 0;
    fc.assert(fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 200, max: 20_000 }), fc.integer(), (weight, total, seed) => {
      let x = seed >>> 0;
      const rand = () => {
        x = (x + 0x6d2b79f5) >>> 0;
        let t = Math.imul(x ^ (x >>> 15), x | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      let canary = 0;
      for (let i = 0; i < total; i++) if (rand() < weight / 100) canary++;
      const v = checkTrafficShare({ kind: 'alb', weight, counts: { periodSeconds: 60, canary: { requests: [canary] }, baseline: { requests: [total - canary] } }, secondsSinceInSync: 600 });
      runs++;
      if (v.verdict === 'FAIL') fails++;
    }), { numRuns: 300 });
    expect(fails / runs).toBeLessThan(0.01);
  });
});

describe('checkThroughput', () => {
  it('holds when successful requests per second stay within the allowed drop', () => {
    // Act
    const [v] = checkThroughput({ current: perMinute(5, 50, 900, { canary: 1 }), stageStart: perMinute(10, 0, 1000) });

    // Assess
    expect(v!.verdict).toBe('PASS');
    expect(v!.reason).toBe('throughput held: 15.8/s successful requests against 16.7/s at the stage\'s start (-5.1 %; at most 20 % drop allowed)');
    expect(v!.name).toBe('throughput-vs-stage-start');
  });

  it('fails a drop against the stage start or the pre-rollout baseline, one verdict each', () => {
    // Act
    const verdicts = checkThroughput({
      current: perMinute(5, 50, 600, { canary: 40 }),
      stageStart: perMinute(5, 10, 800),
      preRollout: perMinute(30, 0, 1000),
    });

    // Assess
    expect(verdicts.map((v) => [v.name, v.verdict])).toEqual([['throughput-vs-stage-start', 'FAIL'], ['throughput-vs-pre-rollout', 'FAIL']]);
    expect(verdicts[0]!.reason).toBe('throughput dropped: 10.2/s successful requests against 13.5/s at the stage\'s start (-24.7 %, more than the 20 % allowed)');
    expect(verdicts[1]!.reason).toBe('throughput dropped: 10.2/s successful requests against 16.7/s at the pre-rollout baseline (-39 %, more than the 20 % allowed)');
  });

  it('fails a canary whose every request errs: errors are not throughput', () => {
    // Act
    const [v] = checkThroughput({ current: perMinute(5, 500, 500, { canary: 500 }), stageStart: perMinute(5, 0, 1000) }, { maxDropShare: 0.3 });

    // Assess
    expect(v!.verdict).toBe('FAIL');
    expect(v!.reason).toMatch(/\(-50 %, more than the 30 % allowed\)$/);
  });

  it('fails a throughput that fell to nothing, and is inconclusive on a thin reference or a noisy small drop', () => {
    // Act
    const [none] = checkThroughput({ current: perMinute(5, 0, 0), stageStart: perMinute(5, 0, 100) });
    const [thin] = checkThroughput({ current: perMinute(5, 0, 10), stageStart: perMinute(1, 0, 50) });
    const [noisy] = checkThroughput({ current: perMinute(1, 0, 70), stageStart: perMinute(1, 0, 100) });

    // Assess
    expect(none!.verdict).toBe('FAIL');
    expect(thin!.reason).toBe('too few successful requests to compare throughput with the stage\'s start: 50 then over 60 s, 50 now over 5 min (at least 100 needed in the reference)');
    expect(noisy!.verdict).toBe('INCONCLUSIVE');
    expect(noisy!.reason).toMatch(/^throughput may have dropped: 1\.17\/s successful requests against 1\.67\/s at the stage's start \(-30 %, beyond the 20 % allowed, but too few requests to be sure\)$/);
  });

  it('gives no verdict without a reference', () => {
    expect(checkThroughput({ current: perMinute(5, 0, 10) })).toEqual([]);
  });
});

describe('formatPercent', () => {
  it('prints what a person reads', () => {
    expect([0.3, 0.25, 4.9, 5, 12.5, 100, 33.333].map(formatPercent)).toEqual(['0.3 %', '0.25 %', '4.9 %', '5 %', '12.5 %', '100 %', '33.3 %']);
  });
});
