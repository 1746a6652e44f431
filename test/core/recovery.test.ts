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
import { buildStatusUpdate, statusSchedule } from '../../functions/core/incident-status.ts';
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

describe('status updates while the incident is open (incident.statusUpdateEvery)', () => {
  const hour = { recovery: { watch: '1h' } } as Partial<RolloutConfigInput>;
  /** 6 % 5xx for 20 minutes after the rollback, 3 % until minute 50, healthy after. */
  const slowRecovery = service((min) => (min < 20 ? 6 : min < 50 ? 3 : 0.1));

  it('sends one every 15 minutes until recovery is verified, saying what changed; none after', async () => {
    // Prepare
    const { deps, clock, rollouts, incidents, state } = await setup(slowRecovery, { overrides: hour });

    // Act
    const { final } = await watch(state, deps, clock);

    // Assess
    expect(final.recovery?.outcome).toBe('RECOVERED');
    const kinds = incidents.changes.map((c) => [c.change.kind, c.change.seq, c.change.at]);
    expect(kinds).toEqual([
      ['STATUS', 1, minutesAfter(15).toISOString()],
      ['STATUS', 2, minutesAfter(30).toISOString()],
      ['STATUS', 3, minutesAfter(45).toISOString()],
      ['RECOVERED', undefined, clock.now().toISOString()],
    ]);
    expect(clock.now().getTime()).toBeGreaterThan(minutesAfter(50).getTime());
    expect(clock.now().getTime()).toBeLessThan(minutesAfter(60).getTime());
    const [first, second, third] = incidents.changes.map((c) => c.change.note);
    expect(first!.split('\n')).toEqual([
      'Status update 1 (every 15 min) at 10:15 UTC.',
      'Traffic: restored, 100 % baseline since 10:00:00 UTC (the rollback is in effect everywhere).',
      expect.stringMatching(/^Recovery: not yet recovered: the baseline is still outside its thresholds \(window 10:\d\d UTC to 10:14 UTC\):$/),
      expect.stringMatching(/^- error-rate.* 6\.00 % is above the maximum 1/),
      'Next: the next update by 10:30 UTC, sooner if recovery is verified; the watch ends at 11:00 UTC (escalated if not recovered by then).',
    ]);
    expect(second).toContain('Traffic: unchanged, 100 % baseline since 10:00:00 UTC.');
    expect(second).toContain('Since update 1: error-rate 6.00 % → 3.00 %.');
    expect(third).toContain('Since update 2: no change.');
    expect(incidents.changes.at(-1)!.change.note).toMatch(/This ends the status updates \(the last was number 3\)\.$/);
    // Every target but PagerDuty (which takes no status updates) got each one; the OpsItem is the one opened.
    for (const c of incidents.changes.slice(0, 3)) expect(c.deliveries.map((d) => d.target)).toEqual(['sns', 'opscenter']);
    const record = (await rollouts.history('r-1'))!;
    expect(record.events.filter((e) => e.type === 'INCIDENT_UPDATE').map((e) => [e.at, (e as { seq: number }).seq])).toEqual(
      [15, 30, 45].map((m, i) => [minutesAfter(m).toISOString(), i + 1]),
    );
    expect(record.incidentUpdate).toMatchObject({ seq: 3, at: minutesAfter(45).toISOString(), traffic: 'RESTORED', verdict: 'FAIL', recorded: true });
  });

  it('runs the watch when an update falls due even when recovery.checkInterval is longer', async () => {
    // Prepare: one baseline check an hour, updates every 20 minutes; the baseline never recovers.
    const { deps, clock, incidents, state } = await setup(service(() => 3.5), {
      overrides: { recovery: { watch: '2h', checkInterval: '1h' }, incident: { statusUpdateEvery: '20m' } },
    });

    // Act
    const { steps } = await watch(state, deps, clock);

    // Assess
    expect(steps.filter((s) => s.next === 'WAIT_RECOVERY').map((s) => s.wait.until)).toEqual(
      [20, 40, 60, 80, 100, 120].map((m) => minutesAfter(m).toISOString()),
    );
    // The update due at the deadline is the escalation itself.
    expect(incidents.changes.map((c) => c.change.kind === 'STATUS' ? c.change.seq : c.change.kind)).toEqual([1, 2, 3, 4, 5, 'ESCALATED']);
    // The watch judges a trailing window as long as its check interval (an hour of complete periods
    // after the rollback's settling): the updates before that say it was not judged yet.
    expect(incidents.changes.slice(0, 5).map((c) => /not judged yet/.test(c.change.note) ? 'not judged' : /not yet recovered/.test(c.change.note) ? 'unhealthy' : '?'))
      .toEqual(['not judged', 'not judged', 'not judged', 'unhealthy', 'unhealthy']);
  });

  it('a retried step never sends an update twice; one claimed by a step that died is said to be uncertain', async () => {
    // Prepare
    const { deps, clock, rollouts, incidents, state } = await setup(slowRecovery, { overrides: hour });
    let current = state;
    while (!incidents.changes.length) {
      const input = current;
      current = await verifyRecovery(input, deps);
      if (incidents.changes.length) {
        // Act 1: the step that sent update 1 runs again with the same input (a Lambda timeout after the sends).
        await verifyRecovery(input, deps);
        break;
      }
      clock.advanceTo(current.wait.until);
    }
    expect(incidents.changes.map((c) => c.change.seq)).toEqual([1]);
    // Act 2: update 2 is claimed by a step that dies before sending it; its retry finds the claim.
    clock.advanceTo(minutesAfter(30));
    const at30 = { ...current, wait: { until: minutesAfter(30).toISOString() } };
    expect(await rollouts.claimIncidentUpdate('r-1', { seq: 2, at: minutesAfter(30).toISOString(), traffic: 'RESTORED' })).toBe(true);
    const retried = await verifyRecovery(at30, deps);
    clock.advanceTo(minutesAfter(45));
    await verifyRecovery({ ...retried, wait: { until: minutesAfter(45).toISOString() } }, deps);

    // Assess
    expect(incidents.changes.map((c) => c.change.seq)).toEqual([1, 3]);
    expect(incidents.changes[1]!.change.note).toContain('(Update 2 may not have reached every target: its step was interrupted after claiming it.)');
    const events = (await rollouts.history('r-1'))!.events.filter((e) => e.type === 'INCIDENT_UPDATE');
    expect(events.map((e) => (e as { seq: number }).seq)).toEqual([1, 3]);
    expect(await rollouts.claimIncidentUpdate('r-1', { seq: 3, at: minutesAfter(46).toISOString(), traffic: 'RESTORED' })).toBe(false);
  });

  it('two invocations of the due step at once (a late Lambda beside its retry): the claim lets one send', async () => {
    // Prepare
    const { deps, clock, incidents, state } = await setup(slowRecovery, { overrides: hour });
    clock.advanceTo(minutesAfter(15));
    const due = { ...state, wait: { until: minutesAfter(15).toISOString() } };

    // Act
    const [a, b] = await Promise.all([verifyRecovery(due, deps), verifyRecovery(due, deps)]);

    // Assess
    expect(incidents.changes.map((c) => [c.change.kind, c.change.seq])).toEqual([['STATUS', 1]]);
    expect([a.next, b.next]).toEqual(['WAIT_RECOVERY', 'WAIT_RECOVERY']);
  });

  it('sends none when statusUpdateEvery is 0, or when the watch ends before the first is due', async () => {
    // Prepare
    const off = await setup(service(() => 3.5), { overrides: { ...hour, incident: { statusUpdateEvery: 0 } } });
    const short = await setup(service(() => 3.5));

    // Act
    await watch(off.state, off.deps, off.clock);
    await watch(short.state, short.deps, short.clock);

    // Assess
    expect(off.incidents.changes.map((c) => c.change.kind)).toEqual(['ESCALATED']);
    expect(short.incidents.changes.map((c) => c.change.kind)).toEqual(['ESCALATED']);
    expect(off.incidents.changes[0]!.change.note).not.toContain('status updates');
  });
});

