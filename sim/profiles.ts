/** The healthy behaviour the scenarios start from (sim/scenarios.ts, sim/chaos.ts). */
import type { ServiceProfile, VariantBehaviour, VariantContext } from './service-model.ts';

/** 5xx share of a healthy version: 1 request in 2,000. */
export const HEALTHY_ERROR_RATE = 0.0005;
const HEALTHY_P99_SECONDS = 0.25;
/** p99/median ≈ 2.25. */
const LATENCY_SIGMA = 0.35;

/** Healthy: memory depends a little on load (caches, buffers), errors and latency are flat. */
export function healthy(overrides: Partial<VariantBehaviour> = {}): VariantBehaviour {
  return {
    errorRate: () => HEALTHY_ERROR_RATE,
    latencyP99Seconds: () => HEALTHY_P99_SECONDS,
    memoryPercent: (c: VariantContext) => 44 + 6 * c.share,
    ...overrides,
  };
}

/** Behind Route 53, 5 % of clients sit behind resolvers that ignore the TTL and follow about two minutes later. */
export const STALE_RESOLVERS = { share: 0.05, seconds: 120 };

export const profile = (requestsPerMinute: number, canary: VariantBehaviour, extra: Partial<ServiceProfile> = {}): ServiceProfile => ({
  requestsPerMinute, latencySigma: LATENCY_SIGMA, memoryNoisePercent: 1.5, staleResolvers: STALE_RESOLVERS, baseline: healthy(), canary, ...extra,
});

