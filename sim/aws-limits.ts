/**
 * AWS's quotas and rules that the local harness applies, as plain numbers and pure functions, each
 * with where it comes from. The local runner (sim/sfn-sim.ts) enforces the Step Functions ones; the
 * DynamoDB item size and the token bucket are for the in-memory stores and the simulated accounts.
 *
 * Sources (read 2026; "SDK docs" = the API reference shipped in @aws-sdk/client-sfn's typings):
 * - Step Functions quotas: https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
 * - Error names: https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 * - History event types: https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
 * - Redrive: RedriveExecution (SDK docs) and https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html
 * - DynamoDB item size: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 * - Route 53 throttling: https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html
 */

// ---------------------------------------------------------------------------------------------
// Step Functions (Standard workflows)
// ---------------------------------------------------------------------------------------------

/**
 * Events in one execution's history (hard quota). Past it the execution fails with `States.Runtime`.
 * The docs do not say where the terminal event falls; the runner lets the history hold exactly
 * 25,000 events, the last being the terminal one (ExecutionSucceeded / ExecutionFailed ...).
 */
export const HISTORY_EVENT_LIMIT = 25_000;

/** RedriveExecution needs fewer than this many events: room for ExecutionRedriven and one more (SDK docs). */
export const REDRIVE_MAX_HISTORY_EVENTS = 24_999;

/**
 * Maximum input or output of a task, state or execution, in UTF-8 bytes of its JSON (hard quota:
 * 256 KiB). Over it: `States.DataLimitExceeded`, which `States.ALL` does not catch.
 */
export const PAYLOAD_LIMIT_BYTES = 262_144;

/** A Standard execution runs one year at most; past it, it times out (`States.Timeout`). */
export const MAX_EXECUTION_SECONDS = 365 * 24 * 3600;

/** RedriveExecution works for 14 days after the execution ended (SDK docs). */
export const REDRIVE_WINDOW_SECONDS = 14 * 24 * 3600;

/** Lambda runs one invocation 15 minutes at most. */
export const LAMBDA_MAX_SECONDS = 900;

/**
 * How the runner counts history events, by AWS's event types (API_HistoryEvent):
 *
 * | what                                   | events                                                        | count |
 * |----------------------------------------|---------------------------------------------------------------|-------|
 * | an execution                           | ExecutionStarted + one of ExecutionSucceeded/Failed/TimedOut/Aborted | 2 |
 * | Pass, Wait, Choice, Succeed            | <Type>StateEntered + <Type>StateExited                        | 2     |
 * | Fail                                   | FailStateEntered (+ the ExecutionFailed above)                | 1     |
 * | Task, Resource = Lambda function ARN   | TaskStateEntered + per attempt LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded/Failed/TimedOut + TaskStateExited | 2 + 3 per attempt |
 * | Task, service integration (request-response, e.g. lambda:invoke, states:startExecution) | TaskStateEntered + TaskScheduled, TaskStarted, TaskSucceeded/Failed per attempt + TaskStateExited | 2 + 3 per attempt |
 * | Task, `.sync` / `.sync:2`              | as above + TaskSubmitted per attempt                          | 2 + 4 per attempt |
 * | Map (inline)                           | MapStateEntered, MapStateStarted, MapStateSucceeded/Failed, MapStateExited + per item MapIterationStarted, MapIterationSucceeded/Failed/Aborted | 4 + 2 per item (+ the states inside) |
 * | Parallel                               | ParallelStateEntered, ParallelStateStarted, ParallelStateSucceeded/Failed, ParallelStateExited | 4 (+ the states inside) |
 * | a stop while a Task/Wait/Map/Parallel runs | <Type>StateAborted (+ ExecutionAborted)                   | 1     |
 * | a redrive                              | ExecutionRedriven                                             | 1     |
 *
 * A state whose error is not caught has no <Type>StateExited: the execution fails instead. So a
 * Lambda Task costs 5 events and each retry 3 more; a check loop of Wait + Task + Choice costs 9.
 */
export const HISTORY_EVENTS = {
  execution: 2,
  simpleState: 2,
  failState: 1,
  taskStateBase: 2,
  lambdaAttempt: 3,
  serviceAttempt: 3,
  syncAttemptExtra: 1,
  mapOrParallelBase: 4,
  mapIteration: 2,
  stateAborted: 1,
  redriven: 1,
} as const;

