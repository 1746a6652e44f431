/**
 * The CLI as another repository gets it: `npm pack` of the package scripts/build-cli.ts builds,
 * installed offline into an empty directory, run by the system Node (20 on these machines, as on
 * many CI images) through the `canary` bin npm links, and through `npx canary`. Nothing of this
 * repository is on the PATH: not its Node 24, not its node_modules.
 *
 * Without the system Node the suite is skipped with a message, unless CI=true: then it fails.
 * It prints the sizes and the time each step took (figures, not assertions).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO } from './helpers.ts';

const SYSTEM_NODE = process.env.CANARY_SYSTEM_NODE ?? '/usr/bin/node';

function skipReason(): string | null {
  if (existsSync(SYSTEM_NODE)) return null;
  const reason = `no system Node at ${SYSTEM_NODE} (set CANARY_SYSTEM_NODE): SKIPPING the packed-CLI install test`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI must run it`);
  console.warn(`\n⚠  ${reason}\n`);
  return reason;
}
const skip = skipReason();

/** The environment of a user's shell: the system Node and npm first, nothing from this repository, no npm lifecycle variables. */
function userEnv(home: string, cache: string): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) =>
    v !== undefined && !/^(npm_|AWS_|NODE_|VITEST|FORCE_COLOR|NO_COLOR|CANARY_)/i.test(k))) as Record<string, string>;
  return { ...env, PATH: `${dirname(SYSTEM_NODE)}:/usr/bin:/bin`, HOME: home, npm_config_cache: cache, AWS_EC2_METADATA_DISABLED: 'true' };
}

const timed = <T>(what: string, figures: string[], work: () => T): T => {
  const t0 = performance.now();
  const out = work();
  figures.push(`${what}: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return out;
};

describe.skipIf(skip !== null)('the packed CLI installed in an empty directory and run by the system Node', () => {
  const figures: string[] = [];
  let app: string;
  let env: Record<string, string>;
  let tarball: string;
  const rootVersion = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const run = (command: string, args: string[]): SpawnSyncReturns<string> =>
    timed(`${command === SYSTEM_NODE ? 'node' : command} ${args.join(' ')}`.replace(/\/.*\/node_modules/, 'node_modules'), figures,
      () => spawnSync(command, args, { cwd: app, env, encoding: 'utf8', timeout: 120_000 }));

  beforeAll(() => {
    const tmp = mkdtempSync(join(tmpdir(), 'canary-package-'));
    app = join(tmp, 'app');
    mkdirSync(app);
    mkdirSync(join(tmp, 'home'));
    env = userEnv(join(tmp, 'home'), join(tmp, 'npm-cache'));
    // Build and pack with this repository's Node (esbuild is a dev dependency here)...
    const built = timed('build + npm pack', figures, () => spawnSync(process.execPath, ['scripts/build-cli.ts', '--out', join(tmp, 'package'), '--pack', join(tmp, 'tarballs')],
      { cwd: REPO, encoding: 'utf8', timeout: 180_000 }));
    if (built.status !== 0) throw new Error(`build-cli failed:\n${built.stdout}${built.stderr}`);
    figures.push(...built.stdout.trim().split('\n').map((l) => l.trim()));
    tarball = join(tmp, 'tarballs', readdirSync(join(tmp, 'tarballs')).find((f) => f.endsWith('.tgz'))!);
    // ...then install it as a user would, with the system npm and Node, offline (it has no dependencies).
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'some-service', version: '1.0.0', private: true }));
    const installed = run('npm', ['install', tarball, '--offline', '--no-audit', '--no-fund', '--ignore-scripts']);
    if (installed.status !== 0) throw new Error(`npm install failed:\n${installed.stdout}${installed.stderr}`);
    copyFileSync(join(REPO, 'examples', 'rollout.yaml'), join(app, 'rollout.yaml'));
    const node = spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
    figures.unshift(`system Node ${node} (${SYSTEM_NODE}); tests' Node ${process.version}`);
  }, 300_000);

  it('installs one package, with no dependencies (no `node` runtime package), whose bin is canary', () => {
    const modules = readdirSync(join(app, 'node_modules')).filter((f) => !f.startsWith('.'));
    expect(modules).toEqual(['@canary-analyzer']);
    expect(readdirSync(join(app, 'node_modules', '@canary-analyzer'))).toEqual(['cli']);
    const root = join(app, 'node_modules', '@canary-analyzer', 'cli');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: '@canary-analyzer/cli', version: rootVersion, bin: { canary: 'bin/canary.mjs' }, engines: { node: '>=20' } });
    expect(pkg.dependencies).toBeUndefined();
    expect(readdirSync(root).sort()).toEqual(['README.md', 'bin', 'examples', 'package.json', 'statemachines']);
    expect(readdirSync(join(root, 'bin'))).toEqual(['canary.mjs']);
    expect(existsSync(join(app, 'node_modules', '.bin', 'canary'))).toBe(true);
  });

  it('canary --version and --help, through the bin npm links (its #!/usr/bin/env node finds the system Node)', () => {
    const canary = join(app, 'node_modules', '.bin', 'canary');
    expect(spawnSync('node', ['--version'], { env, encoding: 'utf8' }).stdout).toBe(spawnSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).stdout);
    const version = run(canary, ['--version']);
    expect(version.stderr).toBe('');
    expect(version.status).toBe(0);
    expect(version.stdout).toBe(`${rootVersion}\n`);
    const help = run(canary, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: canary \[options\] \[command\]/);
    expect(help.stdout).toContain('Exit codes: 0 promoted (or done), 1 error, 2 rolled back');
  });

  it('npx canary in the project runs the installed package (never the registry\'s unrelated `canary`)', () => {
    const npx = run('npx', ['--offline', '--no-install', 'canary', '--version']);
    expect(npx.stderr).toBe('');
    expect(npx.stdout).toBe(`${rootVersion}\n`);
  });

  it('validate a copied config, and simulate a rollout that rolls back (exit 2), with no warning on stderr', () => {
    const canary = join(app, 'node_modules', '.bin', 'canary');
    const validate = run(canary, ['validate', 'rollout.yaml']);
    expect(validate.stderr).toBe('');
    expect(validate.status).toBe(0);
    expect(validate.stdout).toMatch(/^checkout-api: rollout\.yaml is valid$/m);
    const simulate = run(canary, ['simulate', '--scenario', 'error-spike']);
    expect(simulate.stderr).toBe('');
    expect(simulate.status).toBe(2);
    expect(simulate.stdout).toContain('config node_modules/@canary-analyzer/cli/examples/rollout.json');
    expect(simulate.stdout).toMatch(/^ROLLED BACK at stage 3\/5 \(canary 10 %\)/m);
  });

  it('a stack command without credentials says so in one line (no SDK warning about Node 20, no stack trace)', () => {
    const canary = join(app, 'node_modules', '.bin', 'canary');
    const status = run(canary, ['status', 'checkout-v42', '--table', 'rollouts', '--region', 'eu-west-1', '--endpoint-url', 'http://127.0.0.1:9']);
    expect(status.status).toBe(1);
    expect(status.stderr).toMatch(/^canary: no AWS credentials: [^\n]+\n$/);
  });

  it('runs on this repository\'s Node too (the bundle is plain JavaScript for Node 20 and later)', () => {
    const bundle = join(app, 'node_modules', '@canary-analyzer', 'cli', 'bin', 'canary.mjs');
    const out = run(process.execPath, [bundle, '--version']);
    expect(out.stdout).toBe(`${rootVersion}\n`);
    console.log(`packed CLI:\n  ${figures.join('\n  ')}`);
  });
});
