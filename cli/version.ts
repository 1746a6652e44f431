/**
 * The CLI's version: the `version` of the package.json one directory above this code. In the
 * repository that is the project's package.json (cli/ is below the root); in the published
 * package the bundle is bin/canary.mjs and the package's own package.json is beside bin/, with the
 * same version (scripts/build-cli.ts writes it from the project's).
 */
import { readFileSync } from 'node:fs';

export function cliVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
