/**
 * HTTP as a verifier: the check's request POSTed as JSON to an HTTPS endpoint, signed, and its
 * answer read back (VerificationPort).
 *
 * The endpoint and the signing key live in Secrets Manager (the check's `secretId`), as a JSON
 * secret: `{"url": "https://verify.example.com/canary", "signingSecret": "<32+ random bytes, hex or base64>"}`.
 * The secret is read once per warm Lambda and kept for `secretCacheSeconds` (default 300).
 *
 * What a receiver gets, and must check (a receiver doing so: verifySignature in test/adapters/http-verifier.test.ts):
 *   POST <url>
 *   Content-Type: application/json
 *   X-Canary-Timestamp: <unix seconds when this attempt was sent>
 *   X-Canary-Signature: v1=<hex HMAC-SHA256(signingSecret, "<timestamp>.<raw body>")>
 *   X-Canary-Delivery: <uuid, the same for every attempt of one check run: de-duplicate on it>
 *   X-Canary-Attempt: <1, 2, ...>
 *   X-Canary-Check: <the check's name>
 *   X-Canary-Rollout: <the rollout id>
 *   <body: the VerificationContext as JSON>
 * The receiver recomputes the HMAC over the timestamp, a '.', and the raw body bytes as received,
 * compares in constant time, and refuses a timestamp more than 5 minutes from its clock (replay).
 *
 * Its answer: HTTP 2xx with the answer contract as JSON. 5xx, 429 and 408 and network failures
 * are retried with jittered backoff within the check's deadline; other 4xx are not (the request
 * would be refused again); a redirect is not followed (the signed body goes only where the
 * secret says). An answer past MAX_ANSWER_BYTES is refused unread.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  MAX_ANSWER_BYTES, type CheckOutcome, type VerificationCheck, type VerificationContext, type VerificationPort,
} from '../core/verification.ts';
import { awsAttempt, REAL_RETRY_ENV, untilAborted, withRetries, type Attempt, type RetryEnv } from './verifier-retry.ts';

export const SIGNATURE_HEADER = 'x-canary-signature';
export const TIMESTAMP_HEADER = 'x-canary-timestamp';
export const DELIVERY_HEADER = 'x-canary-delivery';
export const ATTEMPT_HEADER = 'x-canary-attempt';
/** Receivers should refuse a timestamp further than this from their clock. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;
/** Shortest signing secret accepted. */
export const MIN_SIGNING_SECRET_CHARS = 16;

/** `v1=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` under the signing secret. */
export function signBody(signingSecret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', signingSecret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export interface HttpEndpoint {
  url: string;
  signingSecret: string;
}

/** Reads the secret: JSON with `url` and `signingSecret`; throws a message naming what is wrong. */
export function parseEndpointSecret(text: string, allowLoopbackHttp = false): HttpEndpoint {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the secret is not JSON: store {"url": "https://...", "signingSecret": "..."}');
  }
  const { url, signingSecret } = (value ?? {}) as Record<string, unknown>;
  if (typeof url !== 'string' || typeof signingSecret !== 'string') {
    throw new Error('the secret needs string fields `url` and `signingSecret`');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the secret\'s `url` is not a URL');
  }
  const loopback = parsed.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(allowLoopbackHttp && loopback)) throw new Error('the secret\'s `url` must be https://');
  if (signingSecret.length < MIN_SIGNING_SECRET_CHARS) throw new Error(`the secret's \`signingSecret\` must be at least ${MIN_SIGNING_SECRET_CHARS} characters (32 random bytes recommended)`);
  return { url: parsed.toString(), signingSecret };
}

export interface HttpVerifierOptions {
  secrets: SecretsManagerClient;
  fetch?: typeof fetch;
  retryEnv?: RetryEnv;
  /** How long a secret read is reused. */
  secretCacheSeconds?: number;
  /** Tests only: accept http:// to 127.0.0.1 / localhost. */
  allowLoopbackHttp?: boolean;
}

/** Reads at most `max` bytes of a body; null when there are more (the rest is not read). */
async function readBounded(res: Response, max: number): Promise<string | null> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const RETRIED_STATUS = new Set([408, 429]);

