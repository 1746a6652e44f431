/**
 * A rollout report as ONE self-contained HTML file: inline CSS, inline SVG charts drawn here, no
 * script, font, image or stylesheet from anywhere else (a Content-Security-Policy says so to
 * the browser too), so it can be attached to an incident, mailed, or opened offline.
 *
 * Everything from the record is text a user influenced (a reason quotes an abort message, a
 * metric name comes from a config): all of it goes through `esc`, in elements and attributes.
 */
import { formatValue } from '../../functions/core/judge.ts';
import {
  describeCheckCounts, describeThreshold, formatDuration,
  type CheckRow, type MetricReport, type ReportModel, type TimelineEntry, type TimelineLevel,
} from '../../functions/core/report.ts';

/** Escapes text for HTML element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
}

const ms = (iso: string) => Date.parse(iso);

/** `+hh:mm:ss` since the rollout's start. */
function offset(model: ReportModel, iso: string): string {
  // Whole seconds down, as a clock shows them: the +offset and the UTC time of one moment agree.
  const s = Math.max(0, Math.floor((ms(iso) - ms(model.startedAt)) / 1000));
  return `+${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

const clock = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
const num = (n: number) => (Number.isFinite(n) ? Number(n.toFixed(2)).toString() : '0');

const COLORS = {
  canary: '#d9480f',
  baseline: '#1c7ed6',
  threshold: '#c92a2a',
  pass: '#2b8a3e',
  fail: '#c92a2a',
  warn: '#e67700',
  info: '#868e96',
  restored: '#2b8a3e',
  trend: '#862e9c',
  bake: '#adb5bd',
};

const levelColor = (level: TimelineLevel) => COLORS[level === 'pass' ? 'pass' : level === 'fail' ? 'fail' : level === 'warn' ? 'warn' : 'info'];
const verdictClass = (v: string) => (v === 'PASS' ? 'pass' : v === 'FAIL' ? 'fail' : 'warn');

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10^k. */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let v = first; v <= hi + step * 0.5 && ticks.length < 20; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

/** Time ticks every 1, 2, 5, 10, 15, 30 or 60 minutes (or more), at most about 10. */
function timeTicks(t0: number, t1: number): number[] {
  const spanMin = (t1 - t0) / 60_000;
  const stepMin = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440].find((s) => spanMin / s <= 10) ?? 2880;
  const ticks: number[] = [];
  for (let t = t0; t <= t1 && ticks.length < 40; t += stepMin * 60_000) ticks.push(t);
  return ticks;
}

const UNIT_SUFFIX: Record<string, string> = { percent: ' %', seconds: ' s', milliseconds: ' ms', bytes: ' B' };

/** An axis label with as many decimals as the tick step needs. */
function tickLabel(v: number, step: number, unit: string): string {
  let decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  while (decimals < 6 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals++;
  return `${v.toFixed(decimals)}${UNIT_SUFFIX[unit] ?? ''}`;
}

interface Frame {
  x(iso: string | number): number;
  y(v: number): number;
  left: number; right: number; top: number; bottom: number;
}

const CHART = { width: 1080, height: 300, left: 70, right: 120, top: 34, bottom: 40 };

function linePaths(points: { at: string; value: number | null }[], frame: Frame, periodMs: number): { d: string; singles: [number, number][] } {
  const segments: [number, number][][] = [];
  let current: [number, number][] = [];
  let lastT: number | undefined;
  for (const p of points) {
    const t = ms(p.at);
    const gap = lastT !== undefined && periodMs > 0 && t - lastT > periodMs * 1.5;
    if (p.value === null || gap) {
      if (current.length) segments.push(current);
      current = [];
    }
    if (p.value !== null) current.push([frame.x(t + periodMs / 2), frame.y(p.value)]);
    lastT = t;
  }
  if (current.length) segments.push(current);
  const d = segments.filter((s) => s.length > 1).map((s) => s.map(([x, y], i) => `${i ? 'L' : 'M'}${num(x)} ${num(y)}`).join(' ')).join(' ');
  return { d, singles: segments.filter((s) => s.length === 1).map((s) => s[0]!) };
}

function metricChart(m: MetricReport, model: ReportModel): string {
  const { width: W, height: H } = CHART;
  const t0 = ms(model.startedAt);
  const t1 = Math.max(t0 + 60_000, ms(model.endedAt));
  const frame0 = { left: CHART.left, right: W - CHART.right, top: CHART.top, bottom: H - CHART.bottom };
  const values = [...m.canary, ...m.baseline].map((p) => p.value).filter((v): v is number => v !== null);
  const limits = [m.threshold.max, m.threshold.min].filter((v): v is number => v !== undefined);
  const lo = Math.min(0, ...values, ...limits);
  const hiRaw = Math.max(lo + 1e-9, ...values, ...limits);
  const ticks = niceTicks(lo, hiRaw * 1.08);
  const yLo = ticks[0]!;
  const yHi = ticks[ticks.length - 1]!;
  const frame: Frame = {
    ...frame0,
    x: (t) => frame0.left + ((typeof t === 'number' ? t : ms(t)) - t0) / (t1 - t0) * (frame0.right - frame0.left),
    y: (v) => frame0.bottom - (v - yLo) / (yHi - yLo || 1) * (frame0.bottom - frame0.top),
  };
  const fmt = (v: number) => formatValue(v, m.unit);
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
  const fmtTick = (v: number) => tickLabel(v, step, m.unit);
  const periodMs = (m.periodSeconds ?? 0) * 1000;
  const parts: string[] = [];

  // Stage bands, labelled at the top.
  model.stages.forEach((st, i) => {
    const x1 = Math.max(frame.left, frame.x(st.setAt));
    const x2 = Math.min(frame.right, frame.x(st.endAt));
    if (x2 <= x1) return;
    const rolledBack = st.weight === 0;
    const fill = rolledBack ? '#fff0f0' : i % 2 ? '#f8f9fa' : '#eef2f6';
    parts.push(`<rect class="stage-band" x="${num(x1)}" y="${frame.top}" width="${num(x2 - x1)}" height="${frame.bottom - frame.top}" fill="${fill}"/>`);
    parts.push(`<line class="stage-boundary" x1="${num(x1)}" x2="${num(x1)}" y1="${frame.top - 14}" y2="${frame.bottom}" stroke="#adb5bd" stroke-width="1"/>`);
    const label = rolledBack ? 'rolled back · 0 %' : `stage ${st.stage} · ${st.weight} %`;
    if (x2 - x1 > 44) parts.push(`<text x="${num(x1 + 4)}" y="${frame.top - 4}" class="stage-label">${esc(label)}</text>`);
  });

  // Grid and axes.
  for (const v of ticks) {
    const y = frame.y(v);
    parts.push(`<line x1="${frame.left}" x2="${frame.right}" y1="${num(y)}" y2="${num(y)}" stroke="#dee2e6" stroke-width="1"${v === yLo ? '' : ' stroke-dasharray="2 3"'}/>`);
    parts.push(`<text x="${frame.left - 8}" y="${num(y + 4)}" text-anchor="end" class="tick">${esc(fmtTick(v))}</text>`);
  }
  for (const t of timeTicks(t0, t1)) {
    const x = frame.x(t);
    parts.push(`<line x1="${num(x)}" x2="${num(x)}" y1="${frame.bottom}" y2="${frame.bottom + 5}" stroke="#868e96"/>`);
    parts.push(`<text x="${num(x)}" y="${frame.bottom + 18}" text-anchor="middle" class="tick">${esc(offset(model, new Date(t).toISOString()).slice(0, 6))}</text>`);
  }
  parts.push(`<text x="${frame.right}" y="${H - 6}" text-anchor="end" class="axis-title">time since the rollout started (hh:mm)</text>`);

  // Thresholds.
  for (const [label, v] of [['max', m.threshold.max], ['min', m.threshold.min]] as const) {
    if (v === undefined) continue;
    const y = frame.y(v);
    parts.push(`<line class="threshold" x1="${frame.left}" x2="${frame.right}" y1="${num(y)}" y2="${num(y)}" stroke="${COLORS.threshold}" stroke-width="1.5" stroke-dasharray="7 4"/>`);
    parts.push(`<text x="${frame.right + 6}" y="${num(y + 4)}" class="threshold-label">${esc(`${label} ${fmt(v)}`)}</text>`);
  }

  // Series: baseline under canary.
  for (const variant of ['baseline', 'canary'] as const) {
    const { d, singles } = linePaths(m[variant], frame, periodMs);
    const color = COLORS[variant];
    if (d) parts.push(`<path class="series series-${variant}" d="${d}" fill="none" stroke="${color}" stroke-width="${variant === 'canary' ? 2.25 : 1.75}" stroke-linejoin="round" stroke-linecap="round"/>`);
    for (const [x, y] of singles) parts.push(`<circle class="series-${variant}" cx="${num(x)}" cy="${num(y)}" r="2.5" fill="${color}"/>`);
  }
  // The trend that failed the metric (a leak): the fitted line over the failing window, and its
  // projection at the slope's lower bound (the rule's criterion) to the threshold crossing.
  if (m.trend) {
    const tr = m.trend;
    const half = periodMs / 2;
    const x1 = frame.x(ms(tr.from.at) + half);
    const x2 = frame.x(ms(tr.to.at) + half);
    parts.push(`<g class="trend"><line class="trend-fit" x1="${num(x1)}" y1="${num(frame.y(tr.from.value))}" x2="${num(x2)}" y2="${num(frame.y(tr.to.value))}" stroke="${COLORS.trend}" stroke-width="1.5" stroke-opacity="0.8"/>` +
      `<title>${esc(`check #${tr.checkNo}: Theil-Sen trend ${fmt(tr.slopePerMinute)}/min (lower bound ${fmt(tr.slopeLowerPerMinute)}/min). ${tr.reason}`)}</title></g>`);
    if (tr.crossing) {
      // Along the lower-bound slope from the last fitted point to the crossing, cut at the chart's right edge.
      const tFrom = ms(tr.to.at) + half;
      const tCross = ms(tr.crossing.at) + half;
      const tEnd = Math.min(tCross, t1);
      const yEnd = tCross > tFrom ? tr.to.value + (tr.crossing.value - tr.to.value) * ((tEnd - tFrom) / (tCross - tFrom)) : tr.to.value;
      const xEnd = frame.x(tEnd);
      const label = `projected to cross ${fmt(tr.crossing.value)} at ${offset(model, tr.crossing.at)}`;
      parts.push(`<g class="trend-projection"><line x1="${num(x2)}" y1="${num(frame.y(tr.to.value))}" x2="${num(xEnd)}" y2="${num(frame.y(yEnd))}" stroke="${COLORS.trend}" stroke-width="2" stroke-dasharray="6 4"/>` +
        (tCross <= t1 ? `<circle cx="${num(xEnd)}" cy="${num(frame.y(yEnd))}" r="5" fill="none" stroke="${COLORS.trend}" stroke-width="2"/>` : '') +
        // The label sits in the right margin, under the threshold's own label: nothing in the plot to collide with.
        `<text x="${frame.right + 6}" y="${num(frame.y(tr.crossing.value) + 20)}" class="trend-label" fill="${COLORS.trend}">projected to cross</text>` +
        `<text x="${frame.right + 6}" y="${num(frame.y(tr.crossing.value) + 34)}" class="trend-label" fill="${COLORS.trend}">${esc(`at ${offset(model, tr.crossing.at)}`)}</text>` +
        `<title>${esc(`${label}: where the slowest plausible climb (the slope's lower confidence bound) reaches the ${tr.crossing.limit === 'max' ? 'maximum' : 'minimum'}, from the last datapoint of check #${tr.checkNo}'s window`)}</title></g>`);
    }
  }

  // The datapoints that decided: the canary's in the window of the first check that failed this metric.
  const decisive = m.decisive && m.source === 'raw' ? m.decisive : undefined;
  for (const p of m.canary) {
    if (p.value === null) continue;
    const t = ms(p.at);
    if (!decisive || t < ms(decisive.window.start) || t >= ms(decisive.window.end)) continue;
    parts.push(`<circle class="decisive" cx="${num(frame.x(t + periodMs / 2))}" cy="${num(frame.y(p.value))}" r="6" fill="none" stroke="${m.trend ? COLORS.trend : COLORS.fail}" stroke-width="2"><title>${esc(`${offset(model, p.at)} canary ${fmt(p.value)}: in the window check #${decisive.checkNo} judged when it failed this metric`)}</title></circle>`);
  }
  // Canary datapoints beyond the threshold.
  for (const p of m.canary) {
    if (p.value === null) continue;
    const beyond = (m.threshold.max !== undefined && p.value > m.threshold.max) || (m.threshold.min !== undefined && p.value < m.threshold.min);
    if (beyond) {
      parts.push(`<circle class="breach" cx="${num(frame.x(ms(p.at) + periodMs / 2))}" cy="${num(frame.y(p.value))}" r="3.5" fill="${COLORS.fail}" stroke="#fff" stroke-width="1"><title>${esc(`${offset(model, p.at)} canary ${fmt(p.value)}: beyond the threshold`)}</title></circle>`);
    }
  }

  // Checks: a marker per check on the plot's top edge, colored by this metric's verdict. Bake
  // checks (only a confident failure acts on them) are small grey ticks unless they failed.
  for (const j of m.judged) {
    const x = frame.x(j.at);
    if (x < frame.left || x > frame.right) continue;
    if (j.duringBake && j.verdict !== 'FAIL') {
      parts.push(`<g class="check-marker bake-marker"><path d="M${num(x - 2.5)} ${frame.top} L${num(x + 2.5)} ${frame.top} L${num(x)} ${frame.top + 4} Z" fill="${COLORS.bake}"/>` +
        `<title>${esc(`bake check #${j.checkNo} at ${offset(model, j.at)}: ${j.verdict} (during the bake only a confident failure acts). ${j.reason}`)}</title></g>`);
      continue;
    }
    const color = COLORS[verdictClass(j.verdict) as 'pass' | 'fail' | 'warn'];
    parts.push(`<g class="check-marker"><line x1="${num(x)}" x2="${num(x)}" y1="${frame.top}" y2="${frame.bottom}" stroke="${color}" stroke-width="1" stroke-opacity="0.35"/>` +
      `<path d="M${num(x - 5)} ${frame.top} L${num(x + 5)} ${frame.top} L${num(x)} ${frame.top + 8} Z" fill="${color}"/>` +
      `<title>${esc(`${j.duringBake ? 'bake check' : 'check'} #${j.checkNo} at ${offset(model, j.at)}: ${j.verdict}. ${j.reason}`)}</title></g>`);
  }

  // Decision and restoration.
  const marker = (iso: string, color: string, label: string, dashed: boolean, cls: string, row: number) => {
    const x = frame.x(iso);
    const anchor = x > frame.right - 130 ? 'end' : 'start';
    const dx = anchor === 'end' ? -5 : 5;
    parts.push(`<g class="${cls}"><line x1="${num(x)}" x2="${num(x)}" y1="${frame.top}" y2="${frame.bottom}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="4 3"' : ''}/>` +
      `<text x="${num(x + dx)}" y="${frame.top + 24 + row * 16}" text-anchor="${anchor}" class="marker-label" fill="${color}">${esc(label)}</text></g>`);
  };
  if (model.decision) {
    marker(model.decision.at, model.decision.outcome === 'PROMOTED' ? COLORS.pass : COLORS.fail,
      model.decision.outcome === 'PROMOTED' ? 'promoted' : 'rollback decided', false, 'decision-marker', 0);
  }
  if (model.summary?.restoredAt) {
    const restoredX = frame.x(model.summary.restoredAt);
    const decisionX = model.decision ? frame.x(model.decision.at) : -1e9;
    if (restoredX - decisionX > 3) marker(model.summary.restoredAt, COLORS.restored, 'baseline restored', true, 'restored-marker', 1);
  }

  parts.push(`<rect x="${frame.left}" y="${frame.top}" width="${frame.right - frame.left}" height="${frame.bottom - frame.top}" fill="none" stroke="#ced4da"/>`);
  const title = `${m.name}: canary and baseline over time`;
  return `<svg class="chart" data-metric="${esc(m.name)}" role="img" aria-label="${esc(title)}" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg"><title>${esc(title)}</title>${parts.join('')}</svg>`;
}

