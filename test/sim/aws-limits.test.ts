/**
 * The pure AWS helpers: DynamoDB's item size against hand-computed examples, the token bucket on
 * simulated time, and the retry pause formula.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../sim/clock.ts';
import {
  DYNAMODB_ITEM_LIMIT_BYTES, dynamoItemSize, dynamoNumberSize, payloadBytes, retryDelaySeconds, ROUTE53_ACCOUNT_BUCKET, TokenBucket,
} from '../../sim/aws-limits.ts';

describe('dynamoItemSize', () => {
  it.each<[Record<string, unknown>, number, string]>([
    // [item, size, how]
    [{ id: 'abc' }, 5, "name 'id' 2 + 'abc' 3"],
    [{ 'é': 'ü' }, 4, 'UTF-8: 2 + 2'],
    [{ n: 123 }, 4, "'n' 1 + 3 digits → 2 + 1"],
    [{ n: 12300 }, 4, 'trailing zeroes trimmed: 123 → 3'],
    [{ n: 0.0015 }, 3, 'leading zeroes trimmed: 15 → 2'],
    [{ n: -1.5e-7 }, 3, 'sign and exponent do not count: 15 → 2'],
    [{ n: 0 }, 2, 'zero: 1 byte'],
    [{ b: true, z: null }, 4, 'booleans and null: 1 byte each'],
    [{ l: [] }, 4, 'empty list: 3 bytes'],
    [{ l: ['a', 1] }, 9, "'l' 1 + 3 + (1 + 1) + (1 + 2)"],
    [{ m: { k: 'v' } }, 7, "'m' 1 + 3 + ('k' 1 + 1 + 'v' 1)"],
    [{ m: { inner: { x: [true] } } }, 20, "'m' 1 + 3 + ('inner' 5 + 1 + 3 + ('x' 1 + 1 + 3 + (1 + 1)))"],
    [{ bin: new Uint8Array(10) }, 13, 'binary: raw bytes, not base64'],
    [{ s: new Set(['ab', 'c']) }, 4, 'string set: the elements'],
    [{ gone: undefined, id: 'x' }, 3, 'undefined attributes are not written'],
  ])('%j is %i bytes (%s)', (item, size) => {
    // Act + Assess
    expect(dynamoItemSize(item)).toBe(size);
  });

  it('puts the 400 KB limit at 409,600 bytes: an item of exactly that size fits, one byte more does not', () => {
    // Prepare: 'id' 2 + 'x' × n
    const item = (n: number) => ({ id: 'x'.repeat(n) });

    // Act + Assess
    expect(dynamoItemSize(item(DYNAMODB_ITEM_LIMIT_BYTES - 2))).toBe(DYNAMODB_ITEM_LIMIT_BYTES);
    expect(dynamoItemSize(item(DYNAMODB_ITEM_LIMIT_BYTES - 1))).toBeGreaterThan(DYNAMODB_ITEM_LIMIT_BYTES);
  });

  it('refuses what DynamoDB cannot store, naming the attribute', () => {
    // Act + Assess
    expect(() => dynamoItemSize({ events: [{ at: new Date(0) }] })).toThrow(/events\[0\]\.at: a Date is not a DynamoDB value/);
    expect(() => dynamoItemSize({ n: Number.NaN })).toThrow(/n: DynamoDB cannot store NaN/);
    expect(() => dynamoNumberSize(Number('1'.repeat(39)) + 0.5)).not.toThrow(); // a double has at most 17 digits
    expect(() => dynamoNumberSize(10n ** 39n + 1n)).toThrow(/at most 38 significant digits/);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through, then refills at its rate on simulated time', () => {
    // Prepare: Route 53's account bucket, 50 tokens, 10 per second.
    const clock = new SimClock(new Date('2026-01-01T00:00:00Z'));
    const bucket = new TokenBucket({ ...ROUTE53_ACCOUNT_BUCKET, now: () => clock.now() });

    // Act
    const burst = Array.from({ length: 51 }, () => bucket.tryTake());
    clock.advance(0.1);
    const afterTenthOfASecond = [bucket.tryTake(), bucket.tryTake()];
    clock.advance(1);
    const afterASecond = Array.from({ length: 11 }, () => bucket.tryTake());
    clock.advance(3600);
    const available = bucket.available();

    // Assess
    expect(burst.filter(Boolean)).toHaveLength(50);
    expect(burst[50]).toBe(false);
    expect(afterTenthOfASecond).toEqual([true, false]);
    expect(afterASecond.filter(Boolean)).toHaveLength(10);
    expect(available).toBe(50); // never above the burst
    expect({ granted: bucket.granted, throttled: bucket.throttled }).toEqual({ granted: 61, throttled: 3 });
  });

  it('says how long until the next token', () => {
    // Prepare
    const clock = new SimClock();
    const bucket = new TokenBucket({ ratePerSecond: 5, burst: 1, now: () => clock.now() });
    bucket.tryTake();

    // Act + Assess
    expect(bucket.secondsUntil()).toBeCloseTo(0.2, 9);
    clock.advance(0.2);
    expect(bucket.secondsUntil()).toBe(0);
    expect(bucket.secondsUntil(2)).toBe(Infinity); // more than the burst never fits
  });

  it('refuses a bucket that could never let a request through', () => {
    // Act + Assess
    expect(() => new TokenBucket({ ratePerSecond: 10, burst: 0, now: () => 0 })).toThrow(/burst must be at least 1/);
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 5, now: () => 0 })).toThrow(/ratePerSecond must be a positive number/);
  });
});

describe('retry pauses and payloads', () => {
  it('computes IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds, and FULL jitter in [0, that)', () => {
    // Prepare
    const retrier = { IntervalSeconds: 2, BackoffRate: 2, MaxDelaySeconds: 60 };

    // Act
    const plain = [0, 1, 2, 3, 4, 5, 6].map((n) => retryDelaySeconds(retrier, n, () => 0.5));
    const jittered = retryDelaySeconds({ ...retrier, JitterStrategy: 'FULL' }, 3, () => 0.5);
    const defaults = retryDelaySeconds({}, 2, () => 0);

    // Assess
    expect(plain).toEqual([2, 4, 8, 16, 32, 60, 60]);
    expect(jittered).toBe(8);
    expect(defaults).toBe(4); // IntervalSeconds 1, BackoffRate 2
  });

  it('measures payloads in UTF-8 bytes of their JSON', () => {
    // Act + Assess
    expect(payloadBytes({ a: 'é' })).toBe(10);
    expect(payloadBytes(undefined)).toBe(4);
  });
});
