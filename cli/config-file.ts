/**
 * Reads a rollout config file (YAML or JSON) and checks it against the core's schema, naming
 * each bad field with its line in the file and what to do about it.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { formatIssues, parseRolloutConfig, RolloutConfigSchema, type RolloutConfig } from '../functions/core/config.ts';
import { ConfigValidationError } from '../functions/core/errors.ts';
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
  if (raw === null || raw === undefined) throw new CliError(`${path} is empty: a rollout config needs at least name, target and a preset or metrics (see examples/rollout.yaml)`);
  return { path, raw, doc, lines };
}

/** A path shown to a person as it is in the file: `target.hostedZoneId`, `stages[2]`. */
function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) =>
    typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part), '');
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** Zod's generic wording, said as what to write instead. */
export function friendlier(message: string, path: readonly PropertyKey[]): string {
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
  if (message === 'Invalid input') return 'not a valid value here: see schema/rollout-config.schema.json';
  return message;
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

/** `field: problem (line N)`, one per issue. */
export function describeIssues(file: ConfigFile, issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const where = pathText(issue.path);
    const formatted = formatIssues({ issues: [issue] } as unknown as z.ZodError)[0]!;
    const prefix = `${where || '(config)'}: `;
    const message = formatted.startsWith(prefix) ? formatted.slice(prefix.length) : formatted;
    const line = lineOf(file, issue.path, issue.code === 'unrecognized_keys' ? issue.keys : []);
    return `${prefix}${friendlier(message, issue.path)}${line !== undefined ? ` (line ${line})` : ''}`;
  });
}

/** Validates and resolves the file's config, or throws a CliError listing every problem. */
export function checkConfigFile(file: ConfigFile): RolloutConfig {
  const fail = (problems: string[]): never => {
    throw new CliError(`${file.path} is not a valid rollout config (${problems.length} problem${problems.length === 1 ? '' : 's'}):`, { details: problems.map((p) => `  ${p}`) });
  };
  if (file.raw === null || typeof file.raw !== 'object' || Array.isArray(file.raw)) {
    fail(['(config): expected a mapping with at least `name`, `target` and `preset` or `metrics` (see examples/rollout.yaml)']);
  }
  const parsed = RolloutConfigSchema.safeParse(file.raw);
  if (!parsed.success) fail(describeIssues(file, parsed.error.issues));
  try {
    return parseRolloutConfig(file.raw);
  } catch (error) {
    if (error instanceof ConfigValidationError) return fail(error.issues);
    throw error;
  }
}

/** A path relative to the current directory when it is inside it (shorter messages). */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') ? rel : path;
}
