/**
 * The traffic targets of the routers beside Route 53: an ALB listener rule forwarding to two
 * target groups by weight, a Lambda alias with weighted routing, an AppConfig feature flag whose
 * percentage moves stage by stage. Zod schemas (the source of truth for the config, its JSON
 * Schema and `canary validate`), the lock key of each, the exact weight mappings, and the
 * least-privilege checks preflight runs against the stack's parameters. Pure: no AWS imports.
 *
 * The AppConfig model ("a feature flag whose percentage moves stage by stage"):
 * - the configuration profile is a hosted `AWS.AppConfig.FeatureFlags` profile; `flag` is one of
 *   its flags, and `attribute` (default `percentage`) a numeric attribute declared on that flag
 *   whose constraints admit 0 and 100;
 * - the service sends a request (or a user, by a stable hash of its id into [0, 100)) to the new
 *   code path when the flag is enabled and the hash is below the attribute's value: the canary's
 *   share is `enabled ? value : 0` percent;
 * - a stage writes `enabled: percent > 0` and `attribute: percent` into a new hosted
 *   configuration version (every other flag unchanged) and deploys it with an all-at-once
 *   strategy; the stage is in sync when that deployment is COMPLETE;
 * - the kill switch (rollback) is the same move to `enabled: false, attribute: 0`.
 * Multi-variant flags (`_variants`) are not this model and are refused by preflight.
 */
import { z } from 'zod';

export type RouterKind = 'route53' | 'alb' | 'lambda-alias' | 'appconfig-flag';

// ---------------------------------------------------------------------------------------------
// ARNs and identifiers
// ---------------------------------------------------------------------------------------------

const ARN_HEAD = String.raw`arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}`;
const ID = String.raw`[A-Za-z0-9-]+`;
const LISTENER_ARN = new RegExp(`^${ARN_HEAD}:listener/app/${ID}/${ID}/${ID}$`);
const RULE_ARN = new RegExp(`^${ARN_HEAD}:listener-rule/app/${ID}/${ID}/${ID}/${ID}$`);
const TARGET_GROUP_ARN = new RegExp(`^${ARN_HEAD}:targetgroup/${ID}/${ID}$`);
/** A function name, full ARN or partial ARN, unqualified (the alias is given apart). */
const FUNCTION_NAME = /^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:|\d{12}:function:)?[a-zA-Z0-9_-]{1,64}$/;
const ALIAS_NAME = /^(?![0-9]+$)[a-zA-Z0-9_-]{1,128}$/;
const VERSION = /^[0-9]{1,10}$/;
const APPCONFIG_ID = /^[a-z0-9]{4,7}$/;
const STRATEGY_ID = /^([a-z0-9]{4,7}|AppConfig\.[A-Za-z0-9]{9,40})$/;
/** AppConfig's pattern for flag and attribute keys. */
const FLAG_KEY = /^[a-z][a-zA-Z\d_-]{0,63}$/;

const EXAMPLE_LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2';

/** The listener a rule belongs to: its ARN with `listener-rule/` → `listener/` and the rule id dropped. */
export function listenerOfRule(ruleArn: string): string {
  return ruleArn.replace(':listener-rule/', ':listener/').replace(/\/[^/]+$/, '');
}

/** `region:account` of an ARN (the fields an ARN's 4th and 5th places hold). */
const regionAccount = (arn: string) => arn.split(':').slice(3, 5).join(':');

