/**
 * Chaos scenarios: a healthy (or slowly leaking) canary, and something happening to the world while
 * the rollout runs that real AWS and real people do and the happy path never sees: a person moving
 * the weights by hand, a Stop while a weight change is in flight, a redrive of an execution the
 * safety net already closed, a record deleted, a TTL raised, a leak while a manual gate waits. Each
 * must end with the weights at exactly 100/0 or 0/100 and the lock released; wherever traffic went
 * back to the baseline the exit code is 2, and never 0 over a person's rollback.
 */
import type { RolloutRecord } from '../functions/core/rollout-record.ts';
import type { ChaosWorld } from './simulate.ts';
import { healthy, profile } from './profiles.ts';
import type { Scenario } from './scenarios.ts';

/** How often a chaos actor looks at the rollout's record. */
const LOOK_EVERY_SECONDS = 30;

/**
 * Runs `act` once, the first time `ready(record, now)` holds, looking every 30 simulated seconds;
 * gives up when the rollout has closed without it.
 */
function once(w: ChaosWorld, ready: (record: RolloutRecord, now: Date) => boolean, act: (now: Date) => void): void {
  w.world.sim.spawn(async (ctx) => {
    for (;;) {
      await ctx.sleep(LOOK_EVERY_SECONDS);
      const record = await w.world.rollouts.get(w.rolloutId);
      if (record && ready(record, ctx.now())) {
        act(ctx.now());
        return;
      }
      if (record && record.status !== 'RUNNING') return;
      if (w.handle.status() !== 'RUNNING') return;
    }
  });
}

/** The canary has been at `weight` (in sync) for `seconds`. */
const atWeightFor = (weight: number, seconds: number) => (r: RolloutRecord, now: Date) =>
  r.status === 'RUNNING' && r.weight === weight && r.lastChange?.canary === weight && r.lastChange.inSyncAt !== undefined
  && now.getTime() >= Date.parse(r.lastChange.inSyncAt) + seconds * 1000;

const PERSON = 'a person at the Route 53 console';

export const CHAOS_SCENARIOS: readonly Scenario[] = [
  {
    name: 'fleet-throttling',
    description: '100 healthy rollouts (--rollouts N) started within a minute in one account, sharing its Route 53 quota of 10 requests/s (--route53-rate 5: the old quota): every shift, poll and read-back competes for it',
    expected: 'every healthy rollout PROMOTED: throttling delays the rollouts, it never rolls one back, refuses one or leaves traffic shifted (exit 0)',
    profile: profile(30000, healthy()),
    fleet: { rollouts: 100, badShare: 0 },
  },
  {
    name: 'manual-rollback',
    description: 'a healthy canary; two minutes into the 10 % stage a person sets the canary record to weight 0 by hand',
    expected: 'ROLLED_BACK, respecting the person: no promotion over it, no incident, the lock released (exit 2)',
    profile: profile(30000, healthy()),
    chaos: {
      start: (w) => once(w, atWeightFor(10, 120), () => w.world.traffic.setWeightsBy(w.config.target, { canary: 0, baseline: 100 }, PERSON)),
    },
  },
  {
    name: 'stop-during-shift',
    description: 'Route 53 answers slowly (5 s a call); a person presses Stop while the shift to the 5 % stage is in flight: Step Functions stops the execution, not the Lambda already running',
    expected: 'ROLLED_BACK by the safety net: baseline restored, the late shift refused (the weights are no longer what it read) or undone by the re-check after the stop, incident opened, lock released (exit 2)',
    profile: profile(30000, healthy()),
    routerLatencySeconds: 5,
    chaos: {
      onState: (() => {
        const shifts = new WeakMap<ChaosWorld, number>();
        return (w: ChaosWorld, state: string, inParent: boolean) => {
          if (inParent || state !== 'ShiftTraffic') return;
          const n = (shifts.get(w) ?? 0) + 1;
          shifts.set(w, n);
          // The second shift (1 % → 5 %): its Lambda reads back for 5 s, then shifts for 5 s.
          if (n === 2) w.handle.stop({ at: w.world.clock.now().getTime() + 2000, error: 'Stopped', cause: 'a person pressed Stop in the Step Functions console' });
        };
      })(),
    },
  },
  {
    name: 'redrive-after-rollback',
    description: 'a person presses Stop at the 10 % stage (the safety net restores the baseline and closes the rollout), then redrives the stopped execution half an hour later',
    expected: 'ROLLED_BACK by the safety net; the redriven execution is fenced out (Superseded) and moves nothing: the weights stay 0/100, the lock free (exit 2)',
    profile: profile(30000, healthy()),
    chaos: {
      start: (w) => once(w, atWeightFor(10, 60), (now) => {
        w.handle.stop({ error: 'Stopped', cause: 'a person pressed Stop in the Step Functions console' });
        w.world.sim.at(now.getTime() + 1800_000, () => w.handle.redrive());
      }),
    },
  },
  {
    name: 'record-deleted',
    description: 'a healthy canary; two minutes into the 10 % stage a person deletes the baseline weighted record',
    expected: 'ROLLED_BACK at the next check (drift): the rollback re-creates the baseline record as preflight read it, the incident names the missing record (exit 2)',
    profile: profile(30000, healthy()),
    chaos: {
      start: (w) => once(w, atWeightFor(10, 120), () => w.world.traffic.deleteRecord(w.config.target, w.config.target.baselineSetIdentifier)),
    },
  },
  {
    name: 'ttl-raised',
    description: 'a healthy canary; two minutes into the 5 % stage a person raises the records\' TTL to 3600 s (a rollback would take an hour to reach clients)',
    expected: 'ROLLED_BACK at the next check (drift): the incident names the TTL, the rollback puts back the TTL preflight read (exit 2)',
    profile: profile(30000, healthy()),
    chaos: {
      start: (w) => once(w, atWeightFor(5, 120), () => w.world.traffic.setTtl(w.config.target, 3600)),
    },
  },
  {
    name: 'leak-during-approval',
    description: 'stages 1 → 5 → [manual gate] 25 → 100 and nobody answers the gate (4 h timeout); the canary leaks memory slowly (about 0.3 %/min at 5 %), slowly enough to pass the 5 % stage',
    expected: 'ROLLED_BACK while the gate waits, naming memory: the live 5 % keeps being checked; the canary never moves up to 25 % (exit 2)',
    // Memory climbs with the requests served: 1,500 a minute at 5 %, 0.02 % of the reservation per 100.
    profile: profile(30000, healthy({ memoryPercent: (c) => 44 + 6 * c.share + 0.0002 * c.servedRequests })),
    approveAfterSeconds: null,
    adjustConfig: (config) => ({
      ...(config as object),
      stages: [1, 5, { weight: 25, approval: true }, 100],
      approvalTimeoutSeconds: 4 * 3600,
    }),
  },
];
