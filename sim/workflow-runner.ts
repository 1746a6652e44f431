/**
 * Runs the real `statemachines/rollout.asl.json` in-process with aws-local-stepfunctions:
 * every Task state is bound, by the function it names in `DefinitionSubstitutions`
 * (`${AnalyzeFunctionArn}` → `AnalyzeFunctionArn`), to a local function; Wait states and
 * retry pauses are shortened. Used by the simulator, the CLI and the workflow tests, so the
 * file that is deployed is the file that is exercised.
 */
import { readFileSync } from 'node:fs';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';

export const ROLLOUT_ASL = new URL('../statemachines/rollout.asl.json', import.meta.url);
export const SEGMENT_ASL = new URL('../statemachines/rollout-segment.asl.json', import.meta.url);
/** The child state machines the rollout's definition starts, by their substitution name. */
export const CHILD_MACHINES: Record<string, URL> = { SegmentStateMachineArn: SEGMENT_ASL };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Definition = any;
export type TaskFunction = (input: never) => Promise<unknown>;

export interface WorkflowRun {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  cause?: string;
  /** States entered, in order. */
  states: string[];
  /** Task retries the workflow's Retry policies made. */
  retries: number;
}

/** Loads an ASL file with its `${Name}` substitutions replaced by placeholder Lambda ARNs. */
export function loadDefinition(file: URL | string = ROLLOUT_ASL): { definition: Definition; functions: Map<string, string[]>; children: Map<string, string[]> } {
  const text = readFileSync(file, 'utf8');
  const definition = JSON.parse(text.replace(/\$\{(\w+)\}/g, (_m, name: string) => (name.endsWith('StateMachineArn')
    ? `arn:aws:states:us-east-1:123456789012:stateMachine:${name}`
    : `arn:aws:lambda:us-east-1:123456789012:function:${name}`)));
  const functions = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  const visit = (states: Record<string, Definition>) => {
    for (const [stateName, state] of Object.entries(states)) {
      if (state.Type === 'Task') {
        const fn = String(state.Resource).split(':function:')[1];
        if (fn) functions.set(fn, [...(functions.get(fn) ?? []), stateName]);
        const machine = String(state.Parameters?.StateMachineArn ?? '').split(':stateMachine:')[1];
        if (String(state.Resource).startsWith('arn:aws:states:::states:startExecution') && machine) {
          children.set(machine, [...(children.get(machine) ?? []), stateName]);
        }
      }
      for (const branch of state.Branches ?? []) visit(branch.States);
      if (state.Iterator) visit(state.Iterator.States);
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
    }
  };
  visit(definition.States);
  return { definition, functions, children };
}

export interface RunWorkflowOptions {
  input: unknown;
  /** Local implementation of each function named in the definition, by substitution name. */
  tasks: Record<string, TaskFunction>;
  executionName: string;
  /** Milliseconds each Wait state really waits (default 0). */
  waitMs?: number;
  /** Milliseconds each retry pause really waits (default 0). */
  retryMs?: number;
  file?: URL | string;
  /** Called as each state is entered (for progress output). */
  onState?: (stateName: string, type: string) => void;
}

export async function runWorkflow(options: RunWorkflowOptions): Promise<WorkflowRun> {
  const { definition, functions, children } = loadDefinition(options.file);
  const taskResourceLocalHandlers: Record<string, (input: never) => Promise<unknown>> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [fn, stateNames] of functions) {
    const impl = options.tasks[fn];
    if (!impl) throw new Error(`no local implementation for ${fn} (used by ${stateNames.join(', ')})`);
    for (const s of stateNames) {
      taskResourceLocalHandlers[s] = impl;
      retryIntervalOverrides[s] = options.retryMs ?? 0;
    }
  }
  // A `.sync:2` child execution runs its own definition here, with the same tasks; its result is
  // shaped as Step Functions returns it (Output parsed), and its failure is States.TaskFailed.
  for (const [machine, stateNames] of children) {
    const file = CHILD_MACHINES[machine];
    if (!file) throw new Error(`no local definition for the child state machine ${machine} (used by ${stateNames.join(', ')})`);
    for (const s of stateNames) {
      retryIntervalOverrides[s] = options.retryMs ?? 0;
      taskResourceLocalHandlers[s] = async (input: { Name?: string; Input?: unknown }) => {
        const child = await runWorkflow({ ...options, file, input: input.Input, executionName: input.Name ?? `${options.executionName}-child` });
        childRuns.push(child);
        if (child.status !== 'SUCCEEDED') {
          throw Object.assign(new Error(JSON.stringify({ Error: child.error, Cause: child.cause, Status: 'FAILED' })), { name: 'States.TaskFailed' });
        }
        return { Output: child.output, Status: 'SUCCEEDED', Name: input.Name };
      };
    }
  }
  const childRuns: WorkflowRun[] = [];
  const waitTimeOverrides = Object.fromEntries(
    Object.entries(definition.States as Record<string, Definition>).filter(([, s]) => s.Type === 'Wait').map(([n]) => [n, options.waitMs ?? 0]),
  );
  // TimeoutSeconds is a simulated-time matter: the runner's wall-clock timer would misread it.
  const { TimeoutSeconds: _timeout, ...untimed } = definition;
  const machine = new StateMachine(untimed);
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${options.executionName}`;
  const execution = machine.run(options.input as never, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: { Execution: { Id: executionArn, Name: options.executionName } },
  } as never);
  const states: string[] = [];
  let retries = 0;
  const follow = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') {
        states.push(event.state.name);
        options.onState?.(event.state.name, event.state.type);
      } else if (event.type === 'StateRetried') {
        retries++;
      }
    }
  })();
  try {
    const output = await execution.result;
    await follow;
    return { status: 'SUCCEEDED', output, states: [...states, ...childRuns.flatMap((c) => c.states)], retries: retries + childRuns.reduce((n, c) => n + c.retries, 0) };
  } catch (error) {
    await follow.catch(() => undefined);
    if (error instanceof ExecutionError) {
      const cause = error.cause as Error | undefined;
      return { status: 'FAILED', error: cause?.name ?? 'Error', cause: cause?.message ?? error.message, states: [...states, ...childRuns.flatMap((c) => c.states)], retries: retries + childRuns.reduce((n, c) => n + c.retries, 0) };
    }
    throw error;
  }
}
