/**
 * MetricsPort on CloudWatch GetMetricData: every query of every metric and both variants in one
 * call (up to 500 queries a call), pages followed, and the datapoints aligned to the window's
 * periods with `null` where a period has none. Missing data stays visible as null; the judge
 * decides what it means.
 */
import {
  GetMetricDataCommand,
  type CloudWatchClient,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { MetricQuery, RolloutMetric } from '../core/config.ts';
import { TransientAwsError } from '../core/errors.ts';
import type { MetricData, MetricWindow, Series } from '../core/judge.ts';
import type { MetricRange, MetricsPort } from '../core/ports.ts';
import { callAws } from './aws-errors.ts';

const SERVICE = 'CloudWatch';
/** GetMetricData accepts at most 500 queries a call. */
export const MAX_QUERIES_PER_CALL = 500;
/** Guard against a NextToken that never ends. */
const MAX_PAGES = 100;

type Variant = 'canary' | 'baseline';
type Role = 'value' | 'numerator' | 'denominator';

interface PlannedQuery {
  id: string;
  metric: string;
  variant: Variant;
  role: Role;
  query: MetricQuery;
}

function planQueries(metrics: RolloutMetric[]): PlannedQuery[] {
  const planned: PlannedQuery[] = [];
  metrics.forEach((metric, i) => {
    for (const variant of ['canary', 'baseline'] as const) {
      const queries = metric.queries[variant];
      const roles: [Role, MetricQuery][] = 'numerator' in queries
        ? [['numerator', queries.numerator], ['denominator', queries.denominator]]
        : [['value', queries.value]];
      for (const [role, query] of roles) {
        // Ids must start with a lowercase letter and hold only letters, digits and '_'.
        planned.push({ id: `m${i}_${variant}_${role}`, metric: metric.name, variant, role, query });
      }
    }
  });
  return planned;
}

function toSdkQuery(q: PlannedQuery, periodSeconds: number): MetricDataQuery {
  return {
    Id: q.id,
    MetricStat: {
      Metric: {
        Namespace: q.query.namespace,
        MetricName: q.query.metricName,
        Dimensions: Object.entries(q.query.dimensions ?? {}).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: periodSeconds,
      Stat: q.query.stat,
    },
    ReturnData: true,
  };
}

/** The GetMetricData queries for these metrics: ids `m<index>_<variant>_<value|numerator|denominator>`. */
export function buildMetricDataQueries(metrics: RolloutMetric[], periodSeconds: number): MetricDataQuery[] {
  return planQueries(metrics).map((q) => toSdkQuery(q, periodSeconds));
}

export class CloudWatchMetrics implements MetricsPort {
  readonly #client: CloudWatchClient;

  constructor(client: CloudWatchClient) {
    this.#client = client;
  }

  async fetchWindow(metrics: RolloutMetric[], range: MetricRange): Promise<MetricWindow> {
    const periodMs = range.periodSeconds * 1000;
    const startMs = range.start.getTime();
    const periods = Math.max(0, Math.floor((range.end.getTime() - startMs) / periodMs));
    const planned = planQueries(metrics);

    // Per query id: the value of each period index.
    const byId = new Map<string, Map<number, number>>(planned.map((q) => [q.id, new Map()]));
    if (periods > 0) {
      for (let i = 0; i < planned.length; i += MAX_QUERIES_PER_CALL) {
        const chunk = planned.slice(i, i + MAX_QUERIES_PER_CALL).map((q) => toSdkQuery(q, range.periodSeconds));
        for (const result of await this.#fetchAll(chunk, range)) {
          const slots = result.Id ? byId.get(result.Id) : undefined;
          if (!slots) continue;
          const timestamps = result.Timestamps ?? [];
          const values = result.Values ?? [];
          timestamps.forEach((ts, k) => {
            const value = values[k];
            const index = Math.floor((new Date(ts).getTime() - startMs) / periodMs);
            if (value === undefined || !Number.isFinite(value) || index < 0 || index >= periods) return;
            slots.set(index, value);
          });
        }
      }
    }

    const series = (id: string): (number | null)[] => {
      const slots = byId.get(id)!;
      return Array.from({ length: periods }, (_, k) => slots.get(k) ?? null);
    };
    const window: MetricWindow = { periodSeconds: range.periodSeconds, start: range.start.toISOString(), metrics: {} };
    metrics.forEach((metric, i) => {
      const variantSeries = (variant: Variant): Series =>
        'numerator' in metric.queries[variant]
          ? { numerator: series(`m${i}_${variant}_numerator`), denominator: series(`m${i}_${variant}_denominator`) }
          : { values: series(`m${i}_${variant}_value`) };
      const data: MetricData = { canary: variantSeries('canary'), baseline: variantSeries('baseline') };
      window.metrics[metric.name] = data;
    });
    return window;
  }

  /** One GetMetricData, every page of it. */
  async #fetchAll(queries: MetricDataQuery[], range: MetricRange): Promise<MetricDataResult[]> {
    const results: MetricDataResult[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await callAws(SERVICE, () => this.#client.send(new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: range.start,
        EndTime: range.end,
        ScanBy: 'TimestampAscending',
        ...(nextToken ? { NextToken: nextToken } : {}),
      })));
      for (const result of out.MetricDataResults ?? []) {
        if (result.StatusCode === 'InternalError') {
          const detail = (result.Messages ?? []).map((m) => `${m.Code ?? ''} ${m.Value ?? ''}`.trim()).join('; ');
          throw new TransientAwsError(SERVICE, new Error(`query ${result.Id} returned InternalError${detail ? `: ${detail}` : ''}`));
        }
        if (result.StatusCode === 'Forbidden') {
          throw new Error(`CloudWatch denied query ${result.Id} (Forbidden): check the metric's account and the function's cloudwatch:GetMetricData permission`);
        }
        results.push(result);
      }
      nextToken = out.NextToken;
      if (!nextToken) return results;
    }
    throw new TransientAwsError(SERVICE, new Error(`GetMetricData still paging after ${MAX_PAGES} pages`));
  }
}
