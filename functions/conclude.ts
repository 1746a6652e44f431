/** Lambda entry of the rollout workflow's `conclude` step (see core/rollout-steps.ts). */
import { countedStep, conclude } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { evidence, hooks, incidents, rollouts } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(conclude), () => ({ rollouts: rollouts(), incidents: incidents(), evidence: evidence(), hooks: hooks() }));
