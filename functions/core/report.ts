/**
 * The report of a rollout, as data: built from its record (events, decision) and, when stored,
 * every check's raw datapoints (the evidence store). Pure: the terminal and HTML renderers in
 * `cli/report/` draw it; `canary report`, `canary simulate --report` and anything that can
 * produce a record and checks (a backtest) share it.
 *
 * The post-incident summary holds the facts a blameless post-mortem starts from: what happened,
 * when it started showing in the data, when it was detected and decided, when traffic was back
 * on the baseline, and which thresholds fired.
 *
 * One vocabulary for every output that counts or times a rollout (this model, `canary simulate`'s
 * summary and JSON, `canary report`): COUNTED checks (after the bake; they pass, fail or are
 * inconclusive, and decide the stage) apart from BAKE checks (during the bake; only a confident
 * failure acts) and checks WHILE HELD at a gate; failing metrics apart from inconclusive ones;
 * stages numbered from 1 where people read them (`stage`; `stageIndex`/`index` keep the record's
 * 0-based index); one restore time, the rollback's INSYNC as the workflow recorded it.
 */
import { hookResultLine } from './verification.ts';
import type { JudgeMetric } from './config.ts';
import { formatValue, isRatioSeries, type MetricVerdict, type Series, type Verdict } from './judge.ts';
import type { StoredCheck } from './ports.ts';
import type { Decision, DecisionTrigger, RolloutEvent, RolloutHistory } from './rollout-record.ts';

export interface ReportInput {
  record: RolloutHistory;
  /** The stored checks (raw windows and judgements); none for a rollout without evidence. */
  checks?: StoredCheck[];
  /** The metrics' definitions; default: the record's config. */
  metrics?: JudgeMetric[];
  /** Where the data came from, shown in the report (e.g. `stack canary-analyzer`, `simulation error-spike, seed 1`). */
  source?: string;
  /** Where the evidence is stored (e.g. s3://bucket/rollouts/<id>/). */
  evidenceLocation?: string;
  generatedAt?: string;
}

export interface Point {
  /** ISO time: a period's start (raw data) or a check's time (judged values). */
  at: string;
  value: number | null;
}

export interface JudgedPoint {
  checkNo: number;
  at: string;
  stageIndex: number;
  weight: number;
  /** A bake check (only a confident failure acts on it), not a counted one. */
  duringBake?: boolean;
  hold?: boolean;
  verdict: Verdict;
  canaryValue: number | null;
  baselineValue: number | null;
  reason: string;
}

/** How many checks a rollout (or a stage) ran, by kind: see the file's comment. */
export interface CheckCounts {
  /** Counted checks: after the bake, not while held. */
  total: number;
  passed: number;
  failed: number;
  inconclusive: number;
  /** Checks while a stage baked: only a confident failure acts on them. */
  duringBake: { total: number; failed: number };
  /** Checks while the weight was held at a manual gate: they may roll back, never advance. */
  whileHeld: { total: number; failed: number };
}

type CountedCheck = { verdict: Verdict; duringBake?: boolean; hold?: boolean };

/** Counts checks (CHECK events or report rows) the one way every output does. */
export function countChecks(checks: CountedCheck[]): CheckCounts {
  const counted = checks.filter((c) => !c.duringBake && !c.hold);
  const bake = checks.filter((c) => c.duringBake);
  const held = checks.filter((c) => c.hold && !c.duringBake);
  return {
    total: counted.length,
    passed: counted.filter((c) => c.verdict === 'PASS').length,
    failed: counted.filter((c) => c.verdict === 'FAIL').length,
    inconclusive: counted.filter((c) => c.verdict === 'INCONCLUSIVE').length,
    duringBake: { total: bake.length, failed: bake.filter((c) => c.verdict === 'FAIL').length },
    whileHeld: { total: held.length, failed: held.filter((c) => c.verdict === 'FAIL').length },
  };
}

/** `3 counted checks (1 passed, 2 failed, 0 inconclusive) · 8 bake checks (0 failed)`, in every output. */
export function describeCheckCounts(c: CheckCounts): string {
  const parts = [`${c.total} counted check${c.total === 1 ? '' : 's'} (${c.passed} passed, ${c.failed} failed, ${c.inconclusive} inconclusive)`];
  if (c.duringBake.total) parts.push(`${c.duringBake.total} bake check${c.duringBake.total === 1 ? '' : 's'} (${c.duringBake.failed} failed)`);
  if (c.whileHeld.total) parts.push(`${c.whileHeld.total} check${c.whileHeld.total === 1 ? '' : 's'} while held (${c.whileHeld.failed} failed)`);
  return parts.join(' · ');
}

/** The CHECK events of a record, counted (see countChecks). */
export function countCheckEvents(events: RolloutEvent[]): CheckCounts {
  return countChecks(events.filter((e): e is Extract<RolloutEvent, { type: 'CHECK' }> => e.type === 'CHECK'));
}

/**
 * When traffic was back at 100 % baseline: the INSYNC the workflow recorded for the first
 * rollback change (canary 0 %) at or after `after` (the decision). Every output says this one.
 */
export function restoredAtOf(events: RolloutEvent[], after?: string): string | undefined {
  const rollback = events.find((e): e is Extract<RolloutEvent, { type: 'WEIGHTS_SET' }> =>
    e.type === 'WEIGHTS_SET' && e.canary === 0 && (after === undefined || ms(e.at) >= ms(after)));
  const inSync = rollback && events.find((e) => e.type === 'IN_SYNC' && e.changeId === rollback.changeId);
  return inSync?.at;
}

