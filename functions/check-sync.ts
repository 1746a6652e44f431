/** Lambda entry of the rollout workflow's `checkSync` step (see core/rollout-steps.ts). */
import { countedStep, checkSync } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { rollouts, traffic } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(checkSync), () => ({ traffic: traffic(), rollouts: rollouts() }));
