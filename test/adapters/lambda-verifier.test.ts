/**
 * LambdaVerifier and LambdaHooks with aws-sdk-client-mock: the exact Invoke sent, answers and
 * function errors, throttling retried with jittered backoff within the deadline, refusals not
 * retried. (moto runs Lambda functions only in Docker, so Invoke is mocked.)
 */
import { InvokeCommand, LambdaClient, LambdaServiceException } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LambdaHooks, LambdaVerifier } from '../../functions/adapters/lambda-verifier.ts';
import type { RetryEnv } from '../../functions/adapters/verifier-retry.ts';
import { buildVerificationContext, checkVerdict, parseVerificationConfig, type VerificationContext } from '../../functions/core/verification.ts';

const lambdaMock = mockClient(LambdaClient);
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

/** Real time, recorded waits, fixed chance: backoffs are asserted without waiting them out. */
function recordingEnv(random = 0.5): RetryEnv & { sleeps: number[] } {
  const sleeps: number[] = [];
  return { sleeps, now: () => Date.now(), random: () => random, sleep: async (ms) => { sleeps.push(ms); } };
}

const target = { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };
const contextFor = (check: string, moment: VerificationContext['moment'] = 'analysis'): VerificationContext => buildVerificationContext({
  moment, check, rolloutId: 'r-1', service: 'orders', stageIndex: 2, stageCount: 5, weight: 10,
  window: { start: '2026-03-01T09:50:00.000Z', end: '2026-03-01T09:58:00.000Z' }, target,
  now: new Date('2026-03-01T10:00:00.000Z'), deadline: new Date('2026-03-01T10:00:20.000Z'),
});
const soon = (seconds = 20) => new Date(Date.now() + seconds * 1000);

const { verification: [check] } = parseVerificationConfig({ verification: [{ name: 'reconcile', type: 'lambda', function: 'orders-reconcile:live', retry: { maxAttempts: 3, backoffMs: 400 } }] });

const throttled = () => new LambdaServiceException({ name: 'TooManyRequestsException', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 429 } });

describe('LambdaVerifier', () => {
  beforeEach(() => {
    lambdaMock.reset();
  });

  it('invokes the function RequestResponse with the request as its event, and returns its answer', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode({ verdict: 'PASS', reason: '120000 records match' }) as never });
    const context = contextFor('reconcile');

    // Act
    const outcome = await new LambdaVerifier(new LambdaClient({}), { retryEnv: recordingEnv() }).run(check!, context, soon());

    // Assess
    const calls = lambdaMock.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect({ ...input, Payload: JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) })
      .toEqual({ FunctionName: 'orders-reconcile:live', InvocationType: 'RequestResponse', Payload: context });
    expect(outcome).toMatchObject({ status: 'answered', body: '{"verdict":"PASS","reason":"120000 records match"}', attempts: 1 });
  });

  it('reports a function error with its type and message, without retrying', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200, FunctionError: 'Unhandled',
      Payload: encode({ errorType: 'Runtime.UnhandledPromiseRejection', errorMessage: 'connect ETIMEDOUT legacy-db:5432', trace: [] }) as never,
    });
    const deadline = soon();

    // Act
    const outcome = await new LambdaVerifier(new LambdaClient({}), { retryEnv: recordingEnv() }).run(check!, contextFor('reconcile'), deadline);

    // Assess
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(outcome).toMatchObject({ status: 'error', attempts: 1, reason: 'the function failed (Unhandled): Runtime.UnhandledPromiseRejection: connect ETIMEDOUT legacy-db:5432' });
    expect(checkVerdict(check!, outcome, deadline)).toMatchObject({
      verdict: 'INCONCLUSIVE',
      reason: "check 'reconcile' (lambda orders-reconcile:live) gave no usable answer: the function failed (Unhandled): Runtime.UnhandledPromiseRejection: connect ETIMEDOUT legacy-db:5432",
    });
  });

  it('retries throttling with full-jitter doubling backoff, then answers', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).rejectsOnce(throttled()).rejectsOnce(throttled())
      .resolves({ StatusCode: 200, Payload: encode({ verdict: 'FAIL', reason: '37 records differ' }) as never });
    const env = recordingEnv(0.5);

    // Act
    const outcome = await new LambdaVerifier(new LambdaClient({}), { retryEnv: env }).run(check!, contextFor('reconcile'), soon());

    // Assess
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(3);
    expect(env.sleeps).toEqual([200, 400]); // 0.5 × 400 ms, then 0.5 × 800 ms
    expect(outcome).toMatchObject({ status: 'answered', attempts: 3 });
  });

  it('gives up after maxAttempts, naming the throttling', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).rejects(throttled());

    // Act
    const outcome = await new LambdaVerifier(new LambdaClient({}), { retryEnv: recordingEnv() }).run(check!, contextFor('reconcile'), soon());

    // Assess
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(3);
    expect(outcome).toMatchObject({ status: 'error', attempts: 3, reason: 'Lambda throttled the request (TooManyRequestsException: Rate exceeded) (gave up after 3 attempts)' });
  });

  it('does not retry a refusal, and says which parameter allows a function', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).rejects(new LambdaServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'not authorized to perform: lambda:InvokeFunction', $metadata: { httpStatusCode: 403 } }));

    // Act
    const outcome = await new LambdaVerifier(new LambdaClient({}), { retryEnv: recordingEnv() }).run(check!, contextFor('reconcile'), soon());

    // Assess
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(1);
    expect(outcome).toMatchObject({
      status: 'error', attempts: 1,
      reason: 'Lambda refused the call: AccessDeniedException: not authorized to perform: lambda:InvokeFunction (the stack may invoke only the functions in its VerificationFunctionArns parameter)',
    });
  });

  it('stops at the deadline: a slow function is timed out, not waited for', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).callsFake(() => new Promise(() => undefined)); // never answers
    const { verification: [quick] } = parseVerificationConfig({ verification: [{ name: 'slow', type: 'lambda', function: 'slow-fn', timeoutSeconds: 1 }] });
    const deadline = soon(0.3);

    // Act
    const outcome = await new LambdaVerifier(new LambdaClient({}), { retryEnv: recordingEnv() }).run(quick!, contextFor('slow'), deadline);

    // Assess
    expect(outcome).toMatchObject({ status: 'timed-out', attempts: 1 });
    expect(checkVerdict(quick!, outcome, deadline).reason).toBe("check 'slow' (lambda slow-fn) gave no usable answer: no answer within its 1 s timeout (1 attempt)");
  });
});

