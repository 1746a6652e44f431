/**
 * Verification checks and rollout hooks: the config, the request a check is sent, the answer it
 * must give, and the narrow ports the steps call. Pure: imports nothing from AWS.
 *
 * A check (`verification: [...]`) is judged beside the metrics at every check of a stage:
 *   - `lambda`: a user's function, invoked with the request, answers the contract below;
 *   - `http`:   the request POSTed, signed, to an HTTPS endpoint named by a Secrets Manager secret;
 *   - `alarm`:  CloudWatch alarms (metric or composite): ALARM fails, OK passes, and
 *               INSUFFICIENT_DATA is INCONCLUSIVE unless the check says FAIL.
 * The answer contract: `{ "verdict": "PASS" | "FAIL" | "INCONCLUSIVE", "reason": "...", "details": {...} }`.
 * Anything else (not JSON, a verdict spelt otherwise, no reason, too large, after the deadline,
 * an error of the function or the endpoint) is INCONCLUSIVE with a reason naming the check:
 * never a PASS. An INCONCLUSIVE check counts against the stage's inconclusive limit (its
 * verdict's canary sample is 0, as a metric without data), a FAIL against the failure limit,
 * and a critical check's FAIL rolls back at once, as a critical metric's does.
 *
 * Hooks run at the rollout's moments:
 *   - `preRollout` and `beforeShift` are gates: checks as above, all must PASS;
 *   - `afterPromotion` and `afterRollback` are actions (a Lambda, an SSM Automation runbook)
 *     whose ids and outputs go into the evidence and the incident. An `afterRollback` hook is
 *     started, never awaited, and never fails the rollback.
 */
import { z } from 'zod';
import type { RolloutTarget, Route53Target } from './config.ts';
import type { RouterTarget } from './targets.ts';
import { formatIssues } from './issues.ts';
import { ConfigValidationError } from './errors.ts';
import { asDryRun, type MetricVerdict, type Verdict } from './judge.ts';
import type { Clock } from './ports.ts';

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/**
 * Longest a check may take, retries included. The steps run every check of a moment at once
 * inside one Lambda invocation (60 s in template.yaml), beside the metrics query.
 */
