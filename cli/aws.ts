/**
 * The AWS side of the CLI: clients with timeouts, the credentials and region a person chose
 * (`--profile`, `--region`), one deadline for the whole command (`--timeout`), AWS's errors said
 * as what to do, and the deployed stack as the CLI finds it: the CloudFormation outputs
 * `StateMachineArn` and `RolloutTableName` of `--stack NAME`, $CANARY_STACK, or the `stack_name`
 * in ./samconfig.toml (what `sam deploy` deployed from here), or `--state-machine-arn` and `--table`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Deadline, DeadlineExceeded } from './deadline.ts';
import { CliError } from './io.ts';

export interface StackOptions {
  stack?: string;
  stateMachineArn?: string;
  table?: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  /** Seconds: a deadline for the whole command. */
  timeout?: string;
}

/**
 * Per request: a TCP connection within 3 s, an answer within 10 s of the request being sent
 * (`throwOnRequestTimeout`: the SDK's default only logs a warning and keeps waiting), at most 3
 * attempts. A command without --timeout thus gives up on an endpoint that never answers after
 * about 30 s, instead of hanging.
 */
export const AWS_CONNECTION_TIMEOUT_MS = 3_000;
export const AWS_REQUEST_TIMEOUT_MS = 10_000;
export const AWS_MAX_ATTEMPTS = 3;

/** Where the CLI's AWS calls go, and what is in flight (for the message when the deadline passes). */
export class AwsSession {
  readonly region?: string;
  readonly profile?: string;
  readonly endpoint?: string;
  readonly deadline: Deadline;
  /** The call under way (`DynamoDB GetItem`), if any. */
  inFlight: string | undefined;

  constructor(opts: StackOptions, env: Record<string, string | undefined>, deadline: Deadline) {
    this.region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? undefined;
    this.profile = opts.profile ?? undefined;
    this.endpoint = opts.endpointUrl ?? env.AWS_ENDPOINT_URL ?? undefined;
    this.deadline = deadline;
  }

  /** The options every client is built with. */
  clientConfig() {
    return {
      ...(this.region ? { region: this.region } : {}),
      ...(this.profile ? { profile: this.profile } : {}),
      ...(this.endpoint ? { endpoint: this.endpoint } : {}),
      maxAttempts: AWS_MAX_ATTEMPTS,
      requestHandler: { connectionTimeout: AWS_CONNECTION_TIMEOUT_MS, requestTimeout: AWS_REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    };
  }

  /** `the endpoint http://127.0.0.1:4566`, `AWS in eu-west-1`, `AWS (default region)`. */
  where(): string {
    return this.endpoint ? `the endpoint ${this.endpoint}` : `AWS${this.region ? ` in ${this.region}` : ''}`;
  }
}

export interface AwsClients {
  session: AwsSession;
  /** Kept for messages: the region given (flag or environment), if any. */
  region?: string;
  sfn: SFNClient;
  dynamo: DynamoDBDocumentClient;
  cfn: CloudFormationClient;
}

type Sender = { send: (command: never, options?: never) => Promise<unknown> };

/**
 * Every call of `client` carries the command's deadline (an AbortSignal: a call in flight is
 * abandoned when the deadline passes) and fails as a CliError saying what to do when the cause is
 * the setup (no region, no credentials, an endpoint that does not answer), whatever code catches it.
 */
function guard<C>(client: C, service: string, session: AwsSession): C {
  const target = client as unknown as Sender;
  const send = target.send.bind(client);
  target.send = (async (command: { constructor: { name: string } }, options?: Record<string, unknown>) => {
    const name = `${service} ${command.constructor.name.replace(/Command$/, '')}`;
    session.inFlight = name;
    try {
      return await send(command as never, { abortSignal: session.deadline.signal, ...options } as never);
    } catch (error) {
      throw explainAwsError(error, session, name);
    } finally {
      if (session.inFlight === name) session.inFlight = undefined;
    }
  }) as Sender['send'];
  return client;
}

export function makeClients(opts: StackOptions, env: Record<string, string | undefined>, deadline = new Deadline(undefined)): AwsClients {
  // The SDK is bundled and pinned in the published CLI: its notice that SDK releases after
  // January 2027 need Node 22 concerns upgrading the SDK, not running this CLI on Node 20.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const session = new AwsSession(opts, env, deadline);
  const common = session.clientConfig();
  return {
    session,
    region: session.region,
    sfn: guard(new SFNClient(common), 'Step Functions', session),
    cfn: guard(new CloudFormationClient(common), 'CloudFormation', session),
    dynamo: guard(DynamoDBDocumentClient.from(new DynamoDBClient(common), { marshallOptions: { removeUndefinedValues: true } }), 'DynamoDB', session),
  };
}

/** An S3 client for the same session (path-style addressing against a local endpoint). */
export function makeS3Client(session: AwsSession): S3Client {
  return guard(new S3Client({ ...session.clientConfig(), ...(session.endpoint ? { forcePathStyle: true } : {}) }), 'S3', session);
}

/**
 * Who is calling, for the record of a person's request (promote --full, pause, resume, retry): the
 * caller's STS identity (GetCallerIdentity needs no permission), as `account:resource`
 * (`123456789012:assumed-role/Deployer/alice`), cut to `maxChars` from the left so the session
 * name, the part that names the person, stays. Undefined when STS does not answer for another
 * reason than the setup or the deadline.
 */
export async function callerIdentity(session: AwsSession, maxChars = 100): Promise<string | undefined> {
  const sts = guard(new STSClient(session.clientConfig()), 'STS', session);
  const out = await optional(sts.send(new GetCallerIdentityCommand({})));
  const arn = out?.Arn?.match(/^arn:[^:]+:(?:sts|iam)::(\d*):(.+)$/);
  if (!arn) return out?.Arn?.slice(-maxChars);
  const who = `${arn[1]}:${arn[2]}`;
  return who.length <= maxChars ? who : `…${who.slice(-(maxChars - 1))}`;
}

/** A problem with the AWS setup itself (region, credentials, endpoint): no call can succeed. */
export class AwsSetupError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'AwsSetupError';
  }
}

