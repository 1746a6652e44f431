/**
 * The simulator's parts on plain data: the seeded samplers, the in-memory ports (with the
 * semantics of the AWS adapters) and the service model behind the simulated CloudWatch.
 */
import { describe, expect, it } from 'vitest';
import { parseRolloutConfig } from '../../functions/core/config.ts';
import { isRatioSeries, type GaugeSeries, type RatioSeries } from '../../functions/core/judge.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryRollouts, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { binomial, hashSeed, mulberry32, normal, poisson } from '../../sim/prng.ts';
import { healthy } from '../../sim/scenarios.ts';
import { ServiceModel, SimulationModelError, type ServiceProfile } from '../../sim/service-model.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('prng', () => {
  it('mulberry32 is deterministic per seed and uniform in [0, 1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(mean(xs)).toBeCloseTo(0.5, 1);
    expect(mulberry32(8)()).not.toBe(mulberry32(7)());
  });

  it('hashSeed separates streams and does not depend on anything but its parts', () => {
    expect(hashSeed(1, 'canary', 60)).toBe(hashSeed(1, 'canary', 60));
    expect(hashSeed(1, 'canary', 60)).not.toBe(hashSeed(1, 'baseline', 60));
    expect(hashSeed(1, 'canary', 60)).not.toBe(hashSeed(2, 'canary', 60));
  });

  it('normal, poisson and binomial have the right means and spreads', () => {
    const rng = mulberry32(1);
    const z = Array.from({ length: 20_000 }, () => normal(rng));
    expect(mean(z)).toBeCloseTo(0, 1);
    expect(Math.sqrt(mean(z.map((v) => v * v)))).toBeCloseTo(1, 1);
    for (const lambda of [0.3, 4, 60, 6000]) {
      const xs = Array.from({ length: 5000 }, () => poisson(rng, lambda));
      expect(Math.abs(mean(xs) - lambda)).toBeLessThan(4 * Math.sqrt(lambda / 5000) + 1e-9);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    }
    expect(poisson(rng, 0)).toBe(0);
    for (const [n, p] of [[50, 0.1], [5000, 0.0005], [100_000, 0.03]] as const) {
      const xs = Array.from({ length: 3000 }, () => binomial(rng, n, p));
      expect(Math.abs(mean(xs) - n * p)).toBeLessThan(4 * Math.sqrt((n * p * (1 - p)) / 3000) + 1e-9);
      expect(xs.every((x) => x >= 0 && x <= n)).toBe(true);
    }
    expect(binomial(rng, 10, 0)).toBe(0);
    expect(binomial(rng, 10, 1)).toBe(10);
  });
});

