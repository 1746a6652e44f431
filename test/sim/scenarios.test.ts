/**
 * Every scenario of the simulator, run through the real state machine and steps: the decision
 * a correct analyzer makes, and the invariants every rollout keeps (traffic ends at 100/0 or
 * 0/100, the lock is released, one incident per rollback).
 */
import type { RolloutEvent } from '../../functions/core/rollout-record.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { simulate, type SimulationResult } from '../../sim/simulate.ts';
import { SCENARIO_NAMES } from '../../sim/scenarios.ts';

const config = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8'));

/** The checks that count (after each stage's bake); those during the bake only watch for failures. */
const checks = (r: SimulationResult) => (r.record?.events ?? [])
  .filter((e): e is Extract<RolloutEvent, { type: 'CHECK' }> => e.type === 'CHECK' && !e.duringBake);
const failingNames = (r: SimulationResult, verdict = 'FAIL') =>
  (r.decision?.failing ?? []).filter((m) => m.verdict === verdict).map((m) => m.name);

function expectCleanEnd(r: SimulationResult): void {
  expect(r.lockHolder).toBeNull();
  if (r.outcome === 'PROMOTED') {
    expect(r.finalWeights).toEqual({ canary: 100, baseline: 0 });
    expect(r.record?.status).toBe('PROMOTED');
    expect(r.incidents).toHaveLength(0);
    expect(r.workflow.status).toBe('SUCCEEDED');
  } else {
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.finalWeights).toEqual({ canary: 0, baseline: 100 });
    expect(r.record?.status).toBe('ROLLED_BACK');
    expect(r.incidents).toHaveLength(1);
    expect(r.workflow).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
  }
}

