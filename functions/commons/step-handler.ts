/**
 * Turns a rollout step into a Lambda handler: middy with Powertools' logger (rollout id, stage
 * and weight on every line) and the decisions' EMF metrics. The step gets the AWS-wired ports.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import type { Deps } from '../core/ports.ts';
import { depsWith } from './aws-deps.ts';
import { logger, metrics } from './powertools.ts';

interface StepInput {
  rolloutId?: string;
  stageIndex?: number;
  weight?: number;
  execution?: { name?: string };
}

/**
 * `ports` builds the ports the step uses (from aws-deps.ts: `() => ({ traffic: traffic(), ... })`):
 * the bundle carries only their SDK clients.
 */
export function stepHandler<I, O>(step: (input: I, deps: Deps) => Promise<O>, ports: () => Parameters<typeof depsWith>[0]) {
  return middy<I, O, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .before((request) => {
      const event = (request.event ?? {}) as StepInput;
      logger.appendKeys({
        rolloutId: event.rolloutId ?? event.execution?.name,
        stage: event.stageIndex,
        weight: event.weight,
      });
    })
    .after(() => {
      // Decision metrics (EMF) only when a step recorded some: most steps record none.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    })
    .handler((event) => step(event, depsWith(ports())));
}
