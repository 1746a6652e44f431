/** The workflow's timings: polls, waits, leases and segment sizes (shared by the steps and the plan's arithmetic). */

/** How long after a period ends CloudWatch has its datapoints aggregated. */
export const CLOUDWATCH_DELAY_SECONDS = 60;
/** How often a manual gate looks for an answer. */
export const APPROVAL_POLL_SECONDS = 30;
/** First poll of a weight change, and the cap of the polls' back-off (with jitter). */
export const SYNC_POLL_SECONDS = 15;
export const SYNC_POLL_MAX_SECONDS = 60;
/** A change still PENDING this long after it was submitted is a failure (throttled polls do not count). */
export const SYNC_TIMEOUT_SECONDS = 900;
/** No Wait of the workflow is longer: a step wakes at least this often, renews the lease and waits again. */
export const MAX_WAIT_SECONDS = 3600;
/** Added to the longest wait for the lease: retries, a segment hand-over, a slow Lambda. */
export const LEASE_MARGIN_SECONDS = 900;
/** Steps a segment runs before it hands over to the next one (about 9 history events each, 25,000 at most). */
export const SEGMENT_MAX_STEPS = 1000;
/** ...or after this long, so a segment's TimeoutSeconds is never near. */
export const SEGMENT_MAX_SECONDS = 7 * 86_400;
/** How long the drift read-back backs off at most after a throttled read (it never fails a check). */
export const DRIFT_BACKOFF_MAX_SECONDS = 600;
/** A throttled shift waits this long (doubling, with jitter, up to SHIFT_BACKOFF_MAX_SECONDS) and tries again. */
export const SHIFT_BACKOFF_SECONDS = 5;
export const SHIFT_BACKOFF_MAX_SECONDS = 300;

