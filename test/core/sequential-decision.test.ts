import { describe, expect, it } from 'vitest';
import { decideSequentialCheck, type SequentialLimits } from '../../functions/core/decision.ts';
import { combineVerdicts, type InconclusiveCause, type MetricVerdict, type Verdict } from '../../functions/core/judge.ts';

const verdict = (name: string, v: Verdict, cause?: InconclusiveCause, critical = false): MetricVerdict => ({
  name, verdict: v, critical, reason: `${name} ${v}${cause ? ` (${cause})` : ''}`, test: 't', canaryValue: 1, baselineValue: 1, threshold: {},
  sample: { canary: cause === 'no-data' ? 0 : 10, baseline: 10 }, ...(cause ? { cause } : {}),
});
const limits: SequentialLimits = {
  checksRequired: 2, failureLimit: 0, inconclusiveLimit: 1, maxExtensionSeconds: 600, extendedSeconds: 0, duringBake: false, mode: 'stage',
};
const zero = { passed: 0, failed: 0, inconclusive: 0, lowSample: 0 };

describe('stage decision after a sequential check', () => {
  it('rolls back on a critical alarm at once, during the bake too', () => {
    const out = decideSequentialCheck(combineVerdicts([verdict('errors', 'FAIL', undefined, true)]), zero, { ...limits, duringBake: true, failureLimit: 5 });
    expect(out).toMatchObject({ action: 'ROLLBACK', reasons: ['critical metric failed: errors FAIL'] });
  });

  it('does nothing but wait during the bake: no pass counted, no missing data counted', () => {
    const bake = { ...limits, duringBake: true };
    expect(decideSequentialCheck(combineVerdicts([verdict('m', 'PASS')]), zero, bake)).toMatchObject({ action: 'CHECK_AGAIN', counters: zero });
    expect(decideSequentialCheck(combineVerdicts([verdict('m', 'INCONCLUSIVE', 'no-data')]), zero, bake)).toMatchObject({ action: 'CHECK_AGAIN', counters: zero });
  });

  it('never advances in a hold, and counts missing data there', () => {
    const hold = { ...limits, mode: 'hold' as const, checksRequired: 1 };
    expect(decideSequentialCheck(combineVerdicts([verdict('m', 'PASS')]), zero, hold).action).toBe('CHECK_AGAIN');
    const first = decideSequentialCheck(combineVerdicts([verdict('m', 'INCONCLUSIVE', 'no-data')]), zero, hold);
    expect(first).toMatchObject({ action: 'CHECK_AGAIN', counters: { inconclusive: 1 } });
    expect(decideSequentialCheck(combineVerdicts([verdict('m', 'INCONCLUSIVE', 'no-data')]), first.counters, hold).action).toBe('ROLLBACK');
  });

  it('advances after the required passing checks', () => {
    const pass = combineVerdicts([verdict('m', 'PASS')]);
    const first = decideSequentialCheck(pass, zero, limits);
    expect(first.action).toBe('CHECK_AGAIN');
    expect(decideSequentialCheck(pass, first.counters, limits).action).toBe('ADVANCE');
  });

  it('rolls back at the end of the extension saying which doubt remained', () => {
    const end = { ...limits, extendedSeconds: 600 };
    const unconfirmed = decideSequentialCheck(combineVerdicts([verdict('m', 'INCONCLUSIVE', 'unconfirmed')]), zero, end);
    expect(unconfirmed.action).toBe('ROLLBACK');
    expect(unconfirmed.reasons.at(-1)).toMatch(/^a possible regression was still unresolved after extending the bake by 600 s .*: rolled back rather than promoted on a doubt$/);
    const noisy = decideSequentialCheck(combineVerdicts([verdict('m', 'INCONCLUSIVE', 'too-much-variance')]), zero, end);
    expect(noisy.reasons.at(-1)).toMatch(/^still too much variance to tell .*baseline\.minIncrease/);
    const quiet = decideSequentialCheck(combineVerdicts([verdict('m', 'INCONCLUSIVE', 'too-little-data')]), zero, { ...limits, extendedSeconds: 599 });
    expect(quiet).toMatchObject({ action: 'CHECK_AGAIN', counters: { lowSample: 1 } });
  });
});
