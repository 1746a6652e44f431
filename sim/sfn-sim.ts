/**
 * A local Step Functions (Standard workflows, JSONPath ASL) that keeps AWS's rules, in simulated
 * time: many executions on one clock, each with its own history count, payload checks,
 * TimeoutSeconds, StopExecution, RedriveExecution and EventBridge status-change events, and child
 * executions started by `states:startExecution(.sync|.sync:2)` tasks.
 *
 * Task states run local functions bound by the name their `${Substitution}` gives
 * (`${AnalyzeFunctionArn}` → tasks.AnalyzeFunctionArn). A function gets a copy of its input (as
 * JSON, as Lambda would) and a TaskContext whose `sleep` takes simulated time; what it returns
 * goes back through JSON (a Date becomes a string, undefined becomes null).
 *
 * What AWS does that this runner does (sources in aws-limits.ts):
 * - 25,000 history events per execution, counted per AWS's event types (HISTORY_EVENTS): past it
 *   the execution fails with `States.Runtime`, which nothing catches.
 * - 262,144 bytes per execution input, state input (after Parameters), task result and state
 *   output: `States.DataLimitExceeded`, which `States.ALL` does not catch (naming it does).
 * - TimeoutSeconds of the state machine and of Task states, in simulated time; one year at most.
 * - Retry pauses (IntervalSeconds × BackoffRate^n, MaxDelaySeconds, JitterStrategy FULL from a seeded
 *   PRNG) and Waits (Seconds, SecondsPath, Timestamp, TimestampPath) take simulated time.
 * - Stop ends the execution ABORTED at once; a Lambda already running runs to its end, its side
 *   effects land and its result is dropped; a `.sync` child is stopped with its parent.
 * - Redrive (FAILED / ABORTED / TIMED_OUT, within 14 days, fewer than 24,999 events): same ARN,
 *   from the state that failed or was running, with that state's original input; history goes on.
 * - A Lambda's error reaches the workflow as AWS shows it: Error = the error's name, Cause = the
 *   JSON `{"errorType","errorMessage","trace"}`.
 * - A Choice rule whose Variable is missing is a `States.Runtime` error, as in AWS.
 * - StartExecution with a name in use: the same running execution if the input is the same,
 *   `StepFunctions.ExecutionAlreadyExistsException` otherwise (names are kept 90 days).
 *
 * Known differences: inline Map / Parallel redrive re-runs the whole state (AWS re-runs only the
 * failed iterations and branches); Distributed Map, `.waitForTaskToken`, activities, JSONata and
 * HeartbeatSeconds are refused when the definition is loaded; the wording of AWS's causes is
 * approximated; state transitions take no simulated time.
 */
import { readFileSync } from 'node:fs';
import { SimClock } from './clock.ts';
import { rngFor } from './prng.ts';
import {
  HISTORY_EVENT_LIMIT, MAX_EXECUTION_SECONDS, PAYLOAD_LIMIT_BYTES, REDRIVE_MAX_HISTORY_EVENTS, REDRIVE_WINDOW_SECONDS, retryDelaySeconds,
} from './aws-limits.ts';
import {
  applyResultPath, applyTemplate, evaluateChoiceRule, isTimestamp, queryPath, runtimeError, selectPath, StatesError, uuidFrom,
} from './asl-data.ts';
import { CancelledError, CancelScope, Signal, SimScheduler, type TimerHandle } from './sim-scheduler.ts';


/** JSON text of values the engine measured (values are never changed once made). */
const measuredText = new WeakMap<object, string>();

export { StatesError } from './asl-data.ts';

