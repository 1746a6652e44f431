/**
 * Scheduled soak checks on plain data with in-memory ports: one incident per breach however
 * long, resolved by a healthy run; inconclusive runs change nothing; a time-shifted baseline
 * catches a regression against last week; traffic moves only in the opt-in post-promotion window.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import type { Deps } from '../../functions/core/ports.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { runSoakCheck, soakCheckFromInput, soakWindow, type SoakDeps } from '../../functions/core/soak.ts';
import { parseSoakConfig, type SoakConfigInput } from '../../functions/core/soak-config.ts';
import { SimClock } from '../../sim/clock.ts';
import {
  MemoryIncidents, MemoryLog, MemoryRollouts, MemorySoakStore, MemoryTraffic,
} from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { ScriptedMetrics, type Datapoint } from '../helpers/fake-metrics.ts';

const ZONE = 'Z0123456789ABCDEFGHIJ';
const START = new Date('2026-03-09T12:00:00.000Z');
const WEEK_MS = 7 * 86_400_000;
const target = { hostedZoneId: ZONE, recordName: 'api.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };

function soakInput(overrides: Partial<SoakConfigInput> = {}): SoakConfigInput {
  return {
    name: 'checkout-live',
    metrics: [
      {
        name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true, threshold: { max: 1 },
        query: {
          numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { LoadBalancer: 'app/alb/1' }, stat: 'Sum' },
          denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { LoadBalancer: 'app/alb/1' }, stat: 'Sum' },
        },
      },
      {
        name: 'latency', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 25 },
        query: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: { LoadBalancer: 'app/alb/1' }, stat: 'Average' } },
      },
    ],
    incident: { opsCenter: { enabled: true, severity: '2' }, webhook: { type: 'pagerduty', secretId: 'pd' } },
    ...overrides,
  };
}

/** The live service: error rate (percent) and latency (s) as functions of time; null = no data. */
interface Health { errorRate: number | null; latency: number | null }
const steady = (h: Health): ((at: Date) => Health) => () => h;

function liveService(health: (at: Date) => Health): Datapoint {
  return (metric, _variant, role, at) => {
    const h = health(at);
    if (metric === 'latency') return h.latency;
    if (h.errorRate === null) return null;
    return role === 'denominator' ? 2000 : (h.errorRate / 100) * 2000;
  };
}

function setup(health: (at: Date) => Health) {
  const clock = new SimClock(START);
  const traffic = new MemoryTraffic({ clock, rng: mulberry32(7) });
  const rollouts = new MemoryRollouts();
  const incidents = new MemoryIncidents();
  const soaks = new MemorySoakStore();
  const metrics = new ScriptedMetrics(liveService(health));
  const log = new MemoryLog();
  // The traffic targets' locks live in the rollout store.
  const deps: SoakDeps = { traffic, metrics, rollouts, incidents, judge: defaultJudge, clock, log, soaks };
  return { clock, traffic, rollouts, incidents, soaks, metrics, log, deps };
}

const healthy: Health = { errorRate: 0.1, latency: 0.2 };
const breaching: Health = { errorRate: 4, latency: 0.2 };

