/**
 * MetricsPort on CloudWatch GetMetricData: every query of every metric and both variants in one
 * call (up to 500 queries a call), pages followed, and the datapoints aligned to the window's
 * periods with `null` where a period has none. Missing data stays visible as null; the judge
 * decides what it means.
 *
 * A query may also be a metric-math expression (its input metrics ride in the same call with
 * ReturnData false, their ids prefixed so that two metrics' `m1` never meet) or a Metrics
 * Insights query. CloudWatch takes at most one Metrics Insights query per call, so each one
 * after the first opens another call. An expression or query that gives more than one time
 * series cannot be judged: that is an error naming the metric, not a silent pick of one series.
 */
import {
  GetMetricDataCommand,
  type CloudWatchClient,
  type MetricDataQuery,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import { isMetricStatQuery, renameMathIds, type MetricQuery, type MetricStatQuery, type RolloutMetric } from '../core/config.ts';
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

/** A single metric's identity: two queries with the same one are the same datapoints. */
function statKey(q: MetricStatQuery): string {
  const dims = Object.entries(q.dimensions ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([q.namespace, q.metricName, dims, q.stat]);
}

/**
 * The queries to send, and the query id each metric role reads. The same single metric asked for
 * twice (the error rate's request count and the traffic checks' request count) is sent once:
 * CloudWatch charges per metric queried.
 */
function planQueries(metrics: RolloutMetric[]): { planned: PlannedQuery[]; source: Map<string, string> } {
  const planned: PlannedQuery[] = [];
  const source = new Map<string, string>();
  const seen = new Map<string, string>();
  metrics.forEach((metric, i) => {
    for (const variant of ['canary', 'baseline'] as const) {
      const queries = metric.queries[variant];
      const roles: [Role, MetricQuery][] = 'numerator' in queries
        ? [['numerator', queries.numerator], ['denominator', queries.denominator]]
        : [['value', queries.value]];
      for (const [role, query] of roles) {
        // Ids must start with a lowercase letter and hold only letters, digits and '_'.
        const id = `m${i}_${variant}_${role}`;
        const key = isMetricStatQuery(query) ? statKey(query) : undefined;
        const same = key ? seen.get(key) : undefined;
        if (same) {
          source.set(id, same);
          continue;
        }
        if (key) seen.set(key, id);
        source.set(id, id);
        planned.push({ id, metric: metric.name, variant, role, query });
      }
    }
  });
  return { planned, source };
}

function metricStat(id: string, query: MetricStatQuery, periodSeconds: number, returnData: boolean): MetricDataQuery {
  return {
    Id: id,
    MetricStat: {
      Metric: {
        Namespace: query.namespace,
        MetricName: query.metricName,
        Dimensions: Object.entries(query.dimensions ?? {}).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: periodSeconds,
      Stat: query.stat,
    },
    ReturnData: returnData,
  };
}

/**
 * The SDK queries of one planned query: the query itself last, after the inputs of an
 * expression (ids `<id>_<input id>`, not returned). Period is set on expressions too: SEARCH and
 * Metrics Insights take theirs from it.
 */
function toSdkQueries(q: PlannedQuery, periodSeconds: number): MetricDataQuery[] {
  const query: MetricQuery = q.query;
  if (isMetricStatQuery(query)) return [metricStat(q.id, query, periodSeconds, true)];
  if (query.expression !== undefined) {
    const inputId = (id: string) => `${q.id}_${id}`;
    return [
      ...Object.entries(query.metrics).map(([id, input]) => metricStat(inputId(id), input, periodSeconds, false)),
      { Id: q.id, Expression: renameMathIds(query.expression, inputId), Period: periodSeconds, ReturnData: true },
    ];
  }
  return [{ Id: q.id, Expression: query.query, Period: periodSeconds, ReturnData: true }];
}

const isInsights = (q: PlannedQuery) => typeof q.query.query === 'string';

/**
 * Planned queries packed into GetMetricData calls: at most 500 SDK queries a call, at most one
 * Metrics Insights query a call, an expression always with its inputs.
 */
function packCalls(planned: PlannedQuery[], periodSeconds: number): MetricDataQuery[][] {
  const calls: { queries: MetricDataQuery[]; insights: boolean }[] = [];
  for (const q of planned) {
    const sdk = toSdkQueries(q, periodSeconds);
    const insights = isInsights(q);
    let call = calls.find((c) => c.queries.length + sdk.length <= MAX_QUERIES_PER_CALL && !(insights && c.insights));
    if (!call) {
      call = { queries: [], insights: false };
      calls.push(call);
    }
    call.queries.push(...sdk);
    call.insights ||= insights;
  }
  return calls.map((c) => c.queries);
}

/**
 * The GetMetricData queries for these metrics, one list per call: ids
 * `m<index>_<variant>_<value|numerator|denominator>` (an expression's inputs add `_<input id>`); a
 * single metric already asked for under another id is not asked again.
 */
export function buildMetricDataCalls(metrics: RolloutMetric[], periodSeconds: number): MetricDataQuery[][] {
  return packCalls(planQueries(metrics).planned, periodSeconds);
}

/** The GetMetricData queries for these metrics, all calls' together (see buildMetricDataCalls). */
export function buildMetricDataQueries(metrics: RolloutMetric[], periodSeconds: number): MetricDataQuery[] {
  return buildMetricDataCalls(metrics, periodSeconds).flat();
}

/** A metric's expression or Metrics Insights query gave several time series: nothing to judge. */
export class MetricQueryShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricQueryShapeError';
  }
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
    const { planned, source } = planQueries(metrics);

    // Per query id: the value of each period index.
    const byId = new Map<string, Map<number, number>>(planned.map((q) => [q.id, new Map()]));
    if (periods > 0) {
      const describe = new Map(planned.map((q) => [q.id, `metric '${q.metric}' (${q.variant} ${q.role})`]));
      for (const call of packCalls(planned, range.periodSeconds)) {
        for (const result of await this.#fetchAll(call, range, describe)) {
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
      const slots = byId.get(source.get(id) ?? id)!;
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
  async #fetchAll(queries: MetricDataQuery[], range: MetricRange, describe: Map<string, string>): Promise<MetricDataResult[]> {
    const results: MetricDataResult[] = [];
    // A series continues across pages under the same id and label; a second label under one id
    // (or the same id twice on a page) is a second series.
    const labels = new Map<string, string>();
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await callAws(SERVICE, () => this.#client.send(new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: range.start,
        EndTime: range.end,
        ScanBy: 'TimestampAscending',
        ...(nextToken ? { NextToken: nextToken } : {}),
      })));
      const pageIds = new Set<string>();
      for (const result of out.MetricDataResults ?? []) {
        if (result.StatusCode === 'InternalError') {
          const detail = (result.Messages ?? []).map((m) => `${m.Code ?? ''} ${m.Value ?? ''}`.trim()).join('; ');
          throw new TransientAwsError(SERVICE, new Error(`query ${result.Id} returned InternalError${detail ? `: ${detail}` : ''}`));
        }
        if (result.StatusCode === 'Forbidden') {
          throw new Error(`CloudWatch denied query ${result.Id} (Forbidden): check the metric's account and the function's cloudwatch:GetMetricData permission`);
        }
        if (result.Id) {
          const seen = labels.get(result.Id);
          const label = result.Label ?? '';
          if (seen !== undefined && (seen !== label || pageIds.has(result.Id))) {
            throw new MetricQueryShapeError(`${describe.get(result.Id) ?? `query ${result.Id}`} gave more than one time series ('${seen}', '${label}'): its expression or Metrics Insights query must give one (aggregate it, e.g. SUM(SEARCH(...)), and no GROUP BY)`);
          }
          labels.set(result.Id, label);
          pageIds.add(result.Id);
        }
        results.push(result);
      }
      nextToken = out.NextToken;
      if (!nextToken) return results;
    }
    throw new TransientAwsError(SERVICE, new Error(`GetMetricData still paging after ${MAX_PAGES} pages`));
  }
}
