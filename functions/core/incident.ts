/** What an incident says, built from a rollout's decision. Pure: the adapters deliver it. */
import type { MetricVerdict } from './judge.ts';
import type { Decision } from './rollout-record.ts';
import { hookResultLine, type HookResult } from './verification.ts';

/**
 * How loudly an incident calls: `critical` pages (PagerDuty high urgency, OpsCenter one level
 * above the configured severity), `error` is an incident someone looks at today, `warning` tells
 * the team without waking anyone (traffic is already back on the baseline and nothing failed).
 */
export type Severity = 'critical' | 'error' | 'warning';

export interface Incident {
  /** De-duplication key: one incident per rollout (or per soak breach) on every target. */
  dedupKey: string;
  /** The rollout it is about; `soak-<name>` for a soak check's incident. */
  rolloutId: string;
  service: string;
  target: string;
  severity: Severity;
  /** Why this severity, one line (the cause: see severityOf). */
  severityReason?: string;
  title: string;
  /** Plain text, a person reads it in one glance. */
  summary: string;
  /** The rollout's decision; absent on a soak check's incident. */
  decision?: Decision;
  /** What raised it: a rollout's rollback (the default) or a scheduled soak check. */
  source?: 'rollout' | 'soak';
  /** Why, one line each, when there is no decision (soak checks). */
  reasons?: string[];
  consoleLink?: string;
  /** Where the rollout's evidence is stored (checks' raw data, record snapshots). */
  evidenceLink?: string;
  /** The command that prints the rollout's report and writes it as HTML. */
  reportCommand?: string;
  /** The afterRollback hooks started for evidence capture: ids, statuses, outputs. */
  hooks?: HookResult[];
}

/**
 * A later change to an opened incident, sent to every target that supports it under the same
 * dedup key: RECOVERED (the service is healthy again after the rollback), ESCALATED (it is not:
 * a second, more severe notification), RESOLVED (a soak breach is over).
 */
export interface IncidentChange {
  kind: 'RECOVERED' | 'ESCALATED' | 'RESOLVED' | 'STATUS';
  at: string;
  /** One or a few lines a person reads: what changed and why. */
  note: string;
  /** The incident's new severity (ESCALATED). */
  severity?: Incident['severity'];
  /** STATUS: the update's number (1 is the first after the incident opened); its de-duplication id. */
  seq?: number;
}

export interface IncidentDelivery {
  target: 'sns' | 'opscenter' | 'pagerduty' | 'slack';
  ok: boolean;
  attempts: number;
  /** Id the target gave the incident (SNS message id, OpsItem id, PagerDuty dedup key). */
  id?: string;
  error?: string;
}

/**
 * Printable text only: control characters (C0, DEL and C1) are dropped but for line feeds, tabs
 * become spaces, and the length is bounded.
 */
export function cleanText(text: string, max = 1000): string {
  const cleaned = text.replace(/\t/g, ' ').replace(/[^\P{Cc}\n]/gu, '');
  return cleaned.length > max ? `${cleaned.slice(0, max - 1)}…` : cleaned;
}

/**
 * OpsCenter's severity (1 highest, 4 lowest) for an incident's: the configured one is an error's,
 * a critical incident one level above it, a warning one level below (the default 2: 1, 2, 3).
 */
export function opsCenterSeverity(severity: Severity, configured: '1' | '2' | '3' | '4'): '1' | '2' | '3' | '4' {
  const base = Number(configured);
  const level = severity === 'critical' ? Math.max(1, base - 1) : severity === 'warning' ? Math.min(4, base + 1) : base;
  return String(level) as '1' | '2' | '3' | '4';
}

/** A verdict's name as a person reads it among the causes. */
const names = (ms: MetricVerdict[]) => [...new Set(ms.map((m) => m.name))].join(', ');

/**
 * The severity of a rollback's incident, by its cause (the README's table):
 * - critical: a critical metric or a critical verification check FAILED;
 * - error: any other FAIL (a metric, a verification check, throughput), a possible regression
 *   the judge could neither confirm nor rule out before the bake extension ran out, a failure
 *   of ours (ERROR, SAFETY_NET), the traffic target changed outside the rollout (DRIFT), or a
 *   cause we cannot tell (never downgraded on a guess);
 * - warning: the stage could not be judged (no data, too little data, too noisy: the
 *   inconclusive limit or the bake extension ran out), the canary was starved of traffic
 *   ("traffic did not move": the traffic-share gate), a manual gate or a beforeShift gate timed
 *   out without any check failing. Nothing was found wrong with the canary, and traffic is back.
 * Rollbacks a person asked for (abort, reject, a manual rollback) open no incident at all.
 */