export interface MetricReport {
  name: string;
  kind: JudgeMetric['kind'];
  unit: JudgeMetric['unit'];
  critical: boolean;
  threshold: { max?: number; min?: number };
  baselineMaxIncreasePercent?: number;
  /** `raw`: per-period datapoints from the evidence; `judged`: one value per check (no evidence stored). */
  source: 'raw' | 'judged';
  /** Length of a period of the raw series (each point covers [at, at + period)). */
  periodSeconds?: number;
  /** Per period, oldest first (a ratio is its rate in percent); null where there was no data. */
  canary: Point[];
  baseline: Point[];
  /** What each check judged for this metric. */
  judged: JudgedPoint[];
  /** A check failed this metric. */
  fired: boolean;
  /** The metric is among the final decision's reasons. */
  inDecision: boolean;
  /** A counted check found this metric inconclusive (bake checks' thin data does not count). */
  inconclusiveCounted: boolean;
  /** First canary datapoint beyond an absolute threshold. */
  firstBreach?: { at: string; value: number };
  /** Highest canary datapoint. */
  peak?: { at: string; value: number };
  /** The first check that failed this metric, and the window whose datapoints decided it. */
  decisive?: { checkNo: number; at: string; test?: string; window: { start: string; end: string } };
  /** When that failure was a trend's (a leak): the fitted line and its projection to the threshold. */
  trend?: TrendProjection;
}

/**
 * A trend that failed a metric (test `theil-sen-trend`): the Theil-Sen line through the window's
 * canary datapoints, and where the slowest plausible climb (the slope's lower confidence bound,
 * the rule's criterion) reaches the threshold. Times are period starts, as the points'.
 */
export interface TrendProjection {
  checkNo: number;
  /** The fitted line at the window's first and last canary datapoints. */
  from: { at: string; value: number };
  to: { at: string; value: number };
  slopePerMinute: number;
  slopeLowerPerMinute: number;
  /** Where the slope's lower bound reaches the threshold (`at` = `to.at` when already beyond it). */
  crossing?: { at: string; value: number; limit: 'max' | 'min' };
  reason: string;
}

export interface StageSpan {
  /** 0-based, as in the record; `stage` is the number people read (1 is the first). */
  index: number;
  stage: number;
  weight: number;
  changeId: string;
  setAt: string;
  inSyncAt?: string;
  /** When the next weight change (or the end of the rollout) ended this stage. */
  endAt: string;
  checks: CheckCounts;
}

export type TimelineLevel = 'info' | 'pass' | 'warn' | 'fail';

export interface TimelineEntry {
  at: string;
  /** Seconds since the rollout started. */
  offsetSeconds: number;
  type: RolloutEvent['type'];
  level: TimelineLevel;
  title: string;
  details: string[];
}

export interface CheckRow {
  checkNo: number;
  at: string;
  stageIndex: number;
  /** The stage people read (1 is the first). */
  stage: number;
  weight: number;
  verdict: Verdict;
  /** A bake check: only a confident failure acts on it. */
  duringBake?: boolean;
  /** A check while the weight was held at a gate. */
  hold?: boolean;
  window?: { start: string; end: string };
  metrics: {
    name: string; verdict: Verdict; reason: string; canaryValue: number | null; baselineValue: number | null;
    /** From the stored evidence: the test that decided, and its figures. */
    test?: string; details?: MetricVerdict['details'];
  }[];
  /** The raw datapoints of this check are in the evidence. */
  hasRawData: boolean;
}

export interface FiredThreshold {
  metric: string;
  verdict: Verdict;
  critical: boolean;
  test: string;
  unit: JudgeMetric['unit'];
  threshold: { max?: number; min?: number };
  canaryValue: number | null;
  baselineValue: number | null;
  reason: string;
}

export interface PostIncidentSummary {
  /** What happened, in one or two sentences. */
  headline: string;
  trigger: DecisionTrigger;
  startedAt: string;
  /** First time the canary took traffic. */
  canaryTrafficAt?: string;
  /** Highest canary weight reached (percent). */
  peakWeight: number;
  stage: { index: number; stage: number; weight: number; setAt?: string; inSyncAt?: string };
  /** First canary datapoint beyond an absolute threshold of a metric that fired (raw evidence only). */
  firstBreachAt?: string;
  /**
   * The first bad datapoint: what time to detect counts from. For a threshold, the first canary
   * datapoint of the failing stage beyond it; for a trend (a leak), the first datapoint of the
   * window whose climb was projected; otherwise (a baseline comparison) the first datapoint of
   * the failing window. Raw evidence only.
   */
  firstBad?: { at: string; metric: string; rule: 'threshold' | 'trend' | 'window' };
  /** The first failing (or, for a lack of data, inconclusive) check of the stage that was rolled back. */
  detectedAt: string;
  detectedBy: string;
  decidedAt: string;
  rollback?: { changeId: string; submittedAt: string; inSyncAt?: string };
  /** Traffic back at 100 % baseline on every Route 53 server (resolvers follow within one TTL). */
  restoredAt?: string;
  durations: {
    /** First bad datapoint → detection: the time to detect. */
    timeToDetect?: number;
    /** Stage weight change → detection. */
    stageToDetection?: number;
    /** First breaching datapoint → detection. */
    breachToDetection?: number;
    detectionToDecision: number;
    /** Decision → rollback INSYNC: the time to restore. */
    timeToRestore?: number;
    detectionToRestore?: number;
    /** Canary's first traffic → rollback INSYNC. */
    canaryExposure?: number;
  };
  thresholdsFired: FiredThreshold[];
  /** Metrics that could not be judged when the decision was made. */
  inconclusive: FiredThreshold[];
  reasons: string[];
  checks: CheckCounts;
  incident?: {
    at: string; targets: { target: string; ok: boolean; id?: string; error?: string }[];
    /** By cause (incident.ts severityOf); absent on records written before it. */
    severity?: 'critical' | 'error' | 'warning'; severityReason?: string;
    /** Status updates sent while the recovery watch ran (incident.statusUpdateEvery). */
    statusUpdates: number;
  };
  /** What the service did once back on the baseline: healthy (RECOVERED) or not (ESCALATED). */
  recovery?: { outcome: 'RECOVERED' | 'ESCALATED'; at: string; window: { start: string; end: string }; reasons: string[] };
  /** What is not known, said plainly (a rollback not yet INSYNC, no raw data...). */
  caveats: string[];
}

