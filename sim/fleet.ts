/**
 * Many rollouts in one account at once: every rollout has its own traffic target, its own service
 * (healthy, or a canary whose 5xx rate jumps at the 10 % stage), and the real workflow; they share
 * the account's Route 53 request quota (10 requests/s with a burst; formerly 5), GetMetricData's
 * 50 requests/s, one rollouts table, the safety net and the reconciler (sim/world.ts). What must
 * hold: no healthy rollout is rolled back or refused because the account is busy, no traffic is
 * left half-shifted, and a bad canary's rollback reaches INSYNC quickly even while the fleet keeps
 * Route 53 busy.
 */
import { parseRolloutConfig, route53TargetOf, targetKey, type RolloutConfigInput, type Target } from '../functions/core/config.ts';
import { DEFAULT_SIM_START, SimClock } from './clock.ts';
import { findScenario } from './scenarios.ts';
import { ServiceModel } from './service-model.ts';
import { SIM_TTL_SECONDS, type SimulationResult } from './simulate.ts';
import { allOf } from './workflow-runner.ts';
import { SimWorld } from './world.ts';

export interface FleetOptions {
  /** Rollouts started. */
  n: number;
  seed?: number;
  /** Route 53's account-wide request bucket (default 10 requests/s, burst 50). */
  route53?: { ratePerSecond: number; burst: number };
  /** Share of the rollouts whose canary is bad (an error spike at 10 %): their rollbacks are timed. */
  badShare?: number;
  /** The starts are spread evenly over this many seconds (0: all at once). */
  spreadSeconds?: number;
  /** The config every rollout is made from (its target is replaced by the rollout's own). */
  config: RolloutConfigInput;
  /** Hosted zones the targets are spread over. */
  zones?: number;
}

export type FleetRollout = Pick<SimulationResult, 'rolloutId' | 'outcome' | 'decision' | 'finalWeights' | 'lockHolder' | 'workflow' | 'aws'> & {
  /** Whether this rollout's canary was healthy. */
  healthy: boolean;
  /** Seconds from the rollback decision to the rollback's change being INSYNC at Route 53 (traffic safe). */
  rollbackSeconds?: number;
  /** ...and to the workflow seeing it INSYNC (then it concludes: incident, lock). */
  rollbackObservedSeconds?: number;
};

export interface FleetResult {
  n: number;
  route53: { ratePerSecond: number; calls: number; throttled: number };
  metricsThrottled: number;
  simulatedSeconds: number;
  rollouts: FleetRollout[];
  summary: {
    promoted: number;
    rolledBack: number;
    refused: number;
    /** Healthy canaries rolled back or refused. */
    healthyWronglyStopped: number;
    /** Rollouts whose weights ended anywhere but exactly 0/100 or 100/0, or whose lock stayed held. */
    leftShifted: number;
    locksHeld: number;
    rollbackSeconds: { p50: number | null; p99: number | null; max: number | null };
    rollbackObservedSeconds: { p50: number | null; p99: number | null; max: number | null };
  };
}

const quantile = (sorted: number[], q: number): number | null =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

