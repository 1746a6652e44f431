/**
 * Judge benchmark: runs judges over labelled canary-analysis windows and prints, per scenario
 * family and in total, how often each judge is right and how long it takes.
 *
 *   npm run bench:judge [-- --dir <scenarios> --json --verbose --reps <n>]
 *
 * The scenarios directory holds `config.json` (a judge config), `labels.json` ({ id: { family,
 * label } }) and `windows/<id>.json` (the `canary judge --data` format). Default: the corpus in
 * the repository, bench/judge-corpus/ (160 windows; its README says where they come from), or
 * $CANARY_JUDGE_SCENARIOS; `--dir` wins.
 *
 * Labels: PASS (healthy; PASS expected), NOT_FAIL (healthy but hard; FAIL is a false rollback),
 * FAIL (a real regression; FAIL expected), NOT_PASS (no canary data; PASS is unsafe).
 *
 * Figures, all measured here:
 * - detection: FAIL-labelled windows judged FAIL;
 * - false fails: PASS and NOT_FAIL windows judged FAIL;
 * - unsafe passes: FAIL and NOT_PASS windows judged PASS;
 * - inconclusive: PASS-labelled windows judged INCONCLUSIVE;
 * - time: per window the median of --reps runs (process.hrtime), then the median over windows.
 *
 * Judges: ours (statistical), the plain threshold judge on the window mean (as Argo Rollouts and
 * Flagger do), a Kayenta-style judge (NetflixACAJudge, below), and the sequential judge of the
 * stages fed each window as a stream (one check per period; its time is the whole stream's).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { parseJudgeConfig, type JudgeMetric } from '../functions/core/config.ts';
import {
  isRatioSeries, presentValues,
  type Judge, type Judgement, type MetricVerdict, type MetricWindow, type Series, type Verdict,
} from '../functions/core/judge.ts';
import { parseRolloutConfig, type RolloutConfigInput } from '../functions/core/config.ts';
import { analyzeCheck, periodsToFetch, startStageAnalysis } from '../functions/core/stage-analysis.ts';
import { hodgesLehmannShift } from '../functions/core/stats.ts';
import { statisticalJudge } from '../functions/core/statistical-judge.ts';
import { thresholdJudge } from '../functions/core/threshold-judge.ts';

// ---------------------------------------------------------------------------------------------
// Kayenta-style reference (NetflixACAJudge-v1.0, spinnaker/kayenta `kayenta-judge`), kept short:
// - per metric, NaNs removed (nanStrategy "remove"; for a ratio, each period with a request
//   count gives one rate, an absent 5xx count being 0), then IQR outliers removed (factor 3,
//   reduced sensitivity: fences no tighter than the 1st / 99th percentiles);
// - MannWhitneyClassifier(tolerance 0.25, confLevel 0.98): Mann-Whitney confidence interval on
//   the shift canary - baseline (Hodges-Lehmann); "High" when the interval's lower end exceeds
//   0.25 × |estimate| and the mean ratio canary / baseline ≥ allowedIncrease; "Low" mirrored.
//   Direction "increase" for metrics with a maximum, "decrease" for a minimum only.
//   allowedIncrease = 1 + baseline.maxIncreasePercent / 100 when configured, else Kayenta's
//   default 1.0 (any significant increase). Kayenta has no absolute thresholds;
// - WeightedSumScorer (one group): score = 100 · Pass / (Pass + High + Low); a critical metric
//   not passing, or Nodata on ≥ 50 % of the metrics, scores 0;
// - ThresholdScoreClassifier with a single threshold: PASS when score ≥ 75, else FAIL.
// Not reproduced: the Gaussian jitter Kayenta adds when both samples are constant (our
// Mann-Whitney handles ties), group weights (one group).
// ---------------------------------------------------------------------------------------------

const KAYENTA = { confLevel: 0.98, tolerance: 0.25, passScore: 75, iqrFactor: 3, nodataPercent: 50 } as const;

/** Commons-math Percentile (legacy estimation): position p(n+1)/100, clamped to the ends. */
function cmPercentile(sorted: number[], p: number): number {
  const n = sorted.length;
  const pos = (p / 100) * (n + 1);
  if (pos < 1) return sorted[0]!;
  if (pos >= n) return sorted[n - 1]!;
  const lo = Math.floor(pos);
  return sorted[lo - 1]! + (pos - lo) * (sorted[lo]! - sorted[lo - 1]!);
}

