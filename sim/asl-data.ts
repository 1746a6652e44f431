/**
 * The data side of JSONPath ASL, as Step Functions applies it: JSONPath queries, InputPath /
 * Parameters / ResultSelector / ResultPath / OutputPath, intrinsic functions, and Choice rules.
 * Pure functions over JSON values; errors are StatesError with the error name AWS reports.
 *
 * Spec: https://states-language.net/spec.html and
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-input-output-filtering.html
 */
import { createHash } from 'node:crypto';

/**
 * How an error may be caught (concepts-error-handling): `States.ALL` matches any error but
 * `States.DataLimitExceeded` and the runtime errors; a runtime error (`States.Runtime`, the history
 * quota) is never retried nor caught and fails the execution.
 */
export type ErrorKind = 'normal' | 'notMatchedByAll' | 'runtime';

export class StatesError extends Error {
  readonly error: string;
  readonly kind: ErrorKind;

  constructor(error: string, cause: string, kind: ErrorKind = 'normal') {
    super(cause);
    this.name = error;
    this.error = error;
    this.kind = kind;
  }

  get causeText(): string {
    return this.message;
  }
}

export const runtimeError = (cause: string) => new StatesError('States.Runtime', cause, 'runtime');

// ---------------------------------------------------------------------------------------------
// JSONPath
// ---------------------------------------------------------------------------------------------

type FilterOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
interface FilterTerm { path: Segment[]; op?: FilterOp; literal?: unknown }
interface Filter { terms: FilterTerm[]; joins: ('&&' | '||')[] }

type Segment =
  | { kind: 'name'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'slice'; start?: number; end?: number; step?: number }
  | { kind: 'union'; keys: (string | number)[] }
  | { kind: 'descend'; name: string | null }
  | { kind: 'filter'; filter: Filter };

export interface ParsedPath {
  text: string;
  /** `$$` paths read the context object. */
  context: boolean;
  segments: Segment[];
  /** A definite path names one value; an indefinite one (wildcards, slices, filters…) a list. */
  definite: boolean;
}

const pathCache = new Map<string, ParsedPath>();

/** Parses a JSONPath (`$…` or `$$…`); throws a plain Error for a malformed path (a definition bug). */
export function parsePath(text: string): ParsedPath {
  const cached = pathCache.get(text);
  if (cached) return cached;
  if (typeof text !== 'string' || !text.startsWith('$')) throw new Error(`'${text}' is not a JSONPath: it must start with $`);
  const context = text.startsWith('$$');
  let i = context ? 2 : 1;
  const segments: Segment[] = [];
  const fail = (why: string) => new Error(`malformed JSONPath '${text}' at ${i}: ${why}`);
  const readName = () => {
    const start = i;
    while (i < text.length && text[i] !== '.' && text[i] !== '[') i++;
    if (i === start) throw fail('a name was expected');
    return text.slice(start, i);
  };
  while (i < text.length) {
    const ch = text[i];
    if (ch === '.') {
      if (text[i + 1] === '.') {
        i += 2;
        if (text[i] === '*') {
          i++;
          segments.push({ kind: 'descend', name: null });
        } else if (text[i] === '[') {
          segments.push({ kind: 'descend', name: null }); // `..[…]`: the bracket applies at every level
        } else {
          segments.push({ kind: 'descend', name: readName() });
        }
      } else {
        i++;
        if (text[i] === '*') {
          i++;
          segments.push({ kind: 'wildcard' });
        } else {
          segments.push({ kind: 'name', name: readName() });
        }
      }
    } else if (ch === '[') {
      const close = findClose(text, i);
      if (close < 0) throw fail('unclosed [');
      segments.push(parseBracket(text.slice(i + 1, close).trim(), fail));
      i = close + 1;
    } else {
      throw fail(`unexpected '${ch}'`);
    }
  }
  const definite = segments.every((s) => s.kind === 'name' || s.kind === 'index');
  const parsed = { text, context, segments, definite };
  pathCache.set(text, parsed);
  return parsed;
}