describe('statusSchedule and buildStatusUpdate', () => {
  it('numbers updates by whole cadences since the open, whatever time the last went out', () => {
    const opened = '2026-03-02T10:00:00.000Z';
    expect(statusSchedule(opened, 900, new Date('2026-03-02T10:14:59.000Z'))).toEqual({ due: 0, nextAt: new Date('2026-03-02T10:15:00.000Z') });
    expect(statusSchedule(opened, 900, new Date('2026-03-02T10:15:00.000Z'))).toEqual({ due: 1, nextAt: new Date('2026-03-02T10:30:00.000Z') });
    expect(statusSchedule(opened, 900, new Date('2026-03-02T10:47:10.000Z'))).toEqual({ due: 3, nextAt: new Date('2026-03-02T11:00:00.000Z') });
  });

  it('says which metrics are outside their thresholds now, which are back, and which moved', () => {
    // Prepare
    const verdict = (name: string, v: 'PASS' | 'FAIL', value: number) => ({
      name, verdict: v, critical: false, reason: `${name} ${value}`, test: 't', canaryValue: value, baselineValue: null, threshold: { max: 1 }, sample: { canary: 5, baseline: 0 },
    });
    const judgement = { verdict: 'FAIL' as const, criticalFailure: false, metrics: [verdict('error-rate', 'FAIL', 2), verdict('memory', 'PASS', 50), verdict('latency', 'FAIL', 1.4)] };

    // Act
    const { note, ref } = buildStatusUpdate({
      seq: 3, now: new Date('2026-03-02T10:45:00.000Z'), cadenceSeconds: 900, traffic: { state: 'RESTORED', restoredAt: '2026-03-02T10:00:00.000Z' },
      judgement, metrics: [{ name: 'error-rate', unit: 'percent' }, { name: 'memory', unit: 'percent' }, { name: 'latency', unit: 'seconds' }],
      deadline: '2026-03-02T11:00:00.000Z', nextAt: new Date('2026-03-02T11:00:00.000Z'),
      previous: { seq: 2, at: '2026-03-02T10:30:00.000Z', traffic: 'RESTORED', verdict: 'FAIL', values: { 'error-rate': 3, memory: 85 }, recorded: true },
    });

    // Assess
    expect(note).toContain('Since update 2: error-rate 3.00 % → 2.00 %; latency now outside (1.40 s); memory back within its thresholds (50.00 %).');
    expect(ref).toEqual({ seq: 3, at: '2026-03-02T10:45:00.000Z', traffic: 'RESTORED', verdict: 'FAIL', values: { 'error-rate': 2, latency: 1.4 } });
  });

  it('says traffic is still rolling back, and that nothing was judged yet', () => {
    // Act
    const { note, ref } = buildStatusUpdate({
      seq: 1, now: new Date('2026-03-02T10:15:00.000Z'), cadenceSeconds: 900, traffic: { state: 'ROLLING_BACK' },
      metrics: [], deadline: '2026-03-02T10:20:00.000Z', nextAt: new Date('2026-03-02T10:30:00.000Z'),
    });

    // Assess
    expect(note.split('\n')).toEqual([
      'Status update 1 (every 15 min) at 10:15 UTC.',
      'Traffic: still rolling back: the weight change back to 100 % baseline is not in effect everywhere yet.',
      'Recovery: not judged yet: the first complete CloudWatch window after the rollback is not in.',
      'Next: the watch ends at 10:20 UTC: recovery verified before then, or escalated then.',
    ]);
    expect(ref).toEqual({ seq: 1, at: '2026-03-02T10:15:00.000Z', traffic: 'ROLLING_BACK' });
  });
});
