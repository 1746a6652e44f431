/**
 * AlarmVerifier: the exact DescribeAlarms sent (metric and composite types), states judged, a
 * missing alarm named, throttling retried; then against moto_server's CloudWatch alarms
 * (PutMetricAlarm, SetAlarmState). moto 5.2.1 has no PutCompositeAlarm: composite alarms are
 * tested with the mock only.
 */
import {
  CloudWatchClient, CloudWatchServiceException, DescribeAlarmsCommand, PutMetricAlarmCommand, SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AlarmVerifier } from '../../functions/adapters/alarm-verifier.ts';
import type { RetryEnv } from '../../functions/adapters/verifier-retry.ts';
import { buildVerificationContext, checkVerdict, parseVerificationConfig, type VerificationCheck } from '../../functions/core/verification.ts';
import { motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';

const cwMock = mockClient(CloudWatchClient);

const noWait = (): RetryEnv & { sleeps: number[] } => {
  const sleeps: number[] = [];
  return { sleeps, now: () => Date.now(), random: () => 1, sleep: async (ms) => { sleeps.push(ms); } };
};
const target = { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };
const context = buildVerificationContext({
  moment: 'analysis', check: 'alarms', rolloutId: 'r-1', service: 'orders', stageIndex: 1, stageCount: 5, weight: 5, window: null, target,
  now: new Date(), deadline: new Date(Date.now() + 20_000),
});
const alarmCheck = (alarms: string[], extra: Record<string, unknown> = {}): VerificationCheck =>
  parseVerificationConfig({ verification: [{ name: 'alarms', type: 'alarm', alarms, ...extra }] }).verification[0]!;
const soon = () => new Date(Date.now() + 20_000);

describe('AlarmVerifier', () => {
  beforeEach(() => {
    cwMock.reset();
  });

  it('asks DescribeAlarms for the check\'s alarms, metric and composite, and fails on one in ALARM', async () => {
    // Prepare
    cwMock.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: 'orders-5xx', StateValue: 'OK', StateReason: 'Threshold Crossed: no datapoints above 1' }],
      CompositeAlarms: [{ AlarmName: 'orders-health', StateValue: 'ALARM', StateReason: 'ALARM("orders-latency") is in ALARM' }],
    });
    const check = alarmCheck(['orders-5xx', 'orders-health'], { critical: true });
    const deadline = soon();

    // Act
    const outcome = await new AlarmVerifier(new CloudWatchClient({}), { retryEnv: noWait() }).run(check, context, deadline);

    // Assess
    expect(cwMock.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input)).toEqual([{
      AlarmNames: ['orders-5xx', 'orders-health'], AlarmTypes: ['CompositeAlarm', 'MetricAlarm'], MaxRecords: 100,
    }]);
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({
      verdict: 'FAIL', critical: true, test: 'verification-alarm',
      reason: "check 'alarms' (alarms orders-5xx, orders-health): FAIL: in ALARM: orders-health (ALARM(\"orders-latency\") is in ALARM)",
      details: { 'orders-5xx': 'OK', 'orders-health': 'ALARM', attempts: 1 },
    });
  });

  it('makes a missing alarm INCONCLUSIVE, naming it', async () => {
    // Prepare
    cwMock.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'orders-5xx', StateValue: 'OK' }], CompositeAlarms: [] });
    const check = alarmCheck(['orders-5xx', 'orders-typo']);
    const deadline = soon();

    // Act
    const outcome = await new AlarmVerifier(new CloudWatchClient({}), { retryEnv: noWait() }).run(check, context, deadline);

    // Assess
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({
      verdict: 'INCONCLUSIVE',
      reason: "check 'alarms' (alarms orders-5xx, orders-typo): INCONCLUSIVE: no alarm named 'orders-typo' (or not visible: composite alarms need cloudwatch:DescribeAlarms on '*')",
      sample: { canary: 0, baseline: 0 },
    });
  });

  it('follows NextToken', async () => {
    // Prepare
    cwMock.on(DescribeAlarmsCommand)
      .resolvesOnce({ MetricAlarms: [{ AlarmName: 'a', StateValue: 'OK' }], NextToken: 'p2' })
      .resolvesOnce({ CompositeAlarms: [{ AlarmName: 'b', StateValue: 'OK' }] });
    const check = alarmCheck(['a', 'b']);
    const deadline = soon();

    // Act
    const outcome = await new AlarmVerifier(new CloudWatchClient({}), { retryEnv: noWait() }).run(check, context, deadline);

    // Assess
    expect(cwMock.commandCalls(DescribeAlarmsCommand)[1]!.args[0].input).toMatchObject({ NextToken: 'p2' });
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({ verdict: 'PASS', reason: "check 'alarms' (alarms a, b): PASS: all 2 alarms OK" });
  });

  it('retries throttling within the deadline', async () => {
    // Prepare
    cwMock.on(DescribeAlarmsCommand)
      .rejectsOnce(new CloudWatchServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }))
      .resolves({ MetricAlarms: [{ AlarmName: 'a', StateValue: 'INSUFFICIENT_DATA' }] });
    const env = noWait();
    const check = alarmCheck(['a'], { insufficientData: 'FAIL', retry: { maxAttempts: 2, backoffMs: 300 } });
    const deadline = soon();

    // Act
    const outcome = await new AlarmVerifier(new CloudWatchClient({}), { retryEnv: env }).run(check, context, deadline);

    // Assess
    expect(env.sleeps).toEqual([300]);
    expect(checkVerdict(check, outcome, deadline)).toMatchObject({ verdict: 'FAIL', reason: "check 'alarms' (alarm a): FAIL: INSUFFICIENT_DATA (counted as FAIL): a", details: { attempts: 2 } });
  });
});

const skip = motoSkipReason();
describe.skipIf(skip !== null)('AlarmVerifier on moto_server', () => {
  const moto = useMoto();

  it('reads real metric alarms: OK passes, SetAlarmState ALARM fails, a missing one is named', async () => {
    // Prepare
    cwMock.restore();
    const client = new CloudWatchClient(motoClientConfig(moto.endpoint));
    for (const name of ['orders-5xx', 'orders-latency']) {
      await client.send(new PutMetricAlarmCommand({
        AlarmName: name, Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_Target_5XX_Count', Statistic: 'Sum',
        Period: 60, EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanThreshold',
      }));
    }
    const verifier = new AlarmVerifier(client);
    const both = alarmCheck(['orders-5xx', 'orders-latency']);

    // Act
    const before = checkVerdict(both, await verifier.run(both, context, soon()), soon());
    await client.send(new SetAlarmStateCommand({ AlarmName: 'orders-latency', StateValue: 'ALARM', StateReason: 'p99 above 1 s for 3 minutes' }));
    const after = checkVerdict(both, await verifier.run(both, context, soon()), soon());
    const withMissing = alarmCheck(['orders-5xx', 'orders-gone']);
    const missing = checkVerdict(withMissing, await verifier.run(withMissing, context, soon()), soon());

    // Assess
    expect(before).toMatchObject({ verdict: 'PASS' });
    expect(after).toMatchObject({ verdict: 'FAIL', reason: "check 'alarms' (alarms orders-5xx, orders-latency): FAIL: in ALARM: orders-latency (p99 above 1 s for 3 minutes)" });
    expect(missing).toMatchObject({ verdict: 'INCONCLUSIVE', details: { 'orders-5xx': 'OK', 'orders-gone': 'MISSING' } });
  });
});
