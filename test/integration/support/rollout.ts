/**
 * Runs the real state machine files, the rollout (statemachines/rollout.asl.json) and its segments
 * (statemachines/rollout-segment.asl.json, child executions), with the real Lambda handlers, on the
 * local Step Functions of sim/sfn-sim.ts in simulated time.
 *
 * Each rollout has its own simulated clock, given to the runner: its Waits and retry pauses move
 * that clock (no real time passes), and the runner holds the execution to AWS's quotas (history
 * events, payload size, TimeoutSeconds). The handlers read the clock through
 * `overrideAwsDeps({ clock: contextClock })`, which looks up the running rollout's clock in an
 * AsyncLocalStorage set around each task, so concurrent rollouts (each on its own runner) keep
 * separate timelines. Before each task the service model publishes the minutes that elapsed.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Clock } from '../../../functions/core/ports.ts';
import { SimClock } from '../../../sim/clock.ts';
import {
  loadDefinition, ROLLOUT_ASL, ROLLOUT_STATE_MACHINES, runWorkflow, type ExecutionResult, type SimTaskFunction, type TaskContext,
} from '../../../sim/workflow-runner.ts';

export { SimClock };

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

export type Handler = (event: never, context: Context) => Promise<unknown>;

/** The Lambda functions the rollout's state machines call, by substitution name (parent and segment). */
export function workflowFunctions(): string[] {
  const names = new Set<string>();
  for (const file of [ROLLOUT_ASL, ...Object.values(ROLLOUT_STATE_MACHINES)]) {
    for (const fn of loadDefinition(file, Object.keys(ROLLOUT_STATE_MACHINES)).functions.keys()) names.add(fn);
  }
  return [...names].sort();
}

/**
 * The real handler of a function, found the way template.yaml's `Handler:` lines do:
 * `CheckSyncFunctionArn` → functions/check-sync.ts, export `handler`.
 */
export async function loadHandler(fn: string): Promise<Handler> {
  const file = fn.replace(/FunctionArn$/, '').replace(/[A-Z]/g, (c, i: number) => `${i ? '-' : ''}${c.toLowerCase()}`);
  const module = await import(`../../../functions/${file}.ts`) as { handler?: Handler };
  if (typeof module.handler !== 'function') throw new Error(`functions/${file}.ts exports no handler (for ${fn})`);
  return module.handler;
}

async function loadHandlers(): Promise<Record<string, Handler>> {
  const handlers: Record<string, Handler> = {};
  for (const fn of workflowFunctions()) handlers[fn] = await loadHandler(fn);
  return handlers;
}
let handlers: Promise<Record<string, Handler>> | undefined;

export interface RolloutRunOptions {
  /** The execution input: the rollout config. */
  config: unknown;
  /** Execution name, which is the rollout id. */
  executionName: string;
  /** The rollout's own simulated clock (the runner moves it). */
  clock: SimClock;
  /** Called before each task with the time the task runs at (the service model publishes up to it). */
  beforeTask?: (at: Date) => Promise<void>;
  extra?: Record<string, unknown>;
  /** Seed of the runner's retry jitter (default 1). */
  seed?: number;
}

export interface RolloutRun extends ExecutionResult {
  /** Task invocations, by substitution name (segments included). */
  invocations: Record<string, number>;
  /** Errors the tasks threw (what the workflow retried or caught), by `<function> <error name>`. */
  errors: Record<string, number>;
  /** The first message of each of those errors, by the same key. */
  errorMessages: Record<string, string>;
  /** Retries of the rollout's execution and of every segment. */
  totalRetries: number;
}

export async function runRollout(options: RolloutRunOptions): Promise<RolloutRun> {
  const ctx: RolloutContext = { name: options.executionName, clock: options.clock, extra: options.extra };
  const invocations: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const errorMessages: Record<string, string> = {};
  const tasks: Record<string, SimTaskFunction> = {};
  for (const [fn, handler] of Object.entries(await (handlers ??= loadHandlers()))) {
    tasks[fn] = ((input: never, task: TaskContext) => rolloutContext.run(ctx, async () => {
      invocations[fn] = (invocations[fn] ?? 0) + 1;
      await options.beforeTask?.(task.now());
      try {
        return await handler(input, lambdaContext(fn.replace(/Arn$/, '')));
      } catch (error) {
        const key = `${fn.replace(/FunctionArn$/, '')} ${error instanceof Error ? error.name : typeof error}`;
        errors[key] = (errors[key] ?? 0) + 1;
        errorMessages[key] ??= error instanceof Error ? error.message : String(error);
        throw error;
      }
    })) as SimTaskFunction;
  }
  const run = await runWorkflow({ input: options.config, tasks, executionName: options.executionName, clock: options.clock, seed: options.seed });
  return { ...run, invocations, errors, errorMessages, totalRetries: totalRetries(run) };
}

function totalRetries(run: ExecutionResult): number {
  return run.retries + run.children.reduce((n, child) => n + totalRetries(child), 0);
}