export interface ReportModel {
  rolloutId: string;
  name: string;
  targetKey: string;
  status: RolloutHistory['status'];
  outcome: Decision['outcome'] | null;
  startedAt: string;
  /** Last event (or the record's last update). */
  endedAt: string;
  durationSeconds: number;
  generatedAt: string;
  source?: string;
  evidenceLocation?: string;
  executionArn?: string;
  stagesPlanned: number[];
  stages: StageSpan[];
  /** `stage`: the decision's stage as people read it (1 is the first). */
  decision: (Decision & { stage: number; offsetSeconds: number }) | null;
  metrics: MetricReport[];
  checks: CheckRow[];
  /** Every check of the rollout, counted the one way (countChecks). */
  checkCounts: CheckCounts;
  timeline: TimelineEntry[];
  summary: PostIncidentSummary | null;
  evidence: { checksRecorded: number; checksWithRawData: number };
}

const ms = (iso: string) => Date.parse(iso);
const seconds = (fromIso: string, toIso: string) => Math.round((ms(toIso) - ms(fromIso)) / 1000);
const isoOf = (t: number) => new Date(t).toISOString();

/** `3 min 12 s`, `45 s`, `2 h 05 min`. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${String(s % 60).padStart(2, '0')} s` : ''}`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h} h${m ? ` ${String(m).padStart(2, '0')} min` : ''}`;
}

/** A series' value per period: a gauge's value, or a ratio's rate in percent (a null numerator beside a denominator is 0). */
export function periodValues(kind: JudgeMetric['kind'], series: Series | undefined): (number | null)[] {
  if (!series) return [];
  if (isRatioSeries(series)) {
    if (kind !== 'ratio') return [];
    const n = Math.max(series.numerator.length, series.denominator.length);
    return Array.from({ length: n }, (_, i) => {
      const d = series.denominator[i];
      if (d === null || d === undefined || !Number.isFinite(d) || d <= 0) return null;
      const num = series.numerator[i];
      return (100 * (num !== null && num !== undefined && Number.isFinite(num) ? num : 0)) / d;
    });
  }
  if (kind !== 'gauge') return [];
  return series.values.map((v) => (v !== null && v !== undefined && Number.isFinite(v) ? v : null));
}

/**
 * Merges the checks' windows into one series per variant. Windows of one stage overlap (each
 * check re-reads the stage from its start), so a period seen twice keeps the later check's value
 * (CloudWatch may have completed it since).
 */
function mergeWindows(metric: JudgeMetric, checks: StoredCheck[]): { canary: Point[]; baseline: Point[] } {
  const byVariant = { canary: new Map<number, number | null>(), baseline: new Map<number, number | null>() };
  for (const check of checks) {
    const start = check.window.start ?? check.range.start;
    const periodMs = check.window.periodSeconds * 1000;
    const data = check.window.metrics[metric.name];
    if (!start || !data || !(periodMs > 0)) continue;
    for (const variant of ['canary', 'baseline'] as const) {
      periodValues(metric.kind, data[variant]).forEach((v, i) => {
        const t = ms(start) + i * periodMs;
        if (v !== null || !byVariant[variant].has(t)) byVariant[variant].set(t, v);
      });
    }
  }
  const toPoints = (m: Map<number, number | null>) => [...m.entries()].sort((a, b) => a[0] - b[0]).map(([t, value]) => ({ at: isoOf(t), value }));
  return { canary: toPoints(byVariant.canary), baseline: toPoints(byVariant.baseline) };
}

function breaches(value: number, threshold: { max?: number; min?: number }): boolean {
  return (threshold.max !== undefined && value > threshold.max) || (threshold.min !== undefined && value < threshold.min);
}

/** `max 1.00 %, min 10.0` */
export function describeThreshold(t: { max?: number; min?: number }, unit: JudgeMetric['unit']): string {
  return [t.max !== undefined ? `max ${formatValue(t.max, unit)}` : '', t.min !== undefined ? `min ${formatValue(t.min, unit)}` : '']
    .filter(Boolean).join(', ');
}

function inferTrigger(decision: Decision): DecisionTrigger {
  if (decision.trigger) return decision.trigger;
  if (decision.reasons.some((r) => r.startsWith('aborted:'))) return 'ABORTED';
  if (decision.failing.length > 0) return 'VERDICT';
  if (decision.outcome === 'PROMOTED') return 'VERDICT';
  if (decision.reasons.some((r) => r.includes('safety net'))) return 'SAFETY_NET';
  return 'ERROR';
}

type CheckEvent = Extract<RolloutEvent, { type: 'CHECK' }>;
type WeightsEvent = Extract<RolloutEvent, { type: 'WEIGHTS_SET' }>;

