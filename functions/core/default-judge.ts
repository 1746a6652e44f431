/** The judge the Lambdas, the CLI and the simulator use (see statistical-judge.ts). */
import type { Judge } from './judge.ts';
import { statisticalJudge } from './statistical-judge.ts';

export const defaultJudge: Judge = statisticalJudge;
