/** Lambda entry of the rollout workflow's `conclude` step (see core/rollout-steps.ts). */
import { conclude } from './core/rollout-steps.ts';
import { stepHandler } from './commons/step-handler.ts';
import { evidence, incidents, locks, rollouts } from './commons/aws-deps.ts';

export const handler = stepHandler(conclude, () => ({ locks: locks(), rollouts: rollouts(), incidents: incidents(), evidence: evidence() }));
