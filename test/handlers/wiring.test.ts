import { afterEach, describe, expect, it } from 'vitest';
import { depsWith, overrideAwsDeps, resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { SimClock } from '../../sim/clock.ts';

describe('Lambda wiring (functions/commons/aws-deps.ts)', () => {
  afterEach(() => resetAwsDeps());

  it('fails loudly when a step uses a port its handler did not wire', () => {
    const deps = depsWith({});
    expect(() => deps.traffic.shift).toThrow('the traffic port is not wired in this Lambda (asked for shift)');
    expect(() => deps.rollouts.fence).toThrow('the rollouts port is not wired in this Lambda (asked for fence)');
  });

  it('puts test overrides over the wired ports, and forgets them on reset', () => {
    const clock = new SimClock(new Date('2026-01-01T00:00:00Z'));
    overrideAwsDeps({ clock });
    expect(depsWith({}).clock).toBe(clock);
    resetAwsDeps();
    expect(depsWith({}).clock).not.toBe(clock);
  });
});
