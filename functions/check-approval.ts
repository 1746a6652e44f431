/** Lambda entry of the rollout workflow's `checkApproval` step: polls a stage's manual gate. */
import { checkApproval } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { locks, rollouts } from './commons/aws-deps.ts';

export const handler = stepHandler(checkApproval, () => ({ locks: locks(), rollouts: rollouts() }));
