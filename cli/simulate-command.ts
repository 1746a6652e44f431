/** `canary simulate`: a whole rollout on this machine, against a modelled service. */
import { fileURLToPath } from 'node:url';
import { describeTarget, isRoute53Target, targetKey, type RolloutConfig, type RolloutConfigInput } from '../functions/core/config.ts';
import type { RolloutEvent } from '../functions/core/rollout-record.ts';
import { SIM_TASK_SECONDS, SIM_TTL_SECONDS, simulate, type SimulationResult } from '../sim/simulate.ts';
import { simulateFleet } from '../sim/fleet.ts';
import { ALL_SCENARIOS, findScenario } from '../sim/scenarios.ts';
import { checkConfigFile, displayPath, readConfigFile } from './config-file.ts';
import { countCheckEvents, describeCheckCounts, restoredAtOf } from '../functions/core/report.ts';
import { CliError, EXIT, fitWidth, makeStyle, type CliIO } from './io.ts';
import { duration } from './plan.ts';
import { EventRenderer, outcomeText, sinceStart } from './render.ts';
import { reportFromSimulation, writeHtmlReport } from './report/command.ts';

export const DEFAULT_CONFIG = fileURLToPath(new URL('../examples/rollout.json', import.meta.url));

export interface SimulateCommandOptions {
  config?: string;
  scenario: string;
  seed: string;
  json?: boolean;
  debug?: boolean;
  /** Also write the run's HTML report here. */
  report?: string;
  /** fleet-throttling: how many rollouts, and Route 53's requests per second. */
  rollouts?: string;
  route53Rate?: string;
}

export function parseSeed(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new CliError(`--seed must be a non-negative integer, not '${text}'`);
  return Number(text);
}

export function exitCodeOf(outcome: SimulationResult['outcome']): number {
  return outcome === 'PROMOTED' ? EXIT.PROMOTED : outcome === 'ROLLED_BACK' ? EXIT.ROLLED_BACK : outcome === 'HALTED' ? EXIT.HALTED : EXIT.ERROR;
}

export async function simulateCommand(opts: SimulateCommandOptions, io: CliIO): Promise<number> {
  const scenario = (() => {
    try {
      return findScenario(opts.scenario);
    } catch (error) {
      throw new CliError((error as Error).message);
    }
  })();
  const seed = parseSeed(opts.seed);
  const configPath = opts.config ?? DEFAULT_CONFIG;
  const shownPath = displayPath(configPath, io.cwd);
  const file = readConfigFile(configPath);
  const config = checkConfigFile({ ...file, path: shownPath });
  const style = makeStyle(io.color && !opts.json);
  if (scenario.fleet) return fleetCommand(opts, file.raw as RolloutConfigInput, scenario.fleet, seed, style, io);

  let renderer: EventRenderer | undefined;
  const onEvents = (events: RolloutEvent[], startedAt: string, rolloutId: string) => {
    renderer ??= new EventRenderer({
      style, startedAt, rolloutId, stages: config.stages.map((s) => s.weight),
      plan: { bakeSeconds: config.stages.map((s) => s.bakeSeconds), ...settleOf(config.target) }, width: io.width,
    });
    for (const e of events) for (const line of renderer.render(e)) io.out(line);
  };

  if (!opts.json) {
    for (const line of fitWidth([
      `${style.bold('canary simulate')}: scenario ${style.bold(scenario.name)}, seed ${seed}, config ${shownPath}`,
      `  ${scenario.description}`,
      `  ${config.name}: ${describeTarget(config.target)}, ` +
        `${scenario.profile.requestsPerMinute} requests/min${isRoute53Target(config.target) ? `, TTL ${SIM_TTL_SECONDS} s` : ''}`,
      `  simulated clock from 2026-01-01T00:00:00Z; Wait states take no real time, each task ${SIM_TASK_SECONDS} s`,
      '',
    ], io.width)) io.out(line);
  }

  let result: SimulationResult;
  try {
    result = await simulate({
      config: file.raw,
      scenario,
      seed,
      onProgress: opts.json ? undefined : (p) => {
        if (p.kind === 'events') onEvents(p.events, p.record.startedAt, p.record.rolloutId);
      },
      onLog: opts.debug ? (entry) => io.err(`[${entry.level}] ${entry.message} ${JSON.stringify(entry.extra)}`) : undefined,
    });
  } catch (error) {
    if (error instanceof Error && error.name === 'SimulationModelError') throw new CliError(`${shownPath}: ${error.message}`);
    throw error;
  }

  const exitCode = exitCodeOf(result.outcome);
  const reportModel = opts.report ? reportFromSimulation(result, result.endedAt) : null;
  if (opts.report && !reportModel) throw new CliError('no report: the simulated rollout was refused before it was recorded');
  const reportPath = reportModel ? writeHtmlReport(reportModel, opts.report!, io, 'canary simulate') : undefined;
  if (opts.json) {
    io.out(JSON.stringify(jsonReport(result, shownPath, scenario.description, scenario.expected, exitCode), null, 2));
    return exitCode;
  }
  for (const line of fitWidth([...(renderer?.flush() ?? []), ...summary(result, style)], io.width)) io.out(line);
  if (reportPath) io.out(`report: ${reportPath}`);
  return exitCode;
}

