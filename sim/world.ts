/**
 * One simulated AWS account for one rollout or a fleet of them: the real state machines (the
 * rollout and its segments, on sim/sfn-sim.ts with Step Functions' quotas and semantics), the real
 * steps, and shared in-memory Route 53 (an account-wide request bucket, 10 requests/s with a
 * burst), CloudWatch GetMetricData (50 requests/s), DynamoDB (400 KB items), incident targets and
 * evidence store; the safety net on the executions' status events (delivered best effort: a
 * scenario may lose some) and the reconciler on its schedule. Everything runs on one simulated
 * clock, deterministically for a seed.
 *
 * Each rollout brings its own metrics (a service model or a recording); the steps of every
 * execution find their rollout's ports by the rollout id the state carries.
 */
import { type RolloutConfig } from '../functions/core/config.ts';
import { defaultJudge } from '../functions/core/default-judge.ts';
import { ThrottledError } from '../functions/core/errors.ts';
import type { Judge, MetricData, Series } from '../functions/core/judge.ts';
import { metricsPerCheck } from '../functions/core/plan-budget.ts';
import type { Deps, ExecutionStatus, MetricsPort, RolloutStore, TrafficPort } from '../functions/core/ports.ts';
import type { RolloutRecord } from '../functions/core/rollout-record.ts';
import { reconcile } from '../functions/core/reconciler.ts';
import * as steps from '../functions/core/rollout-steps.ts';
import { safetyNet, type SafetyNetResult } from '../functions/core/safety-net.ts';
import { routeTraffic } from '../functions/core/traffic-router.ts';
import type { HookPort, VerificationPort } from '../functions/core/verification.ts';
import { dynamoItemSize, GET_METRIC_DATA_BUCKET, ROUTE53_ACCOUNT_BUCKET, TokenBucket } from './aws-limits.ts';
import type { SimClock } from './clock.ts';
import { MemoryEvidence, MemoryIncidents, MemoryLog, MemoryRollouts, MemoryTraffic, type LogEntry } from './memory-adapters.ts';
import { MemoryAlbRouter, MemoryAppConfigRouter, MemoryLambdaAliasRouter } from './memory-routers.ts';
import { RecordingRouter } from './sim-routers.ts';
import { rngFor } from './prng.ts';
import {
  loadDefinition, ROLLOUT_ASL, ROLLOUT_STATE_MACHINES, SEGMENT_ASL, StepFunctionsSim,
  type ExecutionHandle, type ExecutionStatusEvent, type SimContext, type TaskContext, type TaskFunction,
} from './workflow-runner.ts';

/** Simulated time each task (Lambda invocation) takes. */
export const SIM_TASK_SECONDS = 1;
/** The state machine every rollout's execution belongs to (its ARN names it). */
export const ROLLOUT_STATE_MACHINE_NAME = 'CanaryRollout';

export interface WorldOptions {
  clock: SimClock;
  seed: number;
  /** Route 53's account-wide request bucket (default 10 requests/s, burst 50). */
  route53?: { ratePerSecond: number; burst: number };
  /** Seconds from a change's submission to INSYNC, drawn per change (default [20, 40]). */
  syncDelaySeconds?: [number, number];
  /** Answers true for the status events EventBridge loses (the reconciler then finds the rollout). */
  dropStatusEvent?: (event: ExecutionStatusEvent) => boolean;
  /** Seconds between an execution's end and the safety net's invocation (default 2). */
  statusEventDelaySeconds?: number;
  /** How often the reconciler runs (default 300 s, the stack's schedule). */
  reconcileEverySeconds?: number;
  judge?: Judge;
  onLog?: (entry: LogEntry) => void;
  /** Called as each state is entered (progress). */
  onState?: (stateName: string, type: string, executionArn: string) => void;
  /** Time every Task's step (wall milliseconds, at which simulated time): `npm run bench:long`. */
  timeTasks?: boolean;
  /** Another rollout store (the DynamoDB adapter on moto_server) in place of the in-memory one. */
  rollouts?: RolloutStore;
}