describe('runSoakCheck: incidents', () => {
  it('opens one incident for a breach however many runs it lasts', async () => {
    // Prepare
    const { deps, clock, incidents, soaks } = setup(steady(breaching));
    const config = parseSoakConfig(soakInput());

    // Act
    const runs = [];
    for (let i = 0; i < 6; i++) {
      runs.push(await runSoakCheck(config, deps));
      clock.advance(300);
    }

    // Assess
    expect(runs.map((r) => r.verdict)).toEqual(Array(6).fill('FAIL'));
    expect(runs.map((r) => r.action)).toEqual(['OPENED', 'STILL_OPEN', 'STILL_OPEN', 'STILL_OPEN', 'STILL_OPEN', 'STILL_OPEN']);
    expect(incidents.opened).toHaveLength(1);
    const { incident } = incidents.opened[0]!;
    expect(incident).toMatchObject({
      dedupKey: `canary-soak-checkout-live-${START.toISOString()}`, rolloutId: 'soak-checkout-live', source: 'soak', severity: 'critical',
      target: 'soak:checkout-live',
    });
    expect(incident.title).toMatch(/^Soak check failed: checkout-live: error-rate/);
    expect(incident.summary).toMatch(/A soak check that passes again resolves this incident/);
    expect(new Set(runs.map((r) => r.incident?.dedupKey))).toEqual(new Set([incident.dedupKey]));
    expect((await soaks.get('checkout-live'))!.openIncident).toMatchObject({ dedupKey: incident.dedupKey, deliveries: incidents.opened[0]!.deliveries });
    expect(incidents.changes).toHaveLength(0);
  });

  it('resolves the open incident on the next healthy run, under the same dedup key and OpsItem', async () => {
    // Prepare: a breach until 12:09, healthy after (the run at 12:15 judges 12:09-12:14).
    const breachEnds = new Date(START.getTime() + 9 * 60_000);
    const { deps, clock, incidents, soaks } = setup((at) => (at < breachEnds ? breaching : healthy));
    const config = parseSoakConfig(soakInput({ windowSeconds: 300 }));

    // Act
    const runs = [];
    for (let i = 0; i < 5; i++) {
      runs.push(await runSoakCheck(config, deps));
      clock.advance(300);
    }

    // Assess
    expect(runs.map((r) => `${r.verdict}:${r.action}`)).toEqual(['FAIL:OPENED', 'FAIL:STILL_OPEN', 'FAIL:STILL_OPEN', 'PASS:RESOLVED', 'PASS:NONE']);
    expect(incidents.opened).toHaveLength(1);
    expect(incidents.changes).toHaveLength(1);
    const { incident, change, deliveries } = incidents.changes[0]!;
    expect(incident.dedupKey).toBe(incidents.opened[0]!.incident.dedupKey);
    expect(change).toMatchObject({ kind: 'RESOLVED', at: runs[3]!.at });
    expect(change.note).toMatch(/the breach found at 2026-03-09T12:00:00.000Z is over after 15 min/);
    expect(deliveries).toContainEqual(incidents.opened[0]!.deliveries.find((d) => d.target === 'opscenter'));
    const state = await soaks.get('checkout-live');
    expect(state!.openIncident).toBeUndefined();
    expect(state!.lastResolved).toEqual({ dedupKey: incident.dedupKey, resolvedAt: runs[3]!.at });
  });

  it('opens a new incident, with a new dedup key, for the next breach', async () => {
    // Prepare
    let health = breaching;
    const { deps, clock, incidents } = setup(() => health);
    const config = parseSoakConfig(soakInput({ windowSeconds: 300 }));

    // Act
    await runSoakCheck(config, deps);
    clock.advance(600);
    health = healthy;
    await runSoakCheck(config, deps);
    clock.advance(600);
    health = breaching;
    const again = await runSoakCheck(config, deps);

    // Assess
    expect(again.action).toBe('OPENED');
    expect(incidents.opened.map((o) => o.incident.dedupKey)).toEqual([
      `canary-soak-checkout-live-${START.toISOString()}`,
      `canary-soak-checkout-live-${new Date(START.getTime() + 1_200_000).toISOString()}`,
    ]);
  });

  it('re-delivers an incident claimed by a run that died before delivering it', async () => {
    // Prepare
    const { deps, incidents, soaks, clock } = setup(steady(breaching));
    const config = parseSoakConfig(soakInput());
    await soaks.claimIncident('checkout-live', { dedupKey: 'canary-soak-checkout-live-earlier', openedAt: '2026-03-09T11:55:00.000Z', reasons: ['x'], severity: 'error' }, clock.now());

    // Act
    const result = await runSoakCheck(config, deps);

    // Assess
    expect(result.action).toBe('OPENED');
    expect(incidents.opened.map((o) => o.incident.dedupKey)).toEqual(['canary-soak-checkout-live-earlier']);
    expect((await soaks.get('checkout-live'))!.openIncident!.deliveries).toHaveLength(3);
  });

  it('changes nothing on an inconclusive run, whether or not an incident is open', async () => {
    // Prepare
    let health: Health = { errorRate: null, latency: null };
    const { deps, clock, incidents, soaks } = setup(() => health);
    const config = parseSoakConfig(soakInput({ windowSeconds: 300 }));

    // Act
    const quiet = await runSoakCheck(config, deps);
    const stateAfterQuiet = await soaks.get('checkout-live');
    clock.advance(600);
    health = breaching;
    await runSoakCheck(config, deps);
    const stateOpen = await soaks.get('checkout-live');
    clock.advance(600);
    health = { errorRate: null, latency: null };
    const gap = await runSoakCheck(config, deps);

    // Assess
    expect(quiet).toMatchObject({ verdict: 'INCONCLUSIVE', action: 'NONE' });
    expect(stateAfterQuiet).toBeNull();
    expect(gap).toMatchObject({ verdict: 'INCONCLUSIVE', action: 'STILL_OPEN' });
    expect(await soaks.get('checkout-live')).toEqual(stateOpen);
    expect(incidents.opened).toHaveLength(1);
    expect(incidents.changes).toHaveLength(0);
  });
});