describe('simulate: scenarios', () => {
  it('healthy: promoted at the 100 % stage, every check passed', async () => {
    // Act
    const r = await simulate({ config, scenario: 'healthy', seed: 1 });
    // Assess
    expect(r.outcome).toBe('PROMOTED');
    expect(r.decision).toMatchObject({ outcome: 'PROMOTED', stageIndex: 4, weight: 100 });
    expect(checks(r).map((c) => [c.weight, c.verdict])).toEqual([[1, 'PASS'], [5, 'PASS'], [10, 'PASS'], [25, 'PASS']]);
    expect(r.weightChanges.map((c) => c.weights.canary)).toEqual([1, 5, 10, 25, 100]);
    expectCleanEnd(r);
  });

  it('memory-leak: rolled back, naming memory, by the stage where memory crosses 80 %', async () => {
    const r = await simulate({ config, scenario: 'memory-leak', seed: 1 });
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(failingNames(r)).toContain('memory');
    expect(r.decision!.reasons.join(' ')).toMatch(/memory/);
    // The leak crosses 80 % during the 10 % stage; a trend test may see it coming earlier.
    expect(r.decision!.weight).toBeLessThanOrEqual(10);
    expect(r.incidents[0]!.title).toMatch(/memory/);
    expectCleanEnd(r);
  });

  it('error-spike: rolled back at the 10 % stage, naming error-rate', async () => {
    const r = await simulate({ config, scenario: 'error-spike', seed: 1 });
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 2, weight: 10 });
    expect(failingNames(r)).toEqual(['error-rate']);
    expect(r.decision!.reasons.join(' ')).toMatch(/error-rate/);
    expect(r.incidents[0]!.severity).toBe('critical');
    expectCleanEnd(r);
  });

  it('slow-recovery: a status update every 15 minutes after the rollback until recovery is verified, none after', async () => {
    // Act
    const r = await simulate({ config, scenario: 'slow-recovery', seed: 1 });

    // Assess
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.config.recovery.watchSeconds).toBe(3600);
    const events = r.record!.events;
    const opened = events.find((e) => e.type === 'INCIDENT')!;
    const after = events.filter((e) => e.type === 'INCIDENT_UPDATE' || e.type === 'RECOVERED' || e.type === 'ESCALATED');
    expect(after.map((e) => [e.type, Math.round((Date.parse(e.at) - Date.parse(opened.at)) / 60_000)])).toEqual([
      ['INCIDENT_UPDATE', 15], ['INCIDENT_UPDATE', 30], ['INCIDENT_UPDATE', 45], ['RECOVERED', 55],
    ]);
    expect(r.incidents[0]!.severity).toBe('critical');
    expectCleanEnd(r);
  });

  it.each([
    ['error-spike', 'critical'], ['data-mismatch', 'critical'], ['latency-regression', 'error'], ['throughput-drop', 'error'],
    ['alarm', 'error'], ['canary-starved', 'warning'], ['metrics-outage', 'warning'],
  ])('%s: the incident\'s severity is %s (by the rollback\'s cause)', async (scenario, severity) => {
    const r = await simulate({ config, scenario, seed: 1 });
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.incidents.map((i) => i.severity)).toEqual([severity]);
    expect(r.record!.incident?.severity).toBe(severity);
  });

  it('latency-regression: rolled back, naming latency', async () => {
    const r = await simulate({ config, scenario: 'latency-regression', seed: 1 });
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(failingNames(r)).toContain('latency-p99');
    expect(r.decision!.reasons.join(' ')).toMatch(/latency/);
    expectCleanEnd(r);
  });

  it('metrics-outage: rolled back for lack of data once the limit is reached, never promoted', async () => {
    const r = await simulate({ config, scenario: 'metrics-outage', seed: 1 });
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.decision!.weight).toBe(5);
    // Nothing failed: every metric lacked data, and so did the traffic-share check (no canary request
    // count at all is no data, not proof of starvation).
    expect(failingNames(r)).toEqual([]);
    expect(failingNames(r, 'INCONCLUSIVE').sort()).toEqual(['error-rate', 'latency-p99', 'memory', 'traffic-share']);
    expect(r.decision!.reasons.join(' ')).toMatch(/inconclusive/i);
    const atFive = checks(r).filter((c) => c.weight === 5);
    // inconclusiveLimit 3 (the default): the 4th inconclusive check rolls back.
    expect(atFive.map((c) => c.verdict)).toEqual(Array(4).fill('INCONCLUSIVE'));
    expectCleanEnd(r);
  });

  it.each([1, 2, 3])('low-traffic (seed %i): a healthy canary is never rolled back on a failed check', async (seed) => {
    const r = await simulate({ config, scenario: 'low-traffic', seed });
    // Promoted, or rolled back only for lack of data (the inconclusive limit): never a FAIL.
    expect(checks(r).filter((c) => c.verdict === 'FAIL')).toEqual([]);
    if (r.outcome === 'ROLLED_BACK') {
      expect(failingNames(r)).toEqual([]);
      expect(failingNames(r, 'INCONCLUSIVE').length).toBeGreaterThan(0);
    }
    // The 1 % stage really is quiet: a handful of requests a minute.
    const first = checks(r)[0]!;
    expect(first.weight).toBe(1);
    expectCleanEnd(r);
  });

  it.each([1, 2, 3])('low-traffic (seed %i) with a config sized for it (examples/low-traffic.yaml): promoted', async (seed) => {
    const quiet = parse(readFileSync(new URL('../../examples/low-traffic.yaml', import.meta.url), 'utf8'));
    const r = await simulate({ config: quiet, scenario: 'low-traffic', seed });
    expect(r.outcome).toBe('PROMOTED');
    expectCleanEnd(r);
  });

  it.each(SCENARIO_NAMES)('%s: the same seed gives the same run, byte for byte', async (scenario) => {
    const a = await simulate({ config, scenario, seed: 42 });
    const b = await simulate({ config, scenario, seed: 42 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('another seed gives other noise', async () => {
    const a = await simulate({ config, scenario: 'healthy', seed: 1 });
    const b = await simulate({ config, scenario: 'healthy', seed: 2 });
    expect(JSON.stringify(checks(b))).not.toBe(JSON.stringify(checks(a)));
    expect(b.rolloutId).toBe('sim-healthy-2');
  });

  it('runs on a simulated clock: hours of Waits in well under a second; checks come one TTL and the bake after INSYNC', async () => {
    const t0 = performance.now();
    const r = await simulate({ config, scenario: 'healthy', seed: 1, start: new Date('2026-06-01T12:00:00Z') });
    const wall = performance.now() - t0;
    const events = r.record!.events;
    for (const check of checks(r)) {
      const inSync = events.filter((e) => e.type === 'IN_SYNC' && Date.parse(e.at) < Date.parse(check.at)).at(-1)!;
      const after = (Date.parse(check.at) - Date.parse(inSync.at)) / 1000;
      // One TTL (60 s) for clients, the bake (300 s; here it ends within the traffic share's settling
      // allowance, 300 s after the TTL), then whole periods published and the rollout's own second
      // of the minute: at most a few minutes more.
      expect(after).toBeGreaterThanOrEqual(60 + 300);
      expect(after).toBeLessThan(60 + 300 + 240);
    }
    // Each change became INSYNC 20-40 s after it was submitted.
    for (const c of r.weightChanges) {
      const delay = (Date.parse(String(c.inSyncAt)) - Date.parse(String(c.submittedAt))) / 1000;
      expect(delay).toBeGreaterThanOrEqual(20);
      expect(delay).toBeLessThanOrEqual(40);
    }
    expect(r.startedAt).toBe('2026-06-01T12:00:00.000Z');
    expect(r.simulatedSeconds).toBeGreaterThan(20 * 60);
    expect(wall).toBeLessThan(5000);
  });

  it('a manual gate is answered by a simulated approver, then the stage goes on', async () => {
    const gated = { ...config, stages: [1, 5, { weight: 25, approval: true }, 100] };
    const r = await simulate({ config: gated, scenario: 'healthy', seed: 1 });
    expect(r.outcome).toBe('PROMOTED');
    const events = r.record!.events;
    const asked = events.find((e) => e.type === 'APPROVAL_REQUESTED');
    const answered = events.find((e) => e.type === 'APPROVAL_ANSWERED');
    expect(asked).toMatchObject({ stageIndex: 2, weight: 25 });
    expect(answered).toMatchObject({ stageIndex: 2, approved: true, by: 'sim-approver' });
    // No weight is set before the answer.
    const set25 = events.find((e) => e.type === 'WEIGHTS_SET' && e.canary === 25)!;
    expect(Date.parse(set25.at)).toBeGreaterThan(Date.parse(answered!.at));
    expectCleanEnd(r);
  });

  it('refuses a config the simulator cannot model, naming the metric', async () => {
    const custom = {
      ...config,
      metrics: [{
        name: 'cpu', kind: 'gauge', unit: 'percent', threshold: { max: 90 },
        queries: {
          canary: { value: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', dimensions: {}, stat: 'Average' } },
          baseline: { value: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', dimensions: {}, stat: 'Average' } },
        },
      }],
    };
    await expect(simulate({ config: custom, scenario: 'healthy' })).rejects.toThrow(/metric 'cpu'.*CPUUtilization/);
  });
});
