/**
 * A whole rollout on this machine, with no AWS account: the real state machine
 * (`statemachines/rollout.asl.json`, run by aws-local-stepfunctions) calls the real steps of
 * `functions/core/rollout-steps.ts`, bound to in-memory Route 53 records, lock, rollout store
 * and incident sink, and to a service model that answers the config's CloudWatch queries.
 *
 * Time is simulated: Wait states take no real time; before each task the clock jumps to the
 * `wait.until` the workflow was waiting for, and each task takes one simulated second. A run
 * of an hour of rollout takes well under a second, and a seed always gives the same run.
 */
import { parseRolloutConfig, targetKey, type RolloutConfig } from '../functions/core/config.ts';
import type { Incident } from '../functions/core/incident.ts';
import type { Judge } from '../functions/core/judge.ts';
import { defaultJudge } from '../functions/core/default-judge.ts';
import type { Deps, MetricsPort, RolloutStore, StoredCheck } from '../functions/core/ports.ts';
import type { Decision, RolloutEvent, RolloutHistory, RolloutRecord } from '../functions/core/rollout-record.ts';
import * as steps from '../functions/core/rollout-steps.ts';
import type { PreflightInput, RolloutState } from '../functions/core/rollout-steps.ts';
import { DEFAULT_SIM_START, SimClock } from './clock.ts';
import {
  MemoryEvidence, MemoryIncidents, MemoryLog, MemoryRollouts, MemoryTraffic, type LogEntry, type WeightChange,
} from './memory-adapters.ts';
import { rngFor } from './prng.ts';
import { findScenario, type Scenario } from './scenarios.ts';
import { checkModelCoverage, ServiceModel } from './service-model.ts';
import { dynamoItemSize, ROUTE53_ACCOUNT_BUCKET, TokenBucket } from './aws-limits.ts';
import { loadDefinition, runWorkflow, SEGMENT_ASL, type ExecutionResult, type TaskFunction } from './workflow-runner.ts';

/** TTL of the simulated weighted records. */
export const SIM_TTL_SECONDS = 60;
/** Simulated time each task (Lambda invocation) takes. */
export const SIM_TASK_SECONDS = 1;
/** A manual gate is approved (by 'sim-approver') this long after it asked. */
export const SIM_APPROVAL_SECONDS = 120;

type Step = (input: never, deps: Deps) => Promise<unknown>;

/** The step a Task's substitution names: `CheckSyncFunctionArn` → `checkSync`. */
export function stepFor(substitution: string): Step | undefined {
  return (steps.STEPS_BY_FUNCTION as Record<string, Step | undefined>)[substitution];
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
  /** PROMOTED or ROLLED_BACK; null when the workflow ended without a decision (refused at preflight). */
  outcome: 'PROMOTED' | 'ROLLED_BACK' | null;
  decision: Decision | null;
  record: RolloutHistory | null;
  incidents: Incident[];
  weightChanges: WeightChange[];
  finalWeights: { baseline: number; canary: number } | null;
  /** Whoever still holds the traffic target's lock at the end (null: released). */
  lockHolder: string | null;
  /** The evidence store's checks (raw datapoints and judgements), oldest first: what `canary report` draws. */
  checks: StoredCheck[];
}

