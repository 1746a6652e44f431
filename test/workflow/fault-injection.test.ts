/**
 * Fault injection over the real state machines (the rollout and its segments): every call a
 * rollout makes to an external system (a port method: Route 53, CloudWatch, DynamoDB, incidents)
 * is numbered 1..N in a clean run; then the rollout is rerun with call k failing, for every k and
 * several kinds of fault, and the workflow's retries and catches, then the safety net (as the
 * EventBridge rule runs it on a failed execution) or, when that event is lost, the reconciler, do
 * their work. Every run must end with the record set at exactly 100/0 or 0/100 (the one its
 * verdicts call for), the lock released, the rollout record complete, and at most one incident
 * per rollback.
 */
import { describe, expect, it } from 'vitest';
import { parseRolloutConfig, route53TargetOf, targetKey, type RolloutMetric } from '../../functions/core/config.ts';
import { ThrottledError, TransientAwsError } from '../../functions/core/errors.ts';
import { reconcile } from '../../functions/core/reconciler.ts';
import type { MetricData } from '../../functions/core/judge.ts';
import type { Deps, MetricRange, MetricsPort } from '../../functions/core/ports.ts';
import * as steps from '../../functions/core/rollout-steps.ts';
import { safetyNet } from '../../functions/core/safety-net.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryIncidents, MemoryLog, MemoryRollouts, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { allOf, ROLLOUT_ASL, ROLLOUT_STATE_MACHINES, StepFunctionsSim, type ExecutionHandle, type TaskFunction } from '../../sim/workflow-runner.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

/** Deterministic metrics: healthy, or a canary whose 5xx rate is 5 % from the 10 % stage on. */
class ModelMetrics implements MetricsPort {
  readonly bad: boolean;
  readonly canaryWeight: () => number;
  constructor(bad: boolean, canaryWeight: () => number) {
    this.bad = bad;
    this.canaryWeight = canaryWeight;
  }
  async fetchWindow(metrics: RolloutMetric[], range: MetricRange) {
    const n = Math.max(0, Math.floor((range.end.getTime() - range.start.getTime()) / 1000 / range.periodSeconds));
    const w = this.canaryWeight();
    const series = (metric: RolloutMetric, variant: 'canary' | 'baseline'): MetricData['canary'] => {
      const share = variant === 'canary' ? w / 100 : 1 - w / 100;
      if (metric.kind === 'ratio') {
        const requests = Math.round(10_000 * share);
        const rate = variant === 'canary' && this.bad && w >= 10 ? 0.05 : 0.001;
        const errors = Math.round(requests * rate);
        return { numerator: Array(n).fill(errors > 0 ? errors : null), denominator: Array(n).fill(requests) };
      }
      return { values: Array(n).fill(metric.name === 'memory' ? 40 : 0.2) };
    };
    return {
      periodSeconds: range.periodSeconds, start: range.start.toISOString(),
      metrics: Object.fromEntries(metrics.map((m) => [m.name, { canary: series(m, 'canary'), baseline: series(m, 'baseline') }])),
    };
  }
}

type FaultKind = 'throttle' | '5xx' | 'timeout-after-effect' | 'crash-after-call' | 'outage' | 'item-too-large'
  /** A person presses Stop while call k is in flight: the call still lands (Stop does not stop a running Lambda). */
  | 'stop-in-flight'
  /** As stop-in-flight, then, once the safety net (or the reconciler) has finished the rollout, the execution is redriven. */
  | 'stop-then-redrive';

/** The store's writes: DynamoDB refuses an item over 400 KB with a ValidationException (not retryable). */
const STORE_WRITES = new Set(['begin', 'update', 'fence', 'takeOver', 'acquireLock', 'releaseLock']);

interface Fault { kind: FaultKind; at: number }

/** Wraps every port so each method call is numbered, and call `fault.at` (or, for an outage, every call from it on) fails. */
function instrument(deps: Deps, fault: Fault | null, onCall: (port: string, method: string) => void, stop: () => void = () => undefined): Deps {
  let n = 0;
  let armed = true;
  const wrap = <T extends object>(port: T, name: string): T => new Proxy(port, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        n++;
        onCall(name, String(prop));
        const hit = armed && fault !== null && (fault.kind === 'outage' ? n >= fault.at : n === fault.at);
        if (!hit) return value.apply(target, args);
        switch (fault.kind) {
          case 'stop-in-flight': case 'stop-then-redrive':
            stop();
            return value.apply(target, args);
          case 'item-too-large':
            // Only a store write can be refused for its size; any other call goes through.
            if (name !== 'dynamodb' || !STORE_WRITES.has(String(prop))) return value.apply(target, args);
            throw Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException' });
          case 'throttle': throw new ThrottledError(name, new Error('Rate exceeded'));
          case '5xx': case 'outage': throw new TransientAwsError(name, new Error('InternalFailure (500)'));
          case 'timeout-after-effect': {
            // The request took effect, but the response never came back.
            await value.apply(target, args);
            throw new TransientAwsError(name, Object.assign(new Error('socket timeout'), { name: 'TimeoutError' }));
          }
          case 'crash-after-call': {
            // The Lambda process died right after the call returned.
            await value.apply(target, args);
            throw Object.assign(new Error('RequestId: x Error: Runtime exited with error: signal: killed'), { name: 'Runtime.ExitError' });
          }
        }
      };
    },
  });
  const wrapped = {
    ...deps,
    traffic: wrap(deps.traffic, 'route53'), metrics: wrap(deps.metrics, 'cloudwatch'),
    rollouts: wrap(deps.rollouts, 'dynamodb'), incidents: wrap(deps.incidents, 'incidents'),
  };
  return Object.assign(wrapped, { disarm: () => { armed = false; } });
}

