/**
 * The local runner enforces Step Functions' quotas exactly at their boundaries, on small fixture
 * state machines: 25,000 history events, 262,144-byte payloads (States.DataLimitExceeded, which
 * States.ALL does not catch), TimeoutSeconds in simulated time, Waits and retry pauses in
 * simulated time.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../sim/clock.ts';
import { HISTORY_EVENT_LIMIT, PAYLOAD_LIMIT_BYTES } from '../../sim/aws-limits.ts';
import { StepFunctionsSim, type ExecutionStatusEvent, type SimTaskFunction } from '../../sim/sfn-sim.ts';
import { runWorkflow } from '../../sim/workflow-runner.ts';

const fixture = (name: string) => new URL(`../fixtures/asl/${name}.asl.json`, import.meta.url);
const START = new Date('2026-01-01T00:00:00Z');

describe('history events', () => {
  // history-loop: ExecutionStarted 1 + Start (Choice) 2 + 4 per pad (Pass 2 + Choice 2)
  // + 7 per step (Task 5 + Choice 2) + Done (Succeed) 2 + ExecutionSucceeded 1 = 6 + 4·pad + 7·n.
  const step: SimTaskFunction = async (input) => ({ ...(input as object), i: (input as { i: number }).i + 1 });
  const loop = (n: number, pad: number) => runWorkflow({
    file: fixture('history-loop'), executionName: `loop-${n}-${pad}`, input: { n, i: 0, pad }, tasks: { StepFunctionArn: step }, clock: new SimClock(START),
  });

  it('counts a Task as 5 events, a Choice and a Pass as 2, the execution as 2', async () => {
    // Act
    const run = await loop(3, 2);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.aws.historyEvents).toBe(6 + 4 * 2 + 7 * 3);
  });

  it('lets an execution end with exactly 25,000 events', async () => {
    // Act: 6 + 4·1 + 7·3570 = 25,000
    const run = await loop(3570, 1);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.aws.historyEvents).toBe(HISTORY_EVENT_LIMIT);
  });

  it('fails the execution with States.Runtime one event later, and a Catch on States.ALL does not catch it', async () => {
    // Act: 6 + 4·2 + 7·3570 = 25,004 events would be needed
    const run = await loop(3570, 2);

    // Assess
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('States.Runtime');
    expect(run.cause).toContain('exceeded the limit of 25000 history events');
    expect(run.aws.historyEvents).toBe(HISTORY_EVENT_LIMIT); // the last one is ExecutionFailed
    expect(run.states).not.toContain('Done');
  });

  it('counts each retry as 3 more events (Scheduled, Started, Failed)', async () => {
    // Prepare: the plain retrier fails 4 times then succeeds; the jittered one succeeds at once.
    const failures = { plain: 4, jittered: 0 };
    const flaky: SimTaskFunction = async (input) => {
      const which = (input as { which: 'plain' | 'jittered' }).which;
      if (failures[which]-- > 0) throw Object.assign(new Error('try again'), { name: 'Flaky' });
      return {};
    };

    // Act
    const run = await runWorkflow({ file: fixture('retries'), executionName: 'r', input: {}, tasks: { FlakyFunctionArn: flaky }, clock: new SimClock(START) });

    // Assess: 2 (execution) + Plain (2 + 5 attempts × 3) + Jittered (2 + 3)
    expect(run.status).toBe('SUCCEEDED');
    expect(run.retries).toBe(4);
    expect(run.aws.historyEvents).toBe(2 + (2 + 5 * 3) + (2 + 3));
  });
});

describe('payload size', () => {
  // The Grow task returns {"blob":"x…x"}: 11 bytes of JSON around the blob.
  const grow: SimTaskFunction = async (input) => ({ blob: 'x'.repeat((input as { bytes: number }).bytes - 11) });
  const run = (bytes: number, catchWith: 'all' | 'named') => runWorkflow({
    file: fixture('payload'), executionName: `p-${bytes}`, input: { bytes, catch: catchWith }, tasks: { GrowFunctionArn: grow }, clock: new SimClock(START),
  });

  it('accepts a task result of exactly 262,144 bytes and reports it as the largest payload', async () => {
    // Act
    const result = await run(PAYLOAD_LIMIT_BYTES, 'all');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.aws.maxStatePayloadBytes).toBe(PAYLOAD_LIMIT_BYTES);
  });

  it('fails at 262,145 bytes with States.DataLimitExceeded, which a Catch on States.ALL does not catch', async () => {
    // Act
    const result = await run(PAYLOAD_LIMIT_BYTES + 1, 'all');

    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.DataLimitExceeded');
    expect(result.states).toEqual(['Which', 'GrowCatchAll']);
    expect(result.aws.maxStatePayloadBytes).toBe(PAYLOAD_LIMIT_BYTES + 1);
  });

  it('is caught by a Catch that names States.DataLimitExceeded', async () => {
    // Act
    const result = await run(PAYLOAD_LIMIT_BYTES + 1, 'named');

    // Assess
    expect(result.status).toBe('SUCCEEDED');
    expect(result.states).toEqual(['Which', 'GrowCatchNamed', 'Caught', 'Done']);
    expect((result.output as { error: { Error: string } }).error.Error).toBe('States.DataLimitExceeded');
  });

  it('checks the execution input too: 262,144 bytes runs, one more fails before any state', async () => {
    // Prepare: {"bytes":11,"catch":"all","pad":"…"} is 35 bytes around the pad.
    const input = (total: number) => ({ bytes: 11, catch: 'all', pad: 'p'.repeat(total - 35) });
    const start = (total: number) => runWorkflow({
      file: fixture('payload'), executionName: `in-${total}`, input: input(total), tasks: { GrowFunctionArn: grow }, clock: new SimClock(START),
    });

    // Act
    const fits = await start(PAYLOAD_LIMIT_BYTES);
    const over = await start(PAYLOAD_LIMIT_BYTES + 1);

    // Assess
    expect(JSON.stringify(input(PAYLOAD_LIMIT_BYTES)).length).toBe(PAYLOAD_LIMIT_BYTES);
    expect(fits.status).toBe('SUCCEEDED');
    expect(over).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded', states: [] });
  });
});

describe('simulated time', () => {
  it("ends the execution TIMED_OUT at the state machine's TimeoutSeconds, in simulated time", async () => {
    // Prepare: two waits of 1,800 s plus a task of 1 s do not fit in 3,600 s.
    const clock = new SimClock(START);
    const events: ExecutionStatusEvent[] = [];
    const work: SimTaskFunction = async (_input, ctx) => {
      await ctx.sleep(1);
      return 'done';
    };

    // Act
    const run = await runWorkflow({
      file: fixture('timed'), executionName: 't', input: { waitSeconds: 1800 }, tasks: { WorkFunctionArn: work }, clock,
      onStatusChange: (event) => void events.push(event),
    });

    // Assess
    expect(run.status).toBe('TIMED_OUT');
    expect(run.error).toBe('States.Timeout');
    expect(run.stopDate).toBe('2026-01-01T01:00:00.000Z');
    expect(run.states).toEqual(['First', 'Work', 'Second']);
    expect(clock.now().toISOString()).toBe('2026-01-01T01:00:00.000Z'); // the abandoned Wait did not move the clock
    expect(events.map((e) => e.detail.status)).toEqual(['RUNNING', 'TIMED_OUT']);
  });

  it('finishes when the waits fit just inside TimeoutSeconds', async () => {
    // Prepare: 1,799 + 1 + 1,799 = 3,599 s
    const work: SimTaskFunction = async (_input, ctx) => ctx.sleep(1);

    // Act
    const run = await runWorkflow({ file: fixture('timed'), executionName: 't', input: { waitSeconds: 1799 }, tasks: { WorkFunctionArn: work }, clock: new SimClock(START) });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(run.stopDate).toBe('2026-01-01T00:59:59.000Z');
  });

  it('moves the clock for every kind of Wait', async () => {
    // Prepare
    const clock = new SimClock(START);
    const seen: string[] = [];
    const note: SimTaskFunction = async (_input, ctx) => void seen.push(ctx.now().toISOString());

    // Act
    const run = await runWorkflow({
      file: fixture('waits'), executionName: 'w', input: { seconds: 20, until: '2026-01-01T02:00:00Z' }, tasks: { NoteFunctionArn: note }, clock,
    });

    // Assess: Seconds 10, SecondsPath 20, Timestamp 01:00, TimestampPath 02:00
    expect(run.status).toBe('SUCCEEDED');
    expect(seen).toEqual(['2026-01-01T00:00:10.000Z', '2026-01-01T00:00:30.000Z', '2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z']);
  });

  it('keeps the old behaviour without a clock: Waits take no time and TimeoutSeconds never fires', async () => {
    // Prepare
    const work: SimTaskFunction = async () => 'done';

    // Act
    const run = await runWorkflow({ file: fixture('timed'), executionName: 't', input: { waitSeconds: 1800 }, tasks: { WorkFunctionArn: work } });

    // Assess
    expect(run.status).toBe('SUCCEEDED');
  });

  it('pauses retries IntervalSeconds × BackoffRate^n capped by MaxDelaySeconds, and FULL jitter draws below that', async () => {
    // Prepare: each retrier fails 4 times, then succeeds; attempts note the simulated time.
    const attempts: Record<string, number[]> = { plain: [], jittered: [] };
    const flaky = (clock: SimClock): SimTaskFunction => async (input) => {
      const list = attempts[(input as { which: string }).which]!;
      list.push(clock.now().getTime());
      if (list.length <= 4) throw Object.assign(new Error('try again'), { name: 'Flaky' });
      return {};
    };
    const gaps = (list: number[]) => list.slice(1).map((t, k) => (t - list[k]!) / 1000);
    const runWith = async (seed: number) => {
      attempts.plain = [];
      attempts.jittered = [];
      const clock = new SimClock(START);
      await runWorkflow({ file: fixture('retries'), executionName: 'r', input: {}, tasks: { FlakyFunctionArn: flaky(clock) }, clock, seed });
      return { plain: gaps(attempts.plain), jittered: gaps(attempts.jittered) };
    };

    // Act
    const first = await runWith(7);
    const again = await runWith(7);
    const other = await runWith(8);

    // Assess: 2, 4, 8 → capped at 5, 16 → 5
    expect(first.plain).toEqual([2, 4, 5, 5]);
    const caps = [2, 4, 5, 5];
    first.jittered.forEach((gap, k) => {
      expect(gap).toBeGreaterThanOrEqual(0);
      expect(gap).toBeLessThan(caps[k]!);
    });
    expect(again).toEqual(first); // the same seed, the same pauses
    expect(other.jittered).not.toEqual(first.jittered);
  });
});

describe('many executions on one clock', () => {
  it('interleaves executions by simulated time', async () => {
    // Prepare: two check loops with intervals of 60 s and 90 s.
    const clock = new SimClock(START);
    const trace: string[] = [];
    const check: SimTaskFunction = async (input, ctx) => {
      const state = input as { done: number; id: string };
      trace.push(`${(ctx.now().getTime() - START.getTime()) / 1000}:${state.id}`);
      return { ...state, done: state.done + 1 };
    };
    const sim = new StepFunctionsSim({ clock, tasks: { CheckFunctionArn: check } });

    // Act
    sim.startExecution({ file: fixture('check-loop'), stateMachineName: 'Loop', name: 'a', input: { id: 'a', interval: 60, checks: 3, done: 0 } });
    sim.startExecution({ stateMachine: 'Loop', name: 'b', input: { id: 'b', interval: 90, checks: 2, done: 0 } });
    await sim.run();

    // Assess: at 180 s both are due; b's wait was scheduled first (at 90 s), so b goes first.
    expect(trace).toEqual(['60:a', '90:b', '120:a', '180:b', '180:a']);
    expect(sim.results().map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
  });
});
