/**
 * CloudWatch alarms as a verifier (VerificationPort): DescribeAlarms for the check's alarms,
 * metric and composite (AlarmTypes must name both, or composite alarms are not returned), and
 * the pure judgeAlarms of core/verification.ts makes the answer: ALARM → FAIL, OK → PASS,
 * INSUFFICIENT_DATA → the check's choice, an alarm not returned → INCONCLUSIVE naming it.
 *
 * IAM: DescribeAlarms returns composite alarms only to a caller allowed it on Resource '*'
 * (it is read-only); which alarms a config may name is held by preflight to the stack's
 * VerificationAlarmPrefixes parameter.
 *
 * The state read is the state now: an alarm that went to ALARM and back to OK between two checks
 * is not seen (its history is not read).
 */
import { DescribeAlarmsCommand, type CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  judgeAlarms, type AlarmState, type CheckOutcome, type VerificationCheck, type VerificationContext, type VerificationPort,
} from '../core/verification.ts';
import { awsAttempt, REAL_RETRY_ENV, untilAborted, withRetries, type Attempt, type RetryEnv } from './verifier-retry.ts';

/** Guard against a NextToken that never ends (100 names fit in one page). */
const MAX_PAGES = 10;

export class AlarmVerifier implements VerificationPort {
  readonly #client: CloudWatchClient;
  readonly #env: RetryEnv;

  constructor(client: CloudWatchClient, options: { retryEnv?: RetryEnv } = {}) {
    this.#client = client;
    this.#env = options.retryEnv ?? REAL_RETRY_ENV;
  }

  async run(check: VerificationCheck, _context: VerificationContext, deadline: Date): Promise<CheckOutcome> {
    if (check.type !== 'alarm') {
      return { status: 'error', reason: `the alarm verifier cannot run a ${check.type} check`, attempts: 0, finishedAt: new Date(this.#env.now()).toISOString() };
    }
    return withRetries(check.retry, deadline, this.#env, async (_n, signal): Promise<Attempt> => {
      const found: AlarmState[] = [];
      let nextToken: string | undefined;
      try {
        for (let page = 0; page < MAX_PAGES; page++) {
          const out = await untilAborted(this.#client.send(new DescribeAlarmsCommand({
            AlarmNames: check.alarms,
            AlarmTypes: ['CompositeAlarm', 'MetricAlarm'],
            MaxRecords: 100,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }), { abortSignal: signal }), signal);
          for (const a of out.MetricAlarms ?? []) {
            if (a.AlarmName) found.push({ name: a.AlarmName, kind: 'metric', state: a.StateValue ?? 'UNKNOWN', reason: a.StateReason, updatedAt: a.StateUpdatedTimestamp?.toISOString() });
          }
          for (const a of out.CompositeAlarms ?? []) {
            if (a.AlarmName) found.push({ name: a.AlarmName, kind: 'composite', state: a.StateValue ?? 'UNKNOWN', reason: a.StateReason, updatedAt: a.StateUpdatedTimestamp?.toISOString() });
          }
          nextToken = out.NextToken;
          if (!nextToken) break;
        }
      } catch (error) {
        return awsAttempt('CloudWatch', error, signal);
      }
      if (nextToken) return { kind: 'fail', reason: `DescribeAlarms still paging after ${MAX_PAGES} pages` };
      return { kind: 'answer', body: JSON.stringify(judgeAlarms(check, found)) };
    });
  }
}