const rawConfig = albEcsConfig({ stages: [10, 50, 100], bakeSeconds: 300 });
const config = parseRolloutConfig(rawConfig);
const key = targetKey(config.target);

interface Outcome {
  calls: string[];
  weights: { canary: number; baseline: number };
  status: string | undefined;
  lockHolder: string | null;
  incidents: number;
  distinctIncidents: number;
  reasons: string[];
  retries: number;
  safetyNet?: string;
  /** The most history events any execution of the run had (AWS fails one at 25,000). */
  maxHistoryEvents: number;
}

/** How a failed execution is finished: the safety net on its EventBridge event, or the reconciler when that event was lost. */
type Finisher = 'safety-net' | 'reconciler';

async function rollout(bad: boolean, fault: Fault | null, seed: number, finisher: Finisher = 'safety-net'): Promise<Outcome> {
  const clock = new SimClock(new Date('2026-05-04T08:00:00Z'));
  const traffic = new MemoryTraffic({ clock, rng: mulberry32(seed), syncDelaySeconds: [5, 15] });
  const target = route53TargetOf(config);
  traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60, value: '10.0.0.1' });
  traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60, value: '10.0.0.2' });
  const readWeights = async () => traffic.weights(target)!;
  let canaryWeight = 0;
  const rollouts = new MemoryRollouts();
  const incidents = new MemoryIncidents();
  const name = `fi-${seed}`;
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`;
  let execution: 'RUNNING' | 'FAILED' | 'ABORTED' = 'RUNNING';
  const base: Deps = {
    traffic, metrics: new ModelMetrics(bad, () => canaryWeight), rollouts, incidents, judge: defaultJudge,
    clock, log: new MemoryLog(), allowedHostedZoneIds: [],
    executions: { describe: async () => ({ status: execution, stopDate: clock.now().toISOString() }) },
  };
  const calls: string[] = [];
  // The instrumented ports press Stop on the execution that is started below.
  const running: { handle?: ExecutionHandle } = {};
  const deps = instrument(base, fault, (port, method) => calls.push(`${port}.${method}`), () => running.handle?.stop({ error: 'Stopped', cause: 'a person pressed Stop' })) as Deps & { disarm(): void };
  const bind = (step: (input: never, deps: Deps) => Promise<unknown>): TaskFunction => async (input: never) => {
    const until = (input as { wait?: { until?: string } }).wait?.until;
    if (until) clock.advanceTo(until);
    canaryWeight = (await readWeights()).canary;
    const out = await step(input, deps);
    clock.advance(1);
    return out;
  };
  const sim = new StepFunctionsSim({
    seed, stateMachines: ROLLOUT_STATE_MACHINES,
    tasks: {
      ...Object.fromEntries(Object.entries(steps.STEPS_BY_FUNCTION).map(([fn, step]) => [fn, bind(step as never)])),
      // The runner's context has the wall clock's start time: the simulated one replaces it.
      PreflightFunctionArn: bind(((input: steps.PreflightInput, d: Deps) =>
        steps.preflight({ ...input, execution: { ...input.execution, startTime: clock.now().toISOString() } }, d)) as never),
    },
  });
  const handle = sim.startExecution({ file: ROLLOUT_ASL, stateMachineName: 'CanaryRollout', name, input: rawConfig });
  running.handle = handle;
  await sim.run();
  const result = handle.result();
  let safety: string | undefined;
  if (result.status !== 'SUCCEEDED') {
    // The EventBridge rule runs the safety net on every failed or stopped execution, or, its event
    // lost, the reconciler finds the rollout at its next run; the outage is over by then.
    deps.disarm();
    execution = result.status === 'ABORTED' ? 'ABORTED' : 'FAILED';
    clock.advance(300);
    if (finisher === 'safety-net') {
      const net = await safetyNet({
        executionArn, name, status: result.status, error: result.error, cause: result.cause, input: JSON.stringify(rawConfig),
        stopDate: clock.now().getTime(),
      }, base);
      safety = net.action;
    } else {
      const report = await reconcile(base);
      expect(report.failed).toEqual([]);
      safety = report.finished[0]?.action ?? 'NOTHING_TO_DO';
    }
    if (fault?.kind === 'stop-then-redrive') {
      // A person redrives the stopped execution: it resumes where it stopped, is fenced out, and
      // moves nothing.
      const before = { weights: await readWeights(), changes: traffic.changes().length };
      clock.advance(1800);
      handle.redrive();
      await sim.run();
      expect(await readWeights(), 'a redrive moved traffic').toEqual(before.weights);
      expect(traffic.changes().length, 'a redrive changed a record').toBe(before.changes);
      expect(handle.result().status).toBe('FAILED');
    }
  }
  const record = await rollouts.get(name);
  return {
    calls, weights: await readWeights(), status: record?.status, lockHolder: (await rollouts.lockHolder(key))?.owner ?? null,
    incidents: incidents.opened.length, distinctIncidents: new Set(incidents.opened.map((o) => o.incident.dedupKey)).size,
    reasons: record?.decision?.reasons ?? [], retries: allOf(result).reduce((n, r) => n + r.retries, 0), safetyNet: safety,
    maxHistoryEvents: Math.max(...allOf(handle.result()).map((r) => r.aws.historyEvents)),
  };
}

function assertSafe(o: Outcome, bad: boolean, label: string) {
  const ctx = `${label}: ${JSON.stringify({ w: o.weights, s: o.status, lock: o.lockHolder, inc: o.incidents, net: o.safetyNet, why: o.reasons[0] })}`;
  const promoted = o.weights.canary === 100 && o.weights.baseline === 0;
  const restored = o.weights.canary === 0 && o.weights.baseline === 100;
  expect(promoted || restored, ctx).toBe(true);
  expect(o.lockHolder, ctx).toBeNull();
  // No fault makes the workflow loop: every execution stays far from Step Functions' 25,000 events.
  expect(o.maxHistoryEvents, ctx).toBeLessThan(12_500);
  if (o.status === undefined) {
    // Refused before the record was written: nothing may have moved.
    expect(restored, ctx).toBe(true);
    expect(o.incidents, ctx).toBe(0);
    return 'refused';
  }
  expect(['PROMOTED', 'ROLLED_BACK'], ctx).toContain(o.status);
  expect(o.reasons.length, ctx).toBeGreaterThan(0);
  if (o.status === 'PROMOTED') {
    expect(bad, ctx).toBe(false); // a bad canary is never promoted, whatever fails
    expect(promoted, ctx).toBe(true);
    expect(o.incidents, ctx).toBe(0);
    return 'promoted';
  }
  expect(restored, ctx).toBe(true);
  expect(o.distinctIncidents, ctx).toBe(1);
  expect(o.incidents, ctx).toBeLessThanOrEqual(2); // a crash between delivery and its record re-sends the same incident
  return 'rolled back';
}

describe('fault injection on every external call', () => {
  it.each([
    ['healthy', false],
    ['bad (5xx at the 10 % stage)', true],
  ])('%s canary: every fault at every call ends at 100/0 or 0/100, lock released, one incident per rollback', async (_label, bad) => {
    // Prepare
    const clean = await rollout(bad, null, 1);
    expect(clean.status).toBe(bad ? 'ROLLED_BACK' : 'PROMOTED');
    const n = clean.calls.length;
    const kinds: FaultKind[] = ['throttle', '5xx', 'timeout-after-effect', 'crash-after-call', 'outage', 'item-too-large', 'stop-in-flight', 'stop-then-redrive'];
    const counts: Record<string, number> = {};
    let retries = 0;
    const retriesByKind: Record<string, number> = {};
    let duplicates = 0;

    // Act
    for (const kind of kinds) {
      for (let k = 1; k <= n; k++) {
        // Every other failed run loses its EventBridge event: the reconciler finishes it instead.
        const finisher: Finisher = k % 2 === 0 ? 'reconciler' : 'safety-net';
        const o = await rollout(bad, { kind, at: k }, k, finisher);
        const label = `${kind} at call ${k} (${clean.calls[k - 1]}), finished by the ${finisher}`;
        const outcome = assertSafe(o, bad, label);
        // A single transient fault is absorbed by the retries: the verdict stands. A refused write
        // or an outage may end the rollout early, but always safely (asserted above).
        if (['throttle', '5xx', 'timeout-after-effect', 'crash-after-call'].includes(kind)) expect(o.status, label).toBe(clean.status);
        counts[`${kind}: ${outcome}`] = (counts[`${kind}: ${outcome}`] ?? 0) + 1;
        retries += o.retries;
        retriesByKind[kind] = (retriesByKind[kind] ?? 0) + o.retries;
        duplicates += o.incidents - o.distinctIncidents;
      }
    }

    // Assess (and report)
    console.log(`fault injection, ${bad ? 'bad' : 'healthy'} canary: N = ${n} calls, ${kinds.length * n} faulty runs, ${retries} workflow retries (${Object.entries(retriesByKind).map(([k, v]) => `${k} ${v}`).join(', ')}), ${duplicates} re-sent incident(s)`);
    for (const [outcome, count] of Object.entries(counts).sort()) console.log(`  ${outcome}: ${count}`);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(kinds.length * n);
  }, 240_000);
});
