/**
 * The simulator's scenarios: how the baseline and the canary behave while traffic moves.
 * Figures are those of a mid-sized web service behind an ALB: 100 requests/s, 0.05 % 5xx,
 * p99 250 ms with a median of about 110 ms, tasks at about half their memory.
 */
import type { VerificationCheckInput } from '../functions/core/verification.ts';
import { CHAOS_SCENARIOS } from './chaos.ts';
import { alarmFromStage, reconciliationScript, type AlarmRule, type AnswerScript } from './memory-verifiers.ts';
import type { ServiceProfile } from './service-model.ts';

/** Verification checks a scenario brings, and how the simulated checks and alarms answer. */
export interface ScenarioVerification {
  /** Checks added to the config's `verification` (unless it has checks of the same names). */
  checks?: VerificationCheckInput[];
  /** How lambda and http checks answer; default PASS. */
  answer?: AnswerScript;
  /** Alarms' states by name; an alarm the config names and the scenario does not is OK. */
  alarms?: Record<string, AlarmRule>;
}

export interface Scenario {
  name: string;
  /** One line: what goes wrong (or not). */
  description: string;
  /** What a correct analyzer does with it. */
  expected: string;
  profile: ServiceProfile;
  /** Config changes the scenario needs (a manual gate, say), applied to the user's config. */
  adjustConfig?: (config: unknown) => unknown;
  /** What happens to the world while the rollout runs (sim/chaos.ts): a person, a Stop, a redrive. */
  chaos?: {
    start?: (w: import('./simulate.ts').ChaosWorld) => void;
    onState?: (w: import('./simulate.ts').ChaosWorld, state: string, inParent: boolean) => void;
  };
  /** EventBridge loses the execution's status events: the reconciler must finish the rollout. */
  dropStatusEvents?: boolean;
  /** Seconds before a person approves a manual gate; null: nobody answers. */
  approveAfterSeconds?: number | null;
  /** Simulated seconds each router call takes (a Stop can land while a shift is in flight). */
  routerLatencySeconds?: number;
  /** Many rollouts in one account at once (sim/fleet.ts) instead of one. */
  fleet?: { rollouts: number; badShare: number };
  /** Verification checks the scenario brings and how they answer (data-mismatch, alarm). */
  verification?: ScenarioVerification;
}

import { HEALTHY_ERROR_RATE, healthy, profile } from './profiles.ts';