export const REGION = 'us-east-1';
export const ACCOUNT_ID = '123456789012';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/StatesExecutionRole`;
export const lambdaArn = (fn: string) => `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${fn}`;
export const stateMachineArn = (name: string) => `arn:aws:states:${REGION}:${ACCOUNT_ID}:stateMachine:${name}`;
export const executionArn = (machine: string, name: string) => `arn:aws:states:${REGION}:${ACCOUNT_ID}:execution:${machine}:${name}`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** What a local task function gets besides its input. */
export interface TaskContext {
  /** Simulated now. */
  now(): Date;
  /**
   * Takes simulated time (a Lambda that runs 3 s; a handler waiting before it re-checks). A task
   * is one simulated activity: await one sleep at a time (not several in Promise.all); for work
   * in parallel start activities with StepFunctionsSim.spawn.
   */
  sleep(seconds: number): Promise<void>;
  sleepUntil(when: Date | string | number): Promise<void>;
  executionArn: string;
  executionName: string;
  stateName: string;
  /** $$.State.RetryCount: 0 on the first attempt. */
  retryCount: number;
}

/** A task bound to a Task state. `ctx` is always passed; it is optional in the type so that old callers can call one directly. */
export type TaskFunction = (input: never, ctx?: TaskContext) => Promise<unknown>;
/** The same, for code that uses the context (`ctx.sleep`). */
export type SimTaskFunction = (input: never, ctx: TaskContext) => Promise<unknown>;

/** An activity that is not a task (an EventBridge target, a person, a reconciler): simulated time only. */
export interface SimContext {
  now(): Date;
  sleep(seconds: number): Promise<void>;
  sleepUntil(when: Date | string | number): Promise<void>;
}

export interface AwsUsage {
  /** Events in the execution's history, as AWS counts them (redrives included). */
  historyEvents: number;
  /** The largest execution input, state input, task result or state output, in UTF-8 bytes. */
  maxStatePayloadBytes: number;
}

export interface ExecutionResult {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  output?: unknown;
  error?: string;
  cause?: string;
  startDate: string;
  stopDate?: string;
  /** States entered, in order (nested Map / Parallel states included). */
  states: string[];
  /** Retries the workflow's Retry policies made. */
  retries: number;
  redriveCount: number;
  aws: AwsUsage;
  /** Executions its tasks started (`states:startExecution…`), each with its own figures. */
  children: ExecutionResult[];
}

/** The `detail` of EventBridge's "Step Functions Execution Status Change" event. */
export interface ExecutionStatusDetail {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: number;
  stopDate: number | null;
  input: string;
  inputDetails: { included: boolean };
  output: string | null;
  outputDetails: { included: boolean } | null;
  error: string | null;
  cause: string | null;
  redriveCount: number;
  redriveDate: number | null;
  redriveStatus: 'REDRIVABLE' | 'NOT_REDRIVABLE';
  redriveStatusReason: string;
}

export interface ExecutionStatusEvent {
  version: '0';
  id: string;
  'detail-type': 'Step Functions Execution Status Change';
  source: 'aws.states';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: ExecutionStatusDetail;
}

export interface StatusEventRecord {
  event: ExecutionStatusEvent;
  /** Dropped by `dropStatusEvent` (EventBridge delivers these best effort). */
  dropped: boolean;
  deliveredAt?: string;
  /** What the sink threw, if it did. */
  sinkError?: unknown;
}

export class ExecutionNotRedrivable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutionNotRedrivable';
  }
}

export class ExecutionAlreadyExists extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutionAlreadyExists';
  }
}

export interface StepFunctionsSimOptions {
  /**
   * The simulated clock every execution shares. Waits and retry pauses take simulated time on it,
   * and TimeoutSeconds is enforced. Without one (`timeMode: 'instant'`), a private clock starts at
   * the wall clock, and Waits and retry pauses take no time at all (the runner's old behaviour).
   */
  clock?: SimClock;
  /** 'simulated' (default with a clock) or 'instant' (default without). */
  timeMode?: 'simulated' | 'instant';
  /** Seed of the PRNG for retry jitter, generated names and States.MathRandom / UUID. Default 1. */
  seed?: number;
  /** Local implementation of each Lambda function, by the substitution name that gives its ARN. */
  tasks: Record<string, TaskFunction | SimTaskFunction>;
  /**
   * State machines by substitution name: `{ SegmentStateMachineArn: 'statemachines/segment.asl.json' }`
   * makes `${SegmentStateMachineArn}` the ARN of a state machine named `SegmentStateMachine`.
   */
  stateMachines?: Record<string, URL | string>;
  /** Simulated seconds each task invocation takes after its function returns (default 0). */
  taskSeconds?: number;
  /** Receives every status change EventBridge would deliver (not the dropped ones), as its own activity. */
  onStatusChange?: (event: ExecutionStatusEvent, ctx: SimContext) => unknown;
  /** Answers true for the events EventBridge loses (best-effort delivery). */
  dropStatusEvent?: (event: ExecutionStatusEvent) => boolean;
  /** Simulated seconds between a status change and its delivery (default 0). */
  statusEventDelaySeconds?: number;
  /** Called as each state is entered. */
  onState?: (stateName: string, type: string, executionArn: string) => void;
  /** instant mode only: real milliseconds each Wait / retry pause waits (default 0), as before. */
  waitMs?: number;
  retryMs?: number;
}

export interface StartExecutionOptions {
  /** An ASL file, registered under `stateMachineName` (default 'CanaryRollout'); or name a registered one. */
  file?: URL | string;
  stateMachine?: string;
  stateMachineName?: string;
  name: string;
  input: unknown;
}

/** A running or ended execution. */
export interface ExecutionHandle {
  readonly executionArn: string;
  readonly name: string;
  status(): ExecutionStatus;
  /** The execution's figures now (final once it has ended). */
  result(): ExecutionResult;
  /** StopExecution, now or at a simulated moment. */
  stop(options?: { at?: Date | string | number; error?: string; cause?: string }): void;
  /** RedriveExecution, now or at a simulated moment; throws ExecutionNotRedrivable. */
  redrive(options?: { at?: Date | string | number }): void;
}

// ---------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------

interface Machine {
  name: string;
  arn: string;
  definition: Json;
  source: string;
  /** Lambda functions (substitution names) its Task states call, with the states that call them. */
  functions: Map<string, string[]>;
}

const SUPPORTED_TYPES = new Set(['Task', 'Pass', 'Wait', 'Choice', 'Succeed', 'Fail', 'Parallel', 'Map']);
const ABORTABLE = new Set(['Task', 'Wait', 'Map', 'Parallel']);

type Resource =
  | { kind: 'lambda'; fn: string }
  | { kind: 'lambdaInvoke' }
  | { kind: 'startExecution'; mode: 'async' | 'sync' | 'sync2' };

const resourceCache = new Map<string, Resource | null>();

export function classifyResource(resource: string): Resource | null {
  if (resourceCache.has(resource)) return resourceCache.get(resource)!;
  let kind: Resource | null = null;
  const fn = /^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:([^:]+)(:[^:]+)?$/.exec(resource);
  if (fn) kind = { kind: 'lambda', fn: fn[1]! };
  else if (resource === 'arn:aws:states:::lambda:invoke') kind = { kind: 'lambdaInvoke' };
  else if (resource === 'arn:aws:states:::states:startExecution') kind = { kind: 'startExecution', mode: 'async' };
  else if (resource === 'arn:aws:states:::states:startExecution.sync') kind = { kind: 'startExecution', mode: 'sync' };
  else if (resource === 'arn:aws:states:::states:startExecution.sync:2') kind = { kind: 'startExecution', mode: 'sync2' };
  resourceCache.set(resource, kind);
  return kind;
}

/** A state machine's name from the substitution that gives its ARN: `SegmentStateMachineArn` → `SegmentStateMachine`. */
export const machineNameOf = (substitution: string) => substitution.replace(/Arn$/, '') || substitution;

/**
 * Reads an ASL file, replacing each `${Name}` by a state machine ARN when `Name` is one of
 * `stateMachines`, else by a Lambda function ARN; checks it uses only what this runner models.
 */
export function loadAsl(file: URL | string, stateMachineSubstitutions: Iterable<string> = []): { definition: Json; functions: Map<string, string[]> } {
  const machines = new Set(stateMachineSubstitutions);
  const text = readFileSync(file, 'utf8');
  const source = String(file);
  let definition: Json;
  try {
    definition = JSON.parse(text.replace(/\$\{(\w+)\}/g, (_m, name: string) => (machines.has(name) ? stateMachineArn(machineNameOf(name)) : lambdaArn(name))));
  } catch (error) {
    throw new Error(`${source}: not JSON (${(error as Error).message})`);
  }
  const functions = new Map<string, string[]>();
  validateStates(definition, source, functions, 'the state machine');
  return { definition, functions };
}

function validateStates(machine: Json, source: string, functions: Map<string, string[]>, where: string): void {
  const fail = (why: string) => new Error(`${source}: ${why}`);
  if (machine?.QueryLanguage === 'JSONata') throw fail(`${where} uses JSONata; this runner speaks JSONPath ASL only`);
  const states = machine?.States;
  if (!states || typeof states !== 'object') throw fail(`${where} has no States`);
  if (!(machine.StartAt in states)) throw fail(`${where}: StartAt '${machine.StartAt}' is not a state`);
  for (const [name, state] of Object.entries<Json>(states)) {
    const at = `state '${name}'`;
    if (!SUPPORTED_TYPES.has(state.Type)) throw fail(`${at}: Type '${state.Type}' is not a Step Functions state type`);
    if (state.QueryLanguage === 'JSONata') throw fail(`${at} uses JSONata; this runner speaks JSONPath ASL only`);
    const targets = [state.Next, state.Default, ...(state.Choices ?? []).map((c: Json) => c.Next), ...(state.Catch ?? []).map((c: Json) => c.Next)];
    for (const target of targets) if (target !== undefined && !(target in states)) throw fail(`${at}: goes to '${target}', which is not a state of ${where}`);
    if (['Task', 'Pass', 'Wait', 'Parallel', 'Map'].includes(state.Type) && !state.End && !state.Next) throw fail(`${at} has neither Next nor End`);
    if (state.Type === 'Task') {
      if ('HeartbeatSeconds' in state || 'HeartbeatSecondsPath' in state) throw fail(`${at}: HeartbeatSeconds is not modelled (it applies to callbacks and activities)`);
      const resource = classifyResource(String(state.Resource));
      if (!resource) {
        throw fail(`${at}: Resource '${state.Resource}' is not modelled; use a Lambda function ARN, arn:aws:states:::lambda:invoke or arn:aws:states:::states:startExecution(.sync|.sync:2)`);
      }
      let fn: string | undefined;
      if (resource.kind === 'lambda') fn = resource.fn;
      if (resource.kind === 'lambdaInvoke') {
        const target = state.Parameters?.FunctionName;
        if (typeof target === 'string') fn = functionNameOf(target);
      }
      if (fn) functions.set(fn, [...(functions.get(fn) ?? []), name]);
    }
    if (state.Type === 'Parallel') (state.Branches ?? []).forEach((b: Json, i: number) => validateStates(b, source, functions, `branch ${i} of ${at}`));
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor ?? state.Iterator;
      if (processor?.ProcessorConfig?.Mode === 'DISTRIBUTED' || state.ItemReader || state.ResultWriter || state.ItemBatcher) {
        throw fail(`${at}: Distributed Map is not modelled`);
      }
      validateStates(processor, source, functions, `the ItemProcessor of ${at}`);
    }
  }
}

/** A Lambda function's name from a name or (partial) ARN, without its version or alias. */
function functionNameOf(target: string): string {
  const arn = /:function:([^:]+)/.exec(target);
  return arn ? arn[1]! : target.split(':')[0]!;
}

// ---------------------------------------------------------------------------------------------
// Executions
// ---------------------------------------------------------------------------------------------

interface RestartPoint {
  name: string;
  type: string;
  input: unknown;
}

class Execution {
  readonly machine: Machine;
  readonly name: string;
  readonly arn: string;
  readonly inputText: string;
  readonly input: unknown;
  status: ExecutionStatus = 'RUNNING';
  startMs: number;
  stopMs: number | undefined;
  output: unknown;
  outputText: string | undefined;
  error: string | undefined;
  cause: string | undefined;
  history = 0;
  maxPayload = 0;
  readonly states: string[] = [];
  retries = 0;
  redriveCount = 0;
  redriveMs: number | undefined;
  scope = new CancelScope();
  finished: Signal<void>;
  timeout: TimerHandle | undefined;
  /** The top-level state in progress, where a redrive starts again. */
  current: RestartPoint | undefined;
  restart: RestartPoint | undefined;
  readonly children: Execution[] = [];
  /** `.sync` children still running: stopped with this execution. */
  readonly syncChildren = new Set<Execution>();
  handle!: ExecutionHandle;

  constructor(machine: Machine, name: string, inputText: string, input: unknown, startMs: number, finished: Signal<void>) {
    this.machine = machine;
    this.name = name;
    this.arn = executionArn(machine.name, name);
    this.inputText = inputText;
    this.input = input;
    this.startMs = startMs;
    this.finished = finished;
  }
}

type TaskOutcome = { kind: 'ok'; value: unknown } | { kind: 'error'; error: unknown } | { kind: 'timeout' };

const iso = (ms: number) => new Date(ms).toISOString();
/** Whether a state's definition mentions `$$` (cached per state object). */
const readsContext = new WeakMap<object, boolean>();
const NO_CONTEXT = Object.freeze({});
const toMs = (when: Date | string | number) => (typeof when === 'number' ? when : new Date(when).getTime());

/** Execution names: 1–80 characters, none of whitespace, brackets, wildcards, `"#%\^|~`$&,;:/` or control characters. */
const INVALID_NAME = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