export interface RolloutSetup {
  /** The rollout id (the execution's name). */
  rolloutId: string;
  /** The execution input as a user writes it. */
  input: unknown;
  metrics: MetricsPort;
  /** Simulated seconds a router call takes (a slow Route 53: a Stop can land while a shift is in flight). */
  routerLatencySeconds?: number;
  /** A person at the manual gates: approves a pending gate this long after it asked (none: nobody answers). */
  approveAfterSeconds?: number;
  /**
   * A person at the CLI (tests): called before every task of this rollout with its store and head,
   * to pause, resume, promote or abort as `canary` would.
   */
  operator?: (ctx: { rollouts: RolloutStore; record: RolloutRecord | null; now: Date; state: string }) => Promise<void>;
  /** The rollout's verification checks and gates, and its action hooks (in memory: sim/memory-verifiers.ts). */
  verification?: VerificationPort;
  hooks?: HookPort;
}

interface RolloutEntry extends RolloutSetup {
  handle?: ExecutionHandle;
}

export class SimWorld {
  readonly clock: SimClock;
  readonly sim: StepFunctionsSim;
  readonly route53Quota: TokenBucket;
  readonly metricsQuota: TokenBucket;
  readonly traffic: MemoryTraffic;
  /** The account's other routers (sim/memory-routers.ts): ALB listeners, Lambda aliases, AppConfig flags. */
  readonly alb: MemoryAlbRouter;
  readonly lambdaAliases: MemoryLambdaAliasRouter;
  readonly appConfig: MemoryAppConfigRouter;
  /** The ALB, Lambda alias and AppConfig routers, recording the changes they make. */
  readonly routerChanges: RecordingRouter;
  /** Every router behind one dispatch by the target's kind, as the Lambdas have it (core/traffic-router.ts). */
  readonly router: TrafficPort;
  /** The store the steps use; `memoryRollouts` is the in-memory one (live progress, item sizes). */
  readonly rollouts: RolloutStore;
  readonly memoryRollouts: MemoryRollouts;
  readonly incidents = new MemoryIncidents();
  readonly evidence = new MemoryEvidence();
  readonly log: MemoryLog;
  /** What the safety net did, per invocation (and why it gave up, if it did). */
  readonly safetyNetRuns: { rolloutId: string; result?: SafetyNetResult; error?: string; at: string }[] = [];
  /** Reconciler runs that finished something. */
  readonly reconcilerRuns: { at: string; finished: SafetyNetResult[]; failed: number }[] = [];
  /** GetMetricData calls refused for the account's quota. */
  metricsThrottled = 0;
  /**
   * What the rollouts asked CloudWatch for: fetches (one GetMetricData round, however many pages),
   * metrics requested (each query of each variant, as GetMetricData bills them), datapoints returned.
   */
  readonly metricsUsage = { fetches: 0, metricsRequested: 0, datapoints: 0 };
  /** Task invocations (Lambda invocations in AWS), and each one's wall time when `timeTasks` is set. */
  readonly taskUsage: { invocations: number; runs: TaskRun[] } = { invocations: 0, runs: [] };
  /** Each fetch's simulated time, metrics requested and datapoints, when `timeTasks` is set. */
  readonly fetchLog: { at: string; metricsRequested: number; datapoints: number }[] = [];
  readonly #options: WorldOptions;
  readonly #entries = new Map<string, RolloutEntry>();
  readonly #judge: Judge;