function removeOutliers(values: number[]): number[] {
  if (values.length === 0) return values;
  const s = [...values].sort((a, b) => a - b);
  const q1 = cmPercentile(s, 25);
  const q3 = cmPercentile(s, 75);
  const iqr = q3 - q1;
  const lower = Math.min(cmPercentile(s, 1), q1 - KAYENTA.iqrFactor * iqr);
  const upper = Math.max(cmPercentile(s, 99), q3 + KAYENTA.iqrFactor * iqr);
  return values.filter((v) => v >= lower && v <= upper);
}

function kayentaValues(kind: JudgeMetric['kind'], s: Series | undefined): number[] {
  if (!s) return [];
  if (kind === 'ratio') {
    if (!isRatioSeries(s)) return [];
    const out: number[] = [];
    s.denominator.forEach((d, i) => {
      if (d === null || d === undefined || !Number.isFinite(d) || d <= 0) return;
      const e = s.numerator[i];
      out.push((100 * (e !== null && e !== undefined && Number.isFinite(e) ? e : 0)) / d);
    });
    return out;
  }
  return isRatioSeries(s) ? [] : presentValues(s);
}

type KayentaLabel = 'Pass' | 'High' | 'Low' | 'Nodata';

function kayentaClassify(metric: JudgeMetric, window: MetricWindow): { label: KayentaLabel; verdict: MetricVerdict } {
  const data = window.metrics[metric.name];
  const canary = removeOutliers(kayentaValues(metric.kind, data?.canary));
  const baseline = removeOutliers(kayentaValues(metric.kind, data?.baseline));
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const make = (label: KayentaLabel, reason: string, details: MetricVerdict['details'] = {}) => ({
    label,
    verdict: {
      name: metric.name, critical: metric.critical, test: 'kayenta-mann-whitney',
      verdict: (label === 'Pass' ? 'PASS' : label === 'Nodata' ? 'INCONCLUSIVE' : 'FAIL') as Verdict,
      reason: `${metric.name}: ${reason}`,
      canaryValue: canary.length ? mean(canary) : null, baselineValue: baseline.length ? mean(baseline) : null,
      threshold: metric.threshold, sample: { canary: canary.length, baseline: baseline.length }, details,
    },
  });
  if (canary.length === 0 || baseline.length === 0) return make('Nodata', 'missing data');
  const sortedC = [...canary].sort((a, b) => a - b);
  const sortedB = [...baseline].sort((a, b) => a - b);
  if (sortedC.length === sortedB.length && sortedC.every((v, i) => v === sortedB[i])) return make('Pass', 'identical data');
  if (new Set([...canary, ...baseline]).size === 1) return make('Pass', 'a single value');

  const ci = hodgesLehmannShift(canary, baseline, (1 + KAYENTA.confLevel) / 2);
  const deviation = mean(baseline) === 0 ? 1 : mean(canary) / mean(baseline);
  const critical = KAYENTA.tolerance * Math.abs(ci.estimate);
  const increase = metric.threshold.max !== undefined || metric.baseline !== undefined;
  const decrease = !increase && metric.threshold.min !== undefined;
  const allowedIncrease = metric.baseline ? 1 + metric.baseline.maxIncreasePercent / 100 : 1;
  const details = { lower: ci.lower, upper: ci.upper, estimate: ci.estimate, deviation };
  if (increase && ci.lower > critical && deviation >= allowedIncrease) return make('High', `high (mean ratio ${deviation.toFixed(2)})`, details);
  if (decrease && ci.upper < -critical && deviation <= 1) return make('Low', `low (mean ratio ${deviation.toFixed(2)})`, details);
  return make('Pass', `no significant deviation (mean ratio ${deviation.toFixed(2)})`, details);
}

