/**
 * `npm run build:cli` / `npm run pack:cli`: the `canary` CLI as an npm package another repository
 * installs, `@canary-analyzer/cli`, runnable on Node 20 and later without this repository's Node 24
 * (the repo's TypeScript runs by type stripping; the package is plain JavaScript).
 *
 *   node scripts/build-cli.ts [--out dist/cli] [--pack [DIR]]
 *
 * The package directory (default dist/cli/, generated, never edited by hand):
 *   package.json          written here: name, version (the repo's), bin `canary`, engines, no dependencies
 *   README.md             cli/package-readme.md
 *   bin/canary.mjs        ONE esbuild bundle of cli/canary.ts with everything it imports (AWS SDK,
 *                         commander, yaml, zod, the core, the simulator)
 *   statemachines/*.asl.json, examples/   read at run time, as in the repository
 *
 * The bundle sits one directory below the package root, as cli/ and sim/ sit below the repo root,
 * so the paths the code resolves against `import.meta.url` (`../statemachines/rollout.asl.json`
 * for the simulator, `../examples/rollout.json` for `simulate`'s default config, `../package.json`
 * for `--version`) find the same files in both. test/cli/package.test.ts installs the packed
 * tarball into an empty directory and runs it with the system Node.
 *
 * `--pack` also runs `npm pack` on the directory and prints the tarball's path and size.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_PACKAGE_NAME = '@canary-analyzer/cli';
/** The oldest Node the bundle is built for and tested on (the system Node of many CI images). */
export const CLI_MIN_NODE = 20;

export interface CliPackage {
  dir: string;
  bundle: string;
  bundleBytes: number;
  version: string;
  tarball?: string;
  tarballBytes?: number;
}

/** The published package.json: nothing to install beside it (everything is in the bundle). */
export function packageJson(version: string): Record<string, unknown> {
  return {
    name: CLI_PACKAGE_NAME,
    version,
    description: 'The canary CLI: simulate, validate, start, watch, abort and report rollouts of the canary analyzer (Route 53 weighted records)',
    type: 'module',
    bin: { canary: 'bin/canary.mjs' },
    files: ['bin/', 'statemachines/', 'examples/', 'README.md'],
    engines: { node: `>=${CLI_MIN_NODE}` },
    keywords: ['canary', 'canary-analysis', 'route53', 'rollout', 'progressive-delivery', 'aws'],
  };
}

export async function buildCliPackage(outDir = join(ROOT, 'dist', 'cli')): Promise<CliPackage> {
  const root = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  await rm(outDir, { recursive: true, force: true });
  await mkdir(join(outDir, 'bin'), { recursive: true });
  const bundle = join(outDir, 'bin', 'canary.mjs');
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['cli/canary.ts'],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // Syntax Node 20 parses; APIs newer than Node 20 are not polyfilled: the install test runs it there.
    target: `node${CLI_MIN_NODE}`,
    minify: true,
    // Error classes are matched by name (`e.name === 'ValidationError'`), and --debug stack traces stay readable.
    keepNames: true,
    legalComments: 'none',
    mainFields: ['module', 'main'],
    // CommonJS dependencies inside an ES module bundle still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __canaryCreateRequire } from 'node:module'; const require = __canaryCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  if (result.errors.length) throw new Error('esbuild failed to bundle cli/canary.ts');
  await writeFile(join(outDir, 'package.json'), `${JSON.stringify(packageJson(root.version), null, 2)}\n`);
  await cp(join(ROOT, 'cli', 'package-readme.md'), join(outDir, 'README.md'));
  await mkdir(join(outDir, 'statemachines'), { recursive: true });
  for (const file of (await readdir(join(ROOT, 'statemachines'))).filter((f) => f.endsWith('.asl.json'))) {
    await cp(join(ROOT, 'statemachines', file), join(outDir, 'statemachines', file));
  }
  await cp(join(ROOT, 'examples'), join(outDir, 'examples'), { recursive: true });
  return { dir: outDir, bundle, bundleBytes: (await stat(bundle)).size, version: root.version };
}

/** `npm pack DIR --pack-destination DEST`: the tarball npm would publish. */
export async function packCliPackage(pkg: CliPackage, destination: string): Promise<CliPackage> {
  await mkdir(destination, { recursive: true });
  const run = spawnSync('npm', ['pack', pkg.dir, '--pack-destination', destination, '--json', '--ignore-scripts'], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`npm pack failed (${run.status ?? run.signal}):\n${run.stderr}`);
  const [packed] = JSON.parse(run.stdout) as { filename: string; size: number }[];
  if (!packed) throw new Error(`npm pack printed no tarball:\n${run.stdout}`);
  const tarball = join(destination, packed.filename);
  return { ...pkg, tarball, tarballBytes: (await stat(tarball)).size };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(argv: string[]): Promise<void> {
  let out = join(ROOT, 'dist', 'cli');
  let pack: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') out = resolve(argv[++i] ?? '');
    else if (a === '--pack') pack = argv[i + 1] && !argv[i + 1]!.startsWith('--') ? resolve(argv[++i]!) : join(ROOT, 'dist');
    else throw new Error(`unknown argument '${a}': usage node scripts/build-cli.ts [--out DIR] [--pack [DIR]]`);
  }
  let pkg = await buildCliPackage(out);
  const shown = (p: string) => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p));
  process.stdout.write(`${CLI_PACKAGE_NAME}@${pkg.version} in ${shown(pkg.dir)}\n  bundle ${shown(pkg.bundle)}  ${kib(pkg.bundleBytes)}\n`);
  if (pack !== undefined) {
    pkg = await packCliPackage(pkg, pack);
    process.stdout.write(`  tarball ${shown(pkg.tarball!)}  ${kib(pkg.tarballBytes!)}\n`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`build-cli: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
