/**
 * Lambda entry of the rollout workflow's `verifyRecovery` step, run after Conclude on the
 * rollback path (see core/recovery.ts).
 */
import { verifyRecovery } from './core/recovery.ts';
import { countedStep } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { incidents, metrics, rollouts } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(verifyRecovery), () => ({ metrics: metrics(), rollouts: rollouts(), incidents: incidents() }));
