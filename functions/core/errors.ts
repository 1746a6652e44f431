/**
 * Typed errors. Each class sets `name`, which is what Step Functions' `ErrorEquals` matches when
 * a Lambda throws it, so the state machine can retry or catch by kind.
 */

/** The rollout config (execution input) is invalid. Never retried; nothing has been changed. */
export class ConfigValidationError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`Invalid rollout config:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
    this.name = 'ConfigValidationError';
    this.issues = issues;
  }
}

/** A precondition of the rollout does not hold (records missing, TTL too long, unhealthy baseline...). */
export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreflightFailed';
  }
}

/** Another rollout holds the lock on the same traffic target. */
export class LockHeldError extends Error {
  readonly holder: string;
  constructor(lockKey: string, holder: string, expiresAt: string) {
    super(`Traffic target ${lockKey} is locked by rollout ${holder} (lease until ${expiresAt}); wait for it to finish or abort it with \`canary abort ${holder}\``);
    this.name = 'LockHeld';
    this.holder = holder;
  }
}

/** The lock was lost to someone else mid-rollout (lease expired and taken over). */
export class LockLostError extends Error {
  constructor(lockKey: string, owner: string) {
    super(`Rollout ${owner} no longer holds the lock on ${lockKey}`);
    this.name = 'LockLost';
  }
}

/**
 * The caller may no longer move this rollout's traffic: the record is closed or was taken over (by
 * the safety net or the reconciler), or the lock belongs to another token. A redriven or stale
 * execution gets this and changes nothing. Not retried.
 */
export class FencedOutError extends Error {
  constructor(rolloutId: string, detail: string) {
    super(`Rollout ${rolloutId} is not this execution's to move any more: ${detail}`);
    this.name = 'FencedOut';
  }
}

/** An AWS API asked us to slow down or to retry later. Step Functions retries it with backoff. */
export class ThrottledError extends Error {
  constructor(service: string, cause: unknown) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`${service} throttled the request (${detail})`);
    this.name = 'Throttled';
  }
}

/** A transient AWS failure (5xx, timeout, network). Retried by Step Functions like throttling. */
export class TransientAwsError extends Error {
  constructor(service: string, cause: unknown) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`${service} failed transiently (${detail})`);
    this.name = 'TransientAwsError';
  }
}

/** The Route 53 record set is not in the state a step expected (someone else changed it). */
export class TrafficStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrafficStateError';
  }
}

/** `requestAbort` on a rollout that has already finished (or is rolling back). */
export class RolloutNotRunningError extends Error {
  readonly status: string;
  constructor(rolloutId: string, status: string) {
    super(`Rollout ${rolloutId} is ${status}, not RUNNING or HALTED: there is nothing to abort`);
    this.name = 'RolloutNotRunning';
    this.status = status;
  }
}

/** The rollout does not exist in the table. */
export class RolloutNotFoundError extends Error {
  constructor(rolloutId: string) {
    super(`No rollout ${rolloutId} in the rollouts table`);
    this.name = 'RolloutNotFound';
  }
}

/** `canary approve/reject` on a rollout that is not waiting at that gate. */
export class GateNotPendingError extends Error {
  constructor(rolloutId: string, detail: string) {
    super(`Rollout ${rolloutId} is not waiting for an approval ${detail}`);
    this.name = 'GateNotPending';
  }
}

/**
 * A person's request (promote --full, pause, resume, retry) that the rollout cannot take as it
 * is now: the message says why and what to do instead. Nothing was changed.
 */
export class ControlRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlRefused';
  }
}

/** Names Step Functions should retry with backoff and jitter. */
export const RETRYABLE_ERRORS = ['Throttled', 'TransientAwsError'] as const;