export function severityOf(decision: Decision): { severity: Severity; reason: string } {
  const failed = decision.failing.filter((m) => m.verdict === 'FAIL');
  const critical = failed.filter((m) => m.critical);
  if (critical.length > 0) return { severity: 'critical', reason: `critical: ${names(critical)} failed (a critical check)` };
  // The traffic-share verdict is the starved-canary gate's: traffic did not follow the weight.
  const realFailures = failed.filter((m) => m.name !== 'traffic-share');
  if (realFailures.length > 0) return { severity: 'error', reason: `error: ${names(realFailures)} failed` };
  switch (decision.trigger) {
    case 'ERROR': return { severity: 'error', reason: 'error: the workflow failed and rolled back to be safe' };
    case 'SAFETY_NET': return { severity: 'error', reason: 'error: the rollout\'s execution ended without finishing' };
    case 'DRIFT': return { severity: 'error', reason: 'error: the traffic target was changed outside the rollout' };
    case 'APPROVAL_TIMEOUT': return { severity: 'warning', reason: 'warning: a manual gate got no answer in time; nothing failed' };
    case 'GATE': return { severity: 'warning', reason: 'warning: a beforeShift gate stayed shut past its bound; no check failed' };
    default: break;
  }
  const unsure = decision.failing.filter((m) => m.verdict === 'INCONCLUSIVE');
  const doubt = unsure.filter((m) => m.cause === 'unconfirmed' || m.cause === 'suspected-change');
  if (doubt.length > 0) return { severity: 'error', reason: `error: a possible regression of ${names(doubt)} was never confirmed or ruled out` };
  const starved = failed.length > 0;
  if (starved || unsure.length > 0) {
    const why = [starved ? 'traffic did not follow the weight (a starved canary)' : '', unsure.length ? `too little data to judge ${names(unsure)}` : ''].filter(Boolean);
    return { severity: 'warning', reason: `warning: the stage could not be judged: ${why.join('; ')}; nothing failed` };
  }
  return { severity: 'error', reason: 'error: rolled back (cause not classified)' };
}

export function buildIncident(args: {
  rolloutId: string; service: string; target: string; decision: Decision; consoleLink?: string;
  evidenceLink?: string; reportCommand?: string; hooks?: HookResult[];
}): Incident {
  const { decision } = args;
  const stage = `stage ${decision.stageIndex + 1} (${decision.weight} % canary)`;
  // Critical only when a critical metric actually failed (not when it merely lacked data).
  const { severity, reason } = severityOf(decision);
  const lines = [
    `Canary rollout ${args.rolloutId} of ${args.service} was rolled back at ${stage} on ${decision.at}.`,
    `Traffic target: ${args.target}. Traffic is back at 100 % baseline.`,
    `Severity ${reason}.`,
    '',
    'Why:',
    ...decision.reasons.map((r) => `- ${r}`),
  ];
  if (args.hooks?.length) {
    lines.push('', 'Evidence capture (afterRollback hooks, started once traffic was back):');
    for (const h of args.hooks) {
      lines.push(`- ${hookResultLine(h)}`);
      if (h.output) lines.push(`  output: ${h.output.replace(/\s+/g, ' ').slice(0, 300)}`);
    }
  }
  if (args.consoleLink) lines.push('', `Execution: ${args.consoleLink}`);
  if (args.reportCommand || args.evidenceLink) lines.push('');
  if (args.reportCommand) lines.push(`Report (timeline, charts, post-incident summary): ${args.reportCommand}`);
  if (args.evidenceLink) lines.push(`Evidence (every check's datapoints and verdicts): ${args.evidenceLink}`);
  return {
    dedupKey: `canary-rollout-${args.rolloutId}`,
    rolloutId: args.rolloutId,
    service: args.service,
    target: args.target,
    severity,
    severityReason: reason,
    // One line: a reason may span several.
    title: cleanText(`Canary rollback: ${args.service} at ${stage}: ${decision.reasons[0] ?? 'see details'}`.replace(/\s+/g, ' '), 200),
    summary: cleanText(lines.join('\n'), 8000),
    decision,
    consoleLink: args.consoleLink,
    evidenceLink: args.evidenceLink,
    reportCommand: args.reportCommand,
    ...(args.hooks?.length ? { hooks: args.hooks } : {}),
  };
}