/** The bare function name of a name, full ARN or partial ARN. */
export function functionNameOf(functionName: string): string {
  return functionName.slice(functionName.lastIndexOf(':') + 1);
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

export const AlbTargetSchema = z.object({
  type: z.literal('alb'),
  listenerArn: z.string().regex(LISTENER_ARN, `listenerArn must be an Application Load Balancer listener ARN such as ${EXAMPLE_LISTENER}`),
  /** The listener rule that forwards to the two target groups; absent: the listener's default action. */
  ruleArn: z.string().regex(RULE_ARN, 'ruleArn must be a listener rule ARN such as arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee (omit it to use the listener\'s default action)').optional(),
  baselineTargetGroupArn: z.string().regex(TARGET_GROUP_ARN, 'baselineTargetGroupArn must be a target group ARN such as arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/73e2d6bc24d8a067'),
  canaryTargetGroupArn: z.string().regex(TARGET_GROUP_ARN, 'canaryTargetGroupArn must be a target group ARN such as arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/09f1f3fd0b7a5c10'),
  /**
   * Target-group stickiness set with every shift (ALB keeps a client on the target group it was
   * sent to for this long, whatever the weights). Absent: the stickiness the rule has is kept.
   * A rollback always turns it off, so that clients stuck to the canary come back at once.
   */
  stickinessSeconds: z.number().int().min(1, 'stickinessSeconds must be 1-604800 (ALB\'s range)').max(604_800, 'stickinessSeconds must be 1-604800 (ALB\'s range)').optional(),
}).strict().superRefine((t, ctx) => {
  if (t.baselineTargetGroupArn === t.canaryTargetGroupArn) {
    ctx.addIssue({ code: 'custom', path: ['canaryTargetGroupArn'], message: 'baselineTargetGroupArn and canaryTargetGroupArn must differ' });
  }
  if (t.ruleArn !== undefined && RULE_ARN.test(t.ruleArn) && LISTENER_ARN.test(t.listenerArn) && listenerOfRule(t.ruleArn) !== t.listenerArn) {
    ctx.addIssue({ code: 'custom', path: ['ruleArn'], message: `ruleArn belongs to listener ${listenerOfRule(t.ruleArn)}, not to listenerArn: give the rule's own listener` });
  }
  for (const field of ['baselineTargetGroupArn', 'canaryTargetGroupArn'] as const) {
    if (TARGET_GROUP_ARN.test(t[field]) && LISTENER_ARN.test(t.listenerArn) && regionAccount(t[field]) !== regionAccount(t.listenerArn)) {
      ctx.addIssue({ code: 'custom', path: [field], message: `${field} is in ${regionAccount(t[field])}, the listener in ${regionAccount(t.listenerArn)}: an ALB forwards only to target groups of its own region and account` });
    }
  }
});
export type AlbTarget = z.infer<typeof AlbTargetSchema>;

export const LambdaAliasTargetSchema = z.object({
  type: z.literal('lambda-alias'),
  functionName: z.string().regex(FUNCTION_NAME, 'functionName must be a function name (my-function) or its unqualified ARN (arn:aws:lambda:eu-west-1:123456789012:function:my-function); give the alias in `alias`'),
  alias: z.string().regex(ALIAS_NAME, 'alias must be 1-128 letters, digits, - or _, not only digits (e.g. live)'),
  /** The published version the canary runs ($LATEST cannot take weighted traffic). */
  canaryVersion: z.string().regex(VERSION, 'canaryVersion must be a published version number such as 7 ($LATEST cannot be weighted: publish a version)'),
  /** The version the alias serves today; absent: read from the alias at preflight. */
  baselineVersion: z.string().regex(VERSION, 'baselineVersion must be a published version number such as 6 (or leave it out: preflight reads it from the alias)').optional(),
}).strict().superRefine((t, ctx) => {
  if (t.baselineVersion !== undefined && t.baselineVersion === t.canaryVersion) {
    ctx.addIssue({ code: 'custom', path: ['canaryVersion'], message: 'canaryVersion and baselineVersion must differ' });
  }
});
export type LambdaAliasTarget = z.infer<typeof LambdaAliasTargetSchema>;

/** The predefined all-at-once strategy (deploys at once, then a 10-minute bake before COMPLETE). */
export const DEFAULT_APPCONFIG_STRATEGY = 'AppConfig.AllAtOnce';
/** How long AppConfig Agent and the Lambda extension wait between two polls by default. */
export const DEFAULT_APPCONFIG_POLL_SECONDS = 45;

export const AppConfigFlagTargetSchema = z.object({
  type: z.literal('appconfig-flag'),
  applicationId: z.string().regex(APPCONFIG_ID, 'applicationId must be an AppConfig application id: 4-7 lowercase letters and digits, e.g. abc1234'),
  environmentId: z.string().regex(APPCONFIG_ID, 'environmentId must be an AppConfig environment id: 4-7 lowercase letters and digits, e.g. 54j1r29'),
  configurationProfileId: z.string().regex(APPCONFIG_ID, 'configurationProfileId must be the id of a hosted feature flag profile: 4-7 lowercase letters and digits, e.g. ur8hx2f'),
  flag: z.string().regex(FLAG_KEY, 'flag must be a feature flag key: a lowercase letter, then up to 63 letters, digits, _ or -'),
  /** The flag's numeric attribute the service reads as the canary's percentage. */
  attribute: z.string().regex(FLAG_KEY, 'attribute must be an attribute key of the flag: a lowercase letter, then up to 63 letters, digits, _ or -').default('percentage'),
  /** An all-at-once deployment strategy; absent: the predefined AppConfig.AllAtOnce (10-minute bake). */
  deploymentStrategyId: z.string().regex(STRATEGY_ID, 'deploymentStrategyId must be a deployment strategy id (abc1234) or a predefined one such as AppConfig.AllAtOnce').default(DEFAULT_APPCONFIG_STRATEGY),
  /** How often the service polls AppConfig: clients may use the previous percentage this long after a deployment completes. */
  clientPollSeconds: z.number().int().min(0).max(3600, 'clientPollSeconds must be 0-3600').default(DEFAULT_APPCONFIG_POLL_SECONDS),
}).strict();
export type AppConfigFlagTarget = z.infer<typeof AppConfigFlagTargetSchema>;

export const RouterTargetSchema = z.discriminatedUnion('type', [AlbTargetSchema, LambdaAliasTargetSchema, AppConfigFlagTargetSchema], {
  error: "type must be 'alb', 'lambda-alias' or 'appconfig-flag' (or leave it out for Route 53 weighted records)",
});
export type RouterTarget = z.infer<typeof RouterTargetSchema>;
export type RouterTargetInput = z.input<typeof RouterTargetSchema>;

// ---------------------------------------------------------------------------------------------
// Lock keys: one rollout per traffic target, whatever its kind
// ---------------------------------------------------------------------------------------------

/**
 * The lock key of a traffic target. Prefixed by kind, so it never meets a Route 53 key
 * (`ZONEID/name/type`, zone ids being uppercase). An ALB rule or a listener's default action;
 * a function's alias (by bare name: the stack changes only its own account's functions); an
 * AppConfig *environment*, because AppConfig runs one deployment per environment at a time:
 * two flags of one environment cannot move at once.
 */
export function lockKeyOf(target: RouterTarget): string {
  switch (target.type) {
    case 'alb': return target.ruleArn ? `alb:${target.ruleArn}` : `alb:${target.listenerArn}:default`;
    case 'lambda-alias': return `lambda:${functionNameOf(target.functionName)}:${target.alias}`;
    case 'appconfig-flag': return `appconfig:${target.applicationId}/${target.environmentId}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Weight mappings: percent (the canary's share) ↔ each router's own weights, exact, never all-zero
// ---------------------------------------------------------------------------------------------

/** Percent a router reads back, rounded to 1e-6 so that float noise never breaks a comparison. */
const tidy = (x: number) => Math.round(x * 1e6) / 1e6;

function checkPercent(percent: number): void {
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) throw new RangeError(`canary percent ${percent} is not a number in 0..100`);
}

export interface SplitWeights {
  canary: number;
  baseline: number;
}

/**
 * ALB target group weights (integers 0-999). A whole percent p is (p, 100 - p); a percent with
 * one decimal is (10p, 1000 - 10p), which stays within 999 because then 0 < p < 100. The sum is
 * 100 or 1000, never 0. Finer percents cannot be set exactly and are refused.
 */
export function albWeights(percent: number): SplitWeights {
  checkPercent(percent);
  if (Number.isInteger(percent)) return { canary: percent, baseline: 100 - percent };
  const tenths = Math.round(percent * 10);
  if (Math.abs(tenths - percent * 10) > 1e-6) throw new RangeError(`canary percent ${percent}: ALB weights resolve 0.1 %, so ${percent} % cannot be set exactly`);
  return { canary: tenths, baseline: 1000 - tenths };
}

/** The canary's percent of two target group weights; null when both are 0 (no split to read). */
export function percentOfWeights(weights: SplitWeights): number | null {
  const total = weights.canary + weights.baseline;
  return total > 0 ? tidy((100 * weights.canary) / total) : null;
}

/**
 * Route 53 weights (integers 0-255): a whole percent p is (p, 100 - p), a half percent
 * (2p, 200 - 2p). Given for the lead's Route 53 router; all-zero (an equal split in Route 53)
 * never comes out.
 */
export function route53Weights(percent: number): SplitWeights {
  checkPercent(percent);
  if (Number.isInteger(percent)) return { canary: percent, baseline: 100 - percent };
  const halves = Math.round(percent * 2);
  if (Math.abs(halves - percent * 2) > 1e-6) throw new RangeError(`canary percent ${percent}: Route 53 weights resolve 0.5 %, so ${percent} % cannot be set exactly`);
  return { canary: halves, baseline: 200 - halves };
}

/**
 * A Lambda alias at `percent`: at 0 the alias points at the baseline version with no extra
 * weight; at 100 it points at the canary version with no extra weight (promotion moves the
 * alias); in between it points at the baseline and gives the canary version percent / 100 of
 * AdditionalVersionWeights. An alias always serves someone: no all-zero split exists.
 */
export function lambdaRouting(percent: number, versions: { baselineVersion: string; canaryVersion: string }): {
  functionVersion: string;
  additionalVersionWeights: Record<string, number>;
} {
  checkPercent(percent);
  if (percent === 0) return { functionVersion: versions.baselineVersion, additionalVersionWeights: {} };
  if (percent === 100) return { functionVersion: versions.canaryVersion, additionalVersionWeights: {} };
  return { functionVersion: versions.baselineVersion, additionalVersionWeights: { [versions.canaryVersion]: lambdaWeight(percent) } };
}

/** Percent (strictly between 0 and 100) → AdditionalVersionWeights weight in (0, 1), to 1e-8. */
export function lambdaWeight(percent: number): number {
  checkPercent(percent);
  return Math.round(percent * 1e6) / 1e8;
}

/** AdditionalVersionWeights weight → percent. */
export function percentOfLambdaWeight(weight: number): number {
  return tidy(weight * 100);
}

/** The flag attribute's value at `percent`: the percent itself (the service reads it as the canary's share). */
export function flagPercentage(percent: number): number {
  checkPercent(percent);
  return percent;
}

// ---------------------------------------------------------------------------------------------
// Least privilege: what the stack may change (its parameters), checked before the lock is taken
// ---------------------------------------------------------------------------------------------

/** The template parameters naming what each router may change (empty: that router is disabled). */
export const ROUTER_PARAMETERS = {
  alb: 'AllowedListenerArns',
  lambdaFunctions: 'AllowedLambdaFunctionArns',
  lambdaAliases: 'AllowedLambdaAliases',
  appConfig: 'AllowedAppConfigApplicationArns',
} as const;

/** The stack's allowances, as its parameters give them (environment variables in the Lambdas). */
export interface RouterAllowances {
  /** AllowedListenerArns: listeners whose rules or default action the stack may change. */
  listenerArns: string[];
  /** AllowedLambdaFunctionArns: unqualified function ARNs whose aliases the stack may move. */
  lambdaFunctionArns: string[];
  /** AllowedLambdaAliases: alias names it may move; empty: any alias of the allowed functions. */
  lambdaAliases: string[];
  /** AllowedAppConfigApplicationArns: applications whose flags the stack may deploy. */
  appConfigApplicationArns: string[];
}

/** Environment variables the lead may wire the parameters to (comma-separated lists). */
export const ROUTER_ALLOWANCE_ENV = {
  listenerArns: 'ALLOWED_LISTENER_ARNS',
  lambdaFunctionArns: 'ALLOWED_LAMBDA_FUNCTION_ARNS',
  lambdaAliases: 'ALLOWED_LAMBDA_ALIASES',
  appConfigApplicationArns: 'ALLOWED_APPCONFIG_APPLICATION_ARNS',
} as const;

export function routerAllowancesFromEnv(env: Record<string, string | undefined>): RouterAllowances {
  const list = (name: string) => (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return {
    listenerArns: list(ROUTER_ALLOWANCE_ENV.listenerArns),
    lambdaFunctionArns: list(ROUTER_ALLOWANCE_ENV.lambdaFunctionArns),
    lambdaAliases: list(ROUTER_ALLOWANCE_ENV.lambdaAliases),
    appConfigApplicationArns: list(ROUTER_ALLOWANCE_ENV.appConfigApplicationArns),
  };
}

const listed = (values: string[]) => (values.length > 0 ? `(${values.join(', ')})` : '(none: this router is disabled)');

/** Null when the stack may change this ALB target; else the line naming the parameter to redeploy with. */
export function albPermissionProblem(target: AlbTarget, allowed: Pick<RouterAllowances, 'listenerArns'>): string | null {
  if (allowed.listenerArns.includes(target.listenerArn)) return null;
  return `target.listenerArn: ${target.listenerArn} is not one of the listeners this stack may change ${listed(allowed.listenerArns)}; redeploy with it in the ${ROUTER_PARAMETERS.alb} parameter`;
}

/** Null when the stack may move this alias; else the line naming the parameter to redeploy with. */
export function lambdaAliasPermissionProblem(
  target: LambdaAliasTarget, allowed: Pick<RouterAllowances, 'lambdaFunctionArns' | 'lambdaAliases'>,
): string | null {
  const name = functionNameOf(target.functionName);
  // A bare name is the stack's own account and region; an ARN (full or partial) must match as given.
  const matches = (arn: string) => {
    if (functionNameOf(arn) !== name) return false;
    if (target.functionName.startsWith('arn:')) return arn === target.functionName;
    if (target.functionName.includes(':')) return arn.endsWith(`:${target.functionName}`);
    return true;
  };
  if (!allowed.lambdaFunctionArns.some(matches)) {
    return `target.functionName: ${target.functionName} is not one of the functions this stack may change ${listed(allowed.lambdaFunctionArns)}; redeploy with its ARN in the ${ROUTER_PARAMETERS.lambdaFunctions} parameter`;
  }
  if (allowed.lambdaAliases.length > 0 && !allowed.lambdaAliases.includes(target.alias)) {
    return `target.alias: ${target.alias} is not one of the aliases this stack may move (${allowed.lambdaAliases.join(', ')}); redeploy with it in the ${ROUTER_PARAMETERS.lambdaAliases} parameter`;
  }
  return null;
}

/** Null when the stack may deploy this application's flags; else the line naming the parameter. */
export function appConfigPermissionProblem(target: AppConfigFlagTarget, allowed: Pick<RouterAllowances, 'appConfigApplicationArns'>): string | null {
  if (allowed.appConfigApplicationArns.some((arn) => arn.endsWith(`:application/${target.applicationId}`))) return null;
  return `target.applicationId: ${target.applicationId} is not one of the AppConfig applications this stack may change ${listed(allowed.appConfigApplicationArns)}; redeploy with its ARN (arn:aws:appconfig:<region>:<account>:application/${target.applicationId}) in the ${ROUTER_PARAMETERS.appConfig} parameter`;
}

/** The least-privilege check preflight runs, whatever the kind: null when allowed. */
export function routerPermissionProblem(target: RouterTarget, allowed: RouterAllowances): string | null {
  switch (target.type) {
    case 'alb': return albPermissionProblem(target, allowed);
    case 'lambda-alias': return lambdaAliasPermissionProblem(target, allowed);
    case 'appconfig-flag': return appConfigPermissionProblem(target, allowed);
  }
}