export const MAX_CHECK_TIMEOUT_SECONDS = 50;
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 20;
/** Largest answer read: a verdict, a reason and some details, not a data dump. */
export const MAX_ANSWER_BYTES = 32 * 1024;
/** A reason longer than this is cut (with an ellipsis), not refused. */
export const MAX_REASON_CHARS = 500;
/** Details kept per answer, and characters per detail value. */
export const MAX_DETAILS = 30;
export const MAX_DETAIL_CHARS = 300;
/** Output of a hook kept for the evidence and the incident. */
export const MAX_HOOK_OUTPUT_CHARS = 4000;
/** The version of the request body; a receiver can refuse a version it does not know. */
export const REQUEST_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A string field's type error: "is required" when it is missing, naming what to give. */
const stringError = (what: string, hint: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? `${what} is required: ${hint}` : `${what} must be a string: ${hint}`),
});
const safeName = (what: string) =>
  z.string(stringError(what, 'letters, digits, \'.\', \'_\' or \'-\''))
    .regex(SAFE_NAME, `${what} must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);
const printable = (what: string, max: number) =>
  z.string({ error: `${what} must be a string` }).min(1, `${what} must not be empty`).max(max, `${what} must be at most ${max} characters`)
    .regex(/^[^\p{Cc}]+$/u, `${what} must not contain control characters`);

/** A function name, name:qualifier, or (partial) function ARN, as Lambda's Invoke takes it. */
const LAMBDA_FUNCTION = /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;
const lambdaFunction = z.string(stringError('function', 'a Lambda function name or ARN')).regex(LAMBDA_FUNCTION,
  'function must be a Lambda function name (e.g. orders-reconcile, or orders-reconcile:live for an alias) or its ARN');

/** A secret's name or ARN, as GetSecretValue takes it. */
const SECRET_ID = /^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/;

/** Alarm names: CloudWatch allows 1-255 printable characters. */
const alarmName = printable('alarm name', 255);

export const RetryPolicySchema = z.object({
  /** Attempts in all (1: no retry). Only transient failures are retried: throttling, 5xx, network. */
  maxAttempts: z.number().int().min(1, 'maxAttempts must be 1 to 5').max(5, 'maxAttempts must be 1 to 5').default(3),
  /** Wait before the second attempt; it doubles for each next one, with full jitter. */
  backoffMs: z.number().int().min(50, 'backoffMs must be 50 to 10000').max(10_000, 'backoffMs must be 50 to 10000').default(500),
}).strict();
export type RetryPolicy = z.infer<typeof RetryPolicySchema>;
const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, backoffMs: 500 };

const checkCommon = {
  name: safeName('check name'),
  /** One line shown beside the verdict in the evidence and the report. */
  description: printable('description', 300).optional(),
  /** Time the check has, retries included; past it the check is INCONCLUSIVE. */
  timeoutSeconds: z.number().int().min(1, 'timeoutSeconds must be at least 1').max(MAX_CHECK_TIMEOUT_SECONDS, `timeoutSeconds must be at most ${MAX_CHECK_TIMEOUT_SECONDS} (every check runs within one step)`)
    .default(DEFAULT_CHECK_TIMEOUT_SECONDS),
  retry: RetryPolicySchema.default(DEFAULT_RETRY),
  /** A FAIL of a critical check rolls back at once, whatever the failure limit. */
  critical: z.boolean().default(false),
  /** Asked, recorded and reported, never acted on: it never rolls back, holds a stage or shuts a gate. */
  dryRun: z.boolean().optional(),
};

export const LambdaCheckSchema = z.object({
  type: z.literal('lambda'),
  /** The function invoked (RequestResponse) with the request; it returns the answer. */
  function: lambdaFunction,
  ...checkCommon,
}).strict();

export const HttpCheckSchema = z.object({
  type: z.literal('http'),
  /**
   * Secrets Manager secret (name or ARN) holding `{"url": "https://...", "signingSecret": "..."}`:
   * the request is POSTed to the URL, signed with HMAC-SHA256 under the signing secret.
   */
  secretId: z.string(stringError('secretId', 'a Secrets Manager secret name or ARN')).regex(SECRET_ID, 'secretId must be a Secrets Manager secret name or ARN'),
  ...checkCommon,
}).strict();

export const AlarmCheckSchema = z.object({
  type: z.literal('alarm'),
  /** Metric or composite alarms; any in ALARM fails the check. */
  alarms: z.array(alarmName).min(1, 'alarms needs at least one alarm name').max(100, 'at most 100 alarms per check (DescribeAlarms takes 100 names)')
    .refine((a) => new Set(a).size === a.length, 'alarms must not repeat a name'),
  /**
   * What an alarm in INSUFFICIENT_DATA means: INCONCLUSIVE (the default: counts against the
   * inconclusive limit) or FAIL (as AppConfig and CodeDeploy treat it). Never a pass.
   */
  insufficientData: z.enum(['INCONCLUSIVE', 'FAIL'], { error: "insufficientData must be 'INCONCLUSIVE' (the default) or 'FAIL'" }).default('INCONCLUSIVE'),
  ...checkCommon,
}).strict();

const CHECK_TYPE_ERROR = "type must be 'lambda' (a function you own), 'http' (a signed HTTPS POST) or 'alarm' (CloudWatch alarms)";
export const VerificationCheckSchema = z.discriminatedUnion('type', [LambdaCheckSchema, HttpCheckSchema, AlarmCheckSchema], { error: CHECK_TYPE_ERROR });
export type LambdaCheck = z.infer<typeof LambdaCheckSchema>;
export type HttpCheck = z.infer<typeof HttpCheckSchema>;
export type AlarmCheck = z.infer<typeof AlarmCheckSchema>;
export type VerificationCheck = z.infer<typeof VerificationCheckSchema>;
export type VerificationCheckInput = z.input<typeof VerificationCheckSchema>;

/** Before the shift to some stages only (their weights); all stages when absent. */
const stageWeights = { weights: z.array(z.number().int().min(1).max(100)).min(1).max(20).optional() };
export const BeforeShiftCheckSchema = z.discriminatedUnion('type', [
  LambdaCheckSchema.extend(stageWeights), HttpCheckSchema.extend(stageWeights), AlarmCheckSchema.extend(stageWeights),
], { error: CHECK_TYPE_ERROR });
export type BeforeShiftCheck = z.infer<typeof BeforeShiftCheckSchema>;

/** What `{{ name }}` may stand for in an action hook's parameters (see renderHookParameters). */
export const HOOK_PLACEHOLDERS = [
  'rolloutId', 'service', 'moment', 'stageIndex', 'weight', 'windowStart', 'windowEnd',
  'target.hostedZoneId', 'target.recordName', 'target.recordType', 'target.baselineSetIdentifier', 'target.canarySetIdentifier',
  'decision.outcome', 'decision.trigger',
  // The routers beside Route 53 (empty for a target of another kind).
  'target.type', 'target.listenerArn', 'target.ruleArn', 'target.baselineTargetGroupArn', 'target.canaryTargetGroupArn',
  'target.functionName', 'target.alias', 'target.baselineVersion', 'target.canaryVersion',
  'target.applicationId', 'target.environmentId', 'target.configurationProfileId', 'target.flag',
] as const;
const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;

const hookCommon = {
  name: safeName('hook name'),
  description: printable('description', 300).optional(),
  /** How long starting the hook (or, for a request-response Lambda, its answer) may take. */
  timeoutSeconds: z.number().int().min(1).max(MAX_CHECK_TIMEOUT_SECONDS).default(10),
};

export const LambdaHookSchema = z.object({
  type: z.literal('lambda'),
  function: lambdaFunction,
  /**
   * `event` (the default): started asynchronously, its request id recorded; `request-response`:
   * its answer (cut to a few KB) recorded, within timeoutSeconds. afterRollback takes `event` only.
   */
  invocation: z.enum(['event', 'request-response'], { error: "invocation must be 'event' or 'request-response'" }).default('event'),
  ...hookCommon,
}).strict();

const SSM_DOCUMENT = /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:(\d{12})?:(automation-definition|document)\/)?[A-Za-z0-9_.-]{3,128}$/;
export const SsmAutomationHookSchema = z.object({
  type: z.literal('ssm-automation'),
  /** The runbook (Automation document) name or ARN, e.g. CanaryCaptureHeapDump. */
  document: z.string(stringError('document', 'an SSM Automation document name or ARN')).regex(SSM_DOCUMENT, 'document must be an SSM Automation document name (3-128 letters, digits, _ . -) or ARN'),
  documentVersion: z.string().regex(/^(\$DEFAULT|\$LATEST|[0-9]{1,10})$/, "documentVersion must be '$DEFAULT', '$LATEST' or a version number").optional(),
  /**
   * The runbook's parameters. Values may hold `{{ rolloutId }}`, `{{ target.recordName }}`...
   * (HOOK_PLACEHOLDERS), filled in from the rollout when the hook starts. Give
   * AutomationAssumeRole: the runbook should run as its own role, not borrow the stack's.
   */
  parameters: z.record(
    z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'a parameter name must be 1-128 letters, digits, _ . -'),
    z.array(printable('parameter value', 512)).min(1).max(10),
  ).default({}),
  ...hookCommon,
}).strict().superRefine((hook, ctx) => {
  for (const [name, values] of Object.entries(hook.parameters)) {
    values.forEach((value, i) => {
      for (const [, placeholder] of value.matchAll(PLACEHOLDER)) {
        if (!(HOOK_PLACEHOLDERS as readonly string[]).includes(placeholder!)) {
          ctx.addIssue({ code: 'custom', path: ['parameters', name, i], message: `unknown placeholder {{ ${placeholder} }}: use one of ${HOOK_PLACEHOLDERS.join(', ')}` });
        }
      }
    });
  }
});

export const ActionHookSchema = z.discriminatedUnion('type', [LambdaHookSchema, SsmAutomationHookSchema], {
  error: "type must be 'lambda' (a function you own) or 'ssm-automation' (an SSM Automation runbook)",
});
export type LambdaHook = z.infer<typeof LambdaHookSchema>;
export type SsmAutomationHook = z.infer<typeof SsmAutomationHookSchema>;
export type ActionHook = z.infer<typeof ActionHookSchema>;

function uniqueNames(list: { name: string }[], ctx: z.RefinementCtx, path: (string | number)[]): void {
  const seen = new Set<string>();
  list.forEach((item, i) => {
    if (seen.has(item.name) && SAFE_NAME.test(item.name)) ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate name '${item.name}'` });
    seen.add(item.name);
  });
}