/** Numbers the record's checks (1, 2, ...) and joins each with its stored evidence. */
function joinChecks(events: RolloutEvent[], stored: StoredCheck[]): CheckRow[] {
  const checkEvents = events.filter((e): e is CheckEvent => e.type === 'CHECK');
  const byNo = new Map(stored.map((c) => [c.checkNo, c]));
  const byAt = new Map(stored.map((c) => [c.at, c]));
  const rows: CheckRow[] = checkEvents.map((e, i) => {
    const s = byNo.get(i + 1)?.at === e.at ? byNo.get(i + 1) : byAt.get(e.at);
    const judged = new Map(s?.judgement.metrics.map((m) => [m.name, m]) ?? []);
    return {
      checkNo: s?.checkNo ?? i + 1, at: e.at, stageIndex: e.stageIndex, stage: e.stageIndex + 1, weight: e.weight, verdict: e.verdict,
      ...(e.duringBake ? { duringBake: true } : {}), ...(e.hold ? { hold: true } : {}),
      window: e.window,
      metrics: e.metrics.map((m) => {
        const stored = judged.get(m.name);
        return { ...m, ...(stored ? { test: stored.test, ...(stored.details ? { details: { ...stored.details } } : {}) } : {}) };
      }),
      hasRawData: Boolean(s),
    };
  });
  // Checks stored but not in the record (a record without events, a backtest): from the evidence alone.
  const seen = new Set(rows.map((r) => r.at));
  for (const s of stored) {
    if (seen.has(s.at)) continue;
    rows.push({
      checkNo: s.checkNo, at: s.at, stageIndex: s.stageIndex, stage: s.stageIndex + 1, weight: s.weight, verdict: s.judgement.verdict, window: s.range,
      metrics: s.judgement.metrics.map(({ name, verdict, reason, canaryValue, baselineValue, test, details }) => ({
        name, verdict, reason, canaryValue, baselineValue, test, ...(details ? { details: { ...details } } : {}),
      })),
      hasRawData: true,
    });
  }
  return rows.sort((a, b) => ms(a.at) - ms(b.at) || a.checkNo - b.checkNo);
}

function stageSpans(events: RolloutEvent[], checks: CheckRow[], endAt: string): StageSpan[] {
  const sets = events.filter((e): e is WeightsEvent => e.type === 'WEIGHTS_SET');
  return sets.map((e, i) => {
    const next = sets[i + 1];
    const end = next?.at ?? endAt;
    const inSync = events.find((x) => x.type === 'IN_SYNC' && x.changeId === e.changeId);
    const mine = checks.filter((c) => ms(c.at) >= ms(e.at) && ms(c.at) < ms(end) + (next ? 0 : 1));
    return {
      index: e.stageIndex, stage: e.stageIndex + 1, weight: e.canary, changeId: e.changeId, setAt: e.at, inSyncAt: inSync?.at, endAt: end,
      checks: countChecks(mine),
    };
  });
}

function timelineOf(record: RolloutHistory, checks: CheckRow[], metricsByName: Map<string, JudgeMetric>): TimelineEntry[] {
  const start = record.startedAt;
  const setAt = new Map<string, string>();
  let checkIndex = 0;
  return record.events.map((e): TimelineEntry => {
    const base = { at: e.at, offsetSeconds: seconds(start, e.at), type: e.type };
    switch (e.type) {
      case 'STARTED':
        return { ...base, level: 'info', title: `rollout started: stages ${e.stages.map((w) => `${w} %`).join(' → ')}`, details: [] };
      case 'WEIGHTS_SET': {
        setAt.set(e.changeId, e.at);
        const rollback = e.canary === 0;
        return {
          ...base, level: rollback ? 'warn' : 'info',
          title: rollback ? `rollback: weights set to canary 0 % / baseline ${e.baseline} %` : `stage ${e.stageIndex + 1}: weights set to canary ${e.canary} % / baseline ${e.baseline} %`,
          details: [`Route 53 change ${e.changeId}`],
        };
      }
      case 'IN_SYNC': {
        const submitted = setAt.get(e.changeId);
        const after = submitted ? ` ${formatDuration(seconds(submitted, e.at))} after it was submitted` : '';
        return {
          ...base, level: e.canary === 0 ? 'pass' : 'info',
          title: e.canary === 0 ? `traffic restored: 100 % baseline INSYNC${after}` : `canary ${e.canary} % INSYNC${after}`,
          details: [`Route 53 change ${e.changeId}`],
        };
      }
      case 'CHECK': {
        const row = checks.find((c) => c.at === e.at) ?? checks[checkIndex];
        checkIndex++;
        const notPass = e.metrics.filter((m) => m.verdict !== 'PASS');
        const shown = notPass.length ? notPass : e.metrics;
        const kind = e.duringBake ? 'bake check' : e.hold ? 'check while held' : 'check';
        return {
          ...base, level: e.verdict === 'PASS' ? 'pass' : e.verdict === 'FAIL' ? 'fail' : e.duringBake ? 'info' : 'warn',
          title: `${kind} #${row?.checkNo ?? checkIndex} at stage ${e.stageIndex + 1} (${e.weight} %): ${e.verdict}`,
          details: shown.map((m) => `${m.verdict === 'PASS' ? '✓' : m.verdict === 'FAIL' ? '✗' : '?'} ${m.reason}${metricsByName.get(m.name)?.critical && m.verdict === 'FAIL' ? ' (critical)' : ''}`),
        };
      }
      case 'DECISION':
        return {
          ...base, level: e.decision.outcome === 'PROMOTED' ? 'pass' : 'fail',
          title: `decision: ${e.decision.outcome.replace(/_/g, ' ')} at stage ${e.decision.stageIndex + 1} (${e.decision.weight} %)`,
          details: [...e.decision.reasons],
        };
      case 'INCIDENT':
        return {
          ...base, level: e.deliveries.every((d) => d.ok) ? 'info' : 'warn',
          title: `incident opened (${e.severity ? `${e.severity}; ` : ''}${e.deliveries.filter((d) => d.ok).length}/${e.deliveries.length} targets)`,
          details: [
            ...(e.severityReason ? [`severity ${e.severityReason}`] : []),
            ...e.deliveries.map(deliveryText),
          ],
        };
      case 'INCIDENT_UPDATE':
        return {
          ...base, level: e.deliveries.every((d) => d.ok) ? 'info' : 'warn',
          title: `incident status update ${e.seq} (${e.deliveries.filter((d) => d.ok).length}/${e.deliveries.length} targets)`,
          details: [...e.note.split('\n').slice(1), ...e.deliveries.map(deliveryText)],
        };
      case 'ABORT_REQUESTED':
        return { ...base, level: 'warn', title: 'abort requested', details: [e.reason] };
      case 'APPROVAL_REQUESTED':
        return { ...base, level: 'info', title: `approval requested for stage ${e.stageIndex + 1} (${e.weight} %)`, details: [`deadline ${e.deadline}`] };
      case 'APPROVAL_ANSWERED':
        return { ...base, level: e.approved ? 'pass' : 'warn', title: `stage ${e.stageIndex + 1} ${e.approved ? 'approved' : 'rejected'} by ${e.by}`, details: e.reason ? [e.reason] : [] };
      case 'RECOVERED':
        return { ...base, level: 'pass', title: 'recovery verified: the service is healthy on the baseline', details: [...e.reasons] };
      case 'ESCALATED':
        return { ...base, level: 'fail', title: 'escalated: the service is still unhealthy after the rollback', details: [...e.reasons] };
      case 'NOTE':
        return { ...base, level: 'info', title: 'note', details: [e.message] };
      case 'GATE':
        return {
          ...base, level: e.open ? 'pass' : 'warn',
          title: `${e.moment} gate ${e.open ? 'open' : 'shut'}${e.moment === 'beforeShift' ? ` before stage ${e.stageIndex + 1} (${e.weight} %)` : ''}`,
          details: e.checks.map((c) => `${c.verdict === 'PASS' ? '✓' : c.verdict === 'FAIL' ? '✗' : '?'} ${c.reason}`),
        };
      case 'HOOKS':
        return {
          ...base, level: e.results.every((r) => r.status !== 'FAILED') ? 'info' : 'warn',
          title: `${e.moment} hooks started (${e.results.filter((r) => r.status !== 'FAILED').length}/${e.results.length})`,
          details: e.results.map(hookResultLine),
        };
      default: {
        const other = e as { type: string };
        return { ...base, type: other.type as RolloutEvent['type'], level: 'info', title: other.type.toLowerCase().replace(/_/g, ' '), details: [] };
      }
    }
  });
}

