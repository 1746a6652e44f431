/**
 * A rollout report for the terminal: the post-incident summary, one small chart per metric
 * (canary as bars with the threshold line and stage marks, baseline as a sparkline on the same
 * scale) and the timeline. Colors only through the given Style (none when stdout is not a TTY
 * or NO_COLOR is set); text from the record is stripped of control characters, so a reason
 * cannot move the cursor or recolor the terminal.
 */
import { formatValue } from '../../functions/core/judge.ts';
import { describeCheckCounts, describeThreshold, formatDuration, type MetricReport, type ReportModel, type TimelineLevel } from '../../functions/core/report.ts';
import type { Style } from '../io.ts';
import { sinceStart } from '../render.ts';

export interface TerminalOptions {
  style: Style;
  /** Terminal width in columns (default 100). */
  width?: number;
}

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
const CHART_ROWS = 4;
const LABEL_WIDTH = 10;

/** Drops control characters (ANSI escapes included): record text is not trusted. */
export function printable(text: string): string {
  return text.replace(/\t/g, ' ').replace(/\p{Cc}/gu, '');
}

/** Time buckets of the chart: column i covers [t0 + i*step, t0 + (i+1)*step). */
interface Axis { t0: number; t1: number; columns: number }

function column(axis: Axis, iso: string): number {
  const t = Date.parse(iso);
  const span = Math.max(1, axis.t1 - axis.t0);
  return Math.min(axis.columns - 1, Math.max(0, Math.floor(((t - axis.t0) / span) * axis.columns)));
}

/**
 * The highest value per column (peaks stay visible), null where a column has no data. A point
 * fills every column its period overlaps.
 */
function bucket(axis: Axis, points: { at: string; value: number | null }[], periodSeconds = 0): (number | null)[] {
  const out: (number | null)[] = Array.from({ length: axis.columns }, () => null);
  for (const p of points) {
    if (p.value === null) continue;
    const first = column(axis, p.at);
    const last = periodSeconds > 0 ? Math.max(first, column(axis, new Date(Date.parse(p.at) + periodSeconds * 1000 - 1).toISOString())) : first;
    for (let c = first; c <= last; c++) out[c] = out[c] === null ? p.value : Math.max(out[c]!, p.value);
  }
  return out;
}

function breaches(v: number, t: { max?: number; min?: number }): boolean {
  return (t.max !== undefined && v > t.max) || (t.min !== undefined && v < t.min);
}

