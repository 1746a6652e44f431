/**
 * The one place a traffic target's kind chooses its router. The steps, the safety net, the
 * reconciler and the soak check all speak to `Deps.traffic`, a TrafficRouter over any target;
 * this composite hands each call to the router of the target's `type` (Route 53 when absent).
 * The AWS wiring (commons/aws-deps.ts) and the simulator (sim/simulate.ts) build it the same
 * way, from routers created on first use, so a Lambda builds only the SDK client its target
 * needs. Pure: no AWS imports.
 */
import { routerKindOf, type RolloutTarget } from './config.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from './router.ts';
import type { RouterKind } from './targets.ts';

/** The target type each kind's router takes. */
export type TargetOfKind<K extends RouterKind> = Extract<RolloutTarget, { type: K }> | (K extends 'route53' ? Extract<RolloutTarget, { type?: 'route53' }> : never);

/** A router per kind, each built when first asked for (absent: that kind is not wired here). */
export type RouterFactories = { [K in RouterKind]?: () => TrafficRouter<TargetOfKind<K>> };

/** Thrown when a target's kind has no router wired: a bug of ours (or a simulator set up for another kind). */
export class RouterNotWiredError extends Error {
  constructor(kind: RouterKind) {
    super(`no ${kind} router is wired here: the target's type '${kind}' has no router in this process`);
    this.name = 'RouterNotWired';
  }
}

/** One TrafficRouter over every target kind: each call goes to the router of `target.type`. */
export function routeTraffic(factories: RouterFactories): TrafficRouter<RolloutTarget> {
  const routerFor = (target: RolloutTarget): TrafficRouter<RolloutTarget> => {
    const kind = routerKindOf(target);
    const factory = factories[kind] as (() => TrafficRouter<RolloutTarget>) | undefined;
    if (!factory) throw new RouterNotWiredError(kind);
    return factory();
  };
  return {
    read: async (target: RolloutTarget, definition?: RouterDefinition): Promise<RouterReading> => routerFor(target).read(target, definition),
    shift: async (target, canaryPercent, options) => routerFor(target).shift(target, canaryPercent, options),
    restore: async (target, definition) => routerFor(target).restore(target, definition),
    isInSync: async (target, changeId) => routerFor(target).isInSync(target, changeId),
  };
}
