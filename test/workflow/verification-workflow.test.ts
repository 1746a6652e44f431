/**
 * Verification checks, gates and hooks through the real ASL and the real handlers: a failing
 * check rolls back naming itself, the preRollout gate keeps a rollout from starting, a shut
 * beforeShift gate holds the shift then rolls back naming the gate, afterRollback hooks start once
 * traffic is back (their ids in the record, the evidence and the incident) and afterPromotion hooks
 * once the canary holds 100 %. Route 53 is the in-memory router; checks and hooks are in memory
 * (sim/memory-verifiers.ts) behind the same ports as the AWS adapters.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { route53TargetOf, parseRolloutConfig, type RolloutConfigInput } from '../../functions/core/config.ts';
import { routeTraffic } from '../../functions/core/traffic-router.ts';
import { routeVerification, type VerificationAllowList } from '../../functions/core/verification.ts';
import { MemoryTraffic } from '../../sim/memory-adapters.ts';
import { MemoryAlarms, MemoryAlarmVerifier, MemoryHooks, MemoryVerifier, reconciliationScript, type AnswerScript } from '../../sim/memory-verifiers.ts';
import { rngFor } from '../../sim/prng.ts';
import { albEcsConfig } from '../fixtures/configs.ts';
import { handlerEnv, handlerWorld, runHandlers, serviceMetrics, type HandlerWorld } from '../helpers/handler-workflow.ts';

interface Setup {
  world: HandlerWorld;
  traffic: MemoryTraffic;
  verifier: MemoryVerifier;
  alarms: MemoryAlarms;
  hooks: MemoryHooks;
}

/** What the stack's Verification* / Hook* parameters name in these tests (the handlers read them from there). */
const ALLOWED: VerificationAllowList = {
  functionArns: ['orders-reconcile', 'orders-snapshot', 'announce-release'].map((f) => `arn:aws:lambda:us-east-1:123456789012:function:${f}`),
  secretArns: ['arn:aws:secretsmanager:us-east-1:123456789012:secret:canary/freeze-AbCdEf'],
  alarmPrefixes: ['orders-'],
  automationDocumentArns: ['arn:aws:ssm:us-east-1:123456789012:automation-definition/CanaryCaptureHeapDump'],
};

const pass: AnswerScript = () => ({ answer: { verdict: 'PASS', reason: 'all good' } });

function setUp(config: RolloutConfigInput, options: { answer?: AnswerScript; failingHooks?: string[]; allowList?: VerificationAllowList } = {}): Setup {
  const start = new Date('2026-03-02T10:00:00Z');
  const clock = { now: () => world.clock.now() };
  const traffic = new MemoryTraffic({ clock, rng: rngFor(1, 'route53'), syncDelaySeconds: [20, 20] });
  const verifier = new MemoryVerifier({ clock, answer: options.answer ?? pass });
  const alarms = new MemoryAlarms();
  const hooks = new MemoryHooks({ clock, failing: options.failingHooks ?? [] });
  const lazyMetrics = { fetchWindow: (m: never, r: never) => metrics.fetchWindow(m, r) };
  const world = handlerWorld({
    traffic: routeTraffic({ route53: () => traffic }),
    metrics: lazyMetrics,
    verification: routeVerification({ lambda: verifier, http: verifier, alarm: new MemoryAlarmVerifier({ clock, alarms }) }, clock),
    hooks,
    verificationAllowList: options.allowList ?? ALLOWED,
  }, start);
  const t = route53TargetOf(parseRolloutConfig(config));
  traffic.putRecord(t, { setIdentifier: 'blue', weight: 100, ttl: 60, value: '10.0.0.1' });
  traffic.putRecord(t, { setIdentifier: 'green', weight: 0, ttl: 60, value: '10.0.0.2' });
  // The share clients see: the weights once in sync and a TTL has passed (close enough for these tests).
  const metrics = serviceMetrics(world.clock, (at) => {
    const change = traffic.changes(t).filter((c) => c.inSyncAt.getTime() + 60_000 <= at.getTime()).at(-1);
    return change ? change.weights.canary / 100 : 0;
  });
  return { world, traffic, verifier, alarms, hooks };
}

