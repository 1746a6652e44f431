/** Lambda entry of the rollout workflow's `shiftTraffic` step (see core/rollout-steps.ts). */
import { countedStep, shiftTraffic } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { rollouts, traffic, verification } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(shiftTraffic), () => ({ traffic: traffic(), rollouts: rollouts(), verification: verification() }));
