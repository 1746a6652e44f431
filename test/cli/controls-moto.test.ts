/**
 * The operator controls against moto_server, through the real SDK clients over HTTP: `promote
 * --full`, `pause`, `resume` and `retry` write through the same DynamoRollouts adapter the steps
 * read (one conditional write each, refused with controls.ts's words), who asks is the caller's
 * STS identity unless --by says, `status`/`list`/`watch` show PAUSED and HALTED with the exit
 * codes a pipeline gates on, and `retry` starts a new execution linked both ways. moto records
 * executions without running them, so the tests play the workflow's part on the record (its
 * analyze step, reading the same table, for promote and pause).
 */
import { readFileSync } from 'node:fs';
import { CloudFormationClient, CreateStackCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { HALT_MAX_SECONDS } from '../../functions/core/controls.ts';
import { parseRolloutConfig, route53TargetOf, targetKey, type RolloutConfig } from '../../functions/core/config.ts';
import { defaultJudge } from '../../functions/core/default-judge.ts';
import type { Deps } from '../../functions/core/ports.ts';
import type { Decision } from '../../functions/core/rollout-record.ts';
import { analyze, leaseSeconds, segmentPrefixOf, type RolloutState } from '../../functions/core/rollout-steps.ts';
import { MemoryIncidents, MemoryLog, MemoryTraffic } from '../../sim/memory-adapters.ts';
import { mulberry32 } from '../../sim/prng.ts';
import { motoClientConfig, motoEnv, motoSkipReason, useMoto } from '../helpers/moto.ts';
import { cliStackTemplate } from '../helpers/rollouts-table.ts';
import { runCli, sleep, startCli, until } from './helpers.ts';

const STACK = 'canary-analyzer';
const exampleConfig = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8'));
/** What moto's GetCallerIdentity answers, as the CLI records it (account:resource). */
const MOTO_CALLER = '123456789012:user/moto';

const skip = motoSkipReason();
/** Human output with its line breaks (kept within 120 columns) as spaces: for prose that may wrap. */
const flat = (text: string) => text.replace(/\s+/g, ' ');

describe.skipIf(skip !== null)('canary promote --full / pause / resume / retry on moto_server', () => {
  const moto = useMoto();
  let sfn: SFNClient;
  let rollouts: DynamoRollouts;
  let env: Record<string, string>;
  let table: string;

  beforeAll(async () => {
    const config = motoClientConfig(moto.endpoint);
    sfn = new SFNClient(config);
    const cfn = new CloudFormationClient(config);
    await cfn.send(new CreateStackCommand({ StackName: STACK, TemplateBody: JSON.stringify(await cliStackTemplate()) }));
    const outputs = (await cfn.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks![0]!.Outputs!;
    table = outputs.find((o) => o.OutputKey === 'RolloutTableName')!.OutputValue!;
    rollouts = new DynamoRollouts(DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } }), table);
    env = { ...motoEnv(moto.endpoint), CANARY_STACK: STACK, USER: 'local-user' };
  });

  const executionArn = (name: string) => `arn:aws:states:us-east-1:123456789012:execution:CanaryRollout:${name}`;
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s)).toISOString();

  /** A rollout as preflight and its first shift leave it (head with config and token, the lock), at stage 1 with 1 %. */
  async function runningRollout(id: string, raw: Record<string, unknown> = {}): Promise<{ config: RolloutConfig; token: string }> {
    const config = parseRolloutConfig({ ...exampleConfig, ...raw, target: { ...exampleConfig.target, recordName: `${id}.api.example.com` } });
    const token = `${executionArn(id)}@${at(0)}`;
    const begun = await rollouts.begin({
      rolloutId: id, name: 'checkout-api', targetKey: targetKey(config.target), executionArn: executionArn(id), token, config,
      status: 'RUNNING', startedAt: at(0), updatedAt: at(0), stageIndex: 0, weight: 0, checkCount: 0,
    }, [{ type: 'STARTED', at: at(0), stages: [1, 5, 10, 25, 100] }], { key: targetKey(config.target), leaseSeconds: leaseSeconds(config), now: new Date() });
    expect(begun).toEqual({ started: true });
    await rollouts.update(id, { weight: 1, updatedAt: at(1), lastChange: { id: 'C1', canary: 1, submittedAt: at(1) } },
      [{ type: 'WEIGHTS_SET', at: at(1), canary: 1, baseline: 99, changeId: 'C1', stageIndex: 0 }], { token });
    return { config, token };
  }

  /** The rollout halted at stage 3 (10 %), as the workflow's Halt state records it (onFailure: halt). */
  async function haltedRollout(id: string): Promise<{ config: RolloutConfig; token: string }> {
    const made = await runningRollout(id, { onFailure: 'halt' });
    const halted = {
      at: at(600), deadline: new Date(Date.parse(at(600)) + HALT_MAX_SECONDS * 1000).toISOString(), stageIndex: 2, weight: 10,
      trigger: 'VERDICT' as const, reasons: ['critical metric failed: error-rate 3.1 % is above the maximum 1.00 %'],
    };
    await rollouts.update(id, { status: 'HALTED', halted, stageIndex: 2, weight: 10, updatedAt: at(600) }, [{ type: 'HALTED', ...halted }], { token: made.token });
    return made;
  }

  /** The workflow's analyze step on the same table (what the next step of the execution would do). */
  async function nextAnalysis(id: string, made: { config: RolloutConfig; token: string }, weight = 1): Promise<RolloutState> {
    const traffic = new MemoryTraffic({ clock: { now: () => new Date() }, rng: mulberry32(1) });
    const target = route53TargetOf(made.config);
    traffic.putRecord(target, { setIdentifier: target.baselineSetIdentifier, weight: 100 - weight, ttl: 60 });
    traffic.putRecord(target, { setIdentifier: target.canarySetIdentifier, weight, ttl: 60 });
    const state: RolloutState = {
      rolloutId: id, executionArn: executionArn(id), token: made.token, config: made.config, routerDefinition: (await traffic.read(target)).definition,
      stageIndex: 0, weight, phase: 'FORWARD', next: 'ANALYZE', wait: { until: new Date().toISOString() }, settleSeconds: 60,
      segment: { no: 1, iterations: 3, handOver: false }, segmentPrefix: segmentPrefixOf(id),
    };
    const deps: Deps = {
      traffic, metrics: { fetchWindow: () => Promise.reject(new Error('not judged in this test')) },
      rollouts, incidents: new MemoryIncidents(), judge: defaultJudge,
      clock: { now: () => new Date() }, log: new MemoryLog(), allowedHostedZoneIds: [],
    };
    return analyze(state, deps);
  }

  it('promote needs --full; with it, the request is recorded with who (STS) and why, once, and the next step goes to 100 %', async () => {
    // Prepare
    const made = await runningRollout('to-ship');
    // Act
    const bare = runCli(['promote', 'to-ship'], env);
    const afterBare = await rollouts.get('to-ship');
    const run = runCli(['promote', 'to-ship', '--full', '--reason', 'fix for INC-1234 must ship'], env);
    const again = runCli(['promote', 'to-ship', '--full', '--by', 'bob'], env);
    // Assess: without --full nothing is written.
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/^canary: promote needs --full: it sends the canary to 100 % now and skips the remaining stages' analysis and gates/);
    expect(afterBare!.promoteRequested).toBeUndefined();
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`promote --full requested for to-ship by ${MOTO_CALLER}: "fix for INC-1234 must ship"`);
    expect(flat(run.stdout)).toContain("the workflow sends the canary from 1 % to 100 % in one shift (still waited for and read back), skipping the remaining stages' analysis and gates; the decision says MANUAL_PROMOTION with who and why.");
    const record = (await rollouts.get('to-ship'))!;
    expect(record.promoteRequested).toEqual({ at: expect.any(String), by: MOTO_CALLER, reason: 'fix for INC-1234 must ship' });
    expect((await rollouts.history('to-ship'))!.events.at(-1)).toMatchObject({ type: 'CONTROL', request: 'PROMOTE', by: MOTO_CALLER, reason: 'fix for INC-1234 must ship' });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`^canary: rollout to-ship was already asked to promote by ${MOTO_CALLER} at .*: it goes to 100 % at its next step\\n$`));
    const status = runCli(['status', 'to-ship'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^ {2}promote +--full requested by ${MOTO_CALLER} at \\S+: fix for INC-1234 must ship\\n {14}the canary goes to 100 % at the next step, skipping the remaining stages' analysis$`, 'm'));

    // The workflow's next analysis, on the same table, acts on it: the last stage, by one shift.
    const next = await nextAnalysis('to-ship', made);
    expect(next).toMatchObject({ next: 'SHIFT', stageIndex: 4, promotion: { by: MOTO_CALLER, reason: 'fix for INC-1234 must ship', fromStage: 0, fromWeight: 1 } });
    expect((await rollouts.history('to-ship'))!.events.at(-1)).toMatchObject({
      type: 'NOTE', message: expect.stringMatching(/asked to promote to 100 % now .*the analysis and gates of 1 % → 5 % → 10 % → 25 % are skipped/),
    });
  });

  it('pause holds a running rollout (status and list say PAUSED); resume goes on; each is refused where it makes no sense', async () => {
    // Prepare
    const made = await runningRollout('to-hold');
    // Act
    const pause = runCli(['pause', 'to-hold', '--reason', "waiting for the partner's smoke test", '--by', 'alice'], env);
    const pauseAgain = runCli(['pause', 'to-hold'], env);
    const status = runCli(['status', 'to-hold'], env);
    const list = runCli(['list', '--limit', '50'], env);
    const held = await nextAnalysis('to-hold', made);
    const resume = runCli(['resume', 'to-hold'], env);
    const resumeAgain = runCli(['resume', 'to-hold'], env);
    const after = runCli(['status', 'to-hold'], env);
    // Assess
    expect(pause.stderr).toBe('');
    expect(pause.code).toBe(0);
    expect(pause.stdout).toContain('pause requested for to-hold by alice: "waiting for the partner\'s smoke test"');
    expect(flat(pause.stdout)).toContain('Checks keep running while paused, and a failure still rolls it back.');
    expect(pauseAgain.code).toBe(1);
    expect(pauseAgain.stderr).toMatch(/^canary: rollout to-hold is already paused \(by alice at \S+\): canary resume to-hold goes on\n$/);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^ {2}status +PAUSED · stage 1\/5 · canary 1 %$/m);
    expect(status.stdout).toMatch(/^ {2}paused +by alice at \S+: waiting for the partner's smoke test$/m);
    expect(status.stdout).toContain("the weight is held and the stage's clock stopped; checks keep running and a failure still rolls back\n");
    expect(status.stdout).toMatch(/^ {14}canary resume to-hold goes on$/m);
    expect(list.stdout).toMatch(/^to-hold +checkout-api +PAUSED +1\/5 +1 %/m);
    // The workflow's next step starts the pause (PAUSED event) and holds the stage.
    expect(held.pause).toEqual({ since: expect.any(String), by: 'alice' });
    expect((await rollouts.history('to-hold'))!.events.some((e) => e.type === 'PAUSED' && e.by === 'alice')).toBe(true);
    expect(resume.stderr).toBe('');
    expect(resume.code).toBe(0);
    expect(resume.stdout).toContain(`resume requested for to-hold by ${MOTO_CALLER}`);
    const record = (await rollouts.get('to-hold'))!;
    expect(record.paused).toBeUndefined();
    expect(record.resumeRequested).toMatchObject({ by: MOTO_CALLER });
    expect(resumeAgain.code).toBe(1);
    expect(resumeAgain.stderr).toBe('canary: rollout to-hold is running, not paused or halted: there is nothing to resume\n');
    expect(after.stdout).toMatch(/^ {2}status +RUNNING · stage 1\/5/m);
  });

  it('a HALTED rollout: status and watch exit 3 and say what to do; pause is refused; resume and abort are taken', async () => {
    // Prepare
    await haltedRollout('halted-1');
    // Act
    const status = runCli(['status', 'halted-1'], env);
    const json = runCli(['status', 'halted-1', '--json'], env);
    const watch = runCli(['watch', 'halted-1', '--poll', '0.2'], env);
    const pause = runCli(['pause', 'halted-1'], env);
    const resume = runCli(['resume', 'halted-1', '--by', 'carol', '--reason', 'a false alarm: the dashboard was wrong'], env);
    const resumeAgain = runCli(['resume', 'halted-1'], env);
    const abort = runCli(['abort', 'halted-1', '--reason', 'roll forward instead'], env);
    // Assess
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/^ {2}status +HALTED · stage 3\/5 · canary 10 %$/m);
    expect(status.stdout).toMatch(/^ {2}halted +at 2026-01-01T12:10:00.000Z \(stage 3, canary 10 %\): the weights are frozen until a person decides$/m);
    expect(status.stdout).toContain([
      '              - critical metric failed: error-rate 3.1 % is above the maximum 1.00 %',
      '              without an answer by 2026-01-31T12:10:00.000Z it rolls back; answer with one of:',
      '              canary abort halted-1 --reason "..."',
      '              canary promote halted-1 --full --reason "..."',
      '              canary resume halted-1',
    ].join('\n'));
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'HALTED', exitCode: 3, halted: { stageIndex: 2, weight: 10 } });
    expect(json.code).toBe(3);
    expect(watch.code).toBe(3);
    expect(flat(watch.stdout)).toMatch(/■ HALTED at stage 3\/5 \(canary 10 %\): the weights are frozen until a person decides/);
    expect(flat(watch.stdout)).toMatch(/ HALTED: halted-1 at stage 3\/5 with the canary at 10 %: the weights are frozen until a person decides/);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toMatch(/^canary: rollout halted-1 is HALTED: its weights are already frozen and it waits for a person: canary resume halted-1, canary promote halted-1 --full, or canary abort halted-1\n$/);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toContain('resume requested for the HALTED rollout halted-1 by carol: "a false alarm: the dashboard was wrong"');
    expect(flat(resume.stdout)).toContain("within a minute the workflow judges stage 3 again from now, at the frozen weight (canary 10 %) (a halt at a gate asks for that shift again instead), and resolves the halt's incident; a failure halts it again.");
    expect((await rollouts.get('halted-1'))!.resumeRequested).toMatchObject({ by: 'carol', reason: 'a false alarm: the dashboard was wrong' });
    expect(resumeAgain.code).toBe(1);
    expect(resumeAgain.stderr).toMatch(/^canary: rollout halted-1 was already asked to resume by carol at \S+: it goes on judging at its next step\n$/);
    expect(abort.code).toBe(0);
    expect((await rollouts.get('halted-1'))!.abortRequested?.reason).toBe('roll forward instead');
  });

  it('retry: refused while active; after a rollback, a new execution with the same config, linked both ways, once', async () => {
    // Prepare: a rollout still running cannot be retried.
    await runningRollout('to-retry');
    const early = runCli(['retry', 'to-retry'], env);
    const decision: Decision = { outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: at(700), stageIndex: 2, weight: 10, failing: [], reasons: ['critical metric failed: error-rate'] };
    await rollouts.update('to-retry', { status: 'ROLLED_BACK', decision, weight: 0, updatedAt: at(700) }, [{ type: 'DECISION', at: at(700), decision }]);
    const old = (await rollouts.get('to-retry'))!;
    // Act
    const run = runCli(['retry', 'to-retry', '--name', 'to-retry-2', '--reason', 'the bad dependency is pinned now'], env);
    const twice = runCli(['retry', 'to-retry', '--name', 'to-retry-3'], env);
    // Assess
    expect(early.code).toBe(1);
    expect(early.stderr).toBe('canary: rollout to-retry is still running: retry it once it has rolled back (canary abort to-retry rolls it back)\n');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain([
      `started rollout to-retry-2, a retry of to-retry by ${MOTO_CALLER}`,
      '  to-retry was ROLLED BACK: critical metric failed: error-rate',
      "  the same config (checkout-api, 1 % → 5 % → 10 % → 25 % → 100 %), kept on to-retry's record",
    ].join('\n'));
    expect(flat(run.stdout)).toContain("linked both ways: to-retry's record says retriedBy to-retry-2; to-retry-2's says retryOf to-retry once its preflight passes");
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: executionArn('to-retry-2') }));
    expect(execution.status).toBe('RUNNING');
    // The input is the config the old record kept, with the link; preflight parses it to the same config.
    const input = JSON.parse(execution.input!);
    expect(input.retryOf).toBe('to-retry');
    expect(parseRolloutConfig(input)).toEqual({ ...old.config, retryOf: 'to-retry' });
    const linked = (await rollouts.get('to-retry'))!;
    expect(linked.retriedBy).toBe('to-retry-2');
    expect((await rollouts.history('to-retry'))!.events.at(-1)).toMatchObject({ type: 'RETRIED', retryId: 'to-retry-2', by: MOTO_CALLER, reason: 'the bad dependency is pinned now' });
    expect(twice.code).toBe(1);
    expect(twice.stderr).toBe('canary: rollout to-retry was already retried as to-retry-2: retry that one instead (canary retry to-retry-2)\n');
    await expect(sfn.send(new DescribeExecutionCommand({ executionArn: executionArn('to-retry-3') }))).rejects.toThrow();
    const status = runCli(['status', 'to-retry'], env);
    expect(status.code).toBe(2);
    expect(status.stdout).toMatch(/^ {2}retried by +to-retry-2 \(canary status to-retry-2\)$/m);
  });

  it('retry --wait follows the new rollout like start --wait and exits with its outcome', async () => {
    // Prepare: a rolled-back rollout.
    await runningRollout('wait-src');
    const decision: Decision = { outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: at(700), stageIndex: 1, weight: 5, failing: [], reasons: ['critical metric failed: error-rate'] };
    await rollouts.update('wait-src', { status: 'ROLLED_BACK', decision, weight: 0, updatedAt: at(700) }, [{ type: 'DECISION', at: at(700), decision }]);

    // Act: the CLI waits; the test plays the workflow of the retry (moto runs no execution).
    const cli = startCli(['retry', 'wait-src', '--name', 'wait-retry', '--wait', '--poll', '0.2'], env);
    await until(async () => (await sfn.send(new DescribeExecutionCommand({ executionArn: executionArn('wait-retry') })).catch(() => null))?.status === 'RUNNING');
    const made = await runningRollout('wait-retry');
    await sleep(500);
    const promoted: Decision = { outcome: 'PROMOTED', trigger: 'VERDICT', at: at(2400), stageIndex: 4, weight: 100, failing: [], reasons: ['every stage passed its checks'] };
    await rollouts.update('wait-retry', { status: 'PROMOTED', decision: promoted, weight: 100, stageIndex: 4, updatedAt: at(2400) }, [{ type: 'DECISION', at: at(2400), decision: promoted }], { token: made.token });
    const run = await cli;

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`started rollout wait-retry, a retry of wait-src by ${MOTO_CALLER}`);
    expect(run.stdout).not.toContain('follow it: canary watch');
    expect(run.stdout).toMatch(/^PROMOTED: wait-retry ended with the canary at 100 %$/m);
    expect((await rollouts.get('wait-src'))!.retriedBy).toBe('wait-retry');
  });

  it('retry: a name in use is refused before the link; a start that fails undoes the link; an unknown or promoted rollout says why', async () => {
    // Prepare
    await runningRollout('retry-src');
    const decision: Decision = { outcome: 'ROLLED_BACK', trigger: 'ABORTED', at: at(700), stageIndex: 0, weight: 1, failing: [], reasons: ['aborted: wrong tag'] };
    await rollouts.update('retry-src', { status: 'ROLLED_BACK', decision, weight: 0, updatedAt: at(700) }, [{ type: 'DECISION', at: at(700), decision }]);
    await runningRollout('name-taken');
    await runningRollout('shipped');
    await rollouts.update('shipped', { status: 'PROMOTED', weight: 100, stageIndex: 4 });
    // Act
    const taken = runCli(['retry', 'retry-src', '--name', 'name-taken'], env);
    const afterTaken = await rollouts.get('retry-src');
    const noMachine = runCli(['retry', 'retry-src', '--name', 'never-started', '--table', table,
      '--state-machine-arn', 'arn:aws:states:us-east-1:123456789012:stateMachine:NotDeployed'], env);
    const afterFailed = await rollouts.history('retry-src');
    const unknown = runCli(['retry', 'no-such-rollout'], env);
    const promoted = runCli(['retry', 'shipped'], env);
    const json = runCli(['retry', 'retry-src', '--json', '--by', 'dave'], env);
    // Assess
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe('canary: rollout name-taken already exists (RUNNING): a rollout id is used once; choose another --name\n');
    expect(afterTaken!.retriedBy).toBeUndefined();
    expect(noMachine.code).toBe(1);
    expect(noMachine.stderr).toMatch(/^canary: could not start the retry of retry-src \(the link on retry-src was undone\): StateMachineDoesNotExist/);
    expect(afterFailed!.retriedBy).toBeUndefined();
    expect(afterFailed!.events.at(-1)).toMatchObject({ type: 'NOTE', message: 'the retry never-started could not be started: StateMachineDoesNotExist' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^canary: no rollout no-such-rollout in table \S+ \(see canary list\)\n$/);
    expect(promoted.code).toBe(1);
    expect(promoted.stderr).toBe('canary: rollout shipped was promoted: there is nothing to retry (start a new rollout with canary start)\n');
    // Without --name: a generated one, printed as JSON; the link taken by then.
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ rolloutId: expect.stringMatching(/^checkout-api-\d{8}T\d{6}Z-[0-9a-f]{4}$/), retryOf: 'retry-src', executionArn: executionArn(out.rolloutId), by: 'dave' });
    expect((await rollouts.get('retry-src'))!.retriedBy).toBe(out.rolloutId);
  });

  it('requests on a rollout that has ended, or is unknown, say why and write nothing', async () => {
    await runningRollout('ended-1');
    await rollouts.update('ended-1', { status: 'ROLLED_BACK' });
    const before = (await rollouts.history('ended-1'))!.events.length;
    const promote = runCli(['promote', 'ended-1', '--full'], env);
    const pause = runCli(['pause', 'ended-1'], env);
    const unknown = runCli(['resume', 'nobody-here'], env);
    const badReason = runCli(['pause', 'ended-1', '--reason', ' '], env);
    expect(promote.code).toBe(1);
    expect(promote.stderr).toBe('canary: rollout ended-1 was rolled back and has ended: there is nothing to promote (start it again with canary retry ended-1)\n');
    expect(pause.stderr).toBe('canary: rollout ended-1 was rolled back and has ended: there is nothing to pause (start it again with canary retry ended-1)\n');
    expect(unknown.stderr).toMatch(/^canary: no rollout nobody-here in table \S+ \(see canary list\)\n$/);
    expect(badReason.code).toBe(1);
    expect(badReason.stderr).toBe('canary: --reason must be 1-500 characters\n');
    expect((await rollouts.history('ended-1'))!.events).toHaveLength(before);
  });

  it('the store\'s write refuses by itself (a request that lost a race with another), in the same words', async () => {
    // Prepare: a pause the CLI has not seen yet when it reads (the store's condition decides).
    await runningRollout('racy');
    await rollouts.requestControl('racy', 'PAUSE', { at: at(5), by: 'erin' });
    // Act: the store refuses a second pause with controls.ts's words.
    const refused = await rollouts.requestControl('racy', 'PAUSE', { at: at(6), by: 'frank' }).catch((e: Error) => e);
    // Assess
    expect(refused).toMatchObject({ name: 'ControlRefused', message: `rollout racy is already paused (by erin at ${at(5)}): canary resume racy goes on` });
    expect((await rollouts.get('racy'))!.paused).toEqual({ at: at(5), by: 'erin' });
  });

  it('watch follows a pause request and the pause, and ends with the rollout', async () => {
    const made = await runningRollout('watched');
    const cli = startCli(['watch', 'watched', '--poll', '0.2'], env);
    await rollouts.requestControl('watched', 'PAUSE', { at: new Date().toISOString(), by: 'alice', reason: 'lunch' });
    await nextAnalysis('watched', made);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const now = new Date().toISOString();
    const decision: Decision = { outcome: 'ROLLED_BACK', trigger: 'ABORTED', at: now, stageIndex: 0, weight: 1, failing: [], reasons: ['aborted: lunch ran long'] };
    await rollouts.update('watched', { status: 'ROLLED_BACK', decision, weight: 0, updatedAt: now }, [{ type: 'DECISION', at: now, decision }]);
    const run = await cli;
    // Assess: the request, the pause the workflow started, then the end (the order of the record's events).
    expect(run.code).toBe(2);
    const text = flat(run.stdout);
    const requested = text.indexOf('pause requested by alice: lunch');
    const paused = text.indexOf('⏸ paused at stage 1/5 (canary 1 %) by alice: the weight is held, checks go on and a failure still acts (canary resume watched)');
    const ended = text.indexOf('ROLLED BACK: watched at stage 1/5 (canary 1 %)');
    expect([requested, paused, ended].every((i) => i >= 0)).toBe(true);
    expect(requested < paused && paused < ended).toBe(true);
  });
});
