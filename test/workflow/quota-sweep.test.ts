/**
 * The config space against Step Functions', DynamoDB's and Lambda's quotas: long bakes, short
 * intervals, many stages, many gates, big configs, each run as a whole rollout on the real state
 * machines (the simulator's runner counts history events and payload bytes as AWS does and fails
 * an execution the way AWS would; the in-memory store sizes items as DynamoDB does). Every valid
 * config must stay within the quotas with a margin; what cannot fit is refused by the parser
 * (test/core/config.test.ts and below).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_CONFIG_BYTES, parseRolloutConfig } from '../../functions/core/config.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import { DYNAMODB_ITEM_LIMIT_BYTES, HISTORY_EVENT_LIMIT, PAYLOAD_LIMIT_BYTES } from '../../sim/aws-limits.ts';
import { simulate, type SimulationResult } from '../../sim/simulate.ts';

const base = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** Custom metrics the simulator models (memory, latency, requests/errors), with long names: a big config. */
function bigMetrics(count: number, nameLength: number, dimensionLength = 30): unknown[] {
  const dims = (variant: string) => (dimensionLength === 0 ? {} : {
    LoadBalancer: `app/${'x'.repeat(dimensionLength)}/50dc6c495c0c9188`, TargetGroup: `targetgroup/${variant}-${'y'.repeat(dimensionLength)}/6d0ecf831eec9f09`,
  });
  return Array.from({ length: count }, (_, i) => {
    const name = `m${i}-${'n'.repeat(nameLength)}`.slice(0, 64);
    return i % 2 === 0
      ? {
        name, kind: 'gauge', unit: 'seconds', threshold: { max: 1 }, baseline: { maxIncreasePercent: 50 },
        queries: {
          canary: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: dims('green'), stat: 'p99' } },
          baseline: { value: { namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: dims('blue'), stat: 'p99' } },
        },
      }
      : {
        name, kind: 'ratio', unit: 'percent', threshold: { max: 1 },
        queries: {
          canary: {
            numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: dims('green'), stat: 'Sum' },
            denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: dims('green'), stat: 'Sum' },
          },
          baseline: {
            numerator: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: dims('blue'), stat: 'Sum' },
            denominator: { namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: dims('blue'), stat: 'Sum' },
          },
        },
      };
  });
}

function withinQuotas(r: SimulationResult, label: string): void {
  for (const e of r.aws.executions) {
    // A margin: retries (3 events each) may come on top of a normal run.
    expect(e.historyEvents, `${label}: ${e.name} history events`).toBeLessThan(HISTORY_EVENT_LIMIT * 0.5);
    expect(e.maxStatePayloadBytes, `${label}: ${e.name} largest state`).toBeLessThan(PAYLOAD_LIMIT_BYTES * 0.75);
  }
  expect(r.aws.maxRecordItemBytes, `${label}: largest DynamoDB item`).toBeLessThan(DYNAMODB_ITEM_LIMIT_BYTES * 0.5);
  expect(r.workflow.status, `${label}: ${r.workflow.error}: ${r.workflow.cause}`).toBe('SUCCEEDED');
  expect(r.finalWeights).toEqual({ canary: 100, baseline: 0 });
  expect(r.lockHolder).toBeNull();
}

describe('every valid config stays within AWS quotas', () => {
  const cases: [string, Record<string, unknown>, number][] = [
    // [what, config changes, segments expected at least]
    ['a 48 h bake checked every minute', { stages: [5, 100], bake: '48h' }, 3],
    ['checks every 10 s on 10 s periods for 6 h', { stages: [5, 100], bake: '6h', checkInterval: '10s', analysisPeriodSeconds: 10 }, 2],
    ['20 stages of 30 min', { stages: [...Array.from({ length: 19 }, (_, i) => 1 + i * 5), 100], bake: '30m' }, 1],
    ['gates on every stage, each answered after 3 h (the live weight checked meanwhile)', {
      stages: [1, { weight: 5, approval: true }, { weight: 10, approval: true }, { weight: 25, approval: true }, { weight: 100, approval: true }], approvalTimeout: '4h',
    }, 1],
    ['a config near the 32 KiB cap (20 metrics with long names)', { preset: undefined, metrics: bigMetrics(20, 60, 40), stages: [10, 100], bake: '2h' }, 1],
    ['50 metrics, the most a config may have (each carries its judge state)', { preset: undefined, metrics: bigMetrics(50, 0, 0), stages: [10, 100], bake: '2h' }, 1],
  ];

  it.each(cases)('%s', async (label, changes, segments) => {
    // Prepare
    const config = { ...base, ...changes };
    if (changes.preset === undefined && 'preset' in changes) delete (config as Record<string, unknown>).preset;
    expect(new TextEncoder().encode(JSON.stringify(config)).length).toBeLessThanOrEqual(MAX_CONFIG_BYTES);

    // Act
    const r = await simulate({ config, scenario: 'healthy', seed: 3, approveAfterSeconds: 3 * 3600 });

    // Assess
    withinQuotas(r, label);
    expect(r.aws.executions.length - 1, `${label}: segments`).toBeGreaterThanOrEqual(segments);
    console.log(`${label}: ${(r.simulatedSeconds / 3600).toFixed(1)} h simulated, ${r.aws.executions.length - 1} segment(s), ` +
      `most history events ${Math.max(...r.aws.executions.map((e) => e.historyEvents))}, largest state ${Math.max(...r.aws.executions.map((e) => e.maxStatePayloadBytes))} B, ` +
      `largest item ${r.aws.maxRecordItemBytes} B`);
  }, 120_000);

  it('refuses, with the arithmetic, a config over 32 KiB and a plan longer than a year', () => {
    // Prepare
    const huge = { ...base, preset: undefined, metrics: bigMetrics(50, 60) };
    const endless = { ...base, stages: [1, 2, 3, 4, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100], bake: '30d' };

    // Act
    const issues = (config: unknown) => {
      try {
        parseRolloutConfig(config);
        return [];
      } catch (error) {
        return (error as ConfigValidationError).issues;
      }
    };

    // Assess
    expect(issues(huge).join('\n')).toMatch(/the config is \d+ bytes as JSON, above the 32768 accepted: it travels in every state/);
    expect(issues(endless).join('\n')).toMatch(/this plan can take up to 39\d\.\d d \(stage 1 \(1 %\) 30\.\d d \+ .*more than the 364\.0 d a rollout may run/);
  });
});
