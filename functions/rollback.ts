/** Lambda entry of the rollout workflow's `rollback` step (see core/rollout-steps.ts). */
import { countedStep, rollback } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { evidence, hooks, rollouts, traffic } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(rollback), () => ({ traffic: traffic(), rollouts: rollouts(), evidence: evidence(), hooks: hooks() }));
