/**
 * The operator controls a person uses on a rollout besides abort and a gate's answer: `canary
 * promote --full`, `pause`, `resume` and `retry`. The CLI writes each as a request on the
 * rollout's head (a conditional write, with an event saying who, why and when); the workflow acts
 * on it at its next step (rollout-steps.ts). This file says which requests a rollout can take as it
 * is, and why not: both stores (DynamoDB, memory) refuse with these words, so the CLI's message is
 * the same whatever refused it. Pure.
 */
import { buildIncident, cleanText, type Incident } from './incident.ts';
import type { ControlAction, RolloutRecord } from './rollout-record.ts';

/** How long a pause holds at most: then the rollout resumes by itself (recorded). The approval timeout's upper bound. */
export const PAUSE_MAX_SECONDS = 30 * 86_400;
/** How long a halted rollout waits for a person at most: then it rolls back (HALT_TIMEOUT). The approval timeout's upper bound. */
export const HALT_MAX_SECONDS = 30 * 86_400;
/** How often a halted rollout looks for a person's answer. */
export const HALT_POLL_SECONDS = 60;

const closedWords: Record<string, string> = {
  PROMOTED: 'was promoted', ROLLED_BACK: 'was rolled back', ROLLBACK_FAILED: 'ended ROLLBACK_FAILED',
};

/** Why `record` cannot take `action` now (one sentence with what to do instead), or null when it can. */
export function controlRefusal(record: RolloutRecord, action: ControlAction): string | null {
  const id = record.rolloutId;
  const ended = closedWords[record.status];
  const verb = { PROMOTE: 'promote', PAUSE: 'pause', RESUME: 'resume' }[action];
  if (ended) return `rollout ${id} ${ended} and has ended: there is nothing to ${verb}${record.status === 'PROMOTED' ? '' : ` (start it again with canary retry ${id})`}`;
  if (record.status === 'ROLLING_BACK') return `rollout ${id} is rolling back: a rollback is never paused, promoted or resumed; once it has ended, canary retry ${id} starts it again`;
  const by = (r: { by: string; at: string }) => `by ${r.by} at ${r.at}`;
  switch (action) {
    case 'PROMOTE':
      if (record.abortRequested) return `rollout ${id} was asked to abort at ${record.abortRequested.at}: it rolls back, it cannot be promoted`;
      if (record.promoteRequested) return `rollout ${id} was already asked to promote ${by(record.promoteRequested)}: it goes to 100 % at its next step`;
      return null;
    case 'PAUSE':
      if (record.status === 'HALTED') return `rollout ${id} is HALTED: its weights are already frozen and it waits for a person: canary resume ${id}, canary promote ${id} --full, or canary abort ${id}`;
      if (record.paused) return `rollout ${id} is already paused (${by(record.paused)}): canary resume ${id} goes on`;
      if (record.promoteRequested) return `rollout ${id} was asked to promote ${by(record.promoteRequested)}: it is going to 100 %, there is nothing to pause`;
      return null;
    case 'RESUME':
      if (record.status === 'HALTED') {
        if (record.abortRequested) return `rollout ${id} was asked to abort at ${record.abortRequested.at}: it rolls back`;
        if (record.promoteRequested) return `rollout ${id} was asked to promote ${by(record.promoteRequested)}: it goes to 100 %`;
        if (record.resumeRequested) return `rollout ${id} was already asked to resume ${by(record.resumeRequested)}: it goes on judging at its next step`;
        return null;
      }
      if (!record.paused) return `rollout ${id} is ${record.status === 'RUNNING' ? 'running, not paused or halted' : record.status}: there is nothing to resume`;
      return null;
  }
}

/** Why `record` cannot be retried now, or null when it can: only a rollout that was rolled back (or aborted) and not retried yet. */
export function retryRefusal(record: RolloutRecord): string | null {
  const id = record.rolloutId;
  if (record.status === 'PROMOTED') return `rollout ${id} was promoted: there is nothing to retry (start a new rollout with canary start)`;
  if (record.status === 'RUNNING' || record.status === 'ROLLING_BACK' || record.status === 'HALTED') {
    return `rollout ${id} is still ${record.status === 'ROLLING_BACK' ? 'rolling back' : record.status === 'HALTED' ? 'HALTED (waiting for a person)' : 'running'}: retry it once it has rolled back (canary abort ${id} rolls it back)`;
  }
  if (record.retriedBy) return `rollout ${id} was already retried as ${record.retriedBy}: retry that one instead (canary retry ${record.retriedBy})`;
  if (!record.config) return `rollout ${id} has no config on its record (written by an older version): start it again with canary start FILE`;
  return null;
}

/**
 * The incident of a halt (onFailure: halt): what a rollback's says (incident.ts builds it, the
 * same dedup key and severity), but titled and worded for a rollout that is frozen and waits for a
 * person, with the three answers and the deadline.
 */
export function haltIncident(args: Parameters<typeof buildIncident>[0] & { deadline: string }): Incident {
  const base = buildIncident(args);
  const d = args.decision;
  const id = args.rolloutId;
  const stage = `stage ${d.stageIndex + 1} (${d.weight} % canary)`;
  const lines = [
    `Canary rollout ${id} of ${args.service} is HALTED at ${stage} since ${d.at}: a check failed and the rollout's onFailure is halt,`,
    `so the weights are frozen (canary ${d.weight} %, baseline ${100 - d.weight} %) and nothing moves until a person decides.`,
    `Traffic target: ${args.target}.`,
    '',
    'Why:',
    ...d.reasons.map((r) => `- ${r}`),
    '',
    `Decide (without an answer by ${args.deadline} the rollout rolls back on its own):`,
    `- canary abort ${id} --reason "..."          roll the whole shift back to 100 % baseline`,
    `- canary promote ${id} --full --reason "..."  send the canary to 100 % now (forward mitigation)`,
    `- canary resume ${id}                        judge ${stage} again from now, at the frozen weight`,
  ];
  if (args.consoleLink) lines.push('', `Execution: ${args.consoleLink}`);
  if (args.reportCommand || args.evidenceLink) lines.push('');
  if (args.reportCommand) lines.push(`Report (timeline, charts): ${args.reportCommand}`);
  if (args.evidenceLink) lines.push(`Evidence (every check's datapoints and verdicts): ${args.evidenceLink}`);
  return {
    ...base,
    title: cleanText(`Canary HALTED: ${args.service} at ${stage}, waiting for a person: ${d.reasons[0] ?? 'see details'}`.replace(/\s+/g, ' '), 200),
    summary: cleanText(lines.join('\n'), 8000),
  };
}
