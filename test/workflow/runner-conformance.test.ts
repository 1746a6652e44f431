/**
 * The new runner takes the same path through the real rollout state machines (the rollout and its
 * segments) as the runner it
 * replaced (aws-local-stepfunctions, a third-party ASL interpreter), for the same task answers:
 * same states in the same order, same retries, same output or error. Where the two differ on
 * purpose (AWS's shape of a Lambda error's Cause), the test says so.
 */
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { HISTORY_EVENTS } from '../../sim/aws-limits.ts';
import { loadDefinition, ROLLOUT_ASL, runWorkflow, SEGMENT_ASL, type ExecutionResult, type TaskFunction } from '../../sim/workflow-runner.ts';

type Step = Record<string, unknown> & { throw?: string };

/** Every task answers the next step of the script: fields merged into its input, or an error thrown. */
function scripted(script: Step[]): Record<string, TaskFunction> {
  let k = 0;
  const answer: TaskFunction = async (input: never) => {
    const step = script[k++];
    if (!step) throw new Error(`the script ran out at step ${k}`);
    if (step.throw) throw Object.assign(new Error(`scripted ${step.throw}`), { name: step.throw });
    const { config, execution, ...rest } = input as Record<string, unknown> & { execution?: { id: string } };
    // Preflight gets {config, execution}: keep what does not depend on the wall clock.
    return execution ? { config, executionId: execution.id, ...step } : { ...rest, config, ...step };
  };
  const functions = [...loadDefinition(ROLLOUT_ASL, ['SegmentStateMachineArn']).functions.keys(), ...loadDefinition(SEGMENT_ASL).functions.keys()];
  return Object.fromEntries(functions.map((fn) => [fn, answer]));
}

interface OldRun { status: string; output?: unknown; error?: string; cause?: string; states: string[]; retries: number }

/**
 * The runner this project used before: aws-local-stepfunctions with overrides, as it was wired. It
 * has no child executions: a `startExecution.sync:2` Task is bound to a handler that runs the child
 * definition the same way and answers as Step Functions does (the child's output under Output; a
 * failed child is States.TaskFailed).
 */
async function oldRunner(tasks: Record<string, TaskFunction>, name: string, file: URL = ROLLOUT_ASL, input: unknown = { stages: [1, 100] }): Promise<OldRun> {
  const { definition, functions } = loadDefinition(file, ['SegmentStateMachineArn']);
  const taskResourceLocalHandlers: Record<string, (input: never) => Promise<unknown>> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [fn, states] of functions) for (const s of states) [taskResourceLocalHandlers[s], retryIntervalOverrides[s]] = [tasks[fn]!, 0];
  const children: OldRun[] = [];
  for (const [stateName, state] of Object.entries(definition.States as Record<string, { Type: string; Resource?: string }>)) {
    if (state.Type !== 'Task' || !String(state.Resource).startsWith('arn:aws:states:::states:startExecution')) continue;
    retryIntervalOverrides[stateName] = 0;
    taskResourceLocalHandlers[stateName] = async (params: never) => {
      const { Name, Input } = params as { Name: string; Input: unknown };
      const child = await oldRunner(tasks, Name, SEGMENT_ASL, Input);
      children.push(child);
      if (child.status !== 'SUCCEEDED') throw Object.assign(new Error(JSON.stringify({ Error: child.error, Cause: child.cause })), { name: 'States.TaskFailed' });
      return { Output: child.output, Status: 'SUCCEEDED', Name };
    };
  }
  const { TimeoutSeconds: _untimed, ...untimed } = definition;
  const waitTimeOverrides = Object.fromEntries(Object.entries(definition.States as Record<string, { Type: string }>).filter(([, s]) => s.Type === 'Wait').map(([n]) => [n, 0]));
  const execution = new StateMachine(untimed).run(input as never, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: { Execution: { Id: `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`, Name: name, RedriveCount: 0 } },
  } as never);
  const states: string[] = [];
  let retries = 0;
  const follow = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') states.push(event.state.name);
      else if (event.type === 'StateRetried') retries++;
    }
  })();
  const all = (own: string[]) => [...own, ...children.flatMap((c) => c.states)];
  const allRetries = () => retries + children.reduce((n, c) => n + c.retries, 0);
  try {
    const output = await execution.result;
    await follow;
    return { status: 'SUCCEEDED', output, states: all(states), retries: allRetries() };
  } catch (error) {
    await follow.catch(() => undefined);
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as Error;
    return { status: 'FAILED', error: cause.name, cause: cause.message, states: all(states), retries: allRetries() };
  }
}

