/** The simulated clock: time moves only when the simulator moves it. */
import type { Clock } from '../functions/core/ports.ts';

/** 2026-01-01T00:00:00Z: a fixed start, so that a seed always gives the same output. */
export const DEFAULT_SIM_START = new Date('2026-01-01T00:00:00Z');

export class SimClock implements Clock {
  #ms: number;
  readonly startedAt: Date;

  constructor(start: Date = DEFAULT_SIM_START) {
    this.#ms = start.getTime();
    this.startedAt = new Date(start);
  }

  now(): Date {
    return new Date(this.#ms);
  }

  /** Moves to `when` if it is later than now (time never goes back). */
  advanceTo(when: Date | string): void {
    const ms = typeof when === 'string' ? Date.parse(when) : when.getTime();
    if (Number.isFinite(ms) && ms > this.#ms) this.#ms = ms;
  }

  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }

  /** A wait on this clock takes no real time: the clock moves. */
  async sleep(ms: number): Promise<void> {
    this.#ms += Math.max(0, ms);
  }

  /** Seconds since the simulation started. */
  elapsedSeconds(at: Date | string = this.now()): number {
    const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
    return (ms - this.startedAt.getTime()) / 1000;
  }
}