function firedOf(v: MetricVerdict, unit: JudgeMetric['unit']): FiredThreshold {
  return {
    metric: v.name, verdict: v.verdict, critical: v.critical, test: v.test, unit, threshold: { ...v.threshold },
    canaryValue: v.canaryValue, baselineValue: v.baselineValue, reason: v.reason,
  };
}

const present = (points: Point[]) => points.filter((p): p is { at: string; value: number } => p.value !== null);

/**
 * The first bad canary datapoint behind a failing check (see PostIncidentSummary.firstBad), over
 * the metrics it failed; undefined without raw datapoints. A datapoint counts only if it was in
 * before the check ran.
 */
function firstBadDatapoint(detection: CheckRow, metrics: MetricReport[], stageSetAt: string | undefined): PostIncidentSummary['firstBad'] {
  const candidates: NonNullable<PostIncidentSummary['firstBad']>[] = [];
  for (const verdict of detection.metrics.filter((m) => m.verdict === 'FAIL')) {
    const m = metrics.find((x) => x.name === verdict.name);
    if (!m || m.source !== 'raw') continue;
    const periodMs = (m.periodSeconds ?? 0) * 1000;
    const windowStart = detection.window ? ms(detection.window.start) : -Infinity;
    const windowEnd = detection.window ? ms(detection.window.end) : ms(detection.at);
    const inWindow = present(m.canary).filter((p) => ms(p.at) >= windowStart && ms(p.at) < windowEnd && ms(p.at) <= ms(detection.at));
    if (isTrendTest(verdict.test)) {
      const since = typeof verdict.details?.trendSince === 'string' ? ms(verdict.details.trendSince) : windowStart;
      const first = present(m.canary).find((p) => ms(p.at) >= since && ms(p.at) <= ms(detection.at)) ?? inWindow[0];
      if (first) candidates.push({ at: first.at, metric: m.name, rule: 'trend' });
      continue;
    }
    // A period that began before the stage's weight change is partly the previous stage's traffic.
    const stageStart = stageSetAt ? Math.floor(ms(stageSetAt) / Math.max(1, periodMs)) * Math.max(1, periodMs) : windowStart;
    const breach = present(m.canary).find((p) => ms(p.at) >= stageStart && ms(p.at) + periodMs <= ms(detection.at) && breaches(p.value, m.threshold));
    if (breach) candidates.push({ at: breach.at, metric: m.name, rule: 'threshold' });
    else if (inWindow[0]) candidates.push({ at: inWindow[0].at, metric: m.name, rule: 'window' });
  }
  return candidates.sort((a, b) => ms(a.at) - ms(b.at))[0];
}

const numberOf = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A verdict failed by a trend: the window judge's Theil-Sen rule, or the sequential judge's trend detector. */
const isTrendTest = (test: string | undefined) => test === 'theil-sen-trend' || Boolean(test?.startsWith('e-detector:trend'));

