import { describe, expect, it } from 'vitest';
import { decideAfterCheck } from '../../functions/core/decision.ts';
import { combineVerdicts, type MetricVerdict, type Verdict } from '../../functions/core/judge.ts';

const verdict = (name: string, v: Verdict, critical = false, canaryDatapoints = 5): MetricVerdict => ({
  name, verdict: v, critical, reason: `${name} ${v}`, test: 't', canaryValue: 1, baselineValue: 1, threshold: {}, sample: { canary: canaryDatapoints, baseline: 5 },
});
const limits = { checksRequired: 2, failureLimit: 1, inconclusiveLimit: 2, maxExtensionSeconds: 600, extendedSeconds: 0 };
const zero = { passed: 0, failed: 0, inconclusive: 0 };

describe('stage decision', () => {
  it('rolls back at once on a critical failure', () => {
    const out = decideAfterCheck(combineVerdicts([verdict('errors', 'FAIL', true), verdict('mem', 'PASS')]), zero, limits);
    expect(out.action).toBe('ROLLBACK');
    expect(out.reasons).toEqual(['critical metric failed: errors FAIL']);
  });

  it('tolerates failures up to the limit, then rolls back', () => {
    const fail = combineVerdicts([verdict('mem', 'FAIL')]);
    const first = decideAfterCheck(fail, zero, limits);
    expect(first).toMatchObject({ action: 'CHECK_AGAIN', counters: { failed: 1 } });
    const second = decideAfterCheck(fail, first.counters, limits);
    expect(second.action).toBe('ROLLBACK');
    expect(second.reasons).toContain('2 failed check(s) at this stage, limit 1');
  });

  it('treats no data as inconclusive, bounded by the limit', () => {
    const unknown = combineVerdicts([verdict('mem', 'INCONCLUSIVE', false, 0)]);
    let counters = zero;
    for (let i = 0; i < 2; i++) {
      const out = decideAfterCheck(unknown, counters, limits);
      expect(out.action).toBe('CHECK_AGAIN');
      counters = out.counters;
    }
    const last = decideAfterCheck(unknown, counters, limits);
    expect(last.action).toBe('ROLLBACK');
    expect(last.reasons.at(-1)).toContain('no data is not a pass');
  });

  it('extends the bake of a quiet stage (data, too little to judge) up to the bound, then rolls back saying why', () => {
    const quiet = combineVerdicts([verdict('errors', 'INCONCLUSIVE', true, 5)]);
    let counters = zero;
    for (const extendedSeconds of [0, 60, 300, 599]) {
      const out = decideAfterCheck(quiet, counters, { ...limits, extendedSeconds });
      expect(out.action).toBe('CHECK_AGAIN'); // well past inconclusiveLimit (2): quiet is not missing
      counters = out.counters;
    }
    expect(counters).toMatchObject({ inconclusive: 0, lowSample: 4 });
    const last = decideAfterCheck(quiet, counters, { ...limits, extendedSeconds: 600 });
    expect(last.action).toBe('ROLLBACK');
    expect(last.reasons.at(-1)).toContain('give this stage more traffic (a higher weight) or a longer bake');
  });

  it('advances after the required passing checks', () => {
    const pass = combineVerdicts([verdict('mem', 'PASS')]);
    const first = decideAfterCheck(pass, zero, limits);
    expect(first.action).toBe('CHECK_AGAIN');
    expect(decideAfterCheck(pass, first.counters, limits).action).toBe('ADVANCE');
  });

  it('never passes an empty judgement', () => {
    expect(combineVerdicts([]).verdict).toBe('INCONCLUSIVE');
  });
});
