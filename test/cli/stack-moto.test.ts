/**
 * The deployed-stack commands against moto_server, through the real SDK clients over HTTP:
 * the stack is found from its CloudFormation outputs (StateMachineArn, RolloutTableName),
 * `start` calls StartExecution, and status / watch / list / abort / approve read and write the
 * rollout record through the same DynamoRollouts adapter the workflow's steps use. moto records
 * executions without running them, so the tests play the workflow's part on the record.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { parseRolloutConfig, route53TargetOf, targetKey, type RolloutConfig } from '../../functions/core/config.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import type { Deps } from '../../functions/core/ports.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { analyze, leaseSeconds, segmentPrefixOf, type RolloutState } from '../../functions/core/rollout-steps.ts';
import { MemoryIncidents, MemoryLog, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { simulate } from '../../sim/simulate.ts';
import { motoClientConfig, motoEnv, motoSkipReason, useMoto } from '../helpers/moto.ts';
import { cliStackTemplate } from '../helpers/rollouts-table.ts';
import { REPO, runCli, sleep, startCli, until } from './helpers.ts';

const STACK = 'canary-analyzer';
const exampleConfig = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8'));

const skip = motoSkipReason();

describe.skipIf(skip !== null)('canary start / status / watch / list / abort / approve on moto_server', () => {
  const moto = useMoto();
  let sfn: SFNClient;
  let rollouts: DynamoRollouts;
  let env: Record<string, string>;

  beforeAll(async () => {
    const config = motoClientConfig(moto.endpoint);
    sfn = new SFNClient(config);
    const cfn = new CloudFormationClient(config);
    await cfn.send(new CreateStackCommand({ StackName: STACK, TemplateBody: JSON.stringify(await cliStackTemplate()) }));
    const { DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
    const outputs = (await cfn.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks![0]!.Outputs!;
    const table = outputs.find((o) => o.OutputKey === 'RolloutTableName')!.OutputValue!;
    rollouts = new DynamoRollouts(DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } }), table);
    env = { ...motoEnv(moto.endpoint), CANARY_STACK: STACK };
  });

  const executionArn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`;
  const describeExecution = (name: string) => sfn.send(new DescribeExecutionCommand({ executionArn: executionArn(name) }));

  /**
   * A rollout as the workflow's preflight and first steps leave it: the head (with its config and
   * fencing token) and the target's lock taken in one transaction, then the first shift recorded.
   * Each rollout has its own record name, so their locks do not meet.
   */
  async function runningRollout(id: string, extra: Partial<RolloutRecord> = {}): Promise<{ config: RolloutConfig; token: string }> {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s)).toISOString();
    const config = parseRolloutConfig({ ...exampleConfig, target: { ...exampleConfig.target, recordName: `${id}.api.example.com` } });
    const token = `${executionArn(id)}@${at(0)}`;
    const begun = await rollouts.begin({
      rolloutId: id, name: 'checkout-api', targetKey: targetKey(config.target), executionArn: executionArn(id), token, config,
      status: 'RUNNING', startedAt: at(0), updatedAt: at(0), stageIndex: 0, weight: 0, checkCount: 0, ...extra,
    }, [{ type: 'STARTED', at: at(0), stages: [1, 5, 10, 25, 100] }], { key: targetKey(config.target), leaseSeconds: leaseSeconds(config), now: new Date() });
    expect(begun).toEqual({ started: true });
    await rollouts.update(id, { weight: 1, updatedAt: at(1), lastChange: { id: 'C1', canary: 1, submittedAt: at(1) } },
      [{ type: 'WEIGHTS_SET', at: at(1), canary: 1, baseline: 99, changeId: 'C1', stageIndex: 0 }], { token });
    return { config, token };
  }

  it('start: finds the state machine from the stack outputs and starts an execution named as asked, with the config as input', () => {
    // Act
    const run = runCli(['start', 'examples/rollout.yaml', '--name', 'checkout-v42'], env);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('started rollout checkout-v42 of checkout-api (1 % → 5 % → 10 % → 25 % → 100 %)');
    expect(run.stdout).toContain(`execution ${executionArn('checkout-v42')}`);
    expect(run.stdout).toContain('follow it: canary watch checkout-v42');
    return describeExecution('checkout-v42').then((execution) => {
      expect(execution.status).toBe('RUNNING');
      expect(JSON.parse(execution.input!)).toEqual(exampleConfig);
    });
  });

  it('start: a generated name is the config name, the UTC time and a random suffix; a name in use is refused', () => {
    const run = runCli(['start', 'examples/rollout.json', '--json'], env);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.rolloutId).toMatch(/^checkout-api-\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(out.executionArn).toBe(executionArn(out.rolloutId));
    // Another input under a name in use.
    const again = runCli(['start', 'examples/low-traffic.yaml', '--name', 'checkout-v42'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^canary: an execution named checkout-v42 already exists \(RUNNING, started [^)]+\): a rollout id is used once; choose another --name/);
    // The same input under a name in use: StartExecution alone would return the running execution as if it had started it.
    const same = runCli(['start', 'examples/rollout.yaml', '--name', 'checkout-v42'], env);
    expect(same.code).toBe(1);
    expect(same.stdout).toBe('');
    expect(same.stderr).toMatch(/^canary: an execution named checkout-v42 already exists \(RUNNING/);
  });

  it('start: a name whose rollout record exists (the execution history may be gone) is refused too', async () => {
    // A finished rollout (an active one would be swept by the simulator's reconciler in a later test: one table).
    await runningRollout('recorded-before');
    await rollouts.update('recorded-before', { status: 'ROLLED_BACK' });
    const run = runCli(['start', 'examples/rollout.yaml', '--name', 'recorded-before'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^canary: rollout recorded-before already exists \(ROLLED BACK, started 2026-01-01T12:00:00.000Z\): a rollout id is used once/);
  });

  it('status and abort while preflight runs (an execution, no record yet): status says so; abort stops the execution, nothing having moved', async () => {
    // Prepare: moto records the execution and runs nothing, so it stays where a real one is during preflight.
    expect(runCli(['start', 'examples/rollout.yaml', '--name', 'in-preflight'], env).code).toBe(0);
    // Act
    const status = runCli(['status', 'in-preflight'], env);
    const statusJson = runCli(['status', 'in-preflight', '--json'], env);
    const abort = runCli(['abort', 'in-preflight', '--reason', 'wrong image tag'], env);
    const after = runCli(['status', 'in-preflight'], env);
    const again = runCli(['abort', 'in-preflight'], env);
    // Assess
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^ {2}status +IN PREFLIGHT · nothing has moved yet$/m);
    expect(status.stdout).toContain(`execution   ${executionArn('in-preflight')} (RUNNING)`);
    expect(JSON.parse(statusJson.stdout)).toMatchObject({ rolloutId: 'in-preflight', status: 'PREFLIGHT', exitCode: 0, execution: { status: 'RUNNING' } });
    expect(abort.stderr).toBe('');
    expect(abort.code).toBe(0);
    expect(abort.stdout).toContain('rollout in-preflight was still in preflight: its execution was stopped (StopExecution, cause "wrong image tag")');
    expect(abort.stdout).toContain('No incident is opened.');
    expect((await describeExecution('in-preflight')).status).toBe('ABORTED'); // (moto keeps no stop cause to check)
    expect(await rollouts.get('in-preflight')).toBeNull(); // nothing was recorded, nothing moved
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/^ {2}status +NOT STARTED · stopped in preflight, before any traffic moved$/m);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^canary: rollout in-preflight ended in preflight \(ABORTED[^)]*\) before any traffic moved: there is nothing to abort\n$/);
  });

  it('status, list and watch show a rollout the real workflow steps recorded in DynamoDB', async () => {
    // Prepare: a whole simulated rollout whose record is written through DynamoRollouts to moto.
    const sim = await simulate({ config: exampleConfig, scenario: 'error-spike', seed: 1, rollouts });
    expect(sim.outcome).toBe('ROLLED_BACK');
    const id = sim.rolloutId;
    // Act
    const status = runCli(['status', id], env);
    const list = runCli(['list', '--limit', '5'], env);
    const watch = runCli(['watch', id, '--poll', '0.2'], env);
    // Assess: status exits 2 for a rolled-back rollout, as watch does (a pipeline can gate on either).
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(new RegExp(`^${id} \\(checkout-api\\)$`, 'm'));
    expect(status.stdout).toMatch(/status +ROLLED BACK · stage 3\/5 · canary 0 %/);
    expect(status.stdout).toMatch(/last check +FAIL at .* \(stage 3, canary 10 %, during the bake\)/);
    expect(status.stdout).toMatch(/✗ error-rate/);
    expect(status.stdout).toMatch(/decision +ROLLED BACK at .* \(stage 3, canary 10 %\)/);
    expect(status.stdout).toMatch(/- critical metric failed: error-rate/);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ROLLOUT +NAME +STATUS +STAGE +CANARY +STARTED$/m);
    expect(list.stdout).toMatch(new RegExp(`^${id} +checkout-api +ROLLED BACK +3/5 +0 % +2026-01-01T00:00:00.000Z$`, 'm'));
    expect(watch.code).toBe(2);
    expect(watch.stdout).toMatch(/▶ stage 3\/5/);
    expect(watch.stdout).toMatch(/(check \d+ at 10 %|during the bake \(data to [\d:]+ UTC\)): FAIL/);
    expect(watch.stdout).toMatch(/^ROLLED BACK: sim-error-spike-1 at stage 3\/5 \(canary 10 %\); traffic is back at 100 % baseline$/m);
    const jsonRun = runCli(['status', id, '--json'], env);
    expect(jsonRun.code).toBe(2);
    const json = JSON.parse(jsonRun.stdout);
    // Machine output keeps the enum; the stage people read is beside the 0-based index.
    expect(json).toMatchObject({ rolloutId: id, status: 'ROLLED_BACK', exitCode: 2, stage: 3, stageIndex: 2, decision: { outcome: 'ROLLED_BACK', weight: 10, stage: 3, stageIndex: 2 } });
    expect(JSON.parse(runCli(['list', '--json'], env).stdout).find((r: { rolloutId: string }) => r.rolloutId === id)).toMatchObject({ status: 'ROLLED_BACK', stage: 3 });
  });

  it('abort: records the request (no StopExecution), and the next analysis rolls back because of it', async () => {
    // Prepare: a running execution and its record.
    expect(runCli(['start', 'examples/rollout.yaml', '--name', 'to-abort'], env).code).toBe(0);
    const { config, token } = await runningRollout('to-abort');
    // Act
    const run = runCli(['abort', 'to-abort', '--reason', 'customers report 502s'], env);
    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('abort requested for to-abort: "customers report 502s"');
    const record = (await rollouts.get('to-abort'))!;
    expect(record.abortRequested?.reason).toBe('customers report 502s');
    expect((await rollouts.history('to-abort'))!.events.at(-1)).toMatchObject({ type: 'ABORT_REQUESTED', reason: 'customers report 502s' });
    expect((await describeExecution('to-abort')).status).toBe('RUNNING'); // not stopped: the workflow rolls back itself

    // The workflow's analyze step, reading the same table (and proving it still owns the rollout), decides to roll back.
    const traffic = new MemoryTraffic({ clock: { now: () => new Date() }, rng: mulberry32(1) });
    const target = route53TargetOf(config);
    traffic.putRecord(target, { setIdentifier: target.baselineSetIdentifier, weight: 99, ttl: 60 });
    traffic.putRecord(target, { setIdentifier: target.canarySetIdentifier, weight: 1, ttl: 60 });
    const state: RolloutState = {
      rolloutId: 'to-abort', executionArn: executionArn('to-abort'), token, config, routerDefinition: (await traffic.read(target)).definition,
      stageIndex: 0, weight: 1, phase: 'FORWARD', next: 'ANALYZE',
      wait: { until: new Date().toISOString() }, settleSeconds: 60,
      segment: { no: 1, iterations: 3, handOver: false }, segmentPrefix: segmentPrefixOf('to-abort'),
    };
    const deps: Deps = {
      traffic,
      metrics: { fetchWindow: () => Promise.reject(new Error('an aborted rollout must not be judged')) },
      rollouts, incidents: new MemoryIncidents(), judge: defaultJudge,
      clock: { now: () => new Date() }, log: new MemoryLog(), allowedHostedZoneIds: [],
    };
    const next = await analyze(state, deps);
    expect(next.next).toBe('ROLLBACK');
    expect(next.decision?.reasons).toEqual(['aborted: customers report 502s']);

    // A finished rollout, or an unknown one, cannot be aborted.
    await rollouts.update('to-abort', { status: 'ROLLED_BACK' });
    const late = runCli(['abort', 'to-abort'], env);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^canary: Rollout to-abort is ROLLED_BACK, not RUNNING or HALTED: there is nothing to abort\n$/);
    const unknown = runCli(['abort', 'no-such-rollout'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^canary: no rollout no-such-rollout in table .+ \(see canary list\)\n$/);
  });

  it('approve answers the manual gate a rollout waits at; without a pending gate it says so', async () => {
    await runningRollout('gated', { pendingApproval: { stageIndex: 2, weight: 10, requestedAt: '2026-01-01T12:10:00.000Z', deadline: '2026-01-01T13:10:00.000Z' } });
    const run = runCli(['approve', 'gated', '--reason', 'dashboards look fine', '--by', 'alice'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('approved stage 3 (canary 10 %) of gated');
    expect((await rollouts.get('gated'))!.approval).toMatchObject({ stageIndex: 2, approved: true, by: 'alice', reason: 'dashboards look fine' });

    await runningRollout('ungated');
    const reject = runCli(['reject', 'ungated'], env);
    expect(reject.code).toBe(1);
    expect(reject.stderr).toMatch(/^canary: rollout ungated is not waiting for an approval/);
  });

  it('start --wait follows the rollout and exits 2 when it is rolled back', async () => {
    // Act: the CLI waits; the test plays the workflow.
    const cli = startCli(['start', 'examples/rollout.yaml', '--name', 'wait-rollback', '--wait', '--poll', '0.2'], env);
    await until(async () => (await describeExecution('wait-rollback').catch(() => null))?.status === 'RUNNING');
    await runningRollout('wait-rollback');
    await sleep(500);
    const at = '2026-01-01T12:07:00.000Z';
    const decision = { outcome: 'ROLLED_BACK' as const, trigger: 'VERDICT' as const, at, stageIndex: 0, weight: 1, failing: [], reasons: ['critical metric failed: error-rate 3.1 % is above the maximum 1.00 %'] };
    await rollouts.update('wait-rollback', { status: 'ROLLED_BACK', decision, weight: 0, updatedAt: at }, [
      { type: 'DECISION', at, decision },
      { type: 'WEIGHTS_SET', at, canary: 0, baseline: 100, changeId: 'C2', stageIndex: 0 },
    ]);
    const run = await cli;
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('started rollout wait-rollback');
    expect(run.stdout).toMatch(/▶ stage 1\/5 .*canary 1 %/);
    expect(run.stdout).toMatch(/■ decision: ROLLED BACK at stage 1\/5/);
    expect(run.stdout).toMatch(/^ROLLED BACK: wait-rollback at stage 1\/5 \(canary 1 %\); traffic is back at 100 % baseline$/m);
    expect(run.stdout).toContain('  - critical metric failed: error-rate 3.1 % is above the maximum 1.00 %');
  });

  it('watch exits 0 when the rollout is promoted', async () => {
    await runningRollout('to-promote');
    const cli = startCli(['watch', 'to-promote', '--poll', '0.2'], env);
    await sleep(800);
    const at = '2026-01-01T12:30:00.000Z';
    const decision = { outcome: 'PROMOTED' as const, trigger: 'VERDICT' as const, at, stageIndex: 4, weight: 100, failing: [], reasons: ['every stage passed its checks'] };
    await rollouts.update('to-promote', { status: 'PROMOTED', decision, weight: 100, stageIndex: 4, updatedAt: at }, [{ type: 'DECISION', at, decision }]);
    const run = await cli;
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^PROMOTED: to-promote ended with the canary at 100 %$/m);
  });

  it('start --wait exits 1 when the execution ends without a decision (stopped from the console)', async () => {
    const cli = startCli(['start', 'examples/rollout.yaml', '--name', 'stopped-1', '--wait', '--poll', '0.2'], env);
    await until(async () => (await describeExecution('stopped-1').catch(() => null))?.status === 'RUNNING');
    await sfn.send(new StopExecutionCommand({ executionArn: executionArn('stopped-1'), error: 'Stopped', cause: 'by hand' }));
    const run = await cli;
    expect(run.code).toBe(1);
    // (Whether it printed 'waiting for the preflight' first depends on when its first poll lands.)
    // No record was written (moto runs nothing): the stop came in preflight, before anything moved.
    expect(run.stderr).toMatch(/^canary: the execution was stopped in preflight, before any traffic moved/);
  });

  it('--timeout gives up waiting (exit 1) and says the rollout goes on', async () => {
    await runningRollout('slow-one');
    const run = runCli(['watch', 'slow-one', '--poll', '0.2', '--timeout', '1'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('canary: rollout slow-one is still RUNNING after 1 s (--timeout); it goes on: canary watch slow-one\n');
  });

  it('names what is missing: the stack, the rollout', () => {
    const { CANARY_STACK: _none, ...noStack } = env;
    const elsewhere = mkdtempSync(join(tmpdir(), 'canary-no-samconfig-'));
    const which = runCli(['status', 'x'], noStack, elsewhere);
    expect(which.code).toBe(1);
    expect(which.stderr).toBe('canary: which stack? pass --stack NAME (or set CANARY_STACK, or run it where samconfig.toml names the stack_name), or --table NAME\n');
    const missing = runCli(['list', '--stack', 'not-deployed'], noStack);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^canary: stack not-deployed does not exist in us-east-1/);
    const unknown = runCli(['status', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^canary: no rollout nope in table /);
    const badId = runCli(['status', 'not an id'], env);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/^canary: 'not an id' is not a rollout id/);
  });

  it('without --stack or CANARY_STACK, the stack is the stack_name of ./samconfig.toml (the repository\'s own here)', () => {
    // Prepare: the repository's samconfig.toml names canary-analyzer, the stack moto holds.
    const { CANARY_STACK: _none, ...noStack } = env;
    expect(readFileSync(join(REPO, 'samconfig.toml'), 'utf8')).toMatch(/^stack_name = "canary-analyzer"$/m);
    const other = mkdtempSync(join(tmpdir(), 'canary-samconfig-'));
    writeFileSync(join(other, 'samconfig.toml'), 'version = 0.1\n[default.global.parameters]\nstack_name = "canary-analyzer"\n[default.deploy.parameters]\nstack_name = "not-deployed" # deploy wins, as in sam\n');
    // Act
    const list = runCli(['list', '--limit', '1'], noStack, REPO);
    const wrong = runCli(['list'], noStack, other);
    // Assess
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ROLLOUT +NAME +STATUS/);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^canary: stack not-deployed \(the stack_name in samconfig.toml\) does not exist in us-east-1: check samconfig.toml, --stack and --region\n$/);
  });

  it('--profile takes the credentials and the region from ~/.aws/config; a profile that is not there is said in one line', () => {
    // Prepare: a home whose AWS config has the profile, and no credentials or region in the environment.
    const home = mkdtempSync(join(tmpdir(), 'canary-home-'));
    mkdirSync(join(home, '.aws'));
    writeFileSync(join(home, '.aws', 'config'), '[profile deployer]\nregion = us-east-1\naws_access_key_id = testing\naws_secret_access_key = testing\n');
    const bare = { HOME: home, AWS_ENDPOINT_URL: moto.endpoint, AWS_EC2_METADATA_DISABLED: 'true', CANARY_STACK: STACK };
    // Act
    const withProfile = runCli(['list', '--limit', '1', '--profile', 'deployer'], bare);
    const without = runCli(['list', '--limit', '1', '--profile', 'nobody', '--region', 'us-east-1'], bare);
    // Assess
    expect(withProfile.stderr).toBe('');
    expect(withProfile.code).toBe(0);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/^canary: no AWS credentials for profile nobody: check that it is in ~\/\.aws\/config or ~\/\.aws\/credentials[^\n]*\n$/);
  });

  it('explicit --state-machine-arn and --table need no CloudFormation', async () => {
    const table = (await import('@aws-sdk/client-cloudformation')).DescribeStacksCommand;
    const outputs = (await new CloudFormationClient(motoClientConfig(moto.endpoint)).send(new table({ StackName: STACK }))).Stacks![0]!.Outputs!;
    const tableName = outputs.find((o) => o.OutputKey === 'RolloutTableName')!.OutputValue!;
    const { CANARY_STACK: _none, ...noStack } = env;
    const run = runCli(['list', '--table', tableName, '--json'], noStack);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).length).toBeGreaterThan(0);
  });
});