const PAST = { wait: { until: '2020-01-01T00:00:00Z' } };
/** What preflight answers: the state the rollout's execution numbers its segments from. */
const STARTED = { next: 'SHIFT', segment: { no: 0, iterations: 0, handOver: false }, segmentPrefix: 'c1' };
const scripts: Record<string, Step[]> = {
  'promoted after a gate and a throttled analysis': [
    STARTED, // Preflight → NextSegment → RunSegment → Resume
    { next: 'AWAIT_APPROVAL', ...PAST }, // ShiftTraffic → WaitForApproval
    { next: 'SHIFT' }, // CheckApproval → ShiftTraffic
    { next: 'WAIT_SYNC', ...PAST }, // ShiftTraffic → WaitForSync
    { next: 'ANALYZE', ...PAST }, // CheckSync → Bake
    { throw: 'Throttled' }, // Analyze, retried
    { next: 'SHIFT' }, // Analyze → ShiftTraffic
    { next: 'WAIT_SYNC', ...PAST },
    { next: 'CONCLUDE' }, // CheckSync → Conclude
    { next: 'DONE', outcome: 'PROMOTED' }, // Conclude → Done; the rollout's execution → Promoted
  ],
  'rolled back after an analysis error': [
    STARTED,
    { next: 'WAIT_SYNC', ...PAST },
    { next: 'ANALYZE', ...PAST },
    { throw: 'MetricsUnavailable' }, // Analyze → Catch → Rollback
    { next: 'WAIT_SYNC', phase: 'ROLLING_BACK', ...PAST }, // Rollback → WaitForRollbackSync
    { next: 'WAIT_SYNC', ...PAST }, // CheckRollbackSync → WaitForRollbackSync
    { next: 'CONCLUDE' }, // CheckRollbackSync → Conclude
    { next: 'WAIT_RECOVERY', outcome: 'ROLLED_BACK' }, // Conclude → VerifyRecovery
    { next: 'WAIT_RECOVERY', ...PAST }, // VerifyRecovery → WaitForRecovery
    { next: 'DONE', summary: 'rolled back: error-rate' }, // VerifyRecovery → Done; the rollout's execution → RolledBack
  ],
  'handed over to a second segment': [
    STARTED,
    { next: 'WAIT_SYNC', ...PAST, segment: { no: 1, iterations: 1000, handOver: true } }, // ShiftTraffic → EndSegment
    { next: 'CONCLUDE' }, // (segment 2) CheckSync → Conclude
    { next: 'DONE', outcome: 'PROMOTED' },
  ],
  'refused at preflight': [{ throw: 'ConfigInvalid' }],
};

/** History events of one execution as AWS counts them, from the states it entered (children not included). */
function historyOf(run: ExecutionResult, types: Map<string, { Type: string; Resource?: string }>): number {
  const perState = run.states.reduce((sum, s) => {
    const state = types.get(s)!;
    if (state.Type === 'Task') return sum + HISTORY_EVENTS.taskStateBase + HISTORY_EVENTS.lambdaAttempt + (String(state.Resource).includes('.sync') ? HISTORY_EVENTS.syncAttemptExtra : 0);
    return sum + (state.Type === 'Fail' ? HISTORY_EVENTS.failState : HISTORY_EVENTS.simpleState);
  }, 0);
  return HISTORY_EVENTS.execution + perState + HISTORY_EVENTS.lambdaAttempt * run.retries;
}

describe('the new runner against the one it replaced, on the real rollout state machines', () => {
  it.each(Object.keys(scripts))('%s: same states, retries, status, output and error', async (label) => {
    // Act
    const before = await oldRunner(scripted(scripts[label]!), 'c1');
    const after = await runWorkflow({ input: { stages: [1, 100] }, executionName: 'c1', tasks: scripted(scripts[label]!), file: ROLLOUT_ASL });

    // Assess
    expect(after.states).toEqual(before.states);
    expect(after.retries).toBe(before.retries);
    expect(after.status).toBe(before.status);
    expect(after.output).toEqual(before.output);
    expect(after.error).toBe(before.error);
    if (after.cause !== before.cause) {
      // The one difference on purpose: AWS's Cause of a Lambda error is the runtime's JSON, not the bare message.
      expect(JSON.parse(after.cause!)).toMatchObject({ errorType: before.error, errorMessage: before.cause });
    }
    // History of each execution: 2 for it, 5 per Lambda Task (6 for a .sync one), 1 per Fail, 2 per other state, 3 per retry.
    const states = (file: URL) => new Map(Object.entries(loadDefinition(file, ['SegmentStateMachineArn']).definition.States as Record<string, { Type: string; Resource?: string }>));
    const parent = { ...after, name: 'c1', stateMachineArn: '', startDate: '', redriveCount: 0, states: after.states.slice(0, after.states.length - after.children.reduce((n, c) => n + c.states.length, 0)), retries: after.retries - after.children.reduce((n, c) => n + c.retries, 0) } as ExecutionResult;
    expect(after.aws.historyEvents).toBe(historyOf(parent, states(ROLLOUT_ASL)));
    for (const child of after.children) expect(child.aws.historyEvents).toBe(historyOf(child, states(SEGMENT_ASL)));
    if (label === 'handed over to a second segment') expect(after.children.map((c) => c.name)).toEqual(['c1-1-r0', 'c1-2-r0']);
  });
});
