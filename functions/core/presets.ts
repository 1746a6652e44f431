/**
 * Presets for the routers beside Route 53, in the shape of `presetMetrics` (config.ts): the
 * metrics a Lambda behind a weighted alias, a Lambda behind an ALB's weighted target groups,
 * and a service behind an AppConfig flag publish, with thresholds a person can tune. Each also
 * names the request (and error) counts of both variants, for the traffic-share and throughput
 * checks (traffic-share.ts). Pure: no AWS imports.
 *
 * AWS/Lambda facts these rest on:
 * - metrics of an alias are published with dimensions FunctionName and Resource
 *   (`<function>:<alias>`), and, when the alias routes to two versions, per version with
 *   ExecutedVersion as well: { FunctionName, Resource, ExecutedVersion } tells the canary's
 *   invocations from the baseline's behind one alias;
 * - Invocations and Errors want Sum (Errors over Invocations is the error rate; Invocations is
 *   published only when non-zero, and a missing Errors beside it is zero errors); Duration is in
 *   milliseconds (p99 is a valid statistic); ConcurrentExecutions wants Maximum.
 * - an ALB forwarding to a Lambda target group publishes RequestCount and
 *   HTTPCode_Target_5XX_Count per target group (5xx responses the function returned); a function
 *   error is an ELB 502 there, hence the Lambda error rate beside it.
 */
import { z } from 'zod';
import type { MetricQuery, RolloutMetric } from './config.ts';
import { functionNameOf } from './targets.ts';

