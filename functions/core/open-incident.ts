/**
 * Opens the incident of a rollback at least once and, in the normal course, exactly once: the
 * record's `incident` is set only after delivery, so a step that dies before delivering
 * retries it; one that dies after delivering but before recording re-sends the same incident
 * (same dedup key, which PagerDuty and OpsCenter collapse and SNS subscribers can use).
 */
import { targetKey, type RolloutConfig } from './config.ts';
import { buildIncident } from './incident.ts';
import type { Deps } from './ports.ts';
import type { Decision } from './rollout-record.ts';

export async function openIncidentOnce(deps: Deps, args: {
  rolloutId: string; config: RolloutConfig; decision: Decision; executionArn?: string;
}): Promise<void> {
  const record = await deps.rollouts.get(args.rolloutId);
  if (record?.incident) return;
  const incident = buildIncident({
    rolloutId: args.rolloutId, service: args.config.name, target: targetKey(args.config.target), decision: args.decision,
    consoleLink: args.executionArn && deps.consoleLink ? deps.consoleLink(args.executionArn) : undefined,
    evidenceLink: deps.evidence?.locationOf?.(args.rolloutId),
    reportCommand: deps.reportCommand?.(args.rolloutId),
    hooks: record?.hooks?.filter((h) => h.moment === 'afterRollback'),
  });
  const deliveries = await deps.incidents.open(incident, args.config.incident);
  const failed = deliveries.filter((d) => !d.ok);
  if (failed.length) deps.log.error('incident delivery failed on some targets', { failed });
  const at = deps.clock.now().toISOString();
  const severity = { severity: incident.severity, ...(incident.severityReason ? { severityReason: incident.severityReason } : {}) };
  await deps.rollouts.update(args.rolloutId, { incident: { dedupKey: incident.dedupKey, openedAt: at, deliveries, severity: incident.severity } }, [{ type: 'INCIDENT', at, deliveries, ...severity }]);
}