  constructor(options: WorldOptions) {
    this.#options = options;
    this.clock = options.clock;
    this.#judge = options.judge ?? defaultJudge;
    this.log = new MemoryLog(options.onLog);
    const now = () => this.clock.now();
    this.route53Quota = new TokenBucket({ ...(options.route53 ?? ROUTE53_ACCOUNT_BUCKET), now });
    this.metricsQuota = new TokenBucket({ ...GET_METRIC_DATA_BUCKET, now });
    this.traffic = new MemoryTraffic({
      clock: this.clock, rng: rngFor(options.seed, 'route53'), syncDelaySeconds: options.syncDelaySeconds,
      quota: { take: () => this.route53Quota.tryTake() },
    });
    this.alb = new MemoryAlbRouter({ clock: this.clock, rng: rngFor(options.seed, 'alb') });
    this.lambdaAliases = new MemoryLambdaAliasRouter({ clock: this.clock, rng: rngFor(options.seed, 'lambda-alias') });
    this.appConfig = new MemoryAppConfigRouter({ clock: this.clock, rng: rngFor(options.seed, 'appconfig') });
    this.routerChanges = new RecordingRouter(routeTraffic({
      alb: () => this.alb, 'lambda-alias': () => this.lambdaAliases, 'appconfig-flag': () => this.appConfig,
    }), this.clock);
    this.router = routeTraffic({
      route53: () => this.traffic, alb: () => this.routerChanges, 'lambda-alias': () => this.routerChanges, 'appconfig-flag': () => this.routerChanges,
    });
    this.memoryRollouts = new MemoryRollouts({ itemSize: (item) => dynamoItemSize(item as Record<string, unknown>) });
    this.rollouts = options.rollouts ?? this.memoryRollouts;
    this.sim = new StepFunctionsSim({
      clock: this.clock, seed: options.seed, tasks: this.#tasks(), stateMachines: ROLLOUT_STATE_MACHINES,
      taskSeconds: SIM_TASK_SECONDS, statusEventDelaySeconds: options.statusEventDelaySeconds ?? 2,
      dropStatusEvent: options.dropStatusEvent, onState: options.onState,
      onStatusChange: (event, ctx) => this.#onStatusChange(event, ctx),
    });
  }

  /** Starts a rollout's execution (now, or at `at`); returns its handle once started. */
  start(setup: RolloutSetup): ExecutionHandle {
    const entry: RolloutEntry = { ...setup };
    this.#entries.set(setup.rolloutId, entry);
    entry.handle = this.sim.startExecution({ file: ROLLOUT_ASL, stateMachineName: ROLLOUT_STATE_MACHINE_NAME, name: setup.rolloutId, input: setup.input });
    return entry.handle;
  }

  handle(rolloutId: string): ExecutionHandle | undefined {
    return this.#entries.get(rolloutId)?.handle;
  }

  /** Runs until every execution has ended and the reconciler has nothing left (or until `until`, or `stop`). */
  async run(until?: Date): Promise<void> {
    this.#startReconciler();
    await this.sim.run(until);
  }

  /** Ends `run` where it is, executions still running (a halted rollout waiting for a person nobody plays). */
  stop(): void {
    this.sim.scheduler.stopRun();
  }

