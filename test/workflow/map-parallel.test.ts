/**
 * Parallel and inline Map states: branches and iterations run concurrently in simulated time
 * (Map within its MaxConcurrency), their events count in the parent's history, and the first
 * failure fails the state (the other iterations are abandoned; a Lambda already running still lands).
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../sim/clock.ts';
import type { SimTaskFunction } from '../../sim/sfn-sim.ts';
import { runWorkflow } from '../../sim/workflow-runner.ts';

const FAN_OUT = new URL('../fixtures/asl/fan-out.asl.json', import.meta.url);
const START = new Date('2026-01-01T00:00:00Z');

function setUp(failTarget?: string) {
  const log: string[] = [];
  const work: SimTaskFunction = async (input, ctx) => {
    const { target, side } = input as { target?: string; side?: string };
    await ctx.sleep(10);
    log.push(`${(ctx.now().getTime() - START.getTime()) / 1000}s ${target ?? side}`);
    if (target && target === failTarget) throw Object.assign(new Error(`${target} refused`), { name: 'Refused' });
    return { done: target ?? side };
  };
  const run = () => runWorkflow({ file: FAN_OUT, executionName: 'f', input: { targets: ['a', 'b', 'c'] }, tasks: { WorkFunctionArn: work }, clock: new SimClock(START) });
  return { log, run };
}

describe('Parallel and Map', () => {
  it('runs branches together and iterations two at a time, and counts every event in the parent history', async () => {
    // Prepare
    const { log, run } = setUp();

    // Act
    const result = await run();

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ both: [{ done: 'left' }, 'right'], shifted: [{ done: 'a' }, { done: 'b' }, { done: 'c' }] });
    expect(log).toEqual(['10s left', '20s a', '20s b', '30s c']);
    // 2 + Parallel (4 + Left 5 + Right 2) + Map (4 + 3 × (2 + Shift 5)) + Done 2
    expect(result.aws.historyEvents).toBe(2 + (4 + 5 + 2) + (4 + 3 * 7) + 2);
  });

  it('fails the Map at the first failed iteration and catches it; the iteration already running still lands', async () => {
    // Prepare
    const { log, run } = setUp('a');

    // Act
    const result = await run();

    // Assess: a fails at 20 s while b is running; c never starts.
    expect(result.status).toBe('SUCCEEDED');
    expect((result.output as { error: { Error: string } }).error.Error).toBe('Refused');
    expect(result.stopDate).toBe('2026-01-01T00:00:20.000Z');
    expect(log).toEqual(['10s left', '20s a', '20s b']);
    expect(result.states.filter((s) => s === 'Shift')).toHaveLength(2);
  });
});

describe('Task kinds', () => {
  it('shapes a lambda:invoke result as the Invoke API does, and times a Lambda out at its TimeoutSeconds while it runs on', async () => {
    // Prepare: the function sleeps what it is asked (the Invoke payload) or 60 s.
    const log: string[] = [];
    const work: SimTaskFunction = async (input, ctx) => {
      const seconds = (input as { seconds?: number }).seconds ?? 60;
      await ctx.sleep(seconds);
      log.push(`${(ctx.now().getTime() - START.getTime()) / 1000}s slept ${seconds}`);
      return { slept: seconds };
    };
    const clock = new SimClock(START);

    // Act
    const result = await runWorkflow({ file: new URL('../fixtures/asl/task-kinds.asl.json', import.meta.url), executionName: 'k', input: { seconds: 5 }, tasks: { WorkFunctionArn: work }, clock });

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ invoked: { value: { slept: 5 }, status: 200 }, error: { Error: 'States.Timeout' } });
    expect(result.states).toEqual(['Invoke', 'Slow', 'TimedOut', 'Done']);
    expect(result.stopDate).toBe('2026-01-01T00:00:35.000Z'); // 5 s + the 30 s timeout
    expect(log).toEqual(['5s slept 5', '65s slept 60']); // the timed-out Lambda still ran to its end
    // 2 + Invoke 5 + Slow (Entered, Scheduled, Started, TimedOut, Exited) 5 + TimedOut 2 + Done 2
    expect(result.aws.historyEvents).toBe(16);
  });
});
