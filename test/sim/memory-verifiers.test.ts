/**
 * sim/memory-verifiers.ts: the in-memory verifiers the `data-mismatch` and `alarm` scenarios
 * use, run through the same runChecks / runGate / runHooks and decision as the AWS adapters.
 */
import { describe, expect, it } from 'vitest';
import { decideAfterCheck } from '../../functions/core/decision.ts';
import { combineVerdicts } from '../../functions/core/judge.ts';
import {
  parseVerificationConfig, routeVerification, runChecks, runGate, runHooks, type MomentInput,
} from '../../functions/core/verification.ts';
import { SimClock } from '../../sim/clock.ts';
import {
  alarmFromStage, MemoryAlarms, MemoryAlarmVerifier, MemoryHooks, MemoryVerifier, reconciliationScript,
} from '../../sim/memory-verifiers.ts';

const target = { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };
const stage = (clock: SimClock, stageIndex: number, weight: number, windowStartSecondsAgo = 300): MomentInput => ({
  moment: 'analysis', rolloutId: 'sim-1', service: 'orders', stageIndex, stageCount: 5, weight, target,
  window: { start: new Date(clock.now().getTime() - windowStartSecondsAgo * 1000), end: clock.now() },
});
const limits = { checksRequired: 1, failureLimit: 0, inconclusiveLimit: 3, maxExtensionSeconds: 600, extendedSeconds: 0 };
const zero = { passed: 0, failed: 0, inconclusive: 0 };

describe('data-mismatch: a reconciliation check that starts failing at 10 %', () => {
  const { verification } = parseVerificationConfig({ verification: [{ name: 'reconcile-orders', type: 'lambda', function: 'orders-reconcile' }] });

  it('passes at 1 % and 5 %, fails at 10 %, and the decision rolls back naming the check and its reason', async () => {
    // Prepare
    const clock = new SimClock();
    const verifier = new MemoryVerifier({ clock, answer: reconciliationScript({ fromWeight: 10 }) });
    const port = routeVerification({ lambda: verifier }, clock);

    // Act
    const byWeight: Record<number, string> = {};
    let rollback: string[] = [];
    for (const [i, weight] of [1, 5, 10].entries()) {
      clock.advance(600);
      const verdicts = await runChecks(port, verification, stage(clock, i, weight), clock);
      byWeight[weight] = verdicts[0]!.verdict;
      const outcome = decideAfterCheck(combineVerdicts(verdicts), zero, limits);
      if (outcome.action === 'ROLLBACK') rollback = outcome.reasons;
    }

    // Assess
    expect(byWeight).toEqual({ 1: 'PASS', 5: 'PASS', 10: 'FAIL' });
    expect(rollback[0]).toBe("check 'reconcile-orders' (lambda orders-reconcile): FAIL: 37 of 120000 records differ between the legacy and the new store (checksum mismatch)");
    expect(verifier.calls().map((c) => [c.context.stage.weight, c.deadline])).toEqual([
      [1, '2026-01-01T00:10:20.000Z'], [5, '2026-01-01T00:20:20.000Z'], [10, '2026-01-01T00:30:20.000Z'],
    ]);
  });

  it('lets a scenario answer late, malformed or not at all: INCONCLUSIVE each time, never a pass', async () => {
    // Prepare
    const clock = new SimClock();
    const scripts = [
      () => ({ answer: { verdict: 'PASS' as const, reason: 'ok' }, delaySeconds: 25 }),
      () => ({ raw: '{"verdict":"PASS"' }),
      () => ({ noAnswer: true as const }),
      () => ({ error: 'the function failed (Unhandled): Error: db down' }),
    ];

    // Act
    const verdicts = [];
    for (const script of scripts) {
      const port = routeVerification({ lambda: new MemoryVerifier({ clock, answer: script }) }, clock);
      verdicts.push((await runChecks(port, verification, stage(clock, 0, 1), clock))[0]!);
    }

    // Assess
    expect(verdicts.map((v) => v.verdict)).toEqual(['INCONCLUSIVE', 'INCONCLUSIVE', 'INCONCLUSIVE', 'INCONCLUSIVE']);
    expect(verdicts.map((v) => v.reason)).toEqual([
      "check 'reconcile-orders' (lambda orders-reconcile) gave no usable answer: the answer came 5.0 s after its deadline 2026-01-01T00:00:20.000Z (timeout 20 s)",
      "check 'reconcile-orders' (lambda orders-reconcile) gave no usable answer: the answer is not JSON (\"{\\\"verdict\\\":\\\"PASS\\\"\")",
      "check 'reconcile-orders' (lambda orders-reconcile) gave no usable answer: no answer within its 20 s timeout (1 attempt)",
      "check 'reconcile-orders' (lambda orders-reconcile) gave no usable answer: the function failed (Unhandled): Error: db down",
    ]);
  });
});

