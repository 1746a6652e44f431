/**
 * The retry loop the verifiers share: attempts within a deadline, transient failures retried
 * after a doubling backoff with full jitter (a random wait between 0 and the backoff, so that
 * checks of many rollouts do not retry in step), anything else given up at once.
 */
import { ThrottledError, TransientAwsError } from '../core/errors.ts';
import type { CheckOutcome, RetryPolicy } from '../core/verification.ts';
import { mapAwsError } from './aws-errors.ts';

/** Time, waiting and chance: real by default, replaced in tests. */
export interface RetryEnv {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1). */
  random(): number;
}

export const REAL_RETRY_ENV: RetryEnv = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

/** What one attempt came to. */
export type Attempt =
  | { kind: 'answer'; body: string }
  /** Transient (throttling, 5xx, network): worth another attempt. */
  | { kind: 'retry'; reason: string }
  /** Permanent (4xx, a function error, a refusal): another attempt would say the same. */
  | { kind: 'fail'; reason: string }
  /** The deadline passed during the attempt. */
  | { kind: 'timeout' };

/** Full jitter: a wait in [0, backoff · 2^(n-1)) before attempt n+1. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  return Math.floor(random() * policy.backoffMs * 2 ** (attempt - 1));
}

/**
 * Runs `attempt` (numbered from 1, with a signal that aborts at the deadline) until it answers,
 * fails for good, the attempts run out, or the deadline passes.
 */
export async function withRetries(
  policy: RetryPolicy, deadline: Date, env: RetryEnv,
  attempt: (n: number, signal: AbortSignal) => Promise<Attempt>,
): Promise<CheckOutcome> {
  const finished = () => new Date(env.now()).toISOString();
  let lastReason = '';
  for (let n = 1; n <= policy.maxAttempts; n++) {
    const remaining = deadline.getTime() - env.now();
    if (remaining <= 0) return { status: 'timed-out', attempts: n - 1, finishedAt: finished() };
    const result = await attempt(n, AbortSignal.timeout(remaining));
    switch (result.kind) {
      case 'answer': return { status: 'answered', body: result.body, attempts: n, finishedAt: finished() };
      case 'fail': return { status: 'error', reason: result.reason, attempts: n, finishedAt: finished() };
      case 'timeout': return { status: 'timed-out', attempts: n, finishedAt: finished() };
      case 'retry': {
        lastReason = result.reason;
        if (n === policy.maxAttempts) break;
        const delay = backoffDelay(policy, n, env.random);
        if (env.now() + delay >= deadline.getTime()) {
          return { status: 'error', reason: `${result.reason}; no time left for attempt ${n + 1} before the deadline`, attempts: n, finishedAt: finished() };
        }
        await env.sleep(delay);
      }
    }
  }
  return { status: 'error', reason: `${lastReason} (gave up after ${policy.maxAttempts} attempt${policy.maxAttempts === 1 ? '' : 's'})`, attempts: policy.maxAttempts, finishedAt: finished() };
}

/**
 * An AWS SDK error as an attempt: throttling and transient failures (classified by
 * aws-errors.ts, as every adapter does) are retried; anything else is not.
 */
export function awsAttempt(service: string, error: unknown, signal: AbortSignal, hint?: (name: string) => string | undefined): Attempt {
  if (signal.aborted) return { kind: 'timeout' };
  try {
    mapAwsError(service, error);
  } catch (typed) {
    if (typed instanceof ThrottledError || typed instanceof TransientAwsError) return { kind: 'retry', reason: typed.message };
  }
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const extra = hint?.(name);
  return { kind: 'fail', reason: `${service} refused the call: ${name}: ${message}${extra ? ` (${extra})` : ''}` };
}

/**
 * Settles with `promise`, or rejects when `signal` aborts first. The SDK is handed the signal
 * too (it cancels the request), but the deadline must hold even where a layer ignores it.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}
