/**
 * Scheduled soak checks: analysis-only checks of the live service, run by a schedule. The same
 * judge as a rollout, against the absolute thresholds and, when the config says so, against the
 * same window one day or one week earlier (a time-shifted baseline).
 *
 * A breach opens an incident, de-duplicated so that a long breach is one incident (the open one
 * is kept in the soak's state, `soak#<name>`, claimed with a conditional write); a later healthy
 * check resolves it. An inconclusive check changes nothing. A soak never moves traffic, except
 * in the optional post-promotion window: within `hours` of a promotion on the target, while the
 * old record still exists, a breach moves all traffic back to it (off by default, logged loudly,
 * said in the incident).
 */
import { baselineLabel, targetKey, type RolloutTarget } from './config.ts';
import type { RouterAllowances } from './targets.ts';
import { ConfigValidationError } from './errors.ts';
import { cleanText, type Incident, type IncidentDelivery } from './incident.ts';
import type { MetricData, MetricWindow, Verdict } from './judge.ts';
import type { Deps, SoakOpenIncident, SoakRecord, SoakStore } from './ports.ts';
import {
  COMPARISON_SHIFT_SECONDS, parseSoakConfig, soakJudgeMetrics, soakRolloutMetrics, soakTargetKey,
  type SoakConfig, type SoakParseOptions,
} from './soak-config.ts';

export type SoakDeps = Pick<Deps, 'metrics' | 'judge' | 'incidents' | 'clock' | 'log' | 'traffic' | 'rollouts' | 'decisionMetrics'> & {
  soaks: SoakStore;
};

export type SoakAction = 'NONE' | 'OPENED' | 'STILL_OPEN' | 'RESOLVED';

export interface SoakRollback {
  action: 'ROLLED_BACK' | 'SKIPPED' | 'FAILED';
  detail: string;
  rolloutId?: string;
  changeId?: string;
}

export interface SoakCheckResult {
  name: string;
  at: string;
  verdict: Verdict;
  /** What happened to the soak's incident. */
  action: SoakAction;
  reasons: string[];
  window: { start: string; end: string };
  /** The time-shifted baseline's window, when compared. */
  baselineWindow?: { start: string; end: string };
  incident?: { dedupKey: string; deliveries: IncidentDelivery[] };
  /** Only when post-promotion rollback is enabled and the check failed. */
  rollback?: SoakRollback;
}

/** CloudWatch needs up to a minute after a period ends to aggregate it. */
const AGGREGATION_DELAY_MS = 60_000;
/** Lease of the traffic lock a post-promotion rollback takes (released at once). */
const ROLLBACK_LOCK_SECONDS = 300;
/** Rollouts read to find the latest one on the target. */
const ROLLOUTS_SCANNED = 100;

const iso = (d: Date) => d.toISOString();
const SHIFT_TEXT = { none: '', '1d': 'one day', '7d': 'one week' } as const;

export const soakIncidentKey = (name: string, openedAt: string) => `canary-soak-${name}-${openedAt}`;

function duration(ms: number): string {
  const min = Math.round(ms / 60_000);
  return min < 120 ? `${min} min` : `${(min / 60).toFixed(1)} h`;
}

/** The soak's incident, as opened and as later updated (same dedup key). */
export function buildSoakIncident(config: SoakConfig, open: SoakOpenIncident, details: { window?: { start: string; end: string }; traffic?: string } = {}): Incident {
  const shift = SHIFT_TEXT[config.comparison];
  const lines = [
    `Soak check ${config.name} found the live service outside its limits at ${open.openedAt}` +
      `${details.window ? ` (window ${details.window.start} to ${details.window.end}${shift ? `, compared with the same window ${shift} earlier` : ''})` : ''}.`,
    '',
    'Why:',
    ...open.reasons.map((r) => `- ${r}`),
  ];
  if (details.traffic) lines.push('', `Traffic: ${details.traffic}`);
  lines.push('', 'A soak check that passes again resolves this incident.');
  return {
    dedupKey: open.dedupKey,
    rolloutId: `soak-${config.name}`,
    service: config.name,
    target: soakTargetKey(config) ?? `soak:${config.name}`,
    severity: open.severity,
    title: cleanText(`Soak check failed: ${config.name}: ${open.reasons[0] ?? 'see details'}`.replace(/\s+/g, ' '), 200),
    summary: cleanText(lines.join('\n'), 8000),
    source: 'soak',
    reasons: open.reasons,
  };
}

