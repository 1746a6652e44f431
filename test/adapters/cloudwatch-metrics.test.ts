import { CloudWatchClient, CloudWatchServiceException, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { presetMetrics, type RolloutMetric } from '../../functions/core/config.ts';
import { ThrottledError, TransientAwsError } from '../../functions/core/errors.ts';
import { buildMetricDataQueries, CloudWatchMetrics } from '../../functions/adapters/cloudwatch-metrics.ts';

const cwMock = mockClient(CloudWatchClient);

const gauge: RolloutMetric = {
  name: 'memory', kind: 'gauge', unit: 'percent', critical: false, threshold: { max: 80 },
  queries: {
    canary: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ClusterName: 'c', ServiceName: 'green' }, stat: 'Maximum' } },
    baseline: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: { ClusterName: 'c', ServiceName: 'blue' }, stat: 'Maximum' } },
  },
};
const ratio: RolloutMetric = {
  name: 'error-rate', kind: 'ratio', unit: 'percent', critical: true, threshold: { max: 1 },
  queries: {
    canary: {
      numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { TargetGroup: 'tg-green' }, stat: 'Sum' },
      denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'tg-green' }, stat: 'Sum' },
    },
    baseline: {
      numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: { TargetGroup: 'tg-blue' }, stat: 'Sum' },
      denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'tg-blue' }, stat: 'Sum' },
    },
  },
};

const start = new Date('2025-06-01T12:00:00.000Z');
const end = new Date('2025-06-01T12:05:00.000Z'); // five 60 s periods
const at = (minute: number, second = 0) => new Date(Date.UTC(2025, 5, 1, 12, minute, second));

describe('buildMetricDataQueries', () => {
  it('builds one query per gauge variant and two per ratio variant, with valid ids', () => {
    // Prepare
    const metrics = [gauge, ratio];

    // Act
    const queries = buildMetricDataQueries(metrics, 60);

    // Assess
    expect(queries).toEqual([
      {
        Id: 'm0_canary_value', ReturnData: true,
        MetricStat: { Metric: { Namespace: 'AWS/ECS', MetricName: 'MemoryUtilization', Dimensions: [{ Name: 'ClusterName', Value: 'c' }, { Name: 'ServiceName', Value: 'green' }] }, Period: 60, Stat: 'Maximum' },
      },
      {
        Id: 'm0_baseline_value', ReturnData: true,
        MetricStat: { Metric: { Namespace: 'AWS/ECS', MetricName: 'MemoryUtilization', Dimensions: [{ Name: 'ClusterName', Value: 'c' }, { Name: 'ServiceName', Value: 'blue' }] }, Period: 60, Stat: 'Maximum' },
      },
      {
        Id: 'm1_canary_numerator', ReturnData: true,
        MetricStat: { Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: [{ Name: 'TargetGroup', Value: 'tg-green' }] }, Period: 60, Stat: 'Sum' },
      },
      {
        Id: 'm1_canary_denominator', ReturnData: true,
        MetricStat: { Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'RequestCount', Dimensions: [{ Name: 'TargetGroup', Value: 'tg-green' }] }, Period: 60, Stat: 'Sum' },
      },
      {
        Id: 'm1_baseline_numerator', ReturnData: true,
        MetricStat: { Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: [{ Name: 'TargetGroup', Value: 'tg-blue' }] }, Period: 60, Stat: 'Sum' },
      },
      {
        Id: 'm1_baseline_denominator', ReturnData: true,
        MetricStat: { Metric: { Namespace: 'AWS/ApplicationELB', MetricName: 'RequestCount', Dimensions: [{ Name: 'TargetGroup', Value: 'tg-blue' }] }, Period: 60, Stat: 'Sum' },
      },
    ]);
  });

  it('gives every query of the alb-ecs preset a valid CloudWatch id', () => {
    // Prepare
    const metrics = presetMetrics({
      type: 'alb-ecs', loadBalancer: 'app/my-alb/50dc6c495c0c9188', baselineTargetGroup: 'targetgroup/blue/1', canaryTargetGroup: 'targetgroup/green/2',
      cluster: 'prod', baselineService: 'api-blue', canaryService: 'api-green',
      memoryMaxPercent: 80, errorRateMaxPercent: 1, latencyP99MaxSeconds: 1, latencyMaxIncreasePercent: 20,
    });

    // Act
    const ids = buildMetricDataQueries(metrics, 60).map((q) => q.Id);

    // Assess
    expect(ids).toHaveLength(8);
    expect(new Set(ids).size).toBe(8);
    for (const id of ids) expect(id).toMatch(/^[a-z][a-zA-Z0-9_]{0,254}$/);
  });
});

