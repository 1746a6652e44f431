/**
 * The examples the README points to: examples/rollout-hooks.yaml (its checks, hooks and metric
 * queries are valid and name only what a stack configured for it allows) and
 * examples/verification/reconcile-check.mjs (its answers hold to the contract).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseRolloutConfig } from '../../functions/core/config.ts';
import {
  buildVerificationContext, parseVerificationAnswer, parseVerificationConfig, verificationCrossIssues, verificationPermissionIssues,
  type VerificationContext,
} from '../../functions/core/verification.ts';

const example = parse(readFileSync(new URL('../../examples/rollout-hooks.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;

describe('examples/rollout-hooks.yaml', () => {
  it('is a valid rollout config once its verification and hooks are taken out, and those are valid too', () => {
    // Prepare
    const { verification, hooks, ...rollout } = example;

    // Act
    const config = parseRolloutConfig(rollout);
    const checks = parseVerificationConfig({ verification, hooks });

    // Assess
    expect(config.metrics.map((m) => m.name)).toEqual(['memory', 'error-rate', 'latency-p99', 'canary-error-percent', 'canary-cpu']);
    expect(checks.verification.map((c) => `${c.name}:${c.type}`)).toEqual(['reconcile-orders:lambda', 'cdc-lag:http', 'orders-alarms:alarm']);
    expect(Object.fromEntries(Object.entries(checks.hooks).map(([k, v]) => [k, v.map((h) => h.name)]))).toEqual({
      preRollout: ['cdc-running'], beforeShift: ['change-freeze'], afterPromotion: ['announce'], afterRollback: ['heap-dump', 'snapshot-partial-writes'],
    });
    expect(verificationCrossIssues({ metrics: config.metrics, stages: config.stages, ...checks })).toEqual([]);
  });

  it('names only what a stack deployed for it allows', () => {
    // Prepare
    const checks = parseVerificationConfig({ verification: example.verification, hooks: example.hooks });
    const fn = (name: string) => `arn:aws:lambda:eu-west-1:111122223333:function:${name}`;
    const secret = (name: string) => `arn:aws:secretsmanager:eu-west-1:111122223333:secret:${name}-AbCdEf`;

    // Act
    const issues = verificationPermissionIssues(checks, {
      functionArns: [fn('orders-reconcile'), fn('announce-release'), fn('orders-snapshot-partial-writes')],
      secretArns: [secret('canary/cdc-lag-endpoint'), secret('canary/change-freeze-endpoint')],
      alarmPrefixes: ['orders-'],
      automationDocumentArns: ['arn:aws:ssm:eu-west-1:111122223333:automation-definition/CanaryCaptureHeapDump'],
      automationRoleArn: 'arn:aws:iam::111122223333:role/canary-runbooks',
    });

    // Assess
    expect(issues).toEqual([]);
  });
});

interface ReconcileModule {
  createHandler(readers: { readLegacy(since: string): Promise<unknown[]>; readNew(since: string): Promise<unknown[]> }): (request: unknown) => Promise<unknown>;
}

describe('examples/verification/reconcile-check.mjs', async () => {
  const { createHandler } = await import(new URL('../../examples/verification/reconcile-check.mjs', import.meta.url).href) as ReconcileModule;
  const request: VerificationContext = buildVerificationContext({
    moment: 'analysis', check: 'reconcile-orders', rolloutId: 'r-1', service: 'orders', stageIndex: 2, stageCount: 5, weight: 10,
    window: { start: '2026-03-01T09:50:00.000Z', end: '2026-03-01T09:58:00.000Z' },
    target: { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 },
    now: new Date('2026-03-01T10:00:00.000Z'), deadline: new Date('2026-03-01T10:00:20.000Z'),
  });
  const orders = [{ id: 'o-1', total: 12.5, items: 2 }, { id: 'o-2', total: 40, items: 1 }];
  const answerOf = async (legacy: unknown[] | Error, current: unknown[], req: unknown = request) => {
    const seen: string[] = [];
    const handler = createHandler({
      readLegacy: async (since) => { seen.push(since); if (legacy instanceof Error) throw legacy; return legacy; },
      readNew: async (since) => { seen.push(since); return current; },
    });
    const answer = await handler(req);
    const parsed = parseVerificationAnswer(JSON.stringify(answer));
    if (!parsed.ok) throw new Error(`the example broke the contract: ${parsed.problem}`);
    return { ...parsed.answer, seen };
  };

  it('passes when both stores hold the same records (field order does not count), reading since the window start', async () => {
    const answer = await answerOf(orders, [{ items: 2, total: 12.5, id: 'o-1' }, orders[1]]);
    expect(answer).toMatchObject({ verdict: 'PASS', details: { legacyCount: 2, newCount: 2, missing: 0, different: 0 } });
    expect(answer.seen).toEqual(['2026-03-01T09:50:00.000Z', '2026-03-01T09:50:00.000Z']);
  });

  it('fails on one record missing and one different, naming them', async () => {
    const answer = await answerOf([...orders, { id: 'o-3', total: 5, items: 1 }], [orders[0], { ...orders[1], total: 39 }]);
    expect(answer).toMatchObject({
      verdict: 'FAIL',
      reason: '2 of 3 records since 2026-03-01T09:50:00.000Z differ: 1 missing in the new store, 1 different, 0 only in the new store',
      details: { missing: 1, different: 1, sampleIds: 'o-3,o-2' },
    });
  });

  it('is INCONCLUSIVE when a store cannot be read, or the request is of an unknown version', async () => {
    expect(await answerOf(new Error('connect ETIMEDOUT legacy-db:5432'), orders)).toMatchObject({
      verdict: 'INCONCLUSIVE', reason: 'could not read a store: connect ETIMEDOUT legacy-db:5432',
    });
    expect(await answerOf(orders, orders, { ...request, version: 2 })).toMatchObject({ verdict: 'INCONCLUSIVE' });
  });
});
