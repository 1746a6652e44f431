/**
 * Metric-math expressions and Metrics Insights queries as metric queries: the config schema that
 * accepts them, the exact GetMetricData queries sent (inputs with ReturnData false, ids prefixed;
 * at most one Metrics Insights query per call), and the refusal of several time series.
 */
import { CloudWatchClient, GetMetricDataCommand, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { mathExpressionIds, metricQueryText, parseRolloutConfig, renameMathIds, type RolloutMetric } from '../../functions/core/config.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import { buildMetricDataCalls, CloudWatchMetrics, MetricQueryShapeError } from '../../functions/adapters/cloudwatch-metrics.ts';
import { motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';

const cwMock = mockClient(CloudWatchClient);

const alb = (tg: string, metricName: string) => ({ namespace: 'AWS/ApplicationELB', metricName, dimensions: { TargetGroup: tg }, stat: 'Sum' });
const errorPercent = (tg: string) => ({
  expression: '100 * errors / FILL(requests, 0)',
  metrics: { errors: alb(tg, 'HTTPCode_Target_5XX_Count'), requests: alb(tg, 'RequestCount') },
});
const insights = (tg: string) => ({
  query: `SELECT MAX(MemoryUtilization) FROM SCHEMA("AWS/ECS", ClusterName, ServiceName) WHERE ServiceName = '${tg}'`,
});

const mathMetric: RolloutMetric = {
  name: 'error-percent', kind: 'gauge', unit: 'percent', critical: true, threshold: { max: 1 },
  queries: { canary: { value: errorPercent('tg-green') }, baseline: { value: errorPercent('tg-blue') } },
};
const insightsMetric: RolloutMetric = {
  name: 'memory', kind: 'gauge', unit: 'percent', critical: false, threshold: { max: 80 },
  queries: { canary: { value: insights('green') }, baseline: { value: insights('blue') } },
};

const target = { hostedZoneId: 'Z1', recordName: 'api.example.com', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green' };
const configWith = (value: unknown) => ({
  name: 'api', target,
  metrics: [{ name: 'm', kind: 'gauge', threshold: { max: 1 }, queries: { canary: { value }, baseline: { value: alb('tg-blue', 'RequestCount') } } }],
});
const issuesOf = (input: unknown): string[] => {
  try {
    parseRolloutConfig(input);
    return [];
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues;
    throw error;
  }
};

describe('metric query schema', () => {
  it('accepts a metric-math expression over declared metrics and a Metrics Insights query', () => {
    // Prepare
    const math = configWith(errorPercent('tg-green'));
    const query = configWith(insights('green'));

    // Act
    const parsedMath = parseRolloutConfig(math);
    const parsedQuery = parseRolloutConfig(query);

    // Assess
    expect(parsedMath.metrics[0]!.queries.canary).toEqual({ value: errorPercent('tg-green') });
    expect(parsedQuery.metrics[0]!.queries.canary).toEqual({ value: insights('green') });
  });

  it('names an id the expression uses without declaring it', () => {
    expect(issuesOf(configWith({ expression: 'errors / requests', metrics: { errors: alb('x', 'E') } }))).toEqual([
      "metrics[0].queries.canary.value.expression: names 'requests', which is not in `metrics`: declare it there (ids start with a lowercase letter; functions such as SUM are uppercase)",
    ]);
  });

  it('names a bad input metric of an expression by its path', () => {
    expect(issuesOf(configWith({ expression: 'a', metrics: { a: { ...alb('x', 'E'), stat: 'Total' } } }))).toEqual([
      'metrics[0].queries.canary.value.metrics.a.stat: stat must be a CloudWatch statistic such as Average, Sum, Maximum or p99',
    ]);
  });

  it('refuses an input id CloudWatch would refuse', () => {
    expect(issuesOf(configWith({ expression: 'Errors', metrics: { Errors: alb('x', 'E') } }))).toEqual([
      'metrics[0].queries.canary.value.metrics.Errors: a metric id must start with a lowercase letter and hold only letters, digits and _ (at most 64)',
    ]);
  });

  it('refuses a Metrics Insights query with GROUP BY, or that is not a SELECT', () => {
    expect(issuesOf(configWith({ query: 'SELECT SUM(RequestCount) FROM "AWS/ApplicationELB" GROUP BY TargetGroup' }))).toEqual([
      'metrics[0].queries.canary.value.query: query must give one time series: remove GROUP BY (and ORDER BY / LIMIT, which need it)',
    ]);
    expect(issuesOf(configWith({ query: 'SUM(RequestCount)' }))).toEqual([
      'metrics[0].queries.canary.value.query: query must be a Metrics Insights query starting with SELECT',
    ]);
  });

  it('refuses a query mixing a single metric and an expression', () => {
    expect(issuesOf(configWith({ expression: 'SUM(SEARCH(\'{AWS/X} m\', \'Sum\'))', namespace: 'AWS/X' }))).toEqual([
      "metrics[0].queries.canary.value: unknown field(s) 'namespace': check the spelling (see schema/rollout-config.schema.json)",
    ]);
  });

  it('reads ids outside quotes only, and renames exactly those', () => {
    // Prepare
    const expression = "SUM(SEARCH('{AWS/X,TG} m1 \"q\"', 'Sum')) + m1 * 1e3 / FILL(m2, 0.5)";

    // Act
    const ids = mathExpressionIds(expression);
    const renamed = renameMathIds(expression, (id) => `p_${id}`);

    // Assess
    expect(ids).toEqual(['m1', 'm2']);
    expect(renamed).toBe("SUM(SEARCH('{AWS/X,TG} m1 \"q\"', 'Sum')) + p_m1 * 1e3 / FILL(p_m2, 0.5)");
  });

  it('describes each form in one line', () => {
    expect(metricQueryText(alb('tg', 'RequestCount'))).toBe('AWS/ApplicationELB RequestCount (Sum) {TargetGroup=tg}');
    expect(metricQueryText(errorPercent('tg'))).toBe('expression 100 * errors / FILL(requests, 0)');
    expect(metricQueryText({ query: 'SELECT 1' })).toBe('Metrics Insights SELECT 1');
  });
});

describe('GetMetricData with expressions and Metrics Insights', () => {
  beforeEach(() => {
    cwMock.reset();
  });

  it('sends an expression after its inputs, in the same call, inputs not returned and ids prefixed', () => {
    // Act
    const calls = buildMetricDataCalls([mathMetric], 60);

    // Assess
    const stat = (id: string, tg: string, metricName: string) => ({
      Id: id, ReturnData: false,
      MetricStat: { Metric: { Namespace: 'AWS/ApplicationELB', MetricName: metricName, Dimensions: [{ Name: 'TargetGroup', Value: tg }] }, Period: 60, Stat: 'Sum' },
    });
    expect(calls).toEqual([[
      stat('m0_canary_value_errors', 'tg-green', 'HTTPCode_Target_5XX_Count'),
      stat('m0_canary_value_requests', 'tg-green', 'RequestCount'),
      { Id: 'm0_canary_value', Expression: '100 * m0_canary_value_errors / FILL(m0_canary_value_requests, 0)', Period: 60, ReturnData: true },
      stat('m0_baseline_value_errors', 'tg-blue', 'HTTPCode_Target_5XX_Count'),
      stat('m0_baseline_value_requests', 'tg-blue', 'RequestCount'),
      { Id: 'm0_baseline_value', Expression: '100 * m0_baseline_value_errors / FILL(m0_baseline_value_requests, 0)', Period: 60, ReturnData: true },
    ]]);
  });

  it('puts one Metrics Insights query per call, the other queries riding with the first', async () => {
    // Prepare
    const start = new Date('2025-06-01T12:00:00Z');
    const end = new Date('2025-06-01T12:03:00Z');
    cwMock.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [
        { Id: 'm0_canary_value', Label: 'm0_canary_value', Timestamps: [start], Values: [0.5], StatusCode: 'Complete' },
        { Id: 'm1_canary_value', Label: 'm1_canary_value', Timestamps: [start], Values: [61], StatusCode: 'Complete' },
      ] })
      .resolvesOnce({ MetricDataResults: [
        { Id: 'm1_baseline_value', Label: 'm1_baseline_value', Timestamps: [new Date('2025-06-01T12:02:00Z')], Values: [48], StatusCode: 'Complete' },
      ] });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const window = await metrics.fetchWindow([mathMetric, insightsMetric], { start, end, periodSeconds: 60 });

    // Assess
    const sent = cwMock.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.MetricDataQueries!.map((q) => q.Id)).toEqual([
      'm0_canary_value_errors', 'm0_canary_value_requests', 'm0_canary_value',
      'm0_baseline_value_errors', 'm0_baseline_value_requests', 'm0_baseline_value', 'm1_canary_value',
    ]);
    expect(sent[1]).toEqual({
      MetricDataQueries: [{ Id: 'm1_baseline_value', Expression: insights('blue').query, Period: 60, ReturnData: true }],
      StartTime: start, EndTime: end, ScanBy: 'TimestampAscending',
    });
    expect(window.metrics).toEqual({
      'error-percent': { canary: { values: [0.5, null, null] }, baseline: { values: [null, null, null] } },
      'memory': { canary: { values: [61, null, null] }, baseline: { values: [null, null, 48] } },
    });
  });

  it('refuses an expression that gives several time series, naming the metric', async () => {
    // Prepare
    cwMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [
      { Id: 'm0_canary_value', Label: 'tg-green-a', Timestamps: [], Values: [], StatusCode: 'Complete' },
      { Id: 'm0_canary_value', Label: 'tg-green-b', Timestamps: [], Values: [], StatusCode: 'Complete' },
    ] });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const result = metrics.fetchWindow([mathMetric], { start: new Date(0), end: new Date(180_000), periodSeconds: 60 });

    // Assess
    await expect(result).rejects.toThrow(MetricQueryShapeError);
    await expect(result).rejects.toThrow("metric 'error-percent' (canary value) gave more than one time series ('tg-green-a', 'tg-green-b')");
  });

  it('takes a series that continues on the next page as one series', async () => {
    // Prepare
    cwMock.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: [{ Id: 'm0_canary_value', Label: 'x', Timestamps: [new Date(0)], Values: [1], StatusCode: 'PartialData' }], NextToken: 't' })
      .resolvesOnce({ MetricDataResults: [{ Id: 'm0_canary_value', Label: 'x', Timestamps: [new Date(60_000)], Values: [2], StatusCode: 'Complete' }] });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const window = await metrics.fetchWindow([mathMetric], { start: new Date(0), end: new Date(120_000), periodSeconds: 60 });

    // Assess
    expect(window.metrics['error-percent']!.canary).toEqual({ values: [1, 2] });
  });
});

