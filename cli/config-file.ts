/**
 * Reads a rollout or soak config file (YAML or JSON) and checks it against the core's schema,
 * naming each bad field with its line in the file and what to do about it.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { parseRolloutConfig, RolloutConfigSchema, type RolloutConfig } from '../functions/core/config.ts';
import { ConfigValidationError } from '../functions/core/errors.ts';
import { explainIssue } from '../functions/core/issues.ts';
import { parseSoakConfig, SOAK_SCHEMA_FILE, SoakConfigSchema, type SoakConfig } from '../functions/core/soak-config.ts';
import { allowedKeysAt } from '../functions/core/suggest.ts';
import { CliError } from './io.ts';

export interface ConfigFile {
  /** The path as the user gave it (for messages). */
  path: string;
  /** The config as written: what is sent as the execution input. */
  raw: unknown;
  doc: Document;
  lines: LineCounter;
}

export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `${path}: no such file` : code === 'EISDIR' ? `${path} is a directory, not a config file` : `${path}: ${(error as Error).message}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  let raw: unknown;
  if (/\.json$/i.test(path)) {
    // Strict JSON for .json files; the YAML parse above only gives the lines of fields.
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new CliError(`${path}: not valid JSON: ${(error as Error).message}`);
    }
  } else {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const at = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
      throw new CliError(`${path}${at}: not valid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    raw = doc.toJS({ maxAliasCount: 100 });
  }
  if (raw === null || raw === undefined) throw new CliError(`${path} is empty: a rollout config needs at least name, target and a preset or metrics (see examples/rollout.yaml); a soak config name and metrics (see examples/soak.json)`);
  return { path, raw, doc, lines };
}

/** A path shown to a person as it is in the file: `target.hostedZoneId`, `stages[2]`. */
function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) =>
    typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part), '');
}

/** `target.hostedZoneId`, `stages[2]`, `dims["a b"]` back to its parts (the core's messages name fields this way). */
export function pathParts(text: string): PropertyKey[] {
  if (text === '(config)') return [];
  const parts: PropertyKey[] = [];
  for (const m of text.matchAll(/\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|([^.[\]]+)/g)) {
    if (m[1] !== undefined) parts.push(Number(m[1]));
    else if (m[2] !== undefined) parts.push(JSON.parse(m[2]) as string);
    else parts.push(m[3]!);
  }
  return parts;
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** Zod's generic wording, said as what to write instead. */
export function friendlier(message: string, path: readonly PropertyKey[], schemaFile = 'schema/rollout-config.schema.json'): string {
  let m: RegExpMatchArray | null;
  if ((m = message.match(/^Invalid input: expected (\w+), received undefined$/))) return `missing: add this field (${article(m[1]!)})`;
  if ((m = message.match(/^Invalid input: expected (\w+), received (\w+)$/))) {
    const hint = m[1] === 'number' && m[2] === 'string' ? ' (write the number without quotes)'
      : m[1] === 'boolean' && m[2] === 'string' ? ' (write true or false without quotes)' : '';
    return `expected ${article(m[1]!)}, got ${article(m[2]!)}${hint}`;
  }
  if ((m = message.match(/^Invalid option: expected one of (.+)$/))) return `must be one of ${m[1]!.replaceAll('|', ', ')}`;
  if ((m = message.match(/^Too small: expected number to be >=?(\S+)$/))) return `must be at least ${m[1]}`;
  if ((m = message.match(/^Too big: expected number to be <=?(\S+)$/))) return `must be at most ${m[1]}`;
  if ((m = message.match(/^Too small: expected array to have >=?(\S+) items?$/))) return `needs at least ${m[1]} item(s)`;
  if ((m = message.match(/^Too big: expected array to have <=?(\S+) items?$/))) return `takes at most ${m[1]} item(s)`;
  if (message === 'Invalid input' && path[0] === 'stages') return 'a stage is a canary weight (integer 1-100) or { weight, bakeSeconds, checks }';
  if (message === 'Invalid input' && path.includes('queries')) return "queries need `value` (a gauge) or `numerator` and `denominator` (a ratio), each with namespace, metricName, dimensions and stat";
  if (message === 'Invalid input' && path.includes('query')) return 'a query is `value` (a gauge) or `numerator` and `denominator` (a ratio), each with namespace, metricName, dimensions and stat';
  if (message === 'Invalid input') return `not a valid value here: see ${schemaFile}`;
  return message;
}

/** The part of a friendlier message that says what to write, where it has one. */
function fixOf(message: string): string | undefined {
  let m: RegExpMatchArray | null;
  if ((m = message.match(/^missing: (.+)$/))) return m[1];
  if ((m = message.match(/\((write [^)]+)\)$/))) return m[1];
  if ((m = message.match(/^not a valid value here: (.+)$/))) return m[1];
  if ((m = message.match(/ must be a mapping with (.+) and its fields, not /))) return `write a mapping with ${m[1]} and its fields`;
  if (/^(must be|needs|takes|a stage is|queries need|a query is) /.test(message)) return message;
  return undefined;
}