export const kayentaJudge: Judge = {
  name: 'kayenta-mann-whitney',
  judge(metrics: JudgeMetric[], window: MetricWindow): Judgement {
    const results = metrics.map((m) => kayentaClassify(m, window));
    const verdicts = results.map((r) => r.verdict);
    const criticalFailure = results.some((r) => r.verdict.critical && r.label !== 'Pass');
    const nodata = results.filter((r) => r.label === 'Nodata').length;
    const scored = results.filter((r) => r.label !== 'Nodata');
    let score: number;
    if (criticalFailure || (results.length > 0 && (100 * nodata) / results.length >= KAYENTA.nodataPercent)) score = 0;
    else score = scored.length === 0 ? 100 : (100 * scored.filter((r) => r.label === 'Pass').length) / scored.length;
    return { verdict: score >= KAYENTA.passScore ? 'PASS' : 'FAIL', metrics: verdicts, criticalFailure };
  },
};

// ---------------------------------------------------------------------------------------------
// The sequential judge fed a window as a stream (stage-analysis.ts): one check per period as the
// periods complete, the bake ending at the last one. FAIL: a check rolled back (an any-time-valid
// alarm); otherwise the last check's verdict (PASS: the stage would advance).
// ---------------------------------------------------------------------------------------------

function streamConfig(metrics: JudgeMetric[], periodSeconds: number) {
  const placeholder = (name: string) => ({ namespace: 'Bench', metricName: name, dimensions: {}, stat: 'Average' });
  return parseRolloutConfig({
    name: 'bench', target: { hostedZoneId: 'ZBENCH', recordName: 'bench.invalid', baselineSetIdentifier: 'b', canarySetIdentifier: 'c' },
    stages: [25, 100], analysisPeriodSeconds: periodSeconds, checkIntervalSeconds: periodSeconds,
    metrics: metrics.map((m) => ({
      ...m,
      queries: m.kind === 'ratio'
        ? { canary: { numerator: placeholder(m.name), denominator: placeholder(m.name) }, baseline: { numerator: placeholder(m.name), denominator: placeholder(m.name) } }
        : { canary: { value: placeholder(m.name) }, baseline: { value: placeholder(m.name) } },
    })),
  } as RolloutConfigInput);
}

export const sequentialStreamJudge: Judge = {
  name: 'sequential (window as a stream)',
  judge(metrics: JudgeMetric[], window: MetricWindow): Judgement {
    const period = window.periodSeconds > 0 ? window.periodSeconds : 60;
    const config = streamConfig(metrics, period);
    const n = Math.max(0, ...Object.values(window.metrics).flatMap((d) => [d.canary, d.baseline]).filter((x): x is Series => x !== undefined)
      .map((x) => (isRatioSeries(x) ? x.denominator.length : x.values.length)));
    const start = new Date(Date.parse(window.start ?? '2026-01-01T00:00:00Z'));
    let state = startStageAnalysis(config, 0, start);
    const at = (k: number) => new Date(start.getTime() + (k + 2) * period * 1000);
    const bakeEnd = at(n - 1);
    let last: Judgement | undefined;
    for (let k = 0; k < n; k++) {
      const now = at(k);
      const range = periodsToFetch(state, now, period);
      const from = range ? Math.round((range.start.getTime() - start.getTime()) / 1000 / period) : 0;
      const count = range ? Math.round((range.end.getTime() - range.start.getTime()) / 1000 / period) : 0;
      const cut = (x: Series): Series => (isRatioSeries(x)
        ? { numerator: x.numerator.slice(from, from + count), denominator: x.denominator.slice(from, from + count) }
        : { values: x.values.slice(from, from + count) });
      const part: MetricWindow = {
        periodSeconds: period, start: (range?.start ?? now).toISOString(),
        metrics: Object.fromEntries(Object.entries(window.metrics).map(([name, d]) => [name, { canary: cut(d.canary), ...(d.baseline ? { baseline: cut(d.baseline) } : {}) }])),
      };
      const out = analyzeCheck({ config, stageIndex: 0, weight: 25, now, bakeEnd, mode: 'stage', state, window: part });
      state = out.state;
      last = out.judgement;
      if (out.action === 'ROLLBACK') return out.judgement.verdict === 'FAIL' ? out.judgement : { ...out.judgement, verdict: 'FAIL' };
    }
    return last ?? { verdict: 'INCONCLUSIVE', metrics: [], criticalFailure: false };
  },
};