const target = { hostedZoneId: 'Z1', recordName: 'api.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };

describe('MemoryTraffic (Route 53, behind the router port)', () => {
  it('sets both weights in one change that is INSYNC 20-40 s later', async () => {
    // Prepare
    const clock = new SimClock(new Date('2026-01-01T00:00:00Z'));
    const traffic = new MemoryTraffic({ clock, rng: mulberry32(3) });
    traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60, value: '10.0.0.1' });
    traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60, value: '10.0.0.2' });
    const { definition } = await traffic.read(target);
    // Act
    const { changeId } = await traffic.shift(target, 5, { expectedPercent: 0, definition });
    // Assess
    expect(await traffic.read(target)).toEqual({
      canaryPercent: 5, problems: [], settleSeconds: 60,
      definition: { kind: 'route53', records: [
        { setIdentifier: 'blue', weight: 95, ttl: 60, value: '10.0.0.1' }, { setIdentifier: 'green', weight: 5, ttl: 60, value: '10.0.0.2' },
      ] },
    });
    expect(traffic.weights(target)).toEqual({ baseline: 95, canary: 5 });
    expect(await traffic.isInSync(target, changeId)).toBe(false);
    clock.advance(19);
    expect(await traffic.isInSync(target, changeId)).toBe(false);
    clock.advance(21);
    expect(await traffic.isInSync(target, changeId)).toBe(true);
    const [change] = traffic.changes(target);
    expect(change).toMatchObject({ id: changeId, weights: { canary: 5, baseline: 95 }, previous: { canary: 0, baseline: 100 } });
  });

  it('refuses a missing record, a bad weight and an unknown change id', async () => {
    const clock = new SimClock();
    const traffic = new MemoryTraffic({ clock, rng: mulberry32(1) });
    traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60 });
    const incomplete = await traffic.read(target);
    expect(incomplete.canaryPercent).toBeNull();
    expect(incomplete.problems).toEqual([expect.stringContaining("no weighted record with the canary 'green' SetIdentifier")]);
    await expect(traffic.shift(target, 1, { expectedPercent: 0, definition: incomplete.definition })).rejects.toMatchObject({ name: 'TrafficStateError' });
    traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60 });
    const { definition } = await traffic.read(target);
    await expect(traffic.shift(target, 256, { expectedPercent: 0, definition })).rejects.toThrow(RangeError);
    await expect(traffic.shift(target, 101, { expectedPercent: 0, definition })).rejects.toThrow(RangeError);
    await expect(traffic.isInSync(target, 'C404')).rejects.toThrow(/NoSuchChange/);
    expect(traffic.changes(target)).toEqual([]);
  });

  it('shifts only from the share it expects (compare-and-set): a change made outside the rollout is refused, nothing moves', async () => {
    const clock = new SimClock();
    const traffic = new MemoryTraffic({ clock, rng: mulberry32(1) });
    traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60 });
    traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60 });
    const { definition } = await traffic.read(target);
    await traffic.shift(target, 10, { expectedPercent: 0, definition });
    traffic.setWeightsBy(target, { canary: 0, baseline: 100 }, 'a person');

    await expect(traffic.shift(target, 25, { expectedPercent: 10, definition })).rejects.toMatchObject({ name: 'TrafficStateError', message: expect.stringMatching(/changed outside the rollout/) });

    expect(traffic.weights(target)).toEqual({ baseline: 100, canary: 0 });
    expect(traffic.changes(target).map((c) => [c.weights.canary, c.by])).toEqual([[10, undefined], [0, 'a person']]);
  });

  it('restores the baseline as it was read, whatever happened since: a deleted record re-created, a raised TTL lowered', async () => {
    const clock = new SimClock();
    const traffic = new MemoryTraffic({ clock, rng: mulberry32(1) });
    traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60, value: '10.0.0.1' });
    traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60, value: '10.0.0.2' });
    const { definition } = await traffic.read(target);
    await traffic.shift(target, 50, { expectedPercent: 0, definition });
    traffic.deleteRecord(target, 'blue');
    traffic.setTtl(target, 3600);

    const { changeId } = await traffic.restore(target, definition);

    // Both records as preflight read them (the baseline's value, weight and TTL), the canary at 0.
    expect(await traffic.read(target)).toEqual({ canaryPercent: 0, problems: [], settleSeconds: 60, definition });
    expect(traffic.changes(target).at(-1)).toMatchObject({ id: changeId, weights: { baseline: 100, canary: 0 }, previous: { baseline: 0, canary: 50 } });
  });
});

