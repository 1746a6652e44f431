/**
 * Wall time of many executions in one simulated world (sim/sfn-sim.ts): N executions started
 * together on one clock, about 100 tasks each, every Wait, retry pause and task duration in
 * simulated time, with the AWS quotas counted.
 *
 *   node bench/sfn-sim-bench.ts [--n 1000] [--checks 22]
 *
 * Workloads:
 * - rollout: the real statemachines/rollout.asl.json with stub steps (4 stages, `--checks`
 *   analyses per stage: 4 + 4 × (2 + checks) tasks, 100 with the default), each task 1 s;
 * - check-loop: test/fixtures/asl/check-loop.asl.json, 100 checks a minute apart through an
 *   account-wide 50 TPS token bucket (GetMetricData's), throttled calls retried with full jitter.
 */
import { SimClock } from '../sim/clock.ts';
import { GET_METRIC_DATA_BUCKET, TokenBucket } from '../sim/aws-limits.ts';
import { rngFor } from '../sim/prng.ts';
import { StepFunctionsSim, type ExecutionResult, type SimTaskFunction } from '../sim/sfn-sim.ts';
import { loadDefinition, ROLLOUT_ASL } from '../sim/workflow-runner.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 1000);
const CHECKS = arg('checks', 22);
const START = new Date('2026-01-01T00:00:00Z');

interface StubState { stage: number; checksLeft: number; next?: string; outcome?: string; wait?: { until: string } }

function rolloutSim() {
  const clock = new SimClock(START);
  const later = (seconds: number) => ({ until: new Date(clock.now().getTime() + seconds * 1000).toISOString() });
  const tasks: Record<string, SimTaskFunction> = {};
  for (const fn of loadDefinition().functions.keys()) tasks[fn] = async () => ({});
  tasks.PreflightFunctionArn = async (input) => ({ config: (input as { config: unknown }).config, stage: 0, checksLeft: CHECKS });
  tasks.ShiftTrafficFunctionArn = async (input) => ({ ...(input as StubState), next: 'WAIT_SYNC', wait: later(60) });
  tasks.CheckSyncFunctionArn = async (input) => {
    const s = input as StubState;
    return s.stage === 4 ? { ...s, next: 'CONCLUDE' } : { ...s, next: 'BAKE', wait: later(60) };
  };
  tasks.AnalyzeFunctionArn = async (input) => {
    const s = input as StubState;
    if (s.checksLeft > 1) return { ...s, checksLeft: s.checksLeft - 1, next: 'ANALYZE', wait: later(60) };
    return { ...s, stage: s.stage + 1, checksLeft: CHECKS, next: 'SHIFT' };
  };
  tasks.ConcludeFunctionArn = async (input) => ({ ...(input as StubState), outcome: 'PROMOTED' });
  const sim = new StepFunctionsSim({ clock, tasks, taskSeconds: 1 });
  for (let k = 0; k < N; k++) {
    sim.startExecution({ file: ROLLOUT_ASL, name: `rollout-${k}`, input: { stages: [1, 10, 25, 50, 100], k } });
  }
  return sim;
}

function checkLoopSim() {
  const clock = new SimClock(START);
  const bucket = new TokenBucket({ ...GET_METRIC_DATA_BUCKET, now: () => clock.now() });
  const check: SimTaskFunction = async (input, ctx) => {
    const state = input as { id: string; done: number };
    await ctx.sleep(1 + 2 * rngFor(1, state.id, state.done, ctx.retryCount)());
    if (!bucket.tryTake()) throw Object.assign(new Error('Rate exceeded'), { name: 'Throttled' });
    return { ...state, done: state.done + 1 };
  };
  const sim = new StepFunctionsSim({ clock, tasks: { CheckFunctionArn: check } });
  const file = new URL('../test/fixtures/asl/check-loop.asl.json', import.meta.url);
  for (let k = 0; k < N; k++) {
    const id = `loop-${k}`;
    sim.startExecution({ file, stateMachineName: 'CheckLoop', name: id, input: { id, interval: 60, checks: 100, done: 0 } });
  }
  return { sim, bucket };
}

function report(label: string, sim: StepFunctionsSim, wallSeconds: number, cpuSeconds: number, extra = '') {
  const results: ExecutionResult[] = sim.results();
  const statuses = new Map<string, number>();
  for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  const states = results.reduce((sum, r) => sum + r.states.length, 0);
  const history = results.map((r) => r.aws.historyEvents).sort((a, b) => a - b);
  const payload = Math.max(...results.map((r) => r.aws.maxStatePayloadBytes));
  const span = (sim.clock.now().getTime() - START.getTime()) / 3600_000;
  console.log(`${label}: ${N} executions, ${[...statuses].map(([s, n]) => `${n} ${s}`).join(', ')}`);
  console.log(`  states entered ${states.toLocaleString('en')}, retries ${results.reduce((s, r) => s + r.retries, 0).toLocaleString('en')}, scheduler events ${sim.scheduler.stats.events.toLocaleString('en')}`);
  console.log(`  history events per execution: median ${history[Math.floor(history.length / 2)]}, max ${history.at(-1)}; largest payload ${payload} bytes${extra}`);
  console.log(`  simulated ${span.toFixed(1)} h in ${wallSeconds.toFixed(2)} s of wall time, ${cpuSeconds.toFixed(2)} s of CPU (${Math.round(states / wallSeconds).toLocaleString('en')} states/s of wall time)\n`);
}

console.log(`sfn-sim benchmark, Node ${process.version}, N = ${N}\n`);
{
  const sim = rolloutSim();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await sim.run();
  const cpu = process.cpuUsage(c0);
  const tasks = sim.results().reduce((sum, r) => sum + r.states.filter((s) => /^(Preflight|ShiftTraffic|CheckSync|Analyze|Conclude)$/.test(s)).length, 0);
  report(`rollout.asl.json (${tasks / N} tasks each)`, sim, (performance.now() - t0) / 1000, (cpu.user + cpu.system) / 1e6);
}
{
  const { sim, bucket } = checkLoopSim();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await sim.run();
  const cpu = process.cpuUsage(c0);
  report('check-loop (100 checks each, 50 TPS bucket)', sim, (performance.now() - t0) / 1000, (cpu.user + cpu.system) / 1e6, `; throttled calls ${bucket.throttled.toLocaleString('en')}`);
}
