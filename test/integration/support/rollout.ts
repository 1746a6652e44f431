/**
 * Runs the real state machine file with the real Lambda handlers on a simulated timeline.
 *
 * Wait states are shortened to 0 ms, so time is simulated: every rollout has its own clock,
 * which jumps to the state's `wait.until` before each task (time never goes back); before the
 * jump the service model publishes the minutes that elapsed. The handlers read the clock through
 * `overrideAwsDeps({ clock })`, which looks up the running rollout's clock in an
 * AsyncLocalStorage, so concurrent rollouts keep separate timelines.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Clock } from '../../../functions/core/ports.ts';
import { loadDefinition, runWorkflow, type TaskFunction, type WorkflowRun } from '../../../sim/workflow-runner.ts';

export class SimClock implements Clock {
  #ms: number;
  constructor(start: Date) {
    this.#ms = start.getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  /** Moves to `when` if later (time never goes back). */
  advanceTo(when: Date): void {
    if (when.getTime() > this.#ms) this.#ms = when.getTime();
  }
}

/** A minute-aligned start `hoursAgo` in the past: CloudWatch takes datapoints up to two weeks old. */
export function simStart(hoursAgo = 3): Date {
  return new Date(Math.floor((Date.now() - hoursAgo * 3_600_000) / 60_000) * 60_000);
}

/** What a rollout carries through its tasks: its clock, and anything a fault injector keys on. */
export interface RolloutContext {
  name: string;
  clock: SimClock;
  /** Free for fault injectors (per-rollout random stream, counters). */
  extra?: Record<string, unknown>;
}

export const rolloutContext = new AsyncLocalStorage<RolloutContext>();

/** The clock the handlers get: the running rollout's, or the wall clock outside a rollout. */
export const contextClock: Clock = { now: () => rolloutContext.getStore()?.clock.now() ?? new Date() };

export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

type Handler = (event: never, context: Context) => Promise<unknown>;

/**
 * The real handler of every function the state machine names, found the way template.yaml's
 * `Handler:` lines do: `${CheckSyncFunctionArn}` → functions/check-sync.ts, export `handler`.
 */
async function loadHandlers(): Promise<Record<string, Handler>> {
  const { functions } = loadDefinition();
  const handlers: Record<string, Handler> = {};
  for (const fn of functions.keys()) {
    const file = fn.replace(/FunctionArn$/, '').replace(/[A-Z]/g, (c, i: number) => `${i ? '-' : ''}${c.toLowerCase()}`);
    const module = await import(`../../../functions/${file}.ts`) as { handler?: Handler };
    if (typeof module.handler !== 'function') throw new Error(`functions/${file}.ts exports no handler (for ${fn})`);
    handlers[fn] = module.handler;
  }
  return handlers;
}
let handlers: Promise<Record<string, Handler>> | undefined;

export interface RolloutRunOptions {
  /** The execution input: the rollout config. */
  config: unknown;
  /** Execution name, which is the rollout id. */
  executionName: string;
  clock: SimClock;
  /** Called before each task with the time the task will run at (the service model publishes up to it). */
  beforeTask?: (at: Date) => Promise<void>;
  extra?: Record<string, unknown>;
}

export interface RolloutRun extends WorkflowRun {
  /** Task invocations, by substitution name. */
  invocations: Record<string, number>;
}

export async function runRollout(options: RolloutRunOptions): Promise<RolloutRun> {
  const ctx: RolloutContext = { name: options.executionName, clock: options.clock, extra: options.extra };
  const invocations: Record<string, number> = {};
  const tasks: Record<string, TaskFunction> = {};
  for (const [fn, handler] of Object.entries(await (handlers ??= loadHandlers()))) {
    tasks[fn] = ((input: { wait?: { until?: string } }) => rolloutContext.run(ctx, async () => {
      invocations[fn] = (invocations[fn] ?? 0) + 1;
      const until = Date.parse(input?.wait?.until ?? '');
      const at = new Date(Number.isFinite(until) ? Math.max(until, ctx.clock.now().getTime()) : ctx.clock.now().getTime());
      await options.beforeTask?.(at);
      ctx.clock.advanceTo(at);
      return handler(input as never, lambdaContext(fn.replace(/Arn$/, '')));
    })) as TaskFunction;
  }
  const run = await runWorkflow({ input: options.config, tasks, executionName: options.executionName });
  return { ...run, invocations };
}
