/**
 * The chaos scenarios (sim/chaos.ts) on the real state machines and steps, with the safety net on
 * the execution's end and the reconciler on its schedule: whatever a person or Step Functions
 * does, every run ends with the weights at exactly 0/100 (here: all are rolled back), the lock
 * released, and the exit code of a rollback (never a promotion over a person).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { simulate, type SimulationResult } from '../../sim/simulate.ts';

const config = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8')) as unknown;

function assertRolledBackSafely(r: SimulationResult): void {
  expect(r.finalWeights).toEqual({ canary: 0, baseline: 100 });
  expect(r.lockHolder).toBeNull();
  expect(r.outcome).toBe('ROLLED_BACK');
  expect(r.record?.status).toBe('ROLLED_BACK');
  // Every execution stayed within what AWS allows.
  for (const e of r.aws.executions) {
    expect(e.historyEvents).toBeLessThan(25_000);
    expect(e.maxStatePayloadBytes).toBeLessThan(262_144);
  }
  expect(r.aws.maxRecordItemBytes).toBeLessThan(409_600);
}

describe('chaos scenarios', () => {
  it('manual-rollback: a person sets the canary to 0: respected, recorded, no incident, no promotion over it', async () => {
    // Act
    const r = await simulate({ config, scenario: 'manual-rollback', seed: 1 });

    // Assess
    assertRolledBackSafely(r);
    expect(r.decision).toMatchObject({ trigger: 'MANUAL_ROLLBACK', weight: 10 });
    expect(r.incidents).toHaveLength(0);
    const person = r.weightChanges.findIndex((c) => c.by === 'a person at the Route 53 console');
    expect(person).toBeGreaterThan(0);
    // After the person's change, the rollout changed nothing more (it does not re-apply its own weights).
    expect(r.weightChanges.slice(person + 1)).toEqual([]);
    expect(r.record!.events.some((e) => e.type === 'DRIFT' && e.foundCanary === 0 && e.expectedCanary === 10)).toBe(true);
  });

  it('stop-during-shift: Stop while the 5 % shift is in flight: the safety net restores, the late shift moves nothing that stays', async () => {
    // Act
    const r = await simulate({ config, scenario: 'stop-during-shift', seed: 1 });

    // Assess
    assertRolledBackSafely(r);
    expect(r.workflow.status).toBe('ABORTED');
    expect(r.decision).toMatchObject({ trigger: 'SAFETY_NET' });
    expect(r.safetyNet[0]).toMatchObject({ action: 'RESTORED_BASELINE' });
    expect(r.incidents).toHaveLength(1);
    // The in-flight shift found the weights no longer what it read (compare-and-set): it never
    // landed after the restore; if it had, the net's re-check would have undone it.
    const restore = r.weightChanges.findIndex((c) => c.weights.canary === 0);
    expect(r.weightChanges.slice(restore).every((c) => c.weights.canary === 0)).toBe(true);
  });

  it('redrive-after-rollback: the redriven execution is fenced out and moves nothing', async () => {
    // Act
    const r = await simulate({ config, scenario: 'redrive-after-rollback', seed: 1 });

    // Assess
    assertRolledBackSafely(r);
    expect(r.decision).toMatchObject({ trigger: 'SAFETY_NET', weight: 10 });
    // The redrive resumed the execution, which found the rollout closed and ended Superseded.
    expect(r.workflow).toMatchObject({ status: 'FAILED', error: 'Superseded' });
    const restore = r.weightChanges.findIndex((c) => c.weights.canary === 0);
    expect(restore).toBe(r.weightChanges.length - 1);
    expect(r.incidents).toHaveLength(1);
  });

  it('record-deleted: drift rolls back and the rollback re-creates the baseline record', async () => {
    // Act
    const r = await simulate({ config, scenario: 'record-deleted', seed: 1 });

    // Assess
    assertRolledBackSafely(r); // both records exist again: finalWeights would be null otherwise
    expect(r.decision).toMatchObject({ trigger: 'DRIFT', weight: 10 });
    expect(r.decision!.reasons[0]).toMatch(/no weighted record with the baseline 'blue' SetIdentifier/);
    expect(r.incidents).toHaveLength(1);
    expect(r.incidents[0]!.summary).toContain("no weighted record with the baseline 'blue'");
  });

  it('ttl-raised: drift rolls back, the incident names the TTL, the rollback puts back TTL 60', async () => {
    // Act
    const r = await simulate({ config, scenario: 'ttl-raised', seed: 1 });

    // Assess
    assertRolledBackSafely(r);
    expect(r.decision).toMatchObject({ trigger: 'DRIFT', weight: 5 });
    expect(r.incidents[0]!.summary).toContain('has TTL 3600 s, above target.maxTtlSeconds 60 s');
    expect(r.finalTtlSeconds).toBe(60);
  });

  it('leak-during-approval: the live weight keeps being checked at the gate and a failure rolls back before anyone answers', async () => {
    // Act
    const r = await simulate({ config, scenario: 'leak-during-approval', seed: 1 });

    // Assess
    assertRolledBackSafely(r);
    // Rolled back while waiting at the gate of stage 3 (25 %), with 5 % live; never moved up.
    expect(r.decision).toMatchObject({ trigger: 'VERDICT', stageIndex: 2, weight: 5 });
    expect(r.decision!.reasons[0]).toMatch(/^memory: climbing/);
    expect(r.weightChanges.map((c) => c.weights.canary)).not.toContain(25);
    const checks = r.record!.events.filter((e) => e.type === 'CHECK');
    expect(checks.filter((e) => e.type === 'CHECK' && e.hold).length).toBeGreaterThan(10);
    // Well before the 4 h approval timeout.
    expect(Date.parse(r.decision!.at) - Date.parse(r.startedAt)).toBeLessThan(3 * 3600_000);
  });
});
