/**
 * Rollouts of days and weeks (issue 11), measured: examples/migration-48h.yaml (five stages of
 * 48 h, a check a minute) and a two-week plan (the same with 84 h stages), simulated on the real
 * state machines with AWS's quotas enforced. Prints, side by side with what `canary validate`'s plan
 * estimates (functions/core/plan-budget.ts):
 *
 * - wall time of the whole simulated rollout, executions (the rollout's and its segments), the
 *   largest history and state of any of them;
 * - per rollout-day: state transitions, Lambda invocations, GetMetricData metrics requested, and
 *   what they cost at list prices (Lambda duration as the plan assumes it: 200 ms at 512 MB);
 * - per check, early in a stage and 40 hours into it: the Analyze step's wall time, the state it
 *   is given, and the datapoints its fetch returns (independent of how long the stage has run);
 * - the detection delay of a 5xx jump on day 3;
 * - `canary backtest` of a two-week recording: wall seconds per recorded hour.
 *
 *   npm run bench:long [-- --seed 1]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { backtestCommand } from '../cli/judge-commands.ts';
import { parseRolloutConfig } from '../functions/core/config.ts';
import { planBudget, PRICES } from '../functions/core/plan-budget.ts';
import { normal, poisson, rngFor } from '../sim/prng.ts';
import { healthy, HEALTHY_ERROR_RATE, profile } from '../sim/profiles.ts';
import type { Scenario } from '../sim/scenarios.ts';
import { simulate, type SimulationResult } from '../sim/simulate.ts';

const seedArg = process.argv.indexOf('--seed');
const seed = seedArg > 0 ? Number(process.argv[seedArg + 1]) : 1;
const DAY = 86_400;
const example = parse(readFileSync(new URL('../examples/migration-48h.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
const twoWeeks = { ...example, name: 'payments-api-2w', bake: '84h' };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const usd = (n: number) => `$${n.toFixed(3)}`;

async function run(config: unknown, scenario: string | Scenario) {
  const t0 = performance.now();
  const result = await simulate({ config, scenario, seed, timeTasks: true });
  return { result, wallSeconds: (performance.now() - t0) / 1000 };
}

/** Measured per simulated day, beside the plan's estimate. */
function perDay(label: string, config: unknown, r: SimulationResult, wallSeconds: number): string[] {
  const plan = planBudget(parseRolloutConfig(config)).cost;
  const days = r.simulatedSeconds / DAY;
  const measured = {
    stateTransitions: r.usage.stateTransitions / days,
    lambdaInvocations: r.usage.taskInvocations / days,
    metricsRequested: r.usage.metrics.metricsRequested / days,
  };
  const cost = measured.stateTransitions * PRICES.stateTransition + measured.metricsRequested * PRICES.metricRequested
    + measured.lambdaInvocations * (PRICES.lambdaRequest + 0.2 * 0.5 * PRICES.lambdaGbSecond);
  const planCost = plan.usd.stepFunctions + plan.usd.getMetricData + plan.usd.lambda;
  const segments = r.aws.executions.length - 1;
  return [
    `${label}: ${r.outcome} after ${fmt(days, 2)} simulated days in ${fmt(wallSeconds, 1)} s wall; ${segments} segments, ` +
      `largest history ${fmt(Math.max(...r.aws.executions.map((e) => e.historyEvents)))} events (limit 25,000), ` +
      `largest state ${fmt(Math.max(...r.aws.executions.map((e) => e.maxStatePayloadBytes)) / 1024, 1)} KiB (limit 256), record ${fmt(r.aws.maxRecordItemBytes / 1024, 1)} KB`,
    `  per rollout-day            measured     plan`,
    `  state transitions      ${fmt(measured.stateTransitions).padStart(12)} ${fmt(plan.stateTransitions).padStart(8)}`,
    `  Lambda invocations     ${fmt(measured.lambdaInvocations).padStart(12)} ${fmt(plan.lambdaInvocations).padStart(8)}`,
    `  GetMetricData metrics  ${fmt(measured.metricsRequested).padStart(12)} ${fmt(plan.metricsRequested).padStart(8)}`,
    `  USD (SFN+CW+Lambda)    ${usd(cost).padStart(12)} ${usd(planCost).padStart(8)}`,
  ];
}

