/** Lambda entry of the rollout workflow's `conclude` step (see core/rollout-steps.ts). */
import { conclude } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';

export const handler = stepHandler(conclude);
