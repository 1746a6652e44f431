/**
 * Lambda entry of the rollout workflow's `verifyRecovery` step, run after Conclude on the
 * rollback path (see core/recovery.ts; dry-run metrics are left out of the watch).
 */
import { countedStep, watchRecovery } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { incidents, metrics, rollouts } from './commons/aws-deps.ts';

export const handler = stepHandler(countedStep(watchRecovery), () => ({ metrics: metrics(), rollouts: rollouts(), incidents: incidents() }));
