/**
 * Zod issues as the lines a person reads: `path.to[3].field: message`, one per issue. Its own
 * module so that the schemas the rollout config spreads in (verification.ts) can use it without
 * importing config.ts back.
 */
import type { z } from 'zod';

const isPlainKey = (key: string) => /^[A-Za-z_$][\w$-]*$/.test(key);
/** JSON string literal with C1 controls and line separators escaped too. */
const quoteKey = (key: string) =>
  JSON.stringify(key).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** `path.to[3].field: message` lines, one per issue. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    // Keys come from the input (dimension names, misspelt fields): anything but a plain name is
    // quoted and escaped, so an issue stays one printable line.
    const path = issue.path.reduce<string>((acc, part) =>
      typeof part === 'number' ? `${acc}[${part}]`
        : isPlainKey(String(part)) ? (acc ? `${acc}.${String(part)}` : String(part)) : `${acc}[${quoteKey(String(part))}]`, '');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.map((k) => (isPlainKey(k) ? `'${k}'` : quoteKey(k))).join(', ')}: check the spelling (see schema/rollout-config.schema.json)`;
    return `${path || '(config)'}: ${message}`;
  });
}
