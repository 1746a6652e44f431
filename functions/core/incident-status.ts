/**
 * Status updates of an open incident on a cadence (the playbooks: "commit to a follow-up status
 * update in exactly 15 minutes"): after a rollback opened an incident, every
 * `incident.statusUpdateEvery` (default 15 min) until the service is verified recovered or the
 * recovery watch ends, each saying what changed since the last one. Pure: when one is due, what
 * it says, and what the next one compares against. The recovery step sends them
 * (core/recovery.ts), claiming each on the rollout's head before sending it.
 */
import { formatValue, type Judgement, type Verdict } from './judge.ts';
import type { JudgeMetric, RolloutConfig } from './config.ts';

export const DEFAULT_STATUS_UPDATE_SECONDS = 900;

/**
 * The latest status update, as the rollout's head keeps it: its number (the claim that keeps a
 * retried step from sending it twice) and what it said, for the next one to compare with.
 */
export interface IncidentUpdateRef {
  /** 1 for the first update after the incident opened; update n is due n cadences after the open. */
  seq: number;
  /** When it was claimed, just before it was sent. */
  at: string;
  traffic: 'ROLLING_BACK' | 'RESTORED';
  /** The baseline's verdict it reported, and the value of each metric that was not PASS then (absent: not judged yet). */
  verdict?: Verdict;
  values?: Record<string, number | null>;
  /**
   * Set once its deliveries were recorded (an INCIDENT_UPDATE event). A claim without it is one
   * whose step died between the claim and the record: whether it reached the targets is unknown.
   */
  recorded?: boolean;
}

/** Seconds between two status updates of the rollout's incident; 0: none. */
export function statusUpdateSeconds(config: Pick<RolloutConfig, 'incident'>): number {
  // Read loosely: a rollout started before the field existed carries a config without it.
  const seconds = (config.incident as { statusUpdateEverySeconds?: number } | undefined)?.statusUpdateEverySeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds : DEFAULT_STATUS_UPDATE_SECONDS;
}

/**
 * The update due at `now` (the number of whole cadences since the incident opened; 0: none yet)
 * and when the next one falls due. Update n is due at openedAt + n × cadence, whatever time the
 * earlier ones went out: a late step does not push the schedule back.
 */
export function statusSchedule(openedAt: string, cadenceSeconds: number, now: Date): { due: number; nextAt: Date } {
  const opened = Date.parse(openedAt);
  const cadenceMs = cadenceSeconds * 1000;
  const due = Math.max(0, Math.floor((now.getTime() - opened) / cadenceMs));
  return { due, nextAt: new Date(opened + (due + 1) * cadenceMs) };
}

const clock = (iso: string | Date, seconds = false) => {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return `${d.toISOString().slice(11, seconds ? 19 : 16)} UTC`;
};
const every = (s: number) => (s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`);

export interface StatusFacts {
  seq: number;
  now: Date;
  cadenceSeconds: number;
  /** The rollback's weight change: in effect everywhere at `restoredAt`, or not yet. */
  traffic: { state: 'ROLLING_BACK' } | { state: 'RESTORED'; restoredAt: string };
  /** The judgement of the baseline this step made (absent: none yet, the first window is not complete). */
  judgement?: Judgement;
  window?: { start: string; end: string };
  metrics: Pick<JudgeMetric, 'name' | 'unit'>[];
  /** When the recovery watch ends (not recovered by then: escalated). */
  deadline: string;
  /** When the next update falls due. */
  nextAt: Date;
  previous?: IncidentUpdateRef | null;
}

/** What the update says (a few lines), and what the head keeps of it for the next one. */
export function buildStatusUpdate(f: StatusFacts): { note: string; ref: IncidentUpdateRef } {
  const lines = [`Status update ${f.seq} (every ${every(f.cadenceSeconds)}) at ${clock(f.now)}.`];
  if (f.traffic.state === 'ROLLING_BACK') {
    lines.push('Traffic: still rolling back: the weight change back to 100 % baseline is not in effect everywhere yet.');
  } else if (f.previous?.traffic === 'RESTORED') {
    lines.push(`Traffic: unchanged, 100 % baseline since ${clock(f.traffic.restoredAt, true)}.`);
  } else {
    lines.push(`Traffic: restored, 100 % baseline since ${clock(f.traffic.restoredAt, true)} (the rollback is in effect everywhere).`);
  }
  const values: Record<string, number | null> = {};
  const j = f.judgement;
  if (!j) {
    lines.push('Recovery: not judged yet: the first complete CloudWatch window after the rollback is not in.');
  } else {
    const unhealthy = j.metrics.filter((m) => m.verdict !== 'PASS');
    for (const m of unhealthy) values[m.name] = m.canaryValue;
    const where = f.window ? ` (window ${clock(f.window.start)} to ${clock(f.window.end)})` : '';
    lines.push(j.verdict === 'FAIL'
      ? `Recovery: not yet recovered: the baseline is still outside its thresholds${where}:`
      : `Recovery: not yet verified: the baseline could not be judged healthy${where} (no data is not a pass):`);
    for (const m of unhealthy) lines.push(`- ${m.reason}`);
    const unit = (name: string) => f.metrics.find((m) => m.name === name)?.unit ?? 'none';
    // What changed since the last update: the metrics outside their thresholds then and now.
    const before = f.previous?.values;
    if (before) {
      const fmt = (name: string, v: number | null | undefined) => formatValue(v ?? null, unit(name));
      const changed = [
        ...Object.entries(values).filter(([name, v]) => !(name in before) || before[name] !== v)
          .map(([name, v]) => (name in before ? `${name} ${fmt(name, before[name])} → ${fmt(name, v)}` : `${name} now outside (${fmt(name, v)})`)),
        ...Object.keys(before).filter((name) => !(name in values))
          .map((name) => `${name} back within its thresholds (${fmt(name, j.metrics.find((m) => m.name === name)?.canaryValue)})`),
      ];
      lines.push(`Since update ${f.previous!.seq}: ${changed.join('; ') || 'no change'}.`);
    }
  }
  if (f.previous && !f.previous.recorded) {
    lines.push(`(Update ${f.previous.seq} may not have reached every target: its step was interrupted after claiming it.)`);
  }
  const nextText = f.nextAt.getTime() < Date.parse(f.deadline)
    ? `the next update by ${clock(f.nextAt)}, sooner if recovery is verified; the watch ends at ${clock(f.deadline)} (escalated if not recovered by then).`
    : `the watch ends at ${clock(f.deadline)}: recovery verified before then, or escalated then.`;
  lines.push(`Next: ${nextText}`);
  const ref: IncidentUpdateRef = {
    seq: f.seq, at: f.now.toISOString(), traffic: f.traffic.state === 'RESTORED' ? 'RESTORED' : 'ROLLING_BACK',
    ...(j ? { verdict: j.verdict, values } : f.previous?.values ? { verdict: f.previous.verdict, values: f.previous.values } : {}),
  };
  return { note: lines.join('\n'), ref };
}