/**
 * AWS's errors that mean the setup is wrong, as one line saying what to do; the others unchanged.
 * (The SDK's own words, "Region is missing" or "Could not load credentials from any providers",
 * do not say where a region or credentials come from.)
 */
export function explainAwsError(error: unknown, session: AwsSession, call: string): unknown {
  if (error instanceof CliError) return error;
  if (session.deadline.expired()) return new DeadlineExceeded(session.deadline.seconds!, call);
  const e = error as Error & { code?: string; $metadata?: { attempts?: number } };
  const name = e?.name ?? '';
  const message = e?.message ?? '';
  if (name === 'Error' && /^Region is missing/.test(message)) {
    return new AwsSetupError('no AWS region: pass --region REGION, or set AWS_REGION, or use a profile with a region (--profile NAME or AWS_PROFILE)');
  }
  if (name === 'CredentialsProviderError') {
    return new AwsSetupError(session.profile
      ? `no AWS credentials for profile ${session.profile}: check that it is in ~/.aws/config or ~/.aws/credentials (aws configure list-profiles), and run aws sso login --profile ${session.profile} if it uses SSO`
      : 'no AWS credentials: pass --profile NAME or set AWS_PROFILE (after aws configure or aws sso login), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in GitHub Actions, use aws-actions/configure-aws-credentials first');
  }
  if (/^(ExpiredToken|ExpiredTokenException|RequestExpired)$/.test(name)) {
    return new AwsSetupError(`the AWS credentials have expired (${call}): refresh them (aws sso login${session.profile ? ` --profile ${session.profile}` : ''}, or new session credentials) and run the command again`);
  }
  if (/^(UnrecognizedClientException|InvalidClientTokenId|InvalidSignatureException|SignatureDoesNotMatch)$/.test(name)) {
    return new AwsSetupError(`AWS rejected the credentials (${call}: ${name}): check --profile / AWS_PROFILE, AWS_ACCESS_KEY_ID and the region`);
  }
  if (name === 'TimeoutError' || e?.code === 'ETIMEDOUT') {
    const attempts = e.$metadata?.attempts ?? AWS_MAX_ATTEMPTS;
    return new AwsSetupError(`no answer from ${session.where()} to ${call} (${attempts} attempt${attempts === 1 ? '' : 's'} of ${AWS_REQUEST_TIMEOUT_MS / 1000} s): check the network, --region and --endpoint-url`);
  }
  if (e?.code === 'ECONNREFUSED' || name === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || name === 'ENOTFOUND') {
    return new AwsSetupError(`could not connect to ${session.where()} for ${call} (${e.code ?? name}): check --endpoint-url, --region and the network`);
  }
  return error;
}

/** `Name: message` of an AWS error (the message alone for a plain Error). */
export function awsMessage(error: unknown): string {
  const e = error as Error;
  return e?.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : String(e?.message ?? error);
}

/**
 * Undefined when `work` fails for another reason than the setup or the deadline: for checks a
 * command can do without (the permission to make them may be missing).
 */
export async function optional<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof AwsSetupError || error instanceof DeadlineExceeded) throw error;
    return undefined;
  }
}

/** A CliError saying what failed, or the error itself when it is already one (a setup problem, the deadline). */
export function awsFailure(what: string, error: unknown): CliError | DeadlineExceeded {
  if (error instanceof CliError || error instanceof DeadlineExceeded) return error;
  return new CliError(`${what}: ${awsMessage(error)}`);
}

