/**
 * The rollout config's `target` as a union by `type` (Route 53 when absent), the presets of each
 * router, the traffic checks, `verification` and `hooks` in the config, and the stack's
 * allowances: what parseRolloutConfig accepts, refuses (naming the field and the fix) and resolves.
 */
import { describe, expect, it } from 'vitest';
import {
  canaryLabel, describeTarget, parseRolloutConfig, rolloutConfigJsonSchema, routerKindOf, route53TargetOf, targetKey,
  type RolloutConfigInput,
} from '../../functions/core/config.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import type { RouterAllowances } from '../../functions/core/targets.ts';
import { albEcsConfig, ZONE } from '../fixtures/configs.ts';

const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2';
const RULE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee';
const BLUE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/73e2d6bc24d8a067';
const GREEN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/09f1f3fd0b7a5c10';

const albTarget = { type: 'alb', listenerArn: LISTENER, ruleArn: RULE, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN } as const;
const aliasTarget = { type: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7', baselineVersion: '6' } as const;
const flagTarget = { type: 'appconfig-flag', applicationId: 'app1234', environmentId: 'env5678', configurationProfileId: 'prof901', flag: 'new-checkout' } as const;

const albEcs = albEcsConfig().preset!;
const aliasPreset = { type: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7' } as const;
const flagPreset = { type: 'appconfig-flag', namespace: 'Shop', dimensions: { Service: 'checkout' } } as const;

/** The issues parseRolloutConfig gives, one line each. */
function issuesOf(input: unknown, options: Parameters<typeof parseRolloutConfig>[1] = {}): string[] {
  try {
    parseRolloutConfig(input, options);
    return [];
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues;
    throw error;
  }
}

const ALLOWED: RouterAllowances = {
  listenerArns: [LISTENER],
  lambdaFunctionArns: ['arn:aws:lambda:eu-west-1:123456789012:function:checkout'],
  lambdaAliases: ['live'],
  appConfigApplicationArns: ['arn:aws:appconfig:eu-west-1:123456789012:application/app1234'],
};

describe('target: a union by type', () => {
  it('is Route 53 weighted records when type is absent, so existing configs are unchanged (and type: route53 says the same)', () => {
    // Act
    const absent = parseRolloutConfig(albEcsConfig());
    const named = parseRolloutConfig(albEcsConfig({ target: { ...albEcsConfig().target, type: 'route53' } as never }));

    // Assess
    expect(absent.target).toEqual({
      hostedZoneId: ZONE, recordName: 'api.example.com', recordType: 'A', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60,
    });
    expect(routerKindOf(absent.target)).toBe('route53');
    expect(routerKindOf(named.target)).toBe('route53');
    expect(targetKey(absent.target)).toBe(`${ZONE}/api.example.com/A`);
    expect(targetKey(named.target)).toBe(targetKey(absent.target));
  });

  it.each([
    ['alb', albTarget, `alb:${RULE}`],
    ['lambda-alias', aliasTarget, 'lambda:checkout:live'],
    ['appconfig-flag', flagTarget, 'appconfig:app1234/env5678'],
  ] as const)('accepts %s with one lock key per target', (kind, target, key) => {
    // Act
    const config = parseRolloutConfig(albEcsConfig({ target } as Partial<RolloutConfigInput>));

    // Assess
    expect(routerKindOf(config.target)).toBe(kind);
    expect(targetKey(config.target)).toBe(key);
    expect(describeTarget(config.target)).not.toContain('undefined');
    expect(canaryLabel(config.target)).toMatch(/^the /);
    expect(() => route53TargetOf(config)).toThrow(`the target is of type ${kind}, not Route 53 weighted records`);
  });

  it.each([
    [{ ...albTarget, type: 'nlb' }, "target.type: type must be 'route53' (the default: weighted records), 'alb', 'lambda-alias' or 'appconfig-flag'"],
    [{ ...albTarget, canaryTargetGroupArn: BLUE }, 'target.canaryTargetGroupArn: baselineTargetGroupArn and canaryTargetGroupArn must differ'],
    [{ ...aliasTarget, canaryVersion: '$LATEST' }, 'target.canaryVersion: canaryVersion must be a published version number'],
    [{ ...flagTarget, hostedZoneId: ZONE }, "target: unknown field(s) 'hostedZoneId'"],
    [{ ...albEcsConfig().target, type: 'route53', listenerArn: LISTENER }, "target: unknown field(s) 'listenerArn'"],
  ])('refuses %j, naming the field', (target, line) => {
    // Act
    const issues = issuesOf(albEcsConfig({ target } as Partial<RolloutConfigInput>));

    // Assess
    expect(issues.find((i) => i.startsWith(line)), issues.join('\n')).toBeDefined();
  });

  it('JSON Schema: the target is one of the four kinds, the preset one of the four presets, and verification, hooks and trafficChecks are known', () => {
    // Act
    const schema = rolloutConfigJsonSchema() as { properties: Record<string, { oneOf?: { properties: { type: { const?: string } } }[] }> };

    // Assess
    expect(schema.properties.target!.oneOf!.map((o) => o.properties.type.const)).toEqual(['route53', 'alb', 'lambda-alias', 'appconfig-flag']);
    expect(schema.properties.preset!.oneOf!.map((o) => o.properties.type.const)).toEqual(['alb-ecs', 'lambda-alias', 'alb-lambda', 'appconfig-flag']);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['verification', 'hooks', 'trafficChecks']));
  });
});

