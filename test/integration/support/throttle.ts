/**
 * Throttling injected under the real SDK clients: a middleware that, for a seeded fraction of
 * calls, throws the error AWS answers when it wants a caller to slow down (`Throttling`,
 * HTTP 400, `$retryable.throttling`; Route 53's `PriorRequestNotComplete` for a change batch)
 * instead of sending the request. With the clients' own retries off (maxAttempts 1), the
 * workflow's Retry policies must absorb it.
 *
 * Decisions are per rollout (found through the rollout's AsyncLocalStorage context): each rollout
 * makes its calls in sequence, so its seeded stream gives the same throttles however the 20
 * rollouts interleave. At most `maxStreak` calls of one rollout in a row are throttled, which
 * keeps every step within its retry budget: the test checks recovery, not bad luck.
 */
import { rngFor } from '../../../sim/prng.ts';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { Route53Client } from '@aws-sdk/client-route-53';
import { rolloutContext } from './rollout.ts';

export interface ThrottleOptions {
  /** Share of calls throttled (0..1). */
  rate: number;
  maxStreak?: number;
}

export interface ThrottleStats {
  calls: number;
  throttled: number;
  byCommand: Record<string, number>;
}

interface RolloutThrottleState {
  rng: () => number;
  streak: number;
}

function throttlingError(service: string, command: string): Error {
  const name = command === 'ChangeResourceRecordSetsCommand' ? 'PriorRequestNotComplete' : 'Throttling';
  return Object.assign(new Error(`Rate exceeded (injected into ${service} ${command})`), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400, attempts: 1, totalRetryDelay: 0 },
    $retryable: { throttling: true },
  });
}

type Next = (args: unknown) => Promise<unknown>;
type Middleware = (next: Next, context: { commandName?: string }) => Next;
interface Stack { add(middleware: Middleware, options: { step: 'finalizeRequest'; name: string; priority: 'low' }): void }

/** Adds the throttling middleware to `client`; returns the counts it keeps. */
export function injectThrottling(client: Route53Client | CloudWatchClient, service: string, options: ThrottleOptions, stats: ThrottleStats): void {
  const maxStreak = options.maxStreak ?? 2;
  (client.middlewareStack as unknown as Stack).add((next, context) => async (args) => {
    const ctx = rolloutContext.getStore();
    if (ctx) {
      stats.calls++;
      const extra = (ctx.extra ??= {});
      const state = (extra[`throttle:${service}`] ??= { rng: rngFor(ctx.name, service), streak: 0 }) as RolloutThrottleState;
      if (state.streak < maxStreak && state.rng() < options.rate) {
        state.streak++;
        stats.throttled++;
        const command = context.commandName ?? 'Command';
        stats.byCommand[`${service} ${command}`] = (stats.byCommand[`${service} ${command}`] ?? 0) + 1;
        throw throttlingError(service, command);
      }
      state.streak = 0;
    }
    return next(args);
  }, { step: 'finalizeRequest', name: 'injectThrottling', priority: 'low' });
}
