/**
 * The soak check's config: what a scheduled, analysis-only check of the live service judges.
 * The schedule's Input (template.yaml's SoakConfigJson) is exactly this object. Pure.
 */
import { z } from 'zod';
import {
  IncidentConfigSchema, JudgeMetricSchema, MetricQuerySchema, RolloutTargetSchema, formatIssues, isRoute53Target, targetKey,
  type JudgeMetric, type RolloutMetric,
} from './config.ts';
import { routerPermissionProblem, type RouterAllowances } from './targets.ts';
import { ConfigValidationError } from './errors.ts';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const GaugeQuerySchema = z.object({ value: MetricQuerySchema }).strict();
const RatioQuerySchema = z.object({ numerator: MetricQuerySchema, denominator: MetricQuerySchema }).strict();

/** A judge metric with the one query (gauge) or pair of queries (ratio) of the live service. */
export const SoakMetricSchema = JudgeMetricSchema.extend({
  query: z.union([GaugeQuerySchema, RatioQuerySchema]),
}).strict().superRefine((m, ctx) => {
  const isRatio = 'numerator' in m.query;
  if (m.kind === 'ratio' && !isRatio) ctx.addIssue({ code: 'custom', path: ['query'], message: "a 'ratio' metric needs `numerator` and `denominator` queries" });
  if (m.kind === 'gauge' && isRatio) ctx.addIssue({ code: 'custom', path: ['query'], message: "a 'gauge' metric needs one `value` query" });
});
export type SoakMetric = z.infer<typeof SoakMetricSchema>;

/** Seconds each comparison shifts the baseline window back. */
export const COMPARISON_SHIFT_SECONDS = { none: 0, '1d': 86_400, '7d': 7 * 86_400 } as const;

export const SoakConfigSchema = z.object({
  /** Names the soak in incidents, logs and its state item (`soak#<name>`). */
  name: z.string().regex(SAFE_NAME, "name must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"),
  metrics: z.array(SoakMetricSchema).min(1, 'at least one metric is needed').max(50),
  /**
   * The baseline the live window is compared with: none (absolute thresholds only), or the same
   * window one day / one week earlier (metrics with `baseline.maxIncreasePercent` use it).
   */
  comparison: z.enum(['none', '1d', '7d'], { error: "comparison must be 'none', '1d' or '7d'" }).default('none'),
  /** Length of the window judged, ending at the last complete period. */
  windowSeconds: z.number().int().min(60).max(86_400).default(900),
  periodSeconds: z.union([z.literal(10), z.literal(30), z.number().int().min(60).max(3600).multipleOf(60)]).default(60),
  incident: IncidentConfigSchema.default({ opsCenter: { enabled: false, severity: '2' } }),
  /**
   * Within `hours` after a promotion on `target`, while the old (baseline) record still exists, a
   * breach may move all traffic back to it. Off by default; every such move is logged loudly and
   * said in the incident.
   */
  postPromotionRollback: z.object({
    enabled: z.boolean().default(false),
    hours: z.number().gt(0).max(168).default(2),
    /** The traffic target, as a rollout's (any router: Route 53 records, an ALB, a Lambda alias, an AppConfig flag). */
    target: RolloutTargetSchema.optional(),
  }).strict().default({ enabled: false, hours: 2 }),
}).strict().superRefine((c, ctx) => {
  const names = new Set<string>();
  for (const [i, m] of c.metrics.entries()) {
    if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `duplicate metric name '${m.name}'` });
    names.add(m.name);
  }
  if (c.windowSeconds < c.periodSeconds) {
    ctx.addIssue({ code: 'custom', path: ['windowSeconds'], message: `windowSeconds ${c.windowSeconds} is shorter than one period (${c.periodSeconds} s)` });
  }
  if (c.comparison !== 'none' && !c.metrics.some((m) => m.baseline)) {
    ctx.addIssue({
      code: 'custom', path: ['comparison'],
      message: `comparison '${c.comparison}' compares nothing: give at least one metric a \`baseline: { maxIncreasePercent }\`, or set comparison 'none'`,
    });
  }
  if (c.postPromotionRollback.enabled && !c.postPromotionRollback.target) {
    ctx.addIssue({ code: 'custom', path: ['postPromotionRollback', 'target'], message: 'postPromotionRollback.enabled needs the traffic `target` (the same shape as a rollout\'s target)' });
  }
});
export type SoakConfigInput = z.input<typeof SoakConfigSchema>;

/** The soak config's JSON Schema (scripts/write-schema.ts), for editors and in messages. */
export const SOAK_SCHEMA_FILE = 'schema/soak-config.schema.json';

/** JSON Schema of a soak config (the schedule's Input), for editors. */
export function soakConfigJsonSchema(): unknown {
  return z.toJSONSchema(SoakConfigSchema, { io: 'input', unrepresentable: 'any' });
}
export type SoakConfig = z.infer<typeof SoakConfigSchema>;

export interface SoakParseOptions {
  /** Hosted zones the stack may change; empty or absent: any. */
  allowedHostedZoneIds?: string[];
  /** Whether the stack allows a soak to move traffic (template parameter SoakPostPromotionRollback). */
  rollbackAllowed?: boolean;
  /** What the routers beside Route 53 may re-weight (the stack's Allowed* parameters); absent: not checked. */
  routerAllowances?: RouterAllowances;
}

/** Validates a soak config, or throws ConfigValidationError naming every bad field. */
export function parseSoakConfig(input: unknown, options: SoakParseOptions = {}): SoakConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigValidationError(['(config): expected a JSON object with at least `name` and `metrics`']);
  }
  const result = SoakConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigValidationError(formatIssues(result.error, { schema: SoakConfigSchema, input, schemaFile: SOAK_SCHEMA_FILE }));
  const config = result.data;
  const rollback = config.postPromotionRollback;
  if (rollback.enabled && rollback.target) {
    if (options.rollbackAllowed === false) {
      throw new ConfigValidationError([
        'postPromotionRollback.enabled: this stack does not let soak checks move traffic; redeploy with SoakPostPromotionRollback=true, or set enabled: false',
      ]);
    }
    const target = rollback.target;
    if (!isRoute53Target(target)) {
      const problem = options.routerAllowances ? routerPermissionProblem(target, options.routerAllowances) : null;
      if (problem) throw new ConfigValidationError([`postPromotionRollback.${problem}`]);
      return config;
    }
    const allowed = (options.allowedHostedZoneIds ?? []).filter(Boolean);
    if (allowed.length > 0 && !allowed.includes(target.hostedZoneId)) {
      throw new ConfigValidationError([
        `postPromotionRollback.target.hostedZoneId: ${target.hostedZoneId} is not one of the hosted zones this stack may change (${allowed.join(', ')})`,
      ]);
    }
  }
  return config;
}

/**
 * The soak's metrics in the shape the metrics port fetches: the live query as both variants
 * (the port fetches both; the soak uses the `canary` series of each window).
 */
export function soakRolloutMetrics(config: SoakConfig): RolloutMetric[] {
  return config.metrics.map(({ query, ...metric }) => ({ ...metric, queries: { canary: query, baseline: query } }));
}

/** What the judge sees: comparisons with the baseline only when there is a shifted baseline. */
export function soakJudgeMetrics(config: SoakConfig): JudgeMetric[] {
  return config.metrics.map(({ query: _query, baseline, ...metric }) => (config.comparison === 'none' ? metric : { ...metric, baseline }));
}

/** The soak's traffic target key, when it has one. */
export function soakTargetKey(config: SoakConfig): string | undefined {
  return config.postPromotionRollback.target ? targetKey(config.postPromotionRollback.target) : undefined;
}
