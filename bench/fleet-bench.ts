/**
 * Many concurrent rollouts in one account on the simulator (sim/fleet.ts): N rollouts started within
 * a minute, one in ten with a canary whose 5xx rate jumps at the 10 % stage, all sharing the
 * account's Route 53 quota (10 requests/s with a burst of 50; and the former 5/s), GetMetricData's
 * 50 requests/s, one rollouts table, the safety net and the reconciler. Prints, per N and rate:
 * healthy rollouts wrongly rolled back or refused, traffic left shifted (or a lock left held),
 * Route 53 requests and throttles, and the time from a rollback decision to the rollback's change
 * being INSYNC (p50, p99, max; and when the workflow saw it). Targets: 0 and 0 at every N; rollback
 * p99 under 3 minutes at N = 1,000.
 *
 *   npm run bench:fleet [-- --n 10,100,500,1000 --rates 10,5 --seed 1]
 */
import { readFileSync } from 'node:fs';
import { simulateFleet } from '../sim/fleet.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const ns = arg('n', '10,100,500,1000').split(',').map(Number);
const rates = arg('rates', '10,5').split(',').map(Number);
const seed = Number(arg('seed', '1'));
const config = JSON.parse(readFileSync(new URL('../examples/rollout.json', import.meta.url), 'utf8'));

const s = (v: number | null) => (v === null ? '-' : v.toFixed(0));
console.log(`fleet on the simulator: examples/rollout.json per rollout, 1 in 10 canaries bad (5xx at 10 %), starts spread over 60 s, seed ${seed}, Node ${process.version}\n`);
console.log(['rate/s', 'N', 'promoted', 'rolled back', 'refused', 'healthy stopped', 'left shifted', 'R53 calls', 'throttled', 'rollback→INSYNC p50/p99/max s', 'seen p99 s', 'sim h', 'wall s'].join(' | '));
for (const rate of rates) {
  for (const n of ns) {
    const t0 = performance.now();
    const r = await simulateFleet({ n, seed, config, badShare: 0.1, route53: { ratePerSecond: rate, burst: rate >= 10 ? 50 : rate } });
    const wall = (performance.now() - t0) / 1000;
    const m = r.summary;
    console.log([
      rate, n, m.promoted, m.rolledBack, m.refused, m.healthyWronglyStopped, m.leftShifted + m.locksHeld, r.route53.calls, r.route53.throttled,
      `${s(m.rollbackSeconds.p50)}/${s(m.rollbackSeconds.p99)}/${s(m.rollbackSeconds.max)}`, s(m.rollbackObservedSeconds.p99),
      (r.simulatedSeconds / 3600).toFixed(1), wall.toFixed(1),
    ].join(' | '));
  }
}