describe('runSoakCheck: time-shifted baseline', () => {
  // Latency 0.45 s now, 0.30 s a week ago: under the absolute 1 s, but 50 % worse than last week.
  const regression = (at: Date): Health => ({ errorRate: 0.1, latency: at.getTime() < START.getTime() - 86_400_000 ? 0.3 : 0.45 });

  it('catches a regression against the same window last week', async () => {
    // Prepare
    const { deps, metrics, incidents } = setup(regression);
    const config = parseSoakConfig(soakInput({ comparison: '7d' }));

    // Act
    const result = await runSoakCheck(config, deps);

    // Assess
    expect(result.verdict).toBe('FAIL');
    expect(result.action).toBe('OPENED');
    expect(result.reasons).toEqual([expect.stringMatching(/^latency/)]);
    const [now, lastWeek] = metrics.fetches;
    expect(metrics.fetches).toHaveLength(2);
    expect(Date.parse(now!.start) - Date.parse(lastWeek!.start)).toBe(WEEK_MS);
    expect(Date.parse(now!.end) - Date.parse(lastWeek!.end)).toBe(WEEK_MS);
    expect(result.baselineWindow).toEqual({ start: lastWeek!.start, end: lastWeek!.end });
    expect(incidents.opened[0]!.incident.summary).toMatch(/compared with the same window one week earlier/);
  });

  it('judges on the absolute thresholds only without a comparison', async () => {
    // Prepare
    const { deps, metrics } = setup(regression);
    const config = parseSoakConfig(soakInput({ comparison: 'none' }));

    // Act
    const result = await runSoakCheck(config, deps);

    // Assess
    expect(result.verdict).toBe('PASS');
    expect(metrics.fetches).toHaveLength(1);
  });

  it('judges the window of complete periods ending a minute before now', () => {
    const config = parseSoakConfig(soakInput({ windowSeconds: 900, periodSeconds: 60 }));

    expect(soakWindow(config, new Date('2026-03-09T12:00:30.000Z'))).toEqual({
      start: new Date('2026-03-09T11:44:00.000Z'), end: new Date('2026-03-09T11:59:00.000Z'),
    });
  });
});

