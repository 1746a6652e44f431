/**
 * The discrete-event scheduler: time moves from event to event, ties go in scheduling order,
 * cancelled sleepers wake at once, signals hand values between activities, and an activity may
 * await real I/O without losing determinism.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../sim/clock.ts';
import { CancelledError, CancelScope, Signal, SimScheduler } from '../../sim/sim-scheduler.ts';

const START = new Date('2026-01-01T00:00:00Z');
const t = (s: SimScheduler) => (s.nowMs() - START.getTime()) / 1000;

describe('SimScheduler', () => {
  it('runs activities in simulated-time order, ties in the order they were scheduled, with no real waiting', async () => {
    // Prepare
    const s = new SimScheduler(new SimClock(START));
    const log: string[] = [];
    const worker = (name: string, pauses: number[]) => async () => {
      for (const p of pauses) {
        await s.sleep(p);
        log.push(`${t(s)}:${name}`);
      }
    };
    s.spawn(worker('a', [10, 10, 86_400]));
    s.spawn(worker('b', [5, 15, 1]));

    // Act
    await s.run();

    // Assess
    expect(log).toEqual(['5:b', '10:a', '20:b', '20:a', '21:b', '86420:a']); // at 20 s, b's wake-up was scheduled first (at 5 s)
    expect(t(s)).toBe(86_420);
  });

  it('runs until a moment and goes on from there', async () => {
    // Prepare
    const s = new SimScheduler(new SimClock(START));
    const log: number[] = [];
    s.spawn(async () => {
      for (let k = 0; k < 5; k++) {
        await s.sleep(60);
        log.push(t(s));
      }
    });

    // Act
    await s.run(new Date(START.getTime() + 150_000));
    const first = [...log];
    await s.run();

    // Assess
    expect(first).toEqual([60, 120]);
    expect(t(s)).toBe(300);
    expect(log).toEqual([60, 120, 180, 240, 300]);
  });

  it('wakes a cancelled sleeper at once with CancelledError, and its abandoned wake-up does not move the clock', async () => {
    // Prepare
    const s = new SimScheduler(new SimClock(START));
    const scope = new CancelScope();
    const log: string[] = [];
    s.spawn(async () => {
      try {
        await s.sleep(3600, scope.child());
        log.push('slept');
      } catch (error) {
        log.push(`${t(s)}:${(error as Error).name}`);
      }
    });
    s.spawnAt(START.getTime() + 10_000, () => scope.cancel());

    // Act
    await s.run();

    // Assess
    expect(log).toEqual(['10:CancelledError']);
    expect(t(s)).toBe(10);
  });

  it('hands a value from one activity to another through a Signal', async () => {
    // Prepare
    const s = new SimScheduler(new SimClock(START));
    const done = new Signal<string>(s);
    const log: string[] = [];
    s.spawn(async () => {
      const value = await s.wait(done);
      log.push(`${t(s)}:got ${value}`);
    });
    s.spawn(async () => {
      await s.sleep(30);
      done.fire('result');
      done.fire('ignored');
    });

    // Act
    await s.run();

    // Assess
    expect(log).toEqual(['30:got result']);
  });

  it('waits for an activity that awaits real I/O before moving time on', async () => {
    // Prepare: `a` does real (wall-clock) I/O at t=0; `b` is due at t=1.
    const s = new SimScheduler(new SimClock(START));
    const log: string[] = [];
    s.spawn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      log.push(`${t(s)}:a after I/O`);
      await s.sleep(2);
      log.push(`${t(s)}:a`);
    });
    s.spawn(async () => {
      await s.sleep(1);
      log.push(`${t(s)}:b`);
    });

    // Act
    await s.run();

    // Assess
    expect(log).toEqual(['0:a after I/O', '1:b', '2:a']);
  });

  it('fails the run with the error an activity did not catch', async () => {
    // Prepare
    const s = new SimScheduler(new SimClock(START));
    s.spawn(async () => {
      await s.sleep(1);
      throw new Error('a bug');
    });

    // Act + Assess
    await expect(s.run()).rejects.toThrow('a bug');
  });

  it('lets a cancelled scope throw for the threads that look', () => {
    // Prepare
    const scope = new CancelScope();
    const child = scope.child();

    // Act
    scope.cancel();

    // Assess
    expect(() => child.throwIfCancelled()).toThrow(CancelledError);
    expect(new CancelScope(scope).cancelled).toBe(true); // born cancelled under a cancelled parent
  });
});
