/**
 * `canary judge` (one window of recorded data) and `canary backtest` (a whole recorded rollout
 * replayed through the stage schedule), with the same judge and the same steps as the Lambdas.
 */
import { Option, type Command } from 'commander';
import { parseJudgeConfig, parseRolloutConfig, type JudgeMetric, type RolloutConfigInput } from '../functions/core/config.ts';
import type { Verdict } from '../functions/core/judge.ts';
import { defaultJudge } from '../functions/core/default-judge.ts';
import type { RolloutEvent } from '../functions/core/rollout-record.ts';
import { parseMetricWindow, parseRecording, RecordingMetrics, type Recording } from '../functions/core/window-schema.ts';
import { simulate, SIM_TTL_SECONDS } from '../sim/simulate.ts';
import { readConfigFile } from './config-file.ts';
import { CliError, EXIT, fitWidth, makeStyle, type CliIO } from './io.ts';
import { EventRenderer, outcomeText, sinceStart, verdictMark } from './render.ts';
import { readFileSync } from 'node:fs';

const example = (...lines: string[]) => `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError((error as NodeJS.ErrnoException).code === 'ENOENT' ? `${path}: no such file` : `${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${path}: the ${what} is not valid JSON: ${(error as Error).message}`);
  }
}

const isRolloutConfig = (raw: unknown) => typeof raw === 'object' && raw !== null && ('target' in raw || 'preset' in raw);

/** The metrics to judge: a rollout config's (resolved, preset included) or a judge-only config's. */
function judgeMetrics(raw: unknown): JudgeMetric[] {
  return isRolloutConfig(raw) ? parseRolloutConfig(raw).metrics : parseJudgeConfig(raw).metrics;
}

/** `--fail-on`: the verdicts that make `judge` exit 2, so that a pipeline can gate on a window. */
export const FAIL_ON = ['FAIL', 'INCONCLUSIVE'] as const;

/** Exit 2 when the verdict is FAIL (`--fail-on FAIL`), or anything but PASS (`--fail-on INCONCLUSIVE`: no data is not a pass). */
export function judgeExitCode(verdict: Verdict, failOn: (typeof FAIL_ON)[number] | undefined): number {
  if (failOn === 'FAIL') return verdict === 'FAIL' ? EXIT.ROLLED_BACK : EXIT.PROMOTED;
  if (failOn === 'INCONCLUSIVE') return verdict === 'PASS' ? EXIT.PROMOTED : EXIT.ROLLED_BACK;
  return EXIT.PROMOTED;
}

export function judgeCommand(opts: { config: string; data: string; json?: boolean; failOn?: (typeof FAIL_ON)[number] }, io: CliIO): number {
  const metrics = judgeMetrics(readConfigFile(opts.config).raw);
  const window = parseMetricWindow(readJson(opts.data, 'window'));
  const missing = metrics.filter((m) => !window.metrics[m.name]).map((m) => m.name);
  const judgement = defaultJudge.judge(metrics, window);
  const exitCode = judgeExitCode(judgement.verdict, opts.failOn);
  if (opts.json) {
    io.out(JSON.stringify({ verdict: judgement.verdict, criticalFailure: judgement.criticalFailure, exitCode, metrics: judgement.metrics }, null, 2));
    return exitCode;
  }
  const style = makeStyle(io.color);
  const lines = [`${style.bold('verdict')}: ${judgement.verdict}${judgement.criticalFailure ? ' (a critical metric failed: a rollout rolls back at once)' : ''}`];
  for (const m of judgement.metrics) lines.push(`  ${verdictMark(m.verdict, style)} ${m.reason}  ${style.dim(`[${m.test}]`)}`);
  if (missing.length) lines.push(style.dim(`  (no data in the window for ${missing.join(', ')}: judged as missing)`));
  if (exitCode !== EXIT.PROMOTED) lines.push(`exit ${exitCode}: the verdict is ${judgement.verdict} (--fail-on ${opts.failOn})`);
  for (const line of fitWidth(lines, io.width)) io.out(line);
  return exitCode;
}

/**
 * A judge-only config becomes a rollout config with default stages and placeholder queries: the
 * recording answers by metric name, whatever the queries say.
 */
function backtestConfig(raw: unknown, recording: Recording): RolloutConfigInput {
  const base = isRolloutConfig(raw) ? (raw as RolloutConfigInput) : (() => {
    const judge = parseJudgeConfig(raw);
    const placeholder = (name: string) => ({ namespace: 'Backtest', metricName: name, dimensions: {}, stat: 'Average' });
    return {
      ...(raw as object),
      name: 'backtest',
      target: { hostedZoneId: 'ZBACKTEST', recordName: 'backtest.invalid', baselineSetIdentifier: 'baseline', canarySetIdentifier: 'canary' },
      metrics: judge.metrics.map((m) => ({
        ...m,
        queries: m.kind === 'ratio'
          ? { canary: { numerator: placeholder(m.name), denominator: placeholder(m.name) }, baseline: { numerator: placeholder(m.name), denominator: placeholder(m.name) } }
          : { canary: { value: placeholder(m.name) }, baseline: { value: placeholder(m.name) } },
      })),
    } as RolloutConfigInput;
  })();
  // The recording's period is the analysis period, and its baseline is what preflight checks. A
  // recording holds the judge's metrics by name, not the request counts the traffic checks query:
  // those are off in a backtest (the schedule is the judge's alone).
  return { ...base, analysisPeriodSeconds: recording.periodSeconds as never, trafficChecks: { ...(base.trafficChecks ?? {}), enabled: false } };
}

export async function backtestCommand(opts: { config: string; recording: string; json?: boolean }, io: CliIO): Promise<number> {
  const raw = readConfigFile(opts.config).raw;
  const recording = parseRecording(readJson(opts.recording, 'recording'));
  const metrics = new RecordingMetrics(recording);
  const config = backtestConfig(raw, recording);
  const resolved = parseRolloutConfig(config);
  const style = makeStyle(io.color && !opts.json);
  const print = (lines: string[]) => {
    for (const line of fitWidth(lines, io.width)) io.out(line);
  };
  let renderer: EventRenderer | undefined;
  const events: RolloutEvent[] = [];
  const result = await simulate({
    config, scenario: 'healthy', start: new Date(recording.start), metrics,
    onProgress: (p) => {
      if (p.kind !== 'events') return;
      events.push(...p.events);
      if (opts.json) return;
      renderer ??= new EventRenderer({
        style, startedAt: recording.start, rolloutId: p.record.rolloutId, stages: resolved.stages.map((s) => s.weight),
        plan: { bakeSeconds: resolved.stages.map((s) => s.bakeSeconds), ttlSeconds: SIM_TTL_SECONDS }, width: io.width,
      });
      for (const e of p.events) for (const line of renderer.render(e)) io.out(line);
    },
  });
  const recordedSeconds = metrics.periods * recording.periodSeconds;
  const ranPast = result.simulatedSeconds > recordedSeconds;
  if (opts.json) {
    io.out(JSON.stringify({
      outcome: result.outcome, decision: result.decision && { ...result.decision, stage: result.decision.stageIndex + 1 }, recordedSeconds, replayedSeconds: result.simulatedSeconds,
      ranPastRecording: ranPast, stages: resolved.stages.map((s) => s.weight), events,
    }, null, 2));
  } else {
    const lines = [...(renderer?.flush() ?? []), ''];
    const at = result.decision ? sinceStart(recording.start, result.decision.at) : '?';
    lines.push(`${outcomeText(result.outcome ?? 'NO_DECISION', style)} at ${at} into the recording` +
      (result.decision ? ` (stage ${result.decision.stageIndex + 1}/${resolved.stages.length}, canary ${result.decision.weight} %)` : ''));
    for (const reason of result.decision?.reasons ?? [result.workflow.cause ?? '']) lines.push(`  - ${reason}`);
    if (ranPast) {
      lines.push(style.yellow(`note: the schedule ran ${Math.round(result.simulatedSeconds - recordedSeconds)} s past the end of the recording (${recordedSeconds} s); checks there saw no data`));
    }
    print(lines);
  }
  return result.outcome === 'PROMOTED' ? EXIT.PROMOTED : result.outcome === 'ROLLED_BACK' ? EXIT.ROLLED_BACK : EXIT.ERROR;
}

export function registerJudgeCommands(program: Command, io: CliIO, setExit: (code: number) => void): void {
  program.command('judge')
    .description('Judge one window of recorded canary and baseline data with the same judge the Lambdas use, and print each metric\'s verdict and reason. Exit 0 whenever a verdict was produced, unless --fail-on: then 2 when the verdict is one to fail on; 1 on bad input.')
    .requiredOption('--config <file>', 'a rollout config, or a judge-only config ({ "metrics": [{ name, kind, unit, threshold, baseline?, critical? }] }), YAML or JSON')
    .requiredOption('--data <window.json>', 'the window: { periodSeconds, metrics: { <name>: { canary: { values | numerator+denominator }, baseline: {...} } } }, one element per period, oldest first, null where a period has no datapoint')
    .option('--json', 'print { verdict, exitCode, metrics: [{ name, verdict, reason, test, ... }] }')
    .addOption(new Option('--fail-on <verdict>', 'exit 2 on a FAIL verdict (FAIL), or on anything but PASS (INCONCLUSIVE: no data is not a pass)').choices(FAIL_ON))
    .addHelpText('after', example(
      'canary judge --config examples/judge/config.json --data examples/judge/healthy-window.json',
      'canary judge --config examples/judge/config.json --data examples/judge/error-regression-window.json --fail-on FAIL',
    ))
    .action((opts: { config: string; data: string; json?: boolean; failOn?: (typeof FAIL_ON)[number] }) => setExit(judgeCommand(opts, io)));

  program.command('backtest')
    .description('Replay a rollout\'s stage schedule over a recording of its metrics and tell, stage by stage, what the rollout would have decided and when: tune thresholds on last week\'s incident before trusting them. Nothing in AWS is touched. Exit 0 promoted, 2 rolled back, 1 error.')
    .requiredOption('--config <file>', 'a rollout config (its stages, bake, limits and metrics) or a judge-only config (default stages), YAML or JSON')
    .requiredOption('--recording <file.json>', 'the recording: the window format of `canary judge --data` covering the whole rollout, with "start" (ISO time of the first period)')
    .option('--json', 'print the outcome, the decision and every event as JSON')
    .addHelpText('after', example('canary backtest --config examples/rollout.yaml --recording examples/recordings/error-spike.json'))
    .action(async (opts: { config: string; recording: string; json?: boolean }) => setExit(await backtestCommand(opts, io)));
}
