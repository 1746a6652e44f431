/**
 * Wall time of whole simulated rollouts: each scenario run as a user runs it
 * (`node cli/canary.ts simulate --scenario S`, a fresh process), several times; prints the
 * median and the slowest. The simulated clock makes a 30-60 minute rollout take about a second.
 *
 *   npm run bench:simulate [-- --runs 5]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SCENARIO_NAMES } from '../sim/scenarios.ts';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const cli = fileURLToPath(new URL('../cli/canary.ts', import.meta.url));

console.log(`canary simulate wall time, ${runs} run(s) per scenario, Node ${process.version}\n`);
console.log(`${'scenario'.padEnd(20)} ${'exit'.padStart(4)} ${'median s'.padStart(9)} ${'max s'.padStart(7)}  outcome`);
for (const scenario of SCENARIO_NAMES) {
  const times: number[] = [];
  let code: number | null = null;
  let outcome = '';
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const run = spawnSync(process.execPath, [cli, 'simulate', '--scenario', scenario], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    times.push((performance.now() - t0) / 1000);
    code = run.status;
    outcome = run.stdout.split('\n').find((l) => /^(PROMOTED|ROLLED BACK)/.test(l))?.slice(0, 60) ?? run.stderr.trim().slice(0, 60);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`${scenario.padEnd(20)} ${String(code).padStart(4)} ${median.toFixed(2).padStart(9)} ${times.at(-1)!.toFixed(2).padStart(7)}  ${outcome}`);
}
