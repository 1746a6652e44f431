/** What an incident says, built from a rollout's decision. Pure: the adapters deliver it. */
import type { Decision } from './rollout-record.ts';

export interface Incident {
  /** De-duplication key: one incident per rollout on every target. */
  dedupKey: string;
  rolloutId: string;
  service: string;
  target: string;
  severity: 'critical' | 'error' | 'warning';
  title: string;
  /** Plain text, a person reads it in one glance. */
  summary: string;
  decision: Decision;
  consoleLink?: string;
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
}): Incident {
  const { decision } = args;
  const stage = `stage ${decision.stageIndex + 1} (${decision.weight} % canary)`;
  const critical = decision.failing.some((m) => m.critical);
  const lines = [
    `Canary rollout ${args.rolloutId} of ${args.service} was rolled back at ${stage} on ${decision.at}.`,
    `Traffic target: ${args.target}. Traffic is back at 100 % baseline.`,
    '',
    'Why:',
    ...decision.reasons.map((r) => `- ${r}`),
  ];
  if (args.consoleLink) lines.push('', `Execution: ${args.consoleLink}`);
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
  };
}