function metricChart(m: MetricReport, model: ReportModel, axis: Axis, s: Style): string[] {
  const canary = bucket(axis, m.canary, m.periodSeconds);
  const baseline = bucket(axis, m.baseline, m.periodSeconds);
  const values = [...canary, ...baseline].filter((v): v is number => v !== null);
  const limits = [m.threshold.max, m.threshold.min].filter((v): v is number => v !== undefined);
  const lo = Math.min(0, ...values, ...limits);
  const hi = Math.max(...values, ...limits, lo + 1e-9) * 1.05;
  const levels = CHART_ROWS * 8;
  const eighths = (v: number) => Math.round(((v - lo) / (hi - lo)) * levels);
  const limitRows = limits.map((l) => Math.min(CHART_ROWS - 1, Math.floor(eighths(l) / 8)));
  const fmt = (v: number) => formatValue(v, m.unit);

  const flags = [m.kind, m.unit !== 'none' ? m.unit : '', m.critical ? 'critical' : '', describeThreshold(m.threshold, m.unit),
    m.baselineMaxIncreasePercent !== undefined ? `≤ baseline +${m.baselineMaxIncreasePercent} %` : ''].filter(Boolean).join(' · ');
  const state = m.fired ? s.red('✗ failed') : m.inconclusiveCounted ? s.yellow('? inconclusive at times') : s.green('✓ passed');
  const lines = [`  ${s.bold(m.name)}  ${s.dim(flags)}  ${state}${m.source === 'judged' ? s.dim('  (judged values per check: no raw data stored)') : ''}`];

  for (let row = CHART_ROWS - 1; row >= 0; row--) {
    let line = '';
    for (let c = 0; c < axis.columns; c++) {
      const v = canary[c];
      const fill = v === null || v === undefined ? 0 : Math.min(8, Math.max(0, eighths(v) - row * 8));
      if (fill > 0) {
        const cell = BLOCKS[fill - 1]!;
        line += breaches(v!, m.threshold) ? s.red(cell) : s.cyan(cell);
      } else if (limitRows.includes(row)) {
        line += s.yellow('┈');
      } else {
        line += ' ';
      }
    }
    const label = row === CHART_ROWS - 1 ? fmt(hi / 1.05) : row === 0 ? fmt(lo) : '';
    const limitLabel = limits.filter((_, i) => limitRows[i] === row).map((l) => s.yellow(fmt(l))).join(' ');
    lines.push(`${label.padStart(LABEL_WIDTH)} ┤${line}${limitLabel ? ` ${limitLabel}` : ''}`);
  }
  const spark = baseline.map((v) => (v === null ? ' ' : BLOCKS[Math.min(7, Math.max(0, Math.ceil(eighths(v) / CHART_ROWS) - 1))]!)).join('');
  lines.push(`${'baseline'.padStart(LABEL_WIDTH)}  ${s.dim(spark)}`);
  const peak = m.peak ? `canary peak ${fmt(m.peak.value)} at ${sinceStart(model.startedAt, m.peak.at)}` : 'no canary data';
  const breach = m.firstBreach ? `, first beyond the threshold at ${sinceStart(model.startedAt, m.firstBreach.at)} (${fmt(m.firstBreach.value)})` : '';
  lines.push(`${' '.repeat(LABEL_WIDTH + 2)}${s.dim(peak + breach)}`);
  if (m.trend?.crossing) {
    lines.push(`${' '.repeat(LABEL_WIDTH + 2)}${s.dim(`trend (check #${m.trend.checkNo}): ${fmt(m.trend.slopePerMinute)}/min, at least ${fmt(m.trend.slopeLowerPerMinute)}/min; ` +
      `projected to cross ${fmt(m.trend.crossing.value)} at ${sinceStart(model.startedAt, m.trend.crossing.at)}`)}`);
  }
  return lines;
}

/** `└──1 %────5 %──▲` : stage changes and the decision on the time axis, then the times. */
function axisLines(model: ReportModel, axis: Axis, s: Style): string[] {
  const cells = Array.from({ length: axis.columns }, () => '─');
  const put = (c: number, text: string) => {
    if (c + text.length > axis.columns) c = Math.max(0, axis.columns - text.length);
    if (cells.slice(c, c + text.length).some((x) => x !== '─')) return;
    for (let i = 0; i < text.length; i++) cells[c + i] = text[i]!;
  };
  if (model.decision) put(column(axis, model.decision.at), '▲');
  for (const st of model.stages) put(column(axis, st.setAt), st.weight === 0 ? '↩0%' : `${st.weight}%`);
  const start = sinceStart(model.startedAt, new Date(axis.t0).toISOString());
  const end = sinceStart(model.startedAt, new Date(axis.t1).toISOString());
  const gap = Math.max(1, axis.columns - start.length - end.length);
  return [
    `${' '.repeat(LABEL_WIDTH)} └${cells.join('')}`,
    `${' '.repeat(LABEL_WIDTH + 2)}${s.dim(`${start}${' '.repeat(gap)}${end}`)}`,
    `${' '.repeat(LABEL_WIDTH + 2)}${s.dim('n% canary weight set · ↩ rollback · ▲ decision · ┈ threshold · bars: canary (peak per column) · red: beyond the threshold')}`,
  ];
}

const levelMark = (level: TimelineLevel, s: Style) =>
  level === 'pass' ? s.green('●') : level === 'fail' ? s.red('●') : level === 'warn' ? s.yellow('●') : s.dim('●');

function summaryLines(model: ReportModel, s: Style): string[] {
  const sum = model.summary;
  if (!sum) return [];
  const at = (iso: string | undefined) => (iso ? sinceStart(model.startedAt, iso) : 'not recorded'.padEnd(9));
  const d = sum.durations;
  const row = (label: string, iso: string | undefined, text: string) => `  ${label.padEnd(20)} ${at(iso)}  ${text}`;
  const lines = [s.bold('Post-incident summary'), `  ${printable(sum.headline)}`, ''];
  lines.push(row('rollout started', sum.startedAt, sum.startedAt));
  if (sum.canaryTrafficAt) lines.push(row('canary took traffic', sum.canaryTrafficAt, `peak weight ${sum.peakWeight} %`));
  if (sum.stage.setAt) lines.push(row(`stage ${sum.stage.index + 1} (${sum.stage.weight} %)`, sum.stage.setAt, sum.stage.inSyncAt ? `INSYNC at ${sinceStart(model.startedAt, sum.stage.inSyncAt)}` : ''));
  if (sum.firstBad) {
    const what = { threshold: 'first canary datapoint of the stage beyond its threshold', trend: 'first datapoint of the climb the trend was projected from', window: 'first datapoint of the window that failed' }[sum.firstBad.rule];
    lines.push(row('first bad datapoint', sum.firstBad.at, `${sum.firstBad.metric}: ${what}`));
  }
  const detect = d.timeToDetect !== undefined ? `, time to detect ${formatDuration(d.timeToDetect)} (from the first bad datapoint)`
    : d.stageToDetection !== undefined ? `, ${formatDuration(d.stageToDetection)} after the stage began` : '';
  lines.push(row('detected', sum.detectedAt, `by ${sum.detectedBy}${detect}`));
  lines.push(row('decided', sum.decidedAt, `${formatDuration(d.detectionToDecision)} after detection`));
  if (sum.rollback) lines.push(row('rollback submitted', sum.rollback.submittedAt, `Route 53 change ${sum.rollback.changeId}`));
  lines.push(row('traffic restored', sum.restoredAt, d.timeToRestore !== undefined ? s.bold(`time to restore ${formatDuration(d.timeToRestore)}`) + ` (detection → restored ${formatDuration(d.detectionToRestore ?? 0)})` : ''));
  if (sum.recovery) {
    lines.push(row(sum.recovery.outcome === 'RECOVERED' ? 'recovery verified' : 'escalated', sum.recovery.at, sum.recovery.outcome === 'RECOVERED'
      ? s.green('the service is healthy on the baseline') : s.red('the service is still unhealthy after the rollback')));
  }
  if (d.canaryExposure !== undefined) lines.push(`  ${'canary exposure'.padEnd(20)} ${formatDuration(d.canaryExposure).padEnd(9)}  from its first traffic to the baseline restored`);
  lines.push('', `  ${s.bold('Thresholds that fired')}`);
  if (sum.thresholdsFired.length === 0) lines.push('    none (see the reasons)');
  for (const f of sum.thresholdsFired) {
    lines.push(`    ${s.red('✗')} ${f.metric}${f.critical ? s.red(' (critical)') : ''}: canary ${formatValue(f.canaryValue, f.unit)}` +
      `${f.baselineValue !== null ? `, baseline ${formatValue(f.baselineValue, f.unit)}` : ''}; ${describeThreshold(f.threshold, f.unit) || 'baseline comparison'} ${s.dim(`[${f.test}]`)}`);
    lines.push(`      ${s.dim(printable(f.reason))}`);
  }
  for (const f of sum.inconclusive) lines.push(`    ${s.yellow('?')} ${printable(f.reason)}`);
  lines.push('', `  ${s.bold('Reasons')}`);
  for (const r of sum.reasons) lines.push(`    - ${printable(r)}`);
  lines.push('', `  checks: ${describeCheckCounts(sum.checks)}`);
  if (sum.incident) {
    const inc = sum.incident;
    const updates = inc.statusUpdates ? `; ${inc.statusUpdates} status update${inc.statusUpdates === 1 ? '' : 's'} while the recovery watch ran` : '';
    lines.push(`  incident${inc.severity ? ` (${inc.severity})` : ''} at ${sinceStart(model.startedAt, inc.at)}: ${inc.targets.map((t) => `${t.target} ${t.ok ? 'delivered' : s.red('FAILED')}${t.id ? ` (${printable(t.id)})` : ''}`).join(', ')}${updates}`);
  }
  for (const c of sum.caveats) lines.push(s.dim(`  note: ${printable(c)}`));
  return [...lines, ''];
}

export function renderTerminal(model: ReportModel, options: TerminalOptions): string[] {
  const s = options.style;
  const width = Math.max(60, options.width ?? 100);
  const outcome = model.outcome === 'PROMOTED' ? s.bold(s.green('PROMOTED'))
    : model.outcome === 'ROLLED_BACK' ? s.bold(s.red('ROLLED BACK')) : s.bold(s.yellow(model.status.replace(/_/g, ' ')));
  const lines: string[] = [
    `${s.bold(`Canary report: ${printable(model.name)}`)}  ${s.dim(printable(model.rolloutId))}`,
    `  ${outcome}${model.decision ? ` at stage ${model.decision.stageIndex + 1} (canary ${model.decision.weight} %), ${sinceStart(model.startedAt, model.decision.at)} after the start` : ''}`,
    `  target ${printable(model.targetKey)} · started ${model.startedAt} · ${formatDuration(model.durationSeconds)} · plan ${model.stagesPlanned.map((w) => `${w} %`).join(' → ') || 'unknown'}`,
    s.dim(`  ${describeCheckCounts(model.checkCounts)}; ${model.evidence.checksWithRawData} of ${model.evidence.checksRecorded} with raw datapoints${model.source ? ` · source: ${printable(model.source)}` : ''}${model.evidenceLocation ? ` · evidence: ${printable(model.evidenceLocation)}` : ''}`),
    '',
  ];
  if (model.decision && !model.summary) {
    lines.push(s.bold('Decision'));
    for (const r of model.decision.reasons) lines.push(`  - ${printable(r)}`);
    lines.push('');
  }
  lines.push(...summaryLines(model, s));

  const t0 = Date.parse(model.startedAt);
  const t1 = Math.max(t0 + 1000, Date.parse(model.endedAt));
  const axis: Axis = { t0, t1, columns: Math.min(96, width - LABEL_WIDTH - 14) };
  if (model.metrics.length) {
    lines.push(s.bold('Metrics'), s.dim('  canary bars and baseline sparkline share one scale per metric'));
    for (const m of model.metrics) lines.push(...metricChart(m, model, axis, s), '');
    lines.push(...axisLines(model, axis, s), '');
  }

  lines.push(s.bold('Timeline'));
  for (const e of model.timeline) {
    lines.push(`  ${s.dim(sinceStart(model.startedAt, e.at))} ${levelMark(e.level, s)} ${printable(e.title)}`);
    for (const d of e.details) lines.push(`              ${s.dim(printable(d))}`);
  }
  return lines;
}
