/**
 * The rollout config: one zod schema, the single source of truth for the execution input,
 * the CLI's `validate`, and the JSON Schema file editors use (`schema/rollout-config.schema.json`).
 * Pure: imports nothing from AWS.
 */
import { z } from 'zod';
import { ConfigValidationError } from './errors.ts';
import { planBudget } from './plan-budget.ts';
import { formatIssues } from './issues.ts';

export { formatIssues };
import {
  AlbLambdaPresetSchema, FlagVariantPresetSchema, LambdaAliasPresetSchema, albLambdaRequestCounts, flagVariantRequestCounts,
  lambdaAliasRequestCounts, routerPresetMetrics, type RequestCountQueries,
} from './presets.ts';
import {
  AlbTargetSchema, AppConfigFlagTargetSchema, LambdaAliasTargetSchema, functionNameOf, lockKeyOf, routerPermissionProblem,
  type RouterAllowances, type RouterKind, type RouterTarget,
} from './targets.ts';
import { verificationConfigShape, verificationCrossIssues } from './verification.ts';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const safeName = (what: string) =>
  z.string().regex(SAFE_NAME, `${what} must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);

/** CloudWatch names and dimension values: printable, no control characters, bounded. */
const cwString = (what: string, max = 255) =>
  z.string().min(1, `${what} must not be empty`).max(max, `${what} must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]+$/u, `${what} must not contain control characters`);

const STAT = /^(SampleCount|Average|Sum|Minimum|Maximum|p\d{1,2}(\.\d{1,2})?|tm\d{1,2}|IQM)$/;

/** One CloudWatch metric and statistic (GetMetricData's MetricStat). */
export const MetricStatQuerySchema = z.object({
  namespace: cwString('namespace'),
  metricName: cwString('metricName'),
  dimensions: z.record(cwString('dimension name'), cwString('dimension value', 1024))
    .refine((d) => Object.keys(d).length <= 30, 'at most 30 dimensions').default({}),
  stat: z.string().regex(STAT, 'stat must be a CloudWatch statistic such as Average, Sum, Maximum or p99'),
}).strict();
export type MetricStatQuery = z.infer<typeof MetricStatQuerySchema>;

/** Ids a metric-math expression names its inputs by (CloudWatch's rule: a lowercase letter first). */
const MATH_ID = /^[a-z][A-Za-z0-9_]{0,63}$/;
/** Where a metric-math expression's text is scanned: quoted strings, numbers, names. */
const MATH_TOKEN = /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*/g;

/** The input ids an expression names: lowercase-first names outside quotes (functions are uppercase). */
export function mathExpressionIds(expression: string): string[] {
  const ids = new Set<string>();
  for (const [token] of expression.matchAll(MATH_TOKEN)) {
    if (/^[a-z]/.test(token)) ids.add(token);
  }
  return [...ids];
}

/** The expression with each input id renamed (text in quotes, numbers and functions left alone). */
export function renameMathIds(expression: string, rename: (id: string) => string): string {
  return expression.replace(MATH_TOKEN, (token) => (/^[a-z]/.test(token) ? rename(token) : token));
}

/**
 * A CloudWatch metric-math expression over the metrics it names by id, e.g.
 * `{ expression: '100 * errors / requests', metrics: { errors: {...}, requests: {...} } }`, or
 * a self-contained one such as `SUM(SEARCH('{AWS/ApplicationELB,TargetGroup} RequestCount', 'Sum'))`.
 * It must give one time series.
 */
export const MetricMathQuerySchema = z.object({
  expression: cwString('expression', 2048),
  metrics: z.record(z.string(), MetricStatQuerySchema)
    .refine((m) => Object.keys(m).length <= 10, 'at most 10 metrics per expression').default({}),
}).strict().superRefine((q, ctx) => {
  const declared = new Set(Object.keys(q.metrics));
  for (const id of declared) {
    // Checked here rather than on the record's keys, so that the issue names the id's path.
    if (!MATH_ID.test(id)) ctx.addIssue({ code: 'custom', path: ['metrics', id], message: 'a metric id must start with a lowercase letter and hold only letters, digits and _ (at most 64)' });
  }
  for (const id of mathExpressionIds(q.expression)) {
    if (!declared.has(id)) {
      ctx.addIssue({ code: 'custom', path: ['expression'], message: `names '${id}', which is not in \`metrics\`: declare it there (ids start with a lowercase letter; functions such as SUM are uppercase)` });
    }
  }
});
export type MetricMathQuery = z.infer<typeof MetricMathQuerySchema>;

/**
 * A CloudWatch Metrics Insights query, e.g. `SELECT SUM(RequestCount) FROM SCHEMA("AWS/ApplicationELB",
 * LoadBalancer, TargetGroup) WHERE TargetGroup = 'targetgroup/green/2'`. It must give one time series
 * (no GROUP BY), and it sees only recent data (see CloudWatch's Metrics Insights quotas).
 */
export const MetricsInsightsQuerySchema = z.object({
  query: cwString('query', 2048)
    .regex(/^\s*SELECT\s/i, 'query must be a Metrics Insights query starting with SELECT')
    .refine((s) => !/\bGROUP\s+BY\b/i.test(s), 'query must give one time series: remove GROUP BY (and ORDER BY / LIMIT, which need it)'),
}).strict();
export type MetricsInsightsQuery = z.infer<typeof MetricsInsightsQuerySchema>;

/**
 * What a metric queries: one metric and statistic, a metric-math `expression`, or a Metrics
 * Insights `query`. The `?: never` fields let code read `q.namespace` on any form (undefined
 * when it is not a single metric); `isMetricStatQuery` narrows.
 */
export type MetricQuery =
  | (MetricStatQuery & { expression?: never; metrics?: never; query?: never })
  | (MetricMathQuery & { namespace?: never; metricName?: never; dimensions?: never; stat?: never; query?: never })
  | (MetricsInsightsQuery & { namespace?: never; metricName?: never; dimensions?: never; stat?: never; expression?: never });
type MetricQueryInput = z.input<typeof MetricStatQuerySchema> | z.input<typeof MetricMathQuerySchema> | z.input<typeof MetricsInsightsQuerySchema>;

