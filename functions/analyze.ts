/** Lambda entry of the rollout workflow's `analyze` step (see core/rollout-steps.ts). */
import { countedStep, analyze } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { evidence, metrics, rollouts, traffic, verification } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(analyze), () => ({ metrics: metrics(), traffic: traffic(), rollouts: rollouts(), evidence: evidence(), verification: verification() }));
