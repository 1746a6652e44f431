/**
 * The evidence is stored before anything acts on it: a check's raw datapoints and judgement
 * before the check is recorded and the rollback decided. A rollback restores traffic first and
 * snapshots the record (with its decision and the rollback's change) right after, and again at the
 * end; a failing evidence store never holds a rollback back. The steps run on in-memory ports whose
 * every call is logged in order.
 */
import { describe, expect, it } from 'vitest';
import { parseRolloutConfig, route53TargetOf, type RolloutMetric } from '../../functions/core/config.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import type { MetricData } from '../../functions/core/judge.ts';
import type { Deps, MetricRange, MetricsPort } from '../../functions/core/ports.ts';
import type { RolloutEvent, RolloutHistory } from '../../functions/core/rollout-record.ts';
import { analyze, checkSync, conclude, preflight, rollback, shiftTraffic, type RolloutState } from '../../functions/core/rollout-steps.ts';
import { safetyNet } from '../../functions/core/safety-net.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryEvidence, MemoryIncidents, MemoryLog, MemoryRollouts, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

/** A canary whose 5xx rate is 5 %: error-rate (critical) fails the first check. */
class FailingCanary implements MetricsPort {
  async fetchWindow(metrics: RolloutMetric[], range: MetricRange) {
    const n = Math.max(0, Math.floor((range.end.getTime() - range.start.getTime()) / 1000 / range.periodSeconds));
    const series = (metric: RolloutMetric, variant: 'canary' | 'baseline'): MetricData['canary'] => {
      if (metric.kind === 'ratio') return { numerator: Array(n).fill(variant === 'canary' ? 50 : 1), denominator: Array(n).fill(1000) };
      return { values: Array(n).fill(metric.name === 'memory' ? 40 : 0.2) };
    };
    return {
      periodSeconds: range.periodSeconds, start: range.start.toISOString(),
      metrics: Object.fromEntries(metrics.map((m) => [m.name, { canary: series(m, 'canary'), baseline: series(m, 'baseline') }])),
    };
  }
}

interface World {
  deps: Deps;
  calls: string[];
  clock: SimClock;
  evidence: MemoryEvidence;
  rollouts: MemoryRollouts;
  incidents: MemoryIncidents;
  log: MemoryLog;
  snapshots: RolloutHistory[];
}

/** Every port call, as `port.method` (rollouts.update with the types of the events it appends). */
function setUp(options: { failEvidence?: boolean } = {}): World {
  const clock = new SimClock(new Date('2026-03-02T10:00:00Z'));
  const traffic = new MemoryTraffic({ clock, rng: mulberry32(1), syncDelaySeconds: [20, 20] });
  const t = route53TargetOf(parseRolloutConfig(albEcsConfig()));
  traffic.putRecord(t, { setIdentifier: 'blue', weight: 100, ttl: 60 });
  traffic.putRecord(t, { setIdentifier: 'green', weight: 0, ttl: 60 });
  const rollouts = new MemoryRollouts();
  const evidence = new MemoryEvidence();
  const incidents = new MemoryIncidents();
  const log = new MemoryLog();
  const calls: string[] = [];
  const snapshots: RolloutHistory[] = [];
  const wrap = <T extends object>(port: T, name: string): T => new Proxy(port, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'locationOf') return value.bind(target); // synchronous, and not a call to the store
      return async (...args: unknown[]) => {
        const events = prop === 'update' ? (args[2] as RolloutEvent[] | undefined) ?? [] : [];
        calls.push(`${name}.${String(prop)}${events.length ? `[${events.map((e) => e.type).join(',')}]` : ''}`);
        if (name === 'evidence' && prop === 'putRecord') snapshots.push(structuredClone(args[1] as RolloutHistory));
        if (name === 'evidence' && options.failEvidence) throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
        return value.apply(target, args);
      };
    },
  });
  const deps: Deps = {
    traffic: wrap(traffic, 'traffic'), metrics: wrap(new FailingCanary(), 'metrics'),
    rollouts: wrap(rollouts, 'rollouts'), incidents: wrap(incidents, 'incidents'), evidence: wrap(evidence, 'evidence'),
    judge: defaultJudge, clock, log, allowedHostedZoneIds: [],
    reportCommand: (id) => `canary report ${id} --stack canary-analyzer`,
  };
  return { deps, calls, clock, evidence, rollouts, incidents, log, snapshots };
}