export class StepFunctionsSim {
  readonly clock: SimClock;
  readonly scheduler: SimScheduler;
  /** Every status change, delivered or dropped, in order. */
  readonly statusEvents: StatusEventRecord[] = [];
  readonly #options: StepFunctionsSimOptions;
  readonly #instant: boolean;
  readonly #machines = new Map<string, Machine>();
  readonly #bySubstitution = new Map<string, Machine>();
  readonly #executions = new Map<string, Execution>();
  readonly #roots: Execution[] = [];
  readonly #jitter: () => number;
  readonly #ids: () => number;
  readonly #intrinsics: { rng: () => number };

  constructor(options: StepFunctionsSimOptions) {
    this.#options = options;
    this.clock = options.clock ?? new SimClock(new Date());
    this.#instant = (options.timeMode ?? (options.clock ? 'simulated' : 'instant')) === 'instant';
    this.scheduler = new SimScheduler(this.clock);
    const seed = options.seed ?? 1;
    this.#jitter = rngFor(seed, 'sfn-retry-jitter');
    this.#ids = rngFor(seed, 'sfn-ids');
    this.#intrinsics = { rng: rngFor(seed, 'sfn-intrinsics') };
    for (const [substitution, file] of Object.entries(options.stateMachines ?? {})) {
      this.#bySubstitution.set(substitution, this.#register(machineNameOf(substitution), file));
    }
    for (const machine of this.#machines.values()) this.#checkChildren(machine);
  }

  #register(name: string, file: URL | string): Machine {
    const existing = this.#machines.get(name);
    if (existing) {
      if (existing.source !== String(file)) throw new Error(`state machine ${name} is already registered from ${existing.source}, not ${String(file)}`);
      return existing;
    }
    const { definition, functions } = loadAsl(file, Object.keys(this.#options.stateMachines ?? {}));
    for (const [fn, stateNames] of functions) {
      if (!this.#options.tasks[fn]) throw new Error(`no local implementation for ${fn} (used by ${stateNames.join(', ')} in ${String(file)})`);
    }
    const machine: Machine = { name, arn: stateMachineArn(name), definition, source: String(file), functions };
    this.#machines.set(name, machine);
    return machine;
  }

  /** Every startExecution task that names its state machine must name a registered one. */
  #checkChildren(machine: Machine): void {
    const visit = (states: Record<string, Json>) => {
      for (const [name, state] of Object.entries(states)) {
        if (state.Type === 'Task' && classifyResource(String(state.Resource))?.kind === 'startExecution') {
          const arn = state.Parameters?.StateMachineArn;
          if (typeof arn === 'string' && ![...this.#bySubstitution.values()].some((m) => m.arn === arn)) {
            const known = [...this.#bySubstitution.keys()];
            throw new Error(`${machine.source}: state '${name}' starts ${arn}, which no state machine given in stateMachines is (${known.length ? known.join(', ') : 'none given'}); pass stateMachines: { <Substitution>: <ASL file> }`);
          }
        }
        for (const branch of state.Branches ?? []) visit(branch.States);
        const processor = state.ItemProcessor ?? state.Iterator;
        if (processor) visit(processor.States);
      }
    };
    visit(machine.definition.States);
  }

  /** Starts an execution now (StartExecution). */
  startExecution(options: StartExecutionOptions): ExecutionHandle {
    let machine: Machine;
    if (options.file !== undefined) {
      machine = this.#register(options.stateMachineName ?? 'CanaryRollout', options.file);
      this.#checkChildren(machine);
    } else {
      const named = options.stateMachine ?? options.stateMachineName ?? 'CanaryRollout';
      const found = this.#bySubstitution.get(named) ?? this.#machines.get(named);
      if (!found) throw new Error(`no state machine ${named}: pass file, or register it in stateMachines`);
      machine = found;
    }
    const inputText = JSON.stringify(options.input) ?? 'null';
    const ex = this.#start(machine, options.name, inputText, options.input === undefined ? null : JSON.parse(inputText), null);
    if (ex instanceof Error) throw ex;
    this.#roots.push(ex);
    return ex.handle;
  }

  /** Runs an activity (a person, an EventBridge target, a reconciler) at a simulated moment. */
  at(when: Date | string | number, fn: (ctx: SimContext) => unknown): TimerHandle {
    return this.scheduler.spawnAt(toMs(when), () => fn(this.#simContext()));
  }

  /** Runs an activity now (after what is already due now). */
  spawn(fn: (ctx: SimContext) => unknown): TimerHandle {
    return this.scheduler.spawn(() => fn(this.#simContext()));
  }

  /** Runs the simulation until nothing is left to do (or until `until`). */
  run(until?: Date | string | number): Promise<void> {
    return this.scheduler.run(until);
  }

  execution(arn: string): ExecutionHandle | undefined {
    return this.#executions.get(arn)?.handle;
  }

  /** Executions started with startExecution (their children are in each result's `children`). */
  results(): ExecutionResult[] {
    return this.#roots.map((ex) => this.#result(ex));
  }

  #simContext(): SimContext {
    return {
      now: () => this.clock.now(),
      sleep: (seconds) => this.scheduler.sleep(seconds),
      sleepUntil: (when) => this.scheduler.sleepUntil(toMs(when)),
    };
  }

  /** StartExecution: the new execution, the running one it is idempotent with, or the error AWS gives. */
  #start(machine: Machine, name: string, inputText: string, input: unknown, parent: Execution | null): Execution | Error {
    if (typeof name !== 'string' || name.length < 1 || name.length > 80 || INVALID_NAME.test(name)) {
      return Object.assign(new Error(`Invalid Name: '${name}' (1-80 characters, no whitespace, brackets, wildcards or special characters)`), { name: 'InvalidName' });
    }
    const arn = executionArn(machine.name, name);
    const existing = this.#executions.get(arn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.inputText === inputText) return existing;
      return new ExecutionAlreadyExists(`Execution Already Exists: '${arn}'`);
    }
    const ex = new Execution(machine, name, inputText, input, this.scheduler.nowMs(), new Signal(this.scheduler));
    ex.handle = this.#handle(ex);
    this.#executions.set(arn, ex);
    parent?.children.push(ex);
    ex.history = 1; // ExecutionStarted
    ex.restart = { name: machine.definition.StartAt, type: machine.definition.States[machine.definition.StartAt].Type, input };
    this.#armTimeout(ex);
    this.#emit(ex);
    this.scheduler.spawn(() => this.#runExecution(ex, machine.definition.StartAt, input, true));
    return ex;
  }

  #handle(ex: Execution): ExecutionHandle {
    const later = (at: Date | string | number | undefined, fn: () => void) => {
      if (at === undefined || toMs(at) <= this.scheduler.nowMs()) fn();
      else this.scheduler.spawnAt(toMs(at), fn);
    };
    return {
      executionArn: ex.arn,
      name: ex.name,
      status: () => ex.status,
      result: () => this.#result(ex),
      stop: (options = {}) => later(options.at, () => this.#stop(ex, options.error, options.cause)),
      redrive: (options = {}) => later(options.at, () => this.#redrive(ex)),
    };
  }

  #armTimeout(ex: Execution): void {
    if (this.#instant) return; // no simulated time: the old runner had no timeout either
    const seconds = ex.machine.definition.TimeoutSeconds as number | undefined;
    const now = this.scheduler.nowMs();
    const yearEnd = ex.startMs + MAX_EXECUTION_SECONDS * 1000;
    // TimeoutSeconds counts from the start, and again from each redrive (a timed-out execution
    // could not be redriven otherwise); an execution never stays open past one year.
    const at = Math.min(seconds !== undefined ? now + seconds * 1000 : Infinity, yearEnd);
    ex.timeout = this.scheduler.spawnAt(at, () => {
      if (ex.status === 'RUNNING') {
        this.#end(ex, 'TIMED_OUT', { error: 'States.Timeout', cause: seconds !== undefined && at < yearEnd ? `The execution ran longer than the state machine's TimeoutSeconds (${seconds} s).` : 'The execution ran longer than one year.' });
      }
    });
  }

  #stop(ex: Execution, error?: string, cause?: string): void {
    if (ex.status !== 'RUNNING') return;
    if (ex.current && ABORTABLE.has(ex.current.type)) ex.history = Math.min(HISTORY_EVENT_LIMIT - 1, ex.history + 1); // <Type>StateAborted
    this.#end(ex, 'ABORTED', { error, cause });
  }

  /** The execution leaves RUNNING: terminal event, timers off, threads and `.sync` children stopped, event out. */
  #end(ex: Execution, status: Exclude<ExecutionStatus, 'RUNNING'>, fields: { output?: unknown; outputText?: string; error?: string; cause?: string }): void {
    if (ex.status !== 'RUNNING') return;
    ex.status = status;
    ex.stopMs = this.scheduler.nowMs();
    ex.history = Math.min(HISTORY_EVENT_LIMIT, ex.history + 1);
    ex.output = fields.output;
    ex.outputText = fields.outputText;
    ex.error = fields.error || undefined;
    ex.cause = fields.cause;
    if (status !== 'SUCCEEDED' && ex.current) ex.restart = ex.current;
    ex.timeout?.cancel();
    ex.scope.cancel();
    ex.finished.fire();
    this.#emit(ex);
    // Then the `.sync` children it was waiting for: Step Functions stops them with their parent.
    for (const child of [...ex.syncChildren]) this.#stop(child, 'States.Aborted', `The parent execution ${ex.arn} ended ${status}`);
    ex.syncChildren.clear();
  }

  #redrive(ex: Execution): void {
    const refuse = (why: string) => {
      throw new ExecutionNotRedrivable(`${ex.arn}: ${why}`);
    };
    const now = this.scheduler.nowMs();
    if (ex.status === 'RUNNING' || ex.status === 'SUCCEEDED') refuse(`Execution is ${ex.status} and cannot be redriven.`);
    if (now - ex.stopMs! > REDRIVE_WINDOW_SECONDS * 1000) refuse('Execution redrivable period exceeded.');
    if (now - ex.startMs >= MAX_EXECUTION_SECONDS * 1000) refuse('Execution has exceeded the max execution time.');
    if (ex.history >= REDRIVE_MAX_HISTORY_EVENTS) refuse('Execution history event limit exceeded.');
    const restart = ex.restart!;
    ex.status = 'RUNNING';
    ex.redriveCount++;
    ex.redriveMs = now;
    ex.stopMs = undefined;
    ex.output = ex.outputText = ex.error = ex.cause = undefined;
    ex.scope = new CancelScope();
    ex.finished = new Signal(this.scheduler);
    ex.history++; // ExecutionRedriven
    this.#armTimeout(ex);
    this.#emit(ex);
    this.scheduler.spawn(() => this.#runExecution(ex, restart.name, restart.input, false));
  }

  async #runExecution(ex: Execution, startAt: string, input: unknown, checkInput: boolean): Promise<void> {
    const scope = ex.scope;
    try {
      if (checkInput) {
        // AWS's StartExecution refuses such an input (ValidationException) and no execution exists;
        // here the execution fails at once, so that a caller sees it as a failed run.
        this.#measure(ex, input, () => `The execution input has a size exceeding the maximum number of bytes service limit (StartExecution refuses it)`);
      }
      const output = await this.#runStates(ex, ex.machine.definition, startAt, input, scope, true);
      if (scope.cancelled) return;
      this.#end(ex, 'SUCCEEDED', { output, outputText: JSON.stringify(output) ?? 'null' });
    } catch (error) {
      if (error instanceof CancelledError || scope.cancelled) return;
      if (error instanceof StatesError) {
        this.#end(ex, 'FAILED', { error: error.error, cause: error.message });
        return;
      }
      throw error;
    }
  }

  /** Records `n` history events, failing the execution (States.Runtime) when the quota is reached. */
  #record(ex: Execution, scope: CancelScope, n: number): void {
    if (scope.cancelled || ex.status !== 'RUNNING') throw new CancelledError();
    // The history keeps room for its terminal event: non-terminal events stop at 24,999.
    if (ex.history + n >= HISTORY_EVENT_LIMIT) {
      ex.history = HISTORY_EVENT_LIMIT - 1;
      throw runtimeError(`The execution exceeded the limit of ${HISTORY_EVENT_LIMIT} history events.`);
    }
    ex.history += n;
  }

  /** Measures a payload (UTF-8 bytes of its JSON), keeps the maximum, enforces the quota; gives the JSON text. */
  #measure(ex: Execution, value: unknown, what: () => string): string {
    // The engine never changes a value once made (each state makes new ones): one it has measured
    // already (a task's result becoming the next state's input) has the same text.
    const known = value !== null && typeof value === 'object' ? measuredText.get(value) : undefined;
    const text = known ?? JSON.stringify(value) ?? 'null';
    if (known === undefined && value !== null && typeof value === 'object') measuredText.set(value, text);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > ex.maxPayload) ex.maxPayload = bytes;
    if (bytes > PAYLOAD_LIMIT_BYTES) {
      throw new StatesError('States.DataLimitExceeded', `${what()}: ${bytes} bytes > ${PAYLOAD_LIMIT_BYTES}.`, 'notMatchedByAll');
    }
    return text;
  }

  /** The context object ($$), built only for states that read it (formatting its dates is not free). */
  #context(ex: Execution, state: Json, stateName: string, enteredMs: number, retryCount: number, mapItem?: { Index: number; Value: unknown }): Json {
    let reads = readsContext.get(state);
    if (reads === undefined) readsContext.set(state, (reads = JSON.stringify(state).includes('$$')));
    if (!reads) return NO_CONTEXT;
    return {
      Execution: {
        Id: ex.arn, Input: ex.input, Name: ex.name, RoleArn: ROLE_ARN, StartTime: iso(ex.startMs), RedriveCount: ex.redriveCount,
        ...(ex.redriveMs !== undefined ? { RedriveTime: iso(ex.redriveMs) } : {}),
      },
      State: { EnteredTime: iso(enteredMs), Name: stateName, RetryCount: retryCount },
      StateMachine: { Id: ex.machine.arn, Name: ex.machine.name },
      ...(mapItem ? { Map: { Item: mapItem } } : {}),
    };
  }

