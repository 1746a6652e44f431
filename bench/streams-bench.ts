/**
 * Streams benchmark: long recordings of one stage (bench/stream-generator.ts: 3 to 48 hours, a
 * period a minute, half healthy, half with a regression starting at a random minute), replayed
 * check by check the way the analyze step runs them, by four judges side by side:
 *
 * - sequential: stage-analysis.ts, exactly as the analyze step calls it: at each check
 *   (every checkIntervalSeconds from the first complete period), periodsToFetch, the window of
 *   only those periods, analyzeCheck with the carried state;
 * - today: the cumulative window from the stage start judged by the window judge
 *   (statisticalJudge) and decideAfterCheck, as the analyze step does now (during the bake only
 *   a FAIL acts);
 * - argo: Argo-Rollouts-style rules: every minute, the last 5 minutes' rate / mean against the
 *   thresholds and (canary over baseline) the allowed increase; a measurement that breaks one is
 *   a failure, and the 4th failure in the stage (failureLimit 3) rolls back;
 * - flagger: Flagger-style: every minute, the last minute's values against the same limits; the
 *   5th failed check in the stage (threshold 5) rolls back.
 *
 *   npm run bench:streams [-- --seed 7 --count 100 --today-max-hours 12 --json]
 *
 * Printed, per judge and per regression kind: false rollbacks on healthy recordings, healthy ones
 * promoted by the end of the recording (the rest still wait: a stage that stalls), detection
 * (rolled back before the recording ends; a slow leak: before its memory's 5-minute mean crosses 80 %), delay
 * from onset to the rolling-back check (p50, p95, max), and wall time per recorded hour (the
 * judge's calls only, not the generator). Today's judge re-judges the whole stage at every
 * check (quadratic per check), so it is run on the recordings of at most --today-max-hours
 * hours; its figures are over that subset, and so are the other judges' figures in the
 * "same subset" table.
 */
import process from 'node:process';
import { parseRolloutConfig, type JudgeMetric, type RolloutConfig } from '../functions/core/config.ts';
import { decideAfterCheck, type StageCounters } from '../functions/core/decision.ts';
import type { Judgement, MetricData, MetricWindow, Series } from '../functions/core/judge.ts';
import { firstCheckAt } from '../functions/core/rollout-steps.ts';
import { analyzeCheck, emptyWindow, periodsToFetch, startStageAnalysis } from '../functions/core/stage-analysis.ts';
import { statisticalJudge } from '../functions/core/statistical-judge.ts';
import { generateCorpus, REGRESSION_KINDS, STREAM_METRICS, type StreamRecording } from './stream-generator.ts';

interface Args { seed: number; count: number; todayMaxHours: number; json: boolean; verbose: boolean; only?: string; trendHorizon?: number }

