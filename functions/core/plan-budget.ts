/**
 * The arithmetic of a rollout plan against what AWS allows and what it costs: how long it can take
 * at the most (Step Functions ends an execution after a year), how it splits into segments (each a
 * child execution far from 25,000 history events), and what a day of it costs. Pure: `canary
 * validate` prints it, and the config parser refuses a plan that cannot fit.
 */
import { routerKindOf, type RolloutConfig, type RolloutMetric, type RolloutTarget } from './config.ts';
import { settleAllowanceOf, trafficCountMetrics } from './traffic-checks.ts';
import {
  CLOUDWATCH_DELAY_SECONDS, MAX_WAIT_SECONDS, SEGMENT_MAX_SECONDS, SEGMENT_MAX_STEPS, SYNC_TIMEOUT_SECONDS,
} from './timing.ts';

/** Step Functions Standard: an execution runs for a year at most (the rollout's TimeoutSeconds). */
export const EXECUTION_LIMIT_SECONDS = 365 * 86_400;
/** Kept free of the year: retries, hand-overs between segments, the recovery watch's last check. */
export const PLAN_MARGIN_SECONDS = 86_400;
/** History events a step costs at most in a segment, retries aside: Wait 2 + Task 5 + Choice 2. */
export const EVENTS_PER_STEP = 9;
/** Seconds a check phase adds at most (each rollout checks at its own second of the minute). */
const CHECK_PHASE_MAX_SECONDS = 20;

/** us-east-1 list prices the estimate uses (December 2026); other regions differ a little. */
export const PRICES = {
  /** Step Functions Standard, per state transition. */
  stateTransition: 0.025 / 1000,
  /** CloudWatch GetMetricData, per metric requested. */
  metricRequested: 0.01 / 1000,
  /** Lambda arm64: per request, and per GB-second. */
  lambdaRequest: 0.2 / 1_000_000,
  lambdaGbSecond: 0.0000133334,
  /** DynamoDB on demand, per write request unit (a transactional write costs two per item). */
  writeRequestUnit: 0.625 / 1_000_000,
  /** S3 PUT. */
  put: 0.005 / 1000,
} as const;

export interface StageBudget {
  weight: number;
  /** The longest the stage can take, and what it is made of. */
  longestSeconds: number;
  parts: { what: string; seconds: number }[];
}

export interface CostPerDay {
  stateTransitions: number;
  lambdaInvocations: number;
  metricsRequested: number;
  dynamoWriteUnits: number;
  s3Puts: number;
  usd: { stepFunctions: number; getMetricData: number; lambda: number; dynamodb: number; s3: number; total: number };
}

export interface PlanBudget {
  stages: StageBudget[];
  /** After a rollback: the recovery watch. */
  recoverySeconds: number;
  longestSeconds: number;
  limitSeconds: number;
  fits: boolean;
  /** Steps a day while a stage is checked, and the segments a day of them needs. */
  stepsPerDay: number;
  segmentsPerDay: number;
  /** History events of one full segment, retries aside (AWS allows 25,000). */
  eventsPerSegment: number;
  cost: CostPerDay;
}

/** GetMetricData metrics one check requests: per metric and variant, one query (a ratio two). */
export function metricsPerCheck(metrics: RolloutMetric[]): number {
  return metrics.reduce((n, m) => n + 2 * (m.kind === 'ratio' ? 2 : 1), 0);
}

/** How long clients may lag behind a change in sync, at most, per router. */
function settlePart(target: RolloutTarget): { what: string; seconds: number } {
  switch (target.type) {
    case undefined: case 'route53': return { what: 'settle (the record TTL, at most target.maxTtlSeconds)', seconds: target.maxTtlSeconds };
    // A rule's own stickiness may be longer than the target's: ALB allows 7 days at most.
    case 'alb': return { what: 'settle (target-group stickiness, at most 7 days)', seconds: target.stickinessSeconds ?? 604_800 };
    case 'lambda-alias': return { what: 'settle (none: per invocation)', seconds: 0 };
    case 'appconfig-flag': return { what: 'settle (the clients\' poll interval)', seconds: target.clientPollSeconds };
  }
}