/** The line of the deepest node of `path` present in the file (the key's line where there is one). */
function lineOf(file: ConfigFile, path: readonly PropertyKey[], unknownKeys: string[] = []): number | undefined {
  let node: unknown = file.doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number' && node.items[part]) {
      node = node.items[part];
      offset = (node as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  if (unknownKeys.length && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && unknownKeys.includes(String(p.key.value)));
    offset = (pair?.key as Node | undefined)?.range?.[0] ?? offset;
  }
  return offset === undefined ? undefined : file.lines.linePos(offset).line;
}

/** What a config file can be: a rollout (the state machine's input) or a soak check (the schedule's Input). */
export type ConfigKind = 'rollout' | 'soak';

/** One problem of a file: where (the field's path and its line), what is wrong, and what to write instead when that is known. */
export interface ConfigProblem {
  /** `target.hostedZoneId`, `stages[2]`; `(config)` for the whole file. */
  path: string;
  line: number | null;
  message: string;
  fix: string | null;
}

const KINDS = {
  rollout: { schema: RolloutConfigSchema as z.ZodType, schemaFile: 'schema/rollout-config.schema.json', example: 'examples/rollout.yaml', needs: '`name`, `target` and `preset` or `metrics`' },
  soak: { schema: SoakConfigSchema as z.ZodType, schemaFile: SOAK_SCHEMA_FILE, example: 'examples/soak.json', needs: '`name` and `metrics` (each with a `query`)' },
} as const;

/** `path: problem (line N)`. */
export const problemText = (p: ConfigProblem) => `${p.path}: ${p.message}${p.line !== null ? ` (line ${p.line})` : ''}`;

/** The issues of one parse as problems: one per unknown field, each with its line and its fix. */
function problemsOf(file: ConfigFile, issues: z.core.$ZodIssue[], kind: ConfigKind): ConfigProblem[] {
  const { schema, schemaFile } = KINDS[kind];
  // One problem per unknown field: each has its own line and its own "did you mean".
  const split = issues.flatMap((issue): z.core.$ZodIssue[] => (issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ ...issue, keys: [key] })) : [issue]));
  // In the order of the file (problems without a line last), as a person fixes them.
  return split.map((issue) => {
    const explained = explainIssue(issue, { schema, input: file.raw, schemaFile });
    const message = friendlier(explained.message, issue.path, schemaFile);
    const line = lineOf(file, issue.path, issue.code === 'unrecognized_keys' ? issue.keys : []);
    return { path: pathText(issue.path) || '(config)', line: line ?? null, message, fix: explained.fix ?? fixOf(message) ?? null };
  }).sort(byLine);
}

const byLine = (a: ConfigProblem, b: ConfigProblem) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER);

/** `field: problem (line N)`, one per issue, as a rollout config's. */
export function describeIssues(file: ConfigFile, issues: z.core.$ZodIssue[]): string[] {
  return problemsOf(file, issues, 'rollout').map(problemText);
}

/** The core's rules beyond the schema (`path: message` lines) as problems, with the line where the path is in the file. */
function problemsOfLines(file: ConfigFile, lines: string[]): ConfigProblem[] {
  return lines.map((text) => {
    const at = text.indexOf(': ');
    const path = at > 0 ? text.slice(0, at) : '(config)';
    const message = at > 0 ? text.slice(at + 2) : text;
    const line = path === '(config)' ? undefined : lineOf(file, pathParts(path));
    return { path, line: line ?? null, message, fix: null };
  }).sort(byLine);
}

export type CheckedConfig = { kind: 'rollout'; config: RolloutConfig } | { kind: 'soak'; config: SoakConfig };

/** Checks the file as one kind: its problems (none when valid) and the resolved config. Changes nothing. */
export function checkAs(file: ConfigFile, kind: ConfigKind): { problems: ConfigProblem[]; resolved?: CheckedConfig } {
  const { schema, example, needs } = KINDS[kind];
  if (file.raw === null || typeof file.raw !== 'object' || Array.isArray(file.raw)) {
    return { problems: [{ path: '(config)', line: null, message: `expected a mapping with at least ${needs} (see ${example})`, fix: `write the config as a mapping (see ${example})` }] };
  }
  const parsed = schema.safeParse(file.raw);
  if (!parsed.success) return { problems: problemsOf(file, parsed.error.issues, kind) };
  try {
    // The stack's own limits (allowed zones, routers, SoakPostPromotionRollback) are checked where it runs.
    const resolved: CheckedConfig = kind === 'rollout' ? { kind, config: parseRolloutConfig(file.raw) } : { kind, config: parseSoakConfig(file.raw) };
    return { problems: [], resolved };
  } catch (error) {
    if (error instanceof ConfigValidationError) return { problems: problemsOfLines(file, error.issues) };
    throw error;
  }
}

