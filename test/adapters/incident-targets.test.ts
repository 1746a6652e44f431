import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient, SNSServiceException } from '@aws-sdk/client-sns';
import { CreateOpsItemCommand, OpsItemAlreadyExistsException, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildIncident, type Incident } from '../../functions/core/incident.ts';
import {
  buildIncidentTargets,
  IncidentNotifier,
  OpsCenterIncidentTarget,
  SnsIncidentTarget,
  opsCenterSeverity,
  snsSubject,
  WebhookIncidentTarget,
  type IncidentTarget,
} from '../../functions/adapters/incident-targets.ts';

const snsMock = mockClient(SNSClient);
const ssmMock = mockClient(SSMClient);
const secretsMock = mockClient(SecretsManagerClient);

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:canary-incidents';

const incident: Incident = buildIncident({
  rolloutId: 'r-1',
  service: 'api',
  target: 'Z0123456789ABCDEFGHIJ/api.example.com/A',
  consoleLink: 'https://us-east-1.console.aws.amazon.com/states/home#/v2/executions/details/arn',
  decision: {
    outcome: 'ROLLED_BACK', at: '2025-06-01T12:10:00.000Z', stageIndex: 1, weight: 5, failing: [],
    reasons: ['critical metric failed: error-rate 4.20 % > max 1 % (canary, 2,400 requests)'],
  },
});

/** A rollback because the canary was starved of traffic: a warning, not a page. */
const starvedIncident: Incident = buildIncident({
  rolloutId: 'r-2', service: 'api', target: 'Z0123456789ABCDEFGHIJ/api.example.com/A',
  decision: {
    outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: '2025-06-01T12:10:00.000Z', stageIndex: 0, weight: 1,
    failing: [{
      name: 'traffic-share', verdict: 'FAIL', critical: false, reason: 'the canary served 0.1 % of requests at weight 1 %', test: 'traffic-share',
      canaryValue: 0.1, baselineValue: null, threshold: {}, sample: { canary: 10, baseline: 10 },
    }],
    reasons: ['the canary served 0.1 % of requests at weight 1 %', 'traffic did not follow the weight for 10 min'],
  },
});

/** A rollback on a critical metric's FAIL: it pages. */
const criticalIncident: Incident = buildIncident({
  rolloutId: 'r-3', service: 'api', target: 'Z0123456789ABCDEFGHIJ/api.example.com/A',
  decision: {
    outcome: 'ROLLED_BACK', trigger: 'VERDICT', at: '2025-06-01T12:10:00.000Z', stageIndex: 2, weight: 10,
    failing: [{
      name: 'error-rate', verdict: 'FAIL', critical: true, reason: 'error-rate 3.1 % > 1 %', test: 'sequential',
      canaryValue: 3.1, baselineValue: 0.05, threshold: { max: 1 }, sample: { canary: 5, baseline: 5 },
    }],
    reasons: ['critical metric failed: error-rate 3.1 % > 1 %'],
  },
});