export interface Stack {
  stackName?: string;
  /** Where the stack name came from, for messages: `--stack`, `CANARY_STACK`, `samconfig.toml`. */
  stackFrom?: string;
  stateMachineArn?: string;
  tableName?: string;
}

export const OUTPUT_STATE_MACHINE = 'StateMachineArn';
export const OUTPUT_TABLE = 'RolloutTableName';
export const SAMCONFIG = 'samconfig.toml';

/**
 * The `stack_name` `sam deploy` uses from `dir/samconfig.toml`: the `default` environment's
 * `deploy` parameters, else its `global` parameters (SAM's own precedence). Reads the subset of
 * TOML samconfig files use: `[section]` headers and `key = "string"` lines.
 */
export function samconfigStackName(dir: string): string | undefined {
  const file = join(dir, SAMCONFIG);
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const found = new Map<string, string>();
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = line.match(/^\[([^\]]+)\]\s*(#.*)?$/);
    if (header) {
      section = header[1]!.replace(/["'\s]/g, '');
      continue;
    }
    const pair = line.match(/^["']?stack_name["']?\s*=\s*("((?:[^"\\]|\\.)*)"|'([^']*)')\s*(#.*)?$/);
    if (pair && !found.has(section)) found.set(section, pair[2] !== undefined ? pair[2].replace(/\\(.)/g, '$1') : pair[3]!);
  }
  const name = found.get('default.deploy.parameters') ?? found.get('default.global.parameters');
  return name?.trim() || undefined;
}

/** Resolves what a command needs, from flags first, else from the stack's outputs. */
export async function resolveStack(
  opts: StackOptions, needs: { stateMachine?: boolean; table?: boolean }, clients: AwsClients,
  where: { env: Record<string, string | undefined>; cwd: string },
): Promise<Stack> {
  const found: Stack = { stateMachineArn: opts.stateMachineArn, tableName: opts.table };
  const missing = (s: Stack) => (needs.stateMachine && !s.stateMachineArn) || (needs.table && !s.tableName);
  if (!missing(found)) return found;
  const fromSamconfig = opts.stack || where.env.CANARY_STACK ? undefined : samconfigStackName(where.cwd);
  const stackName = opts.stack || where.env.CANARY_STACK || fromSamconfig;
  const stackFrom = opts.stack ? '--stack' : where.env.CANARY_STACK ? 'CANARY_STACK' : SAMCONFIG;
  if (!stackName) {
    const flags = [needs.stateMachine && '--state-machine-arn ARN', needs.table && '--table NAME'].filter(Boolean).join(' and ');
    throw new CliError(`which stack? pass --stack NAME (or set CANARY_STACK, or run it where samconfig.toml names the stack_name), or ${flags}`);
  }
  const named = fromSamconfig ? `stack ${stackName} (the stack_name in ${SAMCONFIG})` : `stack ${stackName}`;
  let outputs: Record<string, string>;
  try {
    const out = await clients.cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new CliError(`${named} not found`);
    outputs = Object.fromEntries((stack.Outputs ?? []).filter((o) => o.OutputKey && o.OutputValue).map((o) => [o.OutputKey!, o.OutputValue!]));
  } catch (error) {
    const e = error as Error;
    if (e.name === 'ValidationError' && /does not exist/.test(e.message)) {
      throw new CliError(`${named} does not exist in ${clients.session.region ?? 'the profile\'s region'}: check ${fromSamconfig ? `${SAMCONFIG}, --stack` : '--stack / CANARY_STACK'} and --region`);
    }
    throw awsFailure(`could not read ${named}`, error);
  }
  const resolved: Stack = {
    stackName, stackFrom,
    stateMachineArn: found.stateMachineArn ?? outputs[OUTPUT_STATE_MACHINE],
    tableName: found.tableName ?? outputs[OUTPUT_TABLE],
  };
  if (needs.stateMachine && !resolved.stateMachineArn) {
    throw new CliError(`${named} has no output ${OUTPUT_STATE_MACHINE}: is it a canary analyzer stack? (or pass --state-machine-arn)`);
  }
  if (needs.table && !resolved.tableName) {
    throw new CliError(`${named} has no output ${OUTPUT_TABLE}: is it a canary analyzer stack? (or pass --table)`);
  }
  return resolved;
}

/**
 * The ARN of execution `name` of a state machine: how `status` and `abort` find a rollout still
 * in preflight, before its record exists.
 */
export function executionArnOf(stateMachineArn: string, name: string): string | undefined {
  const m = stateMachineArn.match(/^(arn:[^:]+:states:[^:]*:[^:]*):stateMachine:([^:]+)$/);
  return m ? `${m[1]}:execution:${m[2]}:${name}` : undefined;
}