/** The Analyze step early in a stage and 40 hours into it: wall time, state size, datapoints fetched. */
function perCheck(r: SimulationResult): string[] {
  const shifts = (r.record?.events ?? []).filter((e) => e.type === 'WEIGHTS_SET').map((e) => Date.parse(e.at)).sort((a, b) => a - b);
  const hoursIn = (at: string) => {
    const t = Date.parse(at);
    const since = shifts.filter((s) => s <= t).at(-1);
    return since === undefined ? -1 : (t - since) / 3_600_000;
  };
  const buckets: [string, number, number][] = [['0-1 h', 0, 1], ['23-25 h', 23, 25], ['39-41 h', 39, 41], ['46-48 h', 46, 48]];
  const analyze = r.usage.taskRuns.filter((t) => t.task === 'AnalyzeFunctionArn');
  const lines = ['  the Analyze step, by time into its stage     checks   median ms   p90 ms   state KiB   datapoints/fetch'];
  for (const [label, from, to] of buckets) {
    const runs = analyze.filter((t) => hoursIn(t.at) >= from && hoursIn(t.at) < to);
    const fetches = r.usage.fetchLog.filter((f) => hoursIn(f.at) >= from && hoursIn(f.at) < to);
    if (runs.length === 0) continue;
    const ms = runs.map((t) => t.ms).sort((a, b) => a - b);
    lines.push(`  ${label.padEnd(42)} ${String(runs.length).padStart(8)} ${fmt(median(ms), 2).padStart(11)} ${fmt(ms[Math.floor(ms.length * 0.9)]!, 2).padStart(8)}` +
      ` ${fmt(median(runs.map((t) => t.inputBytes)) / 1024, 1).padStart(11)} ${fmt(median(fetches.map((f) => f.datapoints))).padStart(18)}`);
  }
  return lines;
}

/** A healthy recording of `days` days, one period a minute, for the example's three metrics. */
function recording(days: number): object {
  const rng = rngFor('bench-long', seed);
  const n = days * 1440;
  const gauge = (mean: number, sd: number) => Array.from({ length: n }, () => Math.round((mean + sd * normal(rng)) * 100) / 100);
  const requests = () => Array.from({ length: n }, () => poisson(rng, 600));
  const errors = (req: number[]) => req.map((q) => poisson(rng, q * HEALTHY_ERROR_RATE));
  const [cReq, bReq] = [requests(), requests()];
  return {
    periodSeconds: 60, start: '2026-11-02T00:00:00Z',
    metrics: {
      memory: { canary: { values: gauge(46, 0.8) }, baseline: { values: gauge(46, 0.8) } },
      'error-rate': { canary: { numerator: errors(cReq), denominator: cReq }, baseline: { numerator: errors(bReq), denominator: bReq } },
      'latency-p99': { canary: { values: gauge(0.25, 0.01) }, baseline: { values: gauge(0.25, 0.01) } },
    },
  };
}

async function backtest(config: object, days: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-long-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    writeFileSync(join(dir, 'recording.json'), JSON.stringify(recording(days)));
    let lines = 0;
    let outcome = '';
    const io = { out: (t: string) => { lines++; if (/^(PROMOTED|ROLLED BACK)/.test(t)) outcome = t; }, err: () => undefined, color: false, env: {}, cwd: dir, width: 120 };
    const t0 = performance.now();
    const code = await backtestCommand({ config: join(dir, 'config.json'), recording: join(dir, 'recording.json') }, io);
    const wall = (performance.now() - t0) / 1000;
    return `backtest of a ${days}-day recording (${fmt(days * 24)} recorded hours, a period a minute): ${fmt(wall, 1)} s wall, ` +
      `${(wall / (days * 24)).toFixed(4)} s per recorded hour (target 0.1); exit ${code}, ${outcome.slice(0, 60)}; ${lines} lines printed`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`Long rollouts, seed ${seed}, Node ${process.version}\n`);

const a = await run(example, 'healthy');
for (const line of [...perDay('migration-48h (5 stages x 48 h), healthy', example, a.result, a.wallSeconds), ...perCheck(a.result)]) console.log(line);
console.log('');

const b = await run(twoWeeks, 'healthy');
for (const line of perDay('two weeks (5 stages x 84 h), healthy', twoWeeks, b.result, b.wallSeconds)) console.log(line);
console.log(`  target: a 2-week, 5-stage plan simulates in under 30 s of wall time (${b.wallSeconds < 30 ? 'met' : 'missed'})`);
console.log('');

const jumpSeconds = 3 * DAY;
const dayThree: Scenario = {
  name: 'error-jump-day-3', description: 'the canary\'s 5xx rate jumps from 0.05 % to 3 % 72 hours in', expected: 'ROLLED_BACK',
  profile: profile(30000, healthy({ errorRate: (c) => (c.elapsedSeconds >= jumpSeconds ? 0.03 : HEALTHY_ERROR_RATE) })),
};
const c = await run(example, dayThree);
const delay = c.result.decision ? (Date.parse(c.result.decision.at) - Date.parse(c.result.startedAt)) / 1000 - jumpSeconds : NaN;
console.log(`migration-48h, 5xx 0.05 % -> 3 % at 72 h: ${c.result.outcome} at stage ${(c.result.decision?.stageIndex ?? -1) + 1} ` +
  `(${c.result.decision?.weight} %), ${fmt(delay / 60, 1)} min after the jump; ${fmt(c.wallSeconds, 1)} s wall`);
console.log('');

console.log(await backtest(twoWeeks, 14));