describe('CloudWatchMetrics.fetchWindow', () => {
  beforeEach(() => {
    cwMock.reset();
  });

  it('sends one GetMetricData, follows NextToken, merges pages by id and aligns periods with nulls', async () => {
    // Prepare
    cwMock.on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'm0_canary_value', Timestamps: [at(0), at(1)], Values: [40, 41], StatusCode: 'PartialData' },
          { Id: 'm0_baseline_value', Timestamps: [at(0)], Values: [30], StatusCode: 'PartialData' },
          { Id: 'm1_canary_denominator', Timestamps: [at(0), at(2)], Values: [100, 120], StatusCode: 'PartialData' },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        MetricDataResults: [
          // 12:03 is missing; 12:05 is past the window's end and 11:59 before its start: both dropped.
          { Id: 'm0_canary_value', Timestamps: [at(2), at(4), at(5), new Date('2025-06-01T11:59:00Z')], Values: [42, 44, 99, 99], StatusCode: 'Complete' },
          { Id: 'm1_canary_numerator', Timestamps: [at(2)], Values: [3], StatusCode: 'Complete' },
          { Id: 'm1_baseline_numerator', Timestamps: [], Values: [], StatusCode: 'Complete' },
        ],
      });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const window = await metrics.fetchWindow([gauge, ratio], { start, end, periodSeconds: 60 });

    // Assess
    const calls = cwMock.commandCalls(GetMetricDataCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.args[0].input).toEqual({
      MetricDataQueries: buildMetricDataQueries([gauge, ratio], 60),
      StartTime: start,
      EndTime: end,
      ScanBy: 'TimestampAscending',
    });
    expect(calls[1]!.args[0].input).toEqual({ ...calls[0]!.args[0].input, NextToken: 'page-2' });
    expect(window).toEqual({
      periodSeconds: 60,
      start: '2025-06-01T12:00:00.000Z',
      metrics: {
        'memory': {
          canary: { values: [40, 41, 42, null, 44] },
          baseline: { values: [30, null, null, null, null] },
        },
        'error-rate': {
          canary: { numerator: [null, null, 3, null, null], denominator: [100, null, 120, null, null] },
          baseline: { numerator: [null, null, null, null, null], denominator: [null, null, null, null, null] },
        },
      },
    });
  });

  it('splits more than 500 queries into several calls', async () => {
    // Prepare
    // 504 distinct queries (identical ones would be asked once: see below).
    const many = Array.from({ length: 126 }, (_, i): RolloutMetric => {
      const q = (metricName: string, tg: string) => ({ namespace: 'AWS/ApplicationELB', metricName, dimensions: { TargetGroup: `${tg}-${i}` }, stat: 'Sum' });
      const counts = (tg: string) => ({ numerator: q('HTTPCode_Target_5XX_Count', tg), denominator: q('RequestCount', tg) });
      return { ...ratio, name: `ratio-${i}`, queries: { canary: counts('tg-green'), baseline: counts('tg-blue') } };
    });
    cwMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const window = await metrics.fetchWindow(many, { start, end, periodSeconds: 60 });

    // Assess
    const sizes = cwMock.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input.MetricDataQueries?.length);
    expect(sizes).toEqual([500, 4]);
    expect(Object.keys(window.metrics)).toHaveLength(126);
  });

  it('asks once for a single metric two roles share, and gives it to both', async () => {
    // Prepare: the traffic checks' request count is the error rate's denominator.
    const requests: RolloutMetric = {
      name: 'requests', kind: 'gauge', unit: 'count', critical: false, threshold: {},
      queries: {
        canary: { value: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'tg-green' }, stat: 'Sum' } },
        baseline: { value: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: { TargetGroup: 'tg-blue' }, stat: 'Sum' } },
      },
    };
    cwMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'm0_canary_denominator', Timestamps: [at(0)], Values: [100], StatusCode: 'Complete' },
        { Id: 'm0_baseline_denominator', Timestamps: [at(0)], Values: [900], StatusCode: 'Complete' },
      ],
    });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const window = await metrics.fetchWindow([ratio, requests], { start, end, periodSeconds: 60 });

    // Assess
    const ids = cwMock.commandCalls(GetMetricDataCommand).flatMap((c) => c.args[0].input.MetricDataQueries!.map((q) => q.Id));
    expect(ids).toEqual(['m0_canary_numerator', 'm0_canary_denominator', 'm0_baseline_numerator', 'm0_baseline_denominator']);
    expect(window.metrics.requests).toEqual({ canary: { values: [100, null, null, null, null] }, baseline: { values: [900, null, null, null, null] } });
    expect(window.metrics['error-rate']!.canary).toEqual({ numerator: [null, null, null, null, null], denominator: [100, null, null, null, null] });
  });

  it('asks nothing for an empty window', async () => {
    // Prepare
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const window = await metrics.fetchWindow([gauge], { start, end: start, periodSeconds: 60 });

    // Assess
    expect(cwMock.commandCalls(GetMetricDataCommand)).toHaveLength(0);
    expect(window.metrics.memory).toEqual({ canary: { values: [] }, baseline: { values: [] } });
  });

  it('maps a query result with StatusCode InternalError to TransientAwsError', async () => {
    // Prepare
    cwMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'm0_canary_value', Timestamps: [], Values: [], StatusCode: 'InternalError', Messages: [{ Code: 'InternalError', Value: 'boom' }] }],
    });
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const result = metrics.fetchWindow([gauge], { start, end, periodSeconds: 60 });

    // Assess
    await expect(result).rejects.toThrow(TransientAwsError);
    await expect(result).rejects.toMatchObject({ name: 'TransientAwsError', message: expect.stringContaining('m0_canary_value') });
  });

  it('maps throttling to Throttled', async () => {
    // Prepare
    cwMock.on(GetMetricDataCommand).rejects(new CloudWatchServiceException({
      name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 },
    }));
    const metrics = new CloudWatchMetrics(new CloudWatchClient({ region: 'us-east-1' }));

    // Act
    const result = metrics.fetchWindow([gauge], { start, end, periodSeconds: 60 });

    // Assess
    await expect(result).rejects.toThrow(ThrottledError);
    await expect(result).rejects.toMatchObject({ name: 'Throttled', message: expect.stringContaining('CloudWatch throttled') });
  });
});