describe("the stack's allowances (checked before anything moves)", () => {
  it('accepts targets the stack may change', () => {
    for (const target of [albTarget, aliasTarget, flagTarget]) {
      expect(issuesOf(albEcsConfig({ target } as Partial<RolloutConfigInput>), { routerAllowances: ALLOWED })).toEqual([]);
    }
  });

  it.each([
    [albTarget, { ...ALLOWED, listenerArns: [] as string[] }, `target.listenerArn: ${LISTENER} is not one of the listeners this stack may change (none: this router is disabled); redeploy with it in the AllowedListenerArns parameter`],
    [{ ...aliasTarget, alias: 'beta' }, ALLOWED, 'target.alias: beta is not one of the aliases this stack may move (live); redeploy with it in the AllowedLambdaAliases parameter'],
    [{ ...flagTarget, applicationId: 'zzz9999' }, ALLOWED, 'target.applicationId: zzz9999 is not one of the AppConfig applications this stack may change'],
  ] as const)('refuses %j outside them, naming the parameter to redeploy with', (target, allowed, line) => {
    // Act
    const issues = issuesOf(albEcsConfig({ target } as Partial<RolloutConfigInput>), { routerAllowances: allowed });

    // Assess
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(line);
  });

  it('keeps the hosted-zone allowance for Route 53 targets, and does not apply it to the other routers', () => {
    // Act / Assess
    expect(issuesOf(albEcsConfig(), { allowedHostedZoneIds: ['ZOTHER'] })[0]).toMatch(/^target\.hostedZoneId: .* AllowedHostedZoneIds/);
    expect(issuesOf(albEcsConfig({ target: albTarget } as Partial<RolloutConfigInput>), { allowedHostedZoneIds: ['ZOTHER'], routerAllowances: ALLOWED })).toEqual([]);
  });
});

