import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIssues } from '../../functions/core/config.ts';
import {
  albWeights, lambdaRouting, lambdaWeight, listenerOfRule, lockKeyOf, percentOfLambdaWeight, percentOfWeights, route53Weights,
  routerAllowancesFromEnv, routerPermissionProblem, RouterTargetSchema, type RouterAllowances, type RouterTarget,
} from '../../functions/core/targets.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 500);
const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2';
const RULE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee';
const BLUE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/73e2d6bc24d8a067';
const GREEN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/09f1f3fd0b7a5c10';

const alb = { type: 'alb', listenerArn: LISTENER, ruleArn: RULE, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN };
const lambda = { type: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7' };
const flag = { type: 'appconfig-flag', applicationId: 'app1234', environmentId: 'env5678', configurationProfileId: 'prof901', flag: 'new_checkout' };

/** The `path: message` lines a bad target gives, as `canary validate` prints them under `target`. */
function issues(input: unknown): string[] {
  const result = RouterTargetSchema.safeParse(input);
  return result.success ? [] : formatIssues(result.error);
}

/** Percents with one decimal in [0, 100], as a stage or a finer step could ask. */
const tenths = fc.integer({ min: 0, max: 1000 }).map((t) => t / 10);

describe('target schemas', () => {
  it('accepts each kind and fills the AppConfig defaults', () => {
    // Prepare
    const inputs = [alb, { ...alb, ruleArn: undefined, stickinessSeconds: 300 }, { ...lambda, baselineVersion: '6' }, flag];

    // Act
    const parsed = inputs.map((t) => RouterTargetSchema.parse(t));

    // Assess
    expect(parsed[3]).toEqual({ ...flag, attribute: 'percentage', deploymentStrategyId: 'AppConfig.AllAtOnce', clientPollSeconds: 45 });
    expect(parsed.map((t) => t.type)).toEqual(['alb', 'alb', 'lambda-alias', 'appconfig-flag']);
  });

  it.each([
    ['an unknown type', { ...alb, type: 'nlb' }, "type: type must be 'alb', 'lambda-alias' or 'appconfig-flag' (or leave it out for Route 53 weighted records)"],
    ['an NLB listener', { ...alb, listenerArn: LISTENER.replace('/app/', '/net/'), ruleArn: undefined }, 'listenerArn: listenerArn must be an Application Load Balancer listener ARN such as'],
    ['a rule of another listener', { ...alb, ruleArn: RULE.replace('f2f7dc8efc522ab2', 'aaaaaaaaaaaaaaaa') }, 'ruleArn: ruleArn belongs to listener arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/aaaaaaaaaaaaaaaa, not to listenerArn'],
    ['the same target group twice', { ...alb, canaryTargetGroupArn: BLUE }, 'canaryTargetGroupArn: baselineTargetGroupArn and canaryTargetGroupArn must differ'],
    ['a target group of another region', { ...alb, canaryTargetGroupArn: GREEN.replace('eu-west-1', 'us-east-1') }, 'canaryTargetGroupArn: canaryTargetGroupArn is in us-east-1:123456789012, the listener in eu-west-1:123456789012'],
    ['a stickiness beyond 7 days', { ...alb, stickinessSeconds: 700_000 }, "stickinessSeconds: stickinessSeconds must be 1-604800 (ALB's range)"],
    ['a qualified function name', { ...lambda, functionName: 'checkout:live' }, 'functionName: functionName must be a function name (my-function) or its unqualified ARN'],
    ['$LATEST as the canary', { ...lambda, canaryVersion: '$LATEST' }, 'canaryVersion: canaryVersion must be a published version number such as 7 ($LATEST cannot be weighted: publish a version)'],
    ['the same version twice', { ...lambda, baselineVersion: '7' }, 'canaryVersion: canaryVersion and baselineVersion must differ'],
    ['a numeric alias', { ...lambda, alias: '12' }, 'alias: alias must be 1-128 letters, digits, - or _, not only digits (e.g. live)'],
    ['an AppConfig name instead of an id', { ...flag, applicationId: 'MyApp' }, 'applicationId: applicationId must be an AppConfig application id: 4-7 lowercase letters and digits, e.g. abc1234'],
    ['a strategy name without its AppConfig. prefix', { ...flag, deploymentStrategyId: 'Linear20PercentEvery6Minutes' }, 'deploymentStrategyId: deploymentStrategyId must be a deployment strategy id (abc1234) or a predefined one such as AppConfig.AllAtOnce'],
    ['a misspelt field', { ...flag, flagName: 'x' }, "(config): unknown field(s) 'flagName': check the spelling (see schema/rollout-config.schema.json)"],
  ])('refuses %s, naming the field and the fix', (_label, input, line) => {
    // Prepare, Act
    const lines = issues(input);

    // Assess
    expect(lines.find((l) => l.startsWith(line)), lines.join('\n')).toBeDefined();
  });
});

describe('lockKeyOf', () => {
  it('gives one key per traffic target, whatever its kind, and never a Route 53 one', () => {
    // Prepare
    const targets = [alb, { ...alb, ruleArn: undefined }, lambda, { ...lambda, functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:checkout' }, flag, { ...flag, flag: 'other', configurationProfileId: 'prof902' }]
      .map((t) => RouterTargetSchema.parse(t));

    // Act
    const keys = targets.map(lockKeyOf);

    // Assess
    expect(keys).toEqual([
      `alb:${RULE}`, `alb:${LISTENER}:default`,
      'lambda:checkout:live', 'lambda:checkout:live', // the same alias, named two ways
      'appconfig:app1234/env5678', 'appconfig:app1234/env5678', // one deployment per environment at a time
    ]);
    for (const key of keys) expect(key).not.toMatch(/^[A-Z0-9]{1,32}\//);
  });

  it('derives the listener of a rule', () => {
    expect(listenerOfRule(RULE)).toBe(LISTENER);
  });
});

describe('weight mappings', () => {
  it('ALB: exact, integers in 0-999, never all-zero, for every percent with one decimal', () => {
    fc.assert(fc.property(tenths, (percent) => {
      const w = albWeights(percent);
      expect(Number.isInteger(w.canary) && Number.isInteger(w.baseline)).toBe(true);
      expect(Math.min(w.canary, w.baseline)).toBeGreaterThanOrEqual(0);
      expect(Math.max(w.canary, w.baseline)).toBeLessThanOrEqual(999);
      expect(w.canary + w.baseline).toBeGreaterThan(0);
      expect(percentOfWeights(w)).toBe(percent);
    }), { numRuns: RUNS });
  });

  it('ALB: whole percents stay readable (p / 100 - p), and finer percents are refused rather than rounded', () => {
    expect(albWeights(5)).toEqual({ canary: 5, baseline: 95 });
    expect(albWeights(0)).toEqual({ canary: 0, baseline: 100 });
    expect(albWeights(100)).toEqual({ canary: 100, baseline: 0 });
    expect(albWeights(0.5)).toEqual({ canary: 5, baseline: 995 });
    expect(albWeights(0.1 + 0.2)).toEqual({ canary: 3, baseline: 997 }); // float noise is not a finer percent
    expect(() => albWeights(0.05)).toThrow('ALB weights resolve 0.1 %, so 0.05 % cannot be set exactly');
    expect(() => albWeights(101)).toThrow(RangeError);
    expect(() => albWeights(Number.NaN)).toThrow(RangeError);
  });

  it('reads any pair of ALB weights as a percent in 0-100, and all-zero as no split', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 }), (canary, baseline) => {
      const percent = percentOfWeights({ canary, baseline });
      if (canary + baseline === 0) expect(percent).toBeNull();
      else expect(percent! >= 0 && percent! <= 100).toBe(true);
    }), { numRuns: RUNS });
  });

  it('Route 53: exact in 0-255 for whole and half percents, never all-zero (an equal split there)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 200 }).map((h) => h / 2), (percent) => {
      const w = route53Weights(percent);
      expect(Math.max(w.canary, w.baseline)).toBeLessThanOrEqual(255);
      expect(w.canary + w.baseline).toBeGreaterThan(0);
      expect(percentOfWeights(w)).toBe(percent);
    }), { numRuns: RUNS });
  });

  it('Lambda: a weight in (0, 1) strictly between 0 and 100 % that reads back exactly; the alias alone at 0 and 100', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9999 }).map((c) => c / 100), (percent) => {
      const weight = lambdaWeight(percent);
      expect(weight > 0 && weight < 1).toBe(true);
      expect(percentOfLambdaWeight(weight)).toBe(percent);
      const routing = lambdaRouting(percent, { baselineVersion: '6', canaryVersion: '7' });
      expect(routing).toEqual({ functionVersion: '6', additionalVersionWeights: { 7: weight } });
    }), { numRuns: RUNS });
    expect(lambdaRouting(0, { baselineVersion: '6', canaryVersion: '7' })).toEqual({ functionVersion: '6', additionalVersionWeights: {} });
    expect(lambdaRouting(100, { baselineVersion: '6', canaryVersion: '7' })).toEqual({ functionVersion: '7', additionalVersionWeights: {} });
    expect(lambdaWeight(5)).toBe(0.05);
  });
});

