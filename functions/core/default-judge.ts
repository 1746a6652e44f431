/** The judge the Lambdas, the CLI and the simulator use. */
import type { Judge } from './judge.ts';
import { thresholdJudge } from './threshold-judge.ts';

export const defaultJudge: Judge = thresholdJudge;
