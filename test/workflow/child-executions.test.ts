/**
 * Child executions started by `arn:aws:states:::states:startExecution.sync:2` (and `.sync`): each
 * child is an execution of its own (history, payloads, TimeoutSeconds), the parent's task gets
 * DescribeExecution's fields, a failed child fails the task with States.TaskFailed, and stopping
 * the parent stops the child.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../sim/clock.ts';
import { StepFunctionsSim, type ExecutionStatusEvent, type SimTaskFunction } from '../../sim/sfn-sim.ts';
import { runWorkflow } from '../../sim/workflow-runner.ts';

const fixture = (name: string) => new URL(`../fixtures/asl/${name}.asl.json`, import.meta.url);
const START = new Date('2026-01-01T00:00:00Z');
const SEGMENT_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:SegmentStateMachine';

/** The segment's task: 5 simulated seconds of work; fails when the segment's input says so. */
const work: SimTaskFunction = async (input, ctx) => {
  await ctx.sleep(5);
  if ((input as { fail?: boolean }).fail) throw Object.assign(new Error('the segment broke'), { name: 'SegmentBroke' });
  return { at: ctx.now().toISOString() };
};

const runParent = (input: Record<string, unknown>, clock = new SimClock(START)) => runWorkflow({
  file: fixture('parent'), stateMachineName: 'Rollout', executionName: 'r1', input, clock,
  tasks: { WorkFunctionArn: work }, stateMachines: { SegmentStateMachineArn: fixture('segment') },
});

