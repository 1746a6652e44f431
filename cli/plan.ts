/** The resolved plan of a rollout config, as `canary validate` prints it. */
import { metricQueryText, routerKindOf, targetKey, type MetricQuery, type RolloutConfig, type RolloutMetric } from '../functions/core/config.ts';
import { settleAllowanceOf } from '../functions/core/traffic-checks.ts';
import { describeCheck, type ActionHook } from '../functions/core/verification.ts';
import { formatValue } from '../functions/core/judge.ts';
import { planBudget } from '../functions/core/plan-budget.ts';
import { statusUpdateSeconds } from '../functions/core/incident-status.ts';
import { opsCenterSeverity } from '../functions/core/incident.ts';
import { HALT_MAX_SECONDS } from '../functions/core/controls.ts';
import { SYNC_POLL_MAX_SECONDS, SYNC_POLL_SECONDS, countedChecksFrom, leaseSeconds } from '../functions/core/rollout-steps.ts';
import type { Style } from './io.ts';

/** Typical time from a weight change to INSYNC (Route 53 says "generally within 60 s"). */
const TYPICAL_SYNC_SECONDS = 30;

export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s >= 2 * 86_400) {
    const d = Math.floor(s / 86_400);
    const h = Math.round((s % 86_400) / 3600);
    return h ? `${d} d ${h} h` : `${d} d`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return rest ? `${m} min ${String(rest).padStart(2, '0')} s` : `${m} min`;
}

/** A single metric, a metric-math expression or a Metrics Insights query, in one line. */
function queryText(q: MetricQuery): string {
  return metricQueryText(q);
}

/** The traffic target's lines of the plan, per router. */
export function targetLines(config: Pick<RolloutConfig, 'target'>): string[] {
  const t = config.target;
  const key = `lock key ${targetKey(t)}`;
  switch (t.type) {
    case undefined: case 'route53':
      return [
        `  Route 53 weighted records ${t.recordName} ${t.recordType} in hosted zone ${t.hostedZoneId} (${key})`,
        `  baseline record '${t.baselineSetIdentifier}' → canary record '${t.canarySetIdentifier}' (weighted records; the canary starts at weight 0)`,
        `  record TTL must be at most ${t.maxTtlSeconds} s`,
      ];
    case 'alb':
      return [
        `  ALB ${t.ruleArn ? `listener rule ${t.ruleArn}` : `default action of listener ${t.listenerArn}`}`,
        `  ${key}`,
        `  baseline target group ${t.baselineTargetGroupArn} → canary target group ${t.canaryTargetGroupArn} (weights 0-999, one ModifyRule/ModifyListener; the canary starts at 0)`,
        `  in sync once a describe call shows the new weights; ${t.stickinessSeconds ? `target-group stickiness ${t.stickinessSeconds} s with every shift, turned off by a rollback` : 'stickiness as the rule has it; a rollback turns it off'}`,
      ];
    case 'lambda-alias':
      return [
        `  Lambda alias ${t.alias} of ${t.functionName} (${key})`,
        `  baseline version ${t.baselineVersion ?? '(the one the alias serves, read at preflight)'} → canary version ${t.canaryVersion} (AdditionalVersionWeights 0.0-1.0; promotion points the alias at the canary)`,
        '  in sync once GetAlias shows the new routing',
      ];
    case 'appconfig-flag':
      return [
        `  AppConfig flag ${t.flag} (attribute ${t.attribute}) of profile ${t.configurationProfileId}, application ${t.applicationId}, environment ${t.environmentId}`,
        `  ${key}`,
        `  each stage deploys a new hosted version with ${t.attribute} at the stage's percentage, strategy ${t.deploymentStrategyId}; rollback (the kill switch) deploys it at 0 %, disabled`,
        `  in sync once the deployment is COMPLETE${t.deploymentStrategyId === 'AppConfig.AllAtOnce' ? ' (AppConfig.AllAtOnce bakes 10 minutes first)' : ''}; clients poll every ${t.clientPollSeconds} s`,
      ];
  }
}

function hookText(h: ActionHook): string {
  return h.type === 'lambda' ? `lambda ${h.function} (${h.invocation})` : `SSM Automation ${h.document}${h.documentVersion ? ` v${h.documentVersion}` : ''}`;
}