/** zod reports a mistake against the form it resembles most (tested in test/core/config.test.ts). */
export const MetricQuerySchema: z.ZodType<MetricQuery, MetricQueryInput> = z.union([
  MetricStatQuerySchema, MetricMathQuerySchema, MetricsInsightsQuerySchema,
]) as unknown as z.ZodType<MetricQuery, MetricQueryInput>;

export function isMetricStatQuery(q: MetricQuery): q is MetricStatQuery {
  return typeof q.namespace === 'string';
}

/** One line naming what a query reads, for plans and reports. */
export function metricQueryText(q: MetricQuery): string {
  if (q.expression !== undefined) return `expression ${q.expression}`;
  if (q.query !== undefined) return `Metrics Insights ${q.query}`;
  const dims = Object.entries(q.dimensions ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
  return `${q.namespace} ${q.metricName} (${q.stat})${dims ? ` {${dims}}` : ''}`;
}

const GaugeQueriesSchema = z.object({ value: MetricQuerySchema }).strict();
const RatioQueriesSchema = z.object({ numerator: MetricQuerySchema, denominator: MetricQuerySchema }).strict();

export const ThresholdSchema = z.object({
  max: z.number().finite().optional(),
  min: z.number().finite().optional(),
}).strict().refine((t) => t.max !== undefined || t.min !== undefined, 'threshold needs `max` and/or `min`')
  .refine((t) => t.max === undefined || t.min === undefined || t.min <= t.max, 'threshold.min must not exceed threshold.max');

export const BaselineComparisonSchema = z.object({
  maxIncreasePercent: z.number().finite().min(0).max(10_000),
  /**
   * Absolute floor of a regression, in the metric's unit (percentage points for a ratio): the
   * canary is held against max(maxIncreasePercent of the baseline, minIncrease) above it, so a
   * +1 point change on a near-idle CPU is not a +100 % regression.
   */
  minIncrease: z.number().finite().min(0).optional(),
}).strict();

/** Statistical knobs of the judge (all optional; the judge documents its defaults). */
export const JudgeOptionsSchema = z.object({
  /** Fewer datapoints than this (per variant) is INCONCLUSIVE. */
  minDatapoints: z.number().int().min(1).max(10_000).optional(),
  /** Ratio metrics: fewer denominator events (e.g. requests) than this is INCONCLUSIVE. */
  minDenominator: z.number().int().min(1).max(1e9).optional(),
  /** One-sided confidence level for bounds and tests, e.g. 0.95. */
  confidence: z.number().gt(0.5).lt(1).optional(),
  /** Gauge trend (leak) detection: fail when the projected threshold crossing is within this many seconds. */
  trendHorizonSeconds: z.number().int().min(0).max(7 * 86_400).optional(),
}).strict();

/** Rollout-wide settings of the sequential judge. */
export const SequentialJudgeConfigSchema = z.object({
  /**
   * The chance that a healthy canary is ever rolled back by the judge during the whole rollout,
   * however long its stages and however often they are checked (default 0.01).
   */
  falseRollbackRate: z.number().gt(0, 'judge.falseRollbackRate must be above 0').max(0.2, 'judge.falseRollbackRate must be at most 0.2').default(0.01),
}).strict();

/** What the judge needs of a metric: no queries, no target. `canary judge` accepts exactly this. */
export const JudgeMetricSchema = z.object({
  name: safeName('metric name'),
  kind: z.enum(['gauge', 'ratio'], { error: "kind must be 'gauge' (one value per period) or 'ratio' (numerator / denominator counts)" }),
  unit: z.enum(['percent', 'seconds', 'milliseconds', 'count', 'bytes', 'none']).default('none'),
  threshold: ThresholdSchema,
  baseline: BaselineComparisonSchema.optional(),
  critical: z.boolean().default(false),
  judge: JudgeOptionsSchema.optional(),
}).strict();
export type JudgeMetric = z.infer<typeof JudgeMetricSchema>;

export const JudgeConfigSchema = z.object({
  metrics: z.array(JudgeMetricSchema).min(1, 'at least one metric is needed').max(50),
}).passthrough();
export type JudgeConfig = z.infer<typeof JudgeConfigSchema>;

const RolloutMetricSchema = JudgeMetricSchema.extend({
  /**
   * Judged, recorded, reported and charted like any metric, but never acted on: it never rolls
   * back, never holds a stage, never refuses a preflight (Argo Rollouts' dry-run metrics). For a
   * metric you are still tuning.
   */
  dryRun: z.boolean().optional(),
  queries: z.object({
    canary: z.union([GaugeQueriesSchema, RatioQueriesSchema]),
    baseline: z.union([GaugeQueriesSchema, RatioQueriesSchema]),
  }).strict(),
}).strict().superRefine((m, ctx) => {
  for (const variant of ['canary', 'baseline'] as const) {
    const q = m.queries[variant];
    const isRatio = 'numerator' in q;
    if (m.kind === 'ratio' && !isRatio) {
      ctx.addIssue({ code: 'custom', path: ['queries', variant], message: "a 'ratio' metric needs `numerator` and `denominator` queries" });
    }
    if (m.kind === 'gauge' && isRatio) {
      ctx.addIssue({ code: 'custom', path: ['queries', variant], message: "a 'gauge' metric needs one `value` query" });
    }
  }
});
export type RolloutMetric = z.infer<typeof RolloutMetricSchema>;

const DAY = 86_400;
const DURATION_UNITS: Record<string, number> = {
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1, m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600, d: DAY, day: DAY, days: DAY, w: 7 * DAY, week: 7 * DAY, weeks: 7 * DAY,
};

/**
 * A duration as people write it: `90s`, `15m`, `48h`, `3d`, `2w`, `1h30m`, or a number of seconds.
 * Null when the text is not one.
 */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)\s*/y;
  let seconds = 0;
  let matched = 0;
  part.lastIndex = 0;
  while (part.lastIndex < text.length) {
    const m = part.exec(text);
    if (!m) return null;
    seconds += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched++;
  }
  return matched > 0 ? seconds : null;
}

