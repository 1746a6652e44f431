/**
 * IncidentPort: one incident delivered to every target (SNS topics, an OpsCenter OpsItem, a
 * PagerDuty or Slack webhook) in parallel, each retried on its own; a target that keeps failing
 * is reported, never thrown, so the rollback it follows always concludes. Every target
 * de-duplicates on the incident's `dedupKey` where it can (FIFO topics, OpsCenter, PagerDuty).
 * The incident's severity (critical, error, warning: core/incident.ts severityOf) travels to
 * each in its own terms: an SNS attribute and the subject, OpsCenter's 1-4, PagerDuty's severity.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { CreateOpsItemCommand, UpdateOpsItemCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { IncidentConfig } from '../core/config.ts';
import { cleanText, opsCenterSeverity, type Incident, type IncidentChange, type IncidentDelivery, type Severity } from '../core/incident.ts';

export { opsCenterSeverity };
import type { IncidentPort } from '../core/ports.ts';
import { callAws, isAwsError } from './aws-errors.ts';

export type IncidentTargetName = IncidentDelivery['target'];

export interface IncidentTarget {
  readonly name: IncidentTargetName;
  /** Delivers the incident once; throws on failure. Returns the id the target gave it, if any. */
  deliver(incident: Incident): Promise<{ id?: string }>;
  /**
   * Sends a change of the incident under the same dedup key; throws on failure. `opened` is
   * what this target's `deliver` returned, when known. Targets without it are not updated.
   */
  update?(incident: Incident, change: IncidentChange, opened?: IncidentDelivery): Promise<{ id?: string }>;
  /** Whether this target takes this kind of change (default: every kind `update` exists for). */
  accepts?(change: IncidentChange): boolean;
}

/** `[RECOVERED] title`, `[STATUS 2] title`: the incident's title with the change in front. */
function changeTitle(incident: Incident, change: IncidentChange): string {
  return `[${change.kind}${change.kind === 'STATUS' && change.seq !== undefined ? ` ${change.seq}` : ''}] ${incident.title}`;
}

/** `[WARNING] title`: an opened incident's title with its severity in front (SNS subjects, Slack). */
function severityTitle(incident: Incident): string {
  return `[${incident.severity.toUpperCase()}] ${incident.title}`;
}


/** SNS Subject: at most 100 printable ASCII characters, no line breaks. */
export function snsSubject(title: string): string {
  const ascii = title
    .replace(/…/g, '...').replace(/→/g, '->').replace(/[–—]/g, '-')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '')
    .trim();
  const subject = ascii.length > 100 ? `${ascii.slice(0, 97)}...` : ascii;
  return subject || 'Canary rollback';
}

/** Publishes the incident as JSON to an SNS topic (FIFO topics de-duplicate on the dedup key). */
export class SnsIncidentTarget implements IncidentTarget {
  readonly name = 'sns' as const;
  readonly #client: SNSClient;
  readonly #topicArn: string;

  constructor(client: SNSClient, topicArn: string) {
    this.#client = client;
    this.#topicArn = topicArn;
  }

  async deliver(incident: Incident): Promise<{ id?: string }> {
    const fifo = this.#topicArn.endsWith('.fifo');
    const out = await callAws('SNS', () => this.#client.send(new PublishCommand({
      TopicArn: this.#topicArn,
      Subject: snsSubject(severityTitle(incident)),
      Message: JSON.stringify({
        version: 1,
        type: incident.source === 'soak' ? 'canary.soak' : 'canary.rollback',
        rolloutId: incident.rolloutId,
        dedupKey: incident.dedupKey,
        service: incident.service,
        target: incident.target,
        severity: incident.severity,
        severityReason: incident.severityReason,
        title: incident.title,
        summary: incident.summary,
        decision: incident.decision,
        reasons: incident.reasons,
        consoleLink: incident.consoleLink,
      }),
      MessageAttributes: this.#attributes(incident, 'OPENED', incident.severity),
      ...(fifo ? { MessageGroupId: incident.rolloutId, MessageDeduplicationId: incident.dedupKey } : {}),
    })));
    return { id: out.MessageId };
  }

  /**
   * A message of its own under the same rolloutId and dedupKey, `eventType` = the change (a
   * STATUS update carries its number, `seq`, which also tells FIFO topics apart).
   */
  async update(incident: Incident, change: IncidentChange): Promise<{ id?: string }> {
    const fifo = this.#topicArn.endsWith('.fifo');
    const out = await callAws('SNS', () => this.#client.send(new PublishCommand({
      TopicArn: this.#topicArn,
      Subject: snsSubject(changeTitle(incident, change)),
      Message: JSON.stringify({
        version: 1,
        type: 'canary.incident-update',
        eventType: change.kind,
        rolloutId: incident.rolloutId,
        dedupKey: incident.dedupKey,
        service: incident.service,
        target: incident.target,
        severity: change.severity ?? incident.severity,
        title: incident.title,
        ...(change.seq !== undefined ? { seq: change.seq } : {}),
        note: change.note,
        at: change.at,
        consoleLink: incident.consoleLink,
      }),
      MessageAttributes: this.#attributes(incident, change.kind, change.severity ?? incident.severity),
      ...(fifo ? { MessageGroupId: incident.rolloutId, MessageDeduplicationId: `${incident.dedupKey}-${change.kind}${change.seq !== undefined ? `-${change.seq}` : ''}`.slice(0, 128) } : {}),
    })));
    return { id: out.MessageId };
  }

  /** Attributes a subscription's filter policy can match (`severity` to page on critical only). */
  #attributes(incident: Incident, eventType: string, severity: Severity) {
    return {
      rolloutId: { DataType: 'String', StringValue: incident.rolloutId },
      dedupKey: { DataType: 'String', StringValue: incident.dedupKey },
      eventType: { DataType: 'String', StringValue: eventType },
      severity: { DataType: 'String', StringValue: severity },
    };
  }
}

