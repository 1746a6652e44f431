/** Lambda entry of the rollout workflow's `preflight` step (see core/rollout-steps.ts). */
import { preflight } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { metrics, rollouts, traffic, verification } from './commons/aws-deps.ts';

export const handler = stepHandler(preflight, () => ({ traffic: traffic(), metrics: metrics(), rollouts: rollouts(), verification: verification() }));