// ---------------------------------------------------------------------------------------------
// Bench
// ---------------------------------------------------------------------------------------------

type Label = 'PASS' | 'NOT_FAIL' | 'FAIL' | 'NOT_PASS';
interface Scenario { id: string; family: string; label: Label; window: MetricWindow }

interface Rate { hits: number; of: number }
interface Figures {
  windows: number;
  detection: Rate;
  falseFail: Rate;
  unsafePass: Rate;
  inconclusive: Rate;
  medianMicros: number;
}
interface Miss { id: string; label: Label; verdict: Verdict; reason: string }

interface Args { dir: string; json: boolean; verbose: boolean; reps: number }

function parseArgs(argv: string[]): Args {
  const repoRoot = path.resolve(import.meta.dirname, '..');
  let dir = process.env.CANARY_JUDGE_SCENARIOS || path.resolve(repoRoot, 'bench/judge-corpus');
  let json = false;
  let verbose = false;
  let reps = 7;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--dir') dir = path.resolve(argv[++i] ?? '');
    else if (a.startsWith('--dir=')) dir = path.resolve(a.slice('--dir='.length));
    else if (a === '--json') json = true;
    else if (a === '--verbose' || a === '-v') verbose = true;
    else if (a === '--reps') reps = Math.max(1, Number.parseInt(argv[++i] ?? '', 10) || reps);
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/judge-bench.ts [--dir <scenarios>] [--json] [--verbose] [--reps <n>]\n');
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument '${a}' (try --help)\n`);
      process.exit(2);
    }
  }
  return { dir, json, verbose, reps };
}

const LABELS = new Set<Label>(['PASS', 'NOT_FAIL', 'FAIL', 'NOT_PASS']);

export function loadScenarios(dir: string): { metrics: JudgeMetric[]; scenarios: Scenario[] } {
  const metrics = parseJudgeConfig(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))).metrics;
  const labels = JSON.parse(readFileSync(path.join(dir, 'labels.json'), 'utf8')) as Record<string, { family: string; label: string }>;
  const scenarios: Scenario[] = [];
  for (const [id, l] of Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))) {
    if (!LABELS.has(l.label as Label)) throw new Error(`${id}: unknown label '${l.label}'`);
    const file = path.join(dir, 'windows', `${id}.json`);
    if (!existsSync(file)) throw new Error(`${id}: no window file ${file}`);
    scenarios.push({ id, family: l.family, label: l.label as Label, window: JSON.parse(readFileSync(file, 'utf8')) as MetricWindow });
  }
  return { metrics, scenarios };
}

function medianOf(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function figures(rows: { label: Label; verdict: Verdict; micros: number }[]): Figures {
  const count = (labels: Label[], verdict: Verdict): Rate => {
    const of = rows.filter((r) => labels.includes(r.label));
    return { hits: of.filter((r) => r.verdict === verdict).length, of: of.length };
  };
  return {
    windows: rows.length,
    detection: count(['FAIL'], 'FAIL'),
    falseFail: count(['PASS', 'NOT_FAIL'], 'FAIL'),
    unsafePass: count(['FAIL', 'NOT_PASS'], 'PASS'),
    inconclusive: count(['PASS'], 'INCONCLUSIVE'),
    medianMicros: medianOf(rows.map((r) => r.micros)),
  };
}

/** A window the judge got wrong or left open: for the --verbose listing. */
function isMiss(label: Label, verdict: Verdict): boolean {
  if (label === 'FAIL') return verdict !== 'FAIL';
  if (label === 'PASS') return verdict !== 'PASS';
  if (label === 'NOT_FAIL') return verdict === 'FAIL';
  return verdict === 'PASS';
}

function deciding(j: Judgement): string {
  const m = j.metrics.find((x) => x.verdict === j.verdict) ?? j.metrics.find((x) => x.verdict !== 'PASS') ?? j.metrics[0];
  return m ? m.reason : '';
}

export interface JudgeReport { judge: string; families: Record<string, Figures>; total: Figures; misses: Miss[] }

export function runBench(judges: Judge[], metrics: JudgeMetric[], scenarios: Scenario[], reps: number): JudgeReport[] {
  // Warm up (JIT) so the first family is not charged for compilation.
  for (const judge of judges) for (const s of scenarios) judge.judge(metrics, s.window);
  // Judges take turns on each window, repetition by repetition, so that load on the machine
  // falls on all of them alike; a window's time is the median of its repetitions.
  const times = judges.map(() => scenarios.map(() => [] as number[]));
  const results = judges.map(() => new Array<Judgement>(scenarios.length));
  scenarios.forEach((s, w) => {
    for (let r = 0; r < reps; r++) {
      judges.forEach((judge, j) => {
        const start = process.hrtime.bigint();
        const result = judge.judge(metrics, s.window);
        times[j]![w]!.push(Number(process.hrtime.bigint() - start) / 1000);
        results[j]![w] = result;
      });
    }
  });
  return judges.map((judge, j) => {
    const rows = scenarios.map((s, w) => {
      const result = results[j]![w]!;
      return { ...s, verdict: result.verdict, micros: medianOf(times[j]![w]!), reason: deciding(result) };
    });
    const families: Record<string, Figures> = {};
    for (const family of [...new Set(rows.map((r) => r.family))]) families[family] = figures(rows.filter((r) => r.family === family));
    return {
      judge: judge.name, families, total: figures(rows),
      misses: rows.filter((r) => isMiss(r.label, r.verdict)).map((r) => ({ id: r.id, label: r.label, verdict: r.verdict, reason: r.reason })),
    };
  });
}

function cell(r: Rate): string {
  if (r.of === 0) return '—';
  return `${r.hits}/${r.of} ${((100 * r.hits) / r.of).toFixed(1)} %`;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const HEADERS = ['family', 'windows', 'detection', 'false fails', 'unsafe passes', 'inconclusive (PASS)', 'median µs'];

function figureRow(name: string, f: Figures): string[] {
  return [name, String(f.windows), cell(f.detection), cell(f.falseFail), cell(f.unsafePass), cell(f.inconclusive), f.medianMicros.toFixed(1)];
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(args.dir, 'labels.json'))) {
    process.stderr.write(`no labelled windows at ${args.dir} (give --dir or CANARY_JUDGE_SCENARIOS)\n`);
    process.exit(2);
  }
  const { metrics, scenarios } = loadScenarios(args.dir);
  const reports = runBench([statisticalJudge, thresholdJudge, kayentaJudge, sequentialStreamJudge], metrics, scenarios, args.reps);
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ dir: args.dir, windows: scenarios.length, reps: args.reps, judges: reports }, null, 2)}\n`);
    return;
  }
  const out: string[] = [`${scenarios.length} labelled windows from ${args.dir} (time: median of ${args.reps} runs per window)`, ''];
  for (const r of reports) {
    out.push(`judge: ${r.judge}`);
    out.push(table(HEADERS, [...Object.entries(r.families).map(([f, x]) => figureRow(f, x)), figureRow('total', r.total)]));
    if (args.verbose && r.misses.length > 0) {
      out.push('', '  windows not judged as labelled:');
      for (const m of r.misses) out.push(`  ${m.id} (${m.label}) -> ${m.verdict}: ${m.reason}`);
    }
    out.push('');
  }
  out.push('totals');
  out.push(table(['judge', 'windows', 'detection', 'false fails', 'unsafe passes', 'inconclusive (PASS)', 'median µs'],
    reports.map((r) => figureRow(r.judge, r.total))));
  process.stdout.write(`${out.join('\n')}\n`);
}

if (import.meta.main) main();
