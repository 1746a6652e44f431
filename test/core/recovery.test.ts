/**
 * Recovery verification after a rollback, on plain data with in-memory ports: the baseline back
 * within its thresholds updates the incident RECOVERED (once); still unhealthy, or unknown, when
 * the watch ends escalates it (once).
 */
import { describe, expect, it } from 'vitest';
import { parseRolloutConfig, type RolloutConfigInput } from '../../functions/core/config.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import type { Deps } from '../../functions/core/ports.ts';
import { recoveryWindow, verifyRecovery, type RecoveryState } from '../../functions/core/recovery.ts';
import type { Decision, RolloutEvent } from '../../functions/core/rollout-record.ts';
import { segmentPrefixOf } from '../../functions/core/rollout-steps.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryIncidents, MemoryLog, MemoryRollouts, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { ScriptedMetrics, type Datapoint } from '../helpers/fake-metrics.ts';

const ZONE = 'Z0123456789ABCDEFGHIJ';
const IN_SYNC = new Date('2026-03-02T10:00:00.000Z');
const minutesAfter = (m: number) => new Date(IN_SYNC.getTime() + m * 60_000);

function config(overrides: Partial<RolloutConfigInput> = {}) {
  return parseRolloutConfig({
    name: 'checkout-api',
    target: { hostedZoneId: ZONE, recordName: 'api.example.com', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green' },
    metrics: [
      {
        name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true, threshold: { max: 1 },
        queries: {
          canary: { numerator: { namespace: 'App', metricName: 'Errors', dimensions: { v: 'green' }, stat: 'Sum' }, denominator: { namespace: 'App', metricName: 'Requests', dimensions: { v: 'green' }, stat: 'Sum' } },
          baseline: { numerator: { namespace: 'App', metricName: 'Errors', dimensions: { v: 'blue' }, stat: 'Sum' }, denominator: { namespace: 'App', metricName: 'Requests', dimensions: { v: 'blue' }, stat: 'Sum' } },
        },
      },
      {
        name: 'latency', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 10 },
        queries: {
          canary: { value: { namespace: 'App', metricName: 'Latency', dimensions: { v: 'green' }, stat: 'Average' } },
          baseline: { value: { namespace: 'App', metricName: 'Latency', dimensions: { v: 'blue' }, stat: 'Average' } },
        },
      },
    ],
    incident: { opsCenter: { enabled: true, severity: '2' }, webhook: { type: 'pagerduty', secretId: 'pd' } },
    ...overrides,
  });
}

const decision: Decision = {
  outcome: 'ROLLED_BACK', at: '2026-03-02T09:58:00.000Z', stageIndex: 1, weight: 5,
  reasons: ['critical metric failed: error-rate 4.2 % is above the maximum 1 %'], failing: [],
};

/** Baseline error rate (percent) and latency (s) as functions of minutes after INSYNC; canary silent. */
function service(errorRate: (min: number) => number | null, latency: (min: number) => number = () => 0.2): Datapoint {
  return (metric, variant, role, at) => {
    if (variant === 'canary') return null;
    const min = (at.getTime() - IN_SYNC.getTime()) / 60_000;
    if (metric === 'latency') return latency(min);
    const rate = errorRate(min);
    if (rate === null) return null;
    return role === 'denominator' ? 1000 : (rate / 100) * 1000;
  };
}

async function setup(datapoint: Datapoint, options: { overrides?: Partial<RolloutConfigInput>; incidentOpened?: boolean } = {}) {
  const clock = new SimClock(IN_SYNC);
  const rollouts = new MemoryRollouts();
  const incidents = new MemoryIncidents();
  const metrics = new ScriptedMetrics(datapoint);
  const log = new MemoryLog();
  const deps: Deps = {
    traffic: new MemoryTraffic({ clock, rng: mulberry32(1) }), metrics, rollouts, incidents,
    judge: defaultJudge, clock, log, allowedHostedZoneIds: [],
  };
  const cfg = config(options.overrides);
  const opened = await incidents.open({ dedupKey: 'canary-rollout-r-1', rolloutId: 'r-1', service: 'checkout-api', target: 't', severity: 'critical', title: 'x', summary: 'x', decision }, cfg.incident);
  // The record as Conclude leaves it: closed, the rollback's change in sync, the incident (unless a person asked) delivered.
  const incidentOpened = options.incidentOpened ?? true;
  const events: RolloutEvent[] = [
    { type: 'WEIGHTS_SET', at: '2026-03-02T09:59:30.000Z', canary: 0, baseline: 100, changeId: 'C2', stageIndex: 1 },
    { type: 'IN_SYNC', at: IN_SYNC.toISOString(), changeId: 'C2', canary: 0 },
    ...(incidentOpened ? [{ type: 'INCIDENT' as const, at: IN_SYNC.toISOString(), deliveries: opened }] : []),
  ];
  const key = `${ZONE}/api.example.com/A`;
  await rollouts.begin({
    rolloutId: 'r-1', name: 'checkout-api', targetKey: key, status: 'ROLLED_BACK', token: 'r-1@',
    startedAt: '2026-03-02T09:40:00.000Z', updatedAt: IN_SYNC.toISOString(), stageIndex: 1, weight: 0, decision, config: cfg,
    lastChange: { id: 'C2', canary: 0, submittedAt: '2026-03-02T09:59:30.000Z', inSyncAt: IN_SYNC.toISOString() },
    ...(incidentOpened ? { incident: { dedupKey: 'canary-rollout-r-1', openedAt: IN_SYNC.toISOString(), deliveries: opened } } : {}),
  }, events, { key, leaseSeconds: 60, now: clock.now() });
  await rollouts.releaseLock(key, 'r-1');
  const state: RecoveryState = {
    rolloutId: 'r-1', token: 'r-1@', config: cfg, routerDefinition: { kind: 'route53', records: [] },
    stageIndex: 1, weight: 0, phase: 'ROLLING_BACK', next: 'WAIT_RECOVERY', outcome: 'ROLLED_BACK', decision,
    change: { id: 'C2', submittedAt: '2026-03-02T09:59:30.000Z', inSyncAt: IN_SYNC.toISOString() },
    wait: { until: IN_SYNC.toISOString() }, settleSeconds: 60,
    segment: { no: 1, iterations: 40, handOver: false }, segmentPrefix: segmentPrefixOf('r-1'),
  };
  return { deps, clock, rollouts, incidents, metrics, log, state, opened };
}