function metricSection(m: MetricReport, model: ReportModel): string {
  const fmt = (v: number) => formatValue(v, m.unit);
  const chips = [
    `<span class="chip">${esc(m.kind)}</span>`,
    m.unit !== 'none' ? `<span class="chip">${esc(m.unit)}</span>` : '',
    m.critical ? '<span class="chip chip-critical">critical</span>' : '',
    describeThreshold(m.threshold, m.unit) ? `<span class="chip">${esc(describeThreshold(m.threshold, m.unit))}</span>` : '',
    m.baselineMaxIncreasePercent !== undefined ? `<span class="chip">≤ baseline +${esc(m.baselineMaxIncreasePercent)} %</span>` : '',
  ].join('');
  const state = m.fired ? '<span class="badge badge-fail">failed</span>'
    : m.inconclusiveCounted ? '<span class="badge badge-warn">inconclusive at times</span>'
      : m.judged.length ? '<span class="badge badge-pass">passed</span>' : '<span class="badge">not judged</span>';
  const facts = [
    m.peak ? `canary peak <b>${esc(fmt(m.peak.value))}</b> at ${esc(offset(model, m.peak.at))}` : 'no canary data',
    m.firstBreach ? `first beyond the threshold at <b>${esc(offset(model, m.firstBreach.at))}</b> (${esc(fmt(m.firstBreach.value))})` : '',
    m.trend?.crossing ? `trend ${esc(fmt(m.trend.slopePerMinute))}/min (lower bound ${esc(fmt(m.trend.slopeLowerPerMinute))}/min), projected to cross ${esc(fmt(m.trend.crossing.value))} at <b>${esc(offset(model, m.trend.crossing.at))}</b>` : '',
    m.source === 'judged' ? 'no raw datapoints stored: one point per check (the judged value)' : `${m.canary.filter((p) => p.value !== null).length} canary datapoints${m.periodSeconds ? ` of ${esc(m.periodSeconds)} s` : ''}`,
  ].filter(Boolean).join(' · ');
  // The reason that matters: the check that failed the metric, else the last counted one not passing.
  const last = (m.decisive && m.judged.find((j) => j.checkNo === m.decisive!.checkNo && j.verdict === 'FAIL'))
    ?? m.judged.filter((j) => j.verdict !== 'PASS' && !j.duringBake).at(-1) ?? m.judged.filter((j) => !j.duringBake).at(-1) ?? m.judged.at(-1);
  return `<section class="card metric" id="metric-${esc(m.name)}">
  <header class="metric-head"><h3>${esc(m.name)}</h3><div class="chips">${chips}</div>${state}</header>
  ${metricChart(m, model)}
  <div class="legend">
    <span><i class="swatch" style="background:${COLORS.canary}"></i>canary</span>
    <span><i class="swatch" style="background:${COLORS.baseline}"></i>baseline</span>
    <span><i class="swatch dashed" style="border-color:${COLORS.threshold}"></i>threshold</span>
    <span><i class="tri" style="border-top-color:${COLORS.pass}"></i>check passed</span>
    <span><i class="tri" style="border-top-color:${COLORS.fail}"></i>failed</span>
    <span><i class="tri" style="border-top-color:${COLORS.warn}"></i>inconclusive</span>
    <span><i class="tri small" style="border-top-color:${COLORS.bake}"></i>bake check</span>
    <span><i class="dot" style="background:${COLORS.fail}"></i>datapoint beyond the threshold</span>
    ${m.decisive && m.source === 'raw' ? `<span><i class="ring" style="border-color:${m.trend ? COLORS.trend : COLORS.fail}"></i>datapoints that decided (check #${esc(m.decisive.checkNo)})</span>` : ''}
    ${m.trend ? `<span><i class="swatch" style="background:${COLORS.trend}"></i>trend, <i class="swatch dashed" style="border-color:${COLORS.trend}"></i>projection at its lower bound</span>` : ''}
  </div>
  <p class="facts">${facts}</p>
  ${last ? `<p class="reason ${verdictClass(last.verdict)}"><b>check #${esc(last.checkNo)}</b> ${esc(last.reason)}</p>` : ''}
</section>`;
}

/** What the first bad datapoint is, by the rule that found it. */
function firstBadText(f: NonNullable<NonNullable<ReportModel['summary']>['firstBad']>): string {
  switch (f.rule) {
    case 'threshold': return `${f.metric}: the first canary datapoint of the stage beyond its threshold`;
    case 'trend': return `${f.metric}: the first datapoint of the climb the trend was projected from`;
    case 'window': return `${f.metric}: the first datapoint of the window that failed`;
  }
}

function durationCell(seconds: number | undefined): string {
  return seconds === undefined ? '<span class="muted">not recorded</span>' : esc(formatDuration(seconds));
}

function summarySection(model: ReportModel): string {
  const s = model.summary;
  if (!s) return '';
  const d = s.durations;
  const row = (label: string, at: string | undefined, text: string, cls = '') =>
    `<tr class="${cls}"><th scope="row">${esc(label)}</th><td class="mono">${at ? esc(offset(model, at)) : '—'}</td><td class="mono muted">${at ? esc(clock(at)) : ''}</td><td>${text}</td></tr>`;
  const rows = [
    row('Rollout started', s.startedAt, `plan ${esc(model.stagesPlanned.map((w) => `${w} %`).join(' → '))}`),
    s.canaryTrafficAt ? row('Canary took traffic', s.canaryTrafficAt, `peak weight ${esc(s.peakWeight)} %`) : '',
    s.stage.setAt ? row(`Stage ${s.stage.index + 1} (${s.stage.weight} %) began`, s.stage.setAt, s.stage.inSyncAt ? `INSYNC at ${esc(offset(model, s.stage.inSyncAt))}` : '') : '',
    s.firstBad ? row('First bad datapoint', s.firstBad.at, esc(firstBadText(s.firstBad)), 'warn') : '',
    row('Detected', s.detectedAt, `by ${esc(s.detectedBy)}${d.stageToDetection !== undefined ? `, ${esc(formatDuration(d.stageToDetection))} after the stage began` : ''}`, 'fail'),
    row('Decided: roll back', s.decidedAt, `${esc(formatDuration(d.detectionToDecision))} after detection`, 'fail'),
    s.rollback ? row('Rollback submitted', s.rollback.submittedAt, `Route 53 change <span class="mono">${esc(s.rollback.changeId)}</span>`) : '',
    row('Traffic restored', s.restoredAt, s.restoredAt ? '100 % baseline INSYNC on every Route 53 server' : '<b>not recorded</b>', 'pass'),
    s.incident ? row(`Incident opened${s.incident.severity ? ` (${esc(s.incident.severity)})` : ''}`, s.incident.at, s.incident.targets.map((t) => `${esc(t.target)} ${t.ok ? 'delivered' : '<b class="fail">failed</b>'}${t.id ? ` <span class="mono muted">${esc(t.id)}</span>` : ''}`).join(', ') +
      (s.incident.statusUpdates ? `; ${esc(s.incident.statusUpdates)} status update${s.incident.statusUpdates === 1 ? '' : 's'} while the recovery watch ran` : '')) : '',
    s.recovery ? row(s.recovery.outcome === 'RECOVERED' ? 'Recovery verified' : 'Escalated', s.recovery.at, s.recovery.outcome === 'RECOVERED'
      ? `the service is healthy on the baseline (window ${esc(offset(model, s.recovery.window.start))}–${esc(offset(model, s.recovery.window.end))})`
      : `<b>the service is still unhealthy after the rollback</b>: ${s.recovery.reasons.map((r) => esc(r)).join('; ')}`, s.recovery.outcome === 'RECOVERED' ? 'pass' : 'fail') : '',
  ].join('');
  const fired = s.thresholdsFired.map((f) => `<tr>
      <td><b>${esc(f.metric)}</b>${f.critical ? ' <span class="chip chip-critical">critical</span>' : ''}</td>
      <td class="num fail">${esc(formatValue(f.canaryValue, f.unit))}</td>
      <td class="num">${esc(formatValue(f.baselineValue, f.unit))}</td>
      <td>${esc(describeThreshold(f.threshold, f.unit) || '—')}</td>
      <td class="mono muted">${esc(f.test)}</td>
      <td>${esc(f.reason)}</td></tr>`).join('');
  const inconclusive = s.inconclusive.map((f) => `<li>${esc(f.reason)}</li>`).join('');
  return `<section class="card summary" id="summary">
  <h2>Post-incident summary</h2>
  <p class="headline">${esc(s.headline)}</p>
  <div class="kpis">
    ${d.timeToDetect !== undefined
    ? `<div class="kpi"><span>Time to detect</span><b>${durationCell(d.timeToDetect)}</b><small>from the first bad datapoint (${esc(offset(model, s.firstBad!.at))}, ${esc(s.firstBad!.metric)})</small></div>`
    : `<div class="kpi"><span>Time to detect</span><b>${durationCell(d.stageToDetection)}</b><small>from the stage's weight change (no raw datapoints to find the first bad one)</small></div>`}
    <div class="kpi"><span>Time to decide</span><b>${durationCell(d.detectionToDecision)}</b><small>from detection</small></div>
    <div class="kpi kpi-key"><span>Time to restore</span><b>${durationCell(d.timeToRestore)}</b><small>decision → baseline INSYNC</small></div>
    <div class="kpi"><span>Canary exposure</span><b>${durationCell(d.canaryExposure)}</b><small>first canary traffic → restored, peak ${esc(s.peakWeight)} %</small></div>
  </div>
  <h3>What happened, when</h3>
  <table class="facts-table"><tbody>${rows}</tbody></table>
  <h3>Thresholds that fired</h3>
  ${fired ? `<table class="fired"><thead><tr><th>Metric</th><th>Canary</th><th>Baseline</th><th>Threshold</th><th>Test</th><th>Reason</th></tr></thead><tbody>${fired}</tbody></table>` : '<p class="muted">None: the rollback was not a threshold\'s (see the reasons).</p>'}
  ${inconclusive ? `<h3>Could not be judged</h3><ul>${inconclusive}</ul>` : ''}
  <h3>Reasons recorded with the decision</h3>
  <ul class="reasons">${s.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul>
  <p class="muted small">Checks: ${esc(describeCheckCounts(s.checks))}. ${s.caveats.map((c) => esc(c)).join(' ')}</p>
</section>`;
}

function timelineSection(model: ReportModel): string {
  const item = (e: TimelineEntry) => {
    const details = e.details.length
      ? e.type === 'CHECK' && e.level === 'pass'
        ? `<details><summary>${esc(e.details.length)} metric${e.details.length === 1 ? '' : 's'} passed</summary><ul>${e.details.map((x) => `<li>${esc(x)}</li>`).join('')}</ul></details>`
        : `<ul>${e.details.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`
      : '';
    return `<li class="tl-item tl-${e.level}"><span class="tl-dot" style="background:${levelColor(e.level)}"></span>
      <div class="tl-time"><span class="mono">${esc(offset(model, e.at))}</span><span class="mono muted">${esc(e.at.slice(11, 19))}</span></div>
      <div class="tl-body"><div class="tl-title">${esc(e.title)}</div>${details}</div></li>`;
  };
  return `<section class="card" id="timeline"><h2>Timeline</h2><ol class="timeline">${model.timeline.map(item).join('')}</ol></section>`;
}

function checksSection(model: ReportModel): string {
  if (!model.checks.length) return '';
  const names = model.metrics.map((m) => m.name);
  const unitOf = (n: string) => model.metrics.find((m) => m.name === n)?.unit ?? 'none';
  const row = (c: CheckRow) => `<tr${c.duringBake && c.verdict !== 'FAIL' ? ' class="bake-row"' : ''}>
    <td class="num">${esc(c.checkNo)}</td><td class="mono">${esc(offset(model, c.at))}</td><td>${esc(c.stage)} · ${esc(c.weight)} %</td>
    <td>${c.duringBake ? 'bake' : c.hold ? 'held' : 'counted'}</td>
    <td><span class="badge badge-${verdictClass(c.verdict)}">${esc(c.verdict)}</span></td>
    ${names.map((n) => {
      const m = c.metrics.find((x) => x.name === n);
      return m ? `<td class="num ${verdictClass(m.verdict)}" title="${esc(m.reason)}">${esc(formatValue(m.canaryValue, unitOf(n)))}<span class="muted"> / ${esc(formatValue(m.baselineValue, unitOf(n)))}</span></td>` : '<td></td>';
    }).join('')}
    <td class="muted">${c.hasRawData ? 'raw' : '—'}</td></tr>`;
  return `<section class="card" id="checks"><h2>Checks</h2>
  <p class="muted small">${esc(describeCheckCounts(model.checkCounts))}. Counted checks decide a stage; during the bake only a confident failure acts. Each cell: the canary's judged value / the baseline's (hover for the reason). "raw": the check's datapoints are in the evidence.</p>
  <table class="checks"><thead><tr><th>#</th><th>At</th><th>Stage</th><th>Kind</th><th>Verdict</th>${names.map((n) => `<th>${esc(n)}</th>`).join('')}<th>Data</th></tr></thead>
  <tbody>${model.checks.map(row).join('')}</tbody></table></section>`;
}

function stagesStrip(model: ReportModel): string {
  if (!model.stages.length) return '';
  const t0 = ms(model.startedAt);
  const t1 = Math.max(t0 + 1, ms(model.endedAt));
  const pct = (iso: string) => ((ms(iso) - t0) / (t1 - t0)) * 100;
  const segs = model.stages.map((st) => {
    const left = pct(st.setAt);
    const width = Math.max(0.4, pct(st.endAt) - left);
    const cls = st.weight === 0 ? 'seg seg-back' : st.checks.failed || st.checks.duringBake.failed ? 'seg seg-fail' : st.checks.inconclusive ? 'seg seg-warn' : 'seg';
    const label = width < 3.5 ? '' : st.weight === 0 ? 'rollback' : `${st.weight} %`;
    const tip = `${st.weight === 0 ? 'rollback' : `stage ${st.stage}`}: canary ${st.weight} % from ${offset(model, st.setAt)} (change ${st.changeId}${st.inSyncAt ? `, INSYNC ${offset(model, st.inSyncAt)}` : ''}); ${describeCheckCounts(st.checks)}`;
    return `<div class="${cls}" style="left:${num(left)}%;width:${num(width)}%" title="${esc(tip)}"><span>${esc(label)}</span></div>`;
  }).join('');
  const checks = model.checks.map((c) => `<i class="cdot ${c.duringBake && c.verdict !== 'FAIL' ? 'bake' : verdictClass(c.verdict)}" style="left:${num(pct(c.at))}%" title="${esc(`${c.duringBake ? 'bake check' : 'check'} #${c.checkNo} ${c.verdict} at ${offset(model, c.at)}`)}"></i>`).join('');
  const changes = model.stages.map((st) => `<tr><td>${st.weight === 0 ? 'rollback' : `stage ${esc(st.stage)}`}</td><td class="num">${esc(st.weight)} %</td><td class="mono">${esc(st.changeId)}</td><td class="mono">${esc(offset(model, st.setAt))}</td><td class="mono">${st.inSyncAt ? esc(offset(model, st.inSyncAt)) : '<span class="muted">—</span>'}</td><td class="num">${st.inSyncAt ? esc(formatDuration((ms(st.inSyncAt) - ms(st.setAt)) / 1000)) : ''}</td><td>${esc(st.checks.passed)} / ${esc(st.checks.failed)} / ${esc(st.checks.inconclusive)}${st.checks.duringBake.total ? ` <span class="muted">· bake ${esc(st.checks.duringBake.total)} (${esc(st.checks.duringBake.failed)} failed)</span>` : ''}</td></tr>`).join('');
  return `<section class="card" id="stages"><h2>Traffic</h2>
  <div class="strip">${segs}${checks}</div>
  <div class="strip-axis"><span>${esc(offset(model, model.startedAt))}</span><span>${esc(offset(model, model.endedAt))}</span></div>
  <table class="changes"><thead><tr><th></th><th>Canary</th><th>Route 53 change</th><th>Submitted</th><th>INSYNC</th><th>Propagation</th><th>Counted checks ✓ / ✗ / ?</th></tr></thead><tbody>${changes}</tbody></table>
</section>`;
}

const CSS = `
:root{--ink:#212529;--muted:#6c757d;--line:#dee2e6;--bg:#f1f3f5;--card:#fff;--pass:${COLORS.pass};--fail:${COLORS.fail};--warn:${COLORS.warn}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",Arial,sans-serif}
.mono,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono","DejaVu Sans Mono",monospace;font-size:12.5px}
.muted{color:var(--muted)}.small{font-size:12.5px}
.pass{color:var(--pass)}.fail{color:var(--fail)}.warn{color:var(--warn)}
header.top{background:#1f2933;color:#f8f9fa;padding:22px 0 18px}
.wrap{max-width:1180px;margin:0 auto;padding:0 24px}
header.top h1{margin:0 0 4px;font-size:24px;font-weight:650;letter-spacing:-.01em}
header.top .sub{color:#ced4da;font-size:13px}
header.top .sub span{margin-right:14px}
.outcome{display:inline-block;padding:3px 10px;border-radius:4px;font-weight:700;font-size:12px;letter-spacing:.06em;vertical-align:middle;margin-left:10px}
.outcome-ROLLED_BACK{background:var(--fail);color:#fff}.outcome-PROMOTED{background:var(--pass);color:#fff}.outcome-other{background:var(--warn);color:#fff}
main.wrap{padding-top:18px;padding-bottom:32px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:18px 22px;margin:0 0 18px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
h2{font-size:17px;margin:0 0 12px;font-weight:650}
h3{font-size:14px;margin:18px 0 8px;font-weight:650}
h2.section-title{margin:6px 2px 10px;font-size:18px}
.headline{font-size:15.5px;margin:0 0 14px}
.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin:4px 0 6px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#f8f9fa}
.kpi span{display:block;font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.kpi b{display:block;font-size:22px;font-weight:650;margin:2px 0}
.kpi small{color:var(--muted);font-size:11.5px}
.kpi-key{border-color:#b2f2bb;background:#ebfbee}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em;background:#f8f9fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.facts-table th{width:220px;font-weight:600}
.facts-table td.mono{white-space:nowrap;width:90px}
.facts-table td.mono.muted{width:190px}
.facts-table tr.fail th{color:var(--fail)}.facts-table tr.pass th{color:var(--pass)}.facts-table tr.warn th{color:var(--warn)}
.reasons li{margin:2px 0}
.chip{display:inline-block;border:1px solid var(--line);border-radius:999px;padding:0 8px;font-size:12px;color:#495057;background:#f8f9fa;margin-right:4px}
.chip-critical{border-color:#ffc9c9;background:#fff5f5;color:var(--fail);font-weight:600}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-size:12px;font-weight:650;background:#e9ecef;color:#495057}
.badge-pass{background:#d3f9d8;color:#2b8a3e}.badge-fail{background:#ffe3e3;color:#c92a2a}.badge-warn{background:#fff3bf;color:#c25e00}
.metric-head{display:flex;align-items:center;gap:12px;margin-bottom:6px}
.metric-head h3{margin:0;font-size:16px}
.metric-head .badge{margin-left:auto}
svg.chart{display:block;margin:4px 0 2px;font-family:inherit}
svg .tick{font-size:11px;fill:#495057}
svg .axis-title{font-size:11px;fill:#868e96}
svg .stage-label{font-size:11px;fill:#495057;font-weight:600}
svg .threshold-label{font-size:11.5px;fill:${COLORS.threshold};font-weight:600}
svg .marker-label{font-size:11.5px;font-weight:700;paint-order:stroke;stroke:#fff;stroke-width:3px}
.legend{display:flex;flex-wrap:wrap;gap:16px;font-size:12px;color:#495057;margin:2px 0 6px}
.legend span{display:inline-flex;align-items:center;gap:6px}
.swatch{display:inline-block;width:18px;height:3px;border-radius:2px}
.swatch.dashed{height:0;border-top:2px dashed}
.tri{display:inline-block;width:0;height:0;border-left:5px solid transparent;border-right:5px solid transparent;border-top:8px solid}
.dot{display:inline-block;width:8px;height:8px;border-radius:50%}
.facts{margin:4px 0;color:#495057;font-size:13px}
.reason{margin:6px 0 0;padding:8px 12px;border-radius:6px;background:#f8f9fa;border-left:3px solid var(--line);font-size:13px}
.reason.fail{background:#fff5f5;border-left-color:var(--fail);color:#862e2e}
.reason.warn{background:#fff9db;border-left-color:var(--warn);color:#7a4a00}
.reason.pass{border-left-color:var(--pass);color:#2b5d34}
.strip{position:relative;height:34px;background:#f8f9fa;border:1px solid var(--line);border-radius:6px;margin:6px 0 2px;overflow:hidden}
.seg{position:absolute;top:0;bottom:0;background:#d0ebff;border-left:2px solid #74c0fc;display:flex;align-items:center;overflow:hidden}
.seg span{font-size:12px;font-weight:600;padding-left:6px;white-space:nowrap;color:#1864ab}
.seg-fail{background:#ffe3e3;border-left-color:#ff8787}.seg-fail span{color:#c92a2a}
.seg-warn{background:#fff3bf;border-left-color:#fcc419}.seg-warn span{color:#c25e00}
.seg-back{background:repeating-linear-gradient(135deg,#fff5f5 0 6px,#ffe3e3 6px 12px);border-left-color:var(--fail)}.seg-back span{color:#c92a2a}
.cdot{position:absolute;bottom:3px;width:8px;height:8px;margin-left:-4px;border-radius:50%;background:var(--pass);border:1px solid #fff}
.cdot.fail{background:var(--fail)}.cdot.warn{background:var(--warn)}.cdot.bake{width:5px;height:5px;margin-left:-2.5px;bottom:4px;background:${COLORS.bake}}
.tri.small{border-left-width:3px;border-right-width:3px;border-top-width:5px}
.ring{display:inline-block;width:10px;height:10px;border-radius:50%;border:2px solid}
svg .trend-label{font-size:11px;font-weight:700}
.checks tr.bake-row td{color:var(--muted)}.checks tr.bake-row .badge{opacity:.55}
.strip-axis{display:flex;justify-content:space-between;font-size:11.5px;color:var(--muted);margin-bottom:10px}
.timeline{list-style:none;margin:0;padding:0;position:relative}
.timeline:before{content:"";position:absolute;left:150px;top:4px;bottom:4px;width:2px;background:var(--line)}
.tl-item{display:grid;grid-template-columns:140px 1fr;gap:24px;position:relative;padding:5px 0}
.tl-dot{position:absolute;left:146px;top:11px;width:10px;height:10px;border-radius:50%;border:2px solid #fff;box-shadow:0 0 0 1px var(--line)}
.tl-time{display:flex;gap:8px;justify-content:flex-end}
.tl-title{font-weight:600}
.tl-fail .tl-title{color:var(--fail)}.tl-warn .tl-title{color:#c25e00}
.tl-body ul{margin:2px 0 0;padding-left:0;list-style:none;color:#495057;font-size:13px}
.tl-body details{font-size:13px;color:#495057}.tl-body summary{cursor:pointer;color:var(--muted)}
.checks td,.checks th{padding:5px 8px;font-size:13px}
footer{color:var(--muted);font-size:12px;padding:0 0 28px}
footer p{margin:2px 0}
@media print{body{background:#fff}.card{box-shadow:none;break-inside:avoid}header.top{background:#fff;color:#000;border-bottom:2px solid #000}header.top .sub{color:#333}}
`;

export interface HtmlOptions {
  /** Shown in the footer (default: the model's generatedAt). */
  generator?: string;
}

export function renderHtml(model: ReportModel, options: HtmlOptions = {}): string {
  const outcomeClass = model.outcome ?? 'other';
  const outcomeText = (model.outcome ?? model.status).replace(/_/g, ' ');
  const decision = model.decision;
  const decisionCard = decision && !model.summary ? `<section class="card" id="decision"><h2>Decision: ${esc(decision.outcome === 'PROMOTED' ? 'promoted' : 'rolled back')} at stage ${esc(decision.stageIndex + 1)} (${esc(decision.weight)} %), ${esc(offset(model, decision.at))}</h2>
  <ul class="reasons">${decision.reasons.map((r) => `<li>${esc(r)}</li>`).join('')}</ul></section>` : '';
  const noDecision = !decision ? `<section class="card"><h2>No decision yet</h2><p>The rollout is ${esc(model.status.replace(/_/g, ' '))}: this report shows what is recorded so far.</p></section>` : '';
  const metrics = model.metrics.length
    ? `<h2 class="section-title">Metrics</h2>${model.metrics.map((m) => metricSection(m, model)).join('')}`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="referrer" content="no-referrer">
<title>${esc(`Canary report: ${model.name} ${model.rolloutId} (${outcomeText})`)}</title>
<style>${CSS}</style>
</head>
<body>
<header class="top"><div class="wrap">
  <h1>${esc(model.name)} <span class="outcome outcome-${esc(outcomeClass)}">${esc(outcomeText)}</span></h1>
  <div class="sub"><span>rollout <b class="mono">${esc(model.rolloutId)}</b></span><span>target <span class="mono">${esc(model.targetKey)}</span></span><span>started ${esc(clock(model.startedAt))}</span><span>duration ${esc(formatDuration(model.durationSeconds))}</span>${decision ? `<span>decided at stage ${esc(decision.stage)} (${esc(decision.weight)} %)</span>` : ''}</div>
</div></header>
<main class="wrap">
${summarySection(model)}${decisionCard}${noDecision}
${stagesStrip(model)}
${metrics}
${timelineSection(model)}
${checksSection(model)}
</main>
<footer class="wrap">
  <p>Generated ${esc(clock(model.generatedAt))}${options.generator ? ` by ${esc(options.generator)}` : ''}${model.source ? ` from ${esc(model.source)}` : ''}. ${esc(model.evidence.checksRecorded)} checks recorded, ${esc(model.evidence.checksWithRawData)} with raw datapoints.</p>
  ${model.evidenceLocation ? `<p>Evidence: <span class="mono">${esc(model.evidenceLocation)}</span></p>` : ''}
  ${model.executionArn ? `<p>Execution: <span class="mono">${esc(model.executionArn)}</span></p>` : ''}
  <p>Times are UTC; +hh:mm:ss counts from the rollout's start. This file is self-contained: no scripts, no external resources.</p>
</footer>
</body>
</html>
`;
}
