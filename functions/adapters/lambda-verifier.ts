/**
 * Lambda as a verifier and as a hook runner.
 *
 * LambdaVerifier (VerificationPort): invokes the check's function RequestResponse with the
 * request (core/verification.ts's VerificationContext) as its event, and returns its answer's
 * text. A function error (FunctionError: Unhandled, or a handled error the function returned)
 * is an error outcome with the function's errorType and errorMessage; it is not retried, since
 * the same input would fail the same way. Throttling and Lambda's 5xx are retried per the
 * check's policy within its deadline.
 *
 * LambdaHooks (HookPort): invokes an action hook's function, asynchronously (`event`: Lambda
 * queues it and answers 202 with a request id, which is recorded) or RequestResponse within the
 * hook's timeout (its answer recorded, cut). Never throws.
 *
 * Build the LambdaClient with `maxAttempts: 1`: the retries are counted here, within the deadline.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import {
  MAX_HOOK_OUTPUT_CHARS, type ActionHook, type CheckOutcome, type HookPort, type HookResult, type VerificationCheck,
  type VerificationContext, type VerificationPort,
} from '../core/verification.ts';
import { awsAttempt, REAL_RETRY_ENV, untilAborted, withRetries, type Attempt, type RetryEnv } from './verifier-retry.ts';

const SERVICE = 'Lambda';

/** Hints for refusals a person can fix. */
function lambdaHint(name: string): string | undefined {
  if (name === 'AccessDeniedException') return 'the stack may invoke only the functions in its VerificationFunctionArns parameter';
  if (name === 'ResourceNotFoundException') return 'check the function name, its region and its alias';
  return undefined;
}

/** `errorType: errorMessage` of a function error's payload, or its text. */
function functionErrorSummary(text: string): string {
  try {
    const e = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown };
    if (e && typeof e === 'object' && (typeof e.errorType === 'string' || typeof e.errorMessage === 'string')) {
      return `${String(e.errorType ?? 'Error')}: ${String(e.errorMessage ?? '')}`.slice(0, 300);
    }
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 300) || 'no error payload';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface LambdaAdapterOptions {
  retryEnv?: RetryEnv;
}

export class LambdaVerifier implements VerificationPort {
  readonly #client: LambdaClient;
  readonly #env: RetryEnv;

  constructor(client: LambdaClient, options: LambdaAdapterOptions = {}) {
    this.#client = client;
    this.#env = options.retryEnv ?? REAL_RETRY_ENV;
  }

  async run(check: VerificationCheck, context: VerificationContext, deadline: Date): Promise<CheckOutcome> {
    if (check.type !== 'lambda') {
      return { status: 'error', reason: `the Lambda verifier cannot run a ${check.type} check`, attempts: 0, finishedAt: new Date(this.#env.now()).toISOString() };
    }
    const payload = encoder.encode(JSON.stringify(context));
    return withRetries(check.retry, deadline, this.#env, async (_n, signal): Promise<Attempt> => {
      try {
        const out = await untilAborted(this.#client.send(new InvokeCommand({
          FunctionName: check.function, InvocationType: 'RequestResponse', Payload: payload,
        }), { abortSignal: signal }), signal);
        const text = out.Payload ? decoder.decode(out.Payload) : '';
        if (out.FunctionError) return { kind: 'fail', reason: `the function failed (${out.FunctionError}): ${functionErrorSummary(text)}` };
        return { kind: 'answer', body: text };
      } catch (error) {
        return awsAttempt(SERVICE, error, signal, lambdaHint);
      }
    });
  }
}

export class LambdaHooks implements HookPort {
  readonly #client: LambdaClient;
  readonly #env: RetryEnv;

  constructor(client: LambdaClient, options: LambdaAdapterOptions = {}) {
    this.#client = client;
    this.#env = options.retryEnv ?? REAL_RETRY_ENV;
  }

  async run(hook: ActionHook, context: VerificationContext): Promise<HookResult> {
    const at = () => new Date(this.#env.now()).toISOString();
    const result = (fields: Pick<HookResult, 'id' | 'status'> & Partial<HookResult>): HookResult => ({
      hook: hook.name, type: hook.type, moment: context.moment, ...fields, at: at(),
    });
    if (hook.type !== 'lambda') return result({ id: null, status: 'FAILED', reason: `the Lambda hook runner cannot start a ${hook.type} hook` });
    const event = hook.invocation === 'event';
    let requestId: string | null = null;
    let output = '';
    const deadline = new Date(this.#env.now() + hook.timeoutSeconds * 1000);
    // Two attempts at most: a hook is started once; a throttled start gets one more try.
    const outcome = await withRetries({ maxAttempts: 2, backoffMs: 200 }, deadline, this.#env, async (_n, signal): Promise<Attempt> => {
      try {
        const out = await untilAborted(this.#client.send(new InvokeCommand({
          FunctionName: hook.function, InvocationType: event ? 'Event' : 'RequestResponse', Payload: encoder.encode(JSON.stringify(context)),
        }), { abortSignal: signal }), signal);
        requestId = out.$metadata.requestId ?? null;
        const text = out.Payload ? decoder.decode(out.Payload) : '';
        if (out.FunctionError) return { kind: 'fail', reason: `the function failed (${out.FunctionError}): ${functionErrorSummary(text)}` };
        output = text;
        return { kind: 'answer', body: text };
      } catch (error) {
        return awsAttempt(SERVICE, error, signal, lambdaHint);
      }
    });
    switch (outcome.status) {
      case 'answered':
        return event
          ? result({ id: requestId, status: 'STARTED' })
          : result({ id: requestId, status: 'SUCCEEDED', ...(output ? { output: output.slice(0, MAX_HOOK_OUTPUT_CHARS) } : {}) });
      case 'error':
        return result({ id: requestId, status: 'FAILED', reason: outcome.reason });
      case 'timed-out':
        return result({ id: requestId, status: 'FAILED', reason: `no answer within its ${hook.timeoutSeconds} s timeout` });
    }
  }
}
