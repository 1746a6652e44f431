/**
 * Writing a rollout's evidence (checks' raw datapoints and judgements, record snapshots) from
 * the steps. Best effort by design: the evidence store is written before the record moves on and
 * before a rollback touches traffic, but a failure to store is logged and noted in the record,
 * never allowed to hold back the rollout's next move, least of all restoring the baseline (the
 * rollout record in DynamoDB holds every check's verdicts and the decision either way).
 */
import type { Deps, EvidencePort } from './ports.ts';
import type { RolloutEvent } from './rollout-record.ts';

/** Runs one write to the evidence store, if there is one; false when it failed (logged). */
export async function storeEvidence(deps: Deps, what: string, put: (evidence: EvidencePort) => Promise<void>): Promise<boolean> {
  if (!deps.evidence) return true;
  try {
    await put(deps.evidence);
    return true;
  } catch (error) {
    deps.log.error(`could not store the evidence of ${what}`, { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    return false;
  }
}

/** The record's note that some evidence is missing, and why to look in the step's log. */
export const evidenceNote = (now: Date, what: string): RolloutEvent =>
  ({ type: 'NOTE', at: now.toISOString(), message: `the evidence of ${what} could not be stored (see the step's log)` });

/** Stores a snapshot of the whole rollout record with the evidence; a failure is noted in the record. */
export async function snapshotRecord(rolloutId: string, deps: Deps, when: string): Promise<void> {
  if (!deps.evidence) return;
  const stored = await storeEvidence(deps, `the record ${when}`, async (evidence) => {
    const record = await deps.rollouts.history(rolloutId);
    if (record) await evidence.putRecord(rolloutId, record);
  });
  if (!stored) await deps.rollouts.update(rolloutId, {}, [evidenceNote(deps.clock.now(), `the record ${when}`)]).catch(() => undefined);
}
