/**
 * Recovery verification: after a rollback, the workflow keeps watching the baseline (now taking
 * all the traffic) for `config.recovery.watchSeconds`. Back within its thresholds, the incident
 * is updated RECOVERED; still unhealthy (or unknown: no data is not a pass) when the watch ends,
 * it is ESCALATED: a second, more severe notification, because the rollback did not fix it.
 *
 * One step, run in a Wait → Task → Choice loop after Conclude on the rollback path: it returns
 * `next: 'WAIT_RECOVERY'` with `wait.until`, or `next: 'DONE'`. Safe to run twice: the record's
 * RECOVERED / ESCALATED event is written after the incident update and checked before one.
 *
 * While the watch goes on, the incident gets a status update every `incident.statusUpdateEvery`
 * (core/incident-status.ts): the step chooses its next wait so that it runs when one falls due,
 * whatever `recovery.checkInterval` is. Each update is claimed on the rollout's head (one
 * conditional write) before it is sent, and recorded with its deliveries after. That order
 * makes an update at most once: a retried step (a Lambda timeout during a slow webhook, a crash
 * after the sends) finds the claim and sends nothing, where sending first would repeat it to
 * every target, and SNS subscribers and Slack do not de-duplicate. The price is that a step
 * dying between its claim and its sends loses that one update; the next goes out on schedule
 * and says so.
 */
import { targetKey } from './config.ts';
import { judgeBaselineAlone } from './baseline-health.ts';
import { buildIncident, type Incident, type IncidentChange, type IncidentDelivery } from './incident.ts';
import { buildStatusUpdate, statusSchedule, statusUpdateSeconds } from './incident-status.ts';
import type { Judgement, Verdict } from './judge.ts';
import type { Deps } from './ports.ts';
import type { Decision, RolloutRecord } from './rollout-record.ts';
import type { RolloutState } from './rollout-steps.ts';

export type RecoveryNext = 'WAIT_RECOVERY' | 'DONE';

export interface RecoveryProgress {
  /** The rollback's INSYNC plus one TTL: the baseline takes all the traffic from here. */
  since: string;
  /** When the watch ends: not recovered by then, the incident is escalated. */
  deadline: string;
  /** Checks made so far (judgements, not waits). */
  checks: number;
  lastVerdict?: Verdict;
  /** The window of the last judgement. */
  window?: { start: string; end: string };
  /** How the watch ended (absent while it goes on). */
  outcome?: 'RECOVERED' | 'ESCALATED' | 'NOT_WATCHED';
  /** Why it ended NOT_WATCHED. */
  detail?: string;
}

/** The workflow's state with the recovery watch's progress. */
export type RecoveryState = RolloutState & { recovery?: RecoveryProgress };

export const DEFAULT_RECOVERY = { watchSeconds: 900, checkIntervalSeconds: 60 } as const;
/** CloudWatch needs up to a minute after a period ends to aggregate it. */
const AGGREGATION_DELAY_MS = 60_000;
/** The trailing window judged: at least this many periods. */
const MIN_WINDOW_PERIODS = 5;

const iso = (d: Date) => d.toISOString();
const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);
const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;

/** When the rollback's weight change (canary 0) reached INSYNC. */
function rollbackInSyncAt(state: RecoveryState, record: RolloutRecord | null): string | undefined {
  if (state.phase === 'ROLLING_BACK' && state.change?.inSyncAt) return state.change.inSyncAt;
  return record?.lastChange?.canary === 0 ? record.lastChange.inSyncAt : undefined;
}

/**
 * The trailing window judged at `now`: the last `lookback` seconds of complete periods, never
 * before `since`. `ready` once it is a full lookback long (or the watch is over).
 */
export function recoveryWindow(since: Date, now: Date, periodSeconds: number, lookbackSeconds: number): { start: Date; end: Date; ready: boolean } {
  const periodMs = periodSeconds * 1000;
  const first = new Date(Math.ceil(since.getTime() / periodMs) * periodMs);
  const end = new Date(Math.floor((now.getTime() - AGGREGATION_DELAY_MS) / periodMs) * periodMs);
  const start = new Date(Math.max(first.getTime(), end.getTime() - lookbackSeconds * 1000));
  return { start, end: end < start ? start : end, ready: end.getTime() - first.getTime() >= lookbackSeconds * 1000 };
}

