/**
 * A small model of the service behind the record: each simulated minute it splits its requests
 * between baseline and canary by the weights Route 53 holds at that moment (read from moto), and
 * publishes what an ALB and ECS would (request count, 5xx count only when non-zero, response
 * time, memory) with PutMetricData, timestamped in the simulated timeline.
 */
import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { Route53Client } from '@aws-sdk/client-route-53';
import type { AlbEcsPreset } from '../../../functions/core/config.ts';
import { readWeights } from './aws.ts';

export interface VariantBehaviour {
  /** Share of requests answered 5xx (0.05 = 5 %). */
  errorRate: number;
  latencySeconds: number;
  memoryPercent: number;
  /** Publishes nothing at all (a canary whose metrics never arrive). */
  silent?: boolean;
}

export const HEALTHY: VariantBehaviour = { errorRate: 0.001, latencySeconds: 0.12, memoryPercent: 41 };

export type ServiceNames = Pick<AlbEcsPreset,
  'loadBalancer' | 'baselineTargetGroup' | 'canaryTargetGroup' | 'cluster' | 'baselineService' | 'canaryService'>;

/** Dimension values of one service, unique per `id` so that models never share a metric. */
export function serviceNames(id: string): ServiceNames {
  return {
    loadBalancer: 'app/it-alb/50dc6c495c0c9188',
    baselineTargetGroup: `targetgroup/${id}-blue/6d0ecf831eec9f09`,
    canaryTargetGroup: `targetgroup/${id}-green/9a3b5c7d1e2f4a6b`,
    cluster: 'it',
    baselineService: `${id}-blue`,
    canaryService: `${id}-green`,
  };
}

export interface TrafficModelOptions {
  cloudwatch: CloudWatchClient;
  route53: Route53Client;
  zoneId: string;
  recordName: string;
  names: ServiceNames;
  baseline: VariantBehaviour;
  canary: VariantBehaviour;
  /** Start of the simulated timeline (minute-aligned). History before it is written by `start()`. */
  start: Date;
  requestsPerMinute?: number;
}

const PERIOD_MS = 60_000;
const BATCH = 500;

export class TrafficModel {
  readonly #o: TrafficModelOptions;
  #writtenUntil: number;
  /** Datapoints published so far. */
  datapoints = 0;

  constructor(options: TrafficModelOptions) {
    this.#o = options;
    this.#writtenUntil = options.start.getTime();
  }

  /** Publishes `minutes` of history before the start (what preflight's baseline health check reads). */
  async start(minutes = 15): Promise<void> {
    const to = this.#writtenUntil;
    this.#writtenUntil = to - minutes * PERIOD_MS;
    await this.advanceTo(new Date(to));
  }

  /**
   * Publishes every minute that has fully elapsed up to `to`, split by the weights Route 53 holds
   * now: they are the weights that were in force since the workflow's previous step.
   */
  async advanceTo(to: Date): Promise<void> {
    const end = Math.floor(to.getTime() / PERIOD_MS) * PERIOD_MS;
    if (end <= this.#writtenUntil) return;
    const o = this.#o;
    const weights = await readWeights(o.route53, o.zoneId, o.recordName);
    const wb = weights.baseline ?? 0;
    const wc = weights.canary ?? 0;
    // All weights zero means an equal split (Route 53's rule).
    const canaryShare = wb + wc === 0 ? 0.5 : wc / (wb + wc);
    const total = o.requestsPerMinute ?? 1200;
    const data: MetricDatum[] = [];
    for (let t = this.#writtenUntil; t < end; t += PERIOD_MS) {
      const canaryRequests = Math.round(total * canaryShare);
      data.push(...this.#variant(new Date(t + 30_000), 'baseline', total - canaryRequests));
      data.push(...this.#variant(new Date(t + 30_000), 'canary', canaryRequests));
    }
    this.#writtenUntil = end;
    for (let i = 0; i < data.length; i += BATCH) {
      const batch = data.slice(i, i + BATCH);
      const byNamespace = Map.groupBy(batch, (d) => (d.MetricName === 'MemoryUtilization' ? 'AWS/ECS' : 'AWS/ApplicationELB'));
      for (const [Namespace, MetricData] of byNamespace) {
        await o.cloudwatch.send(new PutMetricDataCommand({ Namespace, MetricData }));
      }
    }
    this.datapoints += data.length;
  }

  #variant(at: Date, variant: 'baseline' | 'canary', requests: number): MetricDatum[] {
    const o = this.#o;
    const b = o[variant];
    if (b.silent) return [];
    const tg = variant === 'canary' ? o.names.canaryTargetGroup : o.names.baselineTargetGroup;
    const service = variant === 'canary' ? o.names.canaryService : o.names.baselineService;
    const alb = [{ Name: 'LoadBalancer', Value: o.names.loadBalancer }, { Name: 'TargetGroup', Value: tg }];
    // ECS publishes memory whether or not the service gets traffic.
    const out: MetricDatum[] = [{
      MetricName: 'MemoryUtilization', Timestamp: at, Value: b.memoryPercent, Unit: 'Percent',
      Dimensions: [{ Name: 'ClusterName', Value: o.names.cluster }, { Name: 'ServiceName', Value: service }],
    }];
    // ALB publishes its counts (and response time) only for a target group that served requests.
    if (requests > 0) {
      out.push({ MetricName: 'RequestCount', Timestamp: at, Value: requests, Unit: 'Count', Dimensions: alb });
      out.push({ MetricName: 'TargetResponseTime', Timestamp: at, Value: b.latencySeconds, Unit: 'Seconds', Dimensions: alb });
      const errors = Math.round(requests * b.errorRate);
      if (errors > 0) out.push({ MetricName: 'HTTPCode_Target_5XX_Count', Timestamp: at, Value: errors, Unit: 'Count', Dimensions: alb });
    }
    return out;
  }
}