/** Runs a step at the time the workflow would (its `wait.until`), as the Wait states do. */
async function step(world: World, fn: (s: RolloutState, d: Deps) => Promise<RolloutState>, state: RolloutState): Promise<RolloutState> {
  world.clock.advanceTo(state.wait.until);
  const next = await fn(state, world.deps);
  world.clock.advance(1);
  return next;
}

/** Preflight, the first stage's shift, INSYNC and the bake: the state the first analysis gets. */
async function upToAnalysis(world: World): Promise<RolloutState> {
  // Nothing throttles here: preflight answers with the state, not a retry.
  let state = await preflight({ config: albEcsConfig({ stages: [10, 100] }), execution: { id: 'arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:r-1', name: 'r-1' } }, world.deps) as RolloutState;
  state = await step(world, shiftTraffic, state);
  do state = await step(world, checkSync, state); while (state.next === 'WAIT_SYNC');
  return state;
}

const indexOf = (calls: string[], call: string, from = 0) => {
  const i = calls.indexOf(call, from);
  expect(i, `${call} in ${calls.slice(from).join(' ')}`).toBeGreaterThanOrEqual(0);
  return i;
};

describe('evidence is stored before it is acted on', () => {
  it('analyze stores the raw window and the judgement before recording the check and deciding to roll back', async () => {
    // Prepare
    const world = setUp();
    let state = await upToAnalysis(world);
    let from = world.calls.length;

    // Act: check until the sequential judge has the evidence to roll back (a few periods).
    let next = await step(world, analyze, state);
    for (let i = 0; next.next === 'ANALYZE' && i < 30; i++) {
      state = next;
      from = world.calls.length;
      next = await step(world, analyze, state);
    }

    // Assess
    expect(next.next).toBe('ROLLBACK');
    const put = indexOf(world.calls, 'evidence.putCheck', from);
    expect(put).toBeLessThan(indexOf(world.calls, 'rollouts.update[CHECK]', from));
    // Every check is stored, numbered in order; the deciding one is the last.
    const { checks } = await world.evidence.getRollout('r-1');
    expect(checks.map((c) => c.checkNo)).toEqual(checks.map((_c, i) => i + 1));
    const stored = checks.at(-1)!;
    expect(stored).toMatchObject({ rolloutId: 'r-1', stageIndex: 0, weight: 10, judgement: { verdict: 'FAIL', criticalFailure: true } });
    const errorRate = stored.window.metrics['error-rate']!;
    expect(errorRate.canary).toEqual({ numerator: expect.arrayContaining([50]), denominator: expect.arrayContaining([1000]) });
    const record = (await world.rollouts.history('r-1'))!;
    const check = record.events.filter((e) => e.type === 'CHECK').at(-1)!;
    expect(check.type === 'CHECK' && check.window).toEqual(stored.range);
    expect(stored.at).toBe(check.at);
    expect(record.lastCheck).toEqual(check);
  });

  it('rollback restores the baseline first, then records the decision and snapshots the record; conclude snapshots the end', async () => {
    // Prepare
    const world = setUp();
    let state = await step(world, analyze, await upToAnalysis(world));
    const from = world.calls.length;

    // Act
    state = await step(world, rollback, state);
    do state = await step(world, checkSync, state); while (state.next === 'WAIT_SYNC');
    state = await step(world, conclude, state);

    // Assess
    // Traffic first: nothing is written (record or evidence) before the baseline is restored.
    const restore = indexOf(world.calls, 'traffic.restore', from);
    const decided = indexOf(world.calls, 'rollouts.update[DECISION,WEIGHTS_SET]', from);
    const snapshot = indexOf(world.calls, 'evidence.putRecord', from);
    expect(world.calls.slice(from, restore).filter((c) => c.startsWith('evidence.') || c.startsWith('rollouts.update'))).toEqual([]);
    expect(restore).toBeLessThan(decided);
    expect(decided).toBeLessThan(snapshot);
    const after = world.snapshots[0]!;
    expect(after.status).toBe('ROLLING_BACK');
    expect(after.events.map((e) => e.type)).toContain('DECISION');
    expect(after.events.filter((e) => e.type === 'WEIGHTS_SET').map((e) => e.type === 'WEIGHTS_SET' && e.canary)).toEqual([10, 0]);

    const last = world.snapshots.at(-1)!;
    expect(indexOf(world.calls, 'incidents.open', from)).toBeLessThan(world.calls.lastIndexOf('evidence.putRecord'));
    expect(last.status).toBe('ROLLED_BACK');
    expect(last.events.map((e) => e.type)).toEqual(expect.arrayContaining(['WEIGHTS_SET', 'IN_SYNC', 'INCIDENT']));
    expect((await world.evidence.getRollout('r-1')).record).toEqual(await world.rollouts.history('r-1'));
  });

  it('puts the link to the evidence and the report command in the incident', async () => {
    const world = setUp();
    let state = await step(world, analyze, await upToAnalysis(world));
    state = await step(world, rollback, state);
    do state = await step(world, checkSync, state); while (state.next === 'WAIT_SYNC');
    await step(world, conclude, state);

    const incident = world.incidents.opened[0]!.incident;
    expect(incident.reportCommand).toBe('canary report r-1 --stack canary-analyzer');
    expect(incident.evidenceLink).toBe('memory://evidence/rollouts/r-1/');
    expect(incident.summary).toContain('Report (timeline, charts, post-incident summary): canary report r-1 --stack canary-analyzer');
    expect(incident.summary).toContain('Evidence (every check\'s datapoints and verdicts): memory://evidence/rollouts/r-1/');
  });

  it('numbers a retried check the same, so the retry overwrites the same object', async () => {
    // Prepare: the first try dies after storing the evidence, before recording the check.
    const world = setUp();
    const state = await upToAnalysis(world);
    const update = world.rollouts.update.bind(world.rollouts);
    let failed = false;
    world.rollouts.update = async (...args) => {
      if (!failed && args[2]?.some((e) => e.type === 'CHECK')) {
        failed = true;
        throw Object.assign(new Error('Internal server error'), { name: 'InternalServerError' });
      }
      return update(...args);
    };

    // Act
    await expect(step(world, analyze, state)).rejects.toThrow('Internal server error');
    await step(world, analyze, state);

    // Assess
    expect(world.evidence.writes.filter((w) => w.kind === 'check')).toEqual([
      { kind: 'check', rolloutId: 'r-1', checkNo: 1 }, { kind: 'check', rolloutId: 'r-1', checkNo: 1 },
    ]);
    expect((await world.evidence.getRollout('r-1')).checks).toHaveLength(1);
  });

  it('the safety net restores the baseline before it writes anything, and snapshots the record at the end', async () => {
    // Prepare: the execution died while the canary had 10 %.
    const world = setUp();
    await upToAnalysis(world);
    const from = world.calls.length;

    // Act
    const result = await safetyNet({ executionArn: 'arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:r-1', name: 'r-1', status: 'FAILED' }, world.deps);

    // Assess
    expect(result.action).toBe('RESTORED_BASELINE');
    const restore = indexOf(world.calls, 'traffic.restore', from);
    expect(world.calls.slice(from, restore).filter((c) => c.startsWith('evidence.') || c.startsWith('rollouts.update'))).toEqual([]);
    expect(restore).toBeLessThan(indexOf(world.calls, 'evidence.putRecord', from));
    expect(world.snapshots).toHaveLength(1);
    const last = world.snapshots.at(-1)!;
    expect(last.status).toBe('ROLLED_BACK');
    expect(last.events.filter((e) => e.type === 'WEIGHTS_SET').map((e) => e.type === 'WEIGHTS_SET' && e.canary)).toEqual([10, 0]);
  });

  it('never lets a failing evidence store hold back the rollback: traffic is restored, the gap is noted', async () => {
    // Prepare
    const world = setUp({ failEvidence: true });
    let state = await step(world, analyze, await upToAnalysis(world));

    // Act
    state = await step(world, rollback, state);
    do state = await step(world, checkSync, state); while (state.next === 'WAIT_SYNC');
    state = await step(world, conclude, state);

    // Assess
    expect(state.outcome).toBe('ROLLED_BACK');
    const record = (await world.rollouts.history('r-1'))!;
    expect(record.status).toBe('ROLLED_BACK');
    expect(record.weight).toBe(0);
    const notes = record.events.filter((e) => e.type === 'NOTE').map((e) => e.type === 'NOTE' && e.message);
    expect(notes).toEqual([
      'the evidence of check #1 could not be stored (see the step\'s log)',
      'the evidence of the record after the rollback could not be stored (see the step\'s log)',
      'the evidence of the record at the end could not be stored (see the step\'s log)',
    ]);
    expect(world.log.entries.filter((e) => e.level === 'error').map((e) => e.message)).toEqual(expect.arrayContaining([
      'could not store the evidence of check #1', 'could not store the evidence of the record after the rollback',
    ]));
  });
});