function lastIncidentDeliveries(record: RolloutRecord | null): IncidentDelivery[] {
  return record?.incident?.deliveries ?? [];
}

export async function verifyRecovery(state: RecoveryState, deps: Deps): Promise<RecoveryState> {
  const now = deps.clock.now();
  const done = (recovery: RecoveryProgress): RecoveryState => ({ ...state, next: 'DONE', recovery });
  const notWatched = (detail: string) => done({ since: iso(now), deadline: iso(now), checks: 0, ...state.recovery, outcome: 'NOT_WATCHED', detail });

  if (state.outcome !== 'ROLLED_BACK' && state.phase !== 'ROLLING_BACK') return notWatched('the rollout was not rolled back');
  const settings = { ...DEFAULT_RECOVERY, ...state.config.recovery };
  if (settings.watchSeconds === 0) return notWatched('recovery.watchSeconds is 0');

  const record = await deps.rollouts.get(state.rolloutId);
  if (record?.recovery) {
    // A retry of a step that already ended the watch.
    return done({ since: iso(now), deadline: iso(now), checks: 0, ...state.recovery, outcome: record.recovery.outcome });
  }
  if (record && !record.incident) return notWatched('no incident was opened (the rollback was asked for by a person)');

  const inSyncAt = rollbackInSyncAt(state, record) ?? iso(now);
  const since = state.recovery?.since ?? iso(addSeconds(new Date(inSyncAt), state.settleSeconds ?? 60));
  const deadline = state.recovery?.deadline ?? iso(addSeconds(new Date(inSyncAt), settings.watchSeconds));
  const period = state.config.analysisPeriodSeconds;
  const lookback = Math.max(MIN_WINDOW_PERIODS * period, settings.checkIntervalSeconds);
  const overdue = now.getTime() >= Date.parse(deadline);
  const range = recoveryWindow(new Date(since), now, period, lookback);
  const progress: RecoveryProgress = { since, deadline, checks: state.recovery?.checks ?? 0, lastVerdict: state.recovery?.lastVerdict };

  let judgement: Judgement | undefined;
  if ((range.ready || overdue) && range.end > range.start) {
    const window = await deps.metrics.fetchWindow(state.config.metrics, { start: range.start, end: range.end, periodSeconds: period });
    judgement = judgeBaselineAlone(state.config.metrics, window, deps.judge);
    progress.checks++;
    progress.lastVerdict = judgement.verdict;
    progress.window = { start: iso(range.start), end: iso(range.end) };
    deps.log.info('recovery check', {
      verdict: judgement.verdict, window: progress.window, deadline, reasons: judgement.metrics.map((m) => m.reason),
    });
  }

  if (judgement?.verdict === 'PASS') {
    const reasons = judgement.metrics.map((m) => m.reason);
    const note = `The baseline is back within its thresholds ${minutes(now.getTime() - Date.parse(inSyncAt))} after the rollback (window ${progress.window!.start} to ${progress.window!.end}): ${reasons.join('; ')}.`;
    await endWatch(state, record, deps, { kind: 'RECOVERED', at: iso(now), note }, reasons, progress.window!);
    deps.decisionMetrics?.record('RecoveryConfirmed', 1);
    deps.log.info('baseline recovered after the rollback', { reasons });
    return done({ ...progress, outcome: 'RECOVERED' });
  }

  if (overdue) {
    const failing = judgement?.metrics.filter((m) => m.verdict !== 'PASS') ?? [];
    const reasons = failing.length ? failing.map((m) => m.reason) : ['no complete CloudWatch period since the rollback to judge'];
    const how = judgement?.verdict === 'FAIL' ? 'is still unhealthy' : 'could not be confirmed healthy (no data is not a pass)';
    const note = `ESCALATED: the rollback did not fix it. ${minutes(now.getTime() - Date.parse(inSyncAt))} after traffic went back to 100 % baseline, the baseline ${how}: ${reasons.join('; ')}. Look at the service now.`;
    const window = progress.window ?? { start: iso(range.start), end: iso(range.end) };
    await endWatch(state, record, deps, { kind: 'ESCALATED', at: iso(now), note, severity: 'critical' }, reasons, window);
    deps.decisionMetrics?.record('RecoveryEscalated', 1);
    deps.log.error('baseline did not recover after the rollback: incident escalated', { reasons, deadline });
    return done({ ...progress, window, outcome: 'ESCALATED' });
  }

  // A status update of the open incident, when one is due; the next wait never passes the next one's time.
  const cadence = statusUpdateSeconds(state.config);
  const openedAt = record?.incident?.openedAt;
  let nextUpdateAt = Number.POSITIVE_INFINITY;
  if (cadence > 0 && openedAt && record) {
    const schedule = statusSchedule(openedAt, cadence, now);
    nextUpdateAt = schedule.nextAt.getTime();
    const last = record.incidentUpdate;
    if (schedule.due > (last?.seq ?? 0)) {
      await sendStatusUpdate(state, record, deps, {
        seq: schedule.due, now, cadenceSeconds: cadence,
        traffic: rollbackInSyncAt(state, record) ? { state: 'RESTORED', restoredAt: inSyncAt } : { state: 'ROLLING_BACK' },
        ...(judgement ? { judgement, window: progress.window } : {}),
        metrics: state.config.metrics, deadline, nextAt: schedule.nextAt, previous: last ?? null,
      });
    } else if (last && !last.recorded && schedule.due === last.seq) {
      deps.log.warn('a retried step: status update already claimed, not sent again', { seq: last.seq, claimedAt: last.at });
    }
  }

  const until = new Date(Math.min(now.getTime() + settings.checkIntervalSeconds * 1000, Date.parse(deadline), nextUpdateAt));
  return { ...state, next: 'WAIT_RECOVERY', recovery: progress, wait: { until: iso(until) } };
}

