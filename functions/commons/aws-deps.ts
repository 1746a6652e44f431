/**
 * Wires the rollout steps' ports to AWS: one adapter per service, clients created once per
 * Lambda container from the stack's environment (see template.yaml).
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CloudWatchMetrics } from '../adapters/cloudwatch-metrics.ts';
import { DynamoLocks, DynamoRollouts } from '../adapters/dynamodb-store.ts';
import { DynamoSoakStore } from '../adapters/dynamodb-soak-store.ts';
import { IncidentNotifier, buildIncidentTargets } from '../adapters/incident-targets.ts';
import { Route53Traffic } from '../adapters/route53-traffic.ts';
import { S3Evidence } from '../adapters/s3-evidence.ts';
import type { Deps } from '../core/ports.ts';
import { defaultJudge } from '../core/default-judge.ts';
import { decisionMetrics, logger } from './powertools.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set (it comes from template.yaml)`);
  return value;
}

let cached: Deps | undefined;

export function awsDeps(): Deps {
  cached ??= wire();
  return cached;
}

function wire(): Deps {
  const region = process.env.AWS_REGION;
  const endpoint = process.env.CANARY_AWS_ENDPOINT || undefined; // moto_server / LocalStack in tests
  const common = { region, endpoint, maxAttempts: 3 };
  // Optional: without a bucket (tests, old stacks) only the rollout record keeps the evidence.
  const evidenceBucket = process.env.EVIDENCE_BUCKET || undefined;
  const stackName = process.env.STACK_NAME || undefined;
  const tableName = required('TABLE_NAME');
  const topicArn = required('TOPIC_ARN');
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(common), { marshallOptions: { removeUndefinedValues: true } });
  const sns = new SNSClient(common);
  const ssm = new SSMClient(common);
  const secrets = new SecretsManagerClient(common);
  return {
    traffic: new Route53Traffic(new Route53Client({ ...common, region: 'us-east-1' })),
    metrics: new CloudWatchMetrics(new CloudWatchClient(common)),
    locks: new DynamoLocks(dynamo, tableName),
    rollouts: new DynamoRollouts(dynamo, tableName),
    incidents: {
      open: (incident, routing) =>
        new IncidentNotifier(buildIncidentTargets(routing, { sns, ssm, secrets, stackTopicArn: topicArn })).open(incident),
      update: (incident, routing, change, opened) =>
        new IncidentNotifier(buildIncidentTargets(routing, { sns, ssm, secrets, stackTopicArn: topicArn })).update(incident, routing, change, opened),
    },
    soaks: new DynamoSoakStore(dynamo, tableName),
    judge: defaultJudge,
    clock: { now: () => new Date() },
    log: logger,
    decisionMetrics,
    allowedHostedZoneIds: (process.env.ALLOWED_HOSTED_ZONE_IDS ?? '').split(',').map((z) => z.trim()).filter(Boolean),
    evidence: evidenceBucket ? new S3Evidence(new S3Client({ ...common, forcePathStyle: Boolean(endpoint) }), evidenceBucket) : undefined,
    reportCommand: (rolloutId) => `canary report ${rolloutId}${stackName ? ` --stack ${stackName}` : ''}`,
    consoleLink: (arn) => `https://${arn.split(':')[3]}.console.aws.amazon.com/states/home?region=${arn.split(':')[3]}#/v2/executions/details/${arn}`,
  };
}

/**
 * Replaces some of the wired ports (tests and local runs: an in-memory store, a simulated
 * clock). The handlers then run unchanged on top of them.
 */
export function overrideAwsDeps(partial: Partial<Deps>): Deps {
  cached = { ...awsDeps(), ...partial };
  return cached;
}

/** Forgets the wired clients (tests change the environment between cases). */
export function resetAwsDeps(): void {
  cached = undefined;
}
