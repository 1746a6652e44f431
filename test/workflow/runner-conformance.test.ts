/**
 * The new runner takes the same path through the real rollout state machine as the runner it
 * replaced (aws-local-stepfunctions, a third-party ASL interpreter), for the same task answers:
 * same states in the same order, same retries, same output or error. Where the two differ on
 * purpose (AWS's shape of a Lambda error's Cause), the test says so.
 */
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { HISTORY_EVENTS } from '../../sim/aws-limits.ts';
import { loadDefinition, ROLLOUT_ASL, runWorkflow, type TaskFunction } from '../../sim/workflow-runner.ts';

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
  return Object.fromEntries([...loadDefinition().functions.keys()].map((fn) => [fn, answer]));
}

/** The runner this project used before: aws-local-stepfunctions with overrides, as it was wired. */
async function oldRunner(tasks: Record<string, TaskFunction>, name: string) {
  const { definition, functions } = loadDefinition();
  const taskResourceLocalHandlers: Record<string, TaskFunction> = {};
  const retryIntervalOverrides: Record<string, number> = {};
  for (const [fn, states] of functions) for (const s of states) [taskResourceLocalHandlers[s], retryIntervalOverrides[s]] = [tasks[fn]!, 0];
  const waitTimeOverrides = Object.fromEntries(Object.entries(definition.States as Record<string, { Type: string }>).filter(([, s]) => s.Type === 'Wait').map(([n]) => [n, 0]));
  const execution = new StateMachine(definition).run({ stages: [1, 100] } as never, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: { Execution: { Id: `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`, Name: name } },
  } as never);
  const states: string[] = [];
  let retries = 0;
  const follow = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') states.push(event.state.name);
      else if (event.type === 'StateRetried') retries++;
    }
  })();
  try {
    const output = await execution.result;
    await follow;
    return { status: 'SUCCEEDED', output, states, retries };
  } catch (error) {
    await follow.catch(() => undefined);
    if (!(error instanceof ExecutionError)) throw error;
    const cause = error.cause as Error;
    return { status: 'FAILED', error: cause.name, cause: cause.message, states, retries };
  }
}

const PAST = { wait: { until: '2020-01-01T00:00:00Z' } };
const scripts: Record<string, Step[]> = {
  'promoted after a gate and a throttled analysis': [
    {}, // Preflight
    { next: 'AWAIT_APPROVAL', ...PAST }, // ShiftTraffic → WaitForApproval
    { next: 'SHIFT' }, // CheckApproval → ShiftTraffic
    { next: 'WAIT_SYNC', ...PAST }, // ShiftTraffic → WaitForSync
    { next: 'BAKE', ...PAST }, // CheckSync → Bake
    { throw: 'Throttled' }, // Analyze, retried
    { next: 'SHIFT' }, // Analyze → ShiftTraffic
    { next: 'WAIT_SYNC', ...PAST },
    { next: 'CONCLUDE' }, // CheckSync → Conclude
    { outcome: 'PROMOTED' }, // Conclude → Promoted
  ],
  'rolled back after an analysis error': [
    {},
    { next: 'WAIT_SYNC', ...PAST },
    { next: 'BAKE', ...PAST },
    { throw: 'MetricsUnavailable' }, // Analyze → Catch → Rollback
    { ...PAST }, // Rollback → WaitForRollbackSync
    { next: 'WAIT_SYNC', ...PAST }, // CheckRollbackSync → WaitForRollbackSync
    { next: 'IN_SYNC' }, // CheckRollbackSync → Conclude
    { outcome: 'ROLLED_BACK' }, // Conclude → VerifyRecovery
    { next: 'WAIT_RECOVERY', ...PAST }, // VerifyRecovery → WaitForRecovery
    { next: 'RECOVERED', summary: 'rolled back: error-rate' }, // VerifyRecovery → RolledBack
  ],
  'refused at preflight': [{ throw: 'ConfigInvalid' }],
};

describe('the new runner against the one it replaced, on the real rollout state machine', () => {
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
    // History: 2 for the execution, 5 per Task, 1 per Fail, 2 per other state, 3 per retry.
    const types = new Map(Object.entries(loadDefinition().definition.States as Record<string, { Type: string }>).map(([n, s]) => [n, s.Type]));
    const perState = after.states.reduce((sum, s) => sum + (types.get(s) === 'Task' ? 5 : types.get(s) === 'Fail' ? 1 : 2), 0);
    expect(after.aws.historyEvents).toBe(HISTORY_EVENTS.execution + perState + HISTORY_EVENTS.lambdaAttempt * after.retries);
  });
});
