/**
 * Incidents are opened once, then updated (RECOVERED, ESCALATED, RESOLVED) on every target that
 * supports it, under the same ids: SNS messages with the same rolloutId and dedupKey, the same
 * OpsItem updated, PagerDuty `resolve` (or a new `trigger`) with the same dedup_key. Webhooks go
 * to a real HTTP receiver on 127.0.0.1 standing in for PagerDuty and Slack.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateOpsItemCommand, SSMClient, UpdateOpsItemCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildIncident, type IncidentChange, type IncidentDelivery } from '../../functions/core/incident.ts';
import {
  buildIncidentTargets,
  IncidentNotifier,
  OpsCenterIncidentTarget,
  SnsIncidentTarget,
  WebhookIncidentTarget,
  type IncidentTarget,
} from '../../functions/adapters/incident-targets.ts';

const snsMock = mockClient(SNSClient);
const ssmMock = mockClient(SSMClient);
const secretsMock = mockClient(SecretsManagerClient);

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:canary-incidents';
const region = { region: 'us-east-1' };

const incident = buildIncident({
  rolloutId: 'r-7',
  service: 'api',
  target: 'Z0123456789ABCDEFGHIJ/api.example.com/A',
  decision: {
    outcome: 'ROLLED_BACK', at: '2025-06-01T12:10:00.000Z', stageIndex: 2, weight: 10, failing: [],
    reasons: ['error-rate 3.10 % is above the maximum 1 % (2400 requests in 5 periods)'],
  },
});

const recovered: IncidentChange = { kind: 'RECOVERED', at: '2025-06-01T12:20:00.000Z', note: 'baseline back within thresholds' };
const escalated: IncidentChange = { kind: 'ESCALATED', at: '2025-06-01T12:25:00.000Z', note: 'the rollback did not fix it', severity: 'critical' };
const resolved: IncidentChange = { kind: 'RESOLVED', at: '2025-06-01T13:00:00.000Z', note: 'soak passes again' };
const status2: IncidentChange = { kind: 'STATUS', at: '2025-06-01T12:40:00.000Z', seq: 2, note: 'Status update 2: not recovered yet: error-rate 2.10 %' };

/** A local HTTP receiver: records every request body and answers from `status`. */
interface Receiver {
  url: string;
  requests: { path: string; body: Record<string, unknown> }[];
  status: number;
}

let server: Server;
const receiver: Receiver = { url: '', requests: [], status: 202 };

const readBody = (req: IncomingMessage) => new Promise<string>((resolve, reject) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  req.on('error', reject);
});

