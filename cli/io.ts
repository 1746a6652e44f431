/** The CLI's output, its styles, its words for outcomes, its exit codes, and its one error type. */

export interface CliIO {
  /** Writes one line (or more) to stdout; a newline is added. */
  out(text: string): void;
  /** Writes one line (or more) to stderr; a newline is added. */
  err(text: string): void;
  /** Colors and styles on stdout. */
  color: boolean;
  env: Record<string, string | undefined>;
  /** Current directory, for relative paths. */
  cwd: string;
  /** Columns human output is kept within (default MAX_WIDTH). */
  width?: number;
}

/** Human output never runs past this many columns (a CI log, a pager, a 120-column terminal). */
export const MAX_WIDTH = 120;

/**
 * Colors on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb; FORCE_COLOR=1
 * (or any value but 0/false) turns them on where stdout is not a terminal, as in CI logs that
 * render ANSI colors (GitHub Actions, GitLab, CodeBuild), and FORCE_COLOR=0 turns them off. As in
 * Node and chalk, FORCE_COLOR wins over NO_COLOR: it is the more specific request.
 */
export function colorEnabled(isTTY: boolean, env: Record<string, string | undefined>): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.trim().toLowerCase());
  return isTTY && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') && env.TERM !== 'dumb';
}

export function processIO(): CliIO {
  const env = process.env;
  const columns = process.stdout.isTTY ? process.stdout.columns : undefined;
  return {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (text) => void process.stderr.write(`${text}\n`),
    color: colorEnabled(Boolean(process.stdout.isTTY), env),
    env,
    cwd: process.cwd(),
    // A narrower terminal gets lines that fit it; never wider than MAX_WIDTH.
    width: columns && columns >= 60 ? Math.min(MAX_WIDTH, columns) : MAX_WIDTH,
  };
}

/** An error for the person at the terminal: printed as `canary: <message>`, never with a stack. */
export class CliError extends Error {
  readonly exitCode: number;
  /** Lines printed after the message (e.g. one per config problem). */
  readonly details: string[];
  constructor(message: string, options: { exitCode?: number; details?: string[] } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? 1;
    this.details = options.details ?? [];
  }
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
const plain = (s: string) => s;

export function makeStyle(enabled: boolean): Style {
  if (!enabled) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

/**
 * Exit codes: a pipeline gates on them. 0 promoted (or the command did what it was asked),
 * 1 an error (bad input, AWS unreachable, the rollout refused before anything moved), 2 rolled
 * back (and `judge --fail-on` met), 3 halted: the weights are frozen and a person must decide.
 */
export const EXIT = { PROMOTED: 0, ERROR: 1, ROLLED_BACK: 2, HALTED: 3 } as const;

/**
 * The one vocabulary for outcomes and statuses. Machine output (`--json`, the exit codes) keeps
 * the record's enum: `ROLLED_BACK`, `ROLLING_BACK`, `ROLLBACK_FAILED`. Human output says the
 * same words with spaces: `ROLLED BACK` where it is a status or an outcome, "rolled back" inside
 * a sentence.
 */
export function statusWords(status: string): string {
  return status.replace(/_/g, ' ');
}

/** The exit code a rollout's status stands for (an active rollout: 0, nothing to gate on yet). */
export function exitCodeOfStatus(status: string): number {
  switch (status) {
    case 'ROLLED_BACK': return EXIT.ROLLED_BACK;
    case 'HALTED': return EXIT.HALTED;
    case 'ROLLBACK_FAILED': return EXIT.ERROR;
    default: return EXIT.PROMOTED;
  }
}

const ANSI = /\u001b\[[0-9;]*m/g;

/** Columns a line takes on a terminal (ANSI styles take none). */
export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/**
 * Keeps each line within `width` columns: a longer one is broken at spaces, its continuation
 * lines indented two columns past where its text starts (after a `+hh:mm:ss` column and the
 * indent), or at `hangAt`. A single word longer than the width (an ARN) stays whole.
 */
export function fitWidth(lines: string[], width = MAX_WIDTH, hangAt?: number): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if (visibleLength(line) <= width) {
      out.push(line);
      continue;
    }
    const plain = line.replace(ANSI, '');
    const lead = plain.match(/^(\+\d\d:\d\d:\d\d)?\s*/)![0].length;
    const hang = ' '.repeat(Math.min(hangAt ?? lead + 2, Math.floor(width / 2)));
    const indent = line.match(/^\s*/)![0];
    let current = indent;
    // Words with the spaces before each (runs of spaces are kept inside a line, dropped at a break).
    for (const [, spaces, word] of line.slice(indent.length).matchAll(/( *)([^ ]+)/g)) {
      const candidate = `${current}${current === indent ? '' : spaces}${word}`;
      if (visibleLength(candidate) > width && visibleLength(current) > lead && current.trim() !== '') {
        out.push(current);
        current = `${hang}${word}`;
      } else {
        current = candidate;
      }
    }
    out.push(current);
  }
  return out;
}