/** A fetch that records its calls and answers from a list of responses. */
function fakeFetch(...responses: Response[]) {
  const calls: { url: string; init: RequestInit; body: unknown }[] = [];
  const fn = (async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {}, body: JSON.parse(String(init?.body)) });
    const response = responses.shift();
    if (!response) throw new Error('unexpected fetch');
    return response;
  }) as typeof fetch;
  return { fn, calls };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('SnsIncidentTarget', () => {
  beforeEach(() => {
    snsMock.reset();
  });

  it('publishes the incident as versioned JSON with filterable attributes', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-1' });
    const target = new SnsIncidentTarget(new SNSClient({ region: 'us-east-1' }), TOPIC);

    // Act
    const result = await target.deliver(incident);

    // Assess
    expect(result).toEqual({ id: 'msg-1' });
    const calls = snsMock.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toEqual({
      TopicArn: TOPIC,
      Subject: snsSubject(`[ERROR] ${incident.title}`),
      Message: expect.any(String),
      MessageAttributes: {
        rolloutId: { DataType: 'String', StringValue: 'r-1' },
        dedupKey: { DataType: 'String', StringValue: 'canary-rollout-r-1' },
        eventType: { DataType: 'String', StringValue: 'OPENED' },
        severity: { DataType: 'String', StringValue: 'error' },
      },
    });
    expect(input.Subject!.startsWith('[ERROR] Canary rollback: api at stage 2')).toBe(true);
    expect(JSON.parse(input.Message!)).toEqual({
      version: 1, type: 'canary.rollback', rolloutId: 'r-1', dedupKey: 'canary-rollout-r-1', service: 'api', target: incident.target,
      severity: 'error', severityReason: 'error: rolled back (cause not classified)', title: incident.title, summary: incident.summary,
      decision: incident.decision, consoleLink: incident.consoleLink,
    });
  });

  it('says a warning in the subject and the severity attribute (a subscription can filter pages on it)', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-w' });
    const target = new SnsIncidentTarget(new SNSClient({ region: 'us-east-1' }), TOPIC);

    // Act
    await target.deliver(starvedIncident);

    // Assess
    const input = snsMock.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input.Subject).toBe(snsSubject(`[WARNING] ${starvedIncident.title}`));
    expect(input.MessageAttributes!.severity).toEqual({ DataType: 'String', StringValue: 'warning' });
    expect(JSON.parse(input.Message!)).toMatchObject({ severity: 'warning', severityReason: expect.stringMatching(/^warning: the stage could not be judged: traffic did not follow the weight/) });
  });

  it('sets the group and de-duplication ids on a FIFO topic', async () => {
    // Prepare
    snsMock.on(PublishCommand).resolves({ MessageId: 'msg-2' });
    const target = new SnsIncidentTarget(new SNSClient({ region: 'us-east-1' }), `${TOPIC}.fifo`);

    // Act
    await target.deliver(incident);

    // Assess
    expect(snsMock.commandCalls(PublishCommand)[0]!.args[0].input).toMatchObject({
      TopicArn: `${TOPIC}.fifo`, MessageGroupId: 'r-1', MessageDeduplicationId: 'canary-rollout-r-1',
    });
  });
});

describe('snsSubject', () => {
  it('keeps at most 100 printable ASCII characters on one line', () => {
    // Prepare
    const title = `Canary rollback: api → stage 2\n${'é'.repeat(5)}${'x'.repeat(200)}…`;

    // Act
    const subject = snsSubject(title);

    // Assess
    expect(subject.length).toBeLessThanOrEqual(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject.startsWith('Canary rollback: api -> stage 2 x')).toBe(true);
  });
});

describe('OpsCenterIncidentTarget', () => {
  beforeEach(() => {
    ssmMock.reset();
  });

  it('creates one OpsItem, de-duplicated per rollout', async () => {
    // Prepare
    ssmMock.on(CreateOpsItemCommand).resolves({ OpsItemId: 'oi-123' });
    const target = new OpsCenterIncidentTarget(new SSMClient({ region: 'us-east-1' }), '1');

    // Act
    const result = await target.deliver(incident);

    // Assess
    expect(result).toEqual({ id: 'oi-123' });
    expect(ssmMock.commandCalls(CreateOpsItemCommand)[0]!.args[0].input).toEqual({
      Title: incident.title,
      Description: incident.summary,
      Source: 'canary-analyzer',
      Severity: '1',
      Category: 'Availability',
      OperationalData: {
        '/aws/dedup': { Type: 'SearchableString', Value: '{"dedupString":"canary-rollout-r-1"}' },
        rolloutId: { Type: 'SearchableString', Value: 'r-1' },
      },
    });
  });

  it('sets the OpsItem severity by the incident\'s: critical one above the configured, warning one below', async () => {
    // Prepare
    ssmMock.on(CreateOpsItemCommand).resolves({ OpsItemId: 'oi-9' });
    const severities = (configured: '1' | '2' | '3' | '4') => new OpsCenterIncidentTarget(new SSMClient({ region: 'us-east-1' }), configured);

    // Act
    for (const configured of ['2', '4', '1'] as const) {
      for (const i of [criticalIncident, incident, starvedIncident]) await severities(configured).deliver(i);
    }

    // Assess
    expect(ssmMock.commandCalls(CreateOpsItemCommand).map((c) => c.args[0].input.Severity)).toEqual(['1', '2', '3', '3', '4', '4', '1', '1', '2']);
    expect(opsCenterSeverity('critical', '2')).toBe('1');
  });

  it('treats an OpsItem that already exists as delivered', async () => {
    // Prepare
    ssmMock.on(CreateOpsItemCommand).rejects(new OpsItemAlreadyExistsException({ message: 'exists', OpsItemId: 'oi-1', $metadata: { httpStatusCode: 400 } }));
    const target = new OpsCenterIncidentTarget(new SSMClient({ region: 'us-east-1' }), '2');

    // Act
    const result = await target.deliver(incident);

    // Assess
    expect(result).toEqual({ id: 'oi-1' });
  });
});

