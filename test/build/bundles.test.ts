/**
 * `npm run build` bundles every function of template.yaml as `sam build` would; each bundle
 * must load on its own in a fresh Node process, as a Lambda cold start does: from a directory
 * with no node_modules (like /var/task), with only the environment the template gives it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAll, DIST_DIR, esbuildFunctions, loadTemplate, parseTemplate, ROOT, type EsbuildFunction } from '../../scripts/build.ts';

const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

/** What Lambda and template.yaml put in the environment of a cold start, and nothing else. */
const COLD_START_ENV: Record<string, string> = {
  PATH: '/usr/bin:/bin',
  LANG: 'en_US.UTF-8',
  TZ: ':UTC',
  AWS_REGION: 'eu-west-1',
  AWS_DEFAULT_REGION: 'eu-west-1',
  AWS_LAMBDA_FUNCTION_NAME: 'canary-test',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  LAMBDA_TASK_ROOT: '/var/task',
  POWERTOOLS_SERVICE_NAME: 'canary-analyzer',
  POWERTOOLS_METRICS_NAMESPACE: 'CanaryAnalyzer',
  TABLE_NAME: 'canary-RolloutTable-TEST',
  TOPIC_ARN: 'arn:aws:sns:eu-west-1:111122223333:canary-IncidentTopic-TEST',
  ALLOWED_HOSTED_ZONE_IDS: 'Z0123456789ABCDEFGHIJ',
  NODE_OPTIONS: '--enable-source-maps',
};

let functions: EsbuildFunction[];
let buildOutput = '';
const scratch: string[] = [];

