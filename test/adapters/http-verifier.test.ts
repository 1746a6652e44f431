/**
 * HttpVerifier against a real HTTP receiver on 127.0.0.1 that verifies the signature as a user's
 * endpoint would (HMAC-SHA256 of "<timestamp>.<raw body>", constant-time compare, 5-minute
 * window): answers, slow answers past the timeout, malformed JSON, 500 then success, 4xx not
 * retried, redirects not followed, oversized answers. GetSecretValue is mocked (exact input
 * asserted) and, in the last suite, served by moto_server.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  HttpVerifier, parseEndpointSecret, signBody, SIGNATURE_TOLERANCE_SECONDS,
} from '../../functions/adapters/http-verifier.ts';
import type { RetryEnv } from '../../functions/adapters/verifier-retry.ts';
import {
  buildVerificationContext, checkVerdict, MAX_ANSWER_BYTES, parseVerificationConfig, type VerificationCheck, type VerificationContext,
} from '../../functions/core/verification.ts';
import { motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';

const SIGNING_SECRET = 'a3f1c9e07b2d4f6a8c0e1b3d5f7a9c1e';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  signatureValid: boolean;
}

/** A receiver as the README tells users to write one: it verifies before it reads. */
function verifySignature(req: IncomingMessage, raw: string, secret: string, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const timestamp = Number(req.headers['x-canary-timestamp']);
  const given = String(req.headers['x-canary-signature'] ?? '');
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) return false;
  const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`;
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

let server: Server;
let base: string;
const received: Received[] = [];
const flakyHits = new Map<string, number>();

function answer(res: ServerResponse, status: number, body: string, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signatureValid = verifySignature(req, raw, SIGNING_SECRET);
      received.push({ path: req.url ?? '', headers: req.headers, body: raw, signatureValid });
      if (!signatureValid) return answer(res, 401, '{"error":"bad signature"}');
      const context = JSON.parse(raw) as VerificationContext;
      switch (req.url) {
        case '/reconcile':
          return answer(res, 200, JSON.stringify({ verdict: context.stage.weight >= 10 ? 'FAIL' : 'PASS', reason: `checked at ${context.stage.weight} %`, details: { weight: context.stage.weight } }));
        case '/slow':
          return void setTimeout(() => answer(res, 200, '{"verdict":"PASS","reason":"late"}'), 1500);
        case '/malformed':
          return answer(res, 200, '<html>OK</html>', 'text/html');
        case '/flaky': {
          const delivery = String(req.headers['x-canary-delivery']);
          const hits = (flakyHits.get(delivery) ?? 0) + 1;
          flakyHits.set(delivery, hits);
          return hits === 1 ? answer(res, 503, 'warming up') : answer(res, 200, '{"verdict":"PASS","reason":"second time lucky"}');
        }
        case '/always-500':
          return answer(res, 500, 'database unavailable');
        case '/forbidden':
          return answer(res, 403, '{"error":"unknown rollout"}');
        case '/redirect':
          res.writeHead(302, { location: '/reconcile' });
          return void res.end();
        case '/huge':
          return answer(res, 200, JSON.stringify({ verdict: 'PASS', reason: 'big', details: { blob: 'x'.repeat(MAX_ANSWER_BYTES) } }));
        default:
          return answer(res, 404, 'no such path');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const smMock = mockClient(SecretsManagerClient);

/** Real time, recorded waits (not waited), fixed chance. */
function recordingEnv(): RetryEnv & { sleeps: number[] } {
  const sleeps: number[] = [];
  return { sleeps, now: () => Date.now(), random: () => 0.25, sleep: async (ms) => { sleeps.push(ms); } };
}

const target = { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };
const contextFor = (check: string, weight = 10): VerificationContext => buildVerificationContext({
  moment: 'analysis', check, rolloutId: 'r-1', service: 'orders', stageIndex: 2, stageCount: 5, weight,
  window: { start: '2026-03-01T09:50:00.000Z', end: '2026-03-01T09:58:00.000Z' }, target,
  now: new Date(), deadline: new Date(Date.now() + 20_000),
});
const httpCheck = (name: string, extra: Record<string, unknown> = {}): VerificationCheck =>
  parseVerificationConfig({ verification: [{ name, type: 'http', secretId: `canary/${name}`, ...extra }] }).verification[0]!;
const endpointAt = (path: string, signingSecret = SIGNING_SECRET) => ({ SecretString: JSON.stringify({ url: `${base}${path}`, signingSecret }) });
const soon = (seconds = 20) => new Date(Date.now() + seconds * 1000);

function verifier(env = recordingEnv()) {
  return new HttpVerifier({ secrets: new SecretsManagerClient({}), retryEnv: env, allowLoopbackHttp: true });
}

describe('HttpVerifier', () => {
  beforeEach(() => {
    smMock.reset();
    received.length = 0;
  });

  it('POSTs the request signed, the receiver verifies it, and the answer is read back', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand, { SecretId: 'canary/reconcile' }).resolves(endpointAt('/reconcile'));
    const check = httpCheck('reconcile');
    const context = contextFor('reconcile', 10);
    const deadline = soon();

    // Act
    const outcome = await verifier().run(check, context, deadline);

    // Assess
    expect(smMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: 'canary/reconcile' }]);
    expect(received).toHaveLength(1);
    const request = received[0]!;
    expect(request.signatureValid).toBe(true);
    expect(JSON.parse(request.body)).toEqual(context);
    expect(request.headers).toMatchObject({
      'content-type': 'application/json', 'x-canary-attempt': '1', 'x-canary-check': 'reconcile', 'x-canary-rollout': 'r-1',
      'x-canary-delivery': expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(request.headers['x-canary-signature']).toBe(signBody(SIGNING_SECRET, Number(request.headers['x-canary-timestamp']), request.body));
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({
      verdict: 'FAIL', reason: "check 'reconcile' (http via secret canary/reconcile): FAIL: checked at 10 %", details: { weight: 10, attempts: 1 },
    });
  });

  it('is refused by the receiver when signed with the wrong secret (401, not retried)', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/reconcile', 'not-the-receivers-secret-0000'));

    // Act
    const outcome = await verifier().run(httpCheck('reconcile'), contextFor('reconcile'), soon());

    // Assess
    expect(received.map((r) => r.signatureValid)).toEqual([false]);
    expect(outcome).toMatchObject({ status: 'error', attempts: 1, reason: 'the endpoint answered HTTP 401: {"error":"bad signature"} (not retried: a 4xx would be refused again)' });
  });

  it('gives up on a slow endpoint at the timeout: INCONCLUSIVE naming the check', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/slow'));
    const check = httpCheck('slow', { timeoutSeconds: 1 });
    const deadline = soon(0.5);

    // Act
    const outcome = await verifier().run(check, contextFor('slow'), deadline);

    // Assess
    expect(outcome).toMatchObject({ status: 'timed-out', attempts: 1 });
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({
      verdict: 'INCONCLUSIVE', reason: "check 'slow' (http via secret canary/slow) gave no usable answer: no answer within its 1 s timeout (1 attempt)",
    });
  });

  it('makes malformed JSON INCONCLUSIVE, naming the check', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/malformed'));
    const check = httpCheck('malformed');
    const deadline = soon();

    // Act
    const outcome = await verifier().run(check, contextFor('malformed'), deadline);

    // Assess
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({
      verdict: 'INCONCLUSIVE', reason: "check 'malformed' (http via secret canary/malformed) gave no usable answer: the answer is not JSON (\"<html>OK</html>\")",
    });
  });

  it('retries a 5xx with jittered backoff, with the same delivery id, and takes the answer that follows', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/flaky'));
    const env = recordingEnv();
    const check = httpCheck('flaky', { retry: { maxAttempts: 3, backoffMs: 1000 } });
    const deadline = soon();

    // Act
    const outcome = await verifier(env).run(check, contextFor('flaky'), deadline);

    // Assess
    expect(received.map((r) => [r.headers['x-canary-attempt'], r.signatureValid])).toEqual([['1', true], ['2', true]]);
    expect(received[0]!.headers['x-canary-delivery']).toBe(received[1]!.headers['x-canary-delivery']);
    expect(env.sleeps).toEqual([250]); // 0.25 × 1000 ms
    expect(smMock.commandCalls(GetSecretValueCommand)).toHaveLength(1); // the secret is read once
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({ verdict: 'PASS', details: { attempts: 2 } });
  });

  it('gives up after maxAttempts of 5xx, saying what the endpoint answered', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/always-500'));

    // Act
    const outcome = await verifier().run(httpCheck('down', { retry: { maxAttempts: 2, backoffMs: 100 } }), contextFor('down'), soon());

    // Assess
    expect(received).toHaveLength(2);
    expect(outcome).toMatchObject({ status: 'error', attempts: 2, reason: 'the endpoint answered HTTP 500: database unavailable (gave up after 2 attempts)' });
  });

  it('does not retry a 4xx', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/forbidden'));

    // Act
    const outcome = await verifier().run(httpCheck('forbidden'), contextFor('forbidden'), soon());

    // Assess
    expect(received).toHaveLength(1);
    expect(outcome).toMatchObject({ status: 'error', attempts: 1, reason: 'the endpoint answered HTTP 403: {"error":"unknown rollout"} (not retried: a 4xx would be refused again)' });
  });

  it('does not follow a redirect with the signed body', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/redirect'));

    // Act
    const outcome = await verifier().run(httpCheck('moved'), contextFor('moved'), soon());

    // Assess
    expect(received.map((r) => r.path)).toEqual(['/redirect']);
    expect(outcome).toMatchObject({ status: 'error', reason: 'the endpoint answered HTTP 302 (a redirect, not followed: put the final URL in the secret)' });
  });

  it('refuses an oversized answer unread, even a PASS', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves(endpointAt('/huge'));

    // Act
    const outcome = await verifier().run(httpCheck('huge'), contextFor('huge'), soon());

    // Assess
    expect(outcome).toMatchObject({ status: 'error', reason: `the answer is larger than ${MAX_ANSWER_BYTES} bytes` });
  });

  it('names a bad secret without calling anything', async () => {
    // Prepare
    smMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ url: 'http://verify.example.com/x', signingSecret: SIGNING_SECRET }) });

    // Act
    const outcome = await verifier().run(httpCheck('plain'), contextFor('plain'), soon());

    // Assess
    expect(received).toHaveLength(0);
    expect(outcome).toMatchObject({ status: 'error', attempts: 1, reason: 'secret canary/plain: the secret\'s `url` must be https://' });
  });
});

describe('parseEndpointSecret', () => {
  it.each([
    ['not json', 'the secret is not JSON: store {"url": "https://...", "signingSecret": "..."}'],
    ['{"url":"https://x.example.com"}', 'the secret needs string fields `url` and `signingSecret`'],
    ['{"url":"https://x.example.com","signingSecret":"short"}', "the secret's `signingSecret` must be at least 16 characters (32 random bytes recommended)"],
    [`{"url":"http://127.0.0.1:8080","signingSecret":"${SIGNING_SECRET}"}`, "the secret's `url` must be https://"],
  ])('refuses %s', (text, message) => {
    expect(() => parseEndpointSecret(text)).toThrow(message);
  });

  it('accepts an https URL', () => {
    expect(parseEndpointSecret(`{"url":"https://verify.example.com/canary","signingSecret":"${SIGNING_SECRET}"}`))
      .toEqual({ url: 'https://verify.example.com/canary', signingSecret: SIGNING_SECRET });
  });
});

const skip = motoSkipReason();
describe.skipIf(skip !== null)('HttpVerifier with the secret in moto_server', () => {
  const moto = useMoto();

  it('reads the endpoint from Secrets Manager and gets a signed answer', async () => {
    // Prepare
    smMock.restore();
    received.length = 0;
    const secrets = new SecretsManagerClient(motoClientConfig(moto.endpoint));
    const created = await secrets.send(new CreateSecretCommand({ Name: 'canary/reconcile', SecretString: endpointAt('/reconcile').SecretString }));
    const check = parseVerificationConfig({ verification: [{ name: 'reconcile', type: 'http', secretId: created.ARN! }] }).verification[0]!;
    const deadline = soon();

    // Act
    const outcome = await new HttpVerifier({ secrets, allowLoopbackHttp: true }).run(check, contextFor('reconcile', 5), deadline);

    // Assess
    expect(received.map((r) => r.signatureValid)).toEqual([true]);
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({ verdict: 'PASS', reason: `check 'reconcile' (http via secret ${created.ARN}): PASS: checked at 5 %` });
  });
});