function findClose(text: string, open: number): number {
  let depth = 0;
  let quote: string | null = null;
  for (let j = open; j < text.length; j++) {
    const c = text[j];
    if (quote) {
      if (c === '\\') j++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return j;
  }
  return -1;
}

function unquote(s: string): string | null {
  if (s.length >= 2 && (s[0] === "'" || s[0] === '"') && s[s.length - 1] === s[0]) return s.slice(1, -1).replace(/\\(.)/g, '$1');
  return null;
}

function parseBracket(inner: string, fail: (why: string) => Error): Segment {
  if (inner === '*') return { kind: 'wildcard' };
  if (inner.startsWith('?(') && inner.endsWith(')')) return { kind: 'filter', filter: parseFilter(inner.slice(2, -1).trim(), fail) };
  if (/^-?\d*:-?\d*(:-?\d+)?$/.test(inner)) {
    const [a, b, c] = inner.split(':');
    const num = (x?: string) => (x === undefined || x === '' ? undefined : Number(x));
    return { kind: 'slice', start: num(a), end: num(b), step: num(c) };
  }
  const parts = splitTopLevel(inner, ',').map((p) => p.trim());
  const keys = parts.map((p) => {
    const q = unquote(p);
    if (q !== null) return q;
    if (/^-?\d+$/.test(p)) return Number(p);
    throw fail(`cannot read '[${inner}]'`);
  });
  if (keys.length === 1) return typeof keys[0] === 'number' ? { kind: 'index', index: keys[0] } : { kind: 'name', name: keys[0]! };
  return { kind: 'union', keys };
}

function splitTopLevel(text: string, sep: string): string[] {
  const out: string[] = [];
  let quote: string | null = null;
  let depth = 0;
  let start = 0;
  for (let j = 0; j < text.length; j++) {
    const c = text[j];
    if (quote) {
      if (c === '\\') j++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (depth === 0 && text.startsWith(sep, j)) {
      out.push(text.slice(start, j));
      start = j + sep.length;
      j += sep.length - 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function parseFilter(expr: string, fail: (why: string) => Error): Filter {
  const terms: FilterTerm[] = [];
  const joins: ('&&' | '||')[] = [];
  const pieces = expr.split(/(&&|\|\|)/).map((p) => p.trim());
  for (let k = 0; k < pieces.length; k++) {
    if (k % 2 === 1) {
      joins.push(pieces[k] as '&&' | '||');
      continue;
    }
    const m = /^@(\S*?)\s*(==|!=|<=|>=|<|>)\s*(.+)$/.exec(pieces[k]!);
    const existence = /^@(\S*)$/.exec(pieces[k]!);
    if (m) {
      const literal = parseLiteral(m[3]!.trim());
      if (literal === undefined) throw fail(`cannot read the value in filter '${expr}'`);
      terms.push({ path: parsePath(`$${m[1]}`).segments, op: m[2] as FilterOp, literal: literal.value });
    } else if (existence) {
      terms.push({ path: parsePath(`$${existence[1]}`).segments });
    } else {
      throw fail(`unsupported filter '${expr}' (supported: @.path OP literal, @.path, joined by && or ||)`);
    }
  }
  return { terms, joins };
}

function parseLiteral(text: string): { value: unknown } | undefined {
  const q = unquote(text);
  if (q !== null) return { value: q };
  if (text === 'true') return { value: true };
  if (text === 'false') return { value: false };
  if (text === 'null') return { value: null };
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return { value: Number(text) };
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function children(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isObject(value)) return Object.values(value);
  return [];
}

function step(nodes: unknown[], segment: Segment): unknown[] {
  const out: unknown[] = [];
  for (const node of nodes) {
    switch (segment.kind) {
      case 'name':
        if (isObject(node) && Object.hasOwn(node, segment.name)) out.push(node[segment.name]);
        break;
      case 'index':
        if (Array.isArray(node)) {
          const i = segment.index < 0 ? node.length + segment.index : segment.index;
          if (i >= 0 && i < node.length) out.push(node[i]);
        }
        break;
      case 'wildcard':
        out.push(...children(node));
        break;
      case 'slice':
        if (Array.isArray(node)) {
          const len = node.length;
          const norm = (x: number | undefined, dflt: number) => (x === undefined ? dflt : x < 0 ? Math.max(0, len + x) : Math.min(len, x));
          const st = segment.step ?? 1;
          if (st > 0) for (let i = norm(segment.start, 0); i < norm(segment.end, len); i += st) out.push(node[i]);
        }
        break;
      case 'union':
        for (const key of segment.keys) out.push(...step([node], typeof key === 'number' ? { kind: 'index', index: key } : { kind: 'name', name: key }));
        break;
      case 'descend': {
        const visit = (v: unknown) => {
          if (segment.name === null) out.push(...children(v));
          else if (isObject(v) && Object.hasOwn(v, segment.name)) out.push(v[segment.name]);
          for (const c of children(v)) if (c !== null && typeof c === 'object') visit(c);
        };
        visit(node);
        break;
      }
      case 'filter':
        for (const c of children(node)) if (matchesFilter(c, segment.filter)) out.push(c);
        break;
    }
  }
  return out;
}

function matchesFilter(item: unknown, filter: Filter): boolean {
  let result = evalTerm(item, filter.terms[0]!);
  for (let k = 0; k < filter.joins.length; k++) {
    const next = evalTerm(item, filter.terms[k + 1]!);
    result = filter.joins[k] === '&&' ? result && next : result || next;
  }
  return result;
}

function evalTerm(item: unknown, term: FilterTerm): boolean {
  let nodes = [item];
  for (const s of term.path) nodes = step(nodes, s);
  if (nodes.length !== 1) return false;
  if (!term.op) return true;
  const a = nodes[0];
  const b = term.literal;
  switch (term.op) {
    case '==': return jsonEqual(a, b);
    case '!=': return !jsonEqual(a, b);
    default: {
      if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
      const x = a as number | string;
      const y = b as number | string;
      return term.op === '<' ? x < y : term.op === '<=' ? x <= y : term.op === '>' ? x > y : x >= y;
    }
  }
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/**
 * Reads `path` from `data` (or from `context` for `$$` paths). A definite path gives its value or
 * `found: false`; an indefinite one gives the array of what it matched.
 */
export function queryPath(path: string, data: unknown, context: unknown): { found: boolean; value?: unknown } {
  const parsed = parsePath(path);
  let nodes = [parsed.context ? context : data];
  for (const segment of parsed.segments) {
    nodes = step(nodes, segment);
    if (nodes.length === 0 && parsed.definite) return { found: false };
  }
  if (parsed.definite) return nodes.length === 1 ? { found: true, value: nodes[0] } : { found: false };
  return { found: true, value: nodes };
}

/** InputPath / OutputPath / ItemsPath: a path that finds nothing is a runtime error, `null` gives `{}`. */
export function selectPath(path: string | null | undefined, data: unknown, context: unknown, field: string, stateName: string): unknown {
  if (path === undefined) return data;
  if (path === null) return {};
  const got = queryPath(path, data, context);
  if (!got.found) {
    throw runtimeError(`An error occurred while executing the state '${stateName}'. Invalid path '${path}' : The ${field} '${path}' could not be found in the input ${preview(data)}`);
  }
  return got.value;
}

const preview = (v: unknown) => {
  const text = JSON.stringify(v) ?? 'null';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
};

/**
 * ResultPath: where the result goes in a copy of the state's raw input. `$` (the default) gives
 * the result; `null` discards it. Containers along the path are copied, never mutated.
 */
export function applyResultPath(path: string | null | undefined, rawInput: unknown, result: unknown, stateName: string): unknown {
  if (path === undefined || path === '$') return result;
  if (path === null) return rawInput;
  const parsed = parsePath(path);
  if (parsed.context || !parsed.definite) throw new StatesError('States.ResultPathMatchFailure', `Invalid ResultPath '${path}' in state '${stateName}': it must be a reference path into the input`);
  const set = (node: unknown, k: number): unknown => {
    if (k === parsed.segments.length) return result;
    const segment = parsed.segments[k]!;
    if (segment.kind === 'name') {
      if (node === undefined) node = {};
      if (!isObject(node)) {
        throw new StatesError('States.ResultPathMatchFailure', `Unable to apply ResultPath '${path}' to input ${preview(rawInput)} in state '${stateName}': '${segment.name}' would go into a non-object`);
      }
      return { ...node, [segment.name]: set(node[segment.name], k + 1) };
    }
    if (segment.kind === 'index' && Array.isArray(node) && segment.index >= 0 && segment.index < node.length) {
      const copy = node.slice();
      copy[segment.index] = set(node[segment.index], k + 1);
      return copy;
    }
    throw new StatesError('States.ResultPathMatchFailure', `Unable to apply ResultPath '${path}' to input ${preview(rawInput)} in state '${stateName}'`);
  };
  return set(rawInput, 0);
}

// ---------------------------------------------------------------------------------------------
// Payload templates (Parameters, ResultSelector, ItemSelector) and intrinsic functions
// ---------------------------------------------------------------------------------------------

export interface IntrinsicEnv {
  /** Uniform [0, 1) for States.MathRandom and States.UUID (the simulation's seeded PRNG). */
  rng: () => number;
}

/** Evaluates a payload template: keys ending in `.$` take a path or an intrinsic function. */
export function applyTemplate(template: unknown, data: unknown, context: unknown, env: IntrinsicEnv, stateName: string): unknown {
  if (Array.isArray(template)) return template.map((t) => applyTemplate(t, data, context, env, stateName));
  if (!isObject(template)) return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      const field = key.slice(0, -2);
      if (typeof value !== 'string') throw new StatesError('States.Runtime', `The value of field '${key}' in state '${stateName}' must be a path or an intrinsic function`, 'runtime');
      if (value.startsWith('$')) {
        const got = queryPath(value, data, context);
        if (!got.found) {
          throw new StatesError('States.ParameterPathFailure', `An error occurred while executing the state '${stateName}'. The JSONPath '${value}' specified for the field '${key}' could not be found in the input ${preview(data)}`);
        }
        out[field] = got.value;
      } else if (value.startsWith('States.')) {
        out[field] = evaluateIntrinsic(value, data, context, env, stateName);
      } else {
        throw new StatesError('States.Runtime', `The value of field '${key}' in state '${stateName}' is neither a path nor an intrinsic function: ${value}`, 'runtime');
      }
    } else {
      out[key] = applyTemplate(value, data, context, env, stateName);
    }
  }
  return out;
}

type Arg = { kind: 'literal'; value: unknown } | { kind: 'path'; path: string } | { kind: 'call'; name: string; args: Arg[] };

const intrinsicCache = new Map<string, Arg>();

function parseIntrinsic(text: string): Arg {
  const cached = intrinsicCache.get(text);
  if (cached) return cached;
  let i = 0;
  const fail = (why: string) => new Error(`malformed intrinsic function '${text}' at ${i}: ${why}`);
  const ws = () => {
    while (text[i] === ' ') i++;
  };
  const arg = (): Arg => {
    ws();
    const c = text[i];
    if (c === "'") {
      i++;
      let s = '';
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\') {
          const n = text[i + 1];
          // \' \{ \} \\ are escapes; \{ and \} stay escaped for States.Format to see.
          s += n === '{' || n === '}' ? `\\${n}` : n;
          i += 2;
        } else s += text[i++];
      }
      if (text[i] !== "'") throw fail('unclosed string');
      i++;
      return { kind: 'literal', value: s };
    }
    if (c === '$') {
      const start = i;
      let depth = 0;
      let quote: string | null = null;
      while (i < text.length) {
        const d = text[i];
        if (quote) {
          if (d === quote) quote = null;
        } else if (d === "'" || d === '"') quote = d;
        else if (d === '[' || d === '(') depth++;
        else if (d === ']') depth--;
        else if (d === ')' && depth === 0) break;
        else if (d === ')') depth--;
        else if (d === ',' && depth === 0) break;
        i++;
      }
      return { kind: 'path', path: text.slice(start, i).trim() };
    }
    const m = /^(States\.[A-Za-z0-9]+)\(/.exec(text.slice(i));
    if (m) {
      i += m[0].length;
      const args: Arg[] = [];
      ws();
      if (text[i] === ')') i++;
      else {
        for (;;) {
          args.push(arg());
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === ')') {
            i++;
            break;
          } else throw fail("',' or ')' expected");
        }
      }
      return { kind: 'call', name: m[1]!, args };
    }
    const lit = /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (lit) {
      i += lit[0].length;
      return { kind: 'literal', value: JSON.parse(lit[0]) };
    }
    throw fail('an argument was expected');
  };
  const parsed = arg();
  ws();
  if (i !== text.length || parsed.kind !== 'call') throw fail('trailing text');
  intrinsicCache.set(text, parsed);
  return parsed;
}

export function evaluateIntrinsic(text: string, data: unknown, context: unknown, env: IntrinsicEnv, stateName: string): unknown {
  const failure = (why: string) => new StatesError('States.IntrinsicFailure', `An error occurred while executing the state '${stateName}'. Invalid arguments in ${text}: ${why}`);
  const evalArg = (a: Arg): unknown => {
    if (a.kind === 'literal') return a.value;
    if (a.kind === 'path') {
      const got = queryPath(a.path, data, context);
      if (!got.found) throw failure(`the path ${a.path} was not found`);
      return got.value;
    }
    const args = a.args.map(evalArg);
    const num = (k: number) => {
      if (typeof args[k] !== 'number') throw failure(`argument ${k + 1} of ${a.name} must be a number`);
      return args[k] as number;
    };
    const str = (k: number) => {
      if (typeof args[k] !== 'string') throw failure(`argument ${k + 1} of ${a.name} must be a string`);
      return args[k] as string;
    };
    const arr = (k: number) => {
      if (!Array.isArray(args[k])) throw failure(`argument ${k + 1} of ${a.name} must be an array`);
      return args[k] as unknown[];
    };
    switch (a.name) {
      case 'States.Format': {
        const template = str(0);
        let n = 1;
        const out = template.replace(/\\([{}])|\{\}/g, (m, escaped: string | undefined) => {
          if (escaped) return escaped;
          if (n >= args.length) throw failure('more {} than arguments');
          const v = args[n++];
          if (v !== null && typeof v === 'object') throw failure('States.Format takes strings, numbers, booleans and null');
          return String(v);
        });
        if (n !== args.length) throw failure('more arguments than {}');
        return out;
      }
      case 'States.StringToJson':
        try {
          return JSON.parse(str(0));
        } catch {
          throw failure('the string is not JSON');
        }
      case 'States.JsonToString': return JSON.stringify(args[0]);
      case 'States.Array': return args;
      case 'States.ArrayPartition': {
        const list = arr(0);
        const size = num(1);
        if (!(size > 0) || !Number.isInteger(size)) throw failure('the chunk size must be a positive integer');
        const out: unknown[][] = [];
        for (let k = 0; k < list.length; k += size) out.push(list.slice(k, k + size));
        return out;
      }
      case 'States.ArrayContains': return arr(0).some((x) => jsonEqual(x, args[1]));
      case 'States.ArrayRange': {
        const [start, end, stepBy] = [num(0), num(1), num(2)];
        if (stepBy === 0) throw failure('the step must not be 0');
        const out: number[] = [];
        for (let v = start; stepBy > 0 ? v <= end : v >= end; v += stepBy) {
          out.push(v);
          if (out.length > 1000) throw failure('at most 1,000 items');
        }
        return out;
      }
      case 'States.ArrayGetItem': {
        const list = arr(0);
        const index = num(1);
        if (!Number.isInteger(index) || index < 0 || index >= list.length) throw failure(`index ${index} is out of bounds`);
        return list[index];
      }
      case 'States.ArrayLength': return arr(0).length;
      case 'States.ArrayUnique': return arr(0).filter((x, k, all) => all.findIndex((y) => jsonEqual(x, y)) === k);
      case 'States.Base64Encode': return Buffer.from(str(0), 'utf8').toString('base64');
      case 'States.Base64Decode': return Buffer.from(str(0), 'base64').toString('utf8');
      case 'States.Hash': {
        const algorithms: Record<string, string> = { MD5: 'md5', 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
        const algorithm = algorithms[str(1)];
        if (!algorithm) throw failure(`unknown hash algorithm ${str(1)}`);
        const input = typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
        return createHash(algorithm).update(input).digest('hex');
      }
      case 'States.JsonMerge': {
        if (!isObject(args[0]) || !isObject(args[1])) throw failure('States.JsonMerge merges two objects');
        if (args[2] !== false) throw failure('only a shallow merge (false) is supported, as in AWS');
        return { ...args[0], ...args[1] };
      }
      case 'States.MathRandom': {
        const [start, end] = [num(0), num(1)];
        return start + Math.floor(env.rng() * (end - start));
      }
      case 'States.MathAdd': return num(0) + num(1);
      case 'States.StringSplit': {
        const s = str(0);
        const delimiters = new Set(str(1));
        const out: string[] = [];
        let current = '';
        for (const ch of s) {
          if (delimiters.has(ch)) {
            if (current) out.push(current);
            current = '';
          } else current += ch;
        }
        if (current) out.push(current);
        return out;
      }
      case 'States.UUID': return uuidFrom(env.rng);
      default: throw failure(`${a.name} is not an intrinsic function this runner knows`);
    }
  };
  return evalArg(parseIntrinsic(text));
}

/** A version-4 UUID from the seeded PRNG (so that a seed gives the same names). */
export function uuidFrom(rng: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------
// Choice rules
// ---------------------------------------------------------------------------------------------

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
export const isTimestamp = (v: unknown): v is string => typeof v === 'string' && RFC3339.test(v) && !Number.isNaN(Date.parse(v));

function wildcardMatch(value: string, pattern: string): boolean {
  let re = '';
  for (let k = 0; k < pattern.length; k++) {
    const c = pattern[k]!;
    if (c === '\\' && k + 1 < pattern.length) re += escapeRe(pattern[++k]!);
    else if (c === '*') re += '.*';
    else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 's').test(value);
}
const escapeRe = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type Rule = Record<string, unknown>;

/**
 * Evaluates one Choice rule. As in AWS, a comparison whose Variable is not in the input is a
 * runtime error (`States.Runtime`: "Invalid path … references an invalid value"); only IsPresent
 * may look at a missing value.
 */
export function evaluateChoiceRule(rule: Rule, data: unknown, context: unknown, stateName: string): boolean {
  if (Array.isArray(rule.And)) return (rule.And as Rule[]).every((r) => evaluateChoiceRule(r, data, context, stateName));
  if (Array.isArray(rule.Or)) return (rule.Or as Rule[]).some((r) => evaluateChoiceRule(r, data, context, stateName));
  if (isObject(rule.Not)) return !evaluateChoiceRule(rule.Not, data, context, stateName);
  const variable = rule.Variable as string;
  const got = queryPath(variable, data, context);
  if ('IsPresent' in rule) return got.found === rule.IsPresent;
  if (!got.found) {
    throw runtimeError(`An error occurred while executing the state '${stateName}'. Invalid path '${variable}': The choice state's condition path references an invalid value.`);
  }
  const v = got.value;
  for (const [op, raw] of Object.entries(rule)) {
    if (op === 'Variable' || op === 'Next') continue;
    let operand = raw;
    let name = op;
    if (op.endsWith('Path') && !op.startsWith('Is')) {
      name = op.slice(0, -4);
      const other = queryPath(raw as string, data, context);
      if (!other.found) {
        throw runtimeError(`An error occurred while executing the state '${stateName}'. Invalid path '${String(raw)}': The choice state's condition path references an invalid value.`);
      }
      operand = other.value;
    }
    return compare(name, v, operand);
  }
  throw new Error(`Choice state '${stateName}' has a rule with no comparison: ${JSON.stringify(rule)}`);
}

function compare(op: string, v: unknown, operand: unknown): boolean {
  switch (op) {
    case 'IsNull': return (v === null) === operand;
    case 'IsNumeric': return (typeof v === 'number') === operand;
    case 'IsString': return (typeof v === 'string') === operand;
    case 'IsBoolean': return (typeof v === 'boolean') === operand;
    case 'IsTimestamp': return isTimestamp(v) === operand;
    case 'BooleanEquals': return typeof v === 'boolean' && v === operand;
    case 'StringMatches': return typeof v === 'string' && typeof operand === 'string' && wildcardMatch(v, operand);
  }
  const family = /^(String|Numeric|Timestamp)(Equals|LessThanEquals|GreaterThanEquals|LessThan|GreaterThan)$/.exec(op);
  if (!family) throw new Error(`unknown Choice comparison operator ${op}`);
  let a: number | string;
  let b: number | string;
  if (family[1] === 'String') {
    if (typeof v !== 'string' || typeof operand !== 'string') return false;
    [a, b] = [v, operand];
  } else if (family[1] === 'Numeric') {
    if (typeof v !== 'number' || typeof operand !== 'number') return false;
    [a, b] = [v, operand];
  } else {
    if (!isTimestamp(v) || !isTimestamp(operand)) return false;
    [a, b] = [Date.parse(v), Date.parse(operand)];
  }
  switch (family[2]) {
    case 'Equals': return a === b;
    case 'LessThan': return a < b;
    case 'GreaterThan': return a > b;
    case 'LessThanEquals': return a <= b;
    default: return a >= b;
  }
}