/**
 * Opens an OpsCenter OpsItem; `/aws/dedup` makes it one OpsItem per rollout. Its severity is
 * the incident's relative to the configured one (opsCenterSeverity).
 */
export class OpsCenterIncidentTarget implements IncidentTarget {
  readonly name = 'opscenter' as const;
  readonly #client: SSMClient;
  readonly #severity: '1' | '2' | '3' | '4';

  constructor(client: SSMClient, severity: '1' | '2' | '3' | '4' = '2') {
    this.#client = client;
    this.#severity = severity;
  }

  async deliver(incident: Incident): Promise<{ id?: string }> {
    try {
      const out = await callAws('SSM OpsCenter', () => this.#client.send(new CreateOpsItemCommand({
        Title: cleanText(incident.title.replace(/\s+/g, ' '), 1024),
        Description: cleanText(incident.summary, 2048),
        Source: 'canary-analyzer',
        Severity: opsCenterSeverity(incident.severity, this.#severity),
        Category: 'Availability',
        OperationalData: {
          '/aws/dedup': { Type: 'SearchableString', Value: JSON.stringify({ dedupString: incident.dedupKey }) },
          rolloutId: { Type: 'SearchableString', Value: incident.rolloutId },
        },
      })));
      return { id: out.OpsItemId };
    } catch (err) {
      // Opened by an earlier attempt: the same incident, not a failure.
      if (isAwsError(err, 'OpsItemAlreadyExistsException')) return { id: (err as { OpsItemId?: string }).OpsItemId };
      throw err;
    }
  }

  /**
   * Updates the OpsItem opened for the incident (its id comes from the open's delivery):
   * RECOVERED and RESOLVED resolve it, ESCALATED raises its severity one level, STATUS changes
   * nothing but the note. The change's note is kept in the OpsItem's operational data under
   * `canary<Kind>` (the latest STATUS under `canaryStatus`, with its number).
   */
  async update(incident: Incident, change: IncidentChange, opened?: IncidentDelivery): Promise<{ id?: string }> {
    const opsItemId = opened?.ok ? opened.id : undefined;
    if (!opsItemId) throw new Error(`no OpsItem id was recorded when incident ${incident.dedupKey} was opened: nothing to update`);
    const key = `canary${change.kind[0]}${change.kind.slice(1).toLowerCase()}`;
    await callAws('SSM OpsCenter', () => this.#client.send(new UpdateOpsItemCommand({
      OpsItemId: opsItemId,
      ...(change.kind === 'ESCALATED'
        ? { Severity: change.severity === 'critical' ? '1' : String(Math.max(1, Number(this.#severity) - 1)) }
        : change.kind === 'STATUS' ? {} : { Status: 'Resolved' }),
      OperationalData: {
        [key]: { Type: 'String', Value: JSON.stringify({ at: change.at, ...(change.seq !== undefined ? { seq: change.seq } : {}), note: cleanText(change.note, 2000) }) },
      },
    })));
    return { id: opsItemId };
  }
}

export interface WebhookTargetOptions {
  type: 'pagerduty' | 'slack';
  /** Secrets Manager secret: the PagerDuty routing key or the Slack webhook URL (plain, or JSON, see below). */
  secretId: string;
  secrets: SecretsManagerClient;
  fetch?: typeof fetch;
  pagerDutyUrl?: string;
  timeoutMs?: number;
}

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/**
 * Reads the secret's string: either the value itself or a JSON object holding it under one of
 * `keys` (`{"routingKey": "..."}`, `{"url": "..."}`).
 */
