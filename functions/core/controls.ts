/**
 * The operator controls a person uses on a rollout besides abort and a gate's answer: `canary
 * promote --full`, `pause`, `resume` and `retry`. The CLI writes each as a request on the
 * rollout's head (a conditional write, with an event saying who, why and when); the workflow acts
 * on it at its next step (rollout-steps.ts). This file says which requests a rollout can take as it
 * is, and why not: both stores (DynamoDB, memory) refuse with these words, so the CLI's message is
 * the same whatever refused it. Pure.
 */
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
