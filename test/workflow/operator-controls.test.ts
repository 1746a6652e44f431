/**
 * The operator controls through the real ASL (rollout and segments) and the real Lambda handlers:
 * a person pausing, resuming, promoting with --full or aborting as `canary` does (the same store
 * writes), `onFailure: halt`, dry-run metrics and checks, and the hotfix path
 * (`checkBaselineHealth: compare`). Route 53 is the in-memory router; the service's metrics follow
 * the share the router really serves.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetAwsDeps } from '../../functions/commons/aws-deps.ts';
import { parseRolloutConfig, route53TargetOf, targetKey, type RolloutConfigInput } from '../../functions/core/config.ts';
import type { RolloutEvent, RolloutHistory, RolloutRecord } from '../../functions/core/rollout-record.ts';
import { routeTraffic } from '../../functions/core/traffic-router.ts';
import { routeVerification } from '../../functions/core/verification.ts';
import { MemoryTraffic } from '../../sim/memory-adapters.ts';
import { MemoryVerifier } from '../../sim/memory-verifiers.ts';
import { rngFor } from '../../sim/prng.ts';
import { albEcsConfig } from '../fixtures/configs.ts';
import { handlerEnv, handlerWorld, runHandlers, serviceMetrics, type ErrorModel, type HandlerWorld } from '../helpers/handler-workflow.ts';

const ID = 'rollout-1';
const START = new Date('2026-03-02T10:00:00Z');
const minutes = (n: number) => n * 60_000;

interface Setup {
  world: HandlerWorld;
  traffic: MemoryTraffic;
  verifier: MemoryVerifier;
  /** The canary's share of requests at a moment (what the metrics follow). */
  share: (at: Date) => number;
}

/** A person at the CLI: called before every task with the head as the steps see it. */
type Operator = (record: RolloutRecord | null, now: Date, s: Setup) => Promise<void>;

/** 5xx share of each variant, given the canary's share of requests and the simulated time. */
type Errors = (variant: 'canary' | 'baseline', canaryShare: number, now: Date) => number;

function setUp(config: RolloutConfigInput, errors: Errors, verdict: (at: Date) => 'PASS' | 'FAIL' = () => 'PASS'): Setup {
  const clock = { now: () => world.clock.now() };
  const traffic = new MemoryTraffic({ clock, rng: rngFor(1, 'route53'), syncDelaySeconds: [20, 20] });
  const verifier = new MemoryVerifier({ clock, answer: () => ({ answer: { verdict: verdict(clock.now()), reason: `the check says ${verdict(clock.now())}` } }) });
  const lazyMetrics = { fetchWindow: (m: never, r: never) => metrics.fetchWindow(m, r) };
  const world = handlerWorld({
    traffic: routeTraffic({ route53: () => traffic }), metrics: lazyMetrics,
    verification: routeVerification({ lambda: verifier, http: verifier }, clock),
    verificationAllowList: { functionArns: ['arn:aws:lambda:us-east-1:123456789012:function:orders-reconcile'], secretArns: [], alarmPrefixes: [], automationDocumentArns: [] },
  }, START);
  const t = route53TargetOf(parseRolloutConfig(config));
  traffic.putRecord(t, { setIdentifier: 'blue', weight: 100, ttl: 60, value: '10.0.0.1' });
  traffic.putRecord(t, { setIdentifier: 'green', weight: 0, ttl: 60, value: '10.0.0.2' });
  const share = (at: Date) => {
    const change = traffic.changes(t).filter((c) => c.inSyncAt.getTime() + 60_000 <= at.getTime()).at(-1);
    return change ? change.weights.canary / 100 : 0;
  };
  const errorModel: ErrorModel = (variant, canaryShare) => errors(variant, canaryShare, world.clock.now());
  const metrics = serviceMetrics(world.clock, share, errorModel);
  return { world, traffic, verifier, share };
}

function run(s: Setup, config: RolloutConfigInput, operator?: Operator) {
  return runHandlers(s.world, config, ID, operator ? async () => operator(await s.world.rollouts.get(ID), s.world.clock.now(), s) : undefined);
}

const canaryWeights = (s: Setup) => s.traffic.changes().map((c) => c.weights.canary);
const history = async (s: Setup): Promise<RolloutHistory> => (await s.world.rollouts.history(ID))!;
const ofType = <T extends RolloutEvent['type']>(h: RolloutHistory, type: T) => h.events.filter((e): e is Extract<RolloutEvent, { type: T }> => e.type === type);
const indexOf = (h: RolloutHistory, pred: (e: RolloutEvent) => boolean) => h.events.findIndex(pred);
const ask = (s: Setup, action: 'PROMOTE' | 'PAUSE' | 'RESUME', reason?: string) =>
  s.world.rollouts.requestControl(ID, action, { at: s.world.clock.now().toISOString(), by: 'alice', ...(reason ? { reason } : {}) });