describe('least privilege', () => {
  const allowed: RouterAllowances = {
    listenerArns: [LISTENER],
    lambdaFunctionArns: ['arn:aws:lambda:eu-west-1:123456789012:function:checkout'],
    lambdaAliases: ['live'],
    appConfigApplicationArns: ['arn:aws:appconfig:eu-west-1:123456789012:application/app1234'],
  };
  const none: RouterAllowances = { listenerArns: [], lambdaFunctionArns: [], lambdaAliases: [], appConfigApplicationArns: [] };
  const parse = (t: unknown) => RouterTargetSchema.parse(t) as RouterTarget;

  it('allows the targets the parameters name', () => {
    for (const t of [alb, lambda, { ...lambda, functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:checkout' }, { ...lambda, functionName: '123456789012:function:checkout' }, flag]) {
      expect(routerPermissionProblem(parse(t), allowed)).toBeNull();
    }
  });

  it.each([
    ['another listener', alb, { ...allowed, listenerArns: [LISTENER.replace('f2f7', 'aaaa')] }, `target.listenerArn: ${LISTENER} is not one of the listeners this stack may change (${LISTENER.replace('f2f7', 'aaaa')}); redeploy with it in the AllowedListenerArns parameter`],
    ['a disabled router', alb, none, `target.listenerArn: ${LISTENER} is not one of the listeners this stack may change (none: this router is disabled); redeploy with it in the AllowedListenerArns parameter`],
    ['another function', { ...lambda, functionName: 'payments' }, allowed, 'target.functionName: payments is not one of the functions this stack may change (arn:aws:lambda:eu-west-1:123456789012:function:checkout); redeploy with its ARN in the AllowedLambdaFunctionArns parameter'],
    ['the same name in another account', { ...lambda, functionName: 'arn:aws:lambda:eu-west-1:999999999999:function:checkout' }, allowed, /redeploy with its ARN in the AllowedLambdaFunctionArns parameter/],
    ['another alias', { ...lambda, alias: 'beta' }, allowed, 'target.alias: beta is not one of the aliases this stack may move (live); redeploy with it in the AllowedLambdaAliases parameter'],
    ['another application', { ...flag, applicationId: 'app9999' }, allowed, /^target.applicationId: app9999 is not one of the AppConfig applications this stack may change \(arn:aws:appconfig:eu-west-1:123456789012:application\/app1234\); redeploy with its ARN .* in the AllowedAppConfigApplicationArns parameter$/],
  ])('refuses %s, naming the parameter to redeploy with', (_label, t, allowances, line) => {
    // Act
    const problem = routerPermissionProblem(parse(t), allowances);

    // Assess
    if (typeof line === 'string') expect(problem).toBe(line);
    else expect(problem).toMatch(line);
  });

  it('any alias of an allowed function when AllowedLambdaAliases is empty', () => {
    expect(routerPermissionProblem(parse({ ...lambda, alias: 'beta' }), { ...allowed, lambdaAliases: [] })).toBeNull();
  });

  it('reads the allowances from comma-separated environment variables', () => {
    expect(routerAllowancesFromEnv({ ALLOWED_LISTENER_ARNS: ` ${LISTENER} , `, ALLOWED_LAMBDA_ALIASES: 'live,beta' })).toEqual({
      listenerArns: [LISTENER], lambdaFunctionArns: [], lambdaAliases: ['live', 'beta'], appConfigApplicationArns: [],
    });
  });
});
