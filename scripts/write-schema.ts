/**
 * Writes the JSON Schemas of the rollout config (schema/rollout-config.schema.json) and the soak
 * config (schema/soak-config.schema.json) from the zod schemas, the single source of truth.
 * `--check` fails when a committed file is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rolloutConfigJsonSchema } from '../functions/core/config.ts';
import { soakConfigJsonSchema } from '../functions/core/soak-config.ts';

const schemas = [
  { name: 'schema/rollout-config.schema.json', schema: { title: 'Canary rollout config', ...(rolloutConfigJsonSchema() as object) } },
  { name: 'schema/soak-config.schema.json', schema: { title: 'Canary soak check config', ...(soakConfigJsonSchema() as object) } },
];
let stale = false;
for (const { name, schema } of schemas) {
  const file = new URL(`../${name}`, import.meta.url);
  const text = `${JSON.stringify(schema, null, 2)}\n`;
  if (process.argv.includes('--check')) {
    let current = '';
    try { current = readFileSync(file, 'utf8'); } catch { /* missing */ }
    if (current !== text) {
      console.error(`${name} is out of date: run \`npm run schema\``);
      stale = true;
    } else {
      console.log(`${name} is up to date`);
    }
  } else {
    writeFileSync(file, text);
    console.log(`wrote ${name}`);
  }
}
if (stale) process.exit(1);
