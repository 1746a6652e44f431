/** What an incident says, built from a rollout's decision. Pure: the adapters deliver it. */
import type { Decision } from './rollout-record.ts';
import { hookResultLine, type HookResult } from './verification.ts';

export interface Incident {
  /** De-duplication key: one incident per rollout (or per soak breach) on every target. */
  dedupKey: string;
  /** The rollout it is about; `soak-<name>` for a soak check's incident. */
  rolloutId: string;
  service: string;
  target: string;
  severity: 'critical' | 'error' | 'warning';
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
  kind: 'RECOVERED' | 'ESCALATED' | 'RESOLVED';
  at: string;
  /** One or a few lines a person reads: what changed and why. */
  note: string;
  /** The incident's new severity (ESCALATED). */
  severity?: Incident['severity'];
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

export function buildIncident(args: {
  rolloutId: string; service: string; target: string; decision: Decision; consoleLink?: string;
  evidenceLink?: string; reportCommand?: string; hooks?: HookResult[];
}): Incident {
  const { decision } = args;
  const stage = `stage ${decision.stageIndex + 1} (${decision.weight} % canary)`;
  // Critical only when a critical metric actually failed (not when it merely lacked data).
  const critical = decision.failing.some((m) => m.critical && m.verdict === 'FAIL');
  const lines = [
    `Canary rollout ${args.rolloutId} of ${args.service} was rolled back at ${stage} on ${decision.at}.`,
    `Traffic target: ${args.target}. Traffic is back at 100 % baseline.`,
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
    severity: critical ? 'critical' : 'error',
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