beforeAll(async () => {
  server = createServer((req, res) => {
    void readBody(req).then((text) => {
      receiver.requests.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(receiver.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(receiver.status < 300 ? { status: 'success', message: 'Event processed', dedup_key: 'ignored-by-update' } : { status: 'error' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  snsMock.reset();
  ssmMock.reset();
  secretsMock.reset();
  receiver.requests = [];
  receiver.status = 202;
});

describe('SnsIncidentTarget.update', () => {
  it('publishes the change with eventType = kind under the same rolloutId and dedupKey', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-open' }).on(PublishCommand, { MessageAttributes: { eventType: { DataType: 'String', StringValue: 'RECOVERED' } } }).resolves({ MessageId: 'msg-recovered' });
    const target = new SnsIncidentTarget(new SNSClient(region), TOPIC);

    // Act
    await target.deliver(incident);
    const result = await target.update(incident, recovered);

    // Assess
    expect(result).toEqual({ id: 'msg-recovered' });
    const [open, update] = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(update!.MessageAttributes).toEqual({
      rolloutId: { DataType: 'String', StringValue: 'r-7' },
      dedupKey: { DataType: 'String', StringValue: 'canary-rollout-r-7' },
      eventType: { DataType: 'String', StringValue: 'RECOVERED' },
      severity: { DataType: 'String', StringValue: 'error' },
    });
    expect(update!.MessageAttributes!.rolloutId).toEqual(open!.MessageAttributes!.rolloutId);
    expect(update!.MessageAttributes!.dedupKey).toEqual(open!.MessageAttributes!.dedupKey);
    expect(update!.Subject).toBe(`[RECOVERED] ${incident.title}`.slice(0, 97) + '...');
    expect(JSON.parse(update!.Message!)).toEqual({
      version: 1, type: 'canary.incident-update', eventType: 'RECOVERED', rolloutId: 'r-7', dedupKey: 'canary-rollout-r-7',
      service: 'api', target: incident.target, severity: 'error', title: incident.title, note: 'baseline back within thresholds', at: recovered.at,
    });
  });

  it('gives each change its own de-duplication id on a FIFO topic', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
    const target = new SnsIncidentTarget(new SNSClient(region), `${TOPIC}.fifo`);

    // Act
    await target.update(incident, escalated);

    // Assess
    expect(snsMock.commandCalls(PublishCommand)[0]!.args[0].input).toMatchObject({
      MessageGroupId: 'r-7', MessageDeduplicationId: 'canary-rollout-r-7-ESCALATED',
    });
    expect(JSON.parse(snsMock.commandCalls(PublishCommand)[0]!.args[0].input.Message!)).toMatchObject({ eventType: 'ESCALATED', severity: 'critical' });
  });
});

describe('SnsIncidentTarget.update with a STATUS update', () => {
  it('publishes eventType STATUS with its number, in the subject, the message and the FIFO de-duplication id', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-s' });
    const target = new SnsIncidentTarget(new SNSClient(region), `${TOPIC}.fifo`);

    // Act
    await target.update(incident, status2);
    await target.update(incident, { ...status2, seq: 3 });

    // Assess
    const [second, third] = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(second).toEqual({
      TopicArn: `${TOPIC}.fifo`,
      Subject: `[STATUS 2] ${incident.title}`.slice(0, 97) + '...',
      Message: JSON.stringify({
        version: 1, type: 'canary.incident-update', eventType: 'STATUS', rolloutId: 'r-7', dedupKey: 'canary-rollout-r-7', service: 'api',
        target: incident.target, severity: 'error', title: incident.title, seq: 2, note: status2.note, at: status2.at,
      }),
      MessageAttributes: {
        rolloutId: { DataType: 'String', StringValue: 'r-7' },
        dedupKey: { DataType: 'String', StringValue: 'canary-rollout-r-7' },
        eventType: { DataType: 'String', StringValue: 'STATUS' },
        severity: { DataType: 'String', StringValue: 'error' },
      },
      MessageGroupId: 'r-7',
      MessageDeduplicationId: 'canary-rollout-r-7-STATUS-2',
    });
    expect(third!.MessageDeduplicationId).toBe('canary-rollout-r-7-STATUS-3');
  });
});

describe('OpsCenterIncidentTarget.update', () => {
  const opened: IncidentDelivery = { target: 'opscenter', ok: true, attempts: 1, id: 'oi-0123456789ab' };

  it('resolves the OpsItem opened for the incident on RECOVERED, keeping the note', async () => {
    // Prepare
    ssmMock.on(UpdateOpsItemCommand).resolves({});
    const target = new OpsCenterIncidentTarget(new SSMClient(region), '2');

    // Act
    const result = await target.update(incident, recovered, opened);

    // Assess
    expect(result).toEqual({ id: 'oi-0123456789ab' });
    expect(ssmMock.commandCalls(UpdateOpsItemCommand)[0]!.args[0].input).toEqual({
      OpsItemId: 'oi-0123456789ab',
      Status: 'Resolved',
      OperationalData: {
        canaryRecovered: { Type: 'String', Value: JSON.stringify({ at: recovered.at, note: recovered.note }) },
      },
    });
  });

  it('raises the severity on ESCALATED and leaves the OpsItem open', async () => {
    // Prepare
    ssmMock.on(UpdateOpsItemCommand).resolves({});
    const target = new OpsCenterIncidentTarget(new SSMClient(region), '3');

    // Act
    await target.update(incident, { ...escalated, severity: 'error' }, opened);
    await target.update(incident, escalated, opened);

    // Assess
    const [bump, critical] = ssmMock.commandCalls(UpdateOpsItemCommand).map((c) => c.args[0].input);
    expect(bump).toMatchObject({ OpsItemId: 'oi-0123456789ab', Severity: '2' });
    expect(bump).not.toHaveProperty('Status');
    expect(critical).toMatchObject({ Severity: '1' });
    expect(Object.keys(critical!.OperationalData!)).toEqual(['canaryEscalated']);
  });

  it('keeps a STATUS update as the latest note, changing neither the status nor the severity', async () => {
    // Prepare
    ssmMock.on(UpdateOpsItemCommand).resolves({});
    const target = new OpsCenterIncidentTarget(new SSMClient(region), '2');

    // Act
    await target.update(incident, status2, opened);

    // Assess
    expect(ssmMock.commandCalls(UpdateOpsItemCommand).map((c) => c.args[0].input)).toEqual([{
      OpsItemId: 'oi-0123456789ab',
      OperationalData: { canaryStatus: { Type: 'String', Value: JSON.stringify({ at: status2.at, seq: 2, note: status2.note }) } },
    }]);
  });

  it('fails, naming the incident, when no OpsItem id was recorded at open', async () => {
    // Prepare
    const target = new OpsCenterIncidentTarget(new SSMClient(region), '2');

    // Act
    const result = target.update(incident, recovered, { target: 'opscenter', ok: false, attempts: 3, error: 'boom' });

    // Assess
    await expect(result).rejects.toThrow(/no OpsItem id was recorded when incident canary-rollout-r-7 was opened/);
    expect(ssmMock.commandCalls(UpdateOpsItemCommand)).toHaveLength(0);
  });
});

describe('WebhookIncidentTarget.update against a receiver on 127.0.0.1', () => {
  const pagerDuty = () => new WebhookIncidentTarget({
    type: 'pagerduty', secretId: 'pd-key', secrets: new SecretsManagerClient(region), pagerDutyUrl: `${receiver.url}/v2/enqueue`,
  });

  it('PagerDuty: a trigger, then a resolve with the same dedup_key', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: '{"routingKey":"R0UTING"}' });
    const target = pagerDuty();

    // Act
    await target.deliver(incident);
    const result = await target.update(incident, recovered);

    // Assess
    expect(result).toEqual({ id: 'canary-rollout-r-7' });
    expect(receiver.requests.map((r) => r.path)).toEqual(['/v2/enqueue', '/v2/enqueue']);
    const [trigger, resolve] = receiver.requests.map((r) => r.body);
    expect(trigger).toMatchObject({ routing_key: 'R0UTING', event_action: 'trigger', dedup_key: 'canary-rollout-r-7' });
    expect(resolve).toEqual({ routing_key: 'R0UTING', event_action: 'resolve', dedup_key: 'canary-rollout-r-7' });
  });

  it('PagerDuty: ESCALATED triggers again, same dedup_key, at severity critical', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: 'R0UTING' });
    const target = pagerDuty();

    // Act
    await target.deliver(incident);
    await target.update(incident, escalated);

    // Assess
    const [first, second] = receiver.requests.map((r) => r.body);
    expect(first).toMatchObject({ event_action: 'trigger', dedup_key: 'canary-rollout-r-7', payload: { severity: 'error' } });
    expect(second).toMatchObject({
      routing_key: 'R0UTING', event_action: 'trigger', dedup_key: 'canary-rollout-r-7',
      payload: {
        summary: `[ESCALATED] ${incident.title}`, severity: 'critical', source: incident.target, component: 'api',
        custom_details: { escalated: true, note: 'the rollback did not fix it', at: escalated.at, rolloutId: 'r-7' },
      },
    });
  });

  it('Slack: one more message naming the change', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: `${receiver.url}/services/T0/B0/SECRET` });
    const target = new WebhookIncidentTarget({ type: 'slack', secretId: 'slack-url', secrets: new SecretsManagerClient(region) });

    // Act
    await target.update(incident, resolved);

    // Assess
    expect(receiver.requests).toEqual([{ path: '/services/T0/B0/SECRET', body: { text: `*[RESOLVED] ${incident.title}*\nsoak passes again` } }]);
  });

  it('Slack: a STATUS update is one more message with its number; PagerDuty takes none', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: `${receiver.url}/services/T0/B0/SECRET` });
    const slack = new WebhookIncidentTarget({ type: 'slack', secretId: 'slack-url', secrets: new SecretsManagerClient(region) });

    // Act
    await slack.update(incident, status2);
    const refused = pagerDuty().update(incident, status2);

    // Assess
    expect(receiver.requests).toEqual([{ path: '/services/T0/B0/SECRET', body: { text: `*[STATUS 2] ${incident.title}*\n${status2.note}` } }]);
    expect(slack.accepts(status2)).toBe(true);
    expect(pagerDuty().accepts(status2)).toBe(false);
    expect(pagerDuty().accepts(recovered)).toBe(true);
    await expect(refused).rejects.toThrow(/PagerDuty takes no STATUS updates/);
  });

  it('still refuses a Slack URL that is neither https nor this machine', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: 'http://hooks.example.com/services/T0/B0/X' });
    const target = new WebhookIncidentTarget({ type: 'slack', secretId: 'slack-url', secrets: new SecretsManagerClient(region) });

    // Act
    const result = target.update(incident, resolved);

    // Assess
    await expect(result).rejects.toThrow(/does not hold an https:\/\/ URL/);
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('IncidentNotifier.update', () => {
  it('updates every target that supports it, each with its own opened delivery, and never throws', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-u' });
    ssmMock.on(CreateOpsItemCommand).resolves({ OpsItemId: 'oi-1' });
    ssmMock.on(UpdateOpsItemCommand).resolves({});
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: 'R0UTING' });
    receiver.status = 500;
    const targets = buildIncidentTargets(
      { opsCenter: { enabled: true, severity: '2' }, webhook: { type: 'pagerduty', secretId: 'pd-key' } },
      { sns: new SNSClient(region), ssm: new SSMClient(region), secrets: new SecretsManagerClient(region), stackTopicArn: TOPIC, pagerDutyUrl: `${receiver.url}/v2/enqueue` },
    );
    const openOnly: IncidentTarget = { name: 'slack', deliver: async () => ({}) };
    const notifier = new IncidentNotifier([...targets, openOnly], { attempts: 2, sleep: async () => {} });
    const opened: IncidentDelivery[] = [
      { target: 'sns', ok: true, attempts: 1, id: 'msg-open' },
      { target: 'opscenter', ok: true, attempts: 1, id: 'oi-1' },
      { target: 'pagerduty', ok: true, attempts: 1, id: 'canary-rollout-r-7' },
    ];

    // Act
    const deliveries = await notifier.update(incident, undefined, recovered, opened);

    // Assess
    expect(deliveries).toEqual([
      { target: 'sns', ok: true, attempts: 1, id: 'msg-u' },
      { target: 'opscenter', ok: true, attempts: 1, id: 'oi-1' },
      { target: 'pagerduty', ok: false, attempts: 2, error: expect.stringContaining('pagerduty webhook answered HTTP 500') },
    ]);
    expect(ssmMock.commandCalls(UpdateOpsItemCommand)[0]!.args[0].input).toMatchObject({ OpsItemId: 'oi-1', Status: 'Resolved' });
    expect(receiver.requests.map((r) => r.body)).toEqual([
      { routing_key: 'R0UTING', event_action: 'resolve', dedup_key: 'canary-rollout-r-7' },
      { routing_key: 'R0UTING', event_action: 'resolve', dedup_key: 'canary-rollout-r-7' },
    ]);
  });

  it('sends a STATUS update to every target but PagerDuty, which it leaves alone', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-s' });
    ssmMock.on(UpdateOpsItemCommand).resolves({});
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: 'R0UTING' });
    const targets = buildIncidentTargets(
      { opsCenter: { enabled: true, severity: '2' }, webhook: { type: 'pagerduty', secretId: 'pd-key' } },
      { sns: new SNSClient(region), ssm: new SSMClient(region), secrets: new SecretsManagerClient(region), stackTopicArn: TOPIC, pagerDutyUrl: `${receiver.url}/v2/enqueue` },
    );
    const opened: IncidentDelivery[] = [
      { target: 'sns', ok: true, attempts: 1, id: 'msg-open' },
      { target: 'opscenter', ok: true, attempts: 1, id: 'oi-1' },
      { target: 'pagerduty', ok: true, attempts: 1, id: 'canary-rollout-r-7' },
    ];

    // Act
    const deliveries = await new IncidentNotifier(targets, { attempts: 1, sleep: async () => {} }).update(incident, undefined, status2, opened);

    // Assess
    expect(deliveries).toEqual([
      { target: 'sns', ok: true, attempts: 1, id: 'msg-s' },
      { target: 'opscenter', ok: true, attempts: 1, id: 'oi-1' },
    ]);
    expect(snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input.MessageAttributes!.eventType!.StringValue)).toEqual(['STATUS']);
    expect(ssmMock.commandCalls(UpdateOpsItemCommand).map((c) => Object.keys(c.args[0].input.OperationalData!))).toEqual([['canaryStatus']]);
    expect(receiver.requests).toEqual([]);
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});