export const HooksSchema = z.object({
  /** Gates before any traffic moves (e.g. the CDC pipeline is running); all must PASS. */
  preRollout: z.array(VerificationCheckSchema).max(10).default([]),
  /** Gates before each shift (or those of `weights`); all must PASS. */
  beforeShift: z.array(BeforeShiftCheckSchema).max(10).default([]),
  /** Started once the canary holds 100 %. */
  afterPromotion: z.array(ActionHookSchema).max(10).default([]),
  /** Started once traffic is back at 100 % baseline, before anything restarts the canary: evidence capture. */
  afterRollback: z.array(ActionHookSchema).max(10).default([]),
}).strict().superRefine((h, ctx) => {
  for (const key of ['preRollout', 'beforeShift', 'afterPromotion', 'afterRollback'] as const) uniqueNames(h[key], ctx, [key]);
  h.afterRollback.forEach((hook, i) => {
    if (hook.type === 'lambda' && hook.invocation !== 'event') {
      ctx.addIssue({
        code: 'custom', path: ['afterRollback', i, 'invocation'],
        message: "an afterRollback hook is started, never awaited (the rollback must not wait on it): use 'event' or leave invocation out",
      });
    }
  });
});
export type Hooks = z.infer<typeof HooksSchema>;
export const EMPTY_HOOKS: Hooks = { preRollout: [], beforeShift: [], afterPromotion: [], afterRollback: [] };

/**
 * The fields the rollout config gains, to spread into its z.object({...}) (zod cannot extend an
 * object that has refinements): `verification` and `hooks`, both optional.
 */
export const verificationConfigShape = {
  /** Checks judged beside the metrics at every check of every stage. */
  verification: z.array(VerificationCheckSchema).max(20, 'at most 20 verification checks')
    .superRefine((checks, ctx) => uniqueNames(checks, ctx, [])).default([]),
  hooks: HooksSchema.default(EMPTY_HOOKS),
};
export const VerificationConfigSchema = z.object(verificationConfigShape);
export type VerificationConfig = z.infer<typeof VerificationConfigSchema>;
export type VerificationConfigInput = z.input<typeof VerificationConfigSchema>;

export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

/**
 * What the rollout config's superRefine adds for these fields: a check's name must differ from
 * every metric's (verdicts sit side by side), and a beforeShift gate's weights must be stages.
 */
export function verificationCrossIssues(c: {
  metrics: { name: string }[];
  stages: (number | { weight: number })[];
  verification: { name: string }[];
  hooks: { beforeShift: { weights?: number[] }[] };
}): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const metricNames = new Set(c.metrics.map((m) => m.name));
  c.verification.forEach((check, i) => {
    if (metricNames.has(check.name)) issues.push({ path: ['verification', i, 'name'], message: `'${check.name}' is also a metric's name: give the check a name of its own` });
  });
  const weights = new Set(c.stages.map((s) => (typeof s === 'number' ? s : s.weight)));
  c.hooks.beforeShift.forEach((gate, i) => {
    for (const [k, w] of (gate.weights ?? []).entries()) {
      if (!weights.has(w)) issues.push({ path: ['hooks', 'beforeShift', i, 'weights', k], message: `${w} is not the weight of any stage (${[...weights].join(', ')})` });
    }
  });
  return issues;
}

