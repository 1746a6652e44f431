/** Lambda entry of the rollout workflow's `analyze` step (see core/rollout-steps.ts). */
import { analyze } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';

export const handler = stepHandler(analyze);