describe('presets resolve like alb-ecs, and give the traffic checks their request counts', () => {
  it('alb-ecs: its target groups\' RequestCount and 5xx feed the traffic checks (on by default)', () => {
    // Act
    const config = parseRolloutConfig(albEcsConfig());

    // Assess
    const tg = (name: string) => ({ LoadBalancer: albEcs.type === 'alb-ecs' ? albEcs.loadBalancer : '', TargetGroup: name });
    expect(config.trafficChecks).toEqual({
      enabled: true, tolerance: 0.5, starvedWaitSeconds: 600, throughput: { enabled: true, maxDropShare: 0.2, againstPreRollout: true },
      requestCounts: {
        canary: {
          requests: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: tg('targetgroup/green/9a3b5c7d1e2f4a6b'), stat: 'Sum' },
          errors: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: tg('targetgroup/green/9a3b5c7d1e2f4a6b'), stat: 'Sum' },
        },
        baseline: {
          requests: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: tg('targetgroup/blue/6d0ecf831eec9f09'), stat: 'Sum' },
          errors: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: tg('targetgroup/blue/6d0ecf831eec9f09'), stat: 'Sum' },
        },
      },
    });
  });

  it('lambda-alias: per version behind the alias, the baseline version taken from the target when the preset leaves it out', () => {
    // Act
    const config = parseRolloutConfig({ name: 'checkout', target: aliasTarget, preset: aliasPreset });

    // Assess
    expect(config.metrics.map((m) => m.name)).toEqual(['error-rate', 'duration-p99', 'concurrency']);
    const errors = config.metrics[0]!.queries.baseline;
    expect('numerator' in errors && errors.numerator.dimensions).toEqual({ FunctionName: 'checkout', Resource: 'checkout:live', ExecutedVersion: '6' });
    expect(config.trafficChecks.requestCounts?.canary.requests).toMatchObject({ metricName: 'Invocations', dimensions: { ExecutedVersion: '7' } });
  });

  it('lambda-alias: refuses a preset whose baseline version nothing names, saying where to give it', () => {
    // Act
    const issues = issuesOf({ name: 'checkout', target: { ...aliasTarget, baselineVersion: undefined }, preset: aliasPreset });

    // Assess
    expect(issues).toEqual(['preset.baselineVersion: the lambda-alias preset queries each version behind the alias: give preset.baselineVersion (or target.baselineVersion), the version the alias serves today']);
  });

  it('appconfig-flag and alb-lambda: their metrics and counts; explicit metrics of the same name win', () => {
    // Prepare
    const ownLatency = {
      name: 'latency-p99', kind: 'gauge', unit: 'milliseconds', threshold: { max: 500 },
      queries: { canary: { value: { namespace: 'Shop', metricName: 'Latency', stat: 'p99' } }, baseline: { value: { namespace: 'Shop', metricName: 'Latency', stat: 'p99' } } },
    };

    // Act
    const flagConfig = parseRolloutConfig({ name: 'checkout', target: flagTarget, preset: flagPreset, metrics: [ownLatency] });
    const albLambda = parseRolloutConfig({
      name: 'checkout', target: albTarget,
      preset: {
        type: 'alb-lambda', loadBalancer: 'app/shop/50dc6c495c0c9188', baselineTargetGroup: 'targetgroup/blue/73e2d6bc24d8a067', canaryTargetGroup: 'targetgroup/green/09f1f3fd0b7a5c10',
        baselineFunction: { functionName: 'checkout', qualifier: 'blue' }, canaryFunction: { functionName: 'checkout', qualifier: 'green' },
      },
    });

    // Assess
    expect(flagConfig.metrics.map((m) => [m.name, m.threshold])).toEqual([['error-rate', { max: 1 }], ['latency-p99', { max: 500 }]]);
    expect(flagConfig.trafficChecks.requestCounts?.canary.requests).toMatchObject({ namespace: 'Shop', metricName: 'Requests', dimensions: { Service: 'checkout', variant: 'canary' } });
    expect(albLambda.metrics.map((m) => m.name)).toEqual(['http-5xx-rate', 'lambda-error-rate', 'duration-p99', 'concurrency']);
    expect(albLambda.trafficChecks.requestCounts?.baseline.requests).toMatchObject({ metricName: 'RequestCount', dimensions: { TargetGroup: 'targetgroup/blue/73e2d6bc24d8a067' } });
  });
});