  /** The ports a rollout's steps get, within one task (its sleeps take simulated time on the scheduler). */
  deps(rolloutId: string | undefined, ctx?: TaskContext | SimContext): Deps {
    const entry = rolloutId ? this.#entries.get(rolloutId) : undefined;
    const sleep = ctx ? (ms: number) => ctx.sleep(ms / 1000) : (ms: number) => this.clock.sleep(ms);
    const latency = entry?.routerLatencySeconds ?? 0;
    return {
      traffic: latency > 0 && ctx ? slowRouter(this.router, () => ctx.sleep(latency)) : this.router,
      metrics: entry ? this.#quotaMetrics(entry.metrics) : unavailableMetrics,
      rollouts: this.rollouts, incidents: this.incidents, evidence: this.evidence, log: this.log,
      clock: { now: () => this.clock.now(), sleep },
      judge: this.#judge,
      allowedHostedZoneIds: [],
      executions: { describe: async (arn) => this.#describe(arn) },
      ...(entry?.verification ? { verification: entry.verification } : {}),
      ...(entry?.hooks ? { hooks: entry.hooks } : {}),
    };
  }

  /** Every rollout's metrics take a token from the account's GetMetricData quota (50 requests/s). */
  #quotaMetrics(inner: MetricsPort): MetricsPort {
    return {
      fetchWindow: async (metrics, range) => {
        if (!this.metricsQuota.tryTake()) {
          this.metricsThrottled++;
          throw new ThrottledError('CloudWatch', Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
        }
        const window = await inner.fetchWindow(metrics, range);
        const requested = metricsPerCheck(metrics);
        const datapoints = Object.values(window.metrics).reduce((n, data) => n + countDatapoints(data), 0);
        this.metricsUsage.fetches++;
        this.metricsUsage.metricsRequested += requested;
        this.metricsUsage.datapoints += datapoints;
        if (this.#options.timeTasks) this.fetchLog.push({ at: this.clock.now().toISOString(), metricsRequested: requested, datapoints });
        return window;
      },
    };
  }

  #describe(executionArn: string): ExecutionStatus {
    const handle = this.sim.execution(executionArn);
    if (!handle) return { status: 'NOT_FOUND' };
    const result = handle.result();
    return { status: result.status as ExecutionStatus['status'], ...(result.stopDate ? { stopDate: result.stopDate } : {}), ...(result.error ? { error: result.error } : {}) };
  }

  /** Every Task of both state machines runs the step its substitution names, with its rollout's ports. */
  #tasks(): Record<string, TaskFunction> {
    const tasks: Record<string, TaskFunction> = {};
    const substitutions = [...loadDefinition(ROLLOUT_ASL, Object.keys(ROLLOUT_STATE_MACHINES)).functions.keys(), ...loadDefinition(SEGMENT_ASL).functions.keys()];
    for (const substitution of substitutions) {
      const step = steps.STEPS_BY_FUNCTION[substitution];
      if (!step) throw new Error(`the state machines name ${substitution}, and rollout-steps.ts exports no step for it`);
      tasks[substitution] = (async (input: { rolloutId?: string; execution?: { name?: string } }, ctx?: TaskContext) => {
        const rolloutId = input?.rolloutId ?? input?.execution?.name;
        await this.#approveIfDue(rolloutId);
        const operator = rolloutId ? this.#entries.get(rolloutId)?.operator : undefined;
        if (operator) await operator({ rollouts: this.rollouts, record: await this.rollouts.get(rolloutId!), now: this.clock.now(), state: ctx?.stateName ?? substitution });
        this.taskUsage.invocations++;
        if (!this.#options.timeTasks) return step(input as never, this.deps(rolloutId, ctx));
        const at = this.clock.now().toISOString();
        const inputBytes = Buffer.byteLength(JSON.stringify(input));
        const began = performance.now();
        try {
          return await step(input as never, this.deps(rolloutId, ctx));
        } finally {
          this.taskUsage.runs.push({ task: substitution, at, ms: performance.now() - began, inputBytes });
        }
      }) as TaskFunction;
    }
    return tasks;
  }

  /** A person at a manual gate: approves it some simulated time after it was requested. */
  async #approveIfDue(rolloutId: string | undefined): Promise<void> {
    const after = rolloutId ? this.#entries.get(rolloutId)?.approveAfterSeconds : undefined;
    if (after === undefined || !rolloutId) return;
    const record = await this.rollouts.get(rolloutId);
    const pending = record?.pendingApproval;
    if (!pending || record?.approval?.stageIndex === pending.stageIndex) return;
    if (this.clock.now().getTime() < Date.parse(pending.requestedAt) + after * 1000) return;
    await this.rollouts.answerApproval(rolloutId, {
      stageIndex: pending.stageIndex, approved: true, by: 'sim-approver', reason: 'simulated approval', at: this.clock.now().toISOString(),
    });
  }

