/** Lambda entry of the rollout workflow's `checkApproval` step: polls a stage's manual gate. */
import { checkApproval } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';

export const handler = stepHandler(checkApproval);
