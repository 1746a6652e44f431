import { describe, expect, it } from 'vitest';
import { parseJudgeConfig, parseRolloutConfig, rolloutConfigJsonSchema, route53TargetOf, targetKey } from '../../functions/core/config.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import { albEcsConfig, ZONE } from '../fixtures/configs.ts';

function issuesOf(input: unknown, options = {}): string[] {
  try {
    parseRolloutConfig(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as Error).name).toBe('ConfigValidationError');
    return (error as ConfigValidationError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('rollout config', () => {
  it('fills in the defaults a user does not write', () => {
    // Act
    const config = parseRolloutConfig(albEcsConfig());

    // Assess
    expect(config.stages.map((s) => s.weight)).toEqual([1, 5, 10, 25, 100]);
    expect(config.stages.every((s) => s.bakeSeconds === 300 && s.checks === 1)).toBe(true);
    expect(config.analysisPeriodSeconds).toBe(60);
    expect(config.failureLimit).toBe(0);
    expect(config.inconclusiveLimit).toBe(3);
    expect(route53TargetOf(config).maxTtlSeconds).toBe(60);
    expect(config.incident.opsCenter.enabled).toBe(false);
  });

  it('expands the alb-ecs preset into memory, 5xx rate and p99 latency', () => {
    // Act
    const config = parseRolloutConfig(albEcsConfig());

    // Assess
    const byName = Object.fromEntries(config.metrics.map((m) => [m.name, m]));
    expect(Object.keys(byName)).toEqual(['memory', 'error-rate', 'latency-p99']);
    expect(byName.memory!.threshold).toEqual({ max: 80 });
    expect(byName.memory!.queries.canary).toEqual({
      value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ClusterName: 'prod', ServiceName: 'checkout-green' }, stat: 'Maximum' },
    });
    expect(byName['error-rate']!.kind).toBe('ratio');
    expect(byName['error-rate']!.queries.baseline).toMatchObject({
      numerator: { metricName: 'HTTPCode_Target_5XX_Count', stat: 'Sum', dimensions: { TargetGroup: 'targetgroup/blue/6d0ecf831eec9f09' } },
      denominator: { metricName: 'RequestCount', stat: 'Sum' },
    });
    expect(byName['latency-p99']).toMatchObject({ unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 20 } });
    expect(byName['latency-p99']!.queries.canary).toMatchObject({ value: { metricName: 'TargetResponseTime', stat: 'p99' } });
  });

  it('lets an explicit metric override the preset one of the same name', () => {
    // Prepare
    const input = albEcsConfig({
      metrics: [{
        name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 70 },
        queries: {
          canary: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: {}, stat: 'Average' } },
          baseline: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: {}, stat: 'Average' } },
        },
      }],
    });

    // Act
    const config = parseRolloutConfig(input);

    // Assess
    expect(config.metrics.filter((m) => m.name === 'memory')).toHaveLength(1);
    expect(config.metrics.find((m) => m.name === 'memory')!.threshold).toEqual({ max: 70 });
  });

  it('takes durations as people write them, and seconds as before', () => {
    const config = parseRolloutConfig(albEcsConfig({
      stages: [1, { weight: 25, bake: '3d' }, 100], bake: '48h', checkInterval: '1m', approvalTimeout: '3d', maxBakeExtension: '1h30m',
      recovery: { watch: '30 minutes', checkIntervalSeconds: 120 },
    }));
    expect(config).toMatchObject({ bakeSeconds: 172_800, checkIntervalSeconds: 60, approvalTimeoutSeconds: 259_200, maxBakeExtensionSeconds: 5400 });
    expect(config.stages.map((s) => s.bakeSeconds)).toEqual([172_800, 259_200, 172_800]);
    expect(config.recovery).toEqual({ watchSeconds: 1800, checkIntervalSeconds: 120 });
    expect(parseRolloutConfig(albEcsConfig({ bakeSeconds: 600 })).bakeSeconds).toBe(600);
  });

  it('takes the incident\'s status-update cadence as a duration (default 15 min, 0 for none), and the resolved config again', () => {
    expect(parseRolloutConfig(albEcsConfig()).incident.statusUpdateEverySeconds).toBe(900);
    expect(parseRolloutConfig(albEcsConfig({ incident: { statusUpdateEvery: '30m' } })).incident).toEqual({
      opsCenter: { enabled: false, severity: '2' }, statusUpdateEverySeconds: 1800,
    });
    expect(parseRolloutConfig(albEcsConfig({ incident: { statusUpdateEvery: 0 } })).incident.statusUpdateEverySeconds).toBe(0);
    const resolved = parseRolloutConfig(albEcsConfig({ incident: { statusUpdateEvery: '1h' } }));
    expect(parseRolloutConfig(JSON.parse(JSON.stringify(resolved))).incident.statusUpdateEverySeconds).toBe(3600);
  });

  it('accepts per-stage bake and checks', () => {
    const config = parseRolloutConfig(albEcsConfig({ stages: [{ weight: 10, bakeSeconds: 60, checks: 3 }, 100], bakeSeconds: 120 }));
    expect(config.stages).toEqual([{ weight: 10, bakeSeconds: 60, checks: 3, approval: false }, { weight: 100, bakeSeconds: 120, checks: 1, approval: false }]);
  });

  it.each([
    [{ stages: [1, 5, 5, 100] }, 'stages[2]: stages must rise strictly: 5 follows 5'],
    [{ stages: [1, 5, 50] }, 'stages[2]: the last stage must be 100'],
    [{ stages: [0, 100] }, 'stages[0]'],
    [{ stages: [1, 101] }, 'stages[1]'],
    [{ failureLimit: -1 }, 'failureLimit'],
    [{ bakeSeconds: 'five minutes' }, 'bakeSeconds'],
    [{ analysisPeriodSeconds: 45 }, 'analysisPeriodSeconds'],
    [{ bakeSecs: 60 }, "(config): unknown field 'bakeSecs': did you mean 'bakeSeconds'?"],
    [{ zzz: 1 }, "(config): unknown field(s) 'zzz': check the spelling (see schema/rollout-config.schema.json)"],
    [{ incident: { opsCenter: { enabeld: true } } }, "incident.opsCenter: unknown field 'enabeld': did you mean 'enabled'?"],
    [{ incident: { statusUpdateEvry: '15m' } }, "incident: unknown field 'statusUpdateEvry': did you mean 'statusUpdateEvery'?"],
    [{ stages: [{ weight: 10, bake_seconds: 60 }, 100] }, "stages[0]: unknown field 'bake_seconds': did you mean 'bakeSeconds'?"],
    [{ preset: { type: 'alb-ec2' } }, "preset.type: preset type must be 'alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag', not 'alb-ec2' (did you mean 'alb-ecs'?)"],
    [{ preset: 'alb-ecs' }, "preset: the preset must be a mapping with `type` ('alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag') and its fields, not the text \"alb-ecs\""],
    [{ incident: { webhook: { type: 'pagerduti', secretId: 'x' } } }, "incident.webhook.type: must be one of 'pagerduty', 'slack', not 'pagerduti' (did you mean 'pagerduty'?)"],
    [{ bake: '48 hrs later' }, 'bake: bake must be a duration such as 90s, 15m, 48h, 3d or 1h30m, or a number of seconds; not "48 hrs later"'],
    [{ bake: '31d' }, 'bake: bake must be between 0s and 30d, not 31d'],
    [{ bake: '48h', bakeSeconds: 300 }, 'bake: give bake or bakeSeconds, not both'],
    [{ checkInterval: '5s' }, 'checkInterval: checkInterval must be between 10s and 1d, not 5s'],
    [{ stages: [{ weight: 10, bake: '1h', bakeSeconds: 60 }, 100] }, 'stages[0].bake: give bake or bakeSeconds, not both'],
    [{ recovery: { watch: '8d' } }, 'recovery.watch: recovery.watch must be between 0s and 7d, not 8d'],
    [{ incident: { statusUpdateEvery: '30s' } }, 'incident.statusUpdateEvery: incident.statusUpdateEvery must be 0 (no status updates) or at least 1m, not 30s'],
    [{ incident: { statusUpdateEvery: '2d' } }, 'incident.statusUpdateEvery: incident.statusUpdateEvery must be between 0s and 1d, not 2d'],
    [{ incident: { statusUpdateEvery: '15m', statusUpdateEverySeconds: 900 } }, 'incident.statusUpdateEvery: give statusUpdateEvery or statusUpdateEverySeconds, not both'],
  ])('rejects %j naming the field', (overrides, expected) => {
    const issues = issuesOf(albEcsConfig(overrides as never));
    expect(issues.join('\n')).toContain(expected);
  });

  it('rejects a bad target with the field path', () => {
    const base = albEcsConfig();
    const issues = issuesOf({ ...base, target: { ...base.target, hostedZoneId: 'zone one', recordName: 'bad name!', canarySetIdentifier: 'blue' } });
    const text = issues.join('\n');
    expect(text).toContain('target.hostedZoneId: hostedZoneId must be a Route 53 hosted zone id');
    expect(text).toContain('target.recordName: recordName must be a DNS name');
  });

  it('rejects identical baseline and canary identifiers', () => {
    const base = albEcsConfig();
    const issues = issuesOf({ ...base, target: { ...base.target, canarySetIdentifier: 'blue' } });
    expect(issues).toContain('target.canarySetIdentifier: baselineSetIdentifier and canarySetIdentifier must differ');
  });

  it('requires metrics or a preset', () => {
    const { preset: _preset, ...noPreset } = albEcsConfig();
    expect(issuesOf(noPreset)).toContain('metrics: give at least one metric, or a `preset` that fills them in');
  });

  it('rejects a ratio metric given a single query', () => {
    const q = { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: {}, stat: 'Sum' };
    const issues = issuesOf(albEcsConfig({
      metrics: [{ name: 'errors', kind: 'ratio', threshold: { max: 1 }, queries: { canary: { value: q }, baseline: { value: q } } }],
    }));
    expect(issues.join('\n')).toContain("metrics[0].queries.canary: a 'ratio' metric needs `numerator` and `denominator` queries");
  });

  it('rejects hosted zones the stack may not change', () => {
    const issues = issuesOf(albEcsConfig(), { allowedHostedZoneIds: ['ZOTHER'] });
    expect(issues[0]).toContain(`target.hostedZoneId: ${ZONE} is not one of the hosted zones this stack may change`);
  });

  it('rejects what is not an object', () => {
    expect(issuesOf('{"name":1}')[0]).toContain('expected a JSON object');
    expect(issuesOf(null)[0]).toContain('expected a JSON object');
  });

  it('normalises the record name and zone id for the lock key', () => {
    const base = albEcsConfig();
    const config = parseRolloutConfig({ ...base, target: { ...base.target, hostedZoneId: `/hostedzone/${ZONE}`, recordName: 'API.Example.com.' } });
    expect(targetKey(config.target)).toBe(`${ZONE}/api.example.com/A`);
  });

  it('accepts a judge-only config without queries or target', () => {
    const config = parseJudgeConfig({ metrics: [{ name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 } }] });
    expect(config.metrics[0]).toMatchObject({ name: 'memory', critical: false });
  });

  it('exports a JSON Schema with the defaults', () => {
    const schema = rolloutConfigJsonSchema() as { properties: Record<string, { default?: unknown }>; required: string[] };
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'target']));
    expect(schema.properties.stages!.default).toEqual([1, 5, 10, 25, 100]);
  });
});
