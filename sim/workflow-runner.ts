/**
 * Runs the real `statemachines/rollout.asl.json` in-process on the local Step Functions of
 * sim/sfn-sim.ts, which applies AWS's quotas (history events, payload size, TimeoutSeconds) and
 * rules (retries, Stop, redrive, child executions): every Task state is bound, by the function it
 * names in `DefinitionSubstitutions` (`${AnalyzeFunctionArn}` → `AnalyzeFunctionArn`), to a local
 * function. Used by the simulator, the CLI and the workflow tests, so the file that is deployed is
 * the file that is exercised.
 *
 * Two ways to run:
 * - without `clock` (as before): Waits and retry pauses take no time, and the caller's tasks move
 *   their own clock (to `wait.until`, say); TimeoutSeconds cannot be reached;
 * - with `clock` (a SimClock): the runner moves that clock for every Wait (Seconds, SecondsPath,
 *   Timestamp, TimestampPath) and retry pause, enforces the state machine's TimeoutSeconds, and
 *   the result can also be TIMED_OUT. Tasks take simulated time with `ctx.sleep(seconds)`.
 * For many executions on one clock, Stop, redrive and status events, use StepFunctionsSim itself.
 */
import type { SimClock } from './clock.ts';
import {
  loadAsl, StepFunctionsSim, type AwsUsage, type ExecutionResult, type ExecutionStatusEvent, type SimContext, type SimTaskFunction, type TaskFunction,
} from './sfn-sim.ts';

export {
  StepFunctionsSim, type AwsUsage, type ExecutionHandle, type ExecutionResult, type ExecutionStatus, type ExecutionStatusEvent,
  type SimContext, type SimTaskFunction, type StatusEventRecord, type TaskContext, type TaskFunction,
} from './sfn-sim.ts';

export const ROLLOUT_ASL = new URL('../statemachines/rollout.asl.json', import.meta.url);
/** The segment the rollout's execution runs as child executions (startExecution.sync:2). */
export const SEGMENT_ASL = new URL('../statemachines/rollout-segment.asl.json', import.meta.url);
/** The child state machines the rollout's definition starts, by their substitution name. */
export const ROLLOUT_STATE_MACHINES: Record<string, URL> = { SegmentStateMachineArn: SEGMENT_ASL };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Definition = any;

export interface WorkflowRun {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  cause?: string;
  /** States entered, the execution's then each child's (segments), in order. */
  states: string[];
  /** Task retries the workflow's Retry policies made, children included. */
  retries: number;
  executionArn: string;
  /** What AWS would have counted: history events and the largest state payload. */
  aws: AwsUsage;
  /** Executions the workflow's tasks started, each with its own figures. */
  children: ExecutionResult[];
}

/**
 * Loads an ASL file with its `${Name}` substitutions replaced by placeholder ARNs: a state machine
 * ARN for the names in `stateMachines`, a Lambda function ARN for the others. `functions` maps each
 * function to the Task states that call it.
 */
export function loadDefinition(file: URL | string = ROLLOUT_ASL, stateMachines: Iterable<string> = []): { definition: Definition; functions: Map<string, string[]> } {
  return loadAsl(file, stateMachines);
}

export interface RunWorkflowOptions {
  input: unknown;
  /** Local implementation of each function named in the definition, by substitution name. */
  tasks: Record<string, TaskFunction | SimTaskFunction>;
  executionName: string;
  /** Without `clock`: real milliseconds each Wait state waits (default 0). */
  waitMs?: number;
  /** Without `clock`: real milliseconds each retry pause waits (default 0). */
  retryMs?: number;
  file?: URL | string;
  /** Called as each state is entered (for progress output). */
  onState?: (stateName: string, type: string) => void;
  /** The simulated clock: Waits and retry pauses move it, TimeoutSeconds is enforced on it. */
  clock?: SimClock;
  /** Seed of the retry jitter and generated names (default 1). */
  seed?: number;
  /** Child state machines by substitution name (`{ SegmentStateMachineArn: <ASL file> }`). */
  stateMachines?: Record<string, URL | string>;
  /** Name of the state machine in ARNs (default 'CanaryRollout'). */
  stateMachineName?: string;
  /** Simulated seconds each task takes after its function returns (default 0). */
  taskSeconds?: number;
  /** EventBridge status-change events of the execution and its children. */
  onStatusChange?: (event: ExecutionStatusEvent, ctx: SimContext) => unknown;
  dropStatusEvent?: (event: ExecutionStatusEvent) => boolean;
}

export function runWorkflow(options: RunWorkflowOptions & { clock: SimClock }): Promise<ExecutionResult>;
export function runWorkflow(options: RunWorkflowOptions): Promise<WorkflowRun>;
export async function runWorkflow(options: RunWorkflowOptions): Promise<WorkflowRun | ExecutionResult> {
  const sim = new StepFunctionsSim({
    clock: options.clock,
    seed: options.seed,
    tasks: options.tasks,
    // The rollout's own definition starts segments; another file (a test fixture) names its own.
    stateMachines: options.stateMachines ?? (options.file === undefined || String(options.file) === String(ROLLOUT_ASL) ? ROLLOUT_STATE_MACHINES : undefined),
    taskSeconds: options.taskSeconds,
    onStatusChange: options.onStatusChange,
    dropStatusEvent: options.dropStatusEvent,
    onState: options.onState ? (name, type) => options.onState!(name, type) : undefined,
    waitMs: options.waitMs,
    retryMs: options.retryMs,
  });
  const execution = sim.startExecution({
    file: options.file ?? ROLLOUT_ASL, stateMachineName: options.stateMachineName, name: options.executionName, input: options.input,
  });
  await sim.run();
  const result = execution.result();
  if (options.clock) return result;
  if (result.status !== 'SUCCEEDED' && result.status !== 'FAILED') {
    throw new Error(`${result.executionArn} ended ${result.status} without a simulated clock: this should not happen`);
  }
  return {
    status: result.status,
    ...(result.status === 'SUCCEEDED' ? { output: result.output } : { error: result.error, cause: result.cause }),
    // The rollout's states and retries with its segments' (children's), as one run.
    states: allOf(result).flatMap((r) => r.states),
    retries: allOf(result).reduce((n, r) => n + r.retries, 0),
    executionArn: result.executionArn,
    aws: result.aws,
    children: result.children,
  };
}

/** An execution and every execution it started, depth first. */
export const allOf = (run: ExecutionResult): ExecutionResult[] => [run, ...run.children.flatMap(allOf)];