  async #runStates(ex: Execution, machine: Json, startAt: string, input: unknown, scope: CancelScope, top: boolean): Promise<unknown> {
    let name = startAt;
    let value = input;
    for (;;) {
      const state = machine.States[name];
      if (top) ex.current = { name, type: state.Type, input: value };
      const { output, next } = await this.#runState(ex, name, state, value, scope);
      if (next === undefined) return output;
      name = next;
      value = output;
    }
  }

  async #runState(ex: Execution, name: string, state: Json, input: unknown, scope: CancelScope): Promise<{ output: unknown; next?: string }> {
    this.#record(ex, scope, 1); // <Type>StateEntered
    ex.states.push(name);
    this.#options.onState?.(name, state.Type, ex.arn);
    const enteredMs = this.scheduler.nowMs();
    const next = state.End ? undefined : state.Next;
    switch (state.Type) {
      case 'Pass': {
        const ctx = this.#context(ex, state, name, enteredMs, 0);
        const effective = this.#effectiveInput(ex, state, input, ctx, name);
        const result = 'Result' in state ? state.Result : effective;
        const output = this.#stateOutput(ex, state, input, result, ctx, name);
        this.#record(ex, scope, 1);
        return { output, next };
      }
      case 'Wait': {
        const ctx = this.#context(ex, state, name, enteredMs, 0);
        const effective = selectPath(state.InputPath, input, ctx, 'InputPath', name);
        await this.#wait(state, effective, ctx, name, scope);
        const output = this.#output(ex, state, input, effective, ctx, name);
        this.#record(ex, scope, 1);
        return { output, next };
      }
      case 'Choice': {
        const ctx = this.#context(ex, state, name, enteredMs, 0);
        const effective = selectPath(state.InputPath, input, ctx, 'InputPath', name);
        let chosen: string | undefined;
        for (const rule of state.Choices as Json[]) {
          if (evaluateChoiceRule(rule, effective, ctx, name)) {
            chosen = rule.Next;
            break;
          }
        }
        chosen ??= state.Default;
        if (chosen === undefined) throw new StatesError('States.NoChoiceMatched', `No Choice rule of state '${name}' matched and it has no Default.`);
        const output = this.#output(ex, state, input, effective, ctx, name);
        this.#record(ex, scope, 1);
        return { output, next: chosen };
      }
      case 'Succeed': {
        const ctx = this.#context(ex, state, name, enteredMs, 0);
        const effective = selectPath(state.InputPath, input, ctx, 'InputPath', name);
        const output = this.#output(ex, state, input, effective, ctx, name);
        this.#record(ex, scope, 1);
        return { output };
      }
      case 'Fail': {
        const ctx = this.#context(ex, state, name, enteredMs, 0);
        const read = (path: string | undefined, literal: unknown) => {
          if (path === undefined) return literal === undefined ? undefined : String(literal);
          const got = queryPath(path, input, ctx);
          if (!got.found) throw runtimeError(`An error occurred while executing the state '${name}'. The path '${path}' was not found in the input.`);
          return typeof got.value === 'string' ? got.value : JSON.stringify(got.value);
        };
        throw new StatesError(read(state.ErrorPath, state.Error) ?? '', read(state.CausePath, state.Cause) ?? '');
      }
      default:
        return this.#runRetryable(ex, name, state, input, scope, enteredMs, next);
    }
  }

  /** InputPath then Parameters (Pass, Task, Parallel); a new value is measured. */
  #effectiveInput(ex: Execution, state: Json, input: unknown, ctx: Json, name: string): unknown {
    let effective = selectPath(state.InputPath, input, ctx, 'InputPath', name);
    if (state.Parameters !== undefined && state.Type !== 'Map') {
      effective = applyTemplate(state.Parameters, effective, ctx, this.#intrinsics, name);
      this.#measure(ex, effective, () => `The state '${name}' has an input (after Parameters) with a size exceeding the maximum number of bytes service limit`);
    }
    return effective;
  }

  /** ResultSelector, ResultPath, OutputPath; the output is measured. */
  #stateOutput(ex: Execution, state: Json, rawInput: unknown, result: unknown, ctx: Json, name: string): unknown {
    if (state.ResultSelector !== undefined) result = applyTemplate(state.ResultSelector, result, ctx, this.#intrinsics, name);
    const merged = applyResultPath(state.ResultPath, rawInput, result, name);
    return this.#output(ex, state, rawInput, merged, ctx, name);
  }

  /** OutputPath; measures the output unless it is the state's input unchanged (measured already). */
  #output(ex: Execution, state: Json, rawInput: unknown, value: unknown, ctx: Json, name: string): unknown {
    const output = selectPath(state.OutputPath, value, ctx, 'OutputPath', name);
    if (output !== rawInput) this.#measure(ex, output, () => `The state '${name}' has an output with a size exceeding the maximum number of bytes service limit`);
    return output;
  }

  async #wait(state: Json, input: unknown, ctx: Json, name: string, scope: CancelScope): Promise<void> {
    const now = this.scheduler.nowMs();
    let until: number;
    if (state.Seconds !== undefined) until = now + Number(state.Seconds) * 1000;
    else if (state.Timestamp !== undefined) until = Date.parse(state.Timestamp);
    else if (state.SecondsPath !== undefined) {
      const got = queryPath(state.SecondsPath, input, ctx);
      if (!got.found || typeof got.value !== 'number' || !Number.isInteger(got.value) || got.value < 0) {
        throw runtimeError(`An error occurred while executing the state '${name}'. The SecondsPath '${state.SecondsPath}' must give a non-negative integer.`);
      }
      until = now + got.value * 1000;
    } else {
      const got = queryPath(state.TimestampPath, input, ctx);
      if (!got.found || !isTimestamp(got.value)) {
        throw runtimeError(`An error occurred while executing the state '${name}'. The TimestampPath '${state.TimestampPath}' must give an RFC 3339 timestamp.`);
      }
      until = Date.parse(got.value);
    }
    // Without simulated time the Wait is checked as AWS would check it, but takes no time.
    if (this.#instant) {
      if (this.#options.waitMs) await new Promise((resolve) => setTimeout(resolve, this.#options.waitMs));
      return;
    }
    if (until > now) await this.scheduler.sleepUntil(until, scope);
  }

  /** Task, Map, Parallel: attempts under the Retry policy, then Catch. */
  async #runRetryable(ex: Execution, name: string, state: Json, input: unknown, scope: CancelScope, enteredMs: number, next: string | undefined): Promise<{ output: unknown; next?: string }> {
    const retriers = (state.Retry ?? []) as Json[];
    const attempts = retriers.map(() => 0);
    let retryCount = 0;
    for (;;) {
      const ctx = this.#context(ex, state, name, enteredMs, retryCount);
      try {
        const effective = this.#effectiveInput(ex, state, input, ctx, name);
        let result: unknown;
        if (state.Type === 'Task') result = await this.#runTask(ex, name, state, effective, ctx, scope, retryCount);
        else if (state.Type === 'Map') result = await this.#runMap(ex, name, state, effective, ctx, scope);
        else result = await this.#runParallel(ex, name, state, effective, scope);
        const output = this.#stateOutput(ex, state, input, result, ctx, name);
        this.#record(ex, scope, 1); // <Type>StateExited
        return { output, next };
      } catch (thrown) {
        if (thrown instanceof CancelledError || !(thrown instanceof StatesError)) throw thrown;
        if (thrown.kind === 'runtime') throw thrown;
        const r = retriers.findIndex((retrier) => matches(retrier.ErrorEquals, thrown, state.Type));
        if (r >= 0 && attempts[r]! < (retriers[r].MaxAttempts ?? 3)) {
          const seconds = retryDelaySeconds(retriers[r], attempts[r]!, this.#jitter);
          attempts[r]!++;
          retryCount++;
          ex.retries++;
          await this.#pause(seconds, scope);
          continue;
        }
        const catcher = ((state.Catch ?? []) as Json[]).find((c) => matches(c.ErrorEquals, thrown, state.Type));
        if (!catcher) throw thrown;
        const output = applyResultPath(catcher.ResultPath, input, { Error: thrown.error, Cause: thrown.message }, name);
        if (output !== input) this.#measure(ex, output, () => `The state '${name}' has an output (after Catch) with a size exceeding the maximum number of bytes service limit`);
        this.#record(ex, scope, 1); // <Type>StateExited
        return { output, next: catcher.Next };
      }
    }
  }

  async #pause(seconds: number, scope: CancelScope): Promise<void> {
    if (this.#instant) {
      if (this.#options.retryMs) await new Promise((resolve) => setTimeout(resolve, this.#options.retryMs));
      return;
    }
    if (seconds > 0) await this.scheduler.sleep(seconds, scope);
  }

  #taskContext(ex: Execution, stateName: string, retryCount: number): TaskContext {
    return {
      now: () => this.clock.now(),
      sleep: (seconds) => this.scheduler.sleep(seconds),
      sleepUntil: (when) => this.scheduler.sleepUntil(toMs(when)),
      executionArn: ex.arn,
      executionName: ex.name,
      stateName,
      retryCount,
    };
  }

  /** Runs a function as its own activity: a stop or a timeout leaves it running, and it lands later. */
  async #invoke(fn: SimTaskFunction, input: unknown, ctx: TaskContext, scope: CancelScope, timeoutSeconds: number | undefined): Promise<TaskOutcome> {
    const done = new Signal<TaskOutcome>(this.scheduler);
    const taskSeconds = this.#options.taskSeconds ?? 0;
    this.scheduler.fork(async () => {
      try {
        const value = await fn(input as never, ctx);
        if (taskSeconds > 0) await this.scheduler.sleep(taskSeconds);
        done.fire({ kind: 'ok', value });
      } catch (error) {
        done.fire({ kind: 'error', error });
      }
    });
    const timer = timeoutSeconds !== undefined && !this.#instant
      ? this.scheduler.spawnAt(this.scheduler.nowMs() + timeoutSeconds * 1000, () => done.fire({ kind: 'timeout' }))
      : undefined;
    try {
      return await this.scheduler.wait(done, scope);
    } finally {
      timer?.cancel();
    }
  }

  #timeoutSeconds(state: Json, input: unknown, ctx: Json, name: string): number | undefined {
    if (state.TimeoutSeconds !== undefined) return Number(state.TimeoutSeconds);
    if (state.TimeoutSecondsPath !== undefined) {
      const got = queryPath(state.TimeoutSecondsPath, input, ctx);
      if (!got.found || typeof got.value !== 'number' || !(got.value >= 1)) throw runtimeError(`The TimeoutSecondsPath of state '${name}' must give a positive integer.`);
      return got.value;
    }
    return undefined;
  }

  async #runTask(ex: Execution, name: string, state: Json, effective: unknown, ctx: Json, scope: CancelScope, retryCount: number): Promise<unknown> {
    const resource = classifyResource(String(state.Resource))!;
    const timeoutSeconds = this.#timeoutSeconds(state, effective, ctx, name);
    if (resource.kind === 'startExecution') return this.#runStartExecution(ex, name, resource.mode, effective, scope, timeoutSeconds);
    let fnName: string;
    let payload: unknown = effective;
    if (resource.kind === 'lambda') fnName = resource.fn;
    else {
      const params = effective as Json;
      if (typeof params?.FunctionName !== 'string') throw new StatesError('States.Runtime', `state '${name}': lambda:invoke needs Parameters.FunctionName`, 'runtime');
      fnName = functionNameOf(params.FunctionName);
      payload = params.Payload ?? {};
    }
    const fn = this.#options.tasks[fnName];
    if (!fn) throw new Error(`no local implementation for ${fnName} (used by ${name})`);
    // A Lambda gets its event as JSON and its own copy of it.
    const inputCopy = JSON.parse(this.#measure(ex, payload, () => `The state '${name}' has an input with a size exceeding the maximum number of bytes service limit`));
    this.#record(ex, scope, 2); // LambdaFunctionScheduled + LambdaFunctionStarted (TaskScheduled + TaskStarted)
    const outcome = await this.#invoke(fn, inputCopy, this.#taskContext(ex, name, retryCount), scope, timeoutSeconds);
    this.#record(ex, scope, 1); // …Succeeded / …Failed / …TimedOut
    if (outcome.kind === 'timeout') throw new StatesError('States.Timeout', `The task '${name}' ran longer than its TimeoutSeconds (${timeoutSeconds} s).`);
    if (outcome.kind === 'error') throw lambdaFailure(outcome.error);
    const text = this.#measure(ex, outcome.value ?? null, () => `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit`);
    const value = JSON.parse(text);
    if (value !== null && typeof value === 'object') measuredText.set(value, text);
    if (resource.kind === 'lambda') return value;
    return lambdaInvokeResult(value, uuidFrom(this.#ids), text);
  }

  async #runStartExecution(ex: Execution, name: string, mode: 'async' | 'sync' | 'sync2', effective: unknown, scope: CancelScope, timeoutSeconds: number | undefined): Promise<unknown> {
    const params = (effective ?? {}) as Json;
    this.#record(ex, scope, 2); // TaskScheduled + TaskStarted
    const fail = (error: string, cause: string) => {
      this.#record(ex, scope, 1); // TaskFailed
      return new StatesError(error, cause);
    };
    const machine = [...this.#machines.values()].find((m) => m.arn === params.StateMachineArn);
    if (!machine) throw fail('StepFunctions.StateMachineDoesNotExistException', `State Machine Does Not Exist: '${params.StateMachineArn}' (Service: AWSStepFunctions; Status Code: 400)`);
    let inputText: string;
    let input: unknown;
    if (typeof params.Input === 'string') {
      inputText = params.Input;
      try {
        input = JSON.parse(params.Input);
      } catch {
        throw fail('StepFunctions.InvalidExecutionInputException', `Invalid Execution Input: the Input string is not JSON (Service: AWSStepFunctions; Status Code: 400)`);
      }
    } else {
      input = params.Input ?? {};
      inputText = JSON.stringify(input);
    }
    const childName = params.Name === undefined ? uuidFrom(this.#ids) : String(params.Name);
    const child = this.#start(machine, childName, inputText, input, ex);
    if (child instanceof Error) {
      throw fail(`StepFunctions.${child.name}Exception`, `${child.message} (Service: AWSStepFunctions; Status Code: 400)`);
    }
    if (mode === 'async') {
      this.#record(ex, scope, 1); // TaskSucceeded
      return { ExecutionArn: child.arn, StartDate: child.startMs };
    }
    this.#record(ex, scope, 1); // TaskSubmitted
    ex.syncChildren.add(child);
    let timedOut = false;
    const timer = timeoutSeconds !== undefined && !this.#instant
      ? this.scheduler.spawnAt(this.scheduler.nowMs() + timeoutSeconds * 1000, () => {
        timedOut = true;
        this.#stop(child, 'States.Timeout', `The parent task '${name}' timed out`);
      })
      : undefined;
    try {
      await this.scheduler.wait(child.finished, scope);
    } catch (error) {
      // The parent (or its branch) stopped while the child ran: Step Functions stops the child too.
      if (error instanceof CancelledError) this.#stop(child, 'States.Aborted', `The parent execution ${ex.arn} stopped`);
      throw error;
    } finally {
      timer?.cancel();
      ex.syncChildren.delete(child);
    }
    if (timedOut) throw fail('States.Timeout', `The task '${name}' ran longer than its TimeoutSeconds (${timeoutSeconds} s); its child execution was stopped.`);
    const description = describeForTask(child, mode);
    if (child.status === 'SUCCEEDED') {
      this.#record(ex, scope, 1); // TaskSucceeded
      return description;
    }
    throw fail('States.TaskFailed', JSON.stringify(description));
  }

  async #runMap(ex: Execution, name: string, state: Json, effective: unknown, ctx: Json, scope: CancelScope): Promise<unknown[]> {
    const items = selectPath(state.ItemsPath ?? '$', effective, ctx, 'ItemsPath', name);
    if (!Array.isArray(items)) throw runtimeError(`An error occurred while executing the state '${name}'. The ItemsPath must give an array, not ${JSON.stringify(items)?.slice(0, 100)}.`);
    const processor = state.ItemProcessor ?? state.Iterator;
    const selector = state.ItemSelector ?? state.Parameters;
    let limit = Number(state.MaxConcurrency ?? 0);
    if (state.MaxConcurrencyPath !== undefined) limit = Number(queryPath(state.MaxConcurrencyPath, effective, ctx).value ?? 0);
    if (!(limit > 0)) limit = Infinity;
    this.#record(ex, scope, 1); // MapStateStarted
    const results = await this.#branches(ex, scope, items.length, limit, async (index, branchScope) => {
      const itemInput = selector === undefined
        ? items[index]
        : applyTemplate(selector, effective, this.#context(ex, state, name, this.scheduler.nowMs(), 0, { Index: index, Value: items[index] }), this.#intrinsics, name);
      this.#record(ex, branchScope, 1); // MapIterationStarted
      try {
        const out = await this.#runStates(ex, processor, processor.StartAt, itemInput, branchScope, false);
        this.#record(ex, branchScope, 1); // MapIterationSucceeded
        return out;
      } catch (error) {
        if (error instanceof StatesError && error.kind !== 'runtime') this.#record(ex, branchScope, 1); // MapIterationFailed
        throw error;
      }
    });
    this.#record(ex, scope, 1); // MapStateSucceeded
    return results;
  }

  async #runParallel(ex: Execution, _name: string, state: Json, effective: unknown, scope: CancelScope): Promise<unknown[]> {
    const branches = state.Branches as Json[];
    this.#record(ex, scope, 1); // ParallelStateStarted
    const results = await this.#branches(ex, scope, branches.length, Infinity, (index, branchScope) =>
      this.#runStates(ex, branches[index], branches[index].StartAt, effective, branchScope, false));
    this.#record(ex, scope, 1); // ParallelStateSucceeded
    return results;
  }

  /**
   * Runs `count` branches, at most `limit` at a time, each as its own activity under a child scope.
   * The first failure cancels the others (their running Lambdas still land) and is rethrown.
   */
  async #branches(ex: Execution, scope: CancelScope, count: number, limit: number, run: (index: number, scope: CancelScope) => Promise<unknown>): Promise<unknown[]> {
    const results: unknown[] = new Array(count);
    if (count === 0) return results;
    const branchScope = scope.child();
    const done = new Signal<StatesError | null>(this.scheduler);
    let nextIndex = 0;
    let active = 0;
    let finished = 0;
    const launch = () => {
      while (active < limit && nextIndex < count && !done.fired) {
        const index = nextIndex++;
        active++;
        this.scheduler.fork(async () => {
          try {
            results[index] = await run(index, branchScope);
            active--;
            if (++finished === count) done.fire(null);
            else launch();
          } catch (error) {
            active--;
            if (error instanceof CancelledError) return;
            if (!(error instanceof StatesError)) throw error;
            branchScope.cancel();
            done.fire(error);
          }
        });
      }
    };
    launch();
    let failure: StatesError | null;
    try {
      failure = await this.scheduler.wait(done, scope);
    } finally {
      branchScope.dispose();
    }
    if (failure) {
      if (failure.kind !== 'runtime') this.#record(ex, scope, 1); // MapStateFailed / ParallelStateFailed
      throw failure;
    }
    return results;
  }

  #emit(ex: Execution): void {
    const detail: ExecutionStatusDetail = {
      executionArn: ex.arn,
      stateMachineArn: ex.machine.arn,
      name: ex.name,
      status: ex.status,
      startDate: ex.startMs,
      stopDate: ex.stopMs ?? null,
      input: ex.inputText,
      inputDetails: { included: true },
      output: ex.status === 'SUCCEEDED' ? ex.outputText ?? null : null,
      outputDetails: ex.status === 'SUCCEEDED' ? { included: true } : null,
      error: ex.error ?? null,
      cause: ex.cause ?? null,
      redriveCount: ex.redriveCount,
      redriveDate: ex.redriveMs ?? null,
      ...redriveStatus(ex, this.scheduler.nowMs()),
    };
    const event: ExecutionStatusEvent = {
      version: '0',
      id: uuidFrom(this.#ids),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: ACCOUNT_ID,
      time: iso(this.scheduler.nowMs()).replace(/\.\d{3}Z$/, 'Z'),
      region: REGION,
      resources: [ex.arn],
      detail,
    };
    const record: StatusEventRecord = { event, dropped: this.#options.dropStatusEvent?.(event) ?? false };
    this.statusEvents.push(record);
    const sink = this.#options.onStatusChange;
    if (record.dropped || !sink) return;
    this.scheduler.spawnAt(this.scheduler.nowMs() + (this.#options.statusEventDelaySeconds ?? 0) * 1000, async () => {
      record.deliveredAt = this.clock.now().toISOString();
      try {
        await sink(event, this.#simContext());
      } catch (error) {
        record.sinkError = error;
      }
    });
  }

  #result(ex: Execution): ExecutionResult {
    return {
      executionArn: ex.arn,
      stateMachineArn: ex.machine.arn,
      name: ex.name,
      status: ex.status,
      ...(ex.status === 'SUCCEEDED' ? { output: ex.output } : {}),
      ...(ex.error !== undefined ? { error: ex.error } : {}),
      ...(ex.cause !== undefined ? { cause: ex.cause } : {}),
      startDate: iso(ex.startMs),
      ...(ex.stopMs !== undefined ? { stopDate: iso(ex.stopMs) } : {}),
      states: ex.states,
      retries: ex.retries,
      redriveCount: ex.redriveCount,
      aws: { historyEvents: ex.history, maxStatePayloadBytes: ex.maxPayload },
      children: ex.children.map((c) => this.#result(c)),
    };
  }
}

function redriveStatus(ex: Execution, now: number): { redriveStatus: 'REDRIVABLE' | 'NOT_REDRIVABLE'; redriveStatusReason: string } {
  const no = (reason: string) => ({ redriveStatus: 'NOT_REDRIVABLE' as const, redriveStatusReason: reason });
  if (ex.status === 'RUNNING' || ex.status === 'SUCCEEDED') return no(`Execution is ${ex.status} and cannot be redriven`);
  if (ex.history >= REDRIVE_MAX_HISTORY_EVENTS) return no('Execution history event limit exceeded');
  if (now - ex.startMs >= MAX_EXECUTION_SECONDS * 1000) return no('Execution has exceeded the max execution time');
  return { redriveStatus: 'REDRIVABLE', redriveStatusReason: `Execution is ${ex.status} and can be redriven` };
}

/** Which errors a Retry / Catch ErrorEquals list matches (concepts-error-handling). */
function matches(errorEquals: string[], error: StatesError, stateType: string): boolean {
  return errorEquals.some((name) => {
    if (name === error.error) return true;
    if (error.kind !== 'normal') return false; // States.ALL / TaskFailed never match DataLimitExceeded or runtime errors
    if (name === 'States.ALL') return true;
    return name === 'States.TaskFailed' && stateType === 'Task' && error.error !== 'States.Timeout';
  });
}

/** A function's exception as Step Functions reports it: Error = its type, Cause = the runtime's JSON. */
function lambdaFailure(thrown: unknown): StatesError {
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  const errorType = error.name || 'Error';
  const cause = JSON.stringify({ errorType, errorMessage: error.message, trace: (error.stack ?? `${errorType}: ${error.message}`).split('\n') });
  return new StatesError(errorType, cause);
}

/** What `arn:aws:states:::lambda:invoke` returns (the Invoke API's response, headers included). */
function lambdaInvokeResult(payload: unknown, requestId: string, payloadText: string): unknown {
  return {
    ExecutedVersion: '$LATEST',
    Payload: payload,
    SdkHttpMetadata: {
      AllHttpHeaders: {
        'X-Amz-Executed-Version': ['$LATEST'], 'x-amzn-Remapped-Content-Length': ['0'], Connection: ['keep-alive'], 'x-amzn-RequestId': [requestId],
        'Content-Length': [String(Buffer.byteLength(payloadText))], 'Content-Type': ['application/json'],
      },
      HttpHeaders: {
        Connection: 'keep-alive', 'Content-Length': String(Buffer.byteLength(payloadText)), 'Content-Type': 'application/json',
        'X-Amz-Executed-Version': '$LATEST', 'x-amzn-Remapped-Content-Length': '0', 'x-amzn-RequestId': requestId,
      },
      HttpStatusCode: 200,
    },
    SdkResponseMetadata: { RequestId: requestId },
    StatusCode: 200,
  };
}

/**
 * What a `.sync` / `.sync:2` startExecution task returns: DescribeExecution's fields, capitalized,
 * dates in epoch milliseconds; `.sync:2` parses Input and Output as JSON, `.sync` keeps strings.
 */
function describeForTask(child: Execution, mode: 'sync' | 'sync2'): Record<string, unknown> {
  const json = (text: string | undefined) => (text === undefined ? undefined : mode === 'sync2' ? JSON.parse(text) : text);
  const succeeded = child.status === 'SUCCEEDED';
  const redrive = redriveStatus(child, child.stopMs ?? child.startMs);
  return {
    ...(child.cause !== undefined ? { Cause: child.cause } : {}),
    ...(child.error !== undefined ? { Error: child.error } : {}),
    ExecutionArn: child.arn,
    Input: json(child.inputText),
    InputDetails: { Included: true },
    Name: child.name,
    ...(succeeded ? { Output: json(child.outputText), OutputDetails: { Included: true } } : {}),
    RedriveCount: child.redriveCount,
    RedriveStatus: redrive.redriveStatus,
    ...(redrive.redriveStatus === 'NOT_REDRIVABLE' ? { RedriveStatusReason: redrive.redriveStatusReason } : {}),
    StartDate: child.startMs,
    StateMachineArn: child.machine.arn,
    Status: child.status,
    StopDate: child.stopMs,
  };
}