/** The window judged: `windowSeconds` of complete periods ending at the last aggregated one. */
export function soakWindow(config: SoakConfig, now: Date): { start: Date; end: Date } {
  const periodMs = config.periodSeconds * 1000;
  const end = Math.floor((now.getTime() - AGGREGATION_DELAY_MS) / periodMs) * periodMs;
  const length = Math.ceil(config.windowSeconds / config.periodSeconds) * periodMs;
  return { start: new Date(end - length), end: new Date(end) };
}

export async function runSoakCheck(config: SoakConfig, deps: SoakDeps): Promise<SoakCheckResult> {
  const now = deps.clock.now();
  deps.log.appendKeys?.({ soak: config.name });
  const { start, end } = soakWindow(config, now);
  const periodSeconds = config.periodSeconds;
  const metrics = soakRolloutMetrics(config);
  const shiftMs = COMPARISON_SHIFT_SECONDS[config.comparison] * 1000;

  const current = await deps.metrics.fetchWindow(metrics, { start, end, periodSeconds });
  const past = shiftMs > 0
    ? await deps.metrics.fetchWindow(metrics, { start: new Date(start.getTime() - shiftMs), end: new Date(end.getTime() - shiftMs), periodSeconds })
    : undefined;
  const window: MetricWindow = { periodSeconds, start: iso(start), metrics: {} };
  for (const m of config.metrics) {
    const data: MetricData = { canary: current.metrics[m.name]?.canary ?? { values: [] } };
    if (past) data.baseline = past.metrics[m.name]?.canary ?? { values: [] };
    window.metrics[m.name] = data;
  }
  const judgement = deps.judge.judge(soakJudgeMetrics(config), window);
  const failing = judgement.metrics.filter((m) => m.verdict === 'FAIL');
  const result: SoakCheckResult = {
    name: config.name, at: iso(now), verdict: judgement.verdict, action: 'NONE',
    reasons: (failing.length ? failing : judgement.metrics).map((m) => m.reason),
    window: { start: iso(start), end: iso(end) },
    ...(shiftMs > 0 ? { baselineWindow: { start: iso(new Date(start.getTime() - shiftMs)), end: iso(new Date(end.getTime() - shiftMs)) } } : {}),
  };
  deps.decisionMetrics?.record(`Soak${judgement.verdict[0]}${judgement.verdict.slice(1).toLowerCase()}`, 1);
  deps.log.info('soak check judged', { verdict: judgement.verdict, window: result.window, comparison: config.comparison, reasons: judgement.metrics.map((m) => m.reason) });

  const state = await deps.soaks.get(config.name);
  switch (judgement.verdict) {
    case 'INCONCLUSIVE':
      // No data is not a pass, and not a breach either: the incident stays as it is.
      deps.log.warn('soak check inconclusive: nothing changed', { openIncident: state?.openIncident?.dedupKey });
      return { ...result, action: state?.openIncident ? 'STILL_OPEN' : 'NONE' };
    case 'PASS':
      return state?.openIncident ? resolve(config, state.openIncident, result, deps) : result;
    case 'FAIL':
      return breach(config, state, judgement.criticalFailure, result, deps);
  }
}

async function resolve(config: SoakConfig, open: SoakOpenIncident, result: SoakCheckResult, deps: SoakDeps): Promise<SoakCheckResult> {
  const now = deps.clock.now();
  const incident = buildSoakIncident(config, open);
  const note = `Soak check ${config.name} passed at ${result.at}: the breach found at ${open.openedAt} is over after ${duration(now.getTime() - Date.parse(open.openedAt))}. ${result.reasons.join('; ')}`;
  const deliveries = await deps.incidents.update(incident, config.incident, { kind: 'RESOLVED', at: result.at, note }, open.deliveries ?? []);
  const failed = deliveries.filter((d) => !d.ok);
  if (failed.length) deps.log.error('soak incident RESOLVED update failed on some targets', { failed });
  await deps.soaks.closeIncident(config.name, open.dedupKey, now);
  deps.log.info('soak incident resolved', { dedupKey: open.dedupKey });
  return { ...result, action: 'RESOLVED', incident: { dedupKey: open.dedupKey, deliveries } };
}

