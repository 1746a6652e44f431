/**
 * A halted rollout (onFailure: halt) that nobody answers, through the simulator's Step Functions
 * (AWS's quotas per execution) and the real steps: it waits 30 days, handing over to new segments
 * so that no execution nears 25,000 history events, then rolls back (HALT_TIMEOUT) with the
 * incident it opened at the halt updated by the recovery watch.
 */
import { describe, expect, it } from 'vitest';
import { HALT_MAX_SECONDS, HALT_POLL_SECONDS } from '../../functions/core/controls.ts';
import { HISTORY_EVENT_LIMIT } from '../../sim/aws-limits.ts';
import { simulate } from '../../sim/simulate.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

describe('a halt nobody answers', () => {
  it('waits 30 days in segments well within the history quota, then rolls back saying so', async () => {
    // Prepare: someone watches (an operator that never answers), so the run is not cut at the halt.
    const config = albEcsConfig({ onFailure: 'halt' });

    // Act
    const r = await simulate({ config, scenario: 'error-spike', seed: 3, operator: async () => undefined });

    // Assess
    expect(r.outcome).toBe('ROLLED_BACK');
    expect(r.decision).toMatchObject({ trigger: 'HALT_TIMEOUT', stageIndex: 2, weight: 10 });
    expect(r.decision!.reasons[0]).toMatch(/^halted at stage 3 \(canary 10 %\) since .* and no person answered within 30 d/);
    const halted = r.record!.events.find((e) => e.type === 'HALTED')!;
    const waited = Date.parse(r.decision!.at) - Date.parse(halted.at);
    expect(waited).toBeGreaterThanOrEqual(HALT_MAX_SECONDS * 1000 - 2000);
    // ... and not much more: the last poll is cut at the deadline.
    expect(waited).toBeLessThan((HALT_MAX_SECONDS + 2 * HALT_POLL_SECONDS) * 1000);
    // No weight moved while halted: 1, 5, 10, then the rollback.
    expect(r.weightChanges.map((c) => c.weights.canary)).toEqual([1, 5, 10, 0]);
    const segments = r.aws.executions.filter((e) => e.name !== r.rolloutId);
    console.log(`halt of 30 d: ${segments.length} segments, at most ${Math.max(...segments.map((e) => e.historyEvents))} history events each (limit ${HISTORY_EVENT_LIMIT}); parent ${r.aws.executions[0]!.historyEvents}`);
    expect(segments.length).toBeGreaterThan(30);
    for (const e of r.aws.executions) expect(e.historyEvents).toBeLessThan(HISTORY_EVENT_LIMIT / 2);
    // One incident, opened at the halt, then updated by the recovery watch.
    expect(r.incidents).toHaveLength(1);
    expect(r.incidents[0]!.title).toMatch(/^Canary HALTED/);
    expect(r.record!.events.some((e) => e.type === 'RECOVERED')).toBe(true);
    expect(r.lockHolder).toBeNull();
  }, 300_000);
});