const skip = motoSkipReason();
/**
 * moto 5.2.1 takes these calls over the wire but models little of them: a math expression gives
 * data only when it is exactly one input's id, and a Metrics Insights query sums every datapoint
 * of the period, whatever it selects. So this checks the call's shape end to end (inputs with
 * ReturnData false beside their expression, the renamed id, an Insights query with its Period),
 * not CloudWatch's arithmetic, which the mocks above pin down.
 */
describe.skipIf(skip !== null)('expressions and Metrics Insights on moto_server', () => {
  const moto = useMoto();

  it('gets data back for an expression naming an input, and for a Metrics Insights query', async () => {
    // Prepare
    cwMock.restore();
    const client = new CloudWatchClient(motoClientConfig(moto.endpoint));
    const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000);
    await client.send(new PutMetricDataCommand({
      Namespace: 'AWS/ApplicationELB',
      MetricData: [0, 1, 2].map((k) => ({
        MetricName: 'RequestCount', Dimensions: [{ Name: 'TargetGroup', Value: 'tg-green' }], Unit: 'Count',
        Timestamp: new Date(start.getTime() + k * 60_000 + 5_000), Value: 100 + k,
      })),
    }));
    const requests = { expression: 'requests', metrics: { requests: alb('tg-green', 'RequestCount') } };
    const metric: RolloutMetric = {
      name: 'requests', kind: 'gauge', unit: 'count', critical: false, threshold: { min: 1 },
      queries: { canary: { value: requests }, baseline: { value: { query: 'SELECT SUM(RequestCount) FROM "AWS/ApplicationELB"' } } },
    };

    // Act
    const window = await new CloudWatchMetrics(client).fetchWindow([metric], { start, end: new Date(start.getTime() + 3 * 60_000), periodSeconds: 60 });

    // Assess
    expect(window.metrics.requests).toEqual({ canary: { values: [100, 101, 102] }, baseline: { values: [100, 101, 102] } });
  });
});