/** Runs the Wait → Task → Choice loop the workflow runs, moving the clock to each wait.until. */
async function watch(state: RecoveryState, deps: Deps, clock: SimClock): Promise<{ final: RecoveryState; steps: RecoveryState[] }> {
  const steps: RecoveryState[] = [];
  let current = state;
  for (let i = 0; i < 200; i++) {
    current = await verifyRecovery(current, deps);
    steps.push(current);
    if (current.next === 'DONE') return { final: current, steps };
    expect(current.next).toBe('WAIT_RECOVERY');
    expect(Date.parse(current.wait.until)).toBeGreaterThan(clock.now().getTime());
    clock.advanceTo(current.wait.until);
  }
  throw new Error('the recovery watch never ended');
}

describe('verifyRecovery', () => {
  it('updates the incident RECOVERED once the baseline is back within its thresholds', async () => {
    // Prepare
    const { deps, clock, rollouts, incidents, state, opened } = await setup(service(() => 0.2));

    // Act
    const { final, steps } = await watch(state, deps, clock);

    // Assess
    expect(final.next).toBe('DONE');
    expect(final.recovery).toMatchObject({ outcome: 'RECOVERED', lastVerdict: 'PASS', checks: 1, since: minutesAfter(1).toISOString(), deadline: minutesAfter(15).toISOString() });
    // The first judgement waits for a full trailing window (5 periods after INSYNC + TTL, plus aggregation).
    expect(clock.now().getTime()).toBeGreaterThanOrEqual(minutesAfter(7).getTime());
    expect(clock.now().getTime()).toBeLessThan(minutesAfter(9).getTime());
    expect(steps.slice(0, -1).every((s) => s.next === 'WAIT_RECOVERY')).toBe(true);
    expect(incidents.changes).toHaveLength(1);
    expect(incidents.changes[0]!.change).toMatchObject({ kind: 'RECOVERED', at: clock.now().toISOString() });
    expect(incidents.changes[0]!.change.note).toMatch(/^The baseline is back within its thresholds 7 min after the rollback/);
    expect(incidents.changes[0]!.incident.dedupKey).toBe('canary-rollout-r-1');
    // The OpsItem opened at conclude is the one updated.
    expect(incidents.changes[0]!.deliveries).toContainEqual(opened.find((d) => d.target === 'opscenter'));
    const record = await rollouts.history('r-1');
    expect(record!.events.filter((e) => e.type === 'RECOVERED' || e.type === 'ESCALATED')).toEqual([
      expect.objectContaining({ type: 'RECOVERED', at: clock.now().toISOString(), deliveries: incidents.changes[0]!.deliveries }),
    ]);
    expect(record!.recovery).toEqual({ outcome: 'RECOVERED', at: clock.now().toISOString() });
    expect(record!.status).toBe('ROLLED_BACK');
  });

  it('escalates once, at the deadline, when the baseline stays unhealthy', async () => {
    // Prepare
    const { deps, clock, rollouts, incidents, state, log } = await setup(service(() => 3.5));

    // Act
    const { final, steps } = await watch(state, deps, clock);

    // Assess
    expect(clock.now().toISOString()).toBe(minutesAfter(15).toISOString());
    expect(final.recovery).toMatchObject({ outcome: 'ESCALATED', lastVerdict: 'FAIL' });
    expect(steps.filter((s) => s.recovery?.lastVerdict === 'FAIL').length).toBeGreaterThan(3);
    expect(incidents.changes.map((c) => c.change.kind)).toEqual(['ESCALATED']);
    const change = incidents.changes[0]!.change;
    expect(change.severity).toBe('critical');
    expect(change.note).toMatch(/the rollback did not fix it/);
    expect(change.note).toMatch(/error-rate.* 3\.50 % is above the maximum 1/);
    const record = (await rollouts.history('r-1'))!;
    expect(record.events.filter((e) => e.type === 'ESCALATED')).toHaveLength(1);
    expect(record.recovery).toEqual({ outcome: 'ESCALATED', at: minutesAfter(15).toISOString() });
    expect(log.entries.some((e) => e.level === 'error' && /incident escalated/.test(e.message))).toBe(true);
  });

  it('judges a trailing window, so a baseline that recovers late in the watch is RECOVERED, not escalated', async () => {
    // Prepare: unhealthy for the first 8 minutes after the rollback, healthy after.
    const { deps, clock, incidents, state } = await setup(service((min) => (min < 8 ? 6 : 0.1)));

    // Act
    const { final } = await watch(state, deps, clock);

    // Assess
    expect(final.recovery?.outcome).toBe('RECOVERED');
    expect(clock.now().getTime()).toBeLessThan(minutesAfter(15).getTime());
    expect(incidents.changes.map((c) => c.change.kind)).toEqual(['RECOVERED']);
  });

  it('escalates when recovery cannot be confirmed: no data is not a pass', async () => {
    // Prepare
    const { deps, clock, incidents, state } = await setup(service(() => null, () => Number.NaN));

    // Act
    const { final } = await watch(state, deps, clock);

    // Assess
    expect(final.recovery).toMatchObject({ outcome: 'ESCALATED', lastVerdict: 'INCONCLUSIVE' });
    expect(incidents.changes[0]!.change.note).toMatch(/could not be confirmed healthy \(no data is not a pass\)/);
  });

  it('is idempotent: a retried step after the watch ended changes nothing', async () => {
    // Prepare
    const { deps, clock, rollouts, incidents, state } = await setup(service(() => 0.2));
    const { final, steps } = await watch(state, deps, clock);
    const before = steps.at(-2)!;

    // Act: the last step again with its input, and once more with its output.
    const retried = await verifyRecovery(before, deps);
    const again = await verifyRecovery(final, deps);

    // Assess
    expect(retried).toMatchObject({ next: 'DONE', recovery: { outcome: 'RECOVERED' } });
    expect(again).toMatchObject({ next: 'DONE', recovery: { outcome: 'RECOVERED' } });
    expect(incidents.changes).toHaveLength(1);
    expect((await rollouts.history('r-1'))!.events.filter((e) => e.type === 'RECOVERED')).toHaveLength(1);
  });

  it('does not watch when recovery.watchSeconds is 0, after a promotion, or without an incident', async () => {
    // Prepare
    const off = await setup(service(() => 3), { overrides: { recovery: { watchSeconds: 0 } } });
    const promoted = await setup(service(() => 3));
    const aborted = await setup(service(() => 3), { incidentOpened: false });

    // Act
    const a = await verifyRecovery(off.state, off.deps);
    const b = await verifyRecovery({ ...promoted.state, phase: 'FORWARD', outcome: 'PROMOTED' }, promoted.deps);
    const c = await verifyRecovery(aborted.state, aborted.deps);

    // Assess
    expect(a).toMatchObject({ next: 'DONE', recovery: { outcome: 'NOT_WATCHED', detail: 'recovery.watchSeconds is 0' } });
    expect(b).toMatchObject({ next: 'DONE', recovery: { outcome: 'NOT_WATCHED' } });
    expect(c).toMatchObject({ next: 'DONE', recovery: { outcome: 'NOT_WATCHED', detail: expect.stringMatching(/no incident was opened/) } });
    for (const s of [off, promoted, aborted]) {
      expect(s.metrics.fetches).toHaveLength(0);
      expect(s.incidents.changes).toHaveLength(0);
    }
  });

  it('honours recovery.checkIntervalSeconds and never waits past the deadline', async () => {
    // Prepare
    const { deps, clock, state } = await setup(service(() => 3), { overrides: { recovery: { watchSeconds: 600, checkIntervalSeconds: 240 } } });

    // Act
    const { steps } = await watch(state, deps, clock);

    // Assess
    const waits = steps.filter((s) => s.next === 'WAIT_RECOVERY').map((s) => s.wait.until);
    expect(waits).toEqual([minutesAfter(4), minutesAfter(8), minutesAfter(10)].map((d) => d.toISOString()));
    expect(steps.at(-1)!.recovery?.outcome).toBe('ESCALATED');
  });
});

describe('recoveryWindow', () => {
  it('is the trailing lookback of complete, aggregated periods, never before since', () => {
    const since = new Date('2026-03-02T10:01:00.000Z');

    expect(recoveryWindow(since, new Date('2026-03-02T10:03:30.000Z'), 60, 300)).toEqual({
      start: since, end: new Date('2026-03-02T10:02:00.000Z'), ready: false,
    });
    expect(recoveryWindow(since, new Date('2026-03-02T10:20:10.000Z'), 60, 300)).toEqual({
      start: new Date('2026-03-02T10:14:00.000Z'), end: new Date('2026-03-02T10:19:00.000Z'), ready: true,
    });
  });
});
