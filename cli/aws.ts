/**
 * The deployed stack, as the CLI finds it: CloudFormation outputs `StateMachineArn` and
 * `RolloutTableName` of `--stack NAME` (or $CANARY_STACK), or `--state-machine-arn` and `--table`.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CliError } from './io.ts';

export interface StackOptions {
  stack?: string;
  stateMachineArn?: string;
  table?: string;
  region?: string;
  endpointUrl?: string;
}

export interface AwsClients {
  region?: string;
  sfn: SFNClient;
  dynamo: DynamoDBDocumentClient;
  cfn: CloudFormationClient;
}

export function makeClients(opts: StackOptions, env: Record<string, string | undefined>): AwsClients {
  const region = opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const endpoint = opts.endpointUrl ?? env.AWS_ENDPOINT_URL ?? undefined;
  const common = { ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}), maxAttempts: 3 };
  return {
    region,
    sfn: new SFNClient(common),
    cfn: new CloudFormationClient(common),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient(common), { marshallOptions: { removeUndefinedValues: true } }),
  };
}

export interface Stack {
  stackName?: string;
  stateMachineArn?: string;
  tableName?: string;
}

export const OUTPUT_STATE_MACHINE = 'StateMachineArn';
export const OUTPUT_TABLE = 'RolloutTableName';

/** Resolves what a command needs, from flags first, else from the stack's outputs. */
export async function resolveStack(
  opts: StackOptions, needs: { stateMachine?: boolean; table?: boolean }, clients: AwsClients, env: Record<string, string | undefined>,
): Promise<Stack> {
  const found: Stack = { stateMachineArn: opts.stateMachineArn, tableName: opts.table };
  const missing = (s: Stack) => (needs.stateMachine && !s.stateMachineArn) || (needs.table && !s.tableName);
  if (!missing(found)) return found;
  const stackName = opts.stack ?? env.CANARY_STACK;
  if (!stackName) {
    const flags = [needs.stateMachine && '--state-machine-arn ARN', needs.table && '--table NAME'].filter(Boolean).join(' and ');
    throw new CliError(`which stack? pass --stack NAME (or set CANARY_STACK), or ${flags}`);
  }
  let outputs: Record<string, string>;
  try {
    const out = await clients.cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new CliError(`stack ${stackName} not found`);
    outputs = Object.fromEntries((stack.Outputs ?? []).filter((o) => o.OutputKey && o.OutputValue).map((o) => [o.OutputKey!, o.OutputValue!]));
  } catch (error) {
    if (error instanceof CliError) throw error;
    const e = error as Error;
    if (e.name === 'ValidationError' && /does not exist/.test(e.message)) {
      throw new CliError(`stack ${stackName} does not exist in ${clients.region ?? 'the default region'}: check --stack / CANARY_STACK and --region`);
    }
    throw new CliError(`could not read stack ${stackName}: ${e.name}: ${e.message}`);
  }
  const resolved: Stack = {
    stackName,
    stateMachineArn: found.stateMachineArn ?? outputs[OUTPUT_STATE_MACHINE],
    tableName: found.tableName ?? outputs[OUTPUT_TABLE],
  };
  if (needs.stateMachine && !resolved.stateMachineArn) {
    throw new CliError(`stack ${stackName} has no output ${OUTPUT_STATE_MACHINE}: is it a canary analyzer stack? (or pass --state-machine-arn)`);
  }
  if (needs.table && !resolved.tableName) {
    throw new CliError(`stack ${stackName} has no output ${OUTPUT_TABLE}: is it a canary analyzer stack? (or pass --table)`);
  }
  return resolved;
}
