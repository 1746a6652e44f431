/**
 * A rollout of days on the real state machines with AWS's quotas enforced (the runner counts
 * history events and payload bytes as Step Functions does and fails an execution the way it
 * would): examples/migration-48h.yaml, five stages of 48 hours checked every minute. A healthy
 * canary is promoted after about 8 days, in segments none of which comes near 25,000 events; a
 * canary whose 5xx rate jumps on day 3 is rolled back within minutes of the jump.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { HISTORY_EVENT_LIMIT, PAYLOAD_LIMIT_BYTES } from '../../sim/aws-limits.ts';
import { healthy, HEALTHY_ERROR_RATE, profile } from '../../sim/profiles.ts';
import type { Scenario } from '../../sim/scenarios.ts';
import { simulate, type SimulationResult } from '../../sim/simulate.ts';

const config = parse(readFileSync(new URL('../../examples/migration-48h.yaml', import.meta.url), 'utf8')) as unknown;
const DAY = 86_400_000;

function withinQuotas(r: SimulationResult): void {
  for (const e of r.aws.executions) {
    expect(e.historyEvents, e.name).toBeLessThan(HISTORY_EVENT_LIMIT / 2);
    expect(e.maxStatePayloadBytes, e.name).toBeLessThan(PAYLOAD_LIMIT_BYTES / 4);
  }
  expect(r.lockHolder).toBeNull();
}

describe('a 48-hours-per-stage rollout (examples/migration-48h.yaml)', () => {
  it('promotes a healthy canary after about 8 days, in segments within the quotas', async () => {
    // Act
    const r = await simulate({ config, scenario: 'healthy', seed: 1 });

    // Assess
    expect(r.outcome).toBe('PROMOTED');
    expect(r.finalWeights).toEqual({ canary: 100, baseline: 0 });
    expect(r.simulatedSeconds / 86_400).toBeGreaterThan(8);
    expect(r.simulatedSeconds / 86_400).toBeLessThan(8.2);
    // One execution for the rollout and one per segment: 4 stages of 2,880 checks at least.
    expect(r.aws.executions.length - 1).toBeGreaterThanOrEqual(11);
    withinQuotas(r);
    expect(r.record!.checkCount).toBeGreaterThanOrEqual(4 * 2880);
    expect(r.aws.maxRecordItemBytes).toBeLessThan(10_000);
  }, 120_000);

  it('rolls back a canary whose 5xx rate jumps on day 3, within minutes of the jump', async () => {
    // Prepare: at 72 h the canary (5 % since 48 h) starts failing 3 % of its requests.
    const jump = 3 * DAY;
    const dayThree: Scenario = {
      name: 'error-jump-day-3', description: 'the canary\'s 5xx rate jumps from 0.05 % to 3 % 72 hours into the rollout', expected: 'ROLLED_BACK within minutes',
      profile: profile(30000, healthy({ errorRate: (c) => (c.elapsedSeconds * 1000 >= jump ? 0.03 : HEALTHY_ERROR_RATE) })),
    };

    // Act
    const r = await simulate({ config, scenario: dayThree, seed: 1 });

    // Assess
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.decision).toMatchObject({ stageIndex: 1, weight: 5 });
    expect(r.decision!.reasons[0]).toMatch(/error-rate: .* since .* change detected/);
    const delayMinutes = (Date.parse(r.decision!.at) - (Date.parse(r.startedAt) + jump)) / 60_000;
    expect(delayMinutes).toBeGreaterThan(0);
    expect(delayMinutes).toBeLessThan(10);
    expect(r.finalWeights).toEqual({ canary: 0, baseline: 100 });
    expect(r.incidents).toHaveLength(1);
    withinQuotas(r);
    console.log(`5xx jump on day 3: rolled back ${delayMinutes.toFixed(1)} min after it (${r.aws.executions.length - 1} segments)`);
  }, 120_000);
});
