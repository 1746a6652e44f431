/**
 * Writes the rollout config's JSON Schema (from the zod schema, the single source of truth) to
 * schema/rollout-config.schema.json. `--check` fails when the committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rolloutConfigJsonSchema } from '../functions/core/config.ts';

const file = new URL('../schema/rollout-config.schema.json', import.meta.url);
const schema = { title: 'Canary rollout config', ...(rolloutConfigJsonSchema() as object) };
const text = `${JSON.stringify(schema, null, 2)}\n`;
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(file, 'utf8'); } catch { /* missing */ }
  if (current !== text) {
    console.error('schema/rollout-config.schema.json is out of date: run `npm run schema`');
    process.exit(1);
  }
  console.log('schema/rollout-config.schema.json is up to date');
} else {
  writeFileSync(file, text);
  console.log('wrote schema/rollout-config.schema.json');
}