/** Validates `{ verification, hooks }` alone, or throws ConfigValidationError naming every bad field. */
export function parseVerificationConfig(input: unknown): VerificationConfig {
  const result = VerificationConfigSchema.safeParse(input ?? {});
  if (!result.success) throw new ConfigValidationError(formatIssues(result.error));
  return result.data;
}

/** The beforeShift gates of the shift to `weight`. */
export function beforeShiftGates(hooks: Hooks, weight: number): BeforeShiftCheck[] {
  return hooks.beforeShift.filter((g) => !g.weights || g.weights.includes(weight));
}

// ---------------------------------------------------------------------------------------------
// The request a check or hook is sent
// ---------------------------------------------------------------------------------------------

export type Moment = 'analysis' | 'preRollout' | 'beforeShift' | 'afterPromotion' | 'afterRollback';

/**
 * The JSON body a check receives (a Lambda's event, an HTTP POST's body) and an action hook's
 * input. Stable: fields are only ever added; `version` changes if one changes meaning.
 */
/**
 * The traffic target as a check sees it: Route 53's five fields for weighted records (as before
 * the other routers: no `type`), or an ALB, Lambda alias or AppConfig flag target as configured
 * (with its `type`).
 */
export type VerificationTarget =
  | Pick<Route53Target, 'hostedZoneId' | 'recordName' | 'recordType' | 'baselineSetIdentifier' | 'canarySetIdentifier'>
  | RouterTarget;

export interface VerificationContext {
  version: typeof REQUEST_VERSION;
  /** When in the rollout: at a stage's check, before it starts, before a shift, after it ends. */
  moment: Moment;
  /** The check's or hook's name, as in the config. */
  check: string;
  rolloutId: string;
  /** The rollout config's `name`. */
  service: string;
  /** The stage: index from 0, its canary weight (percent), and how many stages there are. */
  stage: { index: number; weight: number; count: number };
  /** The analysis window of this check (ISO), null outside a stage's checks. */
  window: { start: string; end: string } | null;
  target: VerificationTarget;
  /** When the request was made, and when an answer stops counting (ISO). */
  sentAt: string;
  deadline: string;
  /** afterPromotion / afterRollback: what was decided and why. */
  decision?: { outcome: 'PROMOTED' | 'ROLLED_BACK'; trigger?: string; reasons: string[] };
}

export interface ContextInput {
  moment: Moment;
  check: string;
  rolloutId: string;
  service: string;
  stageIndex: number;
  stageCount: number;
  weight: number;
  window?: { start: Date | string; end: Date | string } | null;
  target: RolloutTarget;
  now: Date;
  deadline: Date;
  decision?: { outcome: 'PROMOTED' | 'ROLLED_BACK'; trigger?: string; reasons: string[] };
}

const isoOf = (d: Date | string) => (typeof d === 'string' ? new Date(d).toISOString() : d.toISOString());

export function buildVerificationContext(input: ContextInput): VerificationContext {
  const t = input.target;
  return {
    version: REQUEST_VERSION,
    moment: input.moment,
    check: input.check,
    rolloutId: input.rolloutId,
    service: input.service,
    stage: { index: input.stageIndex, weight: input.weight, count: input.stageCount },
    window: input.window ? { start: isoOf(input.window.start), end: isoOf(input.window.end) } : null,
    target: 'hostedZoneId' in t ? {
      hostedZoneId: t.hostedZoneId, recordName: t.recordName, recordType: t.recordType,
      baselineSetIdentifier: t.baselineSetIdentifier, canarySetIdentifier: t.canarySetIdentifier,
    } : structuredClone(t),
    sentAt: input.now.toISOString(),
    deadline: input.deadline.toISOString(),
    ...(input.decision ? { decision: { ...input.decision, reasons: input.decision.reasons.slice(0, 20).map((r) => cut(r, MAX_REASON_CHARS)) } } : {}),
  };
}

/** The value a `{{ placeholder }}` stands for in this context. */
function placeholderValue(name: string, c: VerificationContext): string {
  switch (name) {
    case 'rolloutId': return c.rolloutId;
    case 'service': return c.service;
    case 'moment': return c.moment;
    case 'stageIndex': return String(c.stage.index);
    case 'weight': return String(c.stage.weight);
    case 'windowStart': return c.window?.start ?? '';
    case 'windowEnd': return c.window?.end ?? '';
    case 'decision.outcome': return c.decision?.outcome ?? '';
    case 'decision.trigger': return c.decision?.trigger ?? '';
    default:
      if (name.startsWith('target.')) return String((c.target as Record<string, unknown>)[name.slice('target.'.length)] ?? '');
      return '';
  }
}

/** An SSM hook's parameters with every `{{ placeholder }}` filled in from the context. */
export function renderHookParameters(hook: SsmAutomationHook, context: VerificationContext): Record<string, string[]> {
  return Object.fromEntries(Object.entries(hook.parameters).map(([name, values]) => [
    name, values.map((v) => v.replace(PLACEHOLDER, (_m, p: string) => placeholderValue(p, context))),
  ]));
}

// ---------------------------------------------------------------------------------------------
// The answer
// ---------------------------------------------------------------------------------------------

export type DetailValue = number | string | boolean | null;

/** A well-formed answer, after parsing. */
export interface VerificationAnswer {
  verdict: Verdict;
  reason: string;
  details?: Record<string, DetailValue>;
}

/**
 * What a verifier port returns: the raw answer's text (parsed here, in one place), or why there
 * is none. `finishedAt` is when the answer arrived: past the deadline it does not count.
 */