describe('MemoryRollouts: traffic-target locks', () => {
  it('takes, renews, refuses others, is taken over after the lease, and releases only for its owner', async () => {
    const locks = new MemoryRollouts();
    const t0 = new Date('2026-01-01T00:00:00Z');
    const at = (s: number) => new Date(t0.getTime() + s * 1000);
    expect(await locks.acquireLock('k', 'a', 60, t0)).toEqual({ started: true });
    expect(await locks.acquireLock('k', 'a', 60, at(30))).toEqual({ started: true }); // renewal: lease to 90 s
    expect(await locks.acquireLock('k', 'b', 60, at(89))).toEqual({ started: false, holder: 'a', expiresAt: at(90).toISOString() });
    await locks.releaseLock('k', 'b'); // not b's: nothing happens
    expect((await locks.lockHolder('k'))?.owner).toBe('a');
    expect(await locks.acquireLock('k', 'b', 60, at(91))).toEqual({ started: true }); // a's lease ended
    await locks.releaseLock('k', 'a');
    expect((await locks.lockHolder('k'))?.owner).toBe('b');
    await locks.releaseLock('k', 'b');
    await locks.releaseLock('k', 'b'); // twice is fine
    expect(await locks.lockHolder('k')).toBeNull();
  });

  it('begin takes the lock with the record; fence renews it for its token only; takeOver gives the rollout a new token', async () => {
    const store = new MemoryRollouts();
    const t0 = new Date('2026-01-01T00:00:00Z');
    const at = (s: number) => new Date(t0.getTime() + s * 1000);
    const head = (id: string, token: string): RolloutRecord => ({
      rolloutId: id, name: 'svc', targetKey: 'k', status: 'RUNNING', token, startedAt: t0.toISOString(), updatedAt: t0.toISOString(), stageIndex: 0, weight: 0,
    });
    expect(await store.begin(head('r1', 't1'), [], { key: 'k', leaseSeconds: 60, now: t0 })).toEqual({ started: true });
    // Another rollout of the same target is refused while r1's lease runs.
    expect(await store.begin(head('r2', 't2'), [], { key: 'k', leaseSeconds: 60, now: at(30) })).toEqual({ started: false, holder: 'r1', expiresAt: at(60).toISOString() });
    expect(await store.get('r2')).toBeNull();
    // The same rollout and token again (a retried preflight) is fine; another token is a reused id.
    expect(await store.begin(head('r1', 't1'), [], { key: 'k', leaseSeconds: 60, now: at(1) })).toEqual({ started: true });
    await expect(store.begin(head('r1', 'other'), [], { key: 'k', leaseSeconds: 60, now: at(1) })).rejects.toMatchObject({ name: 'PreflightFailed' });

    await store.fence('r1', { lockKey: 'k', token: 't1', leaseSeconds: 60, now: at(50) });
    expect((await store.lockHolder('k'))).toEqual({ owner: 'r1', token: 't1', expiresAt: at(110).toISOString() });
    await expect(store.fence('r1', { lockKey: 'k', token: 'stale', leaseSeconds: 60, now: at(51) })).rejects.toMatchObject({ name: 'FencedOut' });

    const taken = await store.takeOver('r1', { lockKey: 'k', token: 'net', leaseSeconds: 60, now: at(52) });
    expect(taken).toMatchObject({ ok: true, record: { rolloutId: 'r1', token: 'net' } });
    await expect(store.fence('r1', { lockKey: 'k', token: 't1', leaseSeconds: 60, now: at(53) })).rejects.toMatchObject({ name: 'FencedOut' });
    await expect(store.update('r1', { weight: 5 }, [], { token: 't1' })).rejects.toMatchObject({ name: 'FencedOut' });
    expect((await store.get('r1'))!.weight).toBe(0);
  });
});