function secretValue(secret: string, keys: string[]): string {
  const trimmed = secret.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new Error('the webhook secret looks like JSON but does not parse');
  }
  for (const key of keys) {
    const value = (parsed as Record<string, unknown>)[key];
    if (typeof value === 'string' && value) return value.trim();
  }
  throw new Error(`the webhook secret is a JSON object without any of ${keys.join(', ')}`);
}

/** An https:// URL, or plain http to this machine (a local receiver standing in for Slack in tests). */
function isWebhookUrl(url: string): boolean {
  return url.startsWith('https://') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//.test(url);
}

/** Triggers a PagerDuty Events v2 alert or posts to a Slack incoming webhook. */
export class WebhookIncidentTarget implements IncidentTarget {
  readonly name: 'pagerduty' | 'slack';
  readonly #secretId: string;
  readonly #secrets: SecretsManagerClient;
  readonly #fetch: typeof fetch;
  readonly #pagerDutyUrl: string;
  readonly #timeoutMs: number;
  #secret: Promise<string> | undefined;

  constructor(options: WebhookTargetOptions) {
    this.name = options.type;
    this.#secretId = options.secretId;
    this.#secrets = options.secrets;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#pagerDutyUrl = options.pagerDutyUrl ?? PAGERDUTY_EVENTS_URL;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async deliver(incident: Incident): Promise<{ id?: string }> {
    const secret = await this.#readSecret();
    if (this.name === 'pagerduty') {
      const routingKey = secretValue(secret, ['routing_key', 'routingKey', 'integrationKey', 'integration_key']);
      const response = await this.#post(this.#pagerDutyUrl, {
        routing_key: routingKey,
        event_action: 'trigger',
        dedup_key: incident.dedupKey,
        payload: {
          summary: cleanText(incident.title.replace(/\s+/g, ' '), 1024),
          source: incident.target,
          severity: incident.severity,
          component: incident.service,
          custom_details: {
            reasons: incident.decision?.reasons ?? incident.reasons ?? [],
            ...(incident.severityReason ? { severityReason: incident.severityReason } : {}),
            rolloutId: incident.rolloutId,
            stage: incident.decision ? incident.decision.stageIndex + 1 : undefined,
            weight: incident.decision?.weight,
            consoleLink: incident.consoleLink,
          },
        },
        links: incident.consoleLink ? [{ href: incident.consoleLink, text: 'Step Functions execution' }] : [],
      });
      const body = await response.json().catch(() => ({})) as { dedup_key?: unknown };
      return { id: typeof body.dedup_key === 'string' ? body.dedup_key : incident.dedupKey };
    }
    const url = secretValue(secret, ['url', 'webhookUrl', 'webhook_url']);
    if (!isWebhookUrl(url)) throw new Error(`the Slack webhook secret ${this.#secretId} does not hold an https:// URL`);
    await this.#post(url, { text: `*${severityTitle(incident)}*\n${incident.summary}` });
    return {};
  }

  /**
   * PagerDuty takes no STATUS updates: Events v2 (a routing key) cannot add a note to an alert,
   * only trigger, acknowledge or resolve it, and a `trigger` under the dedup key of an alert a
   * responder has already resolved opens a new one: a status update would page again. Its
   * responders see status on the other targets; RECOVERED still resolves, ESCALATED re-triggers.
   */
  accepts(change: IncidentChange): boolean {
    return this.name !== 'pagerduty' || change.kind !== 'STATUS';
  }

  /**
   * PagerDuty: RECOVERED and RESOLVED `resolve` the alert; ESCALATED triggers it again, same
   * dedup key, at severity critical (STATUS never reaches it: see accepts). Slack: one more message.
   */
  async update(incident: Incident, change: IncidentChange): Promise<{ id?: string }> {
    const secret = await this.#readSecret();
    if (this.name === 'pagerduty') {
      if (!this.accepts(change)) throw new Error('PagerDuty takes no STATUS updates (see accepts)');
      const routingKey = secretValue(secret, ['routing_key', 'routingKey', 'integrationKey', 'integration_key']);
      const body = change.kind === 'ESCALATED'
        ? {
          routing_key: routingKey,
          event_action: 'trigger',
          dedup_key: incident.dedupKey,
          payload: {
            summary: cleanText(changeTitle(incident, change).replace(/\s+/g, ' '), 1024),
            source: incident.target,
            severity: change.severity ?? 'critical',
            component: incident.service,
            custom_details: { escalated: true, note: cleanText(change.note, 4000), at: change.at, rolloutId: incident.rolloutId, consoleLink: incident.consoleLink },
          },
        }
        : { routing_key: routingKey, event_action: 'resolve', dedup_key: incident.dedupKey };
      await this.#post(this.#pagerDutyUrl, body);
      return { id: incident.dedupKey };
    }
    const url = secretValue(secret, ['url', 'webhookUrl', 'webhook_url']);
    if (!isWebhookUrl(url)) throw new Error(`the Slack webhook secret ${this.#secretId} does not hold an https:// URL`);
    await this.#post(url, { text: `*${changeTitle(incident, change)}*\n${change.note}` });
    return {};
  }

  async #post(url: string, body: unknown): Promise<Response> {
    const response = await this.#fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (!response.ok) {
      // The URL is not in the message: a Slack webhook URL is itself the secret.
      const text = await response.text().catch(() => '');
      throw new Error(`${this.name} webhook answered HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}`);
    }
    return response;
  }

  /** The secret, read once per instance (a failed read is retried on the next delivery). */
  #readSecret(): Promise<string> {
    this.#secret ??= callAws('Secrets Manager', () => this.#secrets.send(new GetSecretValueCommand({ SecretId: this.#secretId })))
      .then((out) => {
        if (!out.SecretString) throw new Error(`secret ${this.#secretId} has no string value`);
        return out.SecretString;
      });
    const pending = this.#secret;
    pending.catch(() => { if (this.#secret === pending) this.#secret = undefined; });
    return pending;
  }
}

export interface NotifierOptions {
  /** Tries per target, the first included. */
  attempts?: number;
  /** Wait before the second try; doubled before each further one. */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.slice(0, 1000);
}

export class IncidentNotifier implements IncidentPort {
  readonly #targets: IncidentTarget[];
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(targets: IncidentTarget[], options: NotifierOptions = {}) {
    this.#targets = targets;
    this.#attempts = Math.max(1, options.attempts ?? 3);
    this.#backoffMs = options.backoffMs ?? 200;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  /** Delivers to every target in parallel; never throws. */
  async open(incident: Incident): Promise<IncidentDelivery[]> {
    return Promise.all(this.#targets.map((target) => this.#deliver(target, incident)));
  }

  /**
   * Sends the change to every target that supports updates and takes this kind of change, in
   * parallel; never throws. Each target gets its own delivery of the open (by target name) from `opened`.
   */
  async update(incident: Incident, _routing: unknown, change: IncidentChange, opened: IncidentDelivery[] = []): Promise<IncidentDelivery[]> {
    const updatable = this.#targets.filter((t) => typeof t.update === 'function' && (t.accepts?.(change) ?? true));
    return Promise.all(updatable.map((target) => {
      const previous = opened.find((d) => d.target === target.name && d.ok && d.id !== undefined) ?? opened.find((d) => d.target === target.name);
      return this.#attempt(target, () => target.update!(incident, change, previous));
    }));
  }

  #deliver(target: IncidentTarget, incident: Incident): Promise<IncidentDelivery> {
    return this.#attempt(target, () => target.deliver(incident));
  }

  async #attempt(target: IncidentTarget, send: () => Promise<{ id?: string }>): Promise<IncidentDelivery> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) await this.#sleep(this.#backoffMs * 2 ** (attempt - 2));
      try {
        const { id } = await send();
        return { target: target.name, ok: true, attempts: attempt, ...(id !== undefined ? { id } : {}) };
      } catch (err) {
        lastError = err;
      }
    }
    return { target: target.name, ok: false, attempts: this.#attempts, error: describe(lastError) };
  }
}

export interface IncidentClients {
  sns: SNSClient;
  ssm: SSMClient;
  secrets: SecretsManagerClient;
  /** The stack's own topic: always notified. */
  stackTopicArn: string;
  fetch?: typeof fetch;
  pagerDutyUrl?: string;
}

/** The stack's topic, plus whatever the rollout's `incident` config adds. */
export function buildIncidentTargets(config: IncidentConfig | undefined, clients: IncidentClients): IncidentTarget[] {
  const targets: IncidentTarget[] = [];
  if (clients.stackTopicArn) targets.push(new SnsIncidentTarget(clients.sns, clients.stackTopicArn));
  if (config?.snsTopicArn && config.snsTopicArn !== clients.stackTopicArn) targets.push(new SnsIncidentTarget(clients.sns, config.snsTopicArn));
  if (config?.opsCenter?.enabled) targets.push(new OpsCenterIncidentTarget(clients.ssm, config.opsCenter.severity));
  if (config?.webhook) {
    targets.push(new WebhookIncidentTarget({
      type: config.webhook.type, secretId: config.webhook.secretId, secrets: clients.secrets,
      fetch: clients.fetch, pagerDutyUrl: clients.pagerDutyUrl,
    }));
  }
  return targets;
}