/** CloudWatch names and dimension values: printable, no control characters, bounded. */
const cwString = (what: string, max = 255) =>
  z.string().min(1, `${what} must not be empty`).max(max, `${what} must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]+$/u, `${what} must not contain control characters`);

const VERSION = /^[0-9]{1,10}$/;
const QUALIFIER = /^[a-zA-Z0-9_$-]{1,128}$/;

const thresholds = {
  errorRateMaxPercent: z.number().min(0).max(100).default(1),
  durationP99MaxMs: z.number().positive().max(900_000, 'durationP99MaxMs must be at most 900000 (Lambda\'s 15-minute limit)').default(1000),
  durationMaxIncreasePercent: z.number().min(0).max(10_000).default(20),
  /** Highest ConcurrentExecutions of the canary: below the function's reserved (or the account's) concurrency. */
  concurrencyMax: z.number().int().min(1).max(1_000_000).default(800),
};

/** A Lambda alias splitting invocations between two published versions (the `lambda-alias` router). */
export const LambdaAliasPresetSchema = z.object({
  type: z.literal('lambda-alias'),
  functionName: cwString('functionName', 140),
  alias: z.string().regex(/^(?![0-9]+$)[a-zA-Z0-9_-]{1,128}$/, 'alias must be the alias name, e.g. live'),
  canaryVersion: z.string().regex(VERSION, 'canaryVersion must be a published version number such as 7'),
  /** Absent: the baseline the router read at preflight (pass it to lambdaAliasPresetMetrics). */
  baselineVersion: z.string().regex(VERSION, 'baselineVersion must be a published version number such as 6').optional(),
  ...thresholds,
}).strict();
export type LambdaAliasPreset = z.infer<typeof LambdaAliasPresetSchema>;

const LambdaFunctionRef = z.object({
  functionName: cwString('functionName', 140),
  /** The alias or version the target group invokes; absent: the unqualified function. */
  qualifier: z.string().regex(QUALIFIER, 'qualifier must be an alias name or a version number').optional(),
}).strict();

/** An ALB forwarding to two Lambda target groups (the `alb` router with Lambda targets). */
export const AlbLambdaPresetSchema = z.object({
  type: z.literal('alb-lambda'),
  /** ALB dimension value, e.g. `app/my-alb/50dc6c495c0c9188`. */
  loadBalancer: cwString('loadBalancer'),
  /** Target group dimension values, e.g. `targetgroup/blue/73e2d6bc24d8a067`. */
  baselineTargetGroup: cwString('baselineTargetGroup'),
  canaryTargetGroup: cwString('canaryTargetGroup'),
  baselineFunction: LambdaFunctionRef,
  canaryFunction: LambdaFunctionRef,
  httpErrorRateMaxPercent: z.number().min(0).max(100).default(1),
  ...thresholds,
}).strict();
export type AlbLambdaPreset = z.infer<typeof AlbLambdaPresetSchema>;

/**
 * A service behind an AppConfig flag that publishes its own metrics with a dimension naming
 * the variant that served each request (the `appconfig-flag` router): one namespace, a
 * request count, an error count and a latency, split by `variantDimension`.
 */
export const FlagVariantPresetSchema = z.object({
  type: z.literal('appconfig-flag'),
  namespace: cwString('namespace'),
  /** Dimensions every query carries besides the variant (e.g. { Service: checkout }). */
  dimensions: z.record(cwString('dimension name'), cwString('dimension value', 1024)).default({}),
  variantDimension: cwString('variantDimension').default('variant'),
  canaryVariant: cwString('canaryVariant', 1024).default('canary'),
  baselineVariant: cwString('baselineVariant', 1024).default('baseline'),
  requestsMetric: cwString('requestsMetric').default('Requests'),
  errorsMetric: cwString('errorsMetric').default('Errors'),
  latencyMetric: cwString('latencyMetric').default('Latency'),
  latencyUnit: z.enum(['milliseconds', 'seconds']).default('milliseconds'),
  errorRateMaxPercent: z.number().min(0).max(100).default(1),
  latencyP99Max: z.number().positive().default(1000),
  latencyMaxIncreasePercent: z.number().min(0).max(10_000).default(20),
}).strict().refine((p) => p.canaryVariant !== p.baselineVariant, { message: 'canaryVariant and baselineVariant must differ', path: ['canaryVariant'] });
export type FlagVariantPreset = z.infer<typeof FlagVariantPresetSchema>;

export const RouterPresetSchema = z.discriminatedUnion('type', [LambdaAliasPresetSchema, AlbLambdaPresetSchema, FlagVariantPresetSchema], {
  error: "preset type must be 'alb-lambda', 'lambda-alias' or 'appconfig-flag' (or 'alb-ecs')",
});
export type RouterPreset = z.infer<typeof RouterPresetSchema>;

const q = (namespace: string, metricName: string, dimensions: Record<string, string>, stat: string): MetricQuery =>
  ({ namespace, metricName, dimensions, stat });

/** The request and error count queries of both variants, for the traffic-share and throughput checks. */
export interface RequestCountQueries {
  canary: { requests: MetricQuery; errors?: MetricQuery };
  baseline: { requests: MetricQuery; errors?: MetricQuery };
}

type Dims = Record<string, string>;

function lambdaMetrics(p: Pick<LambdaAliasPreset, 'errorRateMaxPercent' | 'durationP99MaxMs' | 'durationMaxIncreasePercent' | 'concurrencyMax'>, canary: Dims, baseline: Dims, errorName = 'error-rate'): RolloutMetric[] {
  const L = 'AWS/Lambda';
  return [
    {
      name: errorName, kind: 'ratio', unit: 'percent', critical: true,
      threshold: { max: p.errorRateMaxPercent },
      queries: {
        canary: { numerator: q(L, 'Errors', canary, 'Sum'), denominator: q(L, 'Invocations', canary, 'Sum') },
        baseline: { numerator: q(L, 'Errors', baseline, 'Sum'), denominator: q(L, 'Invocations', baseline, 'Sum') },
      },
    },
    {
      name: 'duration-p99', kind: 'gauge', unit: 'milliseconds', critical: false,
      threshold: { max: p.durationP99MaxMs },
      baseline: { maxIncreasePercent: p.durationMaxIncreasePercent },
      queries: { canary: { value: q(L, 'Duration', canary, 'p99') }, baseline: { value: q(L, 'Duration', baseline, 'p99') } },
    },
    {
      // Concurrency follows traffic, so the canary's is not compared with the baseline's: only held below a ceiling.
      name: 'concurrency', kind: 'gauge', unit: 'count', critical: false,
      threshold: { max: p.concurrencyMax },
      queries: { canary: { value: q(L, 'ConcurrentExecutions', canary, 'Maximum') }, baseline: { value: q(L, 'ConcurrentExecutions', baseline, 'Maximum') } },
    },
  ];
}

/** Dimensions of one version behind an alias. */
function versionDims(functionName: string, alias: string, version: string): Dims {
  const fn = functionNameOf(functionName);
  return { FunctionName: fn, Resource: `${fn}:${alias}`, ExecutedVersion: version };
}

/**
 * Metrics of the `lambda-alias` preset: error rate (critical), Duration p99 against a ceiling
 * and the baseline, ConcurrentExecutions under a ceiling; per version behind the alias.
 * `resolved.baselineVersion`: the router's, when the preset does not name it.
 */
export function lambdaAliasPresetMetrics(p: LambdaAliasPreset, resolved: { baselineVersion?: string | null } = {}): RolloutMetric[] {
  const baseline = p.baselineVersion ?? resolved.baselineVersion;
  if (!baseline) throw new Error('preset lambda-alias: baselineVersion is not known; give preset.baselineVersion, or pass the one preflight read from the alias');
  return lambdaMetrics(p, versionDims(p.functionName, p.alias, p.canaryVersion), versionDims(p.functionName, p.alias, baseline));
}

export function lambdaAliasRequestCounts(p: LambdaAliasPreset, resolved: { baselineVersion?: string | null } = {}): RequestCountQueries {
  const baseline = p.baselineVersion ?? resolved.baselineVersion;
  if (!baseline) throw new Error('preset lambda-alias: baselineVersion is not known');
  const counts = (d: Dims) => ({ requests: q('AWS/Lambda', 'Invocations', d, 'Sum'), errors: q('AWS/Lambda', 'Errors', d, 'Sum') });
  return { canary: counts(versionDims(p.functionName, p.alias, p.canaryVersion)), baseline: counts(versionDims(p.functionName, p.alias, baseline)) };
}

function functionDims(ref: { functionName: string; qualifier?: string | undefined }): Dims {
  const fn = functionNameOf(ref.functionName);
  return ref.qualifier ? { FunctionName: fn, Resource: `${fn}:${ref.qualifier}` } : { FunctionName: fn };
}

/**
 * Metrics of the `alb-lambda` preset: the 5xx responses the ALB saw per target group
 * (critical), the functions' error rate (critical: a function error is an ELB 502, not a target
 * 5xx), Duration p99, ConcurrentExecutions.
 */
export function albLambdaPresetMetrics(p: AlbLambdaPreset): RolloutMetric[] {
  const tg = (targetGroup: string) => ({ LoadBalancer: p.loadBalancer, TargetGroup: targetGroup });
  const A = 'AWS/ApplicationELB';
  return [
    {
      name: 'http-5xx-rate', kind: 'ratio', unit: 'percent', critical: true,
      threshold: { max: p.httpErrorRateMaxPercent },
      queries: {
        canary: { numerator: q(A, 'HTTPCode_Target_5XX_Count', tg(p.canaryTargetGroup), 'Sum'), denominator: q(A, 'RequestCount', tg(p.canaryTargetGroup), 'Sum') },
        baseline: { numerator: q(A, 'HTTPCode_Target_5XX_Count', tg(p.baselineTargetGroup), 'Sum'), denominator: q(A, 'RequestCount', tg(p.baselineTargetGroup), 'Sum') },
      },
    },
    ...lambdaMetrics(p, functionDims(p.canaryFunction), functionDims(p.baselineFunction), 'lambda-error-rate'),
  ];
}

export function albLambdaRequestCounts(p: AlbLambdaPreset): RequestCountQueries {
  const tg = (targetGroup: string) => ({ LoadBalancer: p.loadBalancer, TargetGroup: targetGroup });
  const counts = (targetGroup: string) => ({
    requests: q('AWS/ApplicationELB', 'RequestCount', tg(targetGroup), 'Sum'),
    errors: q('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', tg(targetGroup), 'Sum'),
  });
  return { canary: counts(p.canaryTargetGroup), baseline: counts(p.baselineTargetGroup) };
}

/** Metrics of the `appconfig-flag` preset: the service's error rate per variant (critical) and latency p99. */
export function flagVariantPresetMetrics(p: FlagVariantPreset): RolloutMetric[] {
  const dims = (variant: string) => ({ ...p.dimensions, [p.variantDimension]: variant });
  const c = dims(p.canaryVariant);
  const b = dims(p.baselineVariant);
  return [
    {
      name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true,
      threshold: { max: p.errorRateMaxPercent },
      queries: {
        canary: { numerator: q(p.namespace, p.errorsMetric, c, 'Sum'), denominator: q(p.namespace, p.requestsMetric, c, 'Sum') },
        baseline: { numerator: q(p.namespace, p.errorsMetric, b, 'Sum'), denominator: q(p.namespace, p.requestsMetric, b, 'Sum') },
      },
    },
    {
      name: 'latency-p99', kind: 'gauge', unit: p.latencyUnit, critical: false,
      threshold: { max: p.latencyP99Max },
      baseline: { maxIncreasePercent: p.latencyMaxIncreasePercent },
      queries: { canary: { value: q(p.namespace, p.latencyMetric, c, 'p99') }, baseline: { value: q(p.namespace, p.latencyMetric, b, 'p99') } },
    },
  ];
}

export function flagVariantRequestCounts(p: FlagVariantPreset): RequestCountQueries {
  const counts = (variant: string) => {
    const d = { ...p.dimensions, [p.variantDimension]: variant };
    return { requests: q(p.namespace, p.requestsMetric, d, 'Sum'), errors: q(p.namespace, p.errorsMetric, d, 'Sum') };
  };
  return { canary: counts(p.canaryVariant), baseline: counts(p.baselineVariant) };
}

/** The metrics any of these presets fills in (metrics given explicitly with the same name win, as for alb-ecs). */
export function routerPresetMetrics(p: RouterPreset, resolved: { baselineVersion?: string | null } = {}): RolloutMetric[] {
  switch (p.type) {
    case 'lambda-alias': return lambdaAliasPresetMetrics(p, resolved);
    case 'alb-lambda': return albLambdaPresetMetrics(p);
    case 'appconfig-flag': return flagVariantPresetMetrics(p);
  }
}

/** The request counts any of these presets knows, for the traffic-share and throughput checks. */
export function routerPresetRequestCounts(p: RouterPreset, resolved: { baselineVersion?: string | null } = {}): RequestCountQueries {
  switch (p.type) {
    case 'lambda-alias': return lambdaAliasRequestCounts(p, resolved);
    case 'alb-lambda': return albLambdaRequestCounts(p);
    case 'appconfig-flag': return flagVariantRequestCounts(p);
  }
}
