/**
 * A whole rollout on this machine, with no AWS account: the real state machines
 * (`statemachines/rollout.asl.json` and its segments, run by sim/sfn-sim.ts with Step Functions'
 * quotas) call the real steps of `functions/core/rollout-steps.ts`, bound to in-memory Route 53
 * records (with the account's request quota), lock, rollout store and incident sink, and to a
 * service model that answers the config's CloudWatch queries; the safety net runs on the
 * execution's end and the reconciler on its schedule (sim/world.ts). A scenario may also act on
 * the world while the rollout runs (sim/chaos.ts: a person moving the weights, a Stop, a redrive).
 *
 * Time is simulated: Waits, retry pauses and tasks move one simulated clock. A run of an hour of
 * rollout takes well under a second, and a seed always gives the same run.
 */
import { isRoute53Target, parseRolloutConfig, targetKey, type RolloutConfig, type Target } from '../functions/core/config.ts';
import { trafficCountMetrics } from '../functions/core/traffic-checks.ts';
import { routeVerification, type HookResult } from '../functions/core/verification.ts';
import type { Incident } from '../functions/core/incident.ts';
import type { Judge } from '../functions/core/judge.ts';
import type { Deps, MetricsPort, RolloutStore, StoredCheck } from '../functions/core/ports.ts';
import type { Decision, RolloutEvent, RolloutHistory, RolloutRecord } from '../functions/core/rollout-record.ts';
import * as steps from '../functions/core/rollout-steps.ts';
import type { RolloutState } from '../functions/core/rollout-steps.ts';
import { DEFAULT_SIM_START, SimClock } from './clock.ts';
import type { LogEntry, WeightChange } from './memory-adapters.ts';
import { MemoryAlarmVerifier, MemoryAlarms, MemoryHooks, MemoryVerifier } from './memory-verifiers.ts';
import { findScenario, withScenarioChecks, type Scenario } from './scenarios.ts';
import { finalWeightsOf, putTarget, shareOf, SIM_RECORD_TTL_SECONDS, weightChangesOf } from './sim-routers.ts';
import { checkModelCoverage, ServiceModel } from './service-model.ts';
import type { ExecutionHandle, ExecutionResult } from './workflow-runner.ts';
import { SIM_TASK_SECONDS, SimWorld, type RolloutSetup, type TaskRun } from './world.ts';

/** TTL of the simulated weighted records. */
export const SIM_TTL_SECONDS = SIM_RECORD_TTL_SECONDS;
export { SIM_TASK_SECONDS };
/** A manual gate is approved (by 'sim-approver') this long after it asked. */
export const SIM_APPROVAL_SECONDS = 120;

type Step = (input: never, deps: Deps) => Promise<unknown>;

/** The step a Task's substitution names: `CheckSyncFunctionArn` → `checkSync`. */
export function stepFor(substitution: string): Step | undefined {
  return steps.STEPS_BY_FUNCTION[substitution] as Step | undefined;
}

export type SimProgress =
  /** The rollout store got events (the same ones `canary watch` shows for a deployed rollout). */
  | { kind: 'events'; events: RolloutEvent[]; record: RolloutRecord }
  /** The workflow entered a state. */
  | { kind: 'state'; state: string; type: string; at: string };

export interface SimulateOptions {
  /** The rollout config as a user writes it (the execution input). */
  config: unknown;
  scenario: string | Scenario;
  seed?: number;
  /** Simulated start (default 2026-01-01T00:00:00Z). */
  start?: Date;
  judge?: Judge;
  onProgress?: (progress: SimProgress) => void;
  /** Every log line of the steps (for --debug). */
  onLog?: (entry: LogEntry) => void;
  /** Metrics to judge instead of the scenario's service model (`canary backtest`: a recording). */
  metrics?: MetricsPort;
  /** Simulated seconds before a manual gate is approved (default 120). */
  approveAfterSeconds?: number;
  /**
   * Another rollout store (e.g. the DynamoDB adapter on moto_server), in place of the in-memory
   * one. Live progress (`onProgress` events) needs the in-memory store.
   */
  rollouts?: RolloutStore;
  /** Route 53's account-wide request bucket (default 10 requests/s, burst 50). */
  route53?: { ratePerSecond: number; burst: number };
  /** Time each Task's step (wall ms): the result's `usage.taskRuns`. */
  timeTasks?: boolean;
  /** A person at the CLI (tests): see RolloutSetup.operator. Without one, nobody answers a halt: the run ends HALTED. */
  operator?: RolloutSetup['operator'];
}

