/**
 * Zod issues as the lines a person reads: `path.to[3].field: message`, one per issue. Its own
 * module so that the schemas the rollout config spreads in (verification.ts) can use it without
 * importing config.ts back. Given the schema and the input, a misspelt field, a wrong `type` and
 * a wrong enum value get "did you mean" (suggest.ts).
 */
import type { z } from 'zod';
import { allowedKeysAt, closest, didYouMean, valueAt, whereAllowed } from './suggest.ts';

const isPlainKey = (key: string) => /^[A-Za-z_$][\w$-]*$/.test(key);
/** JSON string literal with C1 controls and line separators escaped too. */
const quoteKey = (key: string) =>
  JSON.stringify(key).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const quoted = (key: string) => (isPlainKey(key) ? `'${key}'` : quoteKey(key));
/** A value the user wrote, in a message: `'1w'`, `7`; escaped where it would break the line. */
const shown = (value: unknown): string => {
  if (typeof value !== 'string') return JSON.stringify(value) ?? String(value);
  const short = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return /^[\w .:/@+-]*$/.test(short) ? `'${short}'` : quoteKey(short);
};

/** What the issues are about: the schema and the input they were found in, for suggestions. */
export interface IssueContext {
  schema?: z.ZodType;
  input?: unknown;
  /** The JSON Schema file a person can read the allowed fields in (default: the rollout config's). */
  schemaFile?: string;
}

/** One issue explained: the whole message, and the part of it that says what to do (when it says one). */
export interface IssueExplanation {
  message: string;
  fix?: string;
}

/** `path.to[3].field`; '' at the root. Keys come from the input: anything but a plain name is quoted and escaped. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) =>
    typeof part === 'number' ? `${acc}[${part}]`
      : isPlainKey(String(part)) ? (acc ? `${acc}.${String(part)}` : String(part)) : `${acc}[${quoteKey(String(part))}]`, '');
}

/** The issue as a person reads it (unknown fields, wrong choices: what to write instead), and its fix. */
export function explainIssue(issue: z.core.$ZodIssue, context: IssueContext = {}): IssueExplanation {
  const schemaFile = context.schemaFile ?? 'schema/rollout-config.schema.json';
  if (issue.code === 'unrecognized_keys') {
    const allowed = context.schema ? allowedKeysAt(context.schema, issue.path, context.input) ?? [] : [];
    const keys = issue.keys.map((key) => ({ key, near: closest(key, allowed) }));
    if (keys.length === 1 && keys[0]!.near.length) {
      const fix = didYouMean(keys[0]!.near);
      return { message: `unknown field ${quoted(keys[0]!.key)}: ${fix}`, fix };
    }
    // Allowed in another form of a union at this very place (a single metric's `namespace` beside an
    // `expression`): no place to move it to; the plain message.
    const anyForm = context.schema && keys.length === 1 ? allowedKeysAt(context.schema, issue.path, undefined) ?? [] : [];
    if (keys.length === 1 && context.schema && !anyForm.includes(keys[0]!.key)) {
      // Allowed, but elsewhere: a field written at the wrong level.
      const where = whereAllowed(context.schema, keys[0]!.key).filter((w) => w !== issuePath(issue.path).replace(/\[\d+\]/g, '[]'));
      if (where.length) {
        const fix = `move it ${where.map((w) => (w ? `into \`${w}\`` : 'to the top level')).join(' or ')}`;
        return { message: `unknown field ${quoted(keys[0]!.key)} here: ${fix}`, fix };
      }
    }
    const list = keys.map(({ key, near }) => `${quoted(key)}${near.length ? ` (${didYouMean(near)})` : ''}`).join(', ');
    const fix = `check the spelling (see ${schemaFile})`;
    return { message: `unknown field(s) ${list}: ${fix}`, fix };
  }
  if (context.input !== undefined && issue.code === 'invalid_union' && (issue as { note?: string }).note === 'No matching discriminator') {
    // A `type` that is none of a union's forms: the message names the choices; say what was given and what is near.
    const options = ((issue as { options?: unknown[] }).options ?? []).filter((o): o is string => typeof o === 'string');
    const given = valueAt(context.input, issue.path);
    const choices = `use one of ${options.map((o) => `'${o}'`).join(', ')}`;
    if (given === undefined) return { message: issue.message, fix: choices };
    const near = typeof given === 'string' ? closest(given, options) : [];
    return { message: `${issue.message}, not ${shown(given)}${near.length ? ` (${didYouMean(near)})` : ''}`, fix: near.length ? didYouMean(near) : choices };
  }
  if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
    const given = context.input === undefined ? undefined : valueAt(context.input, issue.path);
    const values = issue.values as string[];
    const choices = values.map((v) => `'${v}'`).join(', ');
    const near = typeof given === 'string' ? closest(given, values) : [];
    const got = given === undefined ? '' : `, not ${shown(given)}`;
    // zod's own wording is replaced; a schema's own message (which names the choices itself) is kept.
    const base = issue.message.startsWith('Invalid option') ? `must be one of ${choices}` : issue.message;
    return { message: `${base}${got}${near.length ? ` (${didYouMean(near)})` : ''}`, fix: near.length ? didYouMean(near) : `use one of ${choices}` };
  }
  return { message: issue.message };
}

/** The issue's message as a person reads it. */
export function issueMessage(issue: z.core.$ZodIssue, context: IssueContext = {}): string {
  return explainIssue(issue, context).message;
}

/** `path.to[3].field: message` lines, one per issue. */
export function formatIssues(error: z.ZodError | { issues: z.core.$ZodIssue[] }, context: IssueContext = {}): string[] {
  return error.issues.map((issue) => `${issuePath(issue.path) || '(config)'}: ${issueMessage(issue, context)}`);
}