describe('trafficChecks', () => {
  it('are off where no request counts are known, and when switched off', () => {
    // Prepare
    const explicitOnly = { ...albEcsConfig(), preset: undefined, metrics: [{
      name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 },
      queries: { canary: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', stat: 'Maximum' } }, baseline: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', stat: 'Maximum' } } },
    }] };

    // Act
    const noCounts = parseRolloutConfig(explicitOnly);
    const off = parseRolloutConfig(albEcsConfig({ trafficChecks: { enabled: false } }));

    // Assess
    expect(noCounts.trafficChecks.enabled).toBe(false);
    expect(noCounts.trafficChecks.requestCounts).toBeUndefined();
    expect(off.trafficChecks.enabled).toBe(false);
  });

  it('take the tolerance, the wait, the throughput limit and explicit request counts', () => {
    // Act
    const config = parseRolloutConfig(albEcsConfig({
      trafficChecks: {
        tolerance: 0.25, starvedWaitSeconds: 120, settleAllowanceSeconds: 90, throughput: { maxDropShare: 0.1, againstPreRollout: false },
        requestCounts: {
          canary: { requests: { namespace: 'Shop', metricName: 'Requests', dimensions: { v: 'c' }, stat: 'Sum' } },
          baseline: { requests: { namespace: 'Shop', metricName: 'Requests', dimensions: { v: 'b' }, stat: 'Sum' } },
        },
      },
    }));

    // Assess
    expect(config.trafficChecks).toMatchObject({
      enabled: true, tolerance: 0.25, starvedWaitSeconds: 120, settleAllowanceSeconds: 90, throughput: { enabled: true, maxDropShare: 0.1, againstPreRollout: false },
      requestCounts: { canary: { requests: { dimensions: { v: 'c' } } } },
    });
  });

  it.each([
    [{ tolerance: 0 }, 'trafficChecks.tolerance: tolerance must be above 0'],
    [{ throughput: { maxDropShare: 2 } }, 'trafficChecks.throughput.maxDropShare: maxDropShare must be at most 1'],
    [{ requestCounts: {
      canary: { requests: { namespace: 'Shop', metricName: 'Requests', stat: 'Sum' }, errors: { namespace: 'Shop', metricName: 'Errors', stat: 'Sum' } },
      baseline: { requests: { namespace: 'Shop', metricName: 'Requests', stat: 'Sum' } },
    } }, 'trafficChecks.requestCounts.baseline.errors: give both variants an errors query, or neither'],
    [{ starved: 10 }, "trafficChecks: unknown field 'starved': did you mean 'starvedWaitSeconds'?"],
  ])('refuses %j, naming the field', (trafficChecks, line) => {
    // Act
    const issues = issuesOf(albEcsConfig({ trafficChecks } as Partial<RolloutConfigInput>));

    // Assess
    expect(issues.find((i) => i.startsWith(line)), issues.join('\n')).toBeDefined();
  });
});

describe('verification and hooks in the rollout config', () => {
  it('are part of the config, defaulting to none', () => {
    // Act
    const plain = parseRolloutConfig(albEcsConfig());
    const withChecks = parseRolloutConfig(albEcsConfig({
      verification: [{ name: 'reconcile', type: 'lambda', function: 'orders-reconcile', critical: true }],
      hooks: { afterRollback: [{ name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump' }] },
    }));

    // Assess
    expect(plain.verification).toEqual([]);
    expect(plain.hooks).toEqual({ preRollout: [], beforeShift: [], afterPromotion: [], afterRollback: [] });
    expect(withChecks.verification[0]).toMatchObject({ name: 'reconcile', type: 'lambda', critical: true, timeoutSeconds: 20, retry: { maxAttempts: 3, backoffMs: 500 } });
    expect(withChecks.hooks.afterRollback[0]).toMatchObject({ name: 'heap-dump', type: 'ssm-automation', parameters: {} });
  });

  it('refuses a check named like a metric (the preset\'s too) or a built-in traffic check, and a gate for a weight no stage has', () => {
    // Act
    const issues = issuesOf(albEcsConfig({
      verification: [{ name: 'memory', type: 'alarm', alarms: ['x'] }, { name: 'traffic-share', type: 'alarm', alarms: ['z'] }],
      hooks: { beforeShift: [{ name: 'freeze', type: 'alarm', alarms: ['y'], weights: [50] }] },
    }));

    // Assess
    expect(issues).toEqual([
      "verification[0].name: 'memory' is also a metric's name: give the check a name of its own",
      'hooks.beforeShift[0].weights[0]: 50 is not the weight of any stage (1, 5, 10, 25, 100)',
      "verification[1].name: 'traffic-share' is the name of a built-in traffic check: give the check a name of its own",
    ]);
  });
});