describe('WebhookIncidentTarget', () => {
  beforeEach(() => {
    secretsMock.reset();
  });

  it('triggers a PagerDuty Events v2 alert with the dedup key, reading the secret once', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: 'R0UTINGKEY' });
    const fetch = fakeFetch(
      json(202, { status: 'success', message: 'Event processed', dedup_key: 'canary-rollout-r-1' }),
      json(202, { status: 'success', message: 'Event processed', dedup_key: 'canary-rollout-r-1' }),
    );
    const target = new WebhookIncidentTarget({ type: 'pagerduty', secretId: 'pd-key', secrets: new SecretsManagerClient({ region: 'us-east-1' }), fetch: fetch.fn });

    // Act
    const result = await target.deliver(incident);
    await target.deliver(incident);

    // Assess
    expect(result).toEqual({ id: 'canary-rollout-r-1' });
    expect(secretsMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: 'pd-key' }]);
    expect(fetch.calls).toHaveLength(2);
    expect(fetch.calls[0]!.url).toBe('https://events.pagerduty.com/v2/enqueue');
    expect(fetch.calls[0]!.init).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(fetch.calls[0]!.body).toEqual({
      routing_key: 'R0UTINGKEY',
      event_action: 'trigger',
      dedup_key: 'canary-rollout-r-1',
      payload: {
        summary: incident.title,
        source: 'Z0123456789ABCDEFGHIJ/api.example.com/A',
        severity: 'error',
        component: 'api',
        custom_details: {
          reasons: incident.decision!.reasons, severityReason: 'error: rolled back (cause not classified)', rolloutId: 'r-1', stage: 2, weight: 5,
          consoleLink: incident.consoleLink,
        },
      },
      links: [{ href: incident.consoleLink, text: 'Step Functions execution' }],
    });
  });

  it('triggers a starved canary\'s rollback at severity warning and a critical FAIL at critical', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: 'R0UTINGKEY' });
    const fetch = fakeFetch(json(202, { dedup_key: 'canary-rollout-r-2' }), json(202, { dedup_key: 'canary-rollout-r-3' }));
    const target = new WebhookIncidentTarget({ type: 'pagerduty', secretId: 'pd-key', secrets: new SecretsManagerClient({ region: 'us-east-1' }), fetch: fetch.fn });

    // Act
    await target.deliver(starvedIncident);
    await target.deliver(criticalIncident);

    // Assess
    expect(fetch.calls.map((c) => (c.body as { payload: { severity: string } }).payload.severity)).toEqual(['warning', 'critical']);
    expect(fetch.calls[0]!.body).toMatchObject({ payload: { custom_details: { severityReason: expect.stringMatching(/^warning: .*starved canary/) } } });
  });

  it('reads a routing key from a JSON secret and fails on a non-2xx answer', async () => {
    // Prepare
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: '{"routingKey":"FROMJSON"}' });
    const fetch = fakeFetch(json(400, { status: 'invalid event', message: 'Event object is invalid' }));
    const target = new WebhookIncidentTarget({
      type: 'pagerduty', secretId: 'pd-key', secrets: new SecretsManagerClient({ region: 'us-east-1' }), fetch: fetch.fn,
      pagerDutyUrl: 'http://127.0.0.1:9/enqueue',
    });

    // Act
    const result = target.deliver(incident);

    // Assess
    await expect(result).rejects.toThrow(/pagerduty webhook answered HTTP 400/);
    expect(fetch.calls[0]!.url).toBe('http://127.0.0.1:9/enqueue');
    expect(fetch.calls[0]!.body).toMatchObject({ routing_key: 'FROMJSON' });
  });

  it('posts the incident text to the Slack webhook URL without leaking it in errors', async () => {
    // Prepare
    const url = 'https://hooks.slack.com/services/T000/B000/SECRET';
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: url });
    const fetch = fakeFetch(new Response('ok', { status: 200 }), new Response('no_service', { status: 404 }));
    const target = new WebhookIncidentTarget({ type: 'slack', secretId: 'slack-url', secrets: new SecretsManagerClient({ region: 'us-east-1' }), fetch: fetch.fn });

    // Act
    const ok = await target.deliver(incident);
    const failed = await target.deliver(incident).catch((err: unknown) => err as Error);

    // Assess
    expect(ok).toEqual({});
    expect(fetch.calls[0]!.url).toBe(url);
    expect(fetch.calls[0]!.body).toEqual({ text: `*[ERROR] ${incident.title}*\n${incident.summary}` });
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toContain('HTTP 404');
    expect((failed as Error).message).not.toContain('SECRET');
  });
});

