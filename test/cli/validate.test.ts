/**
 * `canary validate`, the CLI's help and errors, and `canary start` refusing a bad config before
 * any AWS call.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { friendlier } from '../../cli/config-file.ts';
import { runCli, runMain, startCli } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'canary-validate-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const BAD_YAML = `name: checkout api
target:
  hostedZoneId: not-a-zone
  recordName: api.example.com
  baselineSetIdentifier: blue
  canarySetIdentifier: blue
preset:
  type: alb-ecs
  loadBalancer: app/x/1
  baselineTargetGroup: tg/b
  canaryTargetGroup: tg/c
  cluster: prod
  baselineService: b
bakeSeconds: "five minutes"
inconclusiveLimt: 2
`;

describe('canary validate', () => {
  it('prints the resolved plan: stages with bake and check times, queries, thresholds, incident targets', async () => {
    // Act
    const run = await runMain(['validate', 'examples/rollout.yaml']);
    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout;
    expect(out).toContain('checkout-api: examples/rollout.yaml is valid');
    expect(out).toContain('api.example.com A in hosted zone Z0123456789ABCDEFGHIJ');
    expect(out).toMatch(/1\/5 +1 % canary +bake 5 min, first check about .* after the shift, 1 passing check to advance/);
    expect(out).toMatch(/5\/5 +100 % canary +promotion/);
    expect(out).toMatch(/memory: gauge, percent: at most 80\.00 %/);
    expect(out).toMatch(/canary +AWS\/ECS MemoryUtilization \(Maximum\) \{ClusterName=prod, ServiceName=checkout-green\}/);
    expect(out).toMatch(/error-rate: ratio, percent, critical .*: at most 1\.00 %/);
    expect(out).toMatch(/AWS\/ApplicationELB HTTPCode_Target_5XX_Count \(Sum\)/);
    expect(out).toMatch(/per AWS\/ApplicationELB RequestCount \(Sum\)/);
    expect(out).toMatch(/latency-p99: gauge, seconds: at most 1\.00 s, at most 20 % above the baseline/);
    expect(out).toMatch(/TargetResponseTime \(p99\)/);
    expect(out).toContain("the stack's SNS topic (always)");
    expect(out).toContain('OpsCenter: off');
  });

  it('gives the same plan for the YAML and the JSON example, and --json prints the resolved config as its plan', async () => {
    const yaml = await runMain(['validate', 'examples/rollout.yaml']);
    const json = await runMain(['validate', 'examples/rollout.json']);
    expect(yaml.stdout.split('\n').slice(1)).toEqual(json.stdout.split('\n').slice(1));
    const run = await runMain(['validate', 'examples/rollout.yaml', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ valid: true, kind: 'rollout', errors: [] });
    expect(report.kindReason).toMatch(/^it has `target`, .*`stages`.*, which only a rollout config has$/);
    const resolved = report.plan;
    expect(resolved.stages).toEqual([1, 5, 10, 25, 100].map((weight) => expect.objectContaining({ weight, bakeSeconds: 300, checks: 1 })));
    expect(resolved.metrics.map((m: { name: string }) => m.name)).toEqual(['memory', 'error-rate', 'latency-p99']);
  });

  it('a bad config (a process): exit 1, every field with its problem, the fix and its line; no stack trace', () => {
    const run = runCli(['validate', write('bad.yaml', BAD_YAML)]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^canary: .*bad\.yaml is not a valid rollout config \(6 problems\):$/);
    // In the order of the file.
    expect(lines.slice(1)).toEqual([
      "  name: name must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit (line 1)",
      '  target.hostedZoneId: hostedZoneId must be a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ (line 3)',
      '  target.canarySetIdentifier: baselineSetIdentifier and canarySetIdentifier must differ (line 6)',
      '  preset.canaryService: missing: add this field (a string) (line 7)',
      '  bakeSeconds: bakeSeconds must be a duration such as 90s, 15m, 48h, 3d or 1h30m, or a number of seconds; not "five minutes" (line 14)',
      "  (config): unknown field 'inconclusiveLimt': did you mean 'inconclusiveLimit'? (line 15)",
    ]);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('rules that span fields: stages must rise and end at 100', async () => {
    const file = write('stages.json', JSON.stringify({
      name: 'svc', target: { hostedZoneId: 'Z1', recordName: 'a.example.com', baselineSetIdentifier: 'b', canarySetIdentifier: 'c' },
      preset: { type: 'alb-ecs', loadBalancer: 'l', baselineTargetGroup: 'b', canaryTargetGroup: 'c', cluster: 'k', baselineService: 'b', canaryService: 'c' },
      stages: [1, 10, 5, 50],
    }, null, 2));
    const run = await runMain(['validate', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ {2}stages\[2\]: stages must rise strictly: 5 follows 10 \(line \d+\)$/m);
    expect(run.stderr).toMatch(/^ {2}stages\[3\]: the last stage must be 100 \(full promotion\) \(line \d+\)$/m);
  });

  it('says where a file is broken or missing, in one line', async () => {
    const cases: [string, RegExp][] = [
      [write('broken.yaml', 'name: x\n  bad: [\n'), /^canary: .*broken\.yaml:1:\d+: not valid YAML: .+\n$/],
      [write('broken.json', '{"name": "x",}'), /^canary: .*broken\.json: not valid JSON: .+\n$/],
      [write('empty.yaml', ''), /^canary: .*empty\.yaml is empty: .+\n$/],
      [write('list.yaml', '- 1\n- 2\n'), /^canary: .*list\.yaml is not a valid rollout config \(1 problem\):\n {2}\(config\): expected a mapping/],
      [join(dir, 'missing.yaml'), /^canary: .*missing\.yaml: no such file\n$/],
    ];
    for (const [file, expected] of cases) {
      const run = await runMain(['validate', file]);
      expect(run.code, file).toBe(1);
      expect(run.stderr, file).toMatch(expected);
    }
  });

  it('--debug adds the stack trace, and only then', async () => {
    const plain = await runMain(['validate', join(dir, 'missing.yaml')]);
    const debug = await runMain(['validate', join(dir, 'missing.yaml'), '--debug']);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('says zod\'s generic messages as what to write instead', () => {
    expect(friendlier('Invalid input: expected string, received undefined', ['a'])).toBe('missing: add this field (a string)');
    expect(friendlier('Invalid input: expected object, received undefined', ['a'])).toBe('missing: add this field (an object)');
    expect(friendlier('Invalid input: expected boolean, received string', ['a'])).toBe('expected a boolean, got a string (write true or false without quotes)');
    expect(friendlier('Invalid option: expected one of "A"|"AAAA"|"CNAME"', ['a'])).toBe('must be one of "A", "AAAA", "CNAME"');
    expect(friendlier('Too small: expected number to be >=1', ['a'])).toBe('must be at least 1');
    expect(friendlier('Invalid input', ['stages', 1])).toMatch(/canary weight \(integer 1-100\)/);
  });
});

describe('canary --help', () => {
  it.each(['simulate', 'validate', 'start', 'status', 'watch', 'list', 'approve', 'reject', 'abort'])('%s --help has a description and an example', async (command) => {
    const run = await runMain([command, '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^Usage: canary ${command}`));
    expect(run.stdout).toMatch(/\nExamples?:\n {2}\$ canary /);
  });

  it('the top level lists the commands, with examples', async () => {
    const run = await runMain(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['simulate', 'validate', 'start', 'status', 'watch', 'list', 'approve', 'abort']) expect(run.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    expect(run.stdout).toContain('$ canary simulate ');
    expect(run.stdout).toContain('Exit codes: 0 promoted (or done), 1 error, 2 rolled back (or judge --fail-on met), 3 halted.');
  });

  it('an unknown command or option is one line and exit 1', async () => {
    for (const args of [['frobnicate'], ['validate'], ['status'], ['list', '--nope']]) {
      const run = await runMain(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(/^canary: [^\n]+\n$/);
    }
  });
});

describe('canary start with a bad config', () => {
  let server: Server;
  let endpoint: string;
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url} ${req.headers['x-amz-target'] ?? ''}`);
      res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' }).end('{"__type":"InternalFailure"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const aws = () => ({ AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', CANARY_STACK: 'canary-analyzer' });

  // Spawned without blocking: this process's server must answer while the CLI runs.
  it('makes no AWS call at all: exit 1 listing the problems', async () => {
    requests.length = 0;
    const run = await startCli(['start', write('bad-start.yaml', BAD_YAML), '--wait'], aws());
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^canary: .*bad-start\.yaml is not a valid rollout config/);
    expect(run.stderr).toContain('  target.hostedZoneId: hostedZoneId must be');
    expect(requests).toEqual([]);
  });

  it('(the same endpoint does see the calls of a valid config: the test would notice one)', async () => {
    requests.length = 0;
    const run = await startCli(['start', 'examples/rollout.yaml'], aws());
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^canary: could not read stack canary-analyzer: /);
    expect(requests.length).toBeGreaterThan(0);
  });
});
