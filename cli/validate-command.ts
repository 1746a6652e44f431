/**
 * `canary validate`: checks a rollout or a soak config on this machine and prints its resolved
 * plan, or every problem with its field, line and fix; `--json` says the same as one document for
 * a pipeline. Reads the file, changes nothing, calls no AWS API.
 */
import { CliError, EXIT, fitWidth, makeStyle, type CliIO } from './io.ts';
import { problemText, readConfigFile, validateConfigFile, type ConfigFile, type ConfigKind, type ConfigProblem } from './config-file.ts';
import { formatPlan } from './plan.ts';
import { formatSoakPlan } from './soak-plan.ts';

export interface ValidateOptions {
  json?: boolean;
  kind?: ConfigKind;
}

/** What `canary validate --json` prints. */
export interface ValidateReport {
  valid: boolean;
  /** The kind the file was checked as; null when it could not be read. */
  kind: ConfigKind | null;
  /** How the kind was decided. */
  kindReason?: string;
  errors: ConfigProblem[];
  /** The resolved config (defaults filled in, presets expanded): what would run. Only when valid. */
  plan?: unknown;
}

export function validateCommand(path: string, opts: ValidateOptions, io: CliIO): number {
  let file: ConfigFile;
  try {
    file = readConfigFile(path);
  } catch (error) {
    // A file that cannot be read or parsed is one error, said as JSON where JSON was asked for.
    if (!(error instanceof CliError) || !opts.json) throw error;
    const line = error.message.match(/^.*?:(\d+):\d+: not valid YAML/)?.[1];
    const report: ValidateReport = { valid: false, kind: opts.kind ?? null, errors: [{ path: '(file)', line: line ? Number(line) : null, message: error.message, fix: null }] };
    io.out(JSON.stringify(report, null, 2));
    return EXIT.ERROR;
  }
  const v = validateConfigFile(file, opts.kind);
  if (opts.json) {
    const report: ValidateReport = { valid: v.valid, kind: v.kind, kindReason: v.kindReason, errors: v.problems, ...(v.resolved ? { plan: v.resolved.config } : {}) };
    io.out(JSON.stringify(report, null, 2));
    return v.valid ? EXIT.PROMOTED : EXIT.ERROR;
  }
  if (!v.valid || !v.resolved) {
    const n = v.problems.length;
    throw new CliError(`${file.path} is not a valid ${v.kind} config (${n} problem${n === 1 ? '' : 's'}):`, {
      details: [...v.problems.map((p) => `  ${problemText(p)}`), ...(v.kindObvious ? [] : [`  (checked as a ${v.kind} config: ${v.kindReason})`])],
    });
  }
  const style = makeStyle(io.color);
  const lines = v.resolved.kind === 'rollout'
    ? [...formatPlan(v.resolved.config, file.path, style), ...(v.kindObvious ? [] : ['', `(checked as a rollout config: ${v.kindReason})`])]
    : formatSoakPlan(v.resolved.config, file.raw, file.path, style, v.kindReason);
  for (const line of fitWidth(lines, io.width)) io.out(line);
  return EXIT.PROMOTED;
}