async function breach(config: SoakConfig, state: SoakRecord | null, critical: boolean, result: SoakCheckResult, deps: SoakDeps): Promise<SoakCheckResult> {
  const now = deps.clock.now();
  let open = state?.openIncident;
  if (!open) {
    const candidate: SoakOpenIncident = {
      dedupKey: soakIncidentKey(config.name, result.at), openedAt: result.at, reasons: result.reasons, severity: critical ? 'critical' : 'error',
    };
    // Two overlapping runs: one claims, the other finds the claimed one.
    open = (await deps.soaks.claimIncident(config.name, candidate, now)) ? candidate : (await deps.soaks.get(config.name))?.openIncident ?? candidate;
  }

  const rollback = config.postPromotionRollback.enabled ? await postPromotionRollback(config, state, result, deps) : undefined;
  const traffic = rollback?.action === 'ROLLED_BACK'
    ? `this soak check moved all traffic of ${soakTargetKey(config)} back to the previous version (${quotedBaseline(config.postPromotionRollback.target!)}, change ${rollback.changeId}), promoted by rollout ${rollback.rolloutId} less than ${config.postPromotionRollback.hours} h ago.`
    : rollback?.action === 'FAILED' ? `the post-promotion rollback FAILED: ${rollback.detail}` : undefined;

  if (!open.deliveries) {
    // New, or claimed by a run that died before delivering it: (re)open under the same dedup key.
    const incident = buildSoakIncident(config, open, { window: result.window, traffic });
    const deliveries = await deps.incidents.open(incident, config.incident);
    const failed = deliveries.filter((d) => !d.ok);
    if (failed.length) deps.log.error('soak incident delivery failed on some targets', { failed });
    await deps.soaks.updateIncident(config.name, open.dedupKey, { deliveries }, now);
    deps.log.warn('soak breach: incident opened', { dedupKey: open.dedupKey, reasons: result.reasons });
    return { ...result, action: 'OPENED', incident: { dedupKey: open.dedupKey, deliveries }, ...(rollback ? { rollback } : {}) };
  }

  if (traffic) {
    // The breach was already reported; what the soak did to traffic is news.
    const incident = buildSoakIncident(config, open);
    const deliveries = await deps.incidents.update(incident, config.incident, {
      kind: 'ESCALATED', at: result.at, severity: 'critical', note: `Still failing: ${result.reasons.join('; ')}. Traffic: ${traffic}`,
    }, open.deliveries);
    return { ...result, action: 'STILL_OPEN', incident: { dedupKey: open.dedupKey, deliveries }, ...(rollback ? { rollback } : {}) };
  }
  deps.log.info('soak breach continues: incident already open', { dedupKey: open.dedupKey, openedAt: open.openedAt });
  return { ...result, action: 'STILL_OPEN', incident: { dedupKey: open.dedupKey, deliveries: [] }, ...(rollback ? { rollback } : {}) };
}

/**
 * Within `hours` of the last promotion on the target, while the old record exists and holds no
 * traffic yet, sets canary 0 / baseline 100 in one change, under the target's lock (a running
 * rollout holds it: then nothing moves). Never throws: a failure is reported in the result.
 */