describe('MemoryRollouts', () => {
  const record = (id: string, startedAt: string): RolloutRecord => ({
    rolloutId: id, name: 'svc', targetKey: `Z1/${id}.example.com/A`, status: 'RUNNING', token: `${id}-token`, startedAt, updatedAt: startedAt,
    stageIndex: 0, weight: 0,
  });
  const begin = (store: MemoryRollouts, r: RolloutRecord) =>
    store.begin(r, [{ type: 'STARTED', at: r.startedAt, stages: [1, 100] }], { key: r.targetKey, leaseSeconds: 60, now: new Date(r.startedAt) });

  it('creates once, merges patches, appends events, and hands out copies', async () => {
    const store = new MemoryRollouts();
    const seen: string[] = [];
    store.subscribe((_id, events) => seen.push(...events.map((e) => e.type)));
    await begin(store, record('r1', '2026-01-01T00:00:00.000Z'));
    await begin(store, { ...record('r1', '2026-01-01T00:00:00.000Z'), name: 'other' }); // idempotent
    await store.update('r1', { stageIndex: 1, weight: 5 }, [{ type: 'NOTE', at: '2026-01-01T00:01:00.000Z', message: 'hi' }]);
    const got = (await store.history('r1'))!;
    expect(got).toMatchObject({ name: 'svc', stageIndex: 1, weight: 5, eventCount: 2 });
    expect(got.events.map((e) => e.type)).toEqual(['STARTED', 'NOTE']);
    got.events.length = 0;
    expect((await store.history('r1'))!.events).toHaveLength(2);
    expect(await store.get('r1')).not.toHaveProperty('events'); // the head alone
    expect(seen).toEqual(['STARTED', 'NOTE']);
    await expect(store.update('nope', { weight: 1 })).rejects.toMatchObject({ name: 'RolloutNotFound' });
    expect(await store.get('nope')).toBeNull();
    expect(await store.history('nope')).toBeNull();
  });

  it('hands out the events after a cursor, as `canary watch` follows them', async () => {
    const store = new MemoryRollouts();
    await begin(store, record('r1', '2026-01-01T00:00:00.000Z'));
    const first = await store.events('r1');
    expect(first.events.map((e) => e.type)).toEqual(['STARTED']);
    expect((await store.events('r1', first.cursor)).events).toEqual([]);
    await store.update('r1', {}, [{ type: 'NOTE', at: '2026-01-01T00:01:00.000Z', message: 'hi' }]);
    expect((await store.events('r1', first.cursor)).events.map((e) => e.type)).toEqual(['NOTE']);
  });

  it('records an abort request on a running rollout only', async () => {
    const store = new MemoryRollouts();
    await begin(store, record('r1', '2026-01-01T00:00:00.000Z'));
    await store.requestAbort('r1', 'bad deploy', new Date('2026-01-01T00:05:00Z'));
    const got = (await store.history('r1'))!;
    expect(got.abortRequested).toEqual({ at: '2026-01-01T00:05:00.000Z', reason: 'bad deploy' });
    expect(got.events.at(-1)).toMatchObject({ type: 'ABORT_REQUESTED', reason: 'bad deploy' });
    await store.update('r1', { status: 'PROMOTED' });
    await expect(store.requestAbort('r1', 'late', new Date())).rejects.toMatchObject({ name: 'RolloutNotRunning' });
    await expect(store.requestAbort('nope', 'x', new Date())).rejects.toMatchObject({ name: 'RolloutNotFound' });
  });

  it('lists newest first', async () => {
    const store = new MemoryRollouts();
    await begin(store, record('old', '2026-01-01T00:00:00.000Z'));
    await begin(store, record('new', '2026-01-02T00:00:00.000Z'));
    expect((await store.list(10)).map((r) => r.rolloutId)).toEqual(['new', 'old']);
    expect(await store.list(1)).toHaveLength(1);
  });

  it('refuses an item over DynamoDB\'s 400 KB, as DynamoDB does, and keeps the rollout as it was', async () => {
    const store = new MemoryRollouts();
    await begin(store, record('r1', '2026-01-01T00:00:00.000Z'));
    const huge = 'x'.repeat(410_000);
    await expect(store.update('r1', { weight: 5 }, [{ type: 'NOTE', at: '2026-01-01T00:01:00.000Z', message: huge }])).rejects.toMatchObject({ name: 'ValidationException' });
    expect(await store.history('r1')).toMatchObject({ weight: 0, events: [{ type: 'STARTED' }] });
  });
});

