/**
 * Lambda entry of the safety net, invoked by an EventBridge rule when a rollout execution ends
 * FAILED, TIMED_OUT or ABORTED (see core/safety-net.ts).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { safetyNet, type ExecutionEnded } from './core/safety-net.ts';
import { depsWith, evidence, incidents, rollouts, traffic } from './commons/aws-deps.ts';
import { logger } from './commons/powertools.ts';

type StatusChange = EventBridgeEvent<'Step Functions Execution Status Change', ExecutionEnded>;

export const handler = middy<StatusChange, unknown, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler((event) => safetyNet(event.detail, depsWith({ traffic: traffic(), rollouts: rollouts(), incidents: incidents(), evidence: evidence() })));
