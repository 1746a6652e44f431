/**
 * Lambda entry of the reconciler, run on a schedule (EventBridge Scheduler, template.yaml): finishes
 * rollouts whose execution has ended but whose record is still active (see core/reconciler.ts).
 * A rollout it could not finish makes the run fail (so the failure is visible as a Lambda error
 * and alarmed on), after it tried all the others; the next run tries again.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { reconcile } from './core/reconciler.ts';
import { depsWith, evidence, executions, incidents, rollouts, traffic } from './commons/aws-deps.ts';
import { logger } from './commons/powertools.ts';

export const handler = middy<unknown, unknown, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async () => {
    const report = await reconcile(depsWith({ traffic: traffic(), rollouts: rollouts(), incidents: incidents(), evidence: evidence(), executions: executions() }));
    logger.info('reconciler run', { swept: report.swept, finished: report.finished.length, failed: report.failed.length });
    if (report.failed.length > 0) {
      throw new Error(`could not finish ${report.failed.length} rollout(s): ${report.failed.map((f) => `${f.rolloutId}: ${f.error}`).join('; ').slice(0, 2000)}`);
    }
    return report;
  });