beforeAll(async () => {
  functions = esbuildFunctions(await loadTemplate());
  const run = spawnSync(process.execPath, ['scripts/build.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  buildOutput = `${run.stdout}${run.stderr}`;
  if (run.status !== 0) throw new Error(`npm run build failed (${run.status ?? run.signal}):\n${buildOutput}`);
}, 300_000);

afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

const bundlePath = (fn: EsbuildFunction) => join(DIST_DIR, fn.logicalId, `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.mjs`);
const metafileOf = (fn: EsbuildFunction): Metafile => JSON.parse(readFileSync(join(DIST_DIR, `${fn.logicalId}.meta.json`), 'utf8')) as Metafile;

describe('npm run build', () => {
  it('prints every bundle size and the total', () => {
    for (const fn of functions) expect(buildOutput).toContain(fn.logicalId);
    expect(buildOutput).toMatch(/^Total\s+[\d.]+\s+[\d.]+$/m);
  });

  /** The SDK clients each function's bundle carries: only those of the ports its handler wires. */
  // Every step that reads or moves the traffic target carries the four routers' clients (the
  // target's kind picks one at run time: functions/core/traffic-router.ts); the verification
  // checks add Lambda, Secrets Manager and CloudWatch; the hooks Lambda and SSM.
  const ROUTERS = ['client-appconfig', 'client-elastic-load-balancing-v2', 'client-lambda', 'client-route-53'];
  const CHECKS = ['client-cloudwatch', 'client-lambda', 'client-secrets-manager'];
  const clients = (...lists: string[][]) => [...new Set(lists.flat())].sort();
  const CLIENTS: Record<string, string[]> = {
    PreflightFunction: clients(ROUTERS, CHECKS, ['client-cloudwatch', 'client-dynamodb']),
    ShiftTrafficFunction: clients(ROUTERS, CHECKS, ['client-dynamodb']),
    CheckApprovalFunction: clients(ROUTERS, CHECKS, ['client-cloudwatch', 'client-dynamodb', 'client-s3']),
    CheckSyncFunction: clients(ROUTERS, ['client-dynamodb']),
    AnalyzeFunction: clients(ROUTERS, CHECKS, ['client-cloudwatch', 'client-dynamodb', 'client-s3']),
    RollbackFunction: clients(ROUTERS, ['client-dynamodb', 'client-lambda', 'client-s3', 'client-ssm']),
    ConcludeFunction: ['client-dynamodb', 'client-lambda', 'client-s3', 'client-secrets-manager', 'client-sns', 'client-ssm'],
    VerifyRecoveryFunction: ['client-cloudwatch', 'client-dynamodb', 'client-secrets-manager', 'client-sns', 'client-ssm'],
    SafetyNetFunction: clients(ROUTERS, ['client-dynamodb', 'client-s3', 'client-secrets-manager', 'client-sns', 'client-ssm']),
    ReconcilerFunction: clients(ROUTERS, ['client-dynamodb', 'client-s3', 'client-secrets-manager', 'client-sfn', 'client-sns', 'client-ssm']),
    SoakCheckFunction: clients(ROUTERS, ['client-cloudwatch', 'client-dynamodb', 'client-secrets-manager', 'client-sns', 'client-ssm']),
  };

  it('builds every function of the template', () => {
    expect(functions.map((f) => f.logicalId).sort()).toEqual(Object.keys(CLIENTS).sort());
  });

  describe.each(Object.keys(CLIENTS))('%s', (logicalId) => {
    it('carries only the SDK clients of the ports its handler wires (smaller bundle, faster cold start)', () => {
      const fnDef = functions.find((f) => f.logicalId === logicalId)!;
      // Inputs that put bytes into the bundle (esbuild visits more, then tree-shakes them away).
      const outputs = Object.values(metafileOf(fnDef).outputs) as unknown as { inputs: Record<string, { bytesInOutput: number }> }[];
      const used = outputs.flatMap((o) => Object.entries(o.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([path]) => path));
      const clients = new Set(used.flatMap((i) => /node_modules\/@aws-sdk\/(client-[a-z0-9-]+)\//.exec(i)?.[1] ?? []));
      expect([...clients].sort()).toEqual(CLIENTS[logicalId]);
    });

    const fn = () => {
      const found = functions.find((f) => f.logicalId === logicalId);
      if (!found) throw new Error(`${logicalId} is not an esbuild function of template.yaml`);
      return found;
    };

    it('writes the bundle its Handler names, with a source map', () => {
      expect(statSync(bundlePath(fn())).isFile()).toBe(true);
      expect(statSync(`${bundlePath(fn())}.map`).isFile()).toBe(true);
    });

    it('loads in a fresh Node process, like a cold start, and exports a handler function', () => {
      // Copied out of the repository: nothing may resolve from its node_modules.
      const taskRoot = mkdtempSync(join(tmpdir(), `${logicalId}-`));
      scratch.push(taskRoot);
      cpSync(join(DIST_DIR, logicalId), taskRoot, { recursive: true });
      writeFileSync(join(taskRoot, 'package.json'), '{}');
      const url = pathToFileURL(join(taskRoot, basename(bundlePath(fn())))).href;
      const script = `const m = await import(${JSON.stringify(url)});
        if (typeof m.handler !== 'function') process.exit(3);
        console.log(JSON.stringify({ exports: Object.keys(m), handler: typeof m.handler }));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: taskRoot, env: { ...COLD_START_ENV, LAMBDA_TASK_ROOT: taskRoot }, encoding: 'utf8', timeout: 60_000,
      });
      expect(run.stderr).toBe('');
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!)).toMatchObject({ handler: 'function' });
    });

    it(`stays under ${MAX_BUNDLE_BYTES / 1024 / 1024} MiB`, () => {
      expect(statSync(bundlePath(fn())).size).toBeLessThan(MAX_BUNDLE_BYTES);
    });

    it('bundles the AWS SDK (pinned by package-lock.json), importing only Node built-ins', () => {
      const meta = metafileOf(fn());
      const inputs = Object.keys(meta.inputs);
      expect(inputs.some((i) => i.startsWith('node_modules/@aws-sdk/client-'))).toBe(true);
      expect(inputs.some((i) => i.startsWith('node_modules/@smithy/'))).toBe(true);
      const externals = Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
      expect(externals.filter((p) => !p.startsWith('node:'))).toEqual([]);
      // The installed (locked) client is the one in the bundle.
      const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules/@aws-sdk/client-dynamodb/package.json'), 'utf8')) as { version: string };
      const code = readFileSync(bundlePath(fn()), 'utf8');
      const version = new RegExp(`"@aws-sdk/client-dynamodb",\\s*version:\\s*"${pkg.version.replaceAll('.', '\\.')}"`);
      expect(version.test(code), `@aws-sdk/client-dynamodb ${pkg.version} in the bundle`).toBe(true);
    });
  });
});

describe('build script', () => {
  it('parses every short form of the CloudFormation intrinsics', () => {
    const parsed = parseTemplate(`
Resources:
  R:
    Type: X
    Properties:
      A: !GetAtt Table.StreamArn
      B: !GetAtt [Table, Arn]
      C: !Sub 'arn:\${AWS::Partition}:s3:::b'
      D: !If [Cond, !Ref P, !Ref AWS::NoValue]
      E: !Select [0, !Split [',', !Join [',', [a, b]]]]
      F: !Not [!Equals [!Ref P, '']]
      G: !FindInMap [M, K, V]
      H: !Base64 text
      I: !Condition Cond
      J: !And [!Condition A, !Or [!Condition B, !Condition C]]
      K: !Transform { Name: AWS::Include, Parameters: { Location: s3://b/k } }
      L: !ImportValue Exported
`);
    expect(parsed.Resources.R!.Properties).toEqual({
      A: { 'Fn::GetAtt': ['Table', 'StreamArn'] },
      B: { 'Fn::GetAtt': ['Table', 'Arn'] },
      C: { 'Fn::Sub': 'arn:${AWS::Partition}:s3:::b' },
      D: { 'Fn::If': ['Cond', { Ref: 'P' }, { Ref: 'AWS::NoValue' }] },
      E: { 'Fn::Select': [0, { 'Fn::Split': [',', { 'Fn::Join': [',', ['a', 'b']] }] }] },
      F: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'P' }, ''] }] },
      G: { 'Fn::FindInMap': ['M', 'K', 'V'] },
      H: { 'Fn::Base64': 'text' },
      I: { Condition: 'Cond' },
      J: { 'Fn::And': [{ Condition: 'A' }, { 'Fn::Or': [{ Condition: 'B' }, { Condition: 'C' }] }] },
      K: { 'Fn::Transform': { Name: 'AWS::Include', Parameters: { Location: 's3://b/k' } } },
      L: { 'Fn::ImportValue': 'Exported' },
    });
  });

  it('fails loudly when a Handler does not name the bundle esbuild writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-build-'));
    scratch.push(dir);
    const templatePath = join(dir, 'template.yaml');
    writeFileSync(templatePath, `
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: nodejs24.x
Resources:
  Misnamed:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: esbuild
      BuildProperties:
        Format: esm
        OutExtension: [.js=.mjs]
        EntryPoints: [functions/conclude.ts]
    Properties:
      CodeUri: ${relative(dir, ROOT) || '.'}
      Handler: functions/conclude.handler
`);
    await expect(buildAll({ templatePath, distDir: join(dir, 'dist') })).rejects.toThrow(
      /Misnamed: Handler 'functions\/conclude\.handler' names module 'functions\/conclude'.*'conclude\.mjs'.*Handler should be 'conclude\.handler'/s,
    );
  });
});