/** Traffic checks, verification checks and hooks. */
function verificationLines(config: RolloutConfig, style: Style): string[] {
  const lines: string[] = [];
  const tc = config.trafficChecks;
  lines.push(style.bold('Traffic checks (proof that traffic moved)'));
  if (!tc.enabled) {
    lines.push(tc.requestCounts ? '  off (trafficChecks.enabled: false)' : '  off: no request counts known (give trafficChecks.requestCounts, or a preset that has them)');
  } else {
    const allowance = settleAllowanceOf(config, routerKindOf(config.target));
    lines.push(`  traffic share: the canary's share of requests within ${Math.round(tc.tolerance * 100)} % of its weight, judged from ${allowance} s after in sync (plus the router's own settle time);` +
      ` a starved canary holds the stage for up to ${duration(tc.starvedWaitSeconds)}, then rolls back`);
    lines.push(tc.throughput.enabled
      ? `  throughput: successful requests may drop at most ${Math.round(tc.throughput.maxDropShare * 100)} % against the stage's start${tc.throughput.againstPreRollout ? ' and the minutes before the rollout' : ''}`
      : '  throughput: off');
    const rc = tc.requestCounts!;
    lines.push(`    canary   ${queryText(rc.canary.requests)}${rc.canary.errors ? `, errors ${queryText(rc.canary.errors)}` : ''}`);
    lines.push(`    baseline ${queryText(rc.baseline.requests)}${rc.baseline.errors ? `, errors ${queryText(rc.baseline.errors)}` : ''}`);
  }
  const { verification, hooks } = config;
  if (verification.length > 0) {
    lines.push('');
    lines.push(style.bold(`Verification checks (beside the metrics at every check; ${verification.length})`));
    for (const c of verification) {
      const extra = c.type === 'alarm' ? `; INSUFFICIENT_DATA counts as ${c.insufficientData}` : '';
      lines.push(`  ${style.bold(c.name)}: ${describeCheck(c)}${c.critical && !c.dryRun ? ', critical (one FAIL rolls back)' : ''}${c.dryRun ? ', dry run (asked and recorded, never acts)' : ''}; timeout ${c.timeoutSeconds} s, ${c.retry.maxAttempts} attempt${c.retry.maxAttempts === 1 ? '' : 's'}${extra}`);
      if (c.description) lines.push(`    ${c.description}`);
    }
    lines.push('  a check that errs, answers late or malformed is INCONCLUSIVE (counted against the inconclusive limit), never a pass');
  }
  const any = hooks.preRollout.length + hooks.beforeShift.length + hooks.afterPromotion.length + hooks.afterRollback.length;
  if (any > 0) {
    lines.push('');
    lines.push(style.bold('Hooks'));
    for (const g of hooks.preRollout) {
      lines.push(`  preRollout gate ${style.bold(g.name)}: ${describeCheck(g)}: ${g.dryRun ? 'dry run: asked and recorded before anything moves, never keeps the rollout from starting' : 'must PASS before anything moves, else the rollout does not start'}`);
    }
    for (const g of hooks.beforeShift) {
      if (g.dryRun) {
        lines.push(`  beforeShift gate ${style.bold(g.name)}: ${describeCheck(g)} before ${g.weights ? g.weights.map((w) => `${w} %`).join(', ') : 'every stage'}: dry run: asked and recorded, never shuts`);
        continue;
      }
      lines.push(`  beforeShift gate ${style.bold(g.name)}: ${describeCheck(g)} before ${g.weights ? g.weights.map((w) => `${w} %`).join(', ') : 'every stage'}: a shut gate is asked again every minute for up to ${duration(config.approvalTimeoutSeconds)} (approvalTimeoutSeconds), then rolls back`);
    }
    for (const h of hooks.afterPromotion) lines.push(`  afterPromotion ${style.bold(h.name)}: ${hookText(h)}, started once the canary holds 100 %`);
    for (const h of hooks.afterRollback) lines.push(`  afterRollback ${style.bold(h.name)}: ${hookText(h)}, started right after traffic is back at 100 % baseline (never awaited; its id goes into the evidence and the incident)`);
  }
  return lines;
}

export function thresholdText(m: Pick<RolloutMetric, 'unit' | 'threshold' | 'baseline'>): string {
  const fmt = (v: number) => formatValue(v, m.unit);
  const parts = [
    m.threshold.max !== undefined ? `at most ${fmt(m.threshold.max)}` : '',
    m.threshold.min !== undefined ? `at least ${fmt(m.threshold.min)}` : '',
    m.baseline ? `at most ${m.baseline.maxIncreasePercent} % above the baseline` : '',
  ].filter(Boolean);
  return parts.join(', ');
}