export type CheckOutcome =
  | { status: 'answered'; body: string; attempts: number; finishedAt: string }
  | { status: 'error'; reason: string; attempts: number; finishedAt: string }
  | { status: 'timed-out'; attempts: number; finishedAt: string };

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** One line: control characters (new lines included) become spaces. */
function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim();
}

function detailValue(value: unknown): DetailValue {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return cut(oneLine(value), MAX_DETAIL_CHARS);
  return cut(JSON.stringify(value) ?? String(value), MAX_DETAIL_CHARS);
}

const VERDICTS: readonly string[] = ['PASS', 'FAIL', 'INCONCLUSIVE'];

/**
 * Parses an answer's text. Exactly `verdict` (PASS, FAIL or INCONCLUSIVE, in capitals) and a
 * non-empty string `reason` are required; `details`, when present, must be an object (values
 * other than scalars are kept as JSON text, cut). Other fields are ignored (forward compatible).
 */
export function parseVerificationAnswer(body: string): { ok: true; answer: VerificationAnswer } | { ok: false; problem: string } {
  const bytes = new TextEncoder().encode(body).length;
  if (bytes > MAX_ANSWER_BYTES) return { ok: false, problem: `the answer is ${bytes} bytes, more than the ${MAX_ANSWER_BYTES} allowed` };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, problem: `the answer is not JSON (${JSON.stringify(cut(body.trim(), 60))})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: 'the answer is not a JSON object with `verdict` and `reason`' };
  }
  const { verdict, reason, details } = value as Record<string, unknown>;
  if (typeof verdict !== 'string' || !VERDICTS.includes(verdict)) {
    return { ok: false, problem: `the answer's verdict is ${verdict === undefined ? 'missing' : JSON.stringify(cut(String(JSON.stringify(verdict)), 40))}, not PASS, FAIL or INCONCLUSIVE` };
  }
  if (typeof reason !== 'string' || oneLine(reason) === '') {
    return { ok: false, problem: `the answer (${verdict}) has no reason: \`reason\` must be a non-empty string` };
  }
  if (details !== undefined && (details === null || typeof details !== 'object' || Array.isArray(details))) {
    return { ok: false, problem: 'the answer\'s `details` must be an object' };
  }
  const answer: VerificationAnswer = { verdict: verdict as Verdict, reason: cut(oneLine(reason), MAX_REASON_CHARS) };
  if (details) {
    answer.details = Object.fromEntries(Object.entries(details as Record<string, unknown>).slice(0, MAX_DETAILS)
      .map(([k, v]) => [cut(oneLine(k), 64), detailValue(v)]));
  }
  return { ok: true, answer };
}

/** What each kind of check calls itself in a reason. */
export function describeCheck(check: VerificationCheck): string {
  switch (check.type) {
    case 'lambda': return `lambda ${check.function}`;
    case 'http': return `http via secret ${check.secretId}`;
    case 'alarm': return `alarm${check.alarms.length > 1 ? 's' : ''} ${check.alarms.join(', ')}`;
  }
}

/**
 * A check's verdict, in the shape the judge gives a metric, so the decision, the evidence and
 * the report treat both alike. INCONCLUSIVE has a canary sample of 0 (counted against the
 * inconclusive limit, as no data is); PASS and FAIL a sample of 1 (one answer).
 */
export function checkVerdict(check: VerificationCheck, outcome: CheckOutcome, deadline: Date): MetricVerdict {
  const verdict = checkVerdictOf(check, outcome, deadline);
  return check.dryRun ? asDryRun(verdict) : verdict;
}