const healthy: Errors = () => 0.001;

describe('operator controls (real ASL, real handlers)', () => {
  beforeEach(() => {
    handlerEnv();
    resetAwsDeps();
  });
  afterEach(() => resetAwsDeps());

  describe('pause and resume', () => {
    it('a failure while paused still rolls back: the checks go on through the hold (the Flagger bug class)', async () => {
      // Prepare: paused at the first stage's first check; the canary starts failing 10 minutes later.
      const config = albEcsConfig({ stages: [10, 50, 100] });
      let failFrom = new Date(8.64e15);
      const s = setUp(config, (variant, _share, now) => (variant === 'canary' && now >= failFrom ? 0.05 : 0.001));

      // Act
      const result = await run(s, config, async (record, now) => {
        if (record?.lastCheck && !record.paused && record.status === 'RUNNING' && failFrom.getTime() > 8e15) {
          await ask(s, 'PAUSE', 'looking at a dashboard');
          failFrom = new Date(now.getTime() + minutes(10));
        }
      });

      // Assess
      expect(result).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
      expect(canaryWeights(s)).toEqual([10, 0]);
      const h = await history(s);
      expect(h.decision).toMatchObject({ outcome: 'ROLLED_BACK', trigger: 'VERDICT', stageIndex: 0, weight: 10 });
      expect(h.decision!.reasons[0]).toMatch(/^critical metric failed: error-rate/);
      const paused = indexOf(h, (e) => e.type === 'PAUSED');
      const decided = indexOf(h, (e) => e.type === 'DECISION');
      expect(paused).toBeGreaterThan(0);
      expect(paused).toBeLessThan(decided);
      // Checks ran while paused, as holds, until one failed.
      const held = h.events.slice(paused, decided).filter((e) => e.type === 'CHECK' && e.hold);
      expect(held.length).toBeGreaterThan(5);
      expect(held.at(-1)).toMatchObject({ verdict: 'FAIL' });
      expect(ofType(h, 'RESUMED')).toHaveLength(0);
      expect(s.world.incidents.opened).toHaveLength(1);
    });

    it('a paused stage does not advance; resume goes on where it was, its bake not counting the pause', async () => {
      // Prepare
      const config = albEcsConfig({ stages: [10, 50, 100] });
      const s = setUp(config, healthy);
      let pausedAt: Date | undefined;
      let resumedAt: Date | undefined;

      // Act: paused at the first check of stage 1 (in its bake), resumed 2 hours later.
      const result = await run(s, config, async (record, now) => {
        if (record?.lastCheck && !pausedAt) {
          await ask(s, 'PAUSE');
          pausedAt = now;
        } else if (pausedAt && !resumedAt && now.getTime() >= pausedAt.getTime() + minutes(120)) {
          await ask(s, 'RESUME', 'dashboards look fine');
          resumedAt = now;
        }
      });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(canaryWeights(s)).toEqual([10, 50, 100]);
      const stage2 = s.traffic.changes()[1]!;
      expect(stage2.submittedAt.getTime()).toBeGreaterThan(resumedAt!.getTime());
      const h = await history(s);
      const [paused] = ofType(h, 'PAUSED');
      const [resumed] = ofType(h, 'RESUMED');
      expect(paused).toMatchObject({ stageIndex: 0, weight: 10, by: 'alice' });
      expect(resumed).toMatchObject({ stageIndex: 0, weight: 10, by: 'alice', reason: 'dashboards look fine' });
      expect(resumed!.pausedSeconds).toBeGreaterThanOrEqual(7200);
      // Nothing but checks (as holds) between the pause and the resume.
      const between = h.events.slice(h.events.indexOf(paused!) + 1, h.events.indexOf(resumed!));
      expect(new Set(between.map((e) => e.type))).toEqual(new Set(['CHECK', 'CONTROL']));
      expect(between.every((e) => e.type === 'CONTROL' || (e.type === 'CHECK' && e.hold))).toBe(true);
      // The stage's bake was in progress when paused: after the resume it still bakes, not advancing at once.
      const firstCounted = h.events.findIndex((e) => e.type === 'CHECK' && !e.duringBake && !e.hold);
      expect(firstCounted).toBeGreaterThan(h.events.indexOf(resumed!));
      const afterResume = h.events.slice(h.events.indexOf(resumed!) + 1, firstCounted);
      expect(afterResume.some((e) => e.type === 'CHECK' && e.duringBake)).toBe(true);
      expect(ofType(h, 'CONTROL').map((e) => e.request)).toEqual(['PAUSE', 'RESUME']);
    });

    it('a pause at a manual gate holds an approval until the resume; the gate does not time out while paused', async () => {
      // Prepare: the 50 % stage has a manual gate; approved at once, but the rollout is paused first.
      const config = albEcsConfig({ stages: [10, { weight: 50, approval: true }, 100], approvalTimeoutSeconds: 1800 });
      const s = setUp(config, healthy);
      let phase = 0;
      let resumedAt: Date | undefined;

      // Act: paused and approved at the gate; resumed an hour later (past the 30-minute timeout).
      const result = await run(s, config, async (record, now) => {
        if (phase === 0 && record?.pendingApproval) {
          await ask(s, 'PAUSE');
          await s.world.rollouts.answerApproval(ID, { stageIndex: 1, approved: true, by: 'bob', at: now.toISOString() });
          phase = 1;
        } else if (phase === 1 && record?.paused && now.getTime() >= Date.parse(record.paused.at) + minutes(60)) {
          await ask(s, 'RESUME');
          resumedAt = now;
          phase = 2;
        }
      });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(canaryWeights(s)).toEqual([10, 50, 100]);
      expect(s.traffic.changes()[1]!.submittedAt.getTime()).toBeGreaterThan(resumedAt!.getTime());
    });
  });

  describe('promote --full', () => {
    it('goes to 100 % now through the same shift, sync and read-back, recorded PROMOTED with the trigger and who', async () => {
      // Prepare
      const config = albEcsConfig({ stages: [10, 25, 50, 100] });
      const s = setUp(config, healthy);

      // Act: asked at stage 1's first check.
      const result = await run(s, config, async (record) => {
        if (record?.lastCheck && !record.promoteRequested) await ask(s, 'PROMOTE', 'hotfix for INC-42 must ship');
      });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(canaryWeights(s)).toEqual([10, 100]);
      expect(s.traffic.weights(route53TargetOf(parseRolloutConfig(config)))).toEqual({ baseline: 0, canary: 100 });
      const h = await history(s);
      expect(h).toMatchObject({ status: 'PROMOTED', weight: 100 });
      expect(h.decision).toMatchObject({ outcome: 'PROMOTED', trigger: 'MANUAL_PROMOTION', by: 'alice', stageIndex: 3, weight: 100 });
      expect(h.decision!.reasons).toEqual([
        'promoted to 100 % by alice (canary promote --full: hotfix for INC-42 must ship) from stage 1 (canary 10 %)',
        'the analysis and gates of 10 % → 25 % → 50 % were skipped at that person\'s request',
      ]);
      // The promotion was recorded only once the 100 % change was in sync.
      const inSync = indexOf(h, (e) => e.type === 'IN_SYNC' && e.canary === 100);
      expect(inSync).toBeGreaterThan(0);
      expect(inSync).toBeLessThan(indexOf(h, (e) => e.type === 'DECISION'));
      expect(ofType(h, 'NOTE').some((e) => e.message.startsWith('alice asked to promote to 100 % now'))).toBe(true);
      expect(await s.world.rollouts.lockHolder(targetKey(parseRolloutConfig(config).target))).toBeNull();
      // The evidence's last snapshot says so too.
      const evidence = await s.world.evidence.getRollout(ID);
      expect(evidence.record?.decision).toMatchObject({ trigger: 'MANUAL_PROMOTION', by: 'alice' });
    });

    it('a rollout taken over (the safety net, the reconciler) is never promoted: the request meets the fence', async () => {
      // Prepare
      const config = albEcsConfig({ stages: [10, 50, 100] });
      const s = setUp(config, healthy);
      const key = targetKey(parseRolloutConfig(config).target);

      // Act: the reconciler takes it over, then a person asks to promote.
      const result = await run(s, config, async (record, now) => {
        if (record?.lastCheck && record.token && !record.token.startsWith('reconciler@')) {
          await s.world.rollouts.takeOver(ID, { lockKey: key, token: `reconciler@${now.toISOString()}`, leaseSeconds: 600, now });
          await ask(s, 'PROMOTE');
        }
      });

      // Assess
      expect(result).toMatchObject({ status: 'FAILED', error: 'Superseded' });
      expect(canaryWeights(s)).toEqual([10]);
      expect((await history(s)).status).toBe('RUNNING');
    });
  });

  describe('onFailure: halt', () => {
    const haltConfig = () => albEcsConfig({ stages: [10, 50, 100], onFailure: 'halt' });

    /** Halts at the 50 % stage (the canary fails once it has half the traffic); `answer` then plays the person. */
    async function halted(answer: (s: Setup, record: RolloutRecord, now: Date) => Promise<void>, errors?: Errors) {
      const config = haltConfig();
      const s = setUp(config, errors ?? ((variant, share) => (variant === 'canary' && share >= 0.5 ? 0.05 : 0.001)));
      const seen: { record?: RolloutRecord; weights?: number[]; incidents?: number } = {};
      const result = await run(s, config, async (record, now) => {
        if (record?.status !== 'HALTED') return;
        if (!seen.record) {
          // The halt as it is first seen: frozen weights, a page, the lock held.
          seen.record = record;
          seen.weights = canaryWeights(s);
          seen.incidents = s.world.incidents.opened.length;
          return;
        }
        if (now.getTime() >= Date.parse(seen.record.halted!.at) + minutes(30)) await answer(s, record, now);
      });
      return { s, result, seen, config };
    }

    it('halts with the weights frozen at the failing stage and pages; then canary abort rolls back', async () => {
      // Act
      const { s, result, seen, config } = await halted(async (s, record) => {
        if (!record.abortRequested) await s.world.rollouts.requestAbort(ID, 'aborted from the canary CLI by alice', s.world.clock.now());
      });

      // Assess: halted first...
      expect(seen.record).toMatchObject({ status: 'HALTED', stageIndex: 1, weight: 50, halted: { stageIndex: 1, weight: 50, trigger: 'VERDICT' } });
      expect(seen.record!.halted!.reasons[0]).toMatch(/^critical metric failed: error-rate/);
      expect(Date.parse(seen.record!.halted!.deadline) - Date.parse(seen.record!.halted!.at)).toBe(30 * 86_400_000);
      expect(seen.weights).toEqual([10, 50]);
      expect(seen.incidents).toBe(1);
      const page = s.world.incidents.opened[0]!.incident;
      expect(page.title).toMatch(/^Canary HALTED: checkout-api at stage 2 \(50 % canary\), waiting for a person: critical metric failed: error-rate/);
      expect(page.summary).toContain('the weights are frozen (canary 50 %, baseline 50 %) and nothing moves until a person decides');
      expect(page.summary).toContain(`canary promote ${ID} --full`);
      // ...no weight moved while halted (30 minutes), then the abort rolled back.
      expect(result).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
      expect(canaryWeights(s)).toEqual([10, 50, 0]);
      const h = await history(s);
      expect(h).toMatchObject({ status: 'ROLLED_BACK', weight: 0 });
      expect(h.decision).toMatchObject({ trigger: 'ABORTED', stageIndex: 1, weight: 50 });
      expect(h.decision!.reasons[1]).toMatch(/^it had halted at stage 2 \(canary 50 %\) at .*: critical metric failed: error-rate/);
      expect(s.world.incidents.opened).toHaveLength(1);
      expect(await s.world.rollouts.lockHolder(targetKey(parseRolloutConfig(config).target))).toBeNull();
      // No rollback happened before the person answered: the halt came first, the decision after.
      expect(indexOf(h, (e) => e.type === 'HALTED')).toBeLessThan(indexOf(h, (e) => e.type === 'ABORT_REQUESTED'));
      expect(ofType(h, 'DECISION')).toHaveLength(1);
    });

    it('halted, then canary promote --full promotes; the page is resolved', async () => {
      // Act
      const { s, result } = await halted(async (s, record) => {
        if (!record.promoteRequested) await ask(s, 'PROMOTE', 'forward fix: the schema cannot go back');
      });

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(canaryWeights(s)).toEqual([10, 50, 100]);
      const h = await history(s);
      expect(h.decision).toMatchObject({ outcome: 'PROMOTED', trigger: 'MANUAL_PROMOTION', by: 'alice' });
      expect(h.decision!.reasons).toContain('the rollout had halted (onFailure: halt) once; the person decided to promote');
      expect(s.world.incidents.changes.map((c) => c.change.kind)).toEqual(['RESOLVED']);
      expect(s.world.incidents.changes[0]!.change.note).toMatch(/^alice promoted the halted rollout to 100 %/);
      expect(h.halted).toBeUndefined();
    });

    it('halted, then canary resume judges the stage again from now: a passing canary is promoted', async () => {
      // Prepare: the failure is over by the time the person resumes.
      let healthyFrom = new Date(8.64e15);
      const { s, result } = await halted(async (s, record, now) => {
        if (!record.resumeRequested) {
          healthyFrom = now;
          await ask(s, 'RESUME', 'the bad node was replaced');
        }
      }, (variant, share, now) => (variant === 'canary' && share >= 0.5 && now < healthyFrom ? 0.05 : 0.001));

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      expect(canaryWeights(s)).toEqual([10, 50, 100]);
      const h = await history(s);
      expect(ofType(h, 'RESUMED')).toEqual([expect.objectContaining({ fromHalt: true, by: 'alice', reason: 'the bad node was replaced', stageIndex: 1, weight: 50 })]);
      expect(s.world.incidents.changes.map((c) => c.change.kind)).toEqual(['RESOLVED']);
      // Judged again: counted checks at 50 % after the resume, before the promotion.
      const resumed = indexOf(h, (e) => e.type === 'RESUMED');
      expect(h.events.slice(resumed).some((e) => e.type === 'CHECK' && e.weight === 50 && !e.duringBake && e.verdict === 'PASS')).toBe(true);
      expect(h.decision).toMatchObject({ outcome: 'PROMOTED', trigger: 'VERDICT' });
    });
  });

  describe('dry run', () => {
    it('a dry-run metric and a dry-run check that fail are judged and recorded, and never act', async () => {
      // Prepare: memory-strict (max 10 %) fails on the 45 % memory; the check always says FAIL.
      const config = albEcsConfig({
        stages: [10, 100],
        metrics: [{
          name: 'memory-strict', kind: 'gauge', unit: 'percent', threshold: { max: 10 }, critical: true, dryRun: true,
          queries: {
            canary: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ServiceName: 'checkout-green' }, stat: 'Maximum' } },
            baseline: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ServiceName: 'checkout-blue' }, stat: 'Maximum' } },
          },
        }, {
          name: 'error-rate-strict', kind: 'ratio', unit: 'percent', threshold: { max: 0.01 }, critical: true, dryRun: true,
          queries: {
            canary: {
              numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { TargetGroup: 'targetgroup/green/9a3b5c7d1e2f4a6b' }, stat: 'Sum' },
              denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'targetgroup/green/9a3b5c7d1e2f4a6b' }, stat: 'Sum' },
            },
            baseline: {
              numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { TargetGroup: 'targetgroup/blue/6d0ecf831eec9f09' }, stat: 'Sum' },
              denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'targetgroup/blue/6d0ecf831eec9f09' }, stat: 'Sum' },
            },
          },
        }],
        verification: [{ name: 'reconcile-orders', type: 'lambda', function: 'orders-reconcile', critical: true, dryRun: true }],
      });
      const s = setUp(config, healthy, () => 'FAIL');

      // Act
      const result = await run(s, config);

      // Assess: promoted (the baseline's memory-strict failure did not refuse the preflight either).
      expect(result, JSON.stringify([result.cause, (await s.world.rollouts.get(ID))?.decision])).toMatchObject({ status: 'SUCCEEDED' });
      expect(canaryWeights(s)).toEqual([10, 100]);
      const h = await history(s);
      const counted = ofType(h, 'CHECK').filter((e) => !e.duringBake);
      expect(counted.at(-1)!.verdict).toBe('PASS');
      // A critical dry-run ratio failing, a dry-run gauge that cannot be confirmed (it never holds the stage), a dry-run check failing.
      expect(counted.at(-1)!.metrics.find((m) => m.name === 'error-rate-strict')).toMatchObject({ verdict: 'FAIL', dryRun: true });
      expect(counted.at(-1)!.metrics.find((m) => m.name === 'error-rate-strict')!.reason).toMatch(/^dry run: error-rate-strict: /);
      expect(counted.at(-1)!.metrics.find((m) => m.name === 'memory-strict')).toMatchObject({ verdict: 'INCONCLUSIVE', dryRun: true });
      expect(counted.at(-1)!.metrics.find((m) => m.name === 'reconcile-orders')).toMatchObject({ verdict: 'FAIL', dryRun: true });
      // The evidence keeps the dry-run verdicts with their details, for the report's charts.
      const stored = (await s.world.evidence.getRollout(ID)).checks.at(-1)!;
      expect(stored.judgement.verdict).toBe('PASS');
      expect(stored.judgement.metrics.find((m) => m.name === 'error-rate-strict')).toMatchObject({ verdict: 'FAIL', dryRun: true, critical: true, canaryValue: expect.any(Number) });
      expect(stored.window.metrics['error-rate-strict']).toBeDefined();
      expect(stored.judgement.criticalFailure).toBe(false);
      expect(s.world.incidents.opened).toHaveLength(0);
    });
  });

  describe('hotfix: checkBaselineHealth: compare', () => {
    /** The baseline already fails (3 % 5xx, above the 1 % maximum); the canary's own rate. */
    const incident = (canary: number): Errors => (variant) => (variant === 'baseline' ? 0.03 : canary);

    it('the default still refuses a rollout whose baseline breaks a threshold', async () => {
      const config = albEcsConfig({ stages: [10, 100] });
      const s = setUp(config, incident(0.001));

      const result = await run(s, config);

      expect(result).toMatchObject({ status: 'FAILED', error: 'PreflightFailed' });
      expect(result.cause).toContain('checkBaselineHealth: compare');
      expect(canaryWeights(s)).toEqual([]);
    });

    it('starts on the unhealthy baseline and judges the canary against the baseline only: no worse is promoted', async () => {
      // Prepare: the fix makes the canary no worse than the baseline (and better); both above 1 %.
      const config = albEcsConfig({ stages: [10, 100], checkBaselineHealth: 'compare' });
      const s = setUp(config, incident(0.02));

      // Act
      const result = await run(s, config);

      // Assess
      expect(result.status).toBe('SUCCEEDED');
      const h = await history(s);
      expect(h.hotfix).toMatchObject({ metrics: ['error-rate'] });
      expect(ofType(h, 'NOTE')[0]!.message).toMatch(/^checkBaselineHealth: compare \(hotfix\): the baseline already broke error-rate when the rollout started, so that metric is judged against the baseline only \(error-rate no worse than the baseline\)/);
      const stored = (await s.world.evidence.getRollout(ID)).checks.at(-1)!;
      expect(stored.judgement.metrics.find((m) => m.name === 'error-rate')).toMatchObject({ verdict: 'PASS', threshold: {} });
    });

    it('a canary worse than the unhealthy baseline rolls back, and the decision and incident say it was judged against the baseline', async () => {
      // Prepare: the canary is far worse than the baseline's 3 %.
      const config = albEcsConfig({ stages: [10, 100], checkBaselineHealth: 'compare' });
      const s = setUp(config, incident(0.15));

      // Act
      const result = await run(s, config);

      // Assess
      expect(result).toMatchObject({ status: 'FAILED', error: 'RolledBack' });
      const d = (await history(s)).decision!;
      expect(d.reasons.at(-1)).toMatch(/^checkBaselineHealth: compare \(hotfix\): the baseline already broke error-rate/);
      expect(s.world.incidents.opened[0]!.incident.summary).toContain('judged against the baseline only');
    });

    it('once the baseline is healthy again, the thresholds apply from the next stage', async () => {
      // Prepare: the baseline heals 2 minutes in, during the first stage's long bake; the fix is good.
      const config = albEcsConfig({ stages: [{ weight: 10, bakeSeconds: 1800 }, 50, 100], checkBaselineHealth: 'compare' });
      const healed = new Date(START.getTime() + minutes(2));
      const s = setUp(config, (variant, _share, now) => (variant === 'baseline' && now < healed ? 0.03 : 0.001));

      // Act
      const result = await run(s, config);

      // Assess: stage 1 judged against the baseline only, stage 2 against the threshold again.
      expect(result.status).toBe('SUCCEEDED');
      const h = await history(s);
      expect(h.hotfix!.healthyAt).toBeDefined();
      expect(ofType(h, 'NOTE').some((e) => e.message.startsWith('checkBaselineHealth: compare: the baseline is healthy again'))).toBe(true);
      const thresholdAt = (stageIndex: number) => (s.world.evidence.getRollout(ID)).then((e) => e.checks.filter((c) => c.stageIndex === stageIndex)
        .map((c) => c.judgement.metrics.find((m) => m.name === 'error-rate')!.threshold));
      expect(new Set((await thresholdAt(0)).map((t) => JSON.stringify(t)))).toEqual(new Set(['{}']));
      expect(new Set((await thresholdAt(1)).map((t) => JSON.stringify(t)))).toEqual(new Set(['{"max":1}']));
    });
  });
});