/** The top-level fields only one kind has, read from the schemas themselves. */
function ownFields(kind: ConfigKind): string[] {
  const other = kind === 'rollout' ? 'soak' : 'rollout';
  const others = new Set(allowedKeysAt(KINDS[other].schema, [], {}) ?? []);
  return (allowedKeysAt(KINDS[kind].schema, [], {}) ?? []).filter((key) => !others.has(key));
}

/** The fields of `raw` that only a rollout config or only a soak config has (`metrics[].queries` / `metrics[].query` too). */
export function kindSignals(raw: unknown): Record<ConfigKind, string[]> {
  const signals: Record<ConfigKind, string[]> = { rollout: [], soak: [] };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return signals;
  for (const kind of ['rollout', 'soak'] as const) signals[kind] = ownFields(kind).filter((key) => key in raw);
  const metrics = (raw as { metrics?: unknown }).metrics;
  const has = (field: string) => Array.isArray(metrics) && metrics.some((m) => m !== null && typeof m === 'object' && field in m);
  if (has('queries')) signals.rollout.push('metrics[].queries');
  if (has('query')) signals.soak.push('metrics[].query');
  return signals;
}

export interface Validation {
  valid: boolean;
  kind: ConfigKind;
  /** How the kind was decided, in words (`--kind`, the fields that tell, or fewer problems). */
  kindReason: string;
  /** Whether the fields alone told the kind (or --kind did): nothing to explain. */
  kindObvious: boolean;
  problems: ConfigProblem[];
  resolved?: CheckedConfig;
}

const fieldList = (fields: string[]) => fields.map((f) => `\`${f}\``).join(', ');

/**
 * Validates a rollout or a soak config: `kind` when given, else the kind its fields tell (fields
 * only one kind has), else the kind it has fewer problems as (a rollout config on a tie). Pure:
 * reads nothing but the file already read, changes nothing.
 */
export function validateConfigFile(file: ConfigFile, kind?: ConfigKind): Validation {
  const result = (k: ConfigKind, kindReason: string, kindObvious: boolean, checked = checkAs(file, k)): Validation =>
    ({ valid: checked.problems.length === 0, kind: k, kindReason, kindObvious, problems: checked.problems, ...(checked.resolved ? { resolved: checked.resolved } : {}) });
  if (kind) return result(kind, `--kind ${kind}`, true);
  const signals = kindSignals(file.raw);
  if (signals.soak.length && !signals.rollout.length) return result('soak', `it has ${fieldList(signals.soak)}, which only a soak config has`, true);
  if (signals.rollout.length && !signals.soak.length) return result('rollout', `it has ${fieldList(signals.rollout)}, which only a rollout config has`, true);
  const asRollout = checkAs(file, 'rollout');
  const asSoak = checkAs(file, 'soak');
  const why = signals.rollout.length
    ? `it has fields of both (${fieldList(signals.rollout)} of a rollout, ${fieldList(signals.soak)} of a soak)`
    : 'none of its fields tells';
  const count = (n: number) => `${n} problem${n === 1 ? '' : 's'}`;
  if (asSoak.problems.length < asRollout.problems.length) {
    return result('soak', `${why}, and it has fewer problems as a soak config (${count(asSoak.problems.length)}, ${asRollout.problems.length} as a rollout config); --kind rollout checks it as a rollout config`, false, asSoak);
  }
  const fewer = asSoak.problems.length === asRollout.problems.length
    ? `it has as many problems either way (${count(asRollout.problems.length)})`
    : `it has fewer problems as a rollout config (${count(asRollout.problems.length)}, ${asSoak.problems.length} as a soak config)`;
  return result('rollout', `${why}, and ${fewer}; --kind soak checks it as a soak config`, false, asRollout);
}

/** Validates and resolves the file's rollout config, or throws a CliError listing every problem. */
export function checkConfigFile(file: ConfigFile): RolloutConfig {
  const { problems, resolved } = checkAs(file, 'rollout');
  if (problems.length || resolved?.kind !== 'rollout') {
    throw new CliError(`${file.path} is not a valid rollout config (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, { details: problems.map((p) => `  ${problemText(p)}`) });
  }
  return resolved.config;
}

/** A path relative to the current directory when it is inside it (shorter messages). */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
}
