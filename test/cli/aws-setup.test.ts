/**
 * The stack commands when AWS is not there as expected: an endpoint that accepts connections and
 * never answers (the deadline of `--timeout` covers the calls in flight), no region, no
 * credentials; and the small pieces they rest on (samconfig.toml, execution ARNs, exit codes).
 * No moto here: what is tested is what happens before or instead of an answer.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSession, executionArnOf, explainAwsError, samconfigStackName } from '../../cli/aws.ts';
import { Deadline } from '../../cli/deadline.ts';
import { CliError, exitCodeOfStatus, statusWords } from '../../cli/io.ts';
import { startCli } from './helpers.ts';

/** Credentials and region, and nothing to find on this machine (an empty home, no instance metadata). */
const isolated = (extra: Record<string, string> = {}) => ({
  HOME: mkdtempSync(join(tmpdir(), 'canary-empty-home-')), AWS_EC2_METADATA_DISABLED: 'true', ...extra,
});
const credentials = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };

describe('an endpoint that accepts connections and never answers', () => {
  let server: Server;
  let endpoint: string;
  const sockets = new Set<Socket>();
  let connections = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('data', () => undefined); // reads the request, answers nothing
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));

  it('watch --timeout 2 gives up at its deadline with the call still waiting, exit 1, one line', async () => {
    // Act
    connections = 0;
    const run = await startCli(['watch', 'checkout-v42', '--table', 'rollouts', '--endpoint-url', endpoint, '--timeout', '2'], isolated(credentials));
    // Assess: the deadline's message, not the SDK's own request timeout (10 s, 3 attempts) nor a hang.
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`canary: gave up after 2 s (--timeout): no answer yet from the endpoint ${endpoint} to DynamoDB Get; the rollout, if any, goes on\n`);
    expect(run.code).toBe(1);
    expect(connections).toBeGreaterThan(0); // it did reach the server
    console.log(`watch --timeout 2 against a silent endpoint ended after ${(run.ms / 1000).toFixed(1)} s (process start included)`);
  });

  it('status --timeout 1 while the stack is looked up says which call was waiting', async () => {
    const run = await startCli(['status', 'checkout-v42', '--stack', 'canary-analyzer', '--endpoint-url', endpoint, '--timeout', '1'], isolated(credentials));
    expect(run.stderr).toBe(`canary: gave up after 1 s (--timeout): no answer yet from the endpoint ${endpoint} to CloudFormation DescribeStacks\n`);
    expect(run.code).toBe(1);
  });

  it('start --timeout says that nothing was started when the deadline passes before StartExecution', async () => {
    const run = await startCli(['start', 'examples/rollout.yaml', '--stack', 'canary-analyzer', '--endpoint-url', endpoint, '--timeout', '1'], isolated(credentials));
    expect(run.stderr).toBe(`canary: gave up after 1 s (--timeout) before starting the rollout: no answer yet from the endpoint ${endpoint} to CloudFormation DescribeStacks; nothing was started\n`);
    expect(run.code).toBe(1);
  });

  it('--timeout must be a positive number of seconds', async () => {
    const run = await startCli(['list', '--table', 't', '--timeout', 'soon'], isolated(credentials));
    expect(run.stderr).toBe('canary: --timeout must be a positive number of seconds, not \'soon\'\n');
    expect(run.code).toBe(1);
  });
});

describe('the AWS setup said in one line, with the fix', () => {
  it('no region anywhere', async () => {
    const run = await startCli(['status', 'checkout-v42', '--table', 'rollouts'], isolated({ AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }));
    expect(run.stderr).toBe('canary: no AWS region: pass --region REGION, or set AWS_REGION, or use a profile with a region (--profile NAME or AWS_PROFILE)\n');
    expect(run.code).toBe(1);
  });

  it('no credentials anywhere (and no stack trace)', async () => {
    const run = await startCli(['list', '--table', 'rollouts', '--region', 'eu-west-1', '--endpoint-url', 'http://127.0.0.1:9'], isolated());
    expect(run.stderr).toBe('canary: no AWS credentials: pass --profile NAME or set AWS_PROFILE (after aws configure or aws sso login), or set ' +
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in GitHub Actions, use aws-actions/configure-aws-credentials first\n');
    expect(run.code).toBe(1);
  });

  it('an SDK request timeout (every attempt unanswered) names the endpoint and what to check', () => {
    const session = new AwsSession({ endpointUrl: 'http://127.0.0.1:4566' }, {}, new Deadline(undefined));
    const timeout = Object.assign(new Error('a request has exceeded the configured 10000 ms requestTimeout'), { name: 'TimeoutError', $metadata: { attempts: 3 } });
    const explained = explainAwsError(timeout, session, 'DynamoDB Get');
    expect(explained).toBeInstanceOf(CliError);
    expect((explained as Error).message).toBe('no answer from the endpoint http://127.0.0.1:4566 to DynamoDB Get (3 attempts of 10 s): check the network, --region and --endpoint-url');
    // Anything else is left as it is, for the command to say what failed.
    const denied = Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' });
    expect(explainAwsError(denied, session, 'DynamoDB Get')).toBe(denied);
  });
});

describe('samconfig.toml', () => {
  const write = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'canary-samconfig-'));
    writeFileSync(join(dir, 'samconfig.toml'), text);
    return dir;
  };

  it('reads the stack_name sam deploy uses: the default environment\'s deploy parameters, else its global ones', () => {
    expect(samconfigStackName(write('version = 0.1\n[default.global.parameters]\nstack_name = "from-global"\n'))).toBe('from-global');
    expect(samconfigStackName(write('[default.global.parameters]\nstack_name = "from-global"\n\n[default.deploy.parameters]\nstack_name = \'from-deploy\'  # comment\n'))).toBe('from-deploy');
    // Another environment's name is not the default's; no samconfig.toml, no name.
    expect(samconfigStackName(write('[prod.deploy.parameters]\nstack_name = "prod-stack"\n'))).toBeUndefined();
    expect(samconfigStackName(mkdtempSync(join(tmpdir(), 'canary-none-')))).toBeUndefined();
    expect(samconfigStackName(write('[ default.deploy.parameters ]\n"stack_name" = "spaced \\"quoted\\""\n'))).toBe('spaced "quoted"');
  });
});

describe('small pieces', () => {
  it('an execution ARN from the state machine ARN and the rollout id', () => {
    expect(executionArnOf('arn:aws:states:eu-west-1:111122223333:stateMachine:CanaryRollout', 'checkout-v42'))
      .toBe('arn:aws:states:eu-west-1:111122223333:execution:CanaryRollout:checkout-v42');
    expect(executionArnOf('not an arn', 'x')).toBeUndefined();
  });

  it('exit codes by status (0 running or promoted, 1 rollback failed, 2 rolled back, 3 halted) and their words', () => {
    expect(['RUNNING', 'ROLLING_BACK', 'PROMOTED', 'ROLLBACK_FAILED', 'ROLLED_BACK', 'HALTED'].map(exitCodeOfStatus)).toEqual([0, 0, 0, 1, 2, 3]);
    expect(['ROLLED_BACK', 'ROLLING_BACK', 'PROMOTED'].map(statusWords)).toEqual(['ROLLED BACK', 'ROLLING BACK', 'PROMOTED']);
  });
});
