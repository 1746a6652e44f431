/**
 * The real ASL (rollout and segments) with every Task bound to its real Lambda handler (middy,
 * depsWith, the handler's own ports), the ports replaced through overrideAwsDeps by in-memory
 * ones, on a simulated clock: each Wait jumps the clock to `wait.until`, each task takes a second.
 * A small service model answers the metrics from the share the router really serves.
 */
import type { Context } from 'aws-lambda';
import { overrideAwsDeps } from '../../functions/commons/aws-deps.ts';
import { handler as analyze } from '../../functions/analyze.ts';
import { handler as checkApproval } from '../../functions/check-approval.ts';
import { handler as checkSync } from '../../functions/check-sync.ts';
import { handler as conclude } from '../../functions/conclude.ts';
import { handler as preflight } from '../../functions/preflight.ts';
import { handler as rollback } from '../../functions/rollback.ts';
import { handler as shiftTraffic } from '../../functions/shift-traffic.ts';
import { handler as verifyRecovery } from '../../functions/verify-recovery.ts';
import type { MetricData, MetricWindow, Series } from '../../functions/core/judge.ts';
import type { Deps, MetricsPort } from '../../functions/core/ports.ts';
import { SimClock } from '../../sim/clock.ts';
import { MemoryEvidence, MemoryIncidents, MemoryLog, MemoryRollouts } from '../../sim/memory-adapters.ts';
import { runWorkflow, type TaskFunction, type WorkflowRun } from '../../sim/workflow-runner.ts';

export interface HandlerWorld {
  clock: SimClock;
  rollouts: MemoryRollouts;
  incidents: MemoryIncidents;
  evidence: MemoryEvidence;
  log: MemoryLog;
}

const lambdaContext = { functionName: 'test', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** The stack's environment the handlers read (the ports themselves are overridden). */
export function handlerEnv(): void {
  process.env.TABLE_NAME = 'canary-rollouts';
  process.env.TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:canary-incidents';
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
}

/** A world of in-memory ports on a simulated clock, wired in place of the AWS ones (plus `ports`). */
export function handlerWorld(ports: Partial<Deps>, start = new Date('2026-03-02T10:00:00Z')): HandlerWorld {
  const world: HandlerWorld = {
    clock: new SimClock(start), rollouts: new MemoryRollouts(), incidents: new MemoryIncidents(), evidence: new MemoryEvidence(), log: new MemoryLog(),
  };
  overrideAwsDeps({
    clock: world.clock, rollouts: world.rollouts, incidents: world.incidents, evidence: world.evidence, log: world.log, decisionMetrics: undefined, ...ports,
  });
  return world;
}

/** Runs the rollout's execution: every Task is its real handler; before it runs, the clock jumps to the Wait's deadline. */
export function runHandlers(world: HandlerWorld, input: unknown, executionName = 'rollout-1', beforeTask?: () => Promise<void>): Promise<WorkflowRun> {
  const bind = (h: (event: never, context: Context) => Promise<unknown>): TaskFunction => async (event: never) => {
    const until = (event as { wait?: { until?: string } }).wait?.until;
    if (until) world.clock.advanceTo(until);
    await beforeTask?.();
    const out = await h(event, lambdaContext);
    world.clock.advance(1);
    return out;
  };
  return runWorkflow({
    input, executionName,
    tasks: {
      PreflightFunctionArn: bind(preflight), ShiftTrafficFunctionArn: bind(shiftTraffic), CheckSyncFunctionArn: bind(checkSync),
      CheckApprovalFunctionArn: bind(checkApproval), AnalyzeFunctionArn: bind(analyze), RollbackFunctionArn: bind(rollback),
      ConcludeFunctionArn: bind(conclude), VerifyRecoveryFunctionArn: bind(verifyRecovery),
    },
  });
}

/** 5xx (or Errors) share of each variant, given the canary's share of requests (0..1). */
export type ErrorModel = (variant: 'canary' | 'baseline', canaryShare: number) => number;
export const healthyErrors: ErrorModel = () => 0.001;

/**
 * Metrics of a service doing 20,000 requests a minute, split as the router serves them at each
 * period's middle (`canaryShareAt`, 0..1): request and error counts under ALB, Lambda and
 * flagged-service names, latency, memory and concurrency. Periods that have not ended have no datapoint.
 */
export function serviceMetrics(clock: SimClock, canaryShareAt: (at: Date) => number, errors: ErrorModel = healthyErrors): MetricsPort {
  const value = (metricName: string, variant: 'canary' | 'baseline', start: number, periodMs: number): number | null => {
    if (start + periodMs > clock.now().getTime()) return null;
    const canary = canaryShareAt(new Date(start + periodMs / 2));
    const share = variant === 'canary' ? canary : 1 - canary;
    const requests = Math.round(20_000 * share);
    switch (metricName) {
      case 'RequestCount': case 'Invocations': case 'Requests': return requests > 0 ? requests : null;
      case 'HTTPCode_Target_5XX_Count': case 'Errors': {
        const n = Math.round(requests * errors(variant, canary));
        return n > 0 ? n : null; // counts are published only when non-zero
      }
      case 'MemoryUtilization': return 45;
      case 'TargetResponseTime': return 0.25;
      case 'Duration': case 'Latency': return 250;
      case 'ConcurrentExecutions': return requests > 0 ? Math.max(1, Math.round(50 * share)) : null;
      default: return null;
    }
  };
  return {
    async fetchWindow(metrics, range): Promise<MetricWindow> {
      const periodMs = range.periodSeconds * 1000;
      const n = Math.max(0, Math.floor((range.end.getTime() - range.start.getTime()) / periodMs));
      const series = (name: string, variant: 'canary' | 'baseline') =>
        Array.from({ length: n }, (_, k) => value(name, variant, range.start.getTime() + k * periodMs, periodMs));
      const out: MetricWindow = { periodSeconds: range.periodSeconds, start: range.start.toISOString(), metrics: {} };
      for (const m of metrics) {
        const of = (variant: 'canary' | 'baseline'): Series => {
          const q = m.queries[variant];
          return 'numerator' in q
            ? { numerator: series(q.numerator.metricName!, variant), denominator: series(q.denominator.metricName!, variant) }
            : { values: series(q.value.metricName!, variant) };
        };
        const data: MetricData = { canary: of('canary'), baseline: of('baseline') };
        out.metrics[m.name] = data;
      }
      return out;
    },
  };
}
