/**
 * The AWS side of the integration tier, on moto_server: real SDK v3 clients over HTTP with fake
 * credentials, and the few resources the stack's template would create (a hosted zone with two
 * weighted records, the rollouts table, the incident topic with an SQS queue subscribed to it),
 * plus read-backs the tests assert on.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { resetAwsDeps } from '../../../functions/commons/aws-deps.ts';

export const REGION = 'us-east-1';
export const FAKE_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
export const BASELINE_ID = 'blue';
export const CANARY_ID = 'green';

export interface Clients {
  route53: Route53Client;
  cloudwatch: CloudWatchClient;
  dynamo: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  sns: SNSClient;
}

export function awsClients(endpoint: string, options: { maxAttempts?: number } = {}): Clients {
  const common = { region: REGION, endpoint, credentials: FAKE_CREDENTIALS, maxAttempts: options.maxAttempts ?? 3 };
  const dynamo = new DynamoDBClient(common);
  return {
    route53: new Route53Client(common),
    // The SDK gzips PutMetricData bodies over 10 KB; moto 5 fails to read them (BadGzipFile).
    cloudwatch: new CloudWatchClient({ ...common, disableRequestCompression: true }),
    dynamo,
    doc: DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }),
    sns: new SNSClient(common),
  };
}

export async function createZone(route53: Route53Client, name: string): Promise<string> {
  const out = await route53.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `${name}-${Date.now()}-${Math.random()}` }));
  return out.HostedZone!.Id!.replace(/^\/hostedzone\//, '');
}

/** The target's weighted pair: baseline 'blue' and canary 'green' (omitted when `canary` is null), TTL 60. */
export async function createWeightedPair(route53: Route53Client, zoneId: string, recordName: string,
  weights: { baseline: number; canary: number | null } = { baseline: 100, canary: 0 }, ttl = 60): Promise<void> {
  const record = (id: string, weight: number, ip: string): ResourceRecordSet => ({
    Name: recordName, Type: 'A', SetIdentifier: id, Weight: weight, TTL: ttl, ResourceRecords: [{ Value: ip }],
  });
  const changes = [{ Action: 'CREATE' as const, ResourceRecordSet: record(BASELINE_ID, weights.baseline, '10.0.0.1') }];
  if (weights.canary !== null) changes.push({ Action: 'CREATE' as const, ResourceRecordSet: record(CANARY_ID, weights.canary, '10.0.0.2') });
  await route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }));
}

/** Weight of each weighted record of the name (type A), by SetIdentifier, as Route 53 lists them. */
export async function readWeights(route53: Route53Client, zoneId: string, recordName: string): Promise<Record<string, number>> {
  const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: recordName, StartRecordType: 'A' }));
  const weights: Record<string, number> = {};
  for (const rrs of out.ResourceRecordSets ?? []) {
    if (rrs.Type !== 'A' || rrs.Name?.replace(/\.$/, '') !== recordName.replace(/\.$/, '') || rrs.SetIdentifier === undefined) continue;
    weights[rrs.SetIdentifier] = rrs.Weight ?? 0;
  }
  return weights;
}

/** The rollouts table as template.yaml declares it: hash key `pk`, GSI `byStart` (gsi1pk, startedAt). */
export async function createRolloutsTable(dynamo: DynamoDBClient, tableName: string): Promise<void> {
  await dynamo.send(new CreateTableCommand({
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'startedAt', AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [{
      IndexName: 'byStart',
      KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }, { AttributeName: 'startedAt', KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'ALL' },
    }],
  }));
}

export async function getItem(doc: DynamoDBDocumentClient, tableName: string, pk: string): Promise<Record<string, unknown> | undefined> {
  const out = await doc.send(new GetCommand({ TableName: tableName, Key: { pk }, ConsistentRead: true }));
  return out.Item;
}

/**
 * SQS over its JSON protocol with `fetch`: the project has no SQS client dependency, and the
 * tests only create a queue and read it back. moto does not check signatures; the header only
 * names the region.
 */
async function sqs<T>(endpoint: string, action: string, body: unknown): Promise<T> {
  const response = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`SQS ${action} answered HTTP ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

export interface IncidentInbox {
  topicArn: string;
  queueUrl: string;
}

/** The stack's incident topic with an SQS queue subscribed, so incidents can be read back. */
export async function createIncidentInbox(endpoint: string, sns: SNSClient, name: string): Promise<IncidentInbox> {
  const { QueueUrl: queueUrl } = await sqs<{ QueueUrl: string }>(endpoint, 'CreateQueue', { QueueName: `${name}-inbox` });
  const { Attributes } = await sqs<{ Attributes: { QueueArn: string } }>(endpoint, 'GetQueueAttributes', { QueueUrl: queueUrl, AttributeNames: ['QueueArn'] });
  const { TopicArn: topicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
  await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes.QueueArn }));
  return { topicArn: topicArn!, queueUrl };
}

/** What the SNS incident target publishes (see SnsIncidentTarget). */
export interface PublishedIncident {
  type: string;
  rolloutId: string;
  service: string;
  target: string;
  severity: string;
  title: string;
  summary: string;
  decision: { outcome: string; reasons: string[]; failing: { name: string; verdict: string }[] };
  /** The SNS Subject, when the message came wrapped in SNS's envelope. */
  subject?: string;
}

/** Opened incidents only (later updates of the same incident, `canary.incident-update`, are not new ones). */
export const opened = (messages: PublishedIncident[]) => messages.filter((m) => m.type === 'canary.rollback');

/**
 * Drains the queue: every incident message published so far. SNS wraps the message in its JSON envelope
 * (`Type: 'Notification'`, `Message`, `Subject`) unless the subscription asks for raw delivery;
 * moto wraps by default. Both shapes are accepted.
 */
export async function drainIncidents(endpoint: string, inbox: IncidentInbox): Promise<PublishedIncident[]> {
  const incidents: PublishedIncident[] = [];
  for (;;) {
    const out = await sqs<{ Messages?: { Body: string; ReceiptHandle: string }[] }>(endpoint, 'ReceiveMessage', {
      QueueUrl: inbox.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 30,
    });
    const messages = out.Messages ?? [];
    if (messages.length === 0) return incidents;
    for (const m of messages) {
      const body = JSON.parse(m.Body) as Record<string, unknown>;
      const wrapped = body.Type === 'Notification' && typeof body.Message === 'string';
      const incident = (wrapped ? JSON.parse(body.Message as string) : body) as PublishedIncident;
      if (wrapped && typeof body.Subject === 'string') incident.subject = body.Subject;
      incidents.push(incident);
      await sqs(endpoint, 'DeleteMessage', { QueueUrl: inbox.queueUrl, ReceiptHandle: m.ReceiptHandle });
    }
  }
}

/**
 * Points the handlers' wiring (functions/commons/aws-deps.ts) at moto and forgets any clients
 * wired before. Vitest runs each file in its own process, so the environment does not leak.
 */
export function pointHandlersAt(endpoint: string, env: { tableName: string; topicArn: string; allowedZones: string[] }): void {
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    CANARY_AWS_ENDPOINT: endpoint,
    TABLE_NAME: env.tableName,
    TOPIC_ARN: env.topicArn,
    ALLOWED_HOSTED_ZONE_IDS: env.allowedZones.join(','),
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  resetAwsDeps();
}
