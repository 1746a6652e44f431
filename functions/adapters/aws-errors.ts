/**
 * One place that decides which AWS SDK errors Step Functions should retry. Every adapter passes
 * what it catches through `mapAwsError`, which throws a typed error (`Throttled`,
 * `TransientAwsError`, matched by the state machine's `ErrorEquals`) or rethrows the original.
 */
import { ThrottledError, TransientAwsError } from '../core/errors.ts';

/** Error names AWS services use to ask a caller to slow down. */
const THROTTLING_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'PriorRequestNotComplete', // Route 53: a change to the same record set is still being applied
  'ProvisionedThroughputExceededException', // DynamoDB
  'RequestLimitExceeded', // DynamoDB
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown', // S3
]);

/** Names of transient failures: timeouts and services that are briefly unavailable. */
const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalError',
  'InternalServerError',
  'InternalServiceError',
]);

/** Node.js socket error codes that mean "try again". */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'ENETUNREACH', 'EHOSTUNREACH']);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: { throttling?: unknown };
}

export type AwsErrorKind = 'throttled' | 'transient' | 'other';

/** Classifies an error thrown by an AWS SDK v3 client (or by the network under it). */
export function classifyAwsError(err: unknown): AwsErrorKind {
  if (err === null || typeof err !== 'object') return 'other';
  const e = err as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : '';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  if (THROTTLING_NAMES.has(name) || status === 429 || e.$retryable?.throttling === true) return 'throttled';
  if (
    e.$fault === 'server' || (status !== undefined && status >= 500) || TRANSIENT_NAMES.has(name)
    || (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) || NETWORK_CODES.has(name)
  ) {
    return 'transient';
  }
  return 'other';
}

/**
 * Throws the typed equivalent of an AWS SDK error: `ThrottledError` (name `Throttled`) for
 * throttling, `TransientAwsError` for 5xx, timeouts and dropped connections; anything else
 * (validation, access denied, a condition that failed...) is rethrown unchanged.
 */
export function mapAwsError(service: string, err: unknown): never {
  if (err instanceof ThrottledError || err instanceof TransientAwsError) throw err;
  switch (classifyAwsError(err)) {
    case 'throttled': throw new ThrottledError(service, err);
    case 'transient': throw new TransientAwsError(service, err);
    default: throw err;
  }
}

/** Runs one SDK call, mapping its errors with `mapAwsError`. */
export async function callAws<T>(service: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    return mapAwsError(service, err);
  }
}

/** True when `err` is an AWS SDK error with this name (e.g. `ConditionalCheckFailedException`). */
export function isAwsError(err: unknown, name: string): boolean {
  return err !== null && typeof err === 'object' && (err as { name?: unknown }).name === name;
}