describe('LambdaHooks', () => {
  beforeEach(() => {
    lambdaMock.reset();
  });

  const { hooks } = parseVerificationConfig({ hooks: {
    afterRollback: [{ name: 'isolate-tasks', type: 'lambda', function: 'arn:aws:lambda:eu-west-1:111122223333:function:isolate-canary-tasks' }],
    afterPromotion: [{ name: 'announce', type: 'lambda', function: 'announce-release', invocation: 'request-response' }],
  } });

  it('starts an afterRollback hook asynchronously (Event) and records its request id', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202, $metadata: { requestId: 'req-4b1d' } });
    const context = contextFor('isolate-tasks', 'afterRollback');

    // Act
    const result = await new LambdaHooks(new LambdaClient({}), { retryEnv: recordingEnv() }).run(hooks.afterRollback[0]!, context);

    // Assess
    const input = lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect({ ...input, Payload: JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array)) }).toEqual({
      FunctionName: 'arn:aws:lambda:eu-west-1:111122223333:function:isolate-canary-tasks', InvocationType: 'Event', Payload: context,
    });
    expect(result).toMatchObject({ hook: 'isolate-tasks', type: 'lambda', moment: 'afterRollback', id: 'req-4b1d', status: 'STARTED' });
    expect(result.output).toBeUndefined();
  });

  it('records a request-response hook\'s answer', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode({ announced: true }) as never, $metadata: { requestId: 'req-1' } });

    // Act
    const result = await new LambdaHooks(new LambdaClient({}), { retryEnv: recordingEnv() }).run(hooks.afterPromotion[0]!, contextFor('announce', 'afterPromotion'));

    // Assess
    expect(lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input.InvocationType).toBe('RequestResponse');
    expect(result).toMatchObject({ id: 'req-1', status: 'SUCCEEDED', output: '{"announced":true}' });
  });

  it('reports a hook that cannot start as FAILED, never throwing', async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).rejects(new LambdaServiceException({ name: 'ResourceNotFoundException', $fault: 'client', message: 'Function not found', $metadata: { httpStatusCode: 404 } }));

    // Act
    const result = await new LambdaHooks(new LambdaClient({}), { retryEnv: recordingEnv() }).run(hooks.afterRollback[0]!, contextFor('isolate-tasks', 'afterRollback'));

    // Assess
    expect(result).toMatchObject({
      status: 'FAILED', id: null,
      reason: 'Lambda refused the call: ResourceNotFoundException: Function not found (check the function name, its region and its alias)',
    });
  });
});