export interface SimulationResult {
  scenario: string;
  seed: number;
  rolloutId: string;
  /** The resolved config the steps ran with. */
  config: RolloutConfig;
  startedAt: string;
  endedAt: string;
  simulatedSeconds: number;
  /** The workflow's end: SUCCEEDED (promoted) or FAILED (rolled back, or refused); TIMED_OUT or ABORTED as AWS would end it. */
  workflow: { status: ExecutionResult['status']; error?: string; cause?: string; states: number; retries: number };
  /**
   * What AWS would have counted, per execution (the rollout's and each segment): history events
   * (25,000 at most), the largest state payload (262,144 bytes at most); and the largest DynamoDB
   * item the rollout wrote (409,600 bytes at most). Over a limit, the run already failed as AWS fails it.
   */
  aws: { executions: { name: string; status: string; historyEvents: number; maxStatePayloadBytes: number }[]; maxRecordItemBytes: number };
  /**
   * PROMOTED or ROLLED_BACK; HALTED when the rollout halted (onFailure: halt) and nobody answered:
   * the run ends there, its execution still running; null when the workflow ended without a
   * decision (refused at preflight).
   */
  outcome: 'PROMOTED' | 'ROLLED_BACK' | 'HALTED' | null;
  decision: Decision | null;
  /** The halt the run ended at (outcome HALTED): the record's. */
  halted: RolloutRecord['halted'] | null;
  record: RolloutHistory | null;
  incidents: Incident[];
  weightChanges: WeightChange[];
  finalWeights: { baseline: number; canary: number } | null;
  /** The records' TTL at the end (a rollback puts back the one preflight read). */
  finalTtlSeconds: number;
  /** Whoever still holds the traffic target's lock at the end (null: released). */
  lockHolder: string | null;
  /** The evidence store's checks (raw datapoints and judgements), oldest first: what `canary report` draws. */
  checks: StoredCheck[];
  /** What the safety net did on the execution's end (each invocation), and what the reconciler finished. */
  safetyNet: { at: string; action: string; detail: string; reapplied: boolean }[];
  reconciler: { at: string; action: string; detail: string }[];
  /** Route 53 requests the rollout made, and how many the account's quota refused. */
  route53: { calls: number; throttled: number };
  /** The action hooks the rollout started (afterPromotion, afterRollback), oldest first. */
  hooks: HookResult[];
  /**
   * What the rollout used, as AWS bills it: state transitions (states entered, every execution),
   * Task invocations (Lambda invocations), GetMetricData fetches, metrics requested and datapoints
   * returned; each Task's wall time when `timeTasks` was set.
   */
  usage: {
    stateTransitions: number;
    taskInvocations: number;
    metrics: { fetches: number; metricsRequested: number; datapoints: number };
    taskRuns: TaskRun[];
    fetchLog: SimWorld['fetchLog'];
  };
}