/** The trend behind a trend failure, from the failing check's figures (and its window, or the span the detector names). */
function trendOf(def: JudgeMetric | undefined, row: CheckRow, check: StoredCheck | undefined): TrendProjection | undefined {
  const verdict = row.metrics.find((m) => m.name === def?.name);
  if (!def || !check || !isTrendTest(verdict?.test) || !verdict?.details) return undefined;
  if (verdict.test !== 'theil-sen-trend') return sequentialTrendOf(def, row, verdict);
  const d = verdict.details;
  const slope = numberOf(d.slopePerMinute);
  const lower = numberOf(d.slopeLowerPerMinute);
  const end = numberOf(d.endLevel);
  const start = check.window.start ?? check.range.start;
  const periodMs = check.window.periodSeconds * 1000;
  const values = periodValues(def.kind, check.window.metrics[def.name]?.canary);
  const first = values.findIndex((v) => v !== null);
  const last = values.length - 1 - [...values].reverse().findIndex((v) => v !== null);
  if (slope === undefined || lower === undefined || end === undefined || !start || !(periodMs > 0) || first < 0) return undefined;
  const at = (i: number) => ms(start) + i * periodMs;
  const fromValue = end + (slope / 60_000) * (at(first) - at(last));
  const toMax = numberOf(d.secondsToMax);
  const toMin = numberOf(d.secondsToMin);
  const crossing = toMax !== undefined && def.threshold.max !== undefined
    ? { at: isoOf(at(last) + toMax * 1000), value: def.threshold.max, limit: 'max' as const }
    : toMin !== undefined && def.threshold.min !== undefined
      ? { at: isoOf(at(last) + toMin * 1000), value: def.threshold.min, limit: 'min' as const } : undefined;
  return {
    checkNo: row.checkNo, from: { at: isoOf(at(first)), value: fromValue }, to: { at: isoOf(at(last)), value: end },
    slopePerMinute: slope, slopeLowerPerMinute: lower, ...(crossing ? { crossing } : {}), reason: verdict.reason,
  };
}

/** The sequential judge's trend detector: the line over the span it looked at, ending at its level. */
function sequentialTrendOf(def: JudgeMetric, row: CheckRow, verdict: CheckRow['metrics'][number]): TrendProjection | undefined {
  const d = verdict.details!;
  const slope = numberOf(d.slopePerMinute);
  const lower = numberOf(d.slopeLowerPerMinute);
  const end = numberOf(d.endLevel);
  const since = typeof d.trendSince === 'string' ? d.trendSince : undefined;
  const until = typeof d.trendEnd === 'string' ? d.trendEnd : undefined;
  if (slope === undefined || lower === undefined || end === undefined || !since || !until) return undefined;
  const fromValue = end - (slope / 60_000) * (ms(until) - ms(since));
  const toMax = numberOf(d.secondsToMax);
  const toMin = numberOf(d.secondsToMin);
  const crossing = toMax !== undefined && def.threshold.max !== undefined
    ? { at: isoOf(ms(until) + toMax * 1000), value: def.threshold.max, limit: 'max' as const }
    : toMin !== undefined && def.threshold.min !== undefined
      ? { at: isoOf(ms(until) + toMin * 1000), value: def.threshold.min, limit: 'min' as const } : undefined;
  return {
    checkNo: row.checkNo, from: { at: since, value: fromValue }, to: { at: until, value: end },
    slopePerMinute: slope, slopeLowerPerMinute: lower, ...(crossing ? { crossing } : {}), reason: verdict.reason,
  };
}

/** One incident delivery, as the timeline lists it. */
function deliveryText(d: { target: string; ok: boolean; id?: string; attempts: number; error?: string }): string {
  return `${d.target}: ${d.ok ? `delivered${d.id ? ` (${d.id})` : ''}` : `FAILED after ${d.attempts} attempts: ${d.error ?? 'unknown error'}`}`;
}

