/**
 * The AWS side of the integration tier, on moto_server: real SDK v3 clients over HTTP with fake
 * credentials, and the few resources the stack's template would create (a hosted zone with two
 * weighted records, the incident topic with an SQS queue subscribed to it; the rollouts table is
 * made from template.yaml's own schema by test/helpers/rollouts-table.ts), plus read-backs the
 * tests assert on.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
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

type Next = (args: unknown) => Promise<unknown>;
interface MiddlewareStack { add(middleware: (next: Next) => Next, options: { step: 'finalizeRequest'; name: string; priority: 'low' }): void }

/**
 * Sends one request of `client` at a time (the others wait their turn). moto applies a
 * TransactWriteItems item by item and, when one fails its condition, puts back a copy of the whole
 * table taken when the transaction began: a request that lands in between (another rollout's
 * transaction in a race) is undone or half-applied. DynamoDB isolates transactions (serializably,
 * or cancels one with TransactionConflict); sending moto one request at a time gives that isolation
 * while the callers still race (their requests interleave in any order).
 */
export function serializeRequests<C extends { middlewareStack: unknown }>(client: C): C {
  let tail: Promise<unknown> = Promise.resolve();
  (client.middlewareStack as MiddlewareStack).add((next) => (args) => {
    const turn = tail.then(() => next(args));
    tail = turn.catch(() => undefined);
    return turn;
  }, { step: 'finalizeRequest', name: 'serializeRequests', priority: 'low' });
  return client;
}

export async function createZone(route53: Route53Client, name: string): Promise<string> {
  const out = await route53.send(new CreateHostedZoneCommand({ Name: name, CallerReference: `${name}-${Date.now()}-${Math.random()}` }));
  return out.HostedZone!.Id!.replace(/^\/hostedzone\//, '');
}

/**
 * The SetIdentifiers of a record's weighted pair, `<first label>-blue` (baseline) and
 * `<first label>-green` (canary): unique per record, because moto's DELETE of a weighted record
 * removes every record of the zone with that SetIdentifier, whatever its name (a compare-and-set
 * shift of one target would delete the other targets' records of the zone).
 */
export function pairIds(recordName: string): { baseline: string; canary: string } {
  const label = recordName.split('.')[0]!;
  return { baseline: `${label}-${BASELINE_ID}`, canary: `${label}-${CANARY_ID}` };
}

/** The target's weighted pair (see pairIds): baseline 10.0.0.1 and canary 10.0.0.2 (omitted when `canary` is null), TTL 60. */
export async function createWeightedPair(route53: Route53Client, zoneId: string, recordName: string,
  weights: { baseline: number; canary: number | null } = { baseline: 100, canary: 0 }, ttl = 60): Promise<void> {
  const ids = pairIds(recordName);
  const record = (id: string, weight: number, ip: string): ResourceRecordSet => ({
    Name: recordName, Type: 'A', SetIdentifier: id, Weight: weight, TTL: ttl, ResourceRecords: [{ Value: ip }],
  });
  const changes = [{ Action: 'CREATE' as const, ResourceRecordSet: record(ids.baseline, weights.baseline, '10.0.0.1') }];
  if (weights.canary !== null) changes.push({ Action: 'CREATE' as const, ResourceRecordSet: record(ids.canary, weights.canary, '10.0.0.2') });
  await route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes: changes } }));
}

/** The records of the name (type A), as Route 53 lists them. */
export async function listRecords(route53: Route53Client, zoneId: string, recordName: string): Promise<ResourceRecordSet[]> {
  const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordName: recordName, StartRecordType: 'A' }));
  return (out.ResourceRecordSets ?? []).filter((rrs) => rrs.Type === 'A' && rrs.Name?.replace(/\.$/, '') === recordName.replace(/\.$/, ''));
}

/** The weight of the pair's baseline and canary records (a missing record is left out), as Route 53 lists them. */
export async function readWeights(route53: Route53Client, zoneId: string, recordName: string): Promise<{ baseline?: number; canary?: number }> {
  const ids = pairIds(recordName);
  const weights: { baseline?: number; canary?: number } = {};
  for (const rrs of await listRecords(route53, zoneId, recordName)) {
    if (rrs.SetIdentifier === ids.baseline) weights.baseline = rrs.Weight ?? 0;
    else if (rrs.SetIdentifier === ids.canary) weights.canary = rrs.Weight ?? 0;
    else throw new Error(`${recordName} has a record ${rrs.SetIdentifier} that is not the pair's`);
  }
  return weights;
}

export async function getItem(doc: DynamoDBDocumentClient, tableName: string, pk: string): Promise<Record<string, unknown> | undefined> {
  const out = await doc.send(new GetCommand({ TableName: tableName, Key: { pk }, ConsistentRead: true }));
  return out.Item;
}

/**
 * A rollout's event items as the table holds them, in the byRollout index's order (evSk): read
 * with the SDK, not through DynamoRollouts, so the stored shape itself is what the tests see.
 */
export async function eventItems(doc: DynamoDBDocumentClient, tableName: string, rolloutId: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(new QueryCommand({
      TableName: tableName, IndexName: 'byRollout', KeyConditionExpression: 'evPk = :p',
      ExpressionAttributeValues: { ':p': `rollout#${rolloutId}` }, ExclusiveStartKey: startKey,
    }));
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
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
  /** The same for an incident and its later updates. */
  dedupKey: string;
  /** An update's change (`canary.incident-update`): RECOVERED, ESCALATED. */
  eventType?: string;
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