function jsonReport(r: SimulationResult, configPath: string, description: string, expected: string, exitCode: number) {
  const events = r.record?.events ?? [];
  return {
    scenario: { name: r.scenario, description, expected },
    seed: r.seed,
    config: configPath,
    rolloutId: r.rolloutId,
    outcome: r.outcome,
    exitCode,
    halted: r.halted && { ...r.halted, stage: r.halted.stageIndex + 1 },
    decision: r.decision && {
      ...r.decision,
      stage: r.decision.stageIndex + 1,
      elapsedSeconds: (Date.parse(r.decision.at) - Date.parse(r.startedAt)) / 1000,
    },
    simulated: { startedAt: r.startedAt, endedAt: r.endedAt, seconds: r.simulatedSeconds },
    workflow: r.workflow,
    aws: r.aws,
    checks: countCheckEvents(events),
    finalWeights: r.finalWeights,
    lock: { key: targetKey(r.config.target), releasedAtEnd: r.lockHolder === null },
    weightChanges: r.weightChanges.map((c) => ({ id: c.id, submittedAt: c.submittedAt, inSyncAt: c.inSyncAt, canary: c.weights.canary, baseline: c.weights.baseline })),
    incidents: r.incidents,
    safetyNet: r.safetyNet,
    reconciler: r.reconciler,
    route53: r.route53,
    events,
  };
}

function summary(r: SimulationResult, style: ReturnType<typeof makeStyle>): string[] {
  const lines = ['', style.dim('─'.repeat(72))];
  const events = r.record?.events ?? [];
  const stages = r.config.stages.length;
  if (r.outcome === 'HALTED' && r.halted) {
    // Nobody answers in the simulator: the run ends at the halt, the execution still waiting.
    const h = r.halted;
    lines.push(`${outcomeText('HALTED', style)} at stage ${h.stageIndex + 1}/${stages} (canary ${h.weight} %), decided at ${sinceStart(r.startedAt, h.at)} simulated: ` +
      `the weights are frozen and the rollout waits for a person (until ${h.deadline}; then it rolls back)`);
    for (const reason of h.reasons) lines.push(`  - ${reason}`);
    lines.push(`  answer with: canary abort ${r.rolloutId} | canary promote ${r.rolloutId} --full | canary resume ${r.rolloutId} (nobody answers in the simulator)`);
    const incident = r.incidents[0];
    lines.push(incident ? `incident: "${incident.title}" (severity ${incident.severity})` : 'incident: none');
    lines.push(style.dim(`${duration(r.simulatedSeconds)} simulated · ${describeCheckCounts(countCheckEvents(events))} · ` +
      `${r.weightChanges.length} weight changes · weights frozen at canary ${r.finalWeights?.canary} / baseline ${r.finalWeights?.baseline} · lock ${r.lockHolder === null ? 'released' : `held by ${r.lockHolder}`}`));
    return lines;
  }
  if (!r.decision || !r.outcome) {
    lines.push(`${style.bold(style.red('NO DECISION'))}: the workflow ended ${r.workflow.status} before deciding (${r.workflow.error ?? 'unknown error'})`);
    if (r.workflow.cause) lines.push(`  ${r.workflow.cause}`);
    return lines;
  }
  const d = r.decision;
  const at = sinceStart(r.startedAt, d.at);
  if (r.outcome === 'PROMOTED') {
    lines.push(`${outcomeText('PROMOTED', style)}: canary at 100 %, decided at ${at} simulated (stage ${d.stageIndex + 1}/${stages}, ${d.weight} %)`);
  } else {
    const restoredAt = restoredAtOf(events, d.at);
    const backAt = restoredAt ? `; traffic back at 100 % baseline (INSYNC) at ${sinceStart(r.startedAt, restoredAt)}` : '';
    lines.push(`${outcomeText('ROLLED_BACK', style)} at stage ${d.stageIndex + 1}/${stages} (canary ${d.weight} %), decided at ${at} simulated${backAt}`);
  }
  for (const reason of d.reasons) lines.push(`  - ${reason}`);
  const incident = r.incidents[0];
  lines.push(incident ? `incident: "${incident.title}" (severity ${incident.severity})` : 'incident: none');
  const watch = events.find((e) => e.type === 'RECOVERED' || e.type === 'ESCALATED');
  if (watch) {
    const n = events.filter((e) => e.type === 'INCIDENT_UPDATE').length;
    const updates = n ? ` after ${n} status update${n === 1 ? '' : 's'}` : '';
    lines.push(watch.type === 'RECOVERED'
      ? `after the rollback: the baseline recovered (${sinceStart(r.startedAt, watch.at)}), incident updated${updates}`
      : `after the rollback: still unhealthy when the watch ended (${sinceStart(r.startedAt, watch.at)}), incident escalated${updates}`);
  }
  lines.push(style.dim(`${duration(r.simulatedSeconds)} simulated · ${describeCheckCounts(countCheckEvents(events))} · ` +
    `${r.weightChanges.length} weight changes · final weights canary ${r.finalWeights?.canary} / baseline ${r.finalWeights?.baseline} · lock ${r.lockHolder === null ? 'released' : `held by ${r.lockHolder}`}`));
  return lines;
}