function summaryOf(record: RolloutHistory, decision: Decision, checks: CheckRow[], metrics: MetricReport[]): PostIncidentSummary {
  const events = record.events;
  const trigger = inferTrigger(decision);
  const sets = events.filter((e): e is WeightsEvent => e.type === 'WEIGHTS_SET');
  const forward = sets.filter((e) => e.canary > 0);
  const stageSet = [...forward].reverse().find((e) => e.stageIndex === decision.stageIndex && ms(e.at) <= ms(decision.at));
  const stageInSync = stageSet && events.find((e) => e.type === 'IN_SYNC' && e.changeId === stageSet.changeId);
  const rollbackSet = sets.find((e) => e.canary === 0 && ms(e.at) >= ms(decision.at));
  const restoredAt = restoredAtOf(events, decision.at);

  const failingFail = decision.failing.filter((m) => m.verdict === 'FAIL');
  const wanted: Verdict = failingFail.length > 0 ? 'FAIL' : 'INCONCLUSIVE';
  const stageChecks = checks.filter((c) => c.stageIndex === decision.stageIndex && ms(c.at) <= ms(decision.at) && (!stageSet || ms(c.at) >= ms(stageSet.at)));
  // A bake check's inconclusive verdict acts on nothing: a lack of data is detected by counted checks.
  const detection = trigger === 'VERDICT' ? stageChecks.find((c) => c.verdict === wanted && (wanted === 'FAIL' || !c.duringBake)) : undefined;
  const detectedAt = detection?.at ?? decision.at;
  const abort = events.find((e) => e.type === 'ABORT_REQUESTED');
  const detectedBy = (() => {
    switch (trigger) {
      case 'VERDICT': {
        if (!detection) return 'the judge';
        const names = detection.metrics.filter((m) => m.verdict === wanted).map((m) => m.name);
        return `check #${detection.checkNo} (${wanted}: ${names.join(', ')})`;
      }
      case 'ABORTED': return `an abort request${abort && abort.type === 'ABORT_REQUESTED' ? ` at ${abort.at}` : ''}`;
      case 'REJECTED': return 'a person rejecting the stage at its manual gate';
      case 'APPROVAL_TIMEOUT': return 'the manual gate timing out without an answer';
      case 'SAFETY_NET': return 'the safety net (the execution had ended without finishing)';
      case 'ERROR': return 'a failure of the workflow (it rolls back to be safe)';
      case 'MANUAL_ROLLBACK': return 'a read-back of the traffic target: a person had set the canary to 0 %';
      case 'DRIFT': return 'a read-back of the traffic target: it had changed outside the rollout';
      case 'GATE': return 'a beforeShift gate that stayed shut';
      case 'MANUAL_PROMOTION': return `a person promoting it (canary promote --full${decision.by ? ` by ${decision.by}` : ''})`;
      case 'HALT_TIMEOUT': return 'a halted rollout that no person answered in time';
    }
  })();

  const fired = metrics.filter((m) => failingFail.some((f) => f.name === m.name) && m.firstBreach);
  const firstBreachAt = fired.map((m) => m.firstBreach!.at).sort((a, b) => ms(a) - ms(b))[0];
  const firstBad = detection && wanted === 'FAIL' ? firstBadDatapoint(detection, metrics, stageSet?.at) : undefined;
  const canaryTrafficAt = forward[0]?.at;
  const unitOf = (name: string) => metrics.find((m) => m.name === name)?.unit ?? 'none';
  const incidentEvent = events.find((e): e is Extract<RolloutEvent, { type: 'INCIDENT' }> => e.type === 'INCIDENT');
  const recoveryEvent = [...events].reverse()
    .find((e): e is Extract<RolloutEvent, { type: 'RECOVERED' | 'ESCALATED' }> => e.type === 'RECOVERED' || e.type === 'ESCALATED');

  const stageText = `stage ${decision.stageIndex + 1} (${decision.weight} % canary)`;
  const why = {
    VERDICT: failingFail.length
      ? `${failingFail.map((m) => m.name).join(', ')} failed ${failingFail.length === 1 ? 'its threshold' : 'their thresholds'}`
      : 'the canary could not be judged (not enough data) for too many checks',
    ABORTED: 'a person aborted it',
    REJECTED: 'a person rejected the next stage',
    APPROVAL_TIMEOUT: 'a manual gate got no answer in time',
    MANUAL_ROLLBACK: 'a person set the canary to 0 % by hand',
    DRIFT: 'the traffic target was changed outside the rollout',
    SAFETY_NET: 'its execution ended without finishing',
    ERROR: 'the workflow failed and rolled back to be safe',
    GATE: 'a beforeShift gate stayed shut past its bound',
    MANUAL_PROMOTION: 'a person promoted it to 100 %',
    HALT_TIMEOUT: 'it was halted (onFailure: halt) and no person answered in time',
  }[trigger];
  const restoredText = restoredAt
    ? `Traffic was back at 100 % baseline ${formatDuration(seconds(decision.at, restoredAt))} after the decision.`
    : rollbackSet ? 'The rollback change was submitted but its INSYNC is not recorded.' : 'No rollback weight change is recorded.';
  const headline = `${record.name} rollout ${record.rolloutId} was rolled back at ${stageText}: ${why}. ${restoredText}`;

  const caveats: string[] = [];
  if (!restoredAt) caveats.push('The rollback\'s INSYNC is not in the record: check the weights in Route 53 (`canary status`).');
  if (checks.length > 0 && checks.every((c) => !c.hasRawData)) caveats.push('No raw datapoints were stored for this rollout: the charts show the judged values per check only.');
  if (restoredAt) caveats.push('INSYNC means every Route 53 server answers with the new weights; resolvers and clients follow within one record TTL.');

  return {
    headline, trigger, startedAt: record.startedAt, canaryTrafficAt,
    peakWeight: Math.max(0, ...forward.map((e) => e.canary)),
    stage: { index: decision.stageIndex, stage: decision.stageIndex + 1, weight: decision.weight, setAt: stageSet?.at, inSyncAt: stageInSync?.at },
    firstBreachAt, firstBad, detectedAt, detectedBy, decidedAt: decision.at,
    rollback: rollbackSet && { changeId: rollbackSet.changeId, submittedAt: rollbackSet.at, inSyncAt: restoredAt },
    restoredAt,
    durations: {
      timeToDetect: firstBad ? seconds(firstBad.at, detectedAt) : undefined,
      stageToDetection: stageSet ? seconds(stageSet.at, detectedAt) : undefined,
      breachToDetection: firstBreachAt ? seconds(firstBreachAt, detectedAt) : undefined,
      detectionToDecision: seconds(detectedAt, decision.at),
      timeToRestore: restoredAt ? seconds(decision.at, restoredAt) : undefined,
      detectionToRestore: restoredAt ? seconds(detectedAt, restoredAt) : undefined,
      canaryExposure: restoredAt && canaryTrafficAt ? seconds(canaryTrafficAt, restoredAt) : undefined,
    },
    thresholdsFired: failingFail.map((v) => firedOf(v, unitOf(v.name))),
    inconclusive: decision.failing.filter((m) => m.verdict === 'INCONCLUSIVE').map((v) => firedOf(v, unitOf(v.name))),
    reasons: [...decision.reasons],
    checks: countChecks(checks),
    incident: incidentEvent && {
      at: incidentEvent.at,
      targets: incidentEvent.deliveries.map((d) => ({ target: d.target, ok: d.ok, id: d.id, error: d.error })),
      ...(incidentEvent.severity ? { severity: incidentEvent.severity } : {}),
      ...(incidentEvent.severityReason ? { severityReason: incidentEvent.severityReason } : {}),
      statusUpdates: events.filter((e) => e.type === 'INCIDENT_UPDATE').length,
    },
    recovery: recoveryEvent && { outcome: recoveryEvent.type, at: recoveryEvent.at, window: { ...recoveryEvent.window }, reasons: [...recoveryEvent.reasons] },
    caveats,
  };
}