  /**
   * The EventBridge rule: the safety net on the rollout state machine's FAILED, TIMED_OUT and ABORTED
   * executions. Lambda retries a failed asynchronous invocation twice (about 1 and 2 minutes later),
   * then the event goes to the dead-letter queue; the reconciler finishes what is left.
   */
  async #onStatusChange(event: ExecutionStatusEvent, ctx: SimContext): Promise<void> {
    const detail = event.detail;
    if (!detail.stateMachineArn.endsWith(`:stateMachine:${ROLLOUT_STATE_MACHINE_NAME}`)) return;
    if (!['FAILED', 'TIMED_OUT', 'ABORTED'].includes(detail.status)) return;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await ctx.sleep(60 * attempt);
      try {
        const result = await safetyNet({
          executionArn: detail.executionArn, name: detail.name, status: detail.status, error: detail.error, cause: detail.cause,
          input: detail.input, stopDate: detail.stopDate,
        }, this.deps(detail.name, ctx));
        this.safetyNetRuns.push({ rolloutId: detail.name, result, at: this.clock.now().toISOString() });
        return;
      } catch (error) {
        this.safetyNetRuns.push({ rolloutId: detail.name, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error), at: this.clock.now().toISOString() });
      }
    }
  }

  /** The reconciler's schedule, until every execution has ended and no rollout is left active. */
  #startReconciler(): void {
    const every = this.#options.reconcileEverySeconds ?? 300;
    this.sim.spawn(async (ctx) => {
      // Once nothing runs any more, a day of sweeps that cannot finish some rollout ends the
      // simulation (the failed sweeps are in reconcilerRuns) instead of sweeping forever.
      let idleSweeps = 0;
      for (;;) {
        await ctx.sleep(every);
        if (idleSweeps > 86_400 / every) return;
        const running = [...this.#entries.values()].some((e) => e.handle && ['RUNNING', 'PENDING_REDRIVE'].includes(e.handle.status()));
        // This world's rollouts only: a shared store (moto) may hold others no execution here knows.
        const active = (await this.rollouts.listActive()).filter((r) => this.#entries.has(r.rolloutId));
        if (!running && active.length === 0) return;
        if (active.length === 0) continue;
        if (!running) idleSweeps++;
        const deps = this.deps(undefined, ctx);
        const ours: RolloutStore = { ...bindAll(this.rollouts), listActive: async () => active };
        const report = await reconcile({ ...deps, rollouts: ours }).catch((error: unknown) => {
          this.log.error('reconciler run failed', { error: String(error) });
          return null;
        });
        if (report && (report.finished.length || report.failed.length)) {
          this.reconcilerRuns.push({ at: this.clock.now().toISOString(), finished: report.finished, failed: report.failed.length });
        }
      }
    });
  }

  /** The resolved config a rollout runs with (from its record). */
  async configOf(rolloutId: string): Promise<RolloutConfig | undefined> {
    return (await this.rollouts.get(rolloutId))?.config;
  }
}

const unavailableMetrics: MetricsPort = {
  fetchWindow: async () => {
    throw new Error('no metrics are wired for this call (the reconciler and the safety net read none)');
  },
};

/** A router whose every call takes simulated time first (a slow API). */
function slowRouter(inner: TrafficPort, wait: () => Promise<void>): TrafficPort {
  return {
    read: async (t, d) => { await wait(); return inner.read(t, d); },
    shift: async (t, p, o) => { await wait(); return inner.shift(t, p, o); },
    restore: async (t, d) => { await wait(); return inner.restore(t, d); },
    isInSync: async (t, id) => { await wait(); return inner.isInSync(t, id); },
  };
}

/** A store's methods bound to it, as a plain object another can override a method of. */
function bindAll(store: RolloutStore): RolloutStore {
  const proto = Object.getPrototypeOf(store) as object;
  const names = Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor' && typeof (store as unknown as Record<string, unknown>)[n] === 'function');
  return Object.fromEntries(names.map((n) => [n, ((store as unknown as Record<string, (...a: unknown[]) => unknown>)[n]!).bind(store)])) as unknown as RolloutStore;
}

/** One Task's run: which, when (simulated), its wall time and the size of the state it was given. */
export interface TaskRun {
  task: string;
  at: string;
  ms: number;
  inputBytes: number;
}

/** Datapoints a fetched metric holds (both variants; a ratio's numerator and denominator each). */
function countDatapoints(data: MetricData): number {
  const count = (series: Series | undefined) => {
    if (!series) return 0;
    const lists = 'values' in series ? [series.values] : [series.numerator, series.denominator];
    return lists.reduce((n, list) => n + list.filter((v) => v !== null).length, 0);
  };
  return count(data.canary) + count(data.baseline);
}