/** UTF-8 bytes of a value's JSON, as Step Functions measures a payload (`undefined` counts as `null`). */
export function payloadBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null', 'utf8');
}

export interface RetrierTiming {
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: 'FULL' | 'NONE' | string;
}

/**
 * The pause before retry number `attempt` (0 for the first retry), in seconds, as the ASL retrier
 * defines it: IntervalSeconds (default 1) × BackoffRate (default 2) ^ attempt, capped by
 * MaxDelaySeconds; with `JitterStrategy: FULL` a uniform draw in [0, that delay) from `rng`
 * ("a random number between 0 and the computed backoff", JitterType in the CDK / ASL docs).
 */
export function retryDelaySeconds(retrier: RetrierTiming, attempt: number, rng: () => number): number {
  const interval = retrier.IntervalSeconds ?? 1;
  const backoff = retrier.BackoffRate ?? 2;
  let delay = interval * Math.pow(backoff, attempt);
  if (retrier.MaxDelaySeconds !== undefined) delay = Math.min(delay, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === 'FULL') delay = rng() * delay;
  return delay;
}

// ---------------------------------------------------------------------------------------------
// DynamoDB
// ---------------------------------------------------------------------------------------------

/** 400 KB per item, attribute names and values together (hard quota; the write fails with ValidationException). */
export const DYNAMODB_ITEM_LIMIT_BYTES = 409_600;

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * A DynamoDB number's size: "(1 byte per two significant digits) + (1 byte)", leading and trailing
 * zeroes trimmed (the docs call it approximate). `0` has no significant digit: 1 byte.
 */
export function dynamoNumberSize(n: number | bigint, path = 'number'): number {
  if (typeof n === 'number' && !Number.isFinite(n)) throw new TypeError(`${path}: DynamoDB cannot store ${n}`);
  const text = typeof n === 'bigint' ? n.toString() : String(n);
  const digits = significantDigits(text);
  if (digits > 38) throw new RangeError(`${path}: DynamoDB numbers have at most 38 significant digits, ${text} has ${digits}`);
  return Math.ceil(digits / 2) + 1;
}

/**
 * Significant digits of a number's text: "-0.00150e-7" has 2 ("15"); the sign, the point, the
 * exponent and leading or trailing zeroes do not count. One pass over the characters: every
 * number of every item written in a simulation goes through here.
 */
function significantDigits(text: string): number {
  let end = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 101 || c === 69) { end = i; break; } // 'e' / 'E'
  }
  let first = -1;
  let last = -1;
  let count = 0; // digits from the first significant one to here
  let lastCount = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) continue; // '-', '.'
    if (first < 0 && c === 48) continue; // leading zero
    if (first < 0) first = i;
    count++;
    if (c !== 48) { last = i; lastCount = count; }
  }
  return last < 0 ? 0 : lastCount;
}

/** Sizes of frozen values (they cannot change): a record's unchanged parts are not measured again on every write. */
const frozenSizes = new WeakMap<object, number>();

function dynamoValueSize(value: unknown, path: string): number {
  if (value !== null && typeof value === 'object' && Object.isFrozen(value)) {
    const known = frozenSizes.get(value);
    if (known !== undefined) return known;
    const size = measureValue(value, path);
    frozenSizes.set(value, size);
    return size;
  }
  return measureValue(value, path);
}

function measureValue(value: unknown, path: string): number {
  if (value === null) return 1;
  switch (typeof value) {
    case 'boolean': return 1;
    case 'string': return utf8(value);
    case 'number':
    case 'bigint': return dynamoNumberSize(value, path);
    case 'object': break;
    default: throw new TypeError(`${path}: DynamoDB cannot store a ${typeof value}`);
  }
  if (value instanceof Uint8Array) return value.byteLength; // binary: raw bytes, not the base64 text
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (value instanceof Set) {
    // SS / NS / BS: the sum of the elements (the docs give sets no overhead).
    let size = 0;
    for (const element of value) size += dynamoValueSize(element, `${path}[set element]`);
    return size;
  }
  if (Array.isArray(value)) {
    // List: 3 bytes + 1 per element + the elements. Undefined elements are dropped, as the
    // document client does with removeUndefinedValues (functions/commons/aws-deps.ts).
    let size = 3;
    value.forEach((element, i) => {
      if (element !== undefined) size += 1 + dynamoValueSize(element, `${path}[${i}]`);
    });
    return size;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`${path}: a ${(value as object).constructor?.name ?? 'class instance'} is not a DynamoDB value; convert it first (a Date to an ISO string, say)`);
  }
  // Map: 3 bytes + per entry its name, 1 byte and its value.
  let size = 3;
  for (const [name, element] of Object.entries(value)) {
    if (element !== undefined) size += utf8(name) + 1 + dynamoValueSize(element, `${path}.${name}`);
  }
  return size;
}

