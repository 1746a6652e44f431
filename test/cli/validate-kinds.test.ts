/**
 * `canary validate` on soak configs, `--kind`, `--json` for pipelines, and "did you mean" for a
 * misspelt field or a wrong choice at every level, each with its line. Nothing is changed.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runMain } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'canary-validate-kinds-'));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const QUERY = (metricName: string) => `{ namespace: AWS/ApplicationELB, metricName: ${metricName}, dimensions: { LoadBalancer: app/a/1 }, stat: Sum }`;

const BAD_SOAK = `name: checkout-live
comparision: 7d
windowSeconds: 900
metrics:
  - name: error-rate
    kind: ratio
    unit: percent
    threshold: { max: 1 }
    query:
      numerator: ${QUERY('HTTPCode_Target_5XX_Count')}
      denominator: ${QUERY('RequestCount')}
incident:
  opsCenter: { enabeld: true }
postPromotionRollback:
  enabled: true
  target:
    type: alias
`;

const MISSPELT_ROLLOUT = `name: checkout-api
target:
  hostedZoneId: Z0123456789ABCDEFGHIJ
  recordName: api.example.com
  recordTyp: A
  baselineSetIdentifier: blue
  canarySetIdentifier: green
preset:
  type: alb-ec2
stages:
  - { weight: 5, bake_seconds: 60 }
  - 100
incident:
  statusUpdateEvry: 15m
  webhook: { type: pagerduti, secretId: pd }
verification:
  - { name: smoke, type: alrm, alarms: [x] }
checkIntervall: 60s
`;

describe('canary validate: soak configs', () => {
  it('tells a soak config by its fields and prints its plan: window, comparison, metrics, incident, rollback, size as a parameter', async () => {
    // Act
    const run = await runMain(['validate', 'examples/soak.json']);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const out = run.stdout.replace(/\n {2}(?=\S)/g, ' ');
    expect(out).toMatch(/^checkout-api-live: examples\/soak\.json is a valid soak config \(it has `comparison`, .*`metrics\[\]\.query`, which only a soak config has\)/);
    expect(out).toContain('judges the last 15 min of complete 60 s periods of the live service');
    expect(out).toContain('against the thresholds and the same window 7 d earlier (comparison: 7d, for metrics with a baseline)');
    expect(out).toMatch(/error-rate: ratio, percent, critical: at most 1\.00 %\n +live AWS\/ApplicationELB HTTPCode_Target_5XX_Count \(Sum\)/);
    expect(out).toContain('latency-p99: gauge, seconds: at most 1.00 s, at most 25 % above the baseline');
    expect(out).toContain('OpsCenter OpsItem, severity 2 for an error (1 when a critical metric fails)');
    expect(out).toContain('off: a soak never moves traffic');
    const bytes = Buffer.byteLength(JSON.stringify(JSON.parse(readFileSync('examples/soak.json', 'utf8'))));
    expect(out).toContain(`As the stack's SoakConfigJson parameter: ${bytes} bytes of minified JSON (CloudFormation takes at most 4096)`);
  });

  it('a bad soak config: every problem in file order with its line and "did you mean", and nothing changed', () => {
    // Prepare
    const file = write('bad-soak.yaml', BAD_SOAK);
    const before = statSync(file).mtimeMs;

    // Act
    const run = runCli(['validate', file]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^canary: .*bad-soak\.yaml is not a valid soak config \(3 problems\):$/),
      "  (config): unknown field 'comparision': did you mean 'comparison'? (line 2)",
      "  incident.opsCenter: unknown field 'enabeld': did you mean 'enabled'? (line 13)",
      "  postPromotionRollback.target.type: type must be 'route53' (the default: weighted records), 'alb', 'lambda-alias' or 'appconfig-flag', not 'alias' (did you mean 'lambda-alias'?) (line 17)",
    ]);
    expect(readFileSync(file, 'utf8')).toBe(BAD_SOAK);
    expect(statSync(file).mtimeMs).toBe(before);
  });

  it('--kind forces the kind: the soak example checked as a rollout config fails on the rollout\'s fields', async () => {
    // Act
    const run = await runMain(['validate', 'examples/soak.json', '--kind', 'rollout', '--json']);

    // Assess
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ valid: false, kind: 'rollout', kindReason: '--kind rollout' });
    expect(report.errors).toContainEqual({
      path: '(config)', line: 4, message: "unknown field(s) 'windowSeconds': check the spelling (see schema/rollout-config.schema.json)",
      fix: 'check the spelling (see schema/rollout-config.schema.json)',
    });
    expect(report.errors).toContainEqual(expect.objectContaining({ path: 'target', message: expect.stringMatching(/^missing: add the traffic target/) }));
    expect(report.plan).toBeUndefined();
  });

  it('a file whose fields do not tell: checked as the kind with fewer problems, and it says so', async () => {
    // Prepare: a soak config without any field only a soak has, and one metric with neither query form.
    const file = write('plain.json', JSON.stringify({ name: 'svc', metrics: [{ name: 'm', kind: 'gauge', unit: 'count', threshold: { max: 1 } }] }, null, 2));

    // Act
    const run = await runMain(['validate', file]);
    const forced = await runMain(['validate', file, '--kind', 'soak']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/is not a valid soak config \(1 problem\):\n {2}metrics\[0\]\.query: a query is `value` \(a gauge\) or `numerator` and `denominator` \(a ratio\), .* \(line 4\)\n/);
    expect(run.stderr).toContain('(checked as a soak config: none of its fields tells, and it has fewer problems as a soak config (1 problem, 2 as a rollout config); --kind rollout checks it as a rollout config)');
    expect(forced.stderr).not.toContain('checked as');
  });
});

describe('canary validate --json', () => {
  it('{valid, kind, errors: [{path, line, message, fix}]} and exit 1 for a misspelt rollout: did you mean at every level, the choices of a type', async () => {
    // Act
    const run = await runMain(['validate', write('misspelt.yaml', MISSPELT_ROLLOUT), '--json']);

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout);
    expect(Object.keys(report)).toEqual(['valid', 'kind', 'kindReason', 'errors']);
    expect(report).toMatchObject({ valid: false, kind: 'rollout' });
    expect(report.errors).toEqual([
      { path: 'target', line: 5, message: "unknown field 'recordTyp': did you mean 'recordType'?", fix: "did you mean 'recordType'?" },
      {
        path: 'preset.type', line: 9,
        message: "preset type must be 'alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag', not 'alb-ec2' (did you mean 'alb-ecs'?)",
        fix: "did you mean 'alb-ecs'?",
      },
      { path: 'stages[0]', line: 11, message: "unknown field 'bake_seconds': did you mean 'bakeSeconds'?", fix: "did you mean 'bakeSeconds'?" },
      { path: 'incident', line: 14, message: "unknown field 'statusUpdateEvry': did you mean 'statusUpdateEvery'?", fix: "did you mean 'statusUpdateEvery'?" },
      { path: 'incident.webhook.type', line: 15, message: "must be one of 'pagerduty', 'slack', not 'pagerduti' (did you mean 'pagerduty'?)", fix: "did you mean 'pagerduty'?" },
      {
        path: 'verification[0].type', line: 17,
        message: "type must be 'lambda' (a function you own), 'http' (a signed HTTPS POST) or 'alarm' (CloudWatch alarms), not 'alrm' (did you mean 'alarm'?)",
        fix: "did you mean 'alarm'?",
      },
      { path: '(config)', line: 18, message: "unknown field 'checkIntervall': did you mean 'checkInterval'?", fix: "did you mean 'checkInterval'?" },
    ]);
  });

  it('a field written at the wrong level: where it goes, with its line', async () => {
    // Prepare
    const file = write('level.yaml', `${MISSPELT_ROLLOUT.replace(/preset:[\s\S]*$/, '').replace('  recordTyp: A\n', '  bakeSeconds: 60\n')}preset: { type: alb-ecs, loadBalancer: l, baselineTargetGroup: b, canaryTargetGroup: c, cluster: k, baselineService: b, canaryService: c }
statusUpdateEvery: 15m
`);

    // Act
    const run = await runMain(['validate', file, '--json']);

    // Assess
    expect(JSON.parse(run.stdout).errors).toEqual([
      { path: 'target', line: 5, message: "unknown field 'bakeSeconds' here: move it to the top level or into `stages[]`", fix: 'move it to the top level or into `stages[]`' },
      { path: '(config)', line: 9, message: "unknown field 'statusUpdateEvery' here: move it into `incident`", fix: 'move it into `incident`' },
    ]);
  });

  it('a preset that is not a mapping names the choices of its type; an unknown type without a near one lists them as the fix', async () => {
    // Prepare
    const base = MISSPELT_ROLLOUT.replace('  recordTyp: A\n', '').replace(/stages:[\s\S]*$/, '');
    const asText = write('preset-text.yaml', base.replace('preset:\n  type: alb-ec2\n', 'preset: alb-ecs\n'));
    const unknown = write('preset-unknown.yaml', base.replace('alb-ec2', 'kubernetes'));

    // Act
    const text = JSON.parse((await runMain(['validate', asText, '--json'])).stdout);
    const far = JSON.parse((await runMain(['validate', unknown, '--json'])).stdout);

    // Assess
    expect(text.errors).toEqual([{
      path: 'preset', line: 7,
      message: "the preset must be a mapping with `type` ('alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag') and its fields, not the text \"alb-ecs\"",
      fix: "write a mapping with `type` ('alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag') and its fields",
    }]);
    expect(far.errors).toEqual([{
      path: 'preset.type', line: 8,
      message: "preset type must be 'alb-ecs', 'alb-lambda', 'lambda-alias' or 'appconfig-flag', not 'kubernetes'",
      fix: "use one of 'alb-ecs', 'lambda-alias', 'alb-lambda', 'appconfig-flag'",
    }]);
  });

  it('rules beyond the schema keep their field and line; a missing field says what to add', async () => {
    // Prepare
    const file = write('stages.json', JSON.stringify({
      name: 'svc', target: { hostedZoneId: 'Z1', recordName: 'a.example.com', baselineSetIdentifier: 'b', canarySetIdentifier: 'c' },
      preset: { type: 'alb-ecs', loadBalancer: 'l', baselineTargetGroup: 'b', canaryTargetGroup: 'c', cluster: 'k', baselineService: 'b' },
    }, null, 2));
    const rising = write('rising.json', JSON.stringify({
      name: 'svc', target: { hostedZoneId: 'Z1', recordName: 'a.example.com', baselineSetIdentifier: 'b', canarySetIdentifier: 'c' },
      preset: { type: 'alb-ecs', loadBalancer: 'l', baselineTargetGroup: 'b', canaryTargetGroup: 'c', cluster: 'k', baselineService: 'b', canaryService: 'c' },
      stages: [1, 10, 5, 100],
    }, null, 2));

    // Act
    const missing = JSON.parse((await runMain(['validate', file, '--json'])).stdout);
    const rules = JSON.parse((await runMain(['validate', rising, '--json'])).stdout);

    // Assess
    expect(missing.errors).toEqual([{ path: 'preset.canaryService', line: 9, message: 'missing: add this field (a string)', fix: 'add this field (a string)' }]);
    expect(rules.errors).toEqual([expect.objectContaining({ path: 'stages[2]', message: 'stages must rise strictly: 5 follows 10', fix: null })]);
    expect(rules.errors[0].line).toBe(JSON.stringify(JSON.parse(readFileSync(rising, 'utf8')), null, 2).split('\n').findIndex((l) => l.trim() === '5,') + 1);
  });

  it('a file that cannot be read or parsed is one error, as JSON, exit 1', async () => {
    // Act
    const broken = await runMain(['validate', write('broken.yaml', 'name: x\n  bad: [\n'), '--json']);
    const missing = await runMain(['validate', join(dir, 'nope.yaml'), '--json']);

    // Assess
    for (const run of [broken, missing]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('');
    }
    expect(JSON.parse(broken.stdout)).toEqual({
      valid: false, kind: null, errors: [{ path: '(file)', line: 1, message: expect.stringMatching(/broken\.yaml:1:\d+: not valid YAML: /), fix: null }],
    });
    expect(JSON.parse(missing.stdout).errors[0].message).toMatch(/nope\.yaml: no such file$/);
  });

  it('a valid soak config: valid, kind soak, and the resolved config with its defaults as the plan', async () => {
    // Act
    const run = await runMain(['validate', 'examples/soak.json', '--json']);

    // Assess
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ valid: true, kind: 'soak', errors: [] });
    expect(report.plan).toMatchObject({ name: 'checkout-api-live', comparison: '7d', windowSeconds: 900, periodSeconds: 60 });
    expect(report.plan.postPromotionRollback).toMatchObject({ enabled: false, hours: 2 });
  });
});

describe('canary validate --help', () => {
  it('says it checks soak configs too, how the kind is told, --kind, and what --json prints', async () => {
    // Act
    const run = await runMain(['validate', '--help']);

    // Assess
    expect(run.code).toBe(0);
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('Check a rollout config or a soak config');
    expect(help).toContain('changing nothing');
    expect(help).toContain('did you mean');
    expect(help).toMatch(/--kind <kind> .*\(choices: "rollout", "soak"\)/);
    expect(help).toContain('--json print {valid, kind, kindReason, errors: [{path, line, message, fix}], plan}');
    expect(help).toContain('$ canary validate examples/soak.json');
  });
});