export async function simulateFleet(options: FleetOptions): Promise<FleetResult> {
  const seed = options.seed ?? 1;
  const clock = new SimClock(DEFAULT_SIM_START);
  const world = new SimWorld({ clock, seed, route53: options.route53 });
  const healthy = findScenario('healthy');
  const bad = findScenario('error-spike');
  const badEvery = options.badShare ? Math.max(1, Math.round(1 / options.badShare)) : 0;
  const zones = options.zones ?? 20;
  const spread = options.spreadSeconds ?? 60;
  const entries: { rolloutId: string; healthy: boolean; target: Target }[] = [];

  for (let i = 0; i < options.n; i++) {
    const rolloutId = `fleet-${String(i + 1).padStart(4, '0')}`;
    const isBad = badEvery > 0 && i % badEvery === badEvery - 1;
    const input: RolloutConfigInput = {
      ...options.config,
      name: rolloutId,
      target: {
        hostedZoneId: `Z${String(1 + (i % zones)).padStart(20, '0')}`, recordName: `svc-${i + 1}.example.com`, recordType: 'A',
        baselineSetIdentifier: 'blue', canarySetIdentifier: 'green',
      },
    };
    const t = route53TargetOf(parseRolloutConfig(input));
    world.traffic.putRecord(t, { setIdentifier: 'blue', weight: 100, ttl: SIM_TTL_SECONDS, value: '10.0.0.1' });
    world.traffic.putRecord(t, { setIdentifier: 'green', weight: 0, ttl: SIM_TTL_SECONDS, value: '10.0.0.2' });
    const model = new ServiceModel({
      profile: (isBad ? bad : healthy).profile, traffic: world.traffic, target: t, clock, seed: seed * 100_003 + i,
      startedAt: DEFAULT_SIM_START, ttlSeconds: SIM_TTL_SECONDS,
    });
    const at = DEFAULT_SIM_START.getTime() + (options.n > 1 ? Math.floor((spread * 1000 * i) / options.n) : 0);
    world.sim.at(at, () => world.start({ rolloutId, input, metrics: model }));
    entries.push({ rolloutId, healthy: !isBad, target: t });
  }
  await world.run();

  const rollouts: FleetRollout[] = [];
  for (const e of entries) {
    const handle = world.handle(e.rolloutId)!;
    const run = handle.result();
    const record = await world.rollouts.history(e.rolloutId);
    const outcome = record?.status === 'PROMOTED' || record?.status === 'ROLLED_BACK' ? record.status : null;
    let rollbackSeconds: number | undefined;
    let rollbackObservedSeconds: number | undefined;
    if (outcome === 'ROLLED_BACK' && record?.decision) {
      const decided = Date.parse(record.decision.at);
      const change = world.traffic.changeLog(e.target).find((c) => c.weights.canary === 0 && c.submittedAt.getTime() >= decided);
      if (change) rollbackSeconds = (change.inSyncAt.getTime() - decided) / 1000;
      const seen = [...record.events].reverse().find((ev) => ev.type === 'IN_SYNC' && ev.canary === 0);
      if (seen) rollbackObservedSeconds = (Date.parse(seen.at) - decided) / 1000;
    }
    rollouts.push({
      rolloutId: e.rolloutId, healthy: e.healthy, outcome, decision: record?.decision ?? null,
      finalWeights: world.traffic.weights(e.target), lockHolder: (await world.rollouts.lockHolder(targetKey(e.target)))?.owner ?? null,
      workflow: { status: run.status, error: run.error, cause: run.cause, states: allOf(run).reduce((n, r) => n + r.states.length, 0), retries: allOf(run).reduce((n, r) => n + r.retries, 0) },
      aws: { executions: allOf(run).map((r) => ({ name: r.name, status: r.status, ...r.aws })), maxRecordItemBytes: world.memoryRollouts.maxItemBytes },
      ...(rollbackSeconds !== undefined ? { rollbackSeconds } : {}),
      ...(rollbackObservedSeconds !== undefined ? { rollbackObservedSeconds } : {}),
    });
  }
  const exact = (w: FleetRollout['finalWeights']) => w !== null && ((w.canary === 0 && w.baseline > 0) || (w.canary === 100 && w.baseline === 0));
  const latencies = rollouts.flatMap((r) => (!r.healthy && r.rollbackSeconds !== undefined ? [r.rollbackSeconds] : [])).sort((a, b) => a - b);
  const observed = rollouts.flatMap((r) => (!r.healthy && r.rollbackObservedSeconds !== undefined ? [r.rollbackObservedSeconds] : [])).sort((a, b) => a - b);
  return {
    n: options.n,
    route53: { ratePerSecond: world.route53Quota.ratePerSecond, calls: world.traffic.calls.total, throttled: world.traffic.calls.throttled },
    metricsThrottled: world.metricsThrottled,
    simulatedSeconds: (clock.now().getTime() - DEFAULT_SIM_START.getTime()) / 1000,
    rollouts,
    summary: {
      promoted: rollouts.filter((r) => r.outcome === 'PROMOTED').length,
      rolledBack: rollouts.filter((r) => r.outcome === 'ROLLED_BACK').length,
      refused: rollouts.filter((r) => r.outcome === null).length,
      healthyWronglyStopped: rollouts.filter((r) => r.healthy && r.outcome !== 'PROMOTED').length,
      leftShifted: rollouts.filter((r) => !exact(r.finalWeights)).length,
      locksHeld: rollouts.filter((r) => r.lockHolder !== null).length,
      rollbackSeconds: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? null },
      rollbackObservedSeconds: { p50: quantile(observed, 0.5), p99: quantile(observed, 0.99), max: observed.at(-1) ?? null },
    },
  };
}
