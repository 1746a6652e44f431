/** Lambda entry of the rollout workflow's `shiftTraffic` step (see core/rollout-steps.ts). */
import { shiftTraffic } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';

export const handler = stepHandler(shiftTraffic);
