/**
 * Lambda entry of the scheduled soak check (see core/soak.ts). EventBridge Scheduler invokes it
 * with the schedule's Input, the soak config JSON (template.yaml: SoakConfigJson).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { soakCheckFromInput, type SoakRun } from './core/soak.ts';
import { depsWith, incidents, metrics as cloudWatchMetrics, rollouts, soaks, traffic } from './commons/aws-deps.ts';
import { logger, metrics } from './commons/powertools.ts';

export const handler = middy<unknown, SoakRun, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .after(() => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  })
  .handler((event) => soakCheckFromInput(event, depsWith({
    metrics: cloudWatchMetrics(), soaks: soaks(), incidents: incidents(), rollouts: rollouts(), traffic: traffic(),
  }), {
    rollbackAllowed: process.env.SOAK_POST_PROMOTION_ROLLBACK === 'true',
  }));