/** Seconds a stage takes at the least, when every check passes at once. */
export function stageSeconds(config: RolloutConfig, index: number, ttlSeconds = 60): number {
  const stage = config.stages[index]!;
  const sync = Math.ceil(TYPICAL_SYNC_SECONDS / SYNC_POLL_SECONDS) * SYNC_POLL_SECONDS;
  if (stage.weight === 100) return sync;
  // As the workflow schedules it: from a shift at a whole minute, INSYNC, one TTL, the bake's
  // whole periods, and CloudWatch's minute to publish the last one.
  // Not before the traffic share can be judged (countedChecksFrom in rollout-steps.ts).
  const firstCheck = countedChecksFrom({
    config, stageIndex: index, settleSeconds: ttlSeconds, analysisStart: new Date((sync + ttlSeconds) * 1000).toISOString(),
    change: { id: 'plan', submittedAt: new Date(0).toISOString(), inSyncAt: new Date(sync * 1000).toISOString() },
  }, new Date(0)).getTime() / 1000;
  return firstCheck + (stage.checks - 1) * config.checkIntervalSeconds;
}

export function formatPlan(config: RolloutConfig, source: string, style: Style): string[] {
  const lines: string[] = [];
  const total = config.stages.reduce((sum, _s, i) => sum + stageSeconds(config, i), 0);
  lines.push(`${style.bold(config.name)}: ${source} is valid`);
  lines.push('');
  lines.push(style.bold('Traffic target'));
  lines.push(...targetLines(config));
  lines.push('');
  lines.push(style.bold(`Stages (about ${duration(total)} if every check passes at once, with a 60 s TTL)`));
  lines.push(`  after each weight change: wait for INSYNC (polled from ${SYNC_POLL_SECONDS} s, backing off to ${SYNC_POLL_MAX_SECONDS} s, with jitter), one TTL for clients, then the bake; checks every ${config.checkIntervalSeconds} s after it`);
  config.stages.forEach((stage, i) => {
    const n = `${i + 1}/${config.stages.length}`;
    const weight = `${String(stage.weight).padStart(3)} % canary`;
    if (stage.weight === 100) {
      lines.push(`  ${n}  ${weight}  promotion: done once INSYNC (no bake)`);
    } else {
      const checks = `${stage.checks} passing check${stage.checks === 1 ? '' : 's'} to advance`;
      lines.push(`  ${n}  ${weight}  bake ${duration(stage.bakeSeconds)}, first check about ${duration(stageSeconds(config, i) - (stage.checks - 1) * config.checkIntervalSeconds)} after the shift, ${checks}`);
    }
    if (stage.approval) {
      lines.push(`        manual gate first: waits for canary approve before this weight is set (rolls back after ${duration(config.approvalTimeoutSeconds)} without an answer)`);
    }
  });
  if (config.checkDuringBake) {
    lines.push(`  during each bake: checked as every ${config.analysisPeriodSeconds} s period completes; a confident failure rolls back at once, a pass does not count`);
  }
  lines.push(`  rollback: after ${config.failureLimit + 1} failed check${config.failureLimit === 0 ? '' : 's'} in a stage, at once on a critical metric,` +
    ` or after ${config.inconclusiveLimit + 1} checks without canary data (no data is not a pass)`);
  lines.push(`  a quiet stage (data, but too little to judge) extends its bake for up to ${duration(config.maxBakeExtensionSeconds)}, then rolls back`);
  if (config.onFailure === 'halt') {
    lines.push(`  onFailure: halt: instead of rolling back for a failed check, a shut gate or an unanswered manual gate, the weights are frozen,` +
      ` the incident opened, and the rollout waits up to ${duration(HALT_MAX_SECONDS)} for canary abort, promote --full or resume (then rolls back);` +
      ' an abort, drift or an error still rolls back');
  }
  const baselineCheck = config.checkBaselineHealth === 'compare'
    ? 'the baseline is checked against the thresholds; a metric it already breaks does not refuse the start (checkBaselineHealth: compare, the hotfix path) but is judged against the baseline only until the baseline is healthy again'
    : config.checkBaselineHealth ? 'the baseline is checked against the thresholds' : 'no baseline health check (checkBaselineHealth: false)';
  lines.push(`  before any traffic moves: ${baselineCheck}; lock lease ${duration(leaseSeconds(config))} (renewed by every step; never shorter than the longest wait, an hour, and a margin)`);
  lines.push('');
  lines.push(...budgetLines(config, style));
  lines.push('');
  lines.push(style.bold(`Metrics (one CloudWatch period = ${config.analysisPeriodSeconds} s; ${config.metrics.length} metric${config.metrics.length === 1 ? '' : 's'})`));
  for (const m of config.metrics) {
    const dry = m.dryRun ? ', dry run (judged, recorded and charted, never acts)' : '';
    lines.push(`  ${style.bold(m.name)}: ${m.kind}, ${m.unit}${m.critical && !m.dryRun ? ', critical (one failure rolls back)' : ''}${dry}: ${thresholdText(m)}`);
    for (const variant of ['canary', 'baseline'] as const) {
      const q = m.queries[variant];
      if ('numerator' in q) {
        lines.push(`    ${variant.padEnd(8)} ${queryText(q.numerator)}`);
        lines.push(`    ${''.padEnd(8)}   per ${queryText(q.denominator)}`);
      } else {
        lines.push(`    ${variant.padEnd(8)} ${queryText(q.value)}`);
      }
    }
    if (m.judge) lines.push(`    judge options: ${Object.entries(m.judge).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  lines.push('');
  lines.push(...verificationLines(config, style));
  lines.push('');
  lines.push(style.bold('Incident on rollback'));
  const inc = config.incident;
  lines.push('  the stack\'s SNS topic (always)');
  if (inc.snsTopicArn) lines.push(`  SNS topic ${inc.snsTopicArn}`);
  if (inc.opsCenter.enabled) {
    const level = (sev: 'critical' | 'error' | 'warning') => opsCenterSeverity(sev, inc.opsCenter.severity);
    lines.push(`  OpsCenter OpsItem, severity ${inc.opsCenter.severity} for an error (${level('critical')} critical, ${level('warning')} warning)`);
  } else {
    lines.push('  OpsCenter: off');
  }
  lines.push(inc.webhook ? `  ${inc.webhook.type === 'pagerduty' ? 'PagerDuty Events v2' : 'Slack webhook'} (secret ${inc.webhook.secretId})` : '  webhook: none');
  lines.push('  severity by cause: critical when a critical metric or check fails, error on any other failure, warning when a stage could not be judged (too little data, a starved canary); an abort or a rejection opens none');
  const every = statusUpdateSeconds(config);
  const watch = config.recovery.watchSeconds;
  lines.push(every === 0 ? '  status updates: off (incident.statusUpdateEvery: 0)'
    : watch <= every ? `  status updates every ${duration(every)}: none in practice, the recovery watch (${duration(watch)}) ends before the first is due (recovered or escalated is the follow-up)`
      : `  status updates every ${duration(every)} while the recovery watch runs (${duration(watch)} after the rollback), until recovery is verified${inc.webhook?.type === 'pagerduty' ? '; PagerDuty gets none (its alert is resolved or escalated)' : ''}`);
  return lines;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');
const usd = (n: number) => `$${n < 0.01 && n > 0 ? n.toFixed(4) : n.toFixed(2)}`;

/** What the plan costs a day and how it fits Step Functions' limits (functions/core/plan-budget.ts). */
export function budgetLines(config: RolloutConfig, style: Style): string[] {
  const b = planBudget(config);
  const longest = b.stages.reduce((worst, s, i) => (s.longestSeconds > (b.stages[worst]?.longestSeconds ?? -1) ? i : worst), 0);
  const w = b.stages[longest]!;
  const c = b.cost;
  return [
    style.bold('Limits and cost'),
    `  longest it can take: ${duration(b.longestSeconds)} of the ${duration(b.limitSeconds)} a rollout may run (Step Functions ends an execution after a year)`,
    `    the longest stage, ${longest + 1} (${w.weight} %): ${w.parts.map((p) => `${p.what} ${duration(p.seconds)}`).join(' + ')}`,
    `  runs in segments (child executions) of at most ${count(b.eventsPerSegment / 9)} steps, about ${count(b.eventsPerSegment)} of the 25,000 history events an execution may have; ${b.segmentsPerDay.toFixed(1)} a day at one check every ${duration(config.checkIntervalSeconds)}`,
    `  a day of checks costs about ${usd(c.usd.total)} (us-east-1 list prices): ${count(c.stateTransitions)} state transitions (${usd(c.usd.stepFunctions)}), ` +
      `${count(c.metricsRequested)} GetMetricData metrics (${usd(c.usd.getMetricData)}), ${count(c.lambdaInvocations)} Lambda invocations (${usd(c.usd.lambda)}), ` +
      `${count(c.dynamoWriteUnits)} DynamoDB write units (${usd(c.usd.dynamodb)}), ${count(c.s3Puts)} S3 PUTs (${usd(c.usd.s3)})`,
  ];
}