export class HttpVerifier implements VerificationPort {
  readonly #secrets: SecretsManagerClient;
  readonly #fetch: typeof fetch;
  readonly #env: RetryEnv;
  readonly #cacheMs: number;
  readonly #loopback: boolean;
  readonly #cache = new Map<string, { endpoint: HttpEndpoint; until: number }>();

  constructor(options: HttpVerifierOptions) {
    this.#secrets = options.secrets;
    this.#fetch = options.fetch ?? fetch;
    this.#env = options.retryEnv ?? REAL_RETRY_ENV;
    this.#cacheMs = (options.secretCacheSeconds ?? 300) * 1000;
    this.#loopback = options.allowLoopbackHttp ?? false;
  }

  async run(check: VerificationCheck, context: VerificationContext, deadline: Date): Promise<CheckOutcome> {
    if (check.type !== 'http') {
      return { status: 'error', reason: `the HTTP verifier cannot run a ${check.type} check`, attempts: 0, finishedAt: new Date(this.#env.now()).toISOString() };
    }
    const body = JSON.stringify(context);
    const delivery = randomUUID();
    return withRetries(check.retry, deadline, this.#env, async (n, signal): Promise<Attempt> => {
      const endpoint = await this.#endpoint(check.secretId, signal);
      if ('kind' in endpoint) return endpoint;
      const timestamp = Math.floor(this.#env.now() / 1000);
      let res: Response;
      try {
        res = await this.#fetch(endpoint.url, {
          method: 'POST',
          body,
          redirect: 'manual',
          signal,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'canary-analyzer-verification/1',
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signBody(endpoint.signingSecret, timestamp, body),
            [DELIVERY_HEADER]: delivery,
            [ATTEMPT_HEADER]: String(n),
            'x-canary-check': check.name,
            'x-canary-rollout': context.rolloutId,
          },
        });
      } catch (error) {
        if (signal.aborted) return { kind: 'timeout' };
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        return { kind: 'retry', reason: `the endpoint could not be reached (${cause?.code ?? (error instanceof Error ? error.message : String(error))})` };
      }
      let text: string | null;
      try {
        text = await readBounded(res, MAX_ANSWER_BYTES);
      } catch {
        if (signal.aborted) return { kind: 'timeout' };
        return { kind: 'retry', reason: `the endpoint's answer (HTTP ${res.status}) broke off` };
      }
      if (res.status >= 200 && res.status < 300) {
        if (text === null) return { kind: 'fail', reason: `the answer is larger than ${MAX_ANSWER_BYTES} bytes` };
        return { kind: 'answer', body: text };
      }
      const excerpt = text ? `: ${text.replace(/\s+/g, ' ').trim().slice(0, 200)}` : '';
      if (res.status >= 500 || RETRIED_STATUS.has(res.status)) return { kind: 'retry', reason: `the endpoint answered HTTP ${res.status}${excerpt}` };
      if (res.status >= 300 && res.status < 400) return { kind: 'fail', reason: `the endpoint answered HTTP ${res.status} (a redirect, not followed: put the final URL in the secret)` };
      return { kind: 'fail', reason: `the endpoint answered HTTP ${res.status}${excerpt} (not retried: a 4xx would be refused again)` };
    });
  }

  /** The endpoint of a secret (cached), or the attempt it came to when it could not be read. */
  async #endpoint(secretId: string, signal: AbortSignal): Promise<HttpEndpoint | Attempt> {
    const cached = this.#cache.get(secretId);
    if (cached && cached.until > this.#env.now()) return cached.endpoint;
    let text: string | undefined;
    try {
      const out = await untilAborted(this.#secrets.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: signal }), signal);
      text = out.SecretString;
    } catch (error) {
      return awsAttempt('Secrets Manager', error, signal, (name) => (name === 'AccessDeniedException'
        ? 'the stack may read only the secrets in its VerificationSecretArns parameter' : undefined));
    }
    try {
      if (text === undefined) throw new Error('the secret has no string value');
      const endpoint = parseEndpointSecret(text, this.#loopback);
      this.#cache.set(secretId, { endpoint, until: this.#env.now() + this.#cacheMs });
      return endpoint;
    } catch (error) {
      return { kind: 'fail', reason: `secret ${secretId}: ${(error as Error).message}` };
    }
  }
}
