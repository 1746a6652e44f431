/**
 * The simulator's traffic targets beside Route 53: an ALB, a Lambda alias, an AppConfig flag,
 * each in memory with the semantics of its AWS adapter (sim/memory-routers.ts). The world
 * (sim/world.ts) holds one of each for the account, behind the same single dispatch the Lambdas
 * use (core/traffic-router.ts); these helpers set a rollout's target up at 100 % baseline and say
 * what the service model follows: the canary's share as the router serves it, and the weight
 * last set.
 */
import { isRoute53Target, targetKey, type RolloutTarget } from '../functions/core/config.ts';
import type { Clock } from '../functions/core/ports.ts';
import type { RouterDefinition, TrafficRouter } from '../functions/core/router.ts';
import type { LambdaAliasTarget } from '../functions/core/targets.ts';
import type { WeightChange, Weights } from './memory-adapters.ts';
import type { SimWorld } from './world.ts';

/** TTL of the simulated weighted records. */
export const SIM_RECORD_TTL_SECONDS = 60;

const copy = <T>(value: T): T => structuredClone(value);

/**
 * Wraps a router to record the changes it makes, per target, as the simulator reports them and
 * the service model reads the weight last set. A change is in sync once the router first says so.
 */
export class RecordingRouter<T extends RolloutTarget = RolloutTarget> implements TrafficRouter<T> {
  readonly #inner: TrafficRouter<T>;
  readonly #clock: Clock;
  readonly #changes: WeightChange[] = [];
  readonly #synced = new Set<string>();

  constructor(inner: TrafficRouter<T>, clock: Clock) {
    this.#inner = inner;
    this.#clock = clock;
  }

  read(target: T, definition?: RouterDefinition) {
    return this.#inner.read(target, definition);
  }

  async shift(target: T, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }) {
    const out = await this.#inner.shift(target, canaryPercent, options);
    this.#record(target, out.changeId, canaryPercent);
    return out;
  }

  async restore(target: T, definition: RouterDefinition) {
    const out = await this.#inner.restore(target, definition);
    this.#record(target, out.changeId, 0);
    return out;
  }

  async isInSync(target: T, changeId: string) {
    const inSync = await this.#inner.isInSync(target, changeId);
    const key = `${targetKey(target)}|${changeId}`;
    if (inSync && !this.#synced.has(key)) {
      this.#synced.add(key);
      const change = [...this.#changes].reverse().find((c) => c.id === changeId && c.targetKey === targetKey(target));
      if (change) change.inSyncAt = this.#clock.now();
    }
    return inSync;
  }

  /** The canary weight (percent) last set on the target at or before `t`. */
  weightAt(target: RolloutTarget, t: number): number {
    const key = targetKey(target);
    let weight = 0;
    for (const c of this.#changes) if (c.targetKey === key && c.submittedAt.getTime() <= t) weight = c.weights.canary;
    return weight;
  }

  /** The changes made to the target, oldest first (inSyncAt: when first seen in sync; the submission until then). */
  changes(target: RolloutTarget): WeightChange[] {
    const key = targetKey(target);
    return this.#changes.filter((c) => c.targetKey === key).map(copy);
  }

  #record(target: T, changeId: string, canary: number): void {
    const key = targetKey(target);
    const last = this.#changes.filter((c) => c.targetKey === key).at(-1);
    // A retried shift that finds its own change landed gives the same id: one change, not two.
    if (last && last.id === changeId && last.weights.canary === canary) return;
    const now = this.#clock.now();
    this.#changes.push({
      id: changeId, targetKey: key, submittedAt: now, inSyncAt: now,
      weights: { canary, baseline: 100 - canary }, previous: last ? { ...last.weights } : { canary: 0, baseline: 100 },
    });
  }
}

/** Puts a rollout's target in the world at 100 % baseline, as a rollout finds it. */
export function putTarget(world: SimWorld, target: RolloutTarget): void {
  if (isRoute53Target(target)) {
    world.traffic.putRecord(target, { setIdentifier: target.baselineSetIdentifier, weight: 100, ttl: SIM_RECORD_TTL_SECONDS, value: '10.0.0.1' });
    world.traffic.putRecord(target, { setIdentifier: target.canarySetIdentifier, weight: 0, ttl: SIM_RECORD_TTL_SECONDS, value: '10.0.0.2' });
    return;
  }
  switch (target.type) {
    case 'alb': world.alb.putForward(target); return;
    case 'lambda-alias': {
      const baseline = simBaselineVersion(target);
      world.lambdaAliases.putFunction(target, [baseline, target.canaryVersion], baseline);
      return;
    }
    case 'appconfig-flag': world.appConfig.putFlag(target, 0); return;
  }
}

/** The canary's share (0..1) a router other than Route 53 serves at `t`, and the weight last set: the service model's `share`. */
export function shareOf(world: SimWorld, target: RolloutTarget): { canaryShareAt(t: number): number; weightAt(t: number): number } | undefined {
  if (isRoute53Target(target)) return undefined;
  const percentAt = (t: number): number => {
    switch (target.type) {
      case 'alb': return world.alb.canaryShareAt(target, new Date(t));
      case 'lambda-alias': return world.lambdaAliases.canaryShareAt(target, new Date(t));
      case 'appconfig-flag': return world.appConfig.canaryShareAt(target, new Date(t));
    }
  };
  return { canaryShareAt: (t) => percentAt(t) / 100, weightAt: (t) => world.routerChanges.weightAt(target, t) };
}

/** Every weight change made to the target, oldest first. */
export function weightChangesOf(world: SimWorld, target: RolloutTarget): WeightChange[] {
  return isRoute53Target(target) ? world.traffic.changes(target) : world.routerChanges.changes(target);
}

/** The split at the end (percent for routers other than Route 53). */
export async function finalWeightsOf(world: SimWorld, target: RolloutTarget): Promise<Weights | null> {
  if (isRoute53Target(target)) return world.traffic.weights(target);
  const reading = await world.routerChanges.read(target);
  return reading.canaryPercent === null ? null : { canary: reading.canaryPercent, baseline: 100 - reading.canaryPercent };
}

/** The baseline version the simulated alias serves: the config's, else the version before the canary. */
export function simBaselineVersion(target: LambdaAliasTarget): string {
  if (target.baselineVersion) return target.baselineVersion;
  const canary = Number(target.canaryVersion);
  return String(canary > 1 ? canary - 1 : canary + 1);
}