export function planBudget(config: RolloutConfig): PlanBudget {
  const period = config.analysisPeriodSeconds;
  const stages = config.stages.map((stage, i): StageBudget => {
    const parts: { what: string; seconds: number }[] = [];
    if (stage.approval) parts.push({ what: 'manual gate (approvalTimeout)', seconds: config.approvalTimeoutSeconds });
    parts.push({ what: 'weight change in sync (timeout)', seconds: SYNC_TIMEOUT_SECONDS });
    if (stage.weight < 100) {
      parts.push(settlePart(config.target));
      if (config.trafficChecks.enabled) {
        // Shares are judged only after the settling allowance, and a starved canary holds the stage this long more.
        parts.push({ what: 'traffic share: settling allowance and starvedWaitSeconds', seconds: settleAllowanceOf(config, routerKindOf(config.target)) + config.trafficChecks.starvedWaitSeconds });
      }
      parts.push({ what: 'bake', seconds: Math.max(stage.bakeSeconds, period) });
      parts.push({ what: 'period rounding and CloudWatch delay', seconds: period + CLOUDWATCH_DELAY_SECONDS + CHECK_PHASE_MAX_SECONDS });
      parts.push({ what: 'bake extension of a quiet stage (maxBakeExtension)', seconds: config.maxBakeExtensionSeconds });
      const extraChecks = stage.checks - 1 + config.failureLimit + config.inconclusiveLimit;
      if (extraChecks > 0) parts.push({ what: `${extraChecks} more checks (checks, failureLimit, inconclusiveLimit)`, seconds: extraChecks * config.checkIntervalSeconds });
    }
    void i;
    return { weight: stage.weight, parts, longestSeconds: parts.reduce((n, p) => n + p.seconds, 0) };
  });
  const recoverySeconds = config.recovery.watchSeconds + SYNC_TIMEOUT_SECONDS;
  const longestSeconds = stages.reduce((n, s) => n + s.longestSeconds, 0) + recoverySeconds;
  const limitSeconds = EXECUTION_LIMIT_SECONDS - PLAN_MARGIN_SECONDS;

  // A day of checking: a step per check interval (and at least one an hour: waits are capped).
  const stepsPerDay = Math.max(86_400 / config.checkIntervalSeconds, 86_400 / MAX_WAIT_SECONDS);
  const segmentSteps = Math.min(SEGMENT_MAX_STEPS, SEGMENT_MAX_SECONDS * stepsPerDay / 86_400);
  const segmentsPerDay = stepsPerDay / segmentSteps;
  // Each step: Wait, Task, Choice; each segment: the parent's Pass, Task, Choice and the child's Resume and end.
  const stateTransitions = 3 * stepsPerDay + 5 * segmentsPerDay;
  const checksPerDay = 86_400 / config.checkIntervalSeconds;
  // The judge's metrics and the traffic checks' request counts (an upper bound: the adapter asks
  // once for a query two of them share, such as a request count that is also a ratio's denominator).
  const metricsRequested = checksPerDay * metricsPerCheck([...config.metrics, ...trafficCountMetrics(config)]);
  // Per check: the fence (a transaction of two items) and the record with its event (two more).
  const dynamoWriteUnits = checksPerDay * 8;
  const s3Puts = checksPerDay;
  // A step runs about 200 ms at 512 MB.
  const lambdaGbSeconds = stepsPerDay * 0.2 * 0.5;
  const usd = {
    stepFunctions: stateTransitions * PRICES.stateTransition,
    getMetricData: metricsRequested * PRICES.metricRequested,
    lambda: stepsPerDay * PRICES.lambdaRequest + lambdaGbSeconds * PRICES.lambdaGbSecond,
    dynamodb: dynamoWriteUnits * PRICES.writeRequestUnit,
    s3: s3Puts * PRICES.put,
    total: 0,
  };
  usd.total = usd.stepFunctions + usd.getMetricData + usd.lambda + usd.dynamodb + usd.s3;
  return {
    stages, recoverySeconds, longestSeconds, limitSeconds, fits: longestSeconds <= limitSeconds,
    stepsPerDay, segmentsPerDay, eventsPerSegment: Math.ceil(segmentSteps) * EVENTS_PER_STEP,
    cost: { stateTransitions, lambdaInvocations: stepsPerDay, metricsRequested, dynamoWriteUnits, s3Puts, usd },
  };
}
