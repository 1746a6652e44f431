/** Lambda entry of the rollout workflow's `checkApproval` step: polls a stage's manual gate. */
import { countedStep, checkApproval } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { evidence, metrics, rollouts, traffic, verification } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(checkApproval), () => ({ rollouts: rollouts(), traffic: traffic(), metrics: metrics(), evidence: evidence(), verification: verification() }));