export function buildReport(input: ReportInput): ReportModel {
  const { record } = input;
  const stored = [...(input.checks ?? [])].sort((a, b) => a.checkNo - b.checkNo);
  const definitions: JudgeMetric[] = input.metrics ?? record.config?.metrics ?? [];
  const metricsByName = new Map(definitions.map((m) => [m.name, m]));
  const checks = joinChecks(record.events, stored);
  const lastAt = [record.updatedAt, ...record.events.map((e) => e.at), ...stored.map((c) => c.at)]
    .filter((t): t is string => typeof t === 'string' && Number.isFinite(ms(t)))
    .sort((a, b) => ms(a) - ms(b)).at(-1) ?? record.startedAt;
  const decision = record.decision ?? null;
  const failingNames = new Set(decision?.failing.map((m) => m.name) ?? []);

  // Metrics: the config's, then any the checks judged that the config does not name.
  const names = [...definitions.map((m) => m.name)];
  for (const c of checks) for (const m of c.metrics) if (!names.includes(m.name)) names.push(m.name);

  const metrics: MetricReport[] = names.map((name) => {
    const def = metricsByName.get(name);
    const verdictOf = stored.flatMap((s) => s.judgement.metrics.filter((m) => m.name === name)).at(-1);
    const kind = def?.kind ?? 'gauge';
    const unit = def?.unit ?? 'none';
    const threshold = def?.threshold ?? verdictOf?.threshold ?? {};
    const judged: JudgedPoint[] = checks.flatMap((c) => c.metrics.filter((m) => m.name === name).map((m) => ({
      checkNo: c.checkNo, at: c.at, stageIndex: c.stageIndex, weight: c.weight,
      ...(c.duringBake ? { duringBake: true } : {}), ...(c.hold ? { hold: true } : {}), verdict: m.verdict,
      canaryValue: m.canaryValue, baselineValue: m.baselineValue, reason: m.reason,
    })));
    const withRaw = def ? stored.filter((s) => s.window.metrics[name]) : [];
    const raw = def && withRaw.length > 0 ? mergeWindows(def, withRaw) : null;
    const canary = raw?.canary ?? judged.map((j) => ({ at: j.at, value: j.canaryValue }));
    const baseline = raw?.baseline ?? judged.map((j) => ({ at: j.at, value: j.baselineValue }));
    const points = present(canary);
    const breach = points.find((p) => breaches(p.value, threshold));
    const peak = points.reduce<{ at: string; value: number } | undefined>((best, p) => (!best || p.value > best.value ? p : best), undefined);
    const failedAt = checks.find((c) => c.metrics.some((m) => m.name === name && m.verdict === 'FAIL'));
    const failedVerdict = failedAt?.metrics.find((m) => m.name === name);
    const failedCheck = failedAt ? stored.find((s) => s.checkNo === failedAt.checkNo && s.at === failedAt.at) : undefined;
    const trend = failedAt ? trendOf(def, failedAt, failedCheck) : undefined;
    // The datapoints that decided: the sequential judge names the span its detector saw the change
    // in (since → detected); the window judge judged the failing check's own window.
    const change = failedCheck?.judgement.metrics.find((m) => m.name === name)?.change;
    const decisiveWindow = change ? { start: change.since, end: isoOf(ms(change.detectedAt)) } : failedAt?.window;
    return {
      name, kind, unit, critical: def?.critical ?? verdictOf?.critical ?? false, threshold: { ...threshold },
      baselineMaxIncreasePercent: def?.baseline?.maxIncreasePercent,
      source: raw ? 'raw' : 'judged', periodSeconds: raw ? Math.min(...withRaw.map((c) => c.window.periodSeconds)) : undefined,
      canary, baseline, judged,
      fired: judged.some((j) => j.verdict === 'FAIL'), inDecision: failingNames.has(name),
      inconclusiveCounted: judged.some((j) => j.verdict === 'INCONCLUSIVE' && !j.duringBake),
      firstBreach: breach && { ...breach }, peak: peak && { ...peak },
      ...(failedAt && decisiveWindow ? { decisive: { checkNo: failedAt.checkNo, at: failedAt.at, ...(failedVerdict?.test ? { test: failedVerdict.test } : {}), window: { ...decisiveWindow } } } : {}),
      ...(trend ? { trend } : {}),
    };
  });

  const timeline = timelineOf(record, checks, metricsByName);
  const summary = decision && decision.outcome === 'ROLLED_BACK' ? summaryOf(record, decision, checks, metrics) : null;
  return {
    rolloutId: record.rolloutId,
    name: record.name,
    targetKey: record.targetKey,
    status: record.status,
    outcome: decision?.outcome ?? null,
    startedAt: record.startedAt,
    endedAt: lastAt,
    durationSeconds: seconds(record.startedAt, lastAt),
    generatedAt: input.generatedAt ?? new Date().toISOString(),
    source: input.source,
    evidenceLocation: input.evidenceLocation,
    executionArn: record.executionArn,
    stagesPlanned: record.config?.stages.map((s) => s.weight) ?? [],
    stages: stageSpans(record.events, checks, lastAt),
    decision: decision && { ...decision, stage: decision.stageIndex + 1, offsetSeconds: seconds(record.startedAt, decision.at) },
    metrics,
    checks,
    checkCounts: countChecks(checks),
    timeline,
    summary,
    evidence: { checksRecorded: checks.length, checksWithRawData: checks.filter((c) => c.hasRawData).length },
  };
}
