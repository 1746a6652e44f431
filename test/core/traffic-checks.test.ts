/**
 * The traffic checks as a stage runs them (functions/core/traffic-checks.ts): the counts riding in
 * the metrics call, the window the judge sees, the verdicts, and what a starved canary does to a
 * stage. And the one dispatch by target kind (functions/core/traffic-router.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseRolloutConfig, type RolloutTarget } from '../../functions/core/config.ts';
import type { MetricWindow } from '../../functions/core/judge.ts';
import type { RouterReading, TrafficRouter } from '../../functions/core/router.ts';
import {
  countsOf, isInformational, judgeTraffic, judgeWindow, TRAFFIC_METRICS, trafficCountMetrics, trafficGate, type TrafficJudgement,
} from '../../functions/core/traffic-checks.ts';
import { routeTraffic, RouterNotWiredError } from '../../functions/core/traffic-router.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

const config = parseRolloutConfig(albEcsConfig());
const perMinute = (n: number, canary: number | null, baseline: number | null) => ({
  periodSeconds: 60,
  canary: { requests: Array(n).fill(canary), errors: Array(n).fill(null) },
  baseline: { requests: Array(n).fill(baseline), errors: Array(n).fill(null) },
});

describe('the counts in the metrics call', () => {
  it('are two synthetic metrics (requests, errors) over the preset\'s queries; none when the checks are off', () => {
    // Act
    const metrics = trafficCountMetrics(config);
    const off = trafficCountMetrics(parseRolloutConfig(albEcsConfig({ trafficChecks: { enabled: false } })));

    // Assess
    expect(metrics.map((m) => m.name)).toEqual([TRAFFIC_METRICS.requests, TRAFFIC_METRICS.errors]);
    expect(metrics[0]!.queries.canary).toEqual({ value: config.trafficChecks.requestCounts!.canary.requests });
    expect(off).toEqual([]);
  });

  it('are cut from the window the judge sees, and read back as counts from any period on', () => {
    // Prepare
    const window: MetricWindow = {
      periodSeconds: 60, start: '2026-01-01T00:00:00.000Z',
      metrics: {
        memory: { canary: { values: [1, 2, 3] }, baseline: { values: [4, 5, 6] } },
        [TRAFFIC_METRICS.requests]: { canary: { values: [10, 20, 30] }, baseline: { values: [90, 80, 70] } },
        [TRAFFIC_METRICS.errors]: { canary: { values: [null, 1, null] }, baseline: { values: [null, null, 2] } },
      },
    };

    // Act
    const judged = judgeWindow(window, 1);
    const kept = judgeWindow(window, 1, { keepCounts: true });
    const counts = countsOf(window, 1);
    const reference = countsOf(window, 0, 1);

    // Assess
    expect(judged).toEqual({ periodSeconds: 60, start: '2026-01-01T00:01:00.000Z', metrics: { memory: { canary: { values: [2, 3] }, baseline: { values: [5, 6] } } } });
    expect(Object.keys(kept.metrics)).toEqual(['memory', TRAFFIC_METRICS.requests, TRAFFIC_METRICS.errors]);
    expect(counts).toEqual({ periodSeconds: 60, canary: { requests: [20, 30], errors: [1, null] }, baseline: { requests: [80, 70], errors: [null, 2] } });
    expect(reference?.canary.requests).toEqual([10]);
    expect(countsOf({ periodSeconds: 60, metrics: {} })).toBeNull();
  });
});

describe('judgeTraffic', () => {
  it('gives no share verdict while the router settles (Route 53: its TTL plus five minutes)', () => {
    // Act
    const j = judgeTraffic({ config, kind: 'route53', weight: 5, counts: perMinute(5, 50, 950), secondsSinceInSync: 300, routerSettleSeconds: 60 });

    // Assess
    expect(j).toEqual({ share: null, throughput: [] });
  });

  it('passes a canary that serves its weight, and compares throughput with the stage start and the pre-rollout minutes', () => {
    // Act
    const j = judgeTraffic({
      config, kind: 'alb', weight: 10, counts: perMinute(5, 1000, 9000), secondsSinceInSync: 600, routerSettleSeconds: 0,
      stageStart: perMinute(5, 500, 9500), preRollout: perMinute(5, 0, 10_000),
    });

    // Assess
    expect(j.share?.verdict).toBe('PASS');
    expect(j.throughput.map((v) => [v.name, v.verdict])).toEqual([['throughput-vs-stage-start', 'PASS'], ['throughput-vs-pre-rollout', 'PASS']]);
  });

  it('fails a starved canary, and reads a canary with no count at all as no data (its metrics may have stopped), not as starved', () => {
    // Act
    const starved = judgeTraffic({ config, kind: 'alb', weight: 10, counts: perMinute(5, 10, 9990), secondsSinceInSync: 600, routerSettleSeconds: 0 });
    const silent = judgeTraffic({ config, kind: 'alb', weight: 10, counts: perMinute(5, null, 9990), secondsSinceInSync: 600, routerSettleSeconds: 0 });

    // Assess
    expect(starved.share?.verdict).toBe('FAIL');
    expect(starved.share?.reason).toMatch(/^traffic did not move: the canary served 0\.1 % of requests at weight 10 %/);
    expect(silent.share?.verdict).toBe('INCONCLUSIVE');
    expect(silent.share?.sample.canary).toBe(0);
    expect(silent.share?.reason).toMatch(/^no request count from the canary in 5 min after settling while the baseline served 49,950 requests/);
    expect(isInformational(silent.share!)).toBe(true);
  });

  it('fails a drop of successful requests against the stage start; without a reference it does not compare', () => {
    // Act
    const dropped = judgeTraffic({
      config, kind: 'alb', weight: 10, counts: perMinute(5, 600, 5400), secondsSinceInSync: 600, routerSettleSeconds: 0, stageStart: perMinute(5, 0, 10_000),
    });
    const alone = judgeTraffic({ config, kind: 'alb', weight: 10, counts: perMinute(5, 600, 5400), secondsSinceInSync: 600, routerSettleSeconds: 0 });

    // Assess
    expect(dropped.throughput[0]).toMatchObject({ name: 'throughput-vs-stage-start', verdict: 'FAIL' });
    expect(dropped.throughput[0]!.reason).toMatch(/^throughput dropped: 100\/s successful requests against 166\.7\/s at the stage's start \(-40 %/);
    expect(alone.throughput).toEqual([]);
  });
});

describe('trafficGate: a starved canary holds the stage, then rolls back saying traffic did not move', () => {
  const now = new Date('2026-01-01T01:00:00Z');
  const shareOf = (verdict: 'PASS' | 'FAIL' | 'INCONCLUSIVE'): TrafficJudgement => ({
    share: { name: 'traffic-share', verdict, critical: false, reason: `traffic ${verdict}`, test: 'wilson-share', canaryValue: 1, baselineValue: null, threshold: {}, sample: { canary: 5, baseline: 5 } },
    throughput: [],
  });

  it('holds while settling, lets a pass or an unsure share through', () => {
    expect(trafficGate({ share: null, throughput: [] }, undefined, now, 600)).toEqual({ action: 'HOLD' });
    expect(trafficGate(shareOf('PASS'), '2026-01-01T00:55:00Z', now, 600)).toEqual({ action: 'NONE' });
    expect(trafficGate(shareOf('INCONCLUSIVE'), undefined, now, 600)).toEqual({ action: 'NONE' });
    expect(trafficGate(null, undefined, now, 600)).toEqual({ action: 'NONE' });
  });

  it('starts the wait at the first starved check and rolls back once it has lasted starvedWaitSeconds', () => {
    // Act
    const first = trafficGate(shareOf('FAIL'), undefined, now, 600);
    const still = trafficGate(shareOf('FAIL'), '2026-01-01T00:55:00Z', now, 600);
    const over = trafficGate(shareOf('FAIL'), '2026-01-01T00:50:00Z', now, 600);

    // Assess
    expect(first).toEqual({ action: 'HOLD', starvedSince: now.toISOString() });
    expect(still).toEqual({ action: 'HOLD', starvedSince: '2026-01-01T00:55:00Z' });
    expect(over).toEqual({
      action: 'ROLLBACK', starvedSince: '2026-01-01T00:50:00Z',
      reasons: ['traffic FAIL', 'traffic did not follow the weight for 10 min (trafficChecks.starvedWaitSeconds 600 s): a canary that barely served anyone is not judged healthy'],
    });
  });
});

describe('routeTraffic: one dispatch by the target\'s kind', () => {
  /** A router that says which kind it is and what it was asked. */
  function fake(kind: string, calls: string[]): TrafficRouter<RolloutTarget> {
    const reading = (definition?: unknown): RouterReading => ({ canaryPercent: 0, problems: [], settleSeconds: 0, definition: { kind, given: definition ?? null } });
    return {
      read: async (_t, definition) => { calls.push(`${kind}.read`); return reading(definition); },
      shift: async (_t, p) => { calls.push(`${kind}.shift ${p}`); return { changeId: `${kind}-1` }; },
      restore: async () => { calls.push(`${kind}.restore`); return { changeId: `${kind}-0` }; },
      isInSync: async () => { calls.push(`${kind}.isInSync`); return true; },
    };
  }

  it('hands each call to the router of target.type (Route 53 when absent), building each router only when first needed', async () => {
    // Prepare
    const calls: string[] = [];
    const built: string[] = [];
    const factory = (kind: string) => () => { built.push(kind); return fake(kind, calls); };
    const traffic = routeTraffic({ route53: factory('route53'), alb: factory('alb'), 'lambda-alias': factory('lambda-alias'), 'appconfig-flag': factory('appconfig-flag') });
    const route53 = parseRolloutConfig(albEcsConfig()).target;
    const alias = parseRolloutConfig({ ...albEcsConfig(), target: { type: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7', baselineVersion: '6' } }).target;

    // Act
    const reading = await traffic.read(alias, { kind: 'lambda-alias', baselineVersion: '6' });
    await traffic.shift(route53, 5, { definition: {} });
    await traffic.isInSync(alias, 'x');
    await traffic.restore(route53, {});

    // Assess
    expect(calls).toEqual(['lambda-alias.read', 'route53.shift 5', 'lambda-alias.isInSync', 'route53.restore']);
    expect(reading.definition).toEqual({ kind: 'lambda-alias', given: { kind: 'lambda-alias', baselineVersion: '6' } });
    expect(built).toEqual(['lambda-alias', 'route53', 'lambda-alias', 'route53']);
  });

  it('rejects a kind with no router wired (a bug of ours), as a rejected promise', async () => {
    // Prepare
    const traffic = routeTraffic({});
    const target = parseRolloutConfig(albEcsConfig()).target;

    // Act / Assess
    await expect(traffic.read(target)).rejects.toBeInstanceOf(RouterNotWiredError);
    await expect(traffic.read(target)).rejects.toThrow("no route53 router is wired here: the target's type 'route53' has no router in this process");
  });
});