function parseArgs(argv: string[]): Args {
  const args: Args = { seed: 7, count: 100, todayMaxHours: 12, json: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => argv[++i] ?? '';
    if (a === '--seed') args.seed = Number(next());
    else if (a === '--count') args.count = Number(next());
    else if (a === '--today-max-hours') args.todayMaxHours = Number(next());
    else if (a === '--only') args.only = next();
    else if (a === '--trend-horizon') args.trendHorizon = Number(next());
    else if (a === '--json') args.json = true;
    else if (a === '--verbose' || a === '-v') args.verbose = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/streams-bench.ts [--seed n] [--count n] [--today-max-hours h] [--trend-horizon s] [--only <id>] [--json] [--verbose]\n');
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument '${a}' (try --help)\n`);
      process.exit(2);
    }
  }
  return args;
}

let trendHorizonSeconds: number | undefined;

export function streamConfig(rec: StreamRecording): RolloutConfig {
  const placeholder = (name: string) => ({ namespace: 'Bench', metricName: name, dimensions: {}, stat: 'Average' });
  const config = parseRolloutConfig({
    name: 'streams',
    target: { hostedZoneId: 'ZBENCH', recordName: 'bench.invalid', baselineSetIdentifier: 'baseline', canarySetIdentifier: 'canary' },
    stages: [rec.weight, 100], bakeSeconds: 300, checkIntervalSeconds: 60, analysisPeriodSeconds: 60,
    metrics: STREAM_METRICS.map((m) => ({
      ...m,
      ...(trendHorizonSeconds !== undefined && m.kind === 'gauge' ? { judge: { trendHorizonSeconds } } : {}),
      queries: m.kind === 'ratio'
        ? { canary: { numerator: placeholder(m.name), denominator: placeholder(m.name) }, baseline: { numerator: placeholder(m.name), denominator: placeholder(m.name) } }
        : { canary: { value: placeholder(m.name) }, baseline: { value: placeholder(m.name) } },
    })),
  });
  // The stage is the recording: it bakes until 30 minutes before the end (a long stage's bake
  // is beyond the schema's 24 h for the 48 h recordings; the judge does not care).
  config.stages[0]!.bakeSeconds = Math.max(300, (rec.periods - 30) * 60);
  return config;
}

function sliceSeries(s: Series, from: number, n: number): Series {
  const cut = (a: (number | null)[]) => a.slice(from, from + n);
  return 'values' in s ? { values: cut(s.values) } : { numerator: cut(s.numerator), denominator: cut(s.denominator) };
}

function sliceWindow(rec: StreamRecording, from: number, n: number): MetricWindow {
  const metrics: Record<string, MetricData> = {};
  for (const [name, d] of Object.entries(rec.metrics)) {
    metrics[name] = { canary: sliceSeries(d.canary, from, n), ...(d.baseline ? { baseline: sliceSeries(d.baseline, from, n) } : {}) };
  }
  return { periodSeconds: rec.periodSeconds, start: new Date(Date.parse(rec.start) + from * rec.periodSeconds * 1000).toISOString(), metrics };
}

export interface Outcome { action: 'ROLLBACK' | 'ADVANCE' | 'NONE'; minute: number | null; reasons: string[]; micros: number }

/** The checks of the stage: every checkInterval from the first complete, published period, to the end of the recording. */
function checkTimes(rec: StreamRecording, config: RolloutConfig): Date[] {
  const start = Date.parse(rec.start);
  const end = start + rec.periods * 60_000 + 60_000;
  const out: Date[] = [];
  for (let t = start + 120_000; t <= end; t += config.checkIntervalSeconds * 1000) out.push(new Date(t));
  return out;
}

const minuteOf = (rec: StreamRecording, at: Date) => (at.getTime() - Date.parse(rec.start)) / 60_000;

export function runSequential(rec: StreamRecording, config = streamConfig(rec)): Outcome {
  const start = new Date(rec.start);
  const bakeEnd = firstCheckAt(config, 0, start);
  let micros = 0;
  let t0 = process.hrtime.bigint();
  let state = startStageAnalysis(config, 0, start);
  micros += Number(process.hrtime.bigint() - t0) / 1000;
  for (const now of checkTimes(rec, config)) {
    t0 = process.hrtime.bigint();
    const range = periodsToFetch(state, now, 60);
    micros += Number(process.hrtime.bigint() - t0) / 1000;
    const window = range
      ? sliceWindow(rec, (range.start.getTime() - start.getTime()) / 60_000, (range.end.getTime() - range.start.getTime()) / 60_000)
      : emptyWindow(state);
    t0 = process.hrtime.bigint();
    const out = analyzeCheck({ config, stageIndex: 0, weight: rec.weight, now, bakeEnd, mode: 'stage', state, window });
    micros += Number(process.hrtime.bigint() - t0) / 1000;
    state = out.state;
    if (out.action !== 'CHECK_AGAIN') return { action: out.action, minute: minuteOf(rec, now), reasons: out.reasons, micros };
  }
  return { action: 'NONE', minute: null, reasons: [], micros };
}

export function runToday(rec: StreamRecording, config = streamConfig(rec)): Outcome {
  const start = new Date(rec.start);
  const bakeEnd = firstCheckAt(config, 0, start);
  let counters: StageCounters = { passed: 0, failed: 0, inconclusive: 0 };
  let micros = 0;
  const stage = config.stages[0]!;
  for (const now of checkTimes(rec, config)) {
    const n = Math.floor((now.getTime() - 60_000 - start.getTime()) / 60_000);
    const window = sliceWindow(rec, 0, n);
    const t0 = process.hrtime.bigint();
    const judgement: Judgement = statisticalJudge.judge(config.metrics, window);
    const duringBake = now < bakeEnd;
    let outcome = decideAfterCheck(judgement, counters, {
      checksRequired: stage.checks, failureLimit: config.failureLimit, inconclusiveLimit: config.inconclusiveLimit,
      maxExtensionSeconds: config.maxBakeExtensionSeconds, extendedSeconds: Math.max(0, (now.getTime() - bakeEnd.getTime()) / 1000),
    });
    if (duringBake && judgement.verdict !== 'FAIL') outcome = { action: 'CHECK_AGAIN', counters, reasons: [] };
    micros += Number(process.hrtime.bigint() - t0) / 1000;
    counters = outcome.counters;
    if (outcome.action !== 'CHECK_AGAIN') return { action: outcome.action, minute: minuteOf(rec, now), reasons: outcome.reasons, micros };
  }
  return { action: 'NONE', minute: null, reasons: [], micros };
}

/** One measurement of a metric over the last `span` complete periods: does it break a limit? */
function breaks(metric: JudgeMetric, d: MetricData | undefined, end: number, span: number): string | null {
  if (!d) return null;
  const from = Math.max(0, end - span);
  if (metric.kind === 'ratio') {
    if (!('numerator' in d.canary)) return null;
    const sum = (s: { numerator: (number | null)[]; denominator: (number | null)[] }) => {
      let x = 0;
      let n = 0;
      for (let i = from; i < end; i++) {
        const den = s.denominator[i];
        if (den === null || den === undefined) continue;
        n += den;
        x += s.numerator[i] ?? 0;
      }
      return { x, n };
    };
    const c = sum(d.canary);
    if (c.n === 0) return null;
    const rate = (100 * c.x) / c.n;
    if (metric.threshold.max !== undefined && rate > metric.threshold.max) return `${metric.name} ${rate.toFixed(2)} % > ${metric.threshold.max} %`;
    if (metric.baseline && d.baseline && 'numerator' in d.baseline) {
      const b = sum(d.baseline);
      const br = b.n > 0 ? (100 * b.x) / b.n : 0;
      const allowed = Math.max(br * (1 + metric.baseline.maxIncreasePercent / 100), br + (metric.baseline.minIncrease ?? 0));
      if (b.n > 0 && rate > allowed) return `${metric.name} ${rate.toFixed(2)} % > allowed ${allowed.toFixed(2)} %`;
    }
    return null;
  }
  if (!('values' in d.canary)) return null;
  const mean = (v: (number | null)[]) => {
    let s = 0;
    let k = 0;
    for (let i = from; i < end; i++) {
      const x = v[i];
      if (x === null || x === undefined) continue;
      s += x;
      k++;
    }
    return k > 0 ? s / k : null;
  };
  const c = mean(d.canary.values);
  if (c === null) return null;
  if (metric.threshold.max !== undefined && c > metric.threshold.max) return `${metric.name} ${c.toFixed(3)} > ${metric.threshold.max}`;
  if (metric.threshold.min !== undefined && c < metric.threshold.min) return `${metric.name} ${c.toFixed(3)} < ${metric.threshold.min}`;
  if (metric.baseline && d.baseline && 'values' in d.baseline) {
    const b = mean(d.baseline.values);
    if (b !== null) {
      const allowed = Math.max(b * (1 + metric.baseline.maxIncreasePercent / 100), b + (metric.baseline.minIncrease ?? 0));
      if (c > allowed) return `${metric.name} ${c.toFixed(3)} > allowed ${allowed.toFixed(3)}`;
    }
  }
  return null;
}

function runRule(rec: StreamRecording, config: RolloutConfig, span: number, failuresToRollback: number): Outcome {
  const start = Date.parse(rec.start);
  let failures = 0;
  let micros = 0;
  for (const now of checkTimes(rec, config)) {
    const end = Math.floor((now.getTime() - 60_000 - start) / 60_000);
    const t0 = process.hrtime.bigint();
    const broken = config.metrics.map((m) => breaks(m, rec.metrics[m.name], end, span)).filter((r): r is string => r !== null);
    micros += Number(process.hrtime.bigint() - t0) / 1000;
    if (broken.length > 0 && ++failures >= failuresToRollback) return { action: 'ROLLBACK', minute: minuteOf(rec, now), reasons: broken, micros };
  }
  return { action: 'NONE', minute: null, reasons: [], micros };
}

export const runArgo = (rec: StreamRecording, config = streamConfig(rec)) => runRule(rec, config, 5, 4);
export const runFlagger = (rec: StreamRecording, config = streamConfig(rec)) => runRule(rec, config, 1, 5);

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

interface Row { rec: StreamRecording; out: Outcome }

function quantileOf(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = p * (s.length - 1);
  const lo = Math.floor(pos);
  return lo + 1 < s.length ? s[lo]! + (pos - lo) * (s[lo + 1]! - s[lo]!) : s[lo]!;
}

/** Detected: rolled back after the onset and before the end (a leak: before it crosses its threshold). */
function detected(r: Row): boolean {
  if (r.out.action !== 'ROLLBACK' || r.out.minute === null || r.rec.onsetMinute === undefined) return false;
  if (r.out.minute < r.rec.onsetMinute) return false;
  if (r.rec.kind === 'slow-leak' && r.rec.crossingMinute !== undefined) return r.out.minute <= r.rec.crossingMinute;
  return true;
}

interface Figures { label: string; n: number; falseRollbacks?: string; promoted?: string; detection?: string; p50?: number; p95?: number; max?: number; early?: number }

function figures(label: string, rows: Row[]): Figures {
  const healthy = rows.filter((r) => r.rec.kind === 'healthy');
  const bad = rows.filter((r) => r.rec.kind !== 'healthy');
  const f: Figures = { label, n: rows.length };
  if (healthy.length) {
    f.falseRollbacks = `${healthy.filter((r) => r.out.action === 'ROLLBACK').length}/${healthy.length}`;
    f.promoted = `${healthy.filter((r) => r.out.action === 'ADVANCE').length}/${healthy.length}`;
  }
  if (bad.length) {
    const hits = bad.filter(detected);
    f.detection = `${hits.length}/${bad.length}`;
    const delays = bad.filter((r) => r.out.action === 'ROLLBACK' && r.out.minute !== null && r.out.minute >= r.rec.onsetMinute!).map((r) => r.out.minute! - r.rec.onsetMinute!);
    f.p50 = quantileOf(delays, 0.5);
    f.p95 = quantileOf(delays, 0.95);
    f.max = delays.length ? Math.max(...delays) : NaN;
    // Rolled back before the regression started: a false rollback on the healthy part.
    f.early = bad.filter((r) => r.out.action === 'ROLLBACK' && r.out.minute !== null && r.out.minute < r.rec.onsetMinute!).length;
  }
  return f;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const minutes = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(1));

function figureRows(groups: [string, Row[]][]): string[][] {
  return groups.map(([label, rows]) => {
    const f = figures(label, rows);
    const margins = rows.filter((r) => r.rec.crossingMinute !== undefined && r.out.action === 'ROLLBACK' && r.out.minute !== null)
      .map((r) => r.rec.crossingMinute! - r.out.minute!);
    const margin = margins.length ? `${minutes(quantileOf(margins, 0.5))}, ${minutes(Math.min(...margins))}` : '—';
    return [label, String(f.n), f.falseRollbacks ?? '—', f.promoted ?? '—', f.detection ?? '—', f.early === undefined ? '—' : String(f.early), minutes(f.p50), minutes(f.p95), minutes(f.max), margin];
  });
}

const HEADERS = ['group', 'recordings', 'false rollbacks', 'healthy promoted', 'detected', 'rolled back before onset', 'delay p50 min', 'p95', 'max', 'leak: min before crossing (p50, min)'];

function groupsOf(rows: Row[]): [string, Row[]][] {
  const out: [string, Row[]][] = [['healthy', rows.filter((r) => r.rec.kind === 'healthy')]];
  for (const k of REGRESSION_KINDS) out.push([k, rows.filter((r) => r.rec.kind === k)]);
  out.push(['target: 5xx ≥ 2 %, ≥ 150 rpm', rows.filter((r) => r.rec.kind === '5xx-jump' && r.rec.canaryRpm >= 150)]);
  out.push(['5xx ≥ 2 %, < 150 rpm', rows.filter((r) => r.rec.kind === '5xx-jump' && r.rec.canaryRpm < 150)]);
  out.push(['target: p99 ≥ +50 %', rows.filter((r) => r.rec.kind === 'latency-shift')]);
  out.push(['p99 ≥ +50 %, ≥ 150 rpm', rows.filter((r) => r.rec.kind === 'latency-shift' && r.rec.canaryRpm >= 150)]);
  out.push(['p99 ≥ +50 %, < 150 rpm', rows.filter((r) => r.rec.kind === 'latency-shift' && r.rec.canaryRpm < 150)]);
  out.push(['all', rows]);
  return out;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  trendHorizonSeconds = args.trendHorizon;
  let corpus = generateCorpus(args.seed, args.count);
  if (args.only) corpus = corpus.filter((r) => r.id === args.only);
  const hours = (rs: StreamRecording[]) => rs.reduce((a, r) => a + r.periods / 60, 0);
  const judges: [string, (r: StreamRecording) => Outcome][] = [['sequential', runSequential], ['argo', runArgo], ['flagger', runFlagger]];
  const results: Record<string, Row[]> = {};
  for (const [name, run] of judges) results[name] = corpus.map((rec) => ({ rec, out: run(rec) }));
  const subset = corpus.filter((r) => r.periods / 60 <= args.todayMaxHours);
  results.today = subset.map((rec) => ({ rec, out: runToday(rec) }));

  const wall = (name: string, rs: Row[]) => {
    const micros = rs.reduce((a, r) => a + r.out.micros, 0);
    return `${name}: ${(micros / 1e6 / Math.max(1e-9, hours(rs.map((r) => r.rec)))).toFixed(4)} s per recorded hour (${(micros / 1e6).toFixed(2)} s over ${hours(rs.map((r) => r.rec)).toFixed(0)} h)`;
  };
  if (args.json) {
    const summary = Object.fromEntries(Object.entries(results).map(([name, rows]) => [name, groupsOf(rows).map(([label, rs]) => figures(label, rs))]));
    process.stdout.write(`${JSON.stringify({ seed: args.seed, count: corpus.length, recordedHours: hours(corpus), todaySubsetHours: hours(subset), summary }, null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(`${corpus.length} recordings (seed ${args.seed}), ${hours(corpus).toFixed(0)} recorded hours, 3-48 h each, one check a minute; delays in minutes from the onset to the rolling-back check`);
  for (const name of ['sequential', 'argo', 'flagger']) {
    out.push('', `judge: ${name} (all recordings)`, table(HEADERS, figureRows(groupsOf(results[name]!))));
  }
  out.push('', `same subset: the ${subset.length} recordings of at most ${args.todayMaxHours} h (${hours(subset).toFixed(0)} h), all four judges`);
  const ids = new Set(subset.map((r) => r.id));
  out.push(table(['judge', ...HEADERS.slice(1)], ['sequential', 'today', 'argo', 'flagger'].map((name) => {
    const rows = results[name]!.filter((r) => ids.has(r.rec.id));
    const f = figureRows([['all', rows]])[0]!;
    return [name, ...f.slice(1)];
  })));
  out.push('', 'wall time (the judges\' calls only)');
  for (const name of ['sequential', 'argo', 'flagger']) out.push(`  ${wall(name, results[name]!)}`);
  out.push(`  ${wall('today', results.today!)}  (same subset: ${wall('sequential', results.sequential!.filter((r) => ids.has(r.rec.id))).replace('sequential: ', '')})`);
  if (args.verbose) {
    out.push('', 'sequential, recordings not judged as they should be:');
    for (const r of results.sequential!) {
      const miss = r.rec.kind === 'healthy' ? r.out.action === 'ROLLBACK' : !detected(r);
      if (!miss) continue;
      out.push(`  ${r.rec.id} (${(r.rec.periods / 60).toFixed(1)} h, ${r.rec.weight} %, ${r.rec.canaryRpm} rpm${r.rec.onsetMinute !== undefined ? `, onset ${r.rec.onsetMinute.toFixed(0)} min, size ${r.rec.size}` : ''}${r.rec.crossingMinute ? `, crossing ${r.rec.crossingMinute.toFixed(0)}` : ''}) -> ${r.out.action}${r.out.minute !== null ? ` at ${r.out.minute.toFixed(0)} min` : ''}: ${r.out.reasons.join(' | ').slice(0, 600)}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

if (import.meta.main) main();