/** A deterministic rollout id: the scenario and the seed. */
export function simulationRolloutId(scenario: string, seed: number): string {
  return `sim-${scenario}-${seed}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}

export async function simulate(options: SimulateOptions): Promise<SimulationResult> {
  const scenario = typeof options.scenario === 'string' ? findScenario(options.scenario) : options.scenario;
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, not ${seed}`);
  // The scenario's verification checks join the config's (the data-mismatch scenario's
  // reconciliation check, the alarm scenario's alarm), as if the user had written them.
  const input = withScenarioChecks(scenario.adjustConfig ? scenario.adjustConfig(options.config) : options.config, scenario);
  // Validated up front (the Preflight task validates it again, as in AWS) to set up the target.
  const config = parseRolloutConfig(input);
  if (!options.metrics) checkModelCoverage([...config.metrics, ...trafficCountMetrics(config)]);
  if (scenario.chaos && !isRoute53Target(config.target)) {
    throw new RangeError(`scenario '${scenario.name}' acts on Route 53 records: run it with a Route 53 target (this config's is ${config.target.type})`);
  }

  const start = options.start ?? DEFAULT_SIM_START;
  const clock = new SimClock(start);
  const rolloutId = simulationRolloutId(scenario.name, seed);
  const progress = options.onProgress;
  const parent = { arn: '' };
  const world = new SimWorld({
    clock, seed, judge: options.judge, onLog: options.onLog, route53: options.route53, rollouts: options.rollouts, timeTasks: options.timeTasks,
    dropStatusEvent: scenario.dropStatusEvents ? () => true : undefined,
    onState: (state, type, executionArn) => {
      progress?.({ kind: 'state', state, type, at: clock.now().toISOString() });
      scenario.chaos?.onState?.(chaosWorld, state, executionArn === parent.arn);
      // Halted, and nobody to answer: the run ends here, the weights frozen and the execution waiting.
      if (state === 'WaitWhileHalted' && !options.operator) world.stop();
    },
  });
  // The target of the config's kind (Route 53 records, an ALB rule, a Lambda alias, an AppConfig
  // flag) at 100 % baseline; the service model follows the share its router serves.
  const t = config.target;
  putTarget(world, t);
  const share = shareOf(world, t);
  const model = new ServiceModel({
    profile: scenario.profile, clock, seed, startedAt: start, ttlSeconds: SIM_TTL_SECONDS,
    ...(isRoute53Target(t) ? { traffic: world.traffic, target: t } : {}), ...(share ? { share } : {}),
  });
  // Checks answer as the scenario says (PASS by default); alarms the config names are OK unless the scenario sets them.
  const alarms = new MemoryAlarms();
  for (const name of alarmNames(config)) alarms.set(name, scenario.verification?.alarms?.[name] ?? 'OK');
  const verifier = new MemoryVerifier({ clock, answer: scenario.verification?.answer ?? (() => ({ answer: { verdict: 'PASS', reason: 'the simulated check passes' } })) });
  const verification = routeVerification({ lambda: verifier, http: verifier, alarm: new MemoryAlarmVerifier({ clock, alarms }) }, clock);
  const hooks = new MemoryHooks({ clock });
  if (progress) world.memoryRollouts.subscribe((id, events, record) => id === rolloutId && progress({ kind: 'events', events, record }));

  const approveAfter = scenario.approveAfterSeconds === null ? undefined : (options.approveAfterSeconds ?? scenario.approveAfterSeconds ?? SIM_APPROVAL_SECONDS);
  const handle = world.start({
    rolloutId, input, metrics: options.metrics ?? model, approveAfterSeconds: approveAfter, routerLatencySeconds: scenario.routerLatencySeconds,
    verification, hooks, ...(options.operator ? { operator: options.operator } : {}),
  });
  parent.arn = handle.executionArn;
  const chaosWorld: ChaosWorld = { world, rolloutId, config: config as ChaosWorld['config'], handle, start };
  scenario.chaos?.start?.(chaosWorld);
  await world.run();

  const run = handle.result();
  const rollouts = world.rollouts;
  const record = await rollouts.history(rolloutId);
  const output = run.output as RolloutState | undefined;
  const recorded = record?.status === 'PROMOTED' || record?.status === 'ROLLED_BACK' || record?.status === 'HALTED' ? record.status : null;
  const outcome = recorded ?? (output?.outcome === 'PROMOTED' || output?.outcome === 'ROLLED_BACK' ? output.outcome : null);
  const end = clock.now();
  return {
    scenario: scenario.name,
    seed,
    rolloutId,
    config,
    startedAt: start.toISOString(),
    endedAt: end.toISOString(),
    simulatedSeconds: (end.getTime() - start.getTime()) / 1000,
    workflow: { status: run.status, error: run.error, cause: run.cause, states: run.states.length + childStates(run), retries: run.retries + childRetries(run) },
    aws: {
      executions: flatten(run).map((e) => ({ name: e.name, status: e.status, ...e.aws })),
      maxRecordItemBytes: world.memoryRollouts.maxItemBytes,
    },
    outcome,
    decision: record?.status === 'HALTED' ? null : record?.decision ?? output?.decision ?? null,
    halted: record?.status === 'HALTED' ? record.halted ?? null : null,
    record,
    incidents: world.incidents.opened.map((o) => o.incident),
    weightChanges: weightChangesOf(world, t),
    finalWeights: await finalWeightsOf(world, t),
    finalTtlSeconds: isRoute53Target(t) ? world.traffic.ttl(t) : 0,
    lockHolder: (await rollouts.lockHolder(targetKey(t)))?.owner ?? null,
    checks: (await world.evidence.getRollout(rolloutId)).checks,
    safetyNet: world.safetyNetRuns.map((r) => ({ at: r.at, action: r.result?.action ?? 'FAILED', detail: r.result?.detail ?? r.error ?? '', reapplied: r.result?.reapplied ?? false })),
    reconciler: world.reconcilerRuns.flatMap((r) => r.finished.map((f) => ({ at: r.at, action: f.action, detail: f.detail }))),
    route53: { calls: world.traffic.calls.total, throttled: world.traffic.calls.throttled },
    hooks: hooks.started().map((h) => h.result),
    usage: {
      stateTransitions: run.states.length + childStates(run),
      taskInvocations: world.taskUsage.invocations,
      metrics: { ...world.metricsUsage },
      taskRuns: world.taskUsage.runs,
      fetchLog: world.fetchLog,
    },
  };
}

/** Every alarm the config's checks and gates name. */
function alarmNames(config: RolloutConfig): string[] {
  const checks = [...config.verification, ...config.hooks.preRollout, ...config.hooks.beforeShift];
  return [...new Set(checks.flatMap((c) => (c.type === 'alarm' ? c.alarms : [])))];
}

/** What a scenario that acts on the world (sim/chaos.ts) gets to act with. */
export interface ChaosWorld {
  world: SimWorld;
  rolloutId: string;
  /** Chaos scenarios act on Route 53 records: their rollouts' targets are Route 53's. */
  config: RolloutConfig & { target: Target };
  /** The rollout's execution (stop it, redrive it). */
  handle: ExecutionHandle;
  start: Date;
}

const flatten = (run: ExecutionResult): ExecutionResult[] => [run, ...run.children.flatMap(flatten)];
const childStates = (run: ExecutionResult): number => run.children.reduce((n, c) => n + c.states.length + childStates(c), 0);
const childRetries = (run: ExecutionResult): number => run.children.reduce((n, c) => n + c.retries + childRetries(c), 0);
