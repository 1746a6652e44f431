/**
 * "Did you mean" for config mistakes: the closest of the allowed words by edit distance (a
 * misspelt field against the keys the schema allows at its path, a wrong `type` or enum value
 * against the valid choices). The allowed keys come from the zod schema itself (the source of
 * truth), walked along the mistake's path with the input choosing between a union's forms. Pure.
 */
import type { z } from 'zod';

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** Case, `_` and `-` do not count: `bake_seconds` is `bakeSeconds`. */
const normal = (s: string) => s.toLowerCase().replace(/[_-]/g, '');

/**
 * The candidates closest to `word` (at most two, tied), or none when none is close: within a
 * quarter of the longer one's length (at least 1, at most 3) after normalizing. A word that is
 * itself a candidate, or shorter than three letters, gets no suggestion.
 */
export function closest(word: string, candidates: readonly string[]): string[] {
  if (candidates.includes(word)) return [];
  const w = normal(word);
  // One or two letters (`7` for a severity, `1w`) are no misspelling of anything: no guess.
  if (w.length < 3) return [];
  let best = Number.POSITIVE_INFINITY;
  let found: string[] = [];
  for (const c of new Set(candidates)) {
    const n = normal(c);
    const limit = Math.min(3, Math.max(1, Math.round(Math.max(w.length, n.length) / 4)));
    // A prefix of a few letters (`thresh` for `threshold`) counts as close too.
    // So does a whole part of a dashed name (`alias` for `lambda-alias`).
    const part = w.length >= 4 && c.toLowerCase().split(/[-_.]/).includes(word.toLowerCase());
    let d = editDistance(w, n);
    if (d > 1 && ((w.length >= 4 && n.startsWith(w)) || part)) d = 1;
    if (d > limit) continue;
    if (d < best) { best = d; found = [c]; } else if (d === best) found.push(c);
  }
  return found.slice(0, 2);
}

/** `did you mean 'x'?` / `did you mean 'x' or 'y'?`; empty without candidates. */
export function didYouMean(found: readonly string[]): string {
  return found.length ? `did you mean ${found.map((f) => `'${f}'`).join(' or ')}?` : '';
}

// zod's definitions, read structurally (zod 4: `schema._zod.def`).
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  valueType?: z.ZodType;
  getter?: () => z.ZodType;
  left?: z.ZodType;
  right?: z.ZodType;
  items?: z.ZodType[];
  values?: unknown[];
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The concrete schemas behind wrappers (optional, default, a transform's input side...), unions spread by the input. */
function concrete(schema: z.ZodType, input: unknown, depth = 0): z.ZodType[] {
  if (depth > 20) return [];
  const def = defOf(schema);
  switch (def.type) {
    case 'optional': case 'nullable': case 'default': case 'prefault': case 'readonly': case 'catch': case 'nonoptional': case 'success':
      return def.innerType ? concrete(def.innerType, input, depth + 1) : [];
    case 'pipe': return def.in ? concrete(def.in, input, depth + 1) : [];
    case 'lazy': return def.getter ? concrete(def.getter(), input, depth + 1) : [];
    case 'intersection': return [def.left, def.right].flatMap((s) => (s ? concrete(s, input, depth + 1) : []));
    case 'union': {
      const options = (def.options ?? []).flatMap((o) => concrete(o, input, depth + 1));
      const key = def.discriminator;
      const value = key && input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[key] : undefined;
      if (key && value !== undefined) {
        const matching = options.filter((o) => literalValues(defOf(o).shape?.[key]).includes(value));
        if (matching.length) return matching;
      }
      return options;
    }
    default: return [schema];
  }
}

/** The values a discriminator field accepts (a literal, an enum, optional ones). */
function literalValues(schema: z.ZodType | undefined): unknown[] {
  if (!schema) return [];
  const def = defOf(schema);
  if (def.type === 'literal' || def.type === 'enum') return def.values ?? Object.values((def as { entries?: Record<string, unknown> }).entries ?? {});
  return def.innerType ? literalValues(def.innerType) : [];
}

/** The value of the input at `path` (undefined where it has none). */
export function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part as string];
  }
  return node;
}

/**
 * The keys the schema allows on the object at `path` of `input` (the union of a union's forms
 * where the input does not choose one); null where the path leads to no object schema.
 */
export function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[], input: unknown): string[] | null {
  let schemas = concrete(schema, input);
  let node = input;
  for (const part of path) {
    node = node !== null && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[part as string] : undefined;
    const next: z.ZodType[] = [];
    for (const s of schemas) {
      const def = defOf(s);
      const child = def.type === 'object' ? def.shape?.[String(part)]
        : def.type === 'array' ? def.element
          : def.type === 'record' ? def.valueType
            : def.type === 'tuple' && typeof part === 'number' ? def.items?.[part] : undefined;
      if (child) next.push(...concrete(child, node));
    }
    schemas = next;
    if (schemas.length === 0) return null;
  }
  const keys = schemas.filter((s) => defOf(s).type === 'object').flatMap((s) => Object.keys(defOf(s).shape ?? {}));
  return keys.length ? [...new Set(keys)] : null;
}

/**
 * Where else the schema allows `key`: the paths of the objects that have it ('' for the top
 * level, `incident`, `stages[]`), shallowest first, at most three, within `maxDepth` levels. For a field written at
 * the wrong level (`statusUpdateEvery` at the top instead of under `incident`).
 */
export function whereAllowed(schema: z.ZodType, key: string, maxDepth = 6): string[] {
  const found: { path: string; depth: number }[] = [];
  const seen = new Set<z.ZodType>();
  const walk = (s: z.ZodType, path: string, depth: number) => {
    if (depth > maxDepth) return;
    for (const c of concrete(s, undefined)) {
      const def = defOf(c);
      if (def.type === 'array' && def.element) walk(def.element, `${path}[]`, depth);
      if (def.type !== 'object' || seen.has(c)) continue;
      seen.add(c);
      const shape = def.shape ?? {};
      if (key in shape) found.push({ path, depth });
      for (const [k, child] of Object.entries(shape)) walk(child, path ? `${path}.${k}` : k, depth + 1);
    }
  };
  walk(schema, '', 0);
  return [...new Set(found.sort((a, b) => a.depth - b.depth).map((f) => f.path))].slice(0, 3);
}
