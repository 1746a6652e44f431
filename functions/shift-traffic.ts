/** Lambda entry of the rollout workflow's `shiftTraffic` step (see core/rollout-steps.ts). */
import { shiftTraffic } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { locks, rollouts, traffic } from './commons/aws-deps.ts';

export const handler = stepHandler(shiftTraffic, () => ({ traffic: traffic(), locks: locks(), rollouts: rollouts() }));