const canaryWeights = (s: Setup) => s.traffic.changes().map((c) => c.weights.canary);

const reconcileCheck = { name: 'reconcile-orders', type: 'lambda', function: 'orders-reconcile' } as const;

describe('verification and hooks (real ASL, real handlers)', () => {
  beforeEach(() => {
    handlerEnv();
    resetAwsDeps();
  });
  afterEach(() => resetAwsDeps());

  it('a failing verification check rolls back, naming the check and its reason; the evidence keeps its answer', async () => {
    // Prepare
    const s = setUp(albEcsConfig({ stages: [5, 25, 100], verification: [reconcileCheck] }), { answer: reconciliationScript({ fromWeight: 25 }) });

    // Act
    const run = await runHandlers(s.world, albEcsConfig({ stages: [5, 25, 100], verification: [reconcileCheck] }));

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
    expect(canaryWeights(s)).toEqual([5, 25, 0]);
    const record = await s.world.rollouts.get('rollout-1');
    expect(record!.decision).toMatchObject({ outcome: 'ROLLED_BACK', trigger: 'VERDICT', stageIndex: 1, weight: 25 });
    expect(record!.decision!.reasons[0]).toBe("check 'reconcile-orders' (lambda orders-reconcile): FAIL: 37 of 120000 records differ between the legacy and the new store (checksum mismatch)");
    expect(record!.decision!.failing.find((m) => m.name === 'reconcile-orders')).toMatchObject({ verdict: 'FAIL', test: 'verification-lambda' });
    // Every check asked the function with the rollout's context; the stored judgement keeps the answer and its details.
    const calls = s.verifier.calls();
    expect(calls.length).toBeGreaterThan(2);
    expect(calls[0]!.context).toMatchObject({ version: 1, moment: 'analysis', check: 'reconcile-orders', rolloutId: 'rollout-1', service: 'checkout-api', stage: { index: 0, weight: 5, count: 3 } });
    const stored = (await s.world.evidence.getRollout('rollout-1')).checks.at(-1)!;
    expect(stored.judgement.metrics.find((m) => m.name === 'reconcile-orders')).toMatchObject({
      verdict: 'FAIL', details: { legacyRecords: 120000, newRecords: 119963, mismatched: 37, attempts: 1 },
    });
    expect(s.world.incidents.opened[0]!.incident.summary).toContain("check 'reconcile-orders'");
  });

  it('a check that does not answer is INCONCLUSIVE, counted against the inconclusive limit: no answer is never a pass', async () => {
    // Prepare
    const config = albEcsConfig({ stages: [10, 100], inconclusiveLimit: 1, verification: [reconcileCheck] });
    const s = setUp(config, { answer: () => ({ noAnswer: true }) });

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run.status).toBe('FAILED');
    expect(canaryWeights(s)).toEqual([10, 0]);
    const decision = (await s.world.rollouts.get('rollout-1'))!.decision!;
    expect(decision.reasons.at(-1)).toBe('2 inconclusive check(s) at this stage, limit 1: no data is not a pass');
    expect(decision.failing.find((m) => m.name === 'reconcile-orders')?.reason).toMatch(/^check 'reconcile-orders' \(lambda orders-reconcile\) gave no usable answer: no answer within its 20 s timeout/);
  });

  it('the preRollout gate refuses to start unless it passes: nothing moves, nothing is locked', async () => {
    // Prepare
    const config = albEcsConfig({ hooks: { preRollout: [{ name: 'cdc-running', type: 'alarm', alarms: ['orders-cdc-lag'] }] } });
    const s = setUp(config);
    s.alarms.set('orders-cdc-lag', () => ({ state: 'ALARM', reason: 'replication lag 900 s > 60 s' }));

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'PreflightFailed' });
    expect(JSON.parse(run.cause!).errorMessage).toBe("the preRollout gate is shut, so nothing moved: preRollout gate: check 'cdc-running' (alarm orders-cdc-lag): FAIL: in ALARM: orders-cdc-lag (replication lag 900 s > 60 s). Start again once it passes");
    expect(canaryWeights(s)).toEqual([]);
    expect(await s.world.rollouts.list(10)).toEqual([]);
  });

  it('a passing preRollout gate is recorded with the rollout\'s start', async () => {
    // Prepare
    const config = albEcsConfig({ stages: [10, 100], hooks: { preRollout: [{ name: 'cdc-running', type: 'alarm', alarms: ['orders-cdc-lag'] }] } });
    const s = setUp(config);
    s.alarms.set('orders-cdc-lag', 'OK');

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    const events = (await s.world.rollouts.history('rollout-1'))!.events;
    expect(events.slice(0, 2)).toMatchObject([
      { type: 'STARTED' },
      { type: 'GATE', moment: 'preRollout', open: true, checks: [{ name: 'cdc-running', verdict: 'PASS', reason: "check 'cdc-running' (alarm orders-cdc-lag): PASS: all 1 alarm OK" }] },
    ]);
  });

  it('a shut beforeShift gate holds that weight and asks again; once it opens the shift goes on', async () => {
    // Prepare: the change-freeze system says "not now" for the first ten minutes it is asked.
    let firstAsked: number | undefined;
    const freeze: AnswerScript = (_check, _context, now) => {
      firstAsked ??= now.getTime();
      return now.getTime() - firstAsked < 600_000
        ? { answer: { verdict: 'FAIL', reason: 'change freeze until the payments window closes' } }
        : { answer: { verdict: 'PASS', reason: 'no freeze' } };
    };
    const config = albEcsConfig({ stages: [5, 25, 100], hooks: { beforeShift: [{ name: 'change-freeze', type: 'http', secretId: 'canary/freeze', weights: [25] }] } });
    const s = setUp(config, { answer: freeze });

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(canaryWeights(s)).toEqual([5, 25, 100]);
    const events = (await s.world.rollouts.history('rollout-1'))!.events;
    const gates = events.filter((e) => e.type === 'GATE');
    expect(gates.every((g) => g.type === 'GATE' && g.moment === 'beforeShift' && g.weight === 25)).toBe(true);
    expect(gates.filter((g) => g.type === 'GATE' && !g.open).length).toBeGreaterThanOrEqual(10);
    expect(gates.at(-1)).toMatchObject({ open: true });
    // Asked only before 25 % (its weights), and 25 % was set only after it opened.
    expect(s.verifier.calls().every((c) => c.context.moment === 'beforeShift' && c.context.stage.weight === 25)).toBe(true);
    const set25 = events.find((e) => e.type === 'WEIGHTS_SET' && e.canary === 25)!;
    expect(Date.parse(set25.at)).toBeGreaterThan(Date.parse(gates.at(-1)!.at) - 1);
    // The live 5 % kept being checked while the gate was shut.
    expect(events.filter((e) => e.type === 'CHECK' && e.hold && e.weight === 5).length).toBeGreaterThan(0);
  });

  it('a beforeShift gate that stays shut rolls back after approvalTimeoutSeconds, naming the gate', async () => {
    // Prepare
    const config = albEcsConfig({ stages: [5, 25, 100], approvalTimeoutSeconds: 600, hooks: { beforeShift: [{ name: 'change-freeze', type: 'http', secretId: 'canary/freeze' }] } });
    const s = setUp(config, { answer: (_c, context) => (context.stage.weight >= 25 ? { answer: { verdict: 'FAIL', reason: 'change freeze' } } : { answer: { verdict: 'PASS', reason: 'ok' } }) });

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
    expect(canaryWeights(s)).toEqual([5, 0]);
    const record = await s.world.rollouts.get('rollout-1');
    expect(record!.decision).toMatchObject({ trigger: 'GATE', stageIndex: 1, weight: 5 });
    expect(record!.decision!.reasons[0]).toMatch(/^the beforeShift gate of stage 2 \(25 %\) stayed shut for \d+ s \(approvalTimeoutSeconds 600 s\): change-freeze$/);
    expect(record!.decision!.reasons[1]).toBe("beforeShift gate: check 'change-freeze' (http via secret canary/freeze): FAIL: change freeze");
    expect(s.world.incidents.opened).toHaveLength(1);
  });

  it('afterRollback hooks start once traffic is back; their ids go into the record, the evidence and the incident; a hook that fails to start fails nothing', async () => {
    // Prepare
    const config = albEcsConfig({
      stages: [5, 25, 100], verification: [{ ...reconcileCheck, critical: true }],
      hooks: {
        afterRollback: [
          { name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump', parameters: { RolloutId: ['{{ rolloutId }}'] } },
          { name: 'snapshot', type: 'lambda', function: 'orders-snapshot' },
        ],
      },
    });
    const s = setUp(config, { answer: reconciliationScript({ fromWeight: 25 }), failingHooks: ['snapshot'] });

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
    const started = s.hooks.started();
    expect(started.map((h) => [h.hook.name, h.result.status])).toEqual([['heap-dump', 'STARTED'], ['snapshot', 'FAILED']]);
    expect(started[0]!.context).toMatchObject({ moment: 'afterRollback', rolloutId: 'rollout-1', decision: { outcome: 'ROLLED_BACK', trigger: 'VERDICT' } });
    // Started after the baseline was restored, in the same step.
    const restore = s.traffic.changes().at(-1)!;
    expect(restore.weights.canary).toBe(0);
    expect(Date.parse(started[0]!.result.at)).toBeGreaterThanOrEqual(restore.submittedAt.getTime());
    const history = await s.world.rollouts.history('rollout-1');
    expect(history!.hooks?.map((h) => [h.hook, h.status, h.id])).toEqual([['heap-dump', 'STARTED', 'sim-ssm-automation-1'], ['snapshot', 'FAILED', null]]);
    expect(history!.events.find((e) => e.type === 'HOOKS')).toMatchObject({ moment: 'afterRollback' });
    const snapshot = (await s.world.evidence.getRollout('rollout-1')).record!;
    expect(snapshot.events.some((e) => e.type === 'HOOKS')).toBe(true);
    const summary = s.world.incidents.opened[0]!.incident.summary;
    expect(summary).toContain("Evidence capture (afterRollback hooks, started once traffic was back):\n- afterRollback hook 'heap-dump' (ssm-automation): STARTED, id sim-ssm-automation-1");
    expect(summary).toContain("- afterRollback hook 'snapshot' (lambda): FAILED: the scenario made this hook fail to start");
    expect(history!.status).toBe('ROLLED_BACK');
  });

  it('afterPromotion hooks start once, when the canary holds 100 %', async () => {
    // Prepare
    const config = albEcsConfig({ stages: [10, 100], hooks: { afterPromotion: [{ name: 'announce', type: 'lambda', function: 'announce-release', invocation: 'request-response' }] } });
    const s = setUp(config);

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect(s.hooks.started().map((h) => [h.hook.name, h.context.moment, h.context.decision?.outcome])).toEqual([['announce', 'afterPromotion', 'PROMOTED']]);
    expect((await s.world.rollouts.get('rollout-1'))!.hooks).toEqual([expect.objectContaining({ hook: 'announce', moment: 'afterPromotion', status: 'STARTED' })]);
  });

  it('refuses checks and hooks the stack may not use before anything moves, naming the parameter', async () => {
    // Prepare
    const config = albEcsConfig({ verification: [reconcileCheck], hooks: { afterRollback: [{ name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump' }] } });
    const s = setUp(config, { allowList: { functionArns: [], secretArns: [], alarmPrefixes: [], automationDocumentArns: [] } });

    // Act
    const run = await runHandlers(s.world, config);

    // Assess
    expect(run).toMatchObject({ status: 'FAILED', error: 'ConfigValidationError' });
    expect(run.cause).toContain("verification[0].function: 'orders-reconcile' is not a function this stack may invoke (VerificationFunctionArns: empty)");
    expect(run.cause).toContain("hooks.afterRollback[0].document: 'CanaryCaptureHeapDump' is not a runbook this stack may start");
    expect(canaryWeights(s)).toEqual([]);
    expect(s.verifier.calls()).toEqual([]);
  });
});