async function postPromotionRollback(config: SoakConfig, state: SoakRecord | null, result: SoakCheckResult, deps: SoakDeps): Promise<SoakRollback> {
  const target = config.postPromotionRollback.target as RolloutTarget;
  const old = `old ${baselineLabel(target)}`;
  const key = targetKey(target);
  const skip = (detail: string, rolloutId?: string): SoakRollback => {
    deps.log.info(`post-promotion rollback not done: ${detail}`, { target: key });
    return { action: 'SKIPPED', detail, ...(rolloutId ? { rolloutId } : {}) };
  };
  try {
    const now = deps.clock.now();
    const latest = (await deps.rollouts.list(ROLLOUTS_SCANNED)).find((r) => r.targetKey === key);
    if (!latest) return skip(`no rollout of ${key} on record`);
    if (latest.status !== 'PROMOTED') return skip(`the latest rollout of ${key} (${latest.rolloutId}) is ${latest.status}, not PROMOTED`, latest.rolloutId);
    const promotedAt = latest.decision?.at ?? latest.updatedAt;
    const ageMs = now.getTime() - Date.parse(promotedAt);
    if (!(ageMs <= config.postPromotionRollback.hours * 3_600_000)) {
      return skip(`rollout ${latest.rolloutId} was promoted ${duration(ageMs)} ago, outside the ${config.postPromotionRollback.hours} h window`, latest.rolloutId);
    }
    if (state?.postPromotionRollback?.rolloutId === latest.rolloutId) {
      return skip(`already rolled back after rollout ${latest.rolloutId} (change ${state.postPromotionRollback.changeId})`, latest.rolloutId);
    }
    const reading = await deps.traffic.read(target, latest.routerDefinition);
    // A record removed since the promotion (the old version decommissioned) is not re-created: a
    // restore would send all traffic to whatever it pointed at.
    if (reading.canaryPercent === null) return skip(`the traffic target is not a complete weighted pair any more: ${reading.problems.join('; ')}`, latest.rolloutId);
    if (reading.canaryPercent === 0 && reading.problems.length === 0) return skip(`traffic is already on the ${old}`, latest.rolloutId);
    if (!latest.routerDefinition) return skip(`rollout ${latest.rolloutId} kept no definition of the target to restore`, latest.rolloutId);

    const owner = `soak-${config.name}`;
    const lock = await deps.rollouts.acquireLock(key, owner, ROLLBACK_LOCK_SECONDS, now);
    if (!lock.started) return skip(`rollout ${lock.holder} holds the lock on ${key}`, latest.rolloutId);
    try {
      deps.log.warn(`SOAK POST-PROMOTION ROLLBACK: soak check ${config.name} is moving ALL traffic of ${key} back to the ${old} (promoted by rollout ${latest.rolloutId} ${duration(ageMs)} ago): ${result.reasons.join('; ')}`, {
        target: key, rolloutId: latest.rolloutId, reasons: result.reasons,
      });
      // The traffic target as the promoted rollout's preflight read it, the canary at 0.
      const { changeId } = await deps.traffic.restore(target, latest.routerDefinition);
      await deps.soaks.recordRollback(config.name, { rolloutId: latest.rolloutId, at: iso(now), changeId }, now);
      await deps.rollouts.update(latest.rolloutId, { weight: 0, updatedAt: iso(now) }, [{
        type: 'NOTE', at: iso(now),
        message: `soak check ${config.name}: post-promotion rollback, all traffic back on the ${old} (change ${changeId}): ${result.reasons.join('; ')}`,
      }]);
      deps.decisionMetrics?.record('SoakPostPromotionRollback', 1);
      return { action: 'ROLLED_BACK', detail: `all traffic back on the ${old}`, rolloutId: latest.rolloutId, changeId };
    } finally {
      await deps.rollouts.releaseLock(key, owner);
    }
  } catch (err) {
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    deps.log.error('SOAK POST-PROMOTION ROLLBACK FAILED', { target: key, error: detail });
    return { action: 'FAILED', detail: detail.slice(0, 1000) };
  }
}

/** The previous version's side of a target, as the incident names it: `'blue'` for Route 53 records. */
function quotedBaseline(target: RolloutTarget): string {
  return target.type === undefined || target.type === 'route53' ? `'${target.baselineSetIdentifier}'` : baselineLabel(target);
}

export type SoakRun =
  | ({ status: 'CHECKED' } & SoakCheckResult)
  | { status: 'CONFIG_ERROR'; issues: string[] };

/**
 * The soak check's entry: validates the config (the schedule's input; JSON text is accepted
 * too), then runs the check. An invalid config is logged as a config error naming the field and
 * changes nothing: no metrics read, no state written, no incident.
 */
export async function soakCheckFromInput(input: unknown, deps: Omit<SoakDeps, 'soaks'> & { soaks?: SoakStore; allowedHostedZoneIds?: string[]; routerAllowances?: RouterAllowances }, options: Pick<SoakParseOptions, 'rollbackAllowed'> = {}): Promise<SoakRun> {
  let config: SoakConfig;
  try {
    const parsed = typeof input === 'string' ? JSON.parse(input) as unknown : input;
    config = parseSoakConfig(parsed, { allowedHostedZoneIds: deps.allowedHostedZoneIds, routerAllowances: deps.routerAllowances, ...options });
  } catch (err) {
    const issues = err instanceof ConfigValidationError ? err.issues : [`(config): not valid JSON: ${err instanceof Error ? err.message : String(err)}`];
    deps.log.error(`soak config error, nothing checked: ${issues.join('; ')}`, { issues });
    deps.decisionMetrics?.record('SoakConfigError', 1);
    return { status: 'CONFIG_ERROR', issues };
  }
  if (!deps.soaks) throw new Error('no soak store is wired (Deps.soaks)');
  return { status: 'CHECKED', ...(await runSoakCheck(config, { ...deps, soaks: deps.soaks })) };
}
