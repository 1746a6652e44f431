/** Lambda entry of the rollout workflow's `analyze` step (see core/rollout-steps.ts). */
import { analyze } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { evidence, locks, metrics, rollouts } from './commons/aws-deps.ts';

export const handler = stepHandler(analyze, () => ({ metrics: metrics(), locks: locks(), rollouts: rollouts(), evidence: evidence() }));
