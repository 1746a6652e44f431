import { describe, expect, it } from 'vitest';
import { formatIssues, parseRolloutConfig } from '../../functions/core/config.ts';
import {
  AlbLambdaPresetSchema, FlagVariantPresetSchema, LambdaAliasPresetSchema, RouterPresetSchema, routerPresetMetrics, routerPresetRequestCounts,
} from '../../functions/core/presets.ts';

const lambdaAlias = LambdaAliasPresetSchema.parse({
  type: 'lambda-alias', functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:checkout', alias: 'live', canaryVersion: '7', baselineVersion: '6',
});
const albLambda = AlbLambdaPresetSchema.parse({
  type: 'alb-lambda', loadBalancer: 'app/shop/50dc6c495c0c9188', baselineTargetGroup: 'targetgroup/blue/73e2d6bc24d8a067', canaryTargetGroup: 'targetgroup/green/09f1f3fd0b7a5c10',
  baselineFunction: { functionName: 'checkout', qualifier: 'blue' }, canaryFunction: { functionName: 'checkout-next' },
});
const flag = FlagVariantPresetSchema.parse({ type: 'appconfig-flag', namespace: 'Shop', dimensions: { Service: 'checkout' } });

/** A config that carries the metrics as explicit metrics: they go through the same schema as every metric. */
function asConfig(metrics: unknown[]) {
  return parseRolloutConfig({
    name: 'checkout',
    target: { hostedZoneId: 'Z0123456789ABCDEFGHIJ', recordName: 'api.example.com', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green' },
    metrics,
  });
}

describe('router presets', () => {
  it.each([['lambda-alias', lambdaAlias], ['alb-lambda', albLambda], ['appconfig-flag', flag]] as const)('%s gives metrics the rollout config accepts as they are', (_type, preset) => {
    // Act
    const metrics = routerPresetMetrics(preset);

    // Assess
    expect(asConfig(metrics).metrics).toEqual(metrics);
  });

  it('lambda-alias: per version behind the alias (FunctionName, Resource fn:alias, ExecutedVersion), Errors/Invocations as a ratio', () => {
    // Act
    const [errors, duration, concurrency] = routerPresetMetrics(lambdaAlias);

    // Assess
    const canary = { FunctionName: 'checkout', Resource: 'checkout:live', ExecutedVersion: '7' };
    const baseline = { FunctionName: 'checkout', Resource: 'checkout:live', ExecutedVersion: '6' };
    expect(errors).toEqual({
      name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true, threshold: { max: 1 },
      queries: {
        canary: { numerator: { namespace: 'AWS/Lambda', metricName: 'Errors', dimensions: canary, stat: 'Sum' }, denominator: { namespace: 'AWS/Lambda', metricName: 'Invocations', dimensions: canary, stat: 'Sum' } },
        baseline: { numerator: { namespace: 'AWS/Lambda', metricName: 'Errors', dimensions: baseline, stat: 'Sum' }, denominator: { namespace: 'AWS/Lambda', metricName: 'Invocations', dimensions: baseline, stat: 'Sum' } },
      },
    });
    expect(duration).toMatchObject({ name: 'duration-p99', unit: 'milliseconds', threshold: { max: 1000 }, baseline: { maxIncreasePercent: 20 }, queries: { canary: { value: { metricName: 'Duration', stat: 'p99', dimensions: canary } } } });
    expect(concurrency).toMatchObject({ name: 'concurrency', unit: 'count', threshold: { max: 800 }, queries: { canary: { value: { metricName: 'ConcurrentExecutions', stat: 'Maximum', dimensions: canary } } } });
    expect(concurrency!.baseline).toBeUndefined();
  });

  it('lambda-alias: takes the baseline the router read when the preset does not name it, and says so when nobody knows it', () => {
    // Prepare
    const { baselineVersion: _b, ...unnamed } = lambdaAlias;

    // Act
    const metrics = routerPresetMetrics(unnamed, { baselineVersion: '5' });

    // Assess
    expect(metrics[0]!.queries.baseline).toMatchObject({ denominator: { dimensions: { ExecutedVersion: '5' } } });
    expect(() => routerPresetMetrics(unnamed)).toThrow('preset lambda-alias: baselineVersion is not known; give preset.baselineVersion, or pass the one preflight read from the alias');
  });

  it('alb-lambda: ALB 5xx per target group and the functions by their qualifier (or unqualified)', () => {
    // Act
    const metrics = routerPresetMetrics(albLambda);

    // Assess
    expect(metrics.map((m) => m.name)).toEqual(['http-5xx-rate', 'lambda-error-rate', 'duration-p99', 'concurrency']);
    expect(metrics[0]!.queries.canary).toEqual({
      numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { LoadBalancer: 'app/shop/50dc6c495c0c9188', TargetGroup: 'targetgroup/green/09f1f3fd0b7a5c10' }, stat: 'Sum' },
      denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { LoadBalancer: 'app/shop/50dc6c495c0c9188', TargetGroup: 'targetgroup/green/09f1f3fd0b7a5c10' }, stat: 'Sum' },
    });
    expect(metrics[1]!.queries.baseline).toMatchObject({ numerator: { dimensions: { FunctionName: 'checkout', Resource: 'checkout:blue' } } });
    expect(metrics[1]!.queries.canary).toMatchObject({ numerator: { dimensions: { FunctionName: 'checkout-next' } } });
  });

  it('appconfig-flag: the service\'s own metrics split by the variant dimension', () => {
    // Act
    const [errors, latency] = routerPresetMetrics(flag);

    // Assess
    expect(errors!.queries.canary).toEqual({
      numerator: { namespace: 'Shop', metricName: 'Errors', dimensions: { Service: 'checkout', variant: 'canary' }, stat: 'Sum' },
      denominator: { namespace: 'Shop', metricName: 'Requests', dimensions: { Service: 'checkout', variant: 'canary' }, stat: 'Sum' },
    });
    expect(latency).toMatchObject({ unit: 'milliseconds', queries: { baseline: { value: { metricName: 'Latency', stat: 'p99', dimensions: { Service: 'checkout', variant: 'baseline' } } } } });
  });

  it('names the request and error counts of both variants for the traffic checks', () => {
    expect(routerPresetRequestCounts(albLambda).canary.requests).toMatchObject({ metricName: 'RequestCount', stat: 'Sum' });
    expect(routerPresetRequestCounts(lambdaAlias).baseline).toMatchObject({ requests: { metricName: 'Invocations', dimensions: { ExecutedVersion: '6' } }, errors: { metricName: 'Errors' } });
    expect(routerPresetRequestCounts(flag).canary.requests.dimensions).toEqual({ Service: 'checkout', variant: 'canary' });
  });

  it('refuses bad presets naming the field', () => {
    const lines = (input: unknown) => {
      const r = RouterPresetSchema.safeParse(input);
      return r.success ? [] : formatIssues(r.error);
    };
    expect(lines({ ...flag, canaryVariant: 'baseline' })).toEqual(['canaryVariant: canaryVariant and baselineVariant must differ']);
    expect(lines({ ...lambdaAlias, canaryVersion: '$LATEST' })).toEqual(['canaryVersion: canaryVersion must be a published version number such as 7']);
    expect(lines({ ...lambdaAlias, durationP99MaxMs: 1_000_000 })).toEqual(["durationP99MaxMs: durationP99MaxMs must be at most 900000 (Lambda's 15-minute limit)"]);
    expect(lines({ type: 'lambda' })).toEqual(["type: preset type must be 'alb-lambda', 'lambda-alias' or 'appconfig-flag' (or 'alb-ecs')"]);
  });
});