/** fleet-throttling: many rollouts in one account; `--json` lists each under `rollouts`. */
async function fleetCommand(
  opts: SimulateCommandOptions, config: RolloutConfigInput, fleet: { rollouts: number; badShare: number }, seed: number, style: ReturnType<typeof makeStyle>, io: CliIO,
): Promise<number> {
  const n = opts.rollouts === undefined ? fleet.rollouts : Number(opts.rollouts);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new CliError(`--rollouts must be an integer from 1 to 5000, not '${opts.rollouts}'`);
  const rate = opts.route53Rate === undefined ? 10 : Number(opts.route53Rate);
  if (!(rate > 0 && rate <= 100)) throw new CliError(`--route53-rate must be a number of requests per second from 1 to 100, not '${opts.route53Rate}'`);
  if (!opts.json) io.out(`${style.bold('canary simulate')}: scenario ${style.bold('fleet-throttling')}, ${n} rollouts, Route 53 at ${rate} requests/s, seed ${seed}`);
  const r = await simulateFleet({ n, seed, config, badShare: fleet.badShare, route53: { ratePerSecond: rate, burst: rate >= 10 ? 50 : rate } });
  const s = r.summary;
  const ok = s.healthyWronglyStopped === 0 && s.leftShifted === 0 && s.locksHeld === 0;
  const exitCode = !ok ? (s.leftShifted || s.locksHeld ? EXIT.ERROR : EXIT.ROLLED_BACK) : s.rolledBack > 0 ? EXIT.ROLLED_BACK : EXIT.PROMOTED;
  if (opts.json) {
    const scenario = findScenario('fleet-throttling');
    io.out(JSON.stringify({ scenario: { name: scenario.name, description: scenario.description, expected: scenario.expected }, seed, exitCode, route53: r.route53, metricsThrottled: r.metricsThrottled, simulatedSeconds: r.simulatedSeconds, summary: s, rollouts: r.rollouts }, null, 2));
    return exitCode;
  }
  io.out(`${s.promoted} promoted, ${s.rolledBack} rolled back, ${s.refused} refused; ${s.healthyWronglyStopped} healthy rollouts stopped, ${s.leftShifted} left shifted, ${s.locksHeld} locks held`);
  io.out(`Route 53: ${r.route53.calls} requests, ${r.route53.throttled} throttled; ${duration(r.simulatedSeconds)} simulated`);
  return exitCode;
}

/** What clients may lag behind a change in the simulator: Route 53's TTL, ALB stickiness, a flag's poll interval. */
function settleOf(target: RolloutConfig['target']): { ttlSeconds: number; settleLabel?: string } {
  switch (target.type) {
    case undefined: case 'route53': return { ttlSeconds: SIM_TTL_SECONDS };
    case 'alb': return { ttlSeconds: target.stickinessSeconds ?? 0, settleLabel: 'the ALB\'s stickiness' };
    case 'lambda-alias': return { ttlSeconds: 0, settleLabel: 'the alias\'s settle time' };
    case 'appconfig-flag': return { ttlSeconds: target.clientPollSeconds, settleLabel: 'one client poll' };
  }
}

export function scenarioList(): string[] {
  return ALL_SCENARIOS.map((s) => `  ${s.name.padEnd(20)} ${s.description}`);
}