describe('runSoakCheck: post-promotion rollback', () => {
  /** The target as the promoted rollout's preflight read it (100 % on the old record 'blue'): what a rollback restores. */
  const readAtPreflight = { kind: 'route53', records: [
    { setIdentifier: 'blue', weight: 100, ttl: 60, value: '10.0.0.1' }, { setIdentifier: 'green', weight: 0, ttl: 60, value: '10.0.0.2' },
  ] };

  /** Stores a closed rollout as the workflow leaves it: begun (record and lock), closed, lock released. */
  async function storeRollout(rollouts: MemoryRollouts, record: RolloutRecord): Promise<void> {
    const { status, decision, ...running } = record;
    expect(await rollouts.begin({ ...running, status: 'RUNNING' }, [], { key: record.targetKey, leaseSeconds: 60, now: new Date(record.startedAt) })).toEqual({ started: true });
    await rollouts.update(record.rolloutId, { status, decision });
    await rollouts.releaseLock(record.targetKey, record.rolloutId);
  }

  async function promotedSetup(health: (at: Date) => Health, promotedMinutesAgo: number) {
    const s = setup(health);
    s.traffic.putRecord(target, { setIdentifier: 'blue', weight: 0, ttl: 60, value: '10.0.0.1' });
    s.traffic.putRecord(target, { setIdentifier: 'green', weight: 100, ttl: 60, value: '10.0.0.2' });
    const promotedAt = new Date(START.getTime() - promotedMinutesAgo * 60_000).toISOString();
    const record: RolloutRecord = {
      rolloutId: 'r-42', name: 'checkout-api', targetKey: `${ZONE}/api.example.com/A`, status: 'PROMOTED', token: 'r-42@',
      startedAt: new Date(START.getTime() - (promotedMinutesAgo + 60) * 60_000).toISOString(), updatedAt: promotedAt, stageIndex: 4, weight: 100,
      decision: { outcome: 'PROMOTED', at: promotedAt, stageIndex: 4, weight: 100, reasons: ['every stage passed'], failing: [] },
      routerDefinition: readAtPreflight,
    };
    await storeRollout(s.rollouts, record);
    return s;
  }
  const enabled = (hours = 2) => soakInput({ postPromotionRollback: { enabled: true, hours, target } });

  it('never moves traffic by default', async () => {
    // Prepare
    const { deps, traffic } = await promotedSetup(steady(breaching), 30);
    const config = parseSoakConfig(soakInput({ postPromotionRollback: { target } }));

    // Act
    const result = await runSoakCheck(config, deps);

    // Assess
    expect(config.postPromotionRollback.enabled).toBe(false);
    expect(result.action).toBe('OPENED');
    expect(result.rollback).toBeUndefined();
    expect(traffic.changes()).toEqual([]);
    expect(traffic.weights(target)).toEqual({ baseline: 0, canary: 100 });
  });

  it('when enabled, within the window, moves all traffic back to the old record, loudly, once', async () => {
    // Prepare
    const { deps, traffic, incidents, log, soaks, rollouts, clock } = await promotedSetup(steady(breaching), 30);
    const config = parseSoakConfig(enabled(), { rollbackAllowed: true });

    // Act
    const first = await runSoakCheck(config, deps);
    clock.advance(300);
    const second = await runSoakCheck(config, deps);

    // Assess
    expect(first.rollback).toMatchObject({ action: 'ROLLED_BACK', rolloutId: 'r-42', changeId: traffic.changes()[0]!.id });
    expect(traffic.changes()).toHaveLength(1);
    expect(traffic.weights(target)).toEqual({ baseline: 100, canary: 0 });
    expect((await traffic.read(target)).definition).toEqual(readAtPreflight); // the old record as it was, the canary at 0
    expect(log.entries.filter((e) => e.level === 'warn' && e.message.startsWith('SOAK POST-PROMOTION ROLLBACK'))).toHaveLength(1);
    expect(incidents.opened).toHaveLength(1);
    expect(incidents.opened[0]!.incident.summary).toMatch(/Traffic: this soak check moved all traffic of Z0123456789ABCDEFGHIJ\/api.example.com\/A back to the previous version \('blue'/);
    expect((await soaks.get('checkout-live'))!.postPromotionRollback).toMatchObject({ rolloutId: 'r-42', changeId: first.rollback!.changeId });
    expect((await rollouts.history('r-42'))!.events).toEqual([expect.objectContaining({ type: 'NOTE', message: expect.stringMatching(/post-promotion rollback/) })]);
    expect(await rollouts.lockHolder(`${ZONE}/api.example.com/A`)).toBeNull();
    expect(second.rollback).toMatchObject({ action: 'SKIPPED', detail: expect.stringMatching(/already rolled back after rollout r-42/) });
  });

  it('tells the open incident when the rollback comes after the breach was reported', async () => {
    // Prepare: the target is locked by a running rollout at the first breach, free at the second.
    const { deps, incidents, rollouts, clock } = await promotedSetup(steady(breaching), 30);
    const key = `${ZONE}/api.example.com/A`;
    await rollouts.acquireLock(key, 'r-43', 240, clock.now());
    const config = parseSoakConfig(enabled(), { rollbackAllowed: true });

    // Act
    const first = await runSoakCheck(config, deps);
    clock.advance(300);
    const second = await runSoakCheck(config, deps);

    // Assess
    expect(first.rollback).toMatchObject({ action: 'SKIPPED', detail: `rollout r-43 holds the lock on ${key}` });
    expect(second.rollback).toMatchObject({ action: 'ROLLED_BACK' });
    expect(incidents.opened).toHaveLength(1);
    expect(incidents.changes.map((c) => c.change.kind)).toEqual(['ESCALATED']);
    expect(incidents.changes[0]!.change.note).toMatch(/Traffic: this soak check moved all traffic/);
  });

  it('does nothing outside the window, without the old record, or when healthy', async () => {
    // Prepare
    const late = await promotedSetup(steady(breaching), 3 * 60);
    const gone = setup(steady(breaching));
    gone.traffic.putRecord(target, { setIdentifier: 'green', weight: 100, ttl: 60 });
    await storeRollout(gone.rollouts, { ...(await late.rollouts.get('r-42'))!, updatedAt: START.toISOString(), decision: { outcome: 'PROMOTED', at: START.toISOString(), stageIndex: 4, weight: 100, reasons: [], failing: [] } });
    const fine = await promotedSetup(steady(healthy), 30);
    const config = parseSoakConfig(enabled(2), { rollbackAllowed: true });

    // Act
    const a = await runSoakCheck(config, late.deps);
    const b = await runSoakCheck(config, gone.deps);
    const c = await runSoakCheck(config, fine.deps);

    // Assess
    expect(a.rollback).toMatchObject({ action: 'SKIPPED', detail: 'rollout r-42 was promoted 3.0 h ago, outside the 2 h window' });
    // The old record was deleted after the promotion (its version may be gone): not re-created, no traffic sent to it.
    expect(b.rollback).toMatchObject({ action: 'SKIPPED', detail: expect.stringMatching(/no weighted record with the baseline 'blue' SetIdentifier/) });
    expect(gone.traffic.weights(target)).toBeNull();
    expect(c.rollback).toBeUndefined();
    for (const s of [late, gone, fine]) expect(s.traffic.changes()).toEqual([]);
  });
});

describe('soakCheckFromInput', () => {
  it('rejects a bad soak config naming the field, with no side effects', async () => {
    // Prepare
    const { deps, metrics, incidents, soaks, log } = setup(steady(breaching));
    const bad = soakInput({ comparison: '30d' as never });
    const deepBad = soakInput();
    (deepBad.metrics[0] as { threshold: unknown }).threshold = {};

    // Act
    const a = await soakCheckFromInput(bad, deps);
    const b = await soakCheckFromInput(JSON.stringify(deepBad), deps);
    const c = await soakCheckFromInput('{}', deps);
    const d = await soakCheckFromInput('not json', deps);
    const e = await soakCheckFromInput(soakInput({ postPromotionRollback: { enabled: true, target } }), deps, { rollbackAllowed: false });

    // Assess
    expect(a).toEqual({ status: 'CONFIG_ERROR', issues: ["comparison: comparison must be 'none', '1d' or '7d', not '30d'"] });
    expect(b).toMatchObject({ status: 'CONFIG_ERROR', issues: [expect.stringMatching(/^metrics\[0\]\.threshold: /)] });
    expect(c).toMatchObject({ status: 'CONFIG_ERROR', issues: expect.arrayContaining([expect.stringMatching(/^name: /), expect.stringMatching(/^metrics: /)]) });
    expect(d).toMatchObject({ status: 'CONFIG_ERROR', issues: [expect.stringMatching(/^\(config\): not valid JSON/)] });
    expect(e).toMatchObject({ status: 'CONFIG_ERROR', issues: [expect.stringMatching(/^postPromotionRollback\.enabled: this stack does not let soak checks move traffic/)] });
    expect(metrics.fetches).toHaveLength(0);
    expect(incidents.opened).toHaveLength(0);
    expect(await soaks.get('checkout-live')).toBeNull();
    expect(log.entries.filter((l) => l.level === 'error' && l.message.startsWith('soak config error'))).toHaveLength(5);
  });

  it('names the field of a comparison that compares nothing, and of a rollback without a target', () => {
    const noBaseline = soakInput({ comparison: '1d' });
    noBaseline.metrics = noBaseline.metrics.map(({ baseline: _b, ...m }) => m);

    expect(() => parseSoakConfig(noBaseline)).toThrow(/comparison: comparison '1d' compares nothing/);
    expect(() => parseSoakConfig(soakInput({ postPromotionRollback: { enabled: true } }))).toThrow(/postPromotionRollback\.target: /);
    expect(() => parseSoakConfig(soakInput({ postPromotionRollback: { enabled: true, target: { ...target, hostedZoneId: 'ZOTHER' } } }), { allowedHostedZoneIds: [ZONE] }))
      .toThrow(/postPromotionRollback\.target\.hostedZoneId: ZOTHER is not one of the hosted zones/);
  });

  it('accepts the example soak config (examples/soak.json)', () => {
    const example = JSON.parse(readFileSync(new URL('../../examples/soak.json', import.meta.url), 'utf8')) as unknown;

    expect(parseSoakConfig(example, { rollbackAllowed: false })).toMatchObject({ name: 'checkout-api-live', comparison: '7d', postPromotionRollback: { enabled: false } });
  });

  it('runs the check for a valid config given as JSON text (the schedule input)', async () => {
    // Prepare
    const { deps, incidents } = setup(steady(breaching));

    // Act
    const run = await soakCheckFromInput(JSON.stringify(soakInput()), deps as Deps & SoakDeps);

    // Assess
    expect(run).toMatchObject({ status: 'CHECKED', verdict: 'FAIL', action: 'OPENED' });
    expect(incidents.opened).toHaveLength(1);
  });
});
