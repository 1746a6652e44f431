/** The CLI's output, its styles, and its one error type. */

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
}

/** Colors only on a terminal, and never with NO_COLOR (https://no-color.org) or TERM=dumb. */
export function colorEnabled(isTTY: boolean, env: Record<string, string | undefined>): boolean {
  return isTTY && !(env.NO_COLOR !== undefined && env.NO_COLOR !== '') && env.TERM !== 'dumb';
}

export function processIO(): CliIO {
  const env = process.env;
  return {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (text) => void process.stderr.write(`${text}\n`),
    color: colorEnabled(Boolean(process.stdout.isTTY), env),
    env,
    cwd: process.cwd(),
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

/** Exit codes: a pipeline gates on them. */
export const EXIT = { PROMOTED: 0, ERROR: 1, ROLLED_BACK: 2 } as const;