function checkVerdictOf(check: VerificationCheck, outcome: CheckOutcome, deadline: Date): MetricVerdict {
  const label = `check '${check.name}' (${describeCheck(check)})`;
  const base = {
    name: check.name, critical: check.critical, test: `verification-${check.type}`,
    canaryValue: null, baselineValue: null, threshold: {},
  };
  const meta: Record<string, DetailValue> = { attempts: outcome.attempts };
  const inconclusive = (why: string): MetricVerdict => ({
    ...base, verdict: 'INCONCLUSIVE', cause: 'no-data', reason: `${label} gave no usable answer: ${why}`,
    sample: { canary: 0, baseline: 0 }, details: meta,
  });
  switch (outcome.status) {
    case 'timed-out':
      return inconclusive(`no answer within its ${check.timeoutSeconds} s timeout (${outcome.attempts} attempt${outcome.attempts === 1 ? '' : 's'})`);
    case 'error':
      return inconclusive(cut(oneLine(outcome.reason), MAX_REASON_CHARS));
    case 'answered': {
      const late = Date.parse(outcome.finishedAt) - deadline.getTime();
      if (!(late <= 0)) return inconclusive(`the answer came ${Number.isFinite(late) ? `${(late / 1000).toFixed(1)} s ` : ''}after its deadline ${deadline.toISOString()} (timeout ${check.timeoutSeconds} s)`);
      const parsed = parseVerificationAnswer(outcome.body);
      if (!parsed.ok) return inconclusive(parsed.problem);
      const { verdict, reason, details } = parsed.answer;
      return {
        ...base, verdict, reason: `${label}: ${verdict}: ${reason}`, ...(verdict === 'INCONCLUSIVE' ? { cause: 'no-data' as const } : {}),
        sample: { canary: verdict === 'INCONCLUSIVE' ? 0 : 1, baseline: 0 },
        details: { ...details, ...meta },
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Alarms
// ---------------------------------------------------------------------------------------------

export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

/** One alarm as DescribeAlarms gives it (metric or composite). */
export interface AlarmState {
  name: string;
  kind: 'metric' | 'composite';
  state: AlarmStateValue | string;
  reason?: string;
  updatedAt?: string;
}

/**
 * The answer of an alarm check: any alarm in ALARM fails; INSUFFICIENT_DATA is the check's
 * choice (INCONCLUSIVE or FAIL); an alarm that is missing is INCONCLUSIVE, naming it; all OK passes.
 */
export function judgeAlarms(check: AlarmCheck, found: AlarmState[]): VerificationAnswer {
  const byName = new Map(found.map((a) => [a.name, a]));
  const details: Record<string, DetailValue> = {};
  const alarming: string[] = [];
  const insufficient: string[] = [];
  const missing: string[] = [];
  const unknown: string[] = [];
  for (const name of check.alarms) {
    const alarm = byName.get(name);
    if (!alarm) {
      missing.push(name);
      details[name] = 'MISSING';
      continue;
    }
    details[name] = alarm.state;
    const why = alarm.reason ? `${name} (${cut(oneLine(alarm.reason), 160)})` : name;
    if (alarm.state === 'ALARM') alarming.push(why);
    else if (alarm.state === 'INSUFFICIENT_DATA') insufficient.push(why);
    else if (alarm.state !== 'OK') unknown.push(`${name} in state ${alarm.state}`);
  }
  const parts: string[] = [];
  if (alarming.length) parts.push(`in ALARM: ${alarming.join('; ')}`);
  if (insufficient.length) parts.push(`INSUFFICIENT_DATA (counted as ${check.insufficientData}): ${insufficient.join('; ')}`);
  if (missing.length) {
    parts.push(`no alarm named ${missing.map((n) => `'${n}'`).join(', ')} (or not visible: composite alarms need cloudwatch:DescribeAlarms on '*')`);
  }
  if (unknown.length) parts.push(unknown.join('; '));
  const verdict: Verdict = alarming.length > 0 || (insufficient.length > 0 && check.insufficientData === 'FAIL') ? 'FAIL'
    : insufficient.length > 0 || missing.length > 0 || unknown.length > 0 ? 'INCONCLUSIVE'
      : 'PASS';
  const reason = verdict === 'PASS' ? `all ${check.alarms.length} alarm${check.alarms.length === 1 ? '' : 's'} OK` : parts.join('; ');
  return { verdict, reason: cut(reason, MAX_REASON_CHARS), details };
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/**
 * Runs one check: sends the request, retries transient failures within the deadline, and
 * returns the raw answer or why there is none. Should not throw (a throw is read as an error
 * outcome); must not outlive the deadline by much (runChecks stops waiting at it).
 */
export interface VerificationPort {
  run(check: VerificationCheck, context: VerificationContext, deadline: Date): Promise<CheckOutcome>;
}

/** What a started action hook left for the evidence and the incident. */
export interface HookResult {
  hook: string;
  type: ActionHook['type'];
  moment: Moment;
  /** The Lambda request id or the SSM Automation execution id; null when it did not start. */
  id: string | null;
  /** STARTED: running on its own (never awaited); SUCCEEDED/FAILED: a request-response answer or a failure to start. */
  status: 'STARTED' | 'SUCCEEDED' | 'FAILED';
  /** A request-response Lambda's answer (cut), or the parameters an SSM runbook was started with. */
  output?: string;
  /** Why it FAILED. */
  reason?: string;
  at: string;
}

/** Starts one action hook. Never throws: a failure is a FAILED result with its reason. */
export interface HookPort {
  run(hook: ActionHook, context: VerificationContext): Promise<HookResult>;
}

/** One VerificationPort over the adapters of each type; a type without one is an error outcome. */
export function routeVerification(ports: Partial<Record<VerificationCheck['type'], VerificationPort>>, clock: Clock): VerificationPort {
  return {
    run(check, context, deadline) {
      const port = ports[check.type];
      if (!port) return Promise.resolve({ status: 'error', reason: `no ${check.type} verifier is wired in this step`, attempts: 0, finishedAt: clock.now().toISOString() });
      return port.run(check, context, deadline);
    },
  };
}

/** One HookPort over the adapters of each type. */
export function routeHooks(ports: Partial<Record<ActionHook['type'], HookPort>>, clock: Clock): HookPort {
  return {
    run(hook, context) {
      const port = ports[hook.type];
      if (!port) {
        return Promise.resolve({
          hook: hook.name, type: hook.type, moment: context.moment, id: null, status: 'FAILED',
          reason: `no ${hook.type} hook runner is wired in this step`, at: clock.now().toISOString(),
        });
      }
      return port.run(hook, context);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Running them
// ---------------------------------------------------------------------------------------------

/** What every request of one moment shares (the check's name and the deadline are per check). */
export type MomentInput = Omit<ContextInput, 'check' | 'deadline' | 'now'>;

/** Resolves to `fallback()` if `promise` has not settled after `ms` (real time); clears its timer. */
async function within<T>(promise: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** Real time a port gets past a check's deadline before runChecks stops waiting. */
const GUARD_GRACE_MS = 1000;

/**
 * Runs every check at once and gives each its verdict (never throws). A check's deadline is its
 * timeout from now, or `notAfter` (the step's own budget) if that comes first.
 */
export async function runChecks(
  port: VerificationPort, checks: VerificationCheck[], input: MomentInput, clock: Clock, notAfter?: Date,
): Promise<MetricVerdict[]> {
  return Promise.all(checks.map(async (check) => {
    const now = clock.now();
    const byTimeout = new Date(now.getTime() + check.timeoutSeconds * 1000);
    const deadline = notAfter && notAfter < byTimeout ? notAfter : byTimeout;
    const context = buildVerificationContext({ ...input, check: check.name, now, deadline });
    const outcome = await within(
      port.run(check, context, deadline).catch((error: unknown): CheckOutcome => ({
        status: 'error', reason: `the verifier failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
        attempts: 1, finishedAt: clock.now().toISOString(),
      })),
      deadline.getTime() - now.getTime() + GUARD_GRACE_MS,
      (): CheckOutcome => ({ status: 'timed-out', attempts: 1, finishedAt: clock.now().toISOString() }),
    );
    return checkVerdict(check, outcome, deadline);
  }));
}

/** A gate's result: it opens only when every check passed. */
export interface GateResult {
  open: boolean;
  verdicts: MetricVerdict[];
  /** Why it stayed shut, one line per check that did not pass. */
  reasons: string[];
}

/** Runs a gate's checks (preRollout, beforeShift): open only if all PASS; INCONCLUSIVE keeps it shut. */
export async function runGate(
  port: VerificationPort, checks: VerificationCheck[], input: MomentInput, clock: Clock, notAfter?: Date,
): Promise<GateResult> {
  const verdicts = await runChecks(port, checks, input, clock, notAfter);
  // A dry-run check is asked and recorded, and never shuts the gate.
  const shut = verdicts.filter((v) => v.verdict !== 'PASS' && !v.dryRun);
  return { open: shut.length === 0, verdicts, reasons: shut.map((v) => `${input.moment} gate: ${v.reason}`) };
}

/**
 * Starts every hook at once; never throws, never waits past a hook's timeout (plus a second), nor
 * past `notAfter` (the step's own budget) when it comes first.
 */
export async function runHooks(port: HookPort, hooks: ActionHook[], input: MomentInput, clock: Clock, notAfter?: Date): Promise<HookResult[]> {
  return Promise.all(hooks.map(async (hook) => {
    const now = clock.now();
    const byTimeout = new Date(now.getTime() + hook.timeoutSeconds * 1000);
    const deadline = notAfter && notAfter < byTimeout ? notAfter : byTimeout;
    const context = buildVerificationContext({ ...input, check: hook.name, now, deadline });
    const failed = (reason: string): HookResult => ({
      hook: hook.name, type: hook.type, moment: input.moment, id: null, status: 'FAILED', reason, at: clock.now().toISOString(),
    });
    const seconds = Math.max(0, Math.round((deadline.getTime() - now.getTime()) / 1000));
    return within(
      port.run(hook, context).catch((error: unknown) => failed(`the hook runner failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)),
      deadline.getTime() - now.getTime() + GUARD_GRACE_MS,
      () => failed(`not started within ${seconds < hook.timeoutSeconds ? `the ${seconds} s the step had left` : `its ${hook.timeoutSeconds} s timeout`}`),
    );
  }));
}

/** One line for the incident and the evidence, e.g. `afterRollback hook 'heap-dump' (ssm-automation): STARTED, id 4a1b...`. */
export function hookResultLine(r: HookResult): string {
  const head = `${r.moment} hook '${r.hook}' (${r.type}): ${r.status}`;
  if (r.status === 'FAILED') return `${head}: ${r.reason ?? 'no reason given'}`;
  return `${head}${r.id ? `, id ${r.id}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// What the stack allows (preflight)
// ---------------------------------------------------------------------------------------------

/** The stack's parameters naming what checks and hooks may use (template.yaml). Empty: nothing. */
export interface VerificationAllowList {
  /** VerificationFunctionArns: unqualified function ARNs. */
  functionArns: string[];
  /** VerificationSecretArns: full secret ARNs. */
  secretArns: string[];
  /** VerificationAlarmPrefixes: alarm name prefixes. */
  alarmPrefixes: string[];
  /** HookAutomationDocumentArns: automation-definition ARNs (no version). */
  automationDocumentArns: string[];
  /** HookAutomationRoleArn: the role runbooks may be started with (AutomationAssumeRole). */
  automationRoleArn?: string;
}

/** Environment variables the template sets from those parameters. */
export const VERIFICATION_ENV = {
  functionArns: 'VERIFICATION_FUNCTION_ARNS',
  secretArns: 'VERIFICATION_SECRET_ARNS',
  alarmPrefixes: 'VERIFICATION_ALARM_PREFIXES',
  automationDocumentArns: 'HOOK_AUTOMATION_DOCUMENT_ARNS',
  automationRoleArn: 'HOOK_AUTOMATION_ROLE_ARN',
} as const;

const PARAMETER = {
  functionArns: 'VerificationFunctionArns',
  secretArns: 'VerificationSecretArns',
  alarmPrefixes: 'VerificationAlarmPrefixes',
  automationDocumentArns: 'HookAutomationDocumentArns',
  automationRoleArn: 'HookAutomationRoleArn',
} as const;

export function verificationAllowListFromEnv(env: Record<string, string | undefined>): VerificationAllowList {
  const list = (name: string) => (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const role = (env[VERIFICATION_ENV.automationRoleArn] ?? '').trim();
  return {
    functionArns: list(VERIFICATION_ENV.functionArns),
    secretArns: list(VERIFICATION_ENV.secretArns),
    alarmPrefixes: list(VERIFICATION_ENV.alarmPrefixes),
    automationDocumentArns: list(VERIFICATION_ENV.automationDocumentArns),
    ...(role ? { automationRoleArn: role } : {}),
  };
}

/** `name` of `...:function:name[:qualifier]` or of `name[:qualifier]`. */
function functionName(ref: string): string {
  const afterArn = ref.includes(':function:') ? ref.split(':function:')[1]! : ref;
  return afterArn.split(':')[0]!;
}
/** The unqualified ARN of a function ARN (`arn:...:function:name`), or null for a bare name. */
function functionArn(ref: string): string | null {
  if (!ref.startsWith('arn:')) return null;
  const [head, rest] = ref.split(':function:');
  return `${head}:function:${rest!.split(':')[0]}`;
}
/** `name` of `arn:...:secret:name-AbCdEf` (Secrets Manager adds six characters). */
function secretName(arn: string): string {
  return (arn.split(':secret:')[1] ?? arn).replace(/-[A-Za-z0-9]{6}$/, '');
}
function documentName(ref: string): string {
  return ref.includes(':automation-definition/') || ref.includes(':document/') ? ref.split('/').slice(1).join('/') : ref;
}
const listed = (values: string[]) => (values.length ? values.join(', ') : 'empty');

/**
 * What a config names that the stack may not use: one line per problem, naming the field and the
 * stack parameter to redeploy with. Empty when everything is allowed. The stack's IAM is scoped
 * to the same lists, so this refuses up front what would fail with AccessDenied mid-rollout.
 */
export function verificationPermissionIssues(config: Pick<VerificationConfig, 'verification' | 'hooks'>, allowed: VerificationAllowList): string[] {
  const issues: string[] = [];
  const fnAllowed = (ref: string) => {
    const arn = functionArn(ref);
    return allowed.functionArns.some((a) => (arn ? a === arn : functionName(a) === functionName(ref)));
  };
  const secretAllowed = (id: string) => allowed.secretArns.some((a) => a === id || (!id.startsWith('arn:') && secretName(a) === id));
  const docAllowed = (ref: string) => allowed.automationDocumentArns.some((a) => (ref.startsWith('arn:') ? documentName(a) === documentName(ref) && a.split(':').slice(0, 5).join(':') === ref.split(':').slice(0, 5).join(':') : documentName(a) === ref));

  const checkIssues = (check: VerificationCheck, path: string) => {
    switch (check.type) {
      case 'lambda':
        if (!fnAllowed(check.function)) {
          issues.push(`${path}.function: '${check.function}' is not a function this stack may invoke (${PARAMETER.functionArns}: ${listed(allowed.functionArns)}); redeploy with its ARN in the ${PARAMETER.functionArns} parameter`);
        }
        break;
      case 'http':
        if (!secretAllowed(check.secretId)) {
          issues.push(`${path}.secretId: '${check.secretId}' is not a secret this stack may read (${PARAMETER.secretArns}: ${listed(allowed.secretArns)}); redeploy with its full ARN in the ${PARAMETER.secretArns} parameter`);
        }
        break;
      case 'alarm':
        check.alarms.forEach((name, i) => {
          if (!allowed.alarmPrefixes.some((p) => name.startsWith(p))) {
            issues.push(`${path}.alarms[${i}]: '${name}' does not start with a prefix this stack may read (${PARAMETER.alarmPrefixes}: ${listed(allowed.alarmPrefixes)}); redeploy with a prefix of it in the ${PARAMETER.alarmPrefixes} parameter`);
          }
        });
        break;
    }
  };
  config.verification.forEach((c, i) => checkIssues(c, `verification[${i}]`));
  config.hooks.preRollout.forEach((c, i) => checkIssues(c, `hooks.preRollout[${i}]`));
  config.hooks.beforeShift.forEach((c, i) => checkIssues(c, `hooks.beforeShift[${i}]`));
  for (const moment of ['afterPromotion', 'afterRollback'] as const) {
    config.hooks[moment].forEach((hook, i) => {
      const path = `hooks.${moment}[${i}]`;
      if (hook.type === 'lambda') {
        if (!fnAllowed(hook.function)) {
          issues.push(`${path}.function: '${hook.function}' is not a function this stack may invoke (${PARAMETER.functionArns}: ${listed(allowed.functionArns)}); redeploy with its ARN in the ${PARAMETER.functionArns} parameter`);
        }
        return;
      }
      if (!docAllowed(hook.document)) {
        issues.push(`${path}.document: '${hook.document}' is not a runbook this stack may start (${PARAMETER.automationDocumentArns}: ${listed(allowed.automationDocumentArns)}); redeploy with its automation-definition ARN in the ${PARAMETER.automationDocumentArns} parameter`);
      }
      for (const role of hook.parameters.AutomationAssumeRole ?? []) {
        if (role !== allowed.automationRoleArn) {
          issues.push(`${path}.parameters.AutomationAssumeRole: '${role}' is not the role this stack may pass to runbooks (${PARAMETER.automationRoleArn}: ${allowed.automationRoleArn ?? 'empty'}); use that role or redeploy with this one in the ${PARAMETER.automationRoleArn} parameter`);
        }
      }
    });
  }
  return issues;
}