describe('IncidentNotifier', () => {
  beforeEach(() => {
    snsMock.reset();
  });

  it('retries a failing target, reports the one that keeps failing, and never throws', async () => {
    // Prepare
    snsMock.on(PublishCommand)
      .rejectsOnce(new SNSServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }))
      .resolves({ MessageId: 'msg-3' });
    let pagerDutyTries = 0;
    const broken: IncidentTarget = {
      name: 'pagerduty',
      deliver: async () => {
        pagerDutyTries++;
        throw new Error('connection refused');
      },
    };
    const sleeps: number[] = [];
    const notifier = new IncidentNotifier(
      [new SnsIncidentTarget(new SNSClient({ region: 'us-east-1' }), TOPIC), broken],
      { attempts: 3, backoffMs: 200, sleep: async (ms) => { sleeps.push(ms); } },
    );

    // Act
    const deliveries = await notifier.open(incident);

    // Assess
    expect(deliveries).toEqual([
      { target: 'sns', ok: true, attempts: 2, id: 'msg-3' },
      { target: 'pagerduty', ok: false, attempts: 3, error: 'Error: connection refused' },
    ]);
    expect(pagerDutyTries).toBe(3);
    expect(snsMock.commandCalls(PublishCommand)).toHaveLength(2);
    expect(sleeps.sort((a, b) => a - b)).toEqual([200, 200, 400]);
  });

  it('reports a target that throws synchronously instead of throwing', async () => {
    // Prepare
    const sync: IncidentTarget = { name: 'slack', deliver: () => { throw new TypeError('bad'); } };
    const notifier = new IncidentNotifier([sync], { attempts: 1, sleep: async () => {} });

    // Act
    const deliveries = await notifier.open(incident);

    // Assess
    expect(deliveries).toEqual([{ target: 'slack', ok: false, attempts: 1, error: 'TypeError: bad' }]);
  });
});

describe('buildIncidentTargets', () => {
  it('always includes the stack topic, then the configured targets', () => {
    // Prepare
    const clients = {
      sns: new SNSClient({ region: 'us-east-1' }), ssm: new SSMClient({ region: 'us-east-1' }),
      secrets: new SecretsManagerClient({ region: 'us-east-1' }), stackTopicArn: TOPIC,
    };

    // Act
    const minimal = buildIncidentTargets({ opsCenter: { enabled: false, severity: '2' } }, clients);
    const full = buildIncidentTargets({
      snsTopicArn: 'arn:aws:sns:us-east-1:123456789012:team-alerts',
      opsCenter: { enabled: true, severity: '1' },
      webhook: { type: 'pagerduty', secretId: 'pd-key' },
    }, clients);

    // Assess
    expect(minimal.map((t) => t.name)).toEqual(['sns']);
    expect(full.map((t) => t.name)).toEqual(['sns', 'sns', 'opscenter', 'pagerduty']);
  });
});