describe('alarm: a CloudWatch alarm going to ALARM mid-stage', () => {
  const { verification } = parseVerificationConfig({ verification: [{ name: 'orders-alarms', type: 'alarm', alarms: ['orders-5xx', 'orders-health'], critical: true }] });

  it('is OK early in the 10 % stage and ALARM once it has run 4 minutes: a critical FAIL rolls back at once', async () => {
    // Prepare
    const clock = new SimClock();
    const alarms = new MemoryAlarms();
    alarms.set('orders-5xx', 'OK');
    alarms.set('orders-health', alarmFromStage({ weight: 10, afterSeconds: 240 }), 'composite');
    const port = routeVerification({ alarm: new MemoryAlarmVerifier({ clock, alarms }) }, clock);
    clock.advance(3600);

    // Act
    const early = await runChecks(port, verification, stage(clock, 2, 10, 120), clock);
    clock.advance(180);
    const late = await runChecks(port, verification, stage(clock, 2, 10, 300), clock);
    const outcome = decideAfterCheck(combineVerdicts(late), zero, { ...limits, failureLimit: 3 });

    // Assess
    expect(early[0]).toMatchObject({ verdict: 'PASS', reason: "check 'orders-alarms' (alarms orders-5xx, orders-health): PASS: all 2 alarms OK" });
    expect(late[0]).toMatchObject({ verdict: 'FAIL', details: { 'orders-5xx': 'OK', 'orders-health': 'ALARM' } });
    expect(outcome.action).toBe('ROLLBACK');
    expect(outcome.reasons[0]).toMatch(/^critical metric failed: check 'orders-alarms' \(alarms orders-5xx, orders-health\): FAIL: in ALARM: orders-health \(Threshold Crossed/);
  });

  it('shuts a gate on an alarm that does not exist, naming it', async () => {
    // Prepare
    const clock = new SimClock();
    const port = routeVerification({ alarm: new MemoryAlarmVerifier({ clock, alarms: new MemoryAlarms() }) }, clock);

    // Act
    const gate = await runGate(port, verification, { ...stage(clock, 0, 1), moment: 'preRollout', window: null }, clock);

    // Assess
    expect(gate.open).toBe(false);
    expect(gate.reasons[0]).toContain("no alarm named 'orders-5xx', 'orders-health'");
  });
});

describe('MemoryHooks', () => {
  it('records the hooks started, with ids, and fails the ones the scenario names', async () => {
    // Prepare
    const clock = new SimClock();
    const hooks = new MemoryHooks({ clock, failing: ['isolate'] });
    const { hooks: config } = parseVerificationConfig({ hooks: { afterRollback: [
      { name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump' },
      { name: 'isolate', type: 'lambda', function: 'isolate-tasks' },
    ] } });

    // Act
    const results = await runHooks(hooks, config.afterRollback, { ...stage(clock, 2, 10), moment: 'afterRollback' }, clock);

    // Assess
    expect(results.map((r) => [r.hook, r.status, r.id])).toEqual([['heap-dump', 'STARTED', 'sim-ssm-automation-1'], ['isolate', 'FAILED', null]]);
    expect(hooks.started().map((s) => s.context.moment)).toEqual(['afterRollback', 'afterRollback']);
  });
});
