/**
 * StopExecution, RedriveExecution and the EventBridge status-change events, as AWS does them:
 * a stop ends the execution at once while a running Lambda still lands; a redrive resumes the
 * failed (or interrupted) state with its original input and keeps counting the same history;
 * status events reach the sink best effort.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../sim/clock.ts';
import { ExecutionNotRedrivable, StepFunctionsSim, type ExecutionStatusEvent, type SimTaskFunction } from '../../sim/sfn-sim.ts';
import { runWorkflow } from '../../sim/workflow-runner.ts';

const fixture = (name: string) => new URL(`../fixtures/asl/${name}.asl.json`, import.meta.url);
const START = new Date('2026-01-01T00:00:00Z');
const at = (seconds: number) => new Date(START.getTime() + seconds * 1000);
const since = (d: Date) => (d.getTime() - START.getTime()) / 1000;

describe('StopExecution', () => {
  it('ends the execution ABORTED at once, while the Lambda in flight runs on and its side effect lands after', async () => {
    // Prepare: First shifts traffic after 5 s; a safety net restores it on ABORTED.
    const world = { weight: 0, log: [] as string[] };
    const first: SimTaskFunction = async (_input, ctx) => {
      await ctx.sleep(5);
      world.weight = 5;
      world.log.push(`${since(ctx.now())}s shift landed`);
      return { shifted: true };
    };
    const second: SimTaskFunction = async () => void world.log.push('second ran');
    const sim = new StepFunctionsSim({
      clock: new SimClock(START), tasks: { FirstFunctionArn: first, SecondFunctionArn: second },
      onStatusChange: (event, ctx) => {
        if (event.detail.status !== 'ABORTED') return;
        world.weight = 0;
        world.log.push(`${since(ctx.now())}s net restored`);
      },
    });
    const execution = sim.startExecution({ file: fixture('two-steps'), name: 'e1', input: {} });

    // Act
    execution.stop({ at: at(2) });
    await sim.run();

    // Assess
    const result = execution.result();
    expect(result).toMatchObject({ status: 'ABORTED', stopDate: at(2).toISOString(), states: ['First'] });
    expect(result.output).toBeUndefined();
    expect(world.log).toEqual(['2s net restored', '5s shift landed']);
    expect(world.weight).toBe(5); // the race of issue 9: the late Lambda wins over the safety net
    // ExecutionStarted, TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted, TaskStateAborted, ExecutionAborted
    expect(result.aws.historyEvents).toBe(6);
  });
});

describe('RedriveExecution', () => {
  const setUp = (failSecondTimes: number) => {
    const calls = { first: 0, second: [] as unknown[] };
    const first: SimTaskFunction = async () => {
      calls.first++;
      return { from: 'first', n: calls.first };
    };
    const second: SimTaskFunction = async (input) => {
      calls.second.push(input);
      if (calls.second.length <= failSecondTimes) throw Object.assign(new Error('the zone is busy'), { name: 'Broken' });
      return { ...(input as object), second: true };
    };
    const events: ExecutionStatusEvent[] = [];
    const sim = new StepFunctionsSim({
      clock: new SimClock(START), tasks: { FirstFunctionArn: first, SecondFunctionArn: second }, onStatusChange: (e) => void events.push(e),
    });
    return { sim, calls, events, execution: sim.startExecution({ file: fixture('two-steps'), name: 'e1', input: { start: true } }) };
  };

  it('resumes from the failed state with its original input, same ARN, history counted on', async () => {
    // Prepare
    const { sim, calls, events, execution } = setUp(1);
    await sim.run();
    const failed = execution.result();

    // Act
    execution.redrive({ at: at(3600) });
    await sim.run();

    // Assess
    // 1 + First 5 + Second (entered + 3) + ExecutionFailed 1
    expect(failed).toMatchObject({ status: 'FAILED', error: 'Broken', aws: { historyEvents: 11 } });
    const redriven = execution.result();
    expect(redriven).toMatchObject({ status: 'SUCCEEDED', executionArn: failed.executionArn, redriveCount: 1, stopDate: at(3900).toISOString() });
    // + ExecutionRedriven 1 + Second 5 + Rest 2 + Done 2 + ExecutionSucceeded 1
    expect(redriven.aws.historyEvents).toBe(11 + 1 + 5 + 2 + 2 + 1);
    expect(calls.first).toBe(1); // the successful step is not run again
    expect(calls.second).toEqual([{ from: 'first', n: 1 }, { from: 'first', n: 1 }]);
    expect(redriven.states).toEqual(['First', 'Second', 'Second', 'Rest', 'Done']);
    expect(events.map((e) => [e.detail.status, e.detail.redriveCount])).toEqual([['RUNNING', 0], ['FAILED', 0], ['RUNNING', 1], ['SUCCEEDED', 1]]);
    expect(events[1]!.detail).toMatchObject({ redriveStatus: 'REDRIVABLE', error: 'Broken' });
  });

  it('resumes an ABORTED execution in the state that was running, which starts over', async () => {
    // Prepare: stopped 100 s into the 300 s Rest.
    const { sim, execution } = setUp(0);
    execution.stop({ at: at(100) });
    await sim.run();

    // Act
    execution.redrive({ at: at(1000) });
    await sim.run();

    // Assess
    expect(execution.result()).toMatchObject({ status: 'SUCCEEDED', stopDate: at(1300).toISOString(), states: ['First', 'Second', 'Rest', 'Rest', 'Done'] });
  });

  it('refuses what AWS refuses: a SUCCEEDED execution, 14 days after the end, a history at the quota', async () => {
    // Prepare
    const ok = setUp(0);
    await ok.sim.run();
    const late = setUp(1);
    await late.sim.run();
    const onTime = setUp(1);
    await onTime.sim.run();
    const step: SimTaskFunction = async (input) => ({ ...(input as object), i: (input as { i: number }).i + 1 });
    const loop = new StepFunctionsSim({ clock: new SimClock(START), tasks: { StepFunctionArn: step } });
    const full = loop.startExecution({ file: fixture('history-loop'), name: 'full', input: { n: 3570, i: 0, pad: 2 } });
    await loop.run();

    // Act + Assess
    expect(() => ok.execution.redrive()).toThrow(ExecutionNotRedrivable);
    expect(() => ok.execution.redrive()).toThrow(/SUCCEEDED and cannot be redriven/);
    await late.sim.run(at(14 * 24 * 3600 + 1));
    expect(() => late.execution.redrive()).toThrow(/redrivable period exceeded/);
    await onTime.sim.run(at(14 * 24 * 3600));
    expect(() => onTime.execution.redrive()).not.toThrow();
    expect(full.result()).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(() => full.redrive()).toThrow(/history event limit exceeded/);
  });
});

describe('status-change events', () => {
  it('carry the fields of EventBridge\'s "Step Functions Execution Status Change" detail, and can be lost', async () => {
    // Prepare: the FAILED event is lost on the way.
    const delivered: ExecutionStatusEvent[] = [];
    const broken: SimTaskFunction = async () => {
      throw Object.assign(new Error('no'), { name: 'Broken' });
    };

    // Act
    const sim = new StepFunctionsSim({
      clock: new SimClock(START), tasks: { FirstFunctionArn: broken, SecondFunctionArn: broken },
      onStatusChange: (e) => void delivered.push(e), dropStatusEvent: (e) => e.detail.status === 'FAILED',
    });
    sim.startExecution({ file: fixture('two-steps'), name: 'e1', input: { a: 1 } });
    await sim.run();

    // Assess
    expect(delivered.map((e) => e.detail.status)).toEqual(['RUNNING']);
    expect(sim.statusEvents.map((r) => [r.event.detail.status, r.dropped])).toEqual([['RUNNING', false], ['FAILED', true]]);
    const failed = sim.statusEvents[1]!.event;
    expect(failed).toMatchObject({ 'detail-type': 'Step Functions Execution Status Change', source: 'aws.states', resources: [failed.detail.executionArn] });
    expect(failed.detail).toMatchObject({
      executionArn: 'arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:e1',
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:CanaryRollout',
      name: 'e1', status: 'FAILED', input: '{"a":1}', output: null, error: 'Broken',
      startDate: START.getTime(), stopDate: START.getTime(),
    });
    expect(JSON.parse(failed.detail.cause!)).toMatchObject({ errorType: 'Broken', errorMessage: 'no' });
  });

  it('reach runWorkflow callers too, children included', async () => {
    // Prepare
    const seen: string[] = [];
    const work: SimTaskFunction = async () => ({});

    // Act
    await runWorkflow({
      file: fixture('parent'), executionName: 'p', input: { fail: false }, clock: new SimClock(START), tasks: { WorkFunctionArn: work },
      stateMachines: { SegmentStateMachineArn: fixture('segment') }, onStatusChange: (e) => void seen.push(`${e.detail.name}:${e.detail.status}`),
    });

    // Assess
    expect(seen).toEqual(['p:RUNNING', 'p-segment-1:RUNNING', 'p-segment-1:SUCCEEDED', 'p:SUCCEEDED']);
  });
});