/** A duration written for people, in seconds; the shortest and longest accepted say why in the message. */
export function formatSeconds(seconds: number): string {
  const units: [number, string][] = [[DAY, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
  let rest = Math.round(seconds);
  if (rest === 0) return '0s';
  let text = '';
  for (const [size, unit] of units) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}

/** A duration field: a duration text or a number of seconds, whole seconds within [min, max]. */
const duration = (field: string, min: number, max: number) => z.union([z.number(), z.string()]).meta({
  description: `${field}: a duration such as 90s, 15m, 48h, 3d or 1h30m, or a number of seconds (${formatSeconds(min)} to ${formatSeconds(max)})`,
  examples: ['5m', '48h'],
}).transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === null) {
    ctx.addIssue({ code: 'custom', message: `${field} must be a duration such as 90s, 15m, 48h, 3d or 1h30m, or a number of seconds; not ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  if (!Number.isInteger(seconds)) {
    ctx.addIssue({ code: 'custom', message: `${field} must be whole seconds, not ${seconds} s` });
    return z.NEVER;
  }
  if (seconds < min || seconds > max) {
    ctx.addIssue({ code: 'custom', message: `${field} must be between ${formatSeconds(min)} and ${formatSeconds(max)}, not ${formatSeconds(seconds)}` });
    return z.NEVER;
  }
  return seconds;
});

/** The longest bake of one stage: 30 days (a stage of a payments API may run a week or two). */
export const MAX_BAKE_SECONDS = 30 * DAY;

const StageObjectSchema = z.object({
  weight: z.number().int().min(1).max(100),
  /** How long this stage bakes (`48h`, `3d`), instead of the rollout's `bake`. */
  bake: duration('bake', 0, MAX_BAKE_SECONDS).optional(),
  bakeSeconds: duration('bakeSeconds', 0, MAX_BAKE_SECONDS).optional(),
  checks: z.number().int().min(1).max(100).optional(),
  /** A person must approve (`canary approve ID`) before this stage's weight is set. */
  approval: z.boolean().optional(),
}).strict();

/** Preset for the common case: an ALB in front of two ECS services (baseline and canary). */
export const AlbEcsPresetSchema = z.object({
  type: z.literal('alb-ecs'),
  /** ALB dimension value, e.g. `app/my-alb/50dc6c495c0c9188`. */
  loadBalancer: cwString('loadBalancer'),
  baselineTargetGroup: cwString('baselineTargetGroup'),
  canaryTargetGroup: cwString('canaryTargetGroup'),
  cluster: cwString('cluster'),
  baselineService: cwString('baselineService'),
  canaryService: cwString('canaryService'),
  memoryMaxPercent: z.number().min(1).max(100).default(80),
  errorRateMaxPercent: z.number().min(0).max(100).default(1),
  latencyP99MaxSeconds: z.number().positive().max(600).default(1),
  latencyMaxIncreasePercent: z.number().min(0).max(10_000).default(20),
}).strict();
export type AlbEcsPreset = z.infer<typeof AlbEcsPresetSchema>;

const HOSTED_ZONE_ID = /^(\/hostedzone\/)?[A-Z0-9]{1,32}$/;
const RECORD_NAME = /^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/;

const TARGET_TYPES = "'route53' (the default: weighted records), 'alb', 'lambda-alias' or 'appconfig-flag'";
const PRESET_TYPES = "'alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag'";

/** What a value is, in a message: `a string`, `a list`, `the number 7`. */
function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
}

/**
 * A discriminated union's message: when the value is not even a mapping (missing, a string such as
 * `preset: alb-ecs`), say so with the choices of `type`; otherwise the union's own message.
 */
function unionError(issue: { code?: string; input?: unknown }, what: string, field: string, choices: string, otherwise: string): string {
  if (issue.code !== 'invalid_type') return otherwise;
  if (issue.input === undefined) return `missing: add ${what}, a mapping with ${field} (${choices}) and its fields`;
  return `${what} must be a mapping with ${field} (${choices}) and its fields, not ${kindOf(issue.input)}`;
}

/** Route 53 weighted records: the router when `type` is absent (configs written before the other routers). */
export const Route53TargetSchema = z.object({
  type: z.literal('route53').optional(),
  hostedZoneId: z.string().regex(HOSTED_ZONE_ID, 'hostedZoneId must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ')
    .transform((id) => id.replace(/^\/hostedzone\//, '')),
  recordName: z.string().max(253, 'recordName must be at most 253 characters')
    .regex(RECORD_NAME, 'recordName must be a DNS name such as api.example.com')
    .transform((n) => n.toLowerCase().replace(/\.$/, '')),
  recordType: z.enum(['A', 'AAAA', 'CNAME']).default('A'),
  baselineSetIdentifier: z.string().min(1).max(128).regex(/^[^\p{Cc}]+$/u, 'no control characters'),
  canarySetIdentifier: z.string().min(1).max(128).regex(/^[^\p{Cc}]+$/u, 'no control characters'),
  /**
   * Longest record TTL accepted. Clients keep an old answer for a whole TTL, so a long TTL means
   * a rollback takes that long to reach them. Raise it only knowingly.
   */
  maxTtlSeconds: z.number().int().min(0).max(86_400).default(60),
}).strict().refine((t) => t.baselineSetIdentifier !== t.canarySetIdentifier, {
  message: 'baselineSetIdentifier and canarySetIdentifier must differ', path: ['canarySetIdentifier'],
});
/** The Route 53 target (the name every Route 53 module uses). */
export const TargetSchema = Route53TargetSchema;
export type Target = z.infer<typeof Route53TargetSchema>;
export type Route53Target = Target;

/**
 * The traffic target of a rollout, by `type`: `route53` (the default when `type` is absent, so
 * configs written before the other routers are unchanged), `alb`, `lambda-alias`, `appconfig-flag`.
 */
export const RolloutTargetSchema = z.discriminatedUnion('type', [Route53TargetSchema, AlbTargetSchema, LambdaAliasTargetSchema, AppConfigFlagTargetSchema], {
  error: (issue) => unionError(issue, 'the traffic target', 'its `type`', TARGET_TYPES, "type must be 'route53' (the default: weighted records), 'alb', 'lambda-alias' or 'appconfig-flag'"),
});
export type RolloutTarget = z.infer<typeof RolloutTargetSchema>;

/** The router kind of a target (`route53` when `type` is absent). */
export function routerKindOf(target: RolloutTarget): RouterKind {
  return target.type ?? 'route53';
}

/** Narrows a target to Route 53 weighted records. */
export function isRoute53Target(target: RolloutTarget): target is Route53Target {
  return target.type === undefined || target.type === 'route53';
}

/** The target as Route 53 weighted records; a TypeError naming its type otherwise (code and tests that work on records). */
export function route53TargetOf(config: { target: RolloutTarget }): Route53Target {
  const t = config.target;
  if (!isRoute53Target(t)) throw new TypeError(`the target is of type ${t.type}, not Route 53 weighted records`);
  return t;
}

/** How a person names the canary side of a target, e.g. `the canary record 'green'`. */
export function canaryLabel(target: RolloutTarget): string {
  switch (target.type) {
    case undefined: case 'route53': return `the canary record '${target.canarySetIdentifier}'`;
    case 'alb': return `the canary target group ${target.canaryTargetGroupArn}`;
    case 'lambda-alias': return `the canary version ${target.canaryVersion} of alias ${target.alias} of ${functionNameOf(target.functionName)}`;
    case 'appconfig-flag': return `the flag ${target.flag} (${target.attribute})`;
  }
}

/** One line naming a traffic target and its two sides, for plans and the simulator. */
export function describeTarget(target: RolloutTarget): string {
  switch (target.type) {
    case undefined: case 'route53':
      return `Route 53 weighted records ${target.recordName} ${target.recordType} in hosted zone ${target.hostedZoneId}: '${target.baselineSetIdentifier}' → '${target.canarySetIdentifier}'`;
    case 'alb':
      return `ALB ${target.ruleArn ? `rule ${target.ruleArn}` : `default action of listener ${target.listenerArn}`}: target group ${target.baselineTargetGroupArn} → ${target.canaryTargetGroupArn}`;
    case 'lambda-alias':
      return `Lambda alias ${target.alias} of ${target.functionName}: version ${target.baselineVersion ?? '(the one the alias serves)'} → ${target.canaryVersion}`;
    case 'appconfig-flag':
      return `AppConfig flag ${target.flag}.${target.attribute} of profile ${target.configurationProfileId} (application ${target.applicationId}, environment ${target.environmentId})`;
  }
}

/** How a person names the baseline side of a target, e.g. `the record 'blue'`. */
export function baselineLabel(target: RolloutTarget): string {
  switch (target.type) {
    case undefined: case 'route53': return `record '${target.baselineSetIdentifier}'`;
    case 'alb': return `target group ${target.baselineTargetGroupArn}`;
    case 'lambda-alias': return target.baselineVersion ? `version ${target.baselineVersion}` : 'baseline version';
    case 'appconfig-flag': return `code path (flag ${target.flag} at 0 %)`;
  }
}

export const IncidentConfigSchema = z.object({
  /** Extra SNS topic besides the stack's own (which always gets the incident). */
  snsTopicArn: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/, 'snsTopicArn must be an SNS topic ARN').optional(),
  opsCenter: z.object({
    enabled: z.boolean().default(false),
    severity: z.enum(['1', '2', '3', '4']).default('2'),
  }).strict().default({ enabled: false, severity: '2' }),
  webhook: z.object({
    type: z.enum(['pagerduty', 'slack']),
    /** Secrets Manager secret holding the PagerDuty routing key or the Slack webhook URL. */
    secretId: z.string().min(1).max(2048),
  }).strict().optional(),
}).strict();

export type IncidentConfig = z.infer<typeof IncidentConfigSchema>;

/** The shortest status-update cadence: more often is noise to the people reading them. */
const MIN_STATUS_UPDATE_SECONDS = 60;

/**
 * A rollout's incident: its targets, and how often the open incident gets a status update while
 * the recovery watch runs (the playbooks: "commit to a follow-up status update in exactly 15
 * minutes"); until recovery is verified or the watch ends. 0 turns them off.
 */
export const RolloutIncidentConfigSchema = IncidentConfigSchema.extend({
  /** Time between two status updates of the open incident (`15m`, the default); 0: none. */
  statusUpdateEvery: duration('incident.statusUpdateEvery', 0, DAY).optional(),
  statusUpdateEverySeconds: duration('incident.statusUpdateEverySeconds', 0, DAY).optional(),
}).strict().superRefine((c, ctx) => {
  both(c, 'statusUpdateEvery', 'statusUpdateEverySeconds', ctx);
  for (const field of ['statusUpdateEvery', 'statusUpdateEverySeconds'] as const) {
    const seconds = c[field];
    if (seconds !== undefined && seconds > 0 && seconds < MIN_STATUS_UPDATE_SECONDS) {
      ctx.addIssue({ code: 'custom', path: [field], message: `incident.${field} must be 0 (no status updates) or at least 1m, not ${formatSeconds(seconds)}` });
    }
  }
}).transform(({ statusUpdateEvery, statusUpdateEverySeconds, ...rest }) => ({ ...rest, statusUpdateEverySeconds: statusUpdateEvery ?? statusUpdateEverySeconds ?? 900 }));

const CountQueriesSchema = z.object({
  /** Requests per period (Sum): ALB RequestCount, Lambda Invocations, a service's own count. */
  requests: MetricQuerySchema,
  /** Failed requests per period (Sum); absent: every request counts as a success. */
  errors: MetricQuerySchema.optional(),
}).strict();

/**
 * Proof that traffic moved (functions/core/traffic-share.ts): once a stage is in sync, the
 * canary's share of requests must be near its weight, and successful requests of both variants
 * together must not drop. On by default wherever request counts are known: `requestCounts`, or
 * the preset's (alb-ecs, alb-lambda, lambda-alias, appconfig-flag all give them).
 */
export const TrafficChecksSchema = z.object({
  /** false: neither check runs. */
  enabled: z.boolean().default(true),
  /** Allowed deviation of the canary's share relative to the smaller share: 0.5 → a 10 % stage must serve 5-15 %. */
  tolerance: z.number().gt(0, 'tolerance must be above 0').max(1, 'tolerance must be at most 1').default(0.5),
  /**
   * How long a stage whose canary is starved of traffic (or serves far more than its weight)
   * waits for traffic to follow the weight before it rolls back saying traffic did not move.
   */
  starvedWaitSeconds: z.number().int().min(0).max(86_400).default(600),
  /**
   * Seconds after a change is in sync (and the router's own settle time: the TTL, ALB stickiness,
   * a flag's poll interval) before shares are judged; absent: the router's default (Route 53
   * 300, ALB 30, Lambda alias 30, AppConfig 60).
   */
  settleAllowanceSeconds: z.number().int().min(0).max(3600).optional(),
  throughput: z.object({
    enabled: z.boolean().default(true),
    /** Largest drop of successful requests per second allowed, as a share: 0.2 → 20 %. */
    maxDropShare: z.number().gt(0, 'maxDropShare must be above 0').max(1, 'maxDropShare must be at most 1').default(0.2),
    /** Also compare with the minutes before the rollout's first shift (false for stages long enough to see daily swings). */
    againstPreRollout: z.boolean().default(true),
  }).strict().default({ enabled: true, maxDropShare: 0.2, againstPreRollout: true }),
  /** The request (and error) counts of both variants; absent: the preset's. */
  requestCounts: z.object({ canary: CountQueriesSchema, baseline: CountQueriesSchema }).strict().optional(),
}).strict();
export type TrafficChecksInput = z.input<typeof TrafficChecksSchema>;

/** The traffic checks as the steps run them: off when no request counts are known. */
export interface TrafficChecks {
  enabled: boolean;
  tolerance: number;
  starvedWaitSeconds: number;
  settleAllowanceSeconds?: number;
  throughput: { enabled: boolean; maxDropShare: number; againstPreRollout: boolean };
  requestCounts?: RequestCountQueries;
}

const DEFAULT_TRAFFIC_CHECKS = { enabled: true, tolerance: 0.5, starvedWaitSeconds: 600, throughput: { enabled: true, maxDropShare: 0.2, againstPreRollout: true } };

/** Any of the presets: alb-ecs (below) or a router's (presets.ts). */
export const PresetSchema = z.discriminatedUnion('type', [AlbEcsPresetSchema, LambdaAliasPresetSchema, AlbLambdaPresetSchema, FlagVariantPresetSchema], {
  error: (issue) => unionError(issue, 'the preset', '`type`', PRESET_TYPES, `preset type must be ${PRESET_TYPES}`),
});
export type Preset = z.infer<typeof PresetSchema>;

const DEFAULT_STAGES = [1, 5, 10, 25, 100];
/**
 * After a rollback, how long to keep watching the baseline: back within its thresholds, the
 * incident is updated RECOVERED; still unhealthy when the watch ends, it is ESCALATED.
 */
export const RecoveryConfigSchema = z.object({
  /** How long after the rollback is INSYNC the baseline has to recover (`15m`). 0: no watch. */
  watch: duration('recovery.watch', 0, 7 * DAY).optional(),
  watchSeconds: duration('recovery.watchSeconds', 0, 7 * DAY).optional(),
  /** Time between two checks of the baseline during the watch (`1m`). */
  checkInterval: duration('recovery.checkInterval', 10, 3600).optional(),
  checkIntervalSeconds: duration('recovery.checkIntervalSeconds', 10, 3600).optional(),
}).strict().superRefine((r, ctx) => {
  both(r, 'watch', 'watchSeconds', ctx);
  both(r, 'checkInterval', 'checkIntervalSeconds', ctx);
}).transform((r) => ({ watchSeconds: r.watch ?? r.watchSeconds ?? 900, checkIntervalSeconds: r.checkInterval ?? r.checkIntervalSeconds ?? 60 }));
export type RecoveryConfig = z.infer<typeof RecoveryConfigSchema>;

/** A field written two ways (`bake: 48h` or `bakeSeconds: 172800`) may be given one way only. */
function both(o: Record<string, unknown>, human: string, seconds: string, ctx: z.RefinementCtx): void {
  if (o[human] !== undefined && o[seconds] !== undefined) {
    ctx.addIssue({ code: 'custom', path: [human], message: `give ${human} or ${seconds}, not both` });
  }
}

export const RolloutConfigSchema = z.object({
  /** Editors' pointer to schema/rollout-config.schema.json; ignored. */
  $schema: z.string().max(2048).optional(),
  /** Service or rollout name, shown in incidents and logs. */
  name: safeName('name'),
  target: RolloutTargetSchema,
  stages: z.array(z.union([z.number().int().min(1).max(100), StageObjectSchema]))
    .min(1).max(20).prefault(DEFAULT_STAGES),
  /** Wait after a weight change is INSYNC (and one TTL has passed) before the first check (`5m`, `48h`). Default 5m. */
  bake: duration('bake', 0, MAX_BAKE_SECONDS).optional(),
  bakeSeconds: duration('bakeSeconds', 0, MAX_BAKE_SECONDS).optional(),
  /** Passing checks a stage needs before it is promoted. */
  checksPerStage: z.number().int().min(1).max(100).default(1),
  /**
   * Also check while a stage bakes, as each period completes, and roll back as soon as a metric
   * fails confidently (a critical one at once): a bad canary is caught minutes earlier. A pass
   * during the bake does not count: the stage still bakes its full time.
   */
  checkDuringBake: z.boolean().default(true),
  /** Time between two checks of a stage (`1m`). Default 1m. */
  checkInterval: duration('checkInterval', 10, DAY).optional(),
  checkIntervalSeconds: duration('checkIntervalSeconds', 10, DAY).optional(),
  /** CloudWatch period of every query. */
  analysisPeriodSeconds: z.union([z.literal(10), z.literal(30), z.number().int().min(60).max(3600).multipleOf(60)]).default(60),
  /** How long a manual gate waits for `canary approve`/`reject` before rolling back (`3d`). Default 1h. */
  approvalTimeout: duration('approvalTimeout', 60, 30 * DAY).optional(),
  approvalTimeoutSeconds: duration('approvalTimeoutSeconds', 60, 30 * DAY).optional(),
  /** Failed checks a stage tolerates; one more rolls back. */
  failureLimit: z.number().int().min(0).max(100).default(0),
  /**
   * A quiet stage (data, but too little to judge) extends its bake one check interval at a
   * time for at most this long, then rolls back: a 1 % stage of a low-traffic service needs time.
   */
  maxBakeExtension: duration('maxBakeExtension', 0, 30 * DAY).optional(),
  maxBakeExtensionSeconds: duration('maxBakeExtensionSeconds', 0, 30 * DAY).optional(),
  /** Checks without canary data a stage tolerates (each waits one more interval); one more rolls back. */
  inconclusiveLimit: z.number().int().min(0).max(100).default(3),
  /**
   * Lease of the traffic-target lock; renewed by every step, so it only matters if we die. It is
   * never shorter than the longest wait the workflow makes (an hour) plus a margin.
   */
  lockLease: duration('lockLease', 60, DAY).optional(),
  lockLeaseSeconds: duration('lockLeaseSeconds', 60, DAY).optional(),
  /**
   * Judge the baseline against the thresholds before any traffic moves: `true` refuses to start
   * when it already breaks one; `false` does not look; `compare` (the hotfix path: the fix for an
   * ongoing incident) starts anyway and holds each metric the baseline breaks to the baseline
   * comparison only (no worse than the baseline, within its `baseline` margin, 0 % if it has none)
   * until the baseline is healthy again.
   */
  checkBaselineHealth: z.union([z.boolean(), z.literal('compare')], {
    error: "checkBaselineHealth must be true (refuse an unhealthy baseline), false (do not check) or 'compare' (start anyway, judge against the baseline only)",
  }).default(true),
  /**
   * What a failure does: `rollback` (the default) reverses the whole shift; `halt` freezes the
   * weights where they are, opens the incident, and waits for a person (`canary abort`,
   * `canary promote --full`, `canary resume`) — for changes that cannot be rolled back.
   */
  onFailure: z.enum(['rollback', 'halt'], { error: "onFailure must be 'rollback' (the default: reverse the whole shift) or 'halt' (freeze the weights and wait for a person)" }).default('rollback'),
  /** Set by `canary retry`: the rollout this one retries (kept on the record, linked both ways). */
  retryOf: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'retryOf must be a rollout id (1-80 letters, digits, - or _)').optional(),
  preset: PresetSchema.optional(),
  metrics: z.array(RolloutMetricSchema).max(50).default([]),
  /** Traffic-share and throughput checks beside the judge (on by default where request counts are known). */
  trafficChecks: TrafficChecksSchema.default(DEFAULT_TRAFFIC_CHECKS),
  // Verification checks judged beside the metrics, and hooks at the rollout's moments (verification.ts).
  ...verificationConfigShape,
  incident: RolloutIncidentConfigSchema.prefault({}),
  /** After a rollback: watch the baseline recover, or escalate the incident. */
  recovery: RecoveryConfigSchema.default({ watchSeconds: 900, checkIntervalSeconds: 60 }),
  /** The sequential judge of the stages (see functions/core/stage-analysis.ts). */
  judge: SequentialJudgeConfigSchema.optional(),
}).strict().superRefine((c, ctx) => {
  const weights = c.stages.map((s) => (typeof s === 'number' ? s : s.weight));
  for (let i = 1; i < weights.length; i++) {
    if (weights[i]! <= weights[i - 1]!) {
      ctx.addIssue({ code: 'custom', path: ['stages', i], message: `stages must rise strictly: ${weights[i]} follows ${weights[i - 1]}` });
    }
  }
  // An empty list already has its own issue (at least one stage); there is no last stage to name.
  if (weights.length > 0 && weights.at(-1) !== 100) {
    ctx.addIssue({ code: 'custom', path: ['stages', weights.length - 1], message: 'the last stage must be 100 (full promotion)' });
  }
  if (weights.length > 0 && weights.every((w) => w === 100)) {
    ctx.addIssue({
      code: 'custom', path: ['stages'],
      message: 'at least one stage below 100 is needed: the canary is judged against the baseline while it takes part of the traffic, before it takes all of it (e.g. stages: [10, 100])',
    });
  }
  both(c, 'bake', 'bakeSeconds', ctx);
  both(c, 'checkInterval', 'checkIntervalSeconds', ctx);
  both(c, 'approvalTimeout', 'approvalTimeoutSeconds', ctx);
  both(c, 'maxBakeExtension', 'maxBakeExtensionSeconds', ctx);
  both(c, 'lockLease', 'lockLeaseSeconds', ctx);
  c.stages.forEach((stage, i) => {
    if (typeof stage === 'object' && stage.bake !== undefined && stage.bakeSeconds !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['stages', i, 'bake'], message: 'give bake or bakeSeconds, not both' });
    }
  });
  if (!c.preset && c.metrics.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['metrics'], message: 'give at least one metric, or a `preset` that fills them in' });
  }
  if (!c.preset && c.metrics.length > 0 && c.metrics.every((m) => m.dryRun)) {
    ctx.addIssue({ code: 'custom', path: ['metrics', 0, 'dryRun'], message: 'every metric is dryRun, so nothing would judge the canary: leave dryRun off at least one metric' });
  }
  const names = new Set<string>();
  for (const [i, m] of c.metrics.entries()) {
    // An invalid name has its own issue; repeating it here would print input that failed the pattern.
    if (names.has(m.name) && SAFE_NAME.test(m.name)) ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `duplicate metric name '${m.name}'` });
    names.add(m.name);
  }
  // A check's verdict sits beside the metrics' (the preset's included) and the built-in traffic checks'.
  const presetNames = c.preset ? presetMetricNames(c.preset, c.target) : [];
  for (const issue of verificationCrossIssues({ ...c, metrics: [...c.metrics, ...presetNames.map((name) => ({ name }))] })) ctx.addIssue({ code: 'custom', ...issue });
  c.verification.forEach((check, i) => {
    if (TRAFFIC_CHECK_NAMES.includes(check.name)) {
      ctx.addIssue({ code: 'custom', path: ['verification', i, 'name'], message: `'${check.name}' is the name of a built-in traffic check: give the check a name of its own` });
    }
  });
  if (c.preset?.type === 'lambda-alias' && !c.preset.baselineVersion && !(c.target.type === 'lambda-alias' && c.target.baselineVersion)) {
    // Its metrics are per version behind the alias: the config must say which version the baseline is.
    ctx.addIssue({ code: 'custom', path: ['preset', 'baselineVersion'], message: 'the lambda-alias preset queries each version behind the alias: give preset.baselineVersion (or target.baselineVersion), the version the alias serves today' });
  }
  if (c.trafficChecks.requestCounts && c.trafficChecks.requestCounts.canary.errors === undefined && c.trafficChecks.requestCounts.baseline.errors !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['trafficChecks', 'requestCounts', 'canary', 'errors'], message: 'give both variants an errors query, or neither (successful requests are compared across both)' });
  }
  if (c.trafficChecks.requestCounts && c.trafficChecks.requestCounts.baseline.errors === undefined && c.trafficChecks.requestCounts.canary.errors !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['trafficChecks', 'requestCounts', 'baseline', 'errors'], message: 'give both variants an errors query, or neither (successful requests are compared across both)' });
  }
});
export type RolloutConfigInput = z.input<typeof RolloutConfigSchema>;
type ParsedRolloutConfig = z.infer<typeof RolloutConfigSchema>;

export interface Stage {
  weight: number;
  bakeSeconds: number;
  checks: number;
  approval: boolean;
}

/** Durations written two ways (`bake` or `bakeSeconds`): the resolved config keeps the seconds. */
type DurationAliases = 'bake' | 'checkInterval' | 'approvalTimeout' | 'maxBakeExtension' | 'lockLease';

/** The config after defaults and presets: what every step works from. */
export interface RolloutConfig extends Omit<ParsedRolloutConfig, 'stages' | 'preset' | 'trafficChecks' | DurationAliases | `${DurationAliases}Seconds`> {
  stages: Stage[];
  metrics: RolloutMetric[];
  trafficChecks: TrafficChecks;
  bakeSeconds: number;
  checkIntervalSeconds: number;
  approvalTimeoutSeconds: number;
  maxBakeExtensionSeconds: number;
  lockLeaseSeconds: number;
}

/** The request and error counts the `alb-ecs` preset's target groups publish (ALB RequestCount, HTTPCode_Target_5XX_Count). */
export function albEcsRequestCounts(p: AlbEcsPreset): RequestCountQueries {
  const counts = (tg: string) => {
    const dims = { LoadBalancer: p.loadBalancer, TargetGroup: tg };
    return {
      requests: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: dims, stat: 'Sum' },
      errors: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: dims, stat: 'Sum' },
    };
  };
  return { canary: counts(p.canaryTargetGroup), baseline: counts(p.baselineTargetGroup) };
}

/** The verdict names of the built-in traffic checks (traffic-share.ts). */
const TRAFFIC_CHECK_NAMES = ['traffic-share', 'throughput-vs-stage-start', 'throughput-vs-pre-rollout'];

/** The names of the metrics a preset fills in (none when it cannot resolve yet: its own issue says why). */
function presetMetricNames(p: Preset, target: RolloutTarget): string[] {
  try {
    return anyPresetMetrics(p, target).map((m) => m.name);
  } catch {
    return [];
  }
}

/** The metrics any preset fills in. */
function anyPresetMetrics(p: Preset, target: RolloutTarget): RolloutMetric[] {
  if (p.type === 'alb-ecs') return presetMetrics(p);
  return routerPresetMetrics(p, { baselineVersion: target.type === 'lambda-alias' ? target.baselineVersion : undefined });
}

/** The request counts any preset knows. */
function presetRequestCounts(p: Preset, target: RolloutTarget): RequestCountQueries {
  switch (p.type) {
    case 'alb-ecs': return albEcsRequestCounts(p);
    case 'alb-lambda': return albLambdaRequestCounts(p);
    case 'lambda-alias': return lambdaAliasRequestCounts(p, { baselineVersion: target.type === 'lambda-alias' ? target.baselineVersion : undefined });
    case 'appconfig-flag': return flagVariantRequestCounts(p);
  }
}

/** Metrics the `alb-ecs` preset fills in. Metrics given explicitly with the same name win. */
export function presetMetrics(p: AlbEcsPreset): RolloutMetric[] {
  const alb = (tg: string) => ({ LoadBalancer: p.loadBalancer, TargetGroup: tg });
  const ecs = (svc: string) => ({ ClusterName: p.cluster, ServiceName: svc });
  const q = (namespace: string, metricName: string, dimensions: Record<string, string>, stat: string) =>
    ({ namespace, metricName, dimensions, stat });
  return [
    {
      name: 'memory', kind: 'gauge', unit: 'percent', critical: false,
      threshold: { max: p.memoryMaxPercent },
      queries: {
        canary: { value: q('AWS/ECS', 'MemoryUtilization', ecs(p.canaryService), 'Maximum') },
        baseline: { value: q('AWS/ECS', 'MemoryUtilization', ecs(p.baselineService), 'Maximum') },
      },
    },
    {
      name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true,
      threshold: { max: p.errorRateMaxPercent },
      queries: {
        canary: {
          numerator: q('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', alb(p.canaryTargetGroup), 'Sum'),
          denominator: q('AWS/ApplicationELB', 'RequestCount', alb(p.canaryTargetGroup), 'Sum'),
        },
        baseline: {
          numerator: q('AWS/ApplicationELB', 'HTTPCode_Target_5XX_Count', alb(p.baselineTargetGroup), 'Sum'),
          denominator: q('AWS/ApplicationELB', 'RequestCount', alb(p.baselineTargetGroup), 'Sum'),
        },
      },
    },
    {
      name: 'latency-p99', kind: 'gauge', unit: 'seconds', critical: false,
      threshold: { max: p.latencyP99MaxSeconds },
      baseline: { maxIncreasePercent: p.latencyMaxIncreasePercent },
      queries: {
        canary: { value: q('AWS/ApplicationELB', 'TargetResponseTime', alb(p.canaryTargetGroup), 'p99') },
        baseline: { value: q('AWS/ApplicationELB', 'TargetResponseTime', alb(p.baselineTargetGroup), 'p99') },
      },
    },
  ];
}

function resolve(parsed: ParsedRolloutConfig): RolloutConfig {
  const {
    preset, stages, bake, bakeSeconds: bakeInSeconds, checkInterval, checkIntervalSeconds, approvalTimeout, approvalTimeoutSeconds,
    maxBakeExtension, maxBakeExtensionSeconds, lockLease, lockLeaseSeconds, trafficChecks, ...rest
  } = parsed;
  const explicit = new Set(parsed.metrics.map((m) => m.name));
  const metrics = [...(preset ? anyPresetMetrics(preset, parsed.target).filter((m) => !explicit.has(m.name)) : []), ...parsed.metrics];
  const { requestCounts: givenCounts, ...checks } = trafficChecks;
  const requestCounts = givenCounts ?? (preset ? presetRequestCounts(preset, parsed.target) : undefined);
  const bakeSeconds = bake ?? bakeInSeconds ?? 300;
  return {
    ...rest,
    bakeSeconds,
    checkIntervalSeconds: checkInterval ?? checkIntervalSeconds ?? 60,
    approvalTimeoutSeconds: approvalTimeout ?? approvalTimeoutSeconds ?? 3600,
    maxBakeExtensionSeconds: maxBakeExtension ?? maxBakeExtensionSeconds ?? 3600,
    lockLeaseSeconds: lockLease ?? lockLeaseSeconds ?? 1800,
    metrics,
    trafficChecks: { ...checks, enabled: checks.enabled && requestCounts !== undefined, ...(requestCounts ? { requestCounts } : {}) },
    stages: stages.map((s) => {
      const stage = typeof s === 'number' ? { weight: s } : s;
      return {
        weight: stage.weight, bakeSeconds: stage.bake ?? stage.bakeSeconds ?? bakeSeconds, checks: stage.checks ?? parsed.checksPerStage,
        approval: stage.approval ?? false,
      };
    }),
  };
}

export interface ParseOptions {
  /** Hosted zones this stack may change (the template's parameter). Empty or absent: any. */
  allowedHostedZoneIds?: string[];
  /** Record names this stack may change, as IAM compares them (lowercase, no trailing dot, `*` as `\052`). Empty or absent: any. */
  allowedRecordNames?: string[];
  /**
   * What the stack may re-weight with the routers beside Route 53 (its Allowed* parameters): a
   * target outside them is refused, naming the parameter. Absent (local runs, the simulator):
   * not checked.
   */
  routerAllowances?: RouterAllowances;
}

/**
 * The largest config accepted (its JSON, UTF-8). The config travels in every state of the workflow
 * (Step Functions refuses a state over 256 KiB) and on the rollout record (DynamoDB refuses an item
 * over 400 KB), beside the judge's state, the router's definition and the decision: 32 KiB keeps
 * every state far below the limit whatever the rollout does (see test/workflow/quota-sweep.test.ts).
 */
export const MAX_CONFIG_BYTES = 32 * 1024;

/** A record name as Route 53 normalizes it for IAM's ChangeResourceRecordSetsNormalizedRecordNames. */
export function iamRecordName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '').replace(/\*/g, '\\052');
}

/** Validates and resolves a rollout config, or throws ConfigValidationError naming every bad field. */
export function parseRolloutConfig(input: unknown, options: ParseOptions = {}): RolloutConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigValidationError(['(config): expected a JSON object with at least `name`, `target` and `metrics` or `preset`']);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(input)).length;
  if (bytes > MAX_CONFIG_BYTES) {
    throw new ConfigValidationError([
      `(config): the config is ${bytes} bytes as JSON, above the ${MAX_CONFIG_BYTES} accepted: it travels in every state of the workflow (Step Functions refuses a state over 262,144 bytes) and on the rollout record (DynamoDB refuses an item over 400 KB). Use a preset, fewer metrics or shorter names`,
    ]);
  }
  const result = RolloutConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigValidationError(formatIssues(result.error, { schema: RolloutConfigSchema, input }));
  const target = result.data.target;
  if (!isRoute53Target(target)) {
    // IAM would refuse the first shift, after the lock was taken: refuse it here, before anything.
    const problem = options.routerAllowances ? routerPermissionProblem(target, options.routerAllowances) : null;
    if (problem) throw new ConfigValidationError([problem]);
  }
  const allowed = (options.allowedHostedZoneIds ?? []).filter(Boolean);
  if (isRoute53Target(target) && allowed.length > 0 && !allowed.includes(target.hostedZoneId)) {
    throw new ConfigValidationError([
      `target.hostedZoneId: ${target.hostedZoneId} is not one of the hosted zones this stack may change (${allowed.join(', ')}); redeploy with it in the AllowedHostedZoneIds parameter`,
    ]);
  }
  const resolved = resolve(result.data);
  const budget = planBudget(resolved);
  if (!budget.fits) {
    const days = (s: number) => `${(s / 86_400).toFixed(1)} d`;
    const worst = budget.stages.map((st, i) => `stage ${i + 1} (${st.weight} %) ${days(st.longestSeconds)}`).join(' + ');
    throw new ConfigValidationError([
      `(config): this plan can take up to ${days(budget.longestSeconds)} (${worst} + the recovery watch ${days(budget.recoverySeconds)}), more than the ${days(budget.limitSeconds)} a rollout may run (Step Functions ends an execution after 365 d; a day is kept for retries): shorten the bakes, maxBakeExtension or approvalTimeout, or use fewer stages`,
    ]);
  }
  const names = (options.allowedRecordNames ?? []).filter(Boolean);
  if (isRoute53Target(target) && names.length > 0 && !names.includes(iamRecordName(target.recordName))) {
    // IAM would refuse the first shift, after the lock was taken: refuse it here, before anything.
    throw new ConfigValidationError([
      `target.recordName: ${target.recordName} is not one of the record names this stack may change (${names.join(', ')}); redeploy with ${iamRecordName(target.recordName)} in the AllowedRecordNames parameter`,
    ]);
  }
  return resolved;
}

/** Validates a judge-only config (`canary judge`, `canary backtest`): metrics without queries. */
export function parseJudgeConfig(input: unknown): JudgeConfig {
  const result = JudgeConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigValidationError(formatIssues(result.error, { schema: JudgeConfigSchema, input }));
  return result.data;
}

/**
 * The lock key of a traffic target, whatever its kind: one rollout per record name and type in a
 * zone (Route 53), per ALB rule, per Lambda alias, per AppConfig environment (targets.ts lockKeyOf).
 */
export function targetKey(t: Pick<Target, 'hostedZoneId' | 'recordName' | 'recordType'> | RouterTarget): string {
  if ('hostedZoneId' in t) return `${t.hostedZoneId}/${t.recordName}/${t.recordType}`;
  return lockKeyOf(t);
}

/** JSON Schema of the execution input, for editors and the Step Functions console. */
export function rolloutConfigJsonSchema(): unknown {
  return z.toJSONSchema(RolloutConfigSchema, { io: 'input', unrepresentable: 'any' });
}
