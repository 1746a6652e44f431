/**
 * The plan's arithmetic (functions/core/plan-budget.ts): what `canary validate` prints and what the
 * config parser refuses. Its per-day estimate is held against a simulated day of the real state
 * machines: the figures a person plans with must be what the workflow does.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseRolloutConfig } from '../../functions/core/config.ts';
import { EVENTS_PER_STEP, metricsPerCheck, planBudget } from '../../functions/core/plan-budget.ts';
import { trafficCountMetrics } from '../../functions/core/traffic-checks.ts';
import { SEGMENT_MAX_STEPS } from '../../functions/core/timing.ts';
import { simulate } from '../../sim/simulate.ts';

const example = parse(readFileSync(new URL('../../examples/migration-48h.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;

describe('planBudget', () => {
  it('a check a minute: 1,440 steps a day, in segments of 1,000 steps, each far from 25,000 history events', () => {
    // Act
    const budget = planBudget(parseRolloutConfig(example));

    // Assess
    expect(budget.stepsPerDay).toBe(1440);
    expect(budget.segmentsPerDay).toBeCloseTo(1440 / SEGMENT_MAX_STEPS, 6);
    expect(budget.eventsPerSegment).toBe(SEGMENT_MAX_STEPS * EVENTS_PER_STEP);
    expect(budget.eventsPerSegment).toBeLessThan(25_000 / 2);
    expect(budget.fits).toBe(true);
    // Four judged stages of 48 h, each with its settle, rounding and extension, and the recovery watch.
    expect(budget.longestSeconds).toBeGreaterThan(4 * 48 * 3600);
    expect(budget.longestSeconds).toBeLessThan(4 * 56 * 3600 + budget.recoverySeconds);
  });

  it('counts the traffic checks\' request counts among the metrics a check requests', () => {
    // Prepare: the same plan with and without traffic checks.
    const on = parseRolloutConfig(example);
    const off = parseRolloutConfig({ ...example, trafficChecks: { enabled: false } });
    expect(trafficCountMetrics(on).length).toBeGreaterThan(0);

    // Act
    const [withCounts, without] = [planBudget(on), planBudget(off)];

    // Assess
    expect(without.cost.metricsRequested).toBe(1440 * metricsPerCheck(off.metrics));
    expect(withCounts.cost.metricsRequested).toBe(1440 * metricsPerCheck([...on.metrics, ...trafficCountMetrics(on)]));
    expect(withCounts.cost.metricsRequested).toBeGreaterThan(without.cost.metricsRequested);
  });

  it('a check an hour or slower still steps once an hour (waits are capped to renew the lease)', () => {
    const budget = planBudget(parseRolloutConfig({ ...example, checkInterval: '2h' }));
    expect(budget.stepsPerDay).toBe(24);
  });

  it('refuses a plan longer than a year, with the arithmetic', () => {
    const act = () => parseRolloutConfig({ ...example, bake: '30d', stages: Array.from({ length: 13 }, (_, i) => i + 1).concat(100) });
    expect(act).toThrow(/365|year/);
  });

  it('its day of cost is what a simulated day of the real state machines does, within 2 %', async () => {
    // Prepare: one 30-hour stage, checked every minute.
    const config = { ...example, stages: [5, 100], bake: '30h' };
    const plan = planBudget(parseRolloutConfig(config)).cost;

    // Act
    const r = await simulate({ config, scenario: 'healthy', seed: 3 });

    // Assess
    expect(r.outcome).toBe('PROMOTED');
    const days = r.simulatedSeconds / 86_400;
    expect(r.usage.stateTransitions / days / plan.stateTransitions).toBeCloseTo(1, 1);
    expect(Math.abs(r.usage.stateTransitions / days / plan.stateTransitions - 1)).toBeLessThan(0.02);
    expect(Math.abs(r.usage.taskInvocations / days / plan.lambdaInvocations - 1)).toBeLessThan(0.02);
    expect(Math.abs(r.usage.metrics.metricsRequested / days / plan.metricsRequested - 1)).toBeLessThan(0.02);
  }, 60_000);
});