/** The incident as Conclude opened it (same dedup key), for its updates. */
function incidentOf(state: RecoveryState, record: RolloutRecord | null, deps: Deps, at: string): Incident {
  const decision: Decision = state.decision ?? record?.decision ?? {
    outcome: 'ROLLED_BACK', at, stageIndex: state.stageIndex, weight: state.weight, failing: [], reasons: ['rolled back'],
  };
  return buildIncident({
    rolloutId: state.rolloutId, service: state.config.name, target: targetKey(state.config.target), decision,
    consoleLink: state.executionArn && deps.consoleLink ? deps.consoleLink(state.executionArn) : undefined,
  });
}

/** Claims the status update on the head, sends it to every target, then records where it went (see the module comment). */
async function sendStatusUpdate(state: RecoveryState, record: RolloutRecord, deps: Deps, facts: Parameters<typeof buildStatusUpdate>[0]): Promise<void> {
  const { note, ref } = buildStatusUpdate(facts);
  if (!(await deps.rollouts.claimIncidentUpdate(state.rolloutId, ref))) {
    deps.log.warn('status update already claimed (a retried step): not sent again', { seq: ref.seq });
    return;
  }
  const change: IncidentChange = { kind: 'STATUS', at: ref.at, seq: ref.seq, note };
  const deliveries = await deps.incidents.update(incidentOf(state, record, deps, ref.at), state.config.incident, change, lastIncidentDeliveries(record));
  const failed = deliveries.filter((d) => !d.ok);
  if (failed.length) deps.log.error('incident status update failed on some targets', { seq: ref.seq, failed });
  await deps.rollouts.update(state.rolloutId, { incidentUpdate: { ...ref, recorded: true } }, [{ type: 'INCIDENT_UPDATE', at: ref.at, seq: ref.seq, note, deliveries }]);
  deps.log.info('incident status update sent', { seq: ref.seq, targets: deliveries.map((d) => d.target) });
}

/** Updates the incident (same dedup key as the one Conclude opened), then records the event. */
async function endWatch(
  state: RecoveryState, record: RolloutRecord | null, deps: Deps, change: IncidentChange, reasons: string[], window: { start: string; end: string },
): Promise<void> {
  // People promised an update every so often learn that these were the last.
  const last = record?.incidentUpdate ? { ...change, note: `${change.note} This ends the status updates (the last was number ${record.incidentUpdate.seq}).` } : change;
  const deliveries = await deps.incidents.update(incidentOf(state, record, deps, change.at), state.config.incident, last, lastIncidentDeliveries(record));
  const failed = deliveries.filter((d) => !d.ok);
  if (failed.length) deps.log.error(`incident ${change.kind} update failed on some targets`, { failed });
  const kind = change.kind === 'RECOVERED' ? 'RECOVERED' : 'ESCALATED';
  await deps.rollouts.update(state.rolloutId, { updatedAt: change.at, recovery: { outcome: kind, at: change.at } }, [{ type: kind, at: change.at, reasons, window, deliveries }]);
}