export { healthy, profile };

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'healthy',
    description: 'the canary behaves like the baseline: 0.05 % 5xx, p99 250 ms, memory about 45-50 %',
    expected: 'PROMOTED: every stage passes and the canary ends at 100 %',
    profile: profile(30000, healthy()),
  },
  {
    name: 'memory-leak',
    description: 'the canary leaks memory with every request it serves (about 0.22 % of its reservation per 100 requests), so it climbs faster as it takes more traffic and crosses 80 %',
    expected: 'ROLLED_BACK, naming memory, at the stage where memory crosses 80 % (or earlier, where a trend test sees the climb)',
    profile: profile(30000, healthy({
      memoryPercent: (c) => 44 + 6 * c.share + 0.0022 * c.servedRequests,
    })),
  },
  {
    name: 'error-spike',
    description: "the canary's connection pool is sized for a small share: once it takes about 10 % of the traffic, 3 % of its requests fail with 5xx",
    expected: 'ROLLED_BACK at the 10 % stage, naming error-rate (a critical metric: rolls back at once)',
    profile: profile(30000, healthy({
      errorRate: (c) => (c.share >= 0.08 ? 0.03 : HEALTHY_ERROR_RATE),
    })),
  },
  {
    name: 'slow-recovery',
    description: "as error-spike, but the canary's failed writes poisoned a cache both versions share: after the rollback the baseline serves 4 % 5xx, 2 % after 20 minutes, and is healthy again after 50 (the example config watches the recovery for an hour)",
    expected: 'ROLLED_BACK at the 10 % stage (critical: error-rate), then an incident status update every 15 minutes (incident.statusUpdateEvery) until recovery is verified, about 55 minutes after the rollback; none after',
    profile: {
      ...profile(30000, healthy({ errorRate: (c) => (c.share >= 0.08 ? 0.03 : HEALTHY_ERROR_RATE) })),
      baseline: healthy({
        errorRate: (c) => (c.secondsSinceRollback === undefined ? HEALTHY_ERROR_RATE : c.secondsSinceRollback < 1200 ? 0.04 : c.secondsSinceRollback < 3000 ? 0.02 : HEALTHY_ERROR_RATE),
      }),
    },
    adjustConfig: (config) => withRecoveryWatch(config, '1h'),
  },
  {
    name: 'latency-regression',
    description: 'the canary answers more slowly: p99 430 ms against the baseline 250 ms (+72 %, under the absolute 1 s limit)',
    expected: 'ROLLED_BACK at the first stage with enough data, naming latency-p99 (more than 20 % above the baseline)',
    profile: profile(30000, healthy({ latencyP99Seconds: () => 0.43 })),
  },
  {
    name: 'low-traffic',
    description: 'a quiet service: 400 requests/min in all, so the canary sees about 4 requests a minute at 1 % (healthy)',
    expected: 'not rolled back on noise: PROMOTED, or more checks / inconclusive at the small stages; a rollback only for lack of data (the inconclusive limit), never a FAIL of a healthy canary',
    profile: profile(400, healthy()),
  },
  {
    name: 'metrics-outage',
    description: "the canary's metrics stop arriving once it takes 5 % of the traffic (a broken metrics pipeline): no memory, request, 5xx or latency datapoints",
    expected: 'ROLLED_BACK at the 5 % stage after the inconclusive limit: no data is not a pass, never PROMOTED',
    profile: profile(30000, healthy({ reporting: (c) => c.canaryWeight < 5 })),
  },
  {
    name: 'canary-starved',
    description: 'the canary fails its load balancer health checks on most hosts: it receives about a tenth of its weight (0.1 % of requests at the 1 % stage), the rest lands on the baseline; what it serves, it serves well',
    expected: 'ROLLED_BACK at the first stage, saying traffic did not move (traffic-share), after waiting trafficChecks.starvedWaitSeconds for it to follow the weight; never PROMOTED',
    profile: profile(30000, healthy(), { canaryReach: 0.1 }),
  },
  {
    name: 'throughput-drop',
    description: 'once the canary takes 10 %, the whole service loses 40 % of its successful requests (the new version\'s pages break the clients\' refresh loop): error rate and latency look fine',
    expected: 'ROLLED_BACK at the 10 % stage, naming the throughput check (successful requests dropped against the stage\'s start)',
    profile: profile(30000, healthy(), { requestFactor: (weight) => (weight >= 10 ? 0.6 : 1) }),
  },
  {
    name: 'data-mismatch',
    description: 'a reconciliation check compares the legacy and the new store: they agree until the canary takes 10 %, then 37 of 120,000 records differ (partial writes); the metrics stay healthy',
    expected: 'ROLLED_BACK at the 10 % stage, the decision naming the check reconcile-orders and its reason (records differ)',
    profile: profile(30000, healthy()),
    verification: {
      checks: [{ name: 'reconcile-orders', type: 'lambda', function: 'orders-reconcile', critical: true, description: 'record counts and checksums, legacy store vs new store' }],
      answer: reconciliationScript({ fromWeight: 10 }),
    },
  },
  {
    name: 'alarm',
    description: 'a CloudWatch alarm the platform team trusts (orders-health, composite) goes to ALARM two minutes into the 10 % stage; the metrics the rollout judges stay healthy',
    expected: 'ROLLED_BACK at the 10 % stage, naming the alarm check service-alarms and the alarm in ALARM',
    profile: profile(30000, healthy()),
    verification: {
      checks: [{ name: 'service-alarms', type: 'alarm', alarms: ['orders-health'] }],
      alarms: { 'orders-health': alarmFromStage({ weight: 10, afterSeconds: 120 }) },
    },
  },
];

/** The config with the recovery watch set to `watch` (unless it sets one itself). Not an object: unchanged. */
function withRecoveryWatch(config: unknown, watch: string): unknown {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) return config;
  const c = config as { recovery?: Record<string, unknown> };
  if (c.recovery && (c.recovery.watch !== undefined || c.recovery.watchSeconds !== undefined)) return config;
  return { ...c, recovery: { ...c.recovery, watch } };
}

/** The service scenarios, then the chaos scenarios (sim/chaos.ts). */
export const ALL_SCENARIOS: readonly Scenario[] = [...SCENARIOS, ...CHAOS_SCENARIOS];
export const SCENARIO_NAMES = ALL_SCENARIOS.map((s) => s.name);

export function findScenario(name: string): Scenario {
  const found = ALL_SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`unknown scenario '${name}': choose one of ${SCENARIO_NAMES.join(', ')}`);
  return found;
}

/**
 * The rollout config with the scenario's verification checks added, as a user would have written
 * them (a config that already has checks of those names keeps its own). Not an object: unchanged.
 */
export function withScenarioChecks(config: unknown, scenario: Scenario): unknown {
  const checks = scenario.verification?.checks ?? [];
  if (checks.length === 0 || config === null || typeof config !== 'object' || Array.isArray(config)) return config;
  const c = config as { verification?: unknown };
  const own = Array.isArray(c.verification) ? c.verification as { name?: unknown }[] : [];
  const names = new Set(own.map((x) => x?.name));
  return { ...c, verification: [...own, ...checks.filter((x) => !names.has(x.name))] };
}