/** A deterministic rollout id: the scenario and the seed. */
export function simulationRolloutId(scenario: string, seed: number): string {
  return `sim-${scenario}-${seed}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}

export async function simulate(options: SimulateOptions): Promise<SimulationResult> {
  const scenario = typeof options.scenario === 'string' ? findScenario(options.scenario) : options.scenario;
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, not ${seed}`);
  // Validated up front (the Preflight task validates it again, as in AWS) to set up the records.
  const config = parseRolloutConfig(options.config);
  if (!options.metrics) checkModelCoverage(config.metrics);

  const start = options.start ?? DEFAULT_SIM_START;
  const clock = new SimClock(start);
  // Route 53's account-wide request quota, as a token bucket on the simulated clock.
  const route53Quota = new TokenBucket({ ...ROUTE53_ACCOUNT_BUCKET, now: () => clock.now() });
  const traffic = new MemoryTraffic({ clock, rng: rngFor(seed, 'route53'), quota: { take: () => route53Quota.tryTake() } });
  const t = config.target;
  traffic.putRecord(t, { setIdentifier: t.baselineSetIdentifier, weight: 100, ttl: SIM_TTL_SECONDS, value: '10.0.0.1' });
  traffic.putRecord(t, { setIdentifier: t.canarySetIdentifier, weight: 0, ttl: SIM_TTL_SECONDS, value: '10.0.0.2' });
  const model = new ServiceModel({ profile: scenario.profile, traffic, target: t, clock, seed, startedAt: start, ttlSeconds: SIM_TTL_SECONDS });
  const memoryRollouts = new MemoryRollouts({ itemSize: (item) => dynamoItemSize(item as Record<string, unknown>) });
  const rollouts: RolloutStore = options.rollouts ?? memoryRollouts;
  const incidents = new MemoryIncidents();
  const log = new MemoryLog(options.onLog);
  const evidence = new MemoryEvidence();
  const deps: Deps = {
    traffic, metrics: options.metrics ?? model, rollouts, incidents, log, clock, evidence,
    judge: options.judge ?? defaultJudge,
    allowedHostedZoneIds: [],
  };
  const progress = options.onProgress;
  if (progress) memoryRollouts.subscribe((_id, events, record) => progress({ kind: 'events', events, record }));

  const rolloutId = simulationRolloutId(scenario.name, seed);
  const approveAfter = options.approveAfterSeconds ?? SIM_APPROVAL_SECONDS;
  /** A person at a manual gate: approves it some simulated time after it was requested. */
  const approver = async () => {
    const record = await rollouts.get(rolloutId);
    const pending = record?.pendingApproval;
    if (!pending || record?.approval?.stageIndex === pending.stageIndex) return;
    if (clock.now().getTime() < Date.parse(pending.requestedAt) + approveAfter * 1000) return;
    await rollouts.answerApproval(rolloutId, {
      stageIndex: pending.stageIndex, approved: true, by: 'sim-approver', reason: 'simulated approval', at: clock.now().toISOString(),
    });
  };

  /** A task: the runner moved the clock through the Waits; a person may have answered a gate meanwhile. */
  const task = <I>(step: (input: I, deps: Deps) => Promise<unknown>): TaskFunction => (async (input: I) => {
    await approver();
    return step(input, deps);
  }) as TaskFunction;

  // Every Task of the state machine runs the step its substitution names: ${CheckSyncFunctionArn} → checkSync.
  const tasks: Record<string, TaskFunction> = {};
  for (const substitution of [...loadDefinition().functions.keys(), ...loadDefinition(SEGMENT_ASL).functions.keys()]) {
    const step = stepFor(substitution);
    if (!step) throw new Error(`the state machine names ${substitution}, and rollout-steps.ts exports no step for it`);
    tasks[substitution] = task(step);
  }

  const run = await runWorkflow({
    input: options.config,
    executionName: rolloutId,
    tasks,
    clock,
    seed,
    taskSeconds: SIM_TASK_SECONDS,
    onState: progress ? (state, type) => progress({ kind: 'state', state, type, at: clock.now().toISOString() }) : undefined,
  });

  const record = await rollouts.history(rolloutId);
  const output = run.output as RolloutState | undefined;
  const recorded = record?.status === 'PROMOTED' || record?.status === 'ROLLED_BACK' ? record.status : null;
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
      executions: [run, ...run.children].map((e) => ({ name: e.name, status: e.status, ...e.aws })),
      maxRecordItemBytes: memoryRollouts.maxItemBytes,
    },
    outcome,
    decision: record?.decision ?? output?.decision ?? null,
    record,
    incidents: incidents.opened.map((o) => o.incident),
    weightChanges: traffic.changes(t),
    finalWeights: traffic.weights(t),
    lockHolder: (await rollouts.lockHolder(targetKey(t)))?.owner ?? null,
    checks: (await evidence.getRollout(rolloutId)).checks,
  };
}

const childStates = (run: ExecutionResult): number => run.children.reduce((n, c) => n + c.states.length + childStates(c), 0);
const childRetries = (run: ExecutionResult): number => run.children.reduce((n, c) => n + c.retries + childRetries(c), 0);