/**
 * The size DynamoDB counts for an item written through the document client (plain JS values):
 * per attribute, its name's UTF-8 bytes plus its value's size —
 * strings: UTF-8 bytes; numbers: 1 byte per two significant digits + 1; binary: raw bytes;
 * booleans and null: 1; lists and maps: 3 bytes + 1 byte per element + the elements (nested map
 * names counted); sets: the elements. Compare with DYNAMODB_ITEM_LIMIT_BYTES.
 */
export function dynamoItemSize(item: Record<string, unknown>): number {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new TypeError('dynamoItemSize: an item is an object of attributes');
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value !== undefined) size += utf8(name) + dynamoValueSize(value, name);
  }
  return size;
}

// ---------------------------------------------------------------------------------------------
// Throttles (token buckets on simulated time)
// ---------------------------------------------------------------------------------------------

export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate). */
  ratePerSecond: number;
  /** Bucket capacity (the burst); the bucket starts full. */
  burst: number;
  /** The clock the bucket refills on: pass the simulated clock's `now`. */
  now: () => Date | number;
}

/**
 * A token bucket, as Route 53 and most AWS APIs throttle: each request takes a token; tokens come
 * back at `ratePerSecond` up to `burst`; a request finding the bucket empty is throttled.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly #now: () => Date | number;
  #tokens: number;
  #lastMs: number;
  /** Requests refused so far. */
  throttled = 0;
  /** Requests let through so far. */
  granted = 0;

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`TokenBucket ratePerSecond must be a positive number, not ${options.ratePerSecond}`);
    }
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) {
      throw new RangeError(`TokenBucket burst must be at least 1 (a bucket that can never hold one token refuses everything), not ${options.burst}`);
    }
    this.ratePerSecond = options.ratePerSecond;
    this.burst = options.burst;
    this.#now = options.now;
    this.#tokens = options.burst;
    this.#lastMs = this.#nowMs();
  }

  #nowMs(): number {
    const now = this.#now();
    return typeof now === 'number' ? now : now.getTime();
  }

  #refill(): void {
    const now = this.#nowMs();
    if (now > this.#lastMs) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#lastMs) * this.ratePerSecond) / 1000);
      this.#lastMs = now;
    }
  }

  /** Tokens in the bucket now (fractional while refilling). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Takes `n` tokens and answers true, or answers false (throttled) and takes none. */
  tryTake(n = 1): boolean {
    this.#refill();
    // A tolerance for the float arithmetic of the refill (100 ms at 10/s is exactly one token).
    if (this.#tokens + 1e-9 >= n) {
      this.#tokens = Math.max(0, this.#tokens - n);
      this.granted++;
      return true;
    }
    this.throttled++;
    return false;
  }

  /** Seconds until `n` tokens will be there (0 if they are now). */
  secondsUntil(n = 1): number {
    if (n > this.burst) return Infinity;
    const missing = n - this.available();
    return missing <= 1e-9 ? 0 : missing / this.ratePerSecond;
  }
}

/**
 * Route 53's account-level request bucket: every Route 53 API request of the account (GetChange
 * included) takes a token; capacity 50, refill 10 per second. Each action also has its own bucket
 * (50 / 10 by default), and record changes have a separate change-throughput bucket (not modelled).
 */
export const ROUTE53_ACCOUNT_BUCKET = { ratePerSecond: 10, burst: 50 } as const;
/** The former documented limit, "five requests per second per AWS account"; its burst was not documented (assumed 5). */
export const ROUTE53_LEGACY_BUCKET = { ratePerSecond: 5, burst: 5 } as const;
/** CloudWatch GetMetricData: 50 transactions per second per account and Region; the burst is not documented (assumed 50). */
export const GET_METRIC_DATA_BUCKET = { ratePerSecond: 50, burst: 50 } as const;