describe('ServiceModel (simulated CloudWatch)', () => {
  const config = parseRolloutConfig({
    name: 'svc', target,
    preset: { type: 'alb-ecs', loadBalancer: 'app/lb/1', baselineTargetGroup: 'tg/b', canaryTargetGroup: 'tg/c', cluster: 'c', baselineService: 'b', canaryService: 'g' },
  });
  const profile = (canary = healthy()): ServiceProfile => ({ requestsPerMinute: 6000, latencySigma: 0.35, memoryNoisePercent: 1.5, baseline: healthy(), canary });

  function world(p = profile()) {
    const start = new Date('2026-01-01T00:00:00Z');
    const clock = new SimClock(start);
    const traffic = new MemoryTraffic({ clock, rng: mulberry32(1), syncDelaySeconds: [30, 30] });
    traffic.putRecord(target, { setIdentifier: 'blue', weight: 100, ttl: 60 });
    traffic.putRecord(target, { setIdentifier: 'green', weight: 0, ttl: 60 });
    const model = new ServiceModel({ profile: p, traffic, target, clock, seed: 1, startedAt: start, ttlSeconds: 60 });
    return { start, clock, traffic, model };
  }
  const minutes = (start: Date, m: number) => new Date(start.getTime() + m * 60_000);

  it('moves requests to the canary over one TTL after the change is INSYNC', async () => {
    const { start, clock, traffic, model } = world();
    await traffic.shift(target, 10, { expectedPercent: 0, definition: (await traffic.read(target)).definition }); // INSYNC at +30 s
    expect(model.canaryShareAt(start.getTime() + 29_000)).toBe(0);
    expect(model.canaryShareAt(start.getTime() + 60_000)).toBeCloseTo(0.05, 5); // half way through the TTL
    expect(model.canaryShareAt(start.getTime() + 90_000)).toBeCloseTo(0.1, 5);
    clock.advanceTo(minutes(start, 30));
    const w = await model.fetchWindow(config.metrics, { start: minutes(start, 5), end: minutes(start, 25), periodSeconds: 60 });
    const requests = (variant: 'canary' | 'baseline') => (w.metrics['error-rate']![variant] as RatioSeries).denominator.reduce<number>((a, b) => a + (b ?? 0), 0);
    const share = requests('canary') / (requests('canary') + requests('baseline')!);
    expect(share).toBeGreaterThan(0.09);
    expect(share).toBeLessThan(0.11);
    expect(requests('canary') + requests('baseline')).toBeGreaterThan(20 * 6000 * 0.9);
  });

  it('answers like CloudWatch: nothing for a period not yet over, no 5xx datapoint without errors, no request count without requests', async () => {
    const { start, clock, model } = world();
    clock.advanceTo(minutes(start, 10));
    const w = await model.fetchWindow(config.metrics, { start: minutes(start, 5), end: minutes(start, 12), periodSeconds: 60 });
    const canary = w.metrics['error-rate']!.canary as RatioSeries;
    // The canary has weight 0: no requests, so no RequestCount, no 5xx, no latency datapoints.
    expect(canary.denominator).toEqual(Array(7).fill(null));
    expect(canary.numerator).toEqual(Array(7).fill(null));
    expect((w.metrics['latency-p99']!.canary as GaugeSeries).values).toEqual(Array(7).fill(null));
    // Memory is reported either way; periods ending after now (10 min) have no datapoint yet.
    const memory = (w.metrics.memory!.canary as GaugeSeries).values;
    expect(memory.slice(0, 5).every((v) => typeof v === 'number' && v > 30 && v < 60)).toBe(true);
    expect(memory.slice(5)).toEqual([null, null]);
    const baseline = w.metrics['error-rate']!.baseline as RatioSeries;
    expect(baseline.denominator.slice(0, 5).every((v) => v !== null && v > 5000)).toBe(true);
    // 0.05 % of 6000 requests: 3 errors a minute on average, and some minutes none (null, as ALB).
    expect(baseline.numerator.slice(0, 5).some((v) => v === null || v > 0)).toBe(true);
    expect(isRatioSeries(w.metrics['error-rate']!.canary)).toBe(true);
    expect(w.start).toBe(minutes(start, 5).toISOString());
  });

  it('gives the same datapoint however often and in whatever order it is asked', async () => {
    const { start, clock, traffic, model } = world();
    await traffic.shift(target, 50, { expectedPercent: 0, definition: (await traffic.read(target)).definition });
    clock.advanceTo(minutes(start, 20));
    const a = await model.fetchWindow(config.metrics, { start: minutes(start, 10), end: minutes(start, 15), periodSeconds: 60 });
    await model.fetchWindow(config.metrics, { start: minutes(start, 2), end: minutes(start, 19), periodSeconds: 60 });
    const b = await model.fetchWindow(config.metrics, { start: minutes(start, 10), end: minutes(start, 15), periodSeconds: 60 });
    expect(b).toEqual(a);
  });

  it('a slower canary has a higher p99, close to the profile', async () => {
    const slow = healthy({ latencyP99Seconds: () => 0.5 });
    const { start, clock, traffic, model } = world(profile(slow));
    await traffic.shift(target, 50, { expectedPercent: 0, definition: (await traffic.read(target)).definition });
    clock.advanceTo(minutes(start, 20));
    const w = await model.fetchWindow(config.metrics, { start: minutes(start, 5), end: minutes(start, 15), periodSeconds: 60 });
    const p99 = (v: 'canary' | 'baseline') => mean((w.metrics['latency-p99']![v] as GaugeSeries).values as number[]);
    expect(p99('canary')).toBeGreaterThan(0.45);
    expect(p99('canary')).toBeLessThan(0.55);
    expect(p99('baseline')).toBeGreaterThan(0.22);
    expect(p99('baseline')).toBeLessThan(0.28);
  });

  it('names a metric it has no model for', async () => {
    const { model } = world();
    const cpu = { ...config.metrics[0]!, name: 'cpu', queries: { canary: { value: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', dimensions: {}, stat: 'Average' } }, baseline: { value: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', dimensions: {}, stat: 'Average' } } } };
    await expect(model.fetchWindow([cpu], { start: new Date(0), end: new Date(60_000), periodSeconds: 60 })).rejects.toThrow(SimulationModelError);
  });
});