describe('a .sync:2 child execution', () => {
  it('runs the child as its own execution and returns its description, Output parsed', async () => {
    // Act
    const run = await runParent({ fail: false });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    const segment = (run.output as { segment: Record<string, unknown> }).segment;
    expect(segment).toMatchObject({
      ExecutionArn: 'arn:aws:states:us-east-1:123456789012:execution:SegmentStateMachine:r1-segment-1',
      Name: 'r1-segment-1',
      StateMachineArn: SEGMENT_ARN,
      Status: 'SUCCEEDED',
      Input: { fail: false, AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID: run.executionArn },
      Output: { fail: false, first: { at: '2026-01-01T00:00:05.000Z' }, second: { at: '2026-01-01T00:01:10.000Z' } },
      StartDate: START.getTime(),
      StopDate: START.getTime() + 70_000,
    });
    // Parent: 2 + Mode (Choice) 2 + RunSegment (Entered, Scheduled, Started, Submitted, Succeeded, Exited) 6 + Done 2.
    expect(run.aws.historyEvents).toBe(12);
    // Child: 2 + Work 5 + Pause 2 + WorkAgain 5.
    expect(run.children).toHaveLength(1);
    expect(run.children[0]).toMatchObject({ name: 'r1-segment-1', status: 'SUCCEEDED', aws: { historyEvents: 14 } });
    expect(run.children[0]!.aws.maxStatePayloadBytes).toBeGreaterThan(0);
    expect(run.stopDate).toBe('2026-01-01T00:01:10.000Z');
  });

  it("fails the parent's task with States.TaskFailed and the child's description as Cause, which the parent can catch", async () => {
    // Act
    const run = await runParent({ fail: true });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.states).toEqual(['Mode', 'RunSegment', 'SegmentFailed', 'Done']);
    const error = (run.output as { error: { Error: string; Cause: string } }).error;
    expect(error.Error).toBe('States.TaskFailed');
    const description = JSON.parse(error.Cause);
    expect(description).toMatchObject({ Status: 'FAILED', Error: 'SegmentBroke', Name: 'r1-segment-1', Input: { fail: true }, RedriveStatus: 'REDRIVABLE' });
    expect(description.Output).toBeUndefined();
    // The child's own Cause is what Lambda reports: the runtime's JSON.
    expect(JSON.parse(description.Cause)).toMatchObject({ errorType: 'SegmentBroke', errorMessage: 'the segment broke' });
    expect(run.children[0]).toMatchObject({ status: 'FAILED', error: 'SegmentBroke' });
  });

  it('returns Input and Output as JSON strings with .sync', async () => {
    // Act
    const run = await runParent({ fail: false, mode: 'sync' });

    // Assess
    const segment = (run.output as { segment: { Input: unknown; Output: unknown; Name: string } }).segment;
    expect(typeof segment.Input).toBe('string');
    expect(JSON.parse(segment.Output as string)).toMatchObject({ first: { at: '2026-01-01T00:00:05.000Z' } });
    expect(segment.Name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/); // no Name: a UUID
  });

  it('stops the running child when the parent is stopped', async () => {
    // Prepare
    const clock = new SimClock(START);
    const events: ExecutionStatusEvent[] = [];
    const sim = new StepFunctionsSim({
      clock, tasks: { WorkFunctionArn: work }, stateMachines: { SegmentStateMachineArn: fixture('segment') },
      onStatusChange: (event) => void events.push(event),
    });
    const parent = sim.startExecution({ file: fixture('parent'), stateMachineName: 'Rollout', name: 'r1', input: { fail: false } });

    // Act: at 30 s the child is in its one-minute Wait.
    parent.stop({ at: new Date(START.getTime() + 30_000), error: 'Aborted', cause: 'by hand' });
    await sim.run();

    // Assess
    const [result] = sim.results();
    expect(result).toMatchObject({ status: 'ABORTED', error: 'Aborted', cause: 'by hand', stopDate: '2026-01-01T00:00:30.000Z' });
    expect(result!.children[0]).toMatchObject({ status: 'ABORTED', stopDate: '2026-01-01T00:00:30.000Z', states: ['Work', 'Pause'] });
    expect(events.map((e) => `${e.detail.name}:${e.detail.status}`)).toEqual(['r1:RUNNING', 'r1-segment-1:RUNNING', 'r1:ABORTED', 'r1-segment-1:ABORTED']);
    expect(clock.now().toISOString()).toBe('2026-01-01T00:00:30.000Z'); // nothing ran after the stop
  });

  it("enforces the child's own TimeoutSeconds", async () => {
    // Prepare: the segment's work takes 11 minutes > its 600 s timeout.
    const slow: SimTaskFunction = async (_input, ctx) => ctx.sleep(660);

    // Act
    const run = await runWorkflow({
      file: fixture('parent'), executionName: 'r1', input: { fail: false }, clock: new SimClock(START),
      tasks: { WorkFunctionArn: slow }, stateMachines: { SegmentStateMachineArn: fixture('segment') },
    });

    // Assess
    expect(run.children[0]).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout', stopDate: '2026-01-01T00:10:00.000Z' });
    expect((run.output as { error: { Error: string } }).error.Error).toBe('States.TaskFailed');
  });

  it('makes a redriven parent fail to start its child again under the same name (a closed name cannot be reused)', async () => {
    // Prepare: the segment fails once, so the parent fails; then the cause is fixed.
    let broken = true;
    const flaky: SimTaskFunction = async (input, ctx) => work({ fail: broken } as never, ctx);
    const sim = new StepFunctionsSim({ clock: new SimClock(START), tasks: { WorkFunctionArn: flaky }, stateMachines: { SegmentStateMachineArn: fixture('segment') } });
    const parent = sim.startExecution({ file: fixture('parent-strict'), name: 'r1', input: { fail: false } });
    await sim.run();
    broken = false;

    // Act
    parent.redrive();
    await sim.run();

    // Assess
    const result = parent.result();
    expect(result).toMatchObject({ status: 'FAILED', error: 'StepFunctions.ExecutionAlreadyExistsException', redriveCount: 1 });
    expect(result.cause).toContain('execution:SegmentStateMachine:r1-segment-1');
    expect(result.children.map((c) => c.status)).toEqual(['FAILED']); // no second child was started
  });

  it('answers a repeated StartExecution like AWS: the running execution for the same input, an error otherwise', async () => {
    // Prepare
    const sim = new StepFunctionsSim({ clock: new SimClock(START), tasks: { WorkFunctionArn: work } });
    const first = sim.startExecution({ file: fixture('segment'), stateMachineName: 'Seg', name: 's1', input: { fail: false } });

    // Act + Assess
    expect(sim.startExecution({ stateMachine: 'Seg', name: 's1', input: { fail: false } })).toBe(first);
    expect(() => sim.startExecution({ stateMachine: 'Seg', name: 's1', input: { fail: true } })).toThrow(/Execution Already Exists/);
    await sim.run();
    expect(() => sim.startExecution({ stateMachine: 'Seg', name: 's1', input: { fail: false } })).toThrow(/Execution Already Exists/);
    expect(() => sim.startExecution({ stateMachine: 'Seg', name: 'has space', input: {} })).toThrow(/Invalid Name/);
  });

  it('starts a successor without waiting with the request-response integration (continue-as-new)', async () => {
    // Act
    const run = await runWorkflow({
      file: fixture('continue-as-new'), executionName: 'r1', input: {}, clock: new SimClock(START),
      tasks: { WorkFunctionArn: work }, stateMachines: { SegmentStateMachineArn: fixture('segment') },
    });

    // Assess: the parent ends at once; the successor runs on by itself.
    expect(run).toMatchObject({ status: 'SUCCEEDED', stopDate: START.toISOString() });
    expect((run.output as { next: unknown }).next).toEqual({
      ExecutionArn: 'arn:aws:states:us-east-1:123456789012:execution:SegmentStateMachine:r1-next', StartDate: START.getTime(),
    });
    expect(run.aws.historyEvents).toBe(2 + 5); // Entered, Scheduled, Started, Succeeded, Exited
    expect(run.children[0]).toMatchObject({ status: 'SUCCEEDED', stopDate: '2026-01-01T00:01:10.000Z' });
  });

  it('refuses a definition that starts a state machine nobody registered, naming the fix', () => {
    // Act + Assess
    expect(() => new StepFunctionsSim({ clock: new SimClock(START), tasks: { WorkFunctionArn: work } })
      .startExecution({ file: fixture('parent'), name: 'r1', input: {} })).toThrow(/stateMachines: \{ <Substitution>: <ASL file> \}/);
  });
});
