/**
 * Renders a rollout's events (the rollout record's `events`) as progress lines. The simulator
 * and `canary watch` / `start --wait` show the same lines: a simulated run reads like a real one.
 */
import type { Verdict } from '../functions/core/judge.ts';
import type { Decision, RolloutEvent, RolloutRecord } from '../functions/core/rollout-record.ts';
import { fitWidth, MAX_WIDTH, statusWords, type Style } from './io.ts';
import { hookResultLine } from '../functions/core/verification.ts';

/** `+hh:mm:ss` since a start. */
export function sinceStart(startIso: string, atIso: string): string {
  // Whole seconds down, as a clock shows them (the report says the same offsets).
  const s = Math.max(0, Math.floor((Date.parse(atIso) - Date.parse(startIso)) / 1000));
  const hh = String(Math.floor(s / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `+${hh}:${mm}:${ss}`;
}

const BAR_WIDTH = 20;
const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** `[███▍                ]` for a canary weight in percent. */
export function weightBar(weight: number): string {
  const cells = (Math.min(100, Math.max(0, weight)) / 100) * BAR_WIDTH;
  const full = Math.floor(cells);
  let partial = PARTIAL[Math.floor((cells - full) * 8)] ?? '';
  if (full === 0 && !partial && weight > 0) partial = '▏';
  const bar = '█'.repeat(full) + partial;
  return `[${bar.padEnd(BAR_WIDTH)}]`;
}

/** `●●○○○`: stages done or under way, and to come. */
export function stageDots(index: number, total: number): string {
  return '●'.repeat(Math.min(total, index + 1)) + '○'.repeat(Math.max(0, total - index - 1));
}

export function verdictMark(verdict: Verdict, style: Style): string {
  switch (verdict) {
    case 'PASS': return style.green('✓');
    case 'FAIL': return style.red('✗');
    case 'INCONCLUSIVE': return style.yellow('?');
  }
}

export function verdictText(verdict: Verdict, style: Style): string {
  switch (verdict) {
    case 'PASS': return style.green('PASS');
    case 'FAIL': return style.red('FAIL');
    case 'INCONCLUSIVE': return style.yellow('INCONCLUSIVE');
  }
}

/** An outcome or status for people: `PROMOTED`, `ROLLED BACK`, `ROLLING BACK`, `HALTED`... (see statusWords). */
export function outcomeText(outcome: Decision['outcome'] | string, style: Style): string {
  if (outcome === 'PROMOTED') return style.bold(style.green('PROMOTED'));
  if (outcome === 'ROLLED_BACK' || outcome === 'ROLLBACK_FAILED') return style.bold(style.red(statusWords(outcome)));
  if (outcome === 'RUNNING') return style.bold(outcome);
  return style.bold(style.yellow(statusWords(outcome)));
}

const clockTime = (iso: string) => iso.slice(11, 19);

export interface RendererOptions {
  style: Style;
  /** Rollout start, for the `+hh:mm:ss` column. */
  startedAt: string;
  /** Stage weights, when known before the STARTED event. */
  stages?: number[];
  /** The rollout's id, for the commands a line suggests. */
  rolloutId?: string;
  /** The plan's bake per stage and the records' TTL, when known (the simulator): shown after INSYNC. */
  /** `settleLabel`: what ttlSeconds is (default 'the TTL': Route 53's; another router's settle time otherwise). */
  plan?: { bakeSeconds: number[]; ttlSeconds: number; settleLabel?: string };
  /** Lines are kept within this many columns (default MAX_WIDTH). */
  width?: number;
}

/**
 * A run of lines saying the same thing (a quiet bake check, an inconclusive check still waiting
 * for the same data) prints its first line, then nothing until the run ends: its last line then
 * says how many it stood for. A long run (a bake of hours) prints every HEARTBEAT-th line, so a
 * log still shows the rollout is alive.
 */
const HEARTBEAT = 10;

interface Rendered {
  lines: string[];
  /** Lines with the same key in a row say the same thing. */
  repeatKey?: string;
}

/** Turns events into lines; keeps what it needs across events (stage plan, check numbers). */
export class EventRenderer {
  readonly #style: Style;
  readonly #startedAt: string;
  #stages: number[];
  readonly #plan?: RendererOptions['plan'];
  readonly #id: string;
  #checksInStage = 0;
  /** Non-passing metrics of the last check, when it was inconclusive. */
  #lastUnsure: string | undefined;
  /** When the current stage's weight change was INSYNC. */
  #inSyncAt: string | undefined;
  #stageIndex = -1;
  #decided = false;
  readonly #width: number;
  /** The current run of alike lines: its key, how many were held back, the last held back. */
  #run: { key: string; held: number; last?: string[] } | undefined;

  constructor(options: RendererOptions) {
    this.#style = options.style;
    this.#startedAt = options.startedAt;
    this.#stages = options.stages ?? [];
    this.#plan = options.plan;
    this.#id = options.rolloutId ?? 'ID';
    this.#width = options.width ?? MAX_WIDTH;
  }

  /** The lines of one event (none while a run of alike lines goes on), each within the width. */
  render(event: RolloutEvent): string[] {
    const { lines, repeatKey } = this.#render(event);
    if (repeatKey !== undefined && this.#run?.key === repeatKey) {
      this.#run.held++;
      this.#run.last = lines;
      if (this.#run.held < HEARTBEAT) return [];
      return this.flush(true);
    }
    const out = [...this.flush(), ...lines];
    if (repeatKey !== undefined) this.#run = { key: repeatKey, held: 0 };
    return fitWidth(out, this.#width);
  }

  /**
   * Ends the current run of alike lines: its last line held back, saying how many it stands for.
   * Call it when the events end (the stream may stop in the middle of a bake). `heartbeat`: the
   * run goes on after this line.
   */
  flush(heartbeat = false): string[] {
    const run = this.#run;
    if (!run) return [];
    this.#run = heartbeat ? { key: run.key, held: 0 } : undefined;
    if (!run.last || run.held === 0) return [];
    const [head, ...rest] = run.last;
    const hidden = run.held - 1;
    const note = hidden > 0 ? this.#style.dim(` (${hidden} alike not shown)`) : '';
    return fitWidth([`${head}${note}`, ...rest], this.#width);
  }

  #stageLabel(index: number): string {
    return this.#stages.length ? `stage ${index + 1}/${this.#stages.length}` : `stage ${index + 1}`;
  }

  /** `[███░░] 3/5 min · ` of the current stage's bake, when the plan is known. */
  #bakeProgress(dataEnd: string): string {
    const bake = this.#plan?.bakeSeconds[this.#stageIndex];
    if (!this.#plan || !bake || !this.#inSyncAt) return '';
    const periodMs = 60_000;
    const first = Math.ceil((Date.parse(this.#inSyncAt) + this.#plan.ttlSeconds * 1000) / periodMs) * periodMs;
    const done = Math.min(bake, Math.max(0, (Date.parse(dataEnd) - first) / 1000));
    const width = 10;
    const filled = Math.round((done / bake) * width);
    return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${Math.round(done / 60)}/${Math.round(bake / 60)} min · `;
  }

  #line(at: string, text: string): string {
    return `${this.#style.dim(sinceStart(this.#startedAt, at))}  ${text}`;
  }

  #render(event: RolloutEvent): Rendered {
    const lines = this.#lines(event);
    return Array.isArray(lines) ? { lines } : lines;
  }

  #lines(event: RolloutEvent): string[] | Rendered {
    const s = this.#style;
    const indent = ' '.repeat(11);
    switch (event.type) {
      case 'STARTED':
        this.#stages = event.stages;
        return [this.#line(event.at, `preflight passed, lock taken; plan ${event.stages.map((w) => `${w} %`).join(' → ')}`)];
      case 'WEIGHTS_SET': {
        if (this.#decided || (event.canary === 0 && this.#stageIndex >= 0)) {
          return [this.#line(event.at, `${s.yellow('↩ rolling back')}: canary ${event.canary} % · baseline ${event.baseline} %  ${weightBar(event.canary)}  ${s.dim(`change ${event.changeId}`)}`)];
        }
        this.#stageIndex = event.stageIndex;
        this.#checksInStage = 0;
        this.#lastUnsure = undefined;
        const dots = this.#stages.length ? `${stageDots(event.stageIndex, this.#stages.length)}  ` : '';
        return [this.#line(event.at, `${s.bold(`▶ ${this.#stageLabel(event.stageIndex)}`)}  ${dots}canary ${s.bold(`${event.canary} %`)} · baseline ${event.baseline} %  ${weightBar(event.canary)}  ${s.dim(`change ${event.changeId}`)}`)];
      }
      case 'IN_SYNC': {
        this.#inSyncAt = event.at;
        if (this.#decided) return [this.#line(event.at, `${indent}INSYNC: traffic is back at 100 % baseline ${s.dim(`(change ${event.changeId})`)}`)];
        const bake = this.#plan?.bakeSeconds[this.#stageIndex];
        const next = bake !== undefined && event.canary < 100 && this.#plan
          ? `; first check after ${this.#plan.settleLabel ?? 'the TTL'} (${this.#plan.ttlSeconds} s) + bake (${bake} s)` : '';
        return [this.#line(event.at, `${indent}INSYNC: canary ${event.canary} % is live${next} ${s.dim(`(change ${event.changeId})`)}`)];
      }
      case 'CHECK': {
        if (event.duringBake) {
          // Checks during the bake only watch for a confident failure: a pass or thin data counts for nothing.
          const failing = event.metrics.filter((m) => m.verdict === 'FAIL' && !m.dryRun);
          const upTo = clockTime(event.window.end);
          if (failing.length === 0) {
            // A dry-run metric failing acts on nothing: said on the line, never as a failure.
            const dry = event.metrics.filter((m) => m.verdict === 'FAIL' && m.dryRun).map((m) => m.name).join(', ');
            return {
              lines: [this.#line(event.at, s.dim(`${indent}baking ${this.#bakeProgress(event.window.end)}data to ${upTo} UTC, nothing failing${dry ? ` (dry run failing: ${dry})` : ''}`))],
              repeatKey: `bake ${event.stageIndex} ${dry}`,
            };
          }
          return [this.#line(event.at, `${indent}during the bake (data to ${upTo} UTC): ${verdictText('FAIL', s)}`),
            ...failing.map((m) => `${' '.repeat(11)}${indent}${verdictMark(m.verdict, s)} ${m.reason}`)];
        }
        if (event.hold) {
          // While held (a gate waiting, a pause): only a failure acts; a quiet one says so once and collapses.
          const failing = event.metrics.filter((m) => m.verdict === 'FAIL' && !m.dryRun);
          if (failing.length === 0) {
            return { lines: [this.#line(event.at, s.dim(`${indent}held at ${event.weight} %: data to ${clockTime(event.window.end)} UTC, nothing failing`))], repeatKey: `hold ${event.stageIndex}` };
          }
          return [this.#line(event.at, `${indent}while held at ${event.weight} % (data to ${clockTime(event.window.end)} UTC): ${verdictText('FAIL', s)}`),
            ...failing.map((m) => `${' '.repeat(11)}${indent}${verdictMark(m.verdict, s)} ${m.reason}`)];
        }
        this.#checksInStage++;
        const window = `${clockTime(event.window.start)}–${clockTime(event.window.end)} UTC`;
        const head = `${indent}check ${this.#checksInStage} at ${event.weight} %: ${verdictText(event.verdict, s)} ${s.dim(`(window ${window})`)}`;
        // A run of inconclusive checks (waiting for data) says the same each time: the first with
        // its details, then collapsed (see render).
        const unsure = event.metrics.filter((m) => m.verdict !== 'PASS').map((m) => m.name).join(', ');
        const same = event.verdict === 'INCONCLUSIVE' && this.#lastUnsure === unsure;
        this.#lastUnsure = event.verdict === 'INCONCLUSIVE' ? unsure : undefined;
        if (same) return { lines: [this.#line(event.at, `${head} ${s.dim(`still waiting for data: ${unsure}`)}`)], repeatKey: `unsure ${event.stageIndex} ${unsure}` };
        const lines = [this.#line(event.at, head)];
        for (const m of event.metrics) lines.push(`${' '.repeat(11)}${indent}${m.dryRun ? s.dim(verdictMark(m.verdict, s)) : verdictMark(m.verdict, s)} ${m.reason}`);
        return event.verdict === 'INCONCLUSIVE' ? { lines, repeatKey: `unsure ${event.stageIndex} ${unsure}` } : lines;
      }
      case 'DECISION': {
        this.#decided = true;
        const d = event.decision;
        const trigger = d.trigger && d.trigger !== 'VERDICT' ? ` ${s.dim(`[${d.trigger.toLowerCase().replace('_', ' ')}]`)}` : '';
        const lines = [this.#line(event.at, `${s.bold('■ decision')}: ${outcomeText(d.outcome, s)} at ${this.#stageLabel(d.stageIndex)} (canary ${d.weight} %)${trigger}`)];
        for (const r of d.reasons) lines.push(`${' '.repeat(11)}${indent}- ${r}`);
        return lines;
      }
      case 'INCIDENT': {
        const to = event.deliveries.map((d) => `${d.target}${d.ok ? '' : ` ${s.red('FAILED')}`}${d.id ? ` (${d.id})` : ''}${d.error ? `: ${d.error}` : ''}`).join(', ');
        return [this.#line(event.at, `${indent}incident opened${event.severity ? ` (${event.severity})` : ''} → ${to || 'no target'}`)];
      }
      case 'INCIDENT_UPDATE': {
        const to = event.deliveries.map((d) => `${d.target}${d.ok ? '' : ` ${s.red('FAILED')}`}`).join(', ');
        return [this.#line(event.at, `${indent}incident status update ${event.seq} → ${to || 'no target'}`),
          ...event.note.split('\n').slice(1, -1).map((l) => `${' '.repeat(11)}${indent}${l}`)];
      }
      case 'APPROVAL_REQUESTED':
        return [this.#line(event.at, `${s.yellow(`⏸ ${this.#stageLabel(event.stageIndex)} waits for approval`)} before canary ${event.weight} % ` +
          `(canary approve ${this.#id} / canary reject ${this.#id}; rolls back at ${event.deadline} without an answer)`)];
      case 'APPROVAL_ANSWERED':
        return [this.#line(event.at, `${indent}${event.approved ? s.green('approved') : s.red('rejected')} by ${event.by}${event.reason ? `: ${event.reason}` : ''}`)];
      case 'RECOVERED':
        return [this.#line(event.at, `${indent}${s.green('recovered')}: the baseline is healthy again after the rollback; incident updated`),
          ...event.reasons.map((r) => `${' '.repeat(11)}${indent}- ${r}`)];
      case 'ESCALATED':
        return [this.#line(event.at, `${indent}${s.red('escalated')}: still unhealthy after the rollback; incident escalated`),
          ...event.reasons.map((r) => `${' '.repeat(11)}${indent}- ${r}`)];
      case 'ABORT_REQUESTED':
        return [this.#line(event.at, `${s.yellow('abort requested')}: ${event.reason}`)];
      case 'NOTE':
        return [this.#line(event.at, event.message)];
      case 'GATE': {
        const where = event.moment === 'beforeShift' ? ` before canary ${event.weight} %` : ' before any traffic moves';
        const head = `${indent}${event.moment} gate${where}: ${event.open ? s.green('open') : s.yellow('shut')}`;
        return [this.#line(event.at, head), ...event.checks.filter((c) => !event.open || c.verdict !== 'PASS').map((c) => `${' '.repeat(11)}${indent}${verdictMark(c.verdict, s)} ${c.reason}`)];
      }
      case 'HOOKS':
        return [this.#line(event.at, `${indent}${event.moment} hooks started`), ...event.results.map((r) => `${' '.repeat(11)}${indent}- ${hookResultLine(r)}`)];
      case 'CONTROL': {
        const what = { PROMOTE: 'promote --full', PAUSE: 'pause', RESUME: 'resume' }[event.request];
        return [this.#line(event.at, `${s.yellow(`${what} requested`)} by ${event.by}${event.reason ? `: ${event.reason}` : ''}`)];
      }
      case 'PAUSED':
        return [this.#line(event.at, `${s.yellow(`⏸ paused at ${this.#stageLabel(event.stageIndex)} (canary ${event.weight} %)`)} by ${event.by}: ` +
          `the weight is held, checks go on and a failure still acts (canary resume ${this.#id})`)];
      case 'RESUMED':
        return [this.#line(event.at, event.fromHalt
          ? `${s.green('▶ resumed')} by ${event.by} after the halt${event.reason ? ` (${event.reason})` : ''}: ${this.#stageLabel(event.stageIndex)} (canary ${event.weight} %) goes on`
          : `${s.green('▶ resumed')} by ${event.by}${event.reason ? ` (${event.reason})` : ''} after ${Math.round((event.pausedSeconds ?? 0) / 60)} min paused: the stage goes on where it was`)];
      case 'HALTED': {
        this.#decided = false;
        const trigger = event.trigger !== 'VERDICT' ? ` ${s.dim(`[${event.trigger.toLowerCase().replace('_', ' ')}]`)}` : '';
        return [
          this.#line(event.at, `${s.bold(s.yellow('■ HALTED'))} at ${this.#stageLabel(event.stageIndex)} (canary ${event.weight} %)${trigger}: the weights are frozen until a person decides (at the latest ${event.deadline})`),
          ...event.reasons.map((r) => `${' '.repeat(11)}${indent}- ${r}`),
          `${' '.repeat(11)}${indent}canary abort ${this.#id}  |  canary promote ${this.#id} --full  |  canary resume ${this.#id}`,
        ];
      }
      case 'RETRIED':
        return [this.#line(event.at, `retried as ${s.bold(event.retryId)} by ${event.by}${event.reason ? `: ${event.reason}` : ''}`)];
      default:
        return [];
    }
  }
}

/** The last check of a rollout (the record's head keeps it), if any. */
export function lastCheck(record: RolloutRecord): Extract<RolloutEvent, { type: 'CHECK' }> | undefined {
  return record.lastCheck;
}

/** The plan's canary weights: from the config the record keeps, else from its STARTED event. */
export function stagesOf(record: RolloutRecord & { events?: RolloutEvent[] }): number[] {
  if (record.config) return record.config.stages.map((s) => s.weight);
  const started = record.events?.find((e) => e.type === 'STARTED');
  return started?.type === 'STARTED' ? started.stages : [];
}
