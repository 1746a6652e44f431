/**
 * SsmAutomationHooks with aws-sdk-client-mock: the exact StartAutomationExecution sent
 * (parameters filled in from the rollout, a client token stable across retries of a step), the
 * execution id returned, failures reported and never thrown. moto 5.2.1 stores Automation
 * documents but does not serve StartAutomationExecution (HTTP 500), so the call is mocked.
 */
import { SSMClient, SSMServiceException, StartAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { automationClientToken, SsmAutomationHooks } from '../../functions/adapters/ssm-automation-hook.ts';
import type { RetryEnv } from '../../functions/adapters/verifier-retry.ts';
import { buildVerificationContext, parseVerificationConfig, type ActionHook } from '../../functions/core/verification.ts';

const ssmMock = mockClient(SSMClient);
const noWait = (): RetryEnv => ({ now: () => Date.now(), random: () => 0.5, sleep: async () => undefined });

const target = { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A' as const, baselineSetIdentifier: 'blue', canarySetIdentifier: 'green', maxTtlSeconds: 60 };
const context = buildVerificationContext({
  moment: 'afterRollback', check: 'heap-dump', rolloutId: 'orders-2026-03-01', service: 'orders', stageIndex: 2, stageCount: 5, weight: 10,
  window: null, target, now: new Date('2026-03-01T10:00:00.000Z'), deadline: new Date('2026-03-01T10:00:10.000Z'),
  decision: { outcome: 'ROLLED_BACK', trigger: 'VERDICT', reasons: ["check 'reconcile' (lambda orders-reconcile): FAIL: 37 records differ"] },
});
const { hooks } = parseVerificationConfig({ hooks: { afterRollback: [{
  name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump', documentVersion: '$DEFAULT',
  parameters: {
    AutomationAssumeRole: ['arn:aws:iam::111122223333:role/canary-runbooks'],
    RolloutId: ['{{ rolloutId }}'],
    ServiceName: ['orders-{{ target.canarySetIdentifier }}'],
    TasksToIsolate: ['2'],
  },
}] } });
const hook = hooks.afterRollback[0] as ActionHook;

describe('SsmAutomationHooks', () => {
  beforeEach(() => {
    ssmMock.reset();
  });

  it('starts the runbook with the parameters filled in and returns the execution id, never awaiting it', async () => {
    // Prepare
    ssmMock.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: '4a1b2c3d-0000-4000-8000-00000000beef' });

    // Act
    const result = await new SsmAutomationHooks(new SSMClient({}), { retryEnv: noWait() }).run(hook, context);

    // Assess
    expect(ssmMock.commandCalls(StartAutomationExecutionCommand).map((c) => c.args[0].input)).toEqual([{
      DocumentName: 'CanaryCaptureHeapDump',
      DocumentVersion: '$DEFAULT',
      Parameters: {
        AutomationAssumeRole: ['arn:aws:iam::111122223333:role/canary-runbooks'],
        RolloutId: ['orders-2026-03-01'],
        ServiceName: ['orders-green'],
        TasksToIsolate: ['2'],
      },
      ClientToken: automationClientToken(context, 'heap-dump'),
    }]);
    expect(result).toMatchObject({ hook: 'heap-dump', type: 'ssm-automation', moment: 'afterRollback', id: '4a1b2c3d-0000-4000-8000-00000000beef', status: 'STARTED' });
    expect(JSON.parse(result.output!)).toEqual({ document: 'CanaryCaptureHeapDump', parameters: expect.objectContaining({ RolloutId: ['orders-2026-03-01'] }) });
  });

  it('derives a UUID-shaped client token that is the same for a retried step and differs per hook and stage', () => {
    // Act
    const token = automationClientToken(context, 'heap-dump');

    // Assess
    expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(automationClientToken({ ...context }, 'heap-dump')).toBe(token);
    expect(automationClientToken(context, 'isolate')).not.toBe(token);
    expect(automationClientToken({ ...context, stage: { ...context.stage, index: 3 } }, 'heap-dump')).not.toBe(token);
  });

  it('retries a throttled start once, with the same client token', async () => {
    // Prepare
    ssmMock.on(StartAutomationExecutionCommand)
      .rejectsOnce(new SSMServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }))
      .resolves({ AutomationExecutionId: 'exec-2' });

    // Act
    const result = await new SsmAutomationHooks(new SSMClient({}), { retryEnv: noWait() }).run(hook, context);

    // Assess
    const tokens = ssmMock.commandCalls(StartAutomationExecutionCommand).map((c) => c.args[0].input.ClientToken);
    expect(tokens).toHaveLength(2);
    expect(tokens[0]).toBe(tokens[1]);
    expect(result).toMatchObject({ id: 'exec-2', status: 'STARTED' });
  });

  it('reports a runbook it may not start as FAILED with the reason, never throwing', async () => {
    // Prepare
    ssmMock.on(StartAutomationExecutionCommand).rejects(new SSMServiceException({
      name: 'AccessDeniedException', $fault: 'client', message: 'not authorized to perform: ssm:StartAutomationExecution', $metadata: { httpStatusCode: 400 },
    }));

    // Act
    const result = await new SsmAutomationHooks(new SSMClient({}), { retryEnv: noWait() }).run(hook, context);

    // Assess
    expect(ssmMock.commandCalls(StartAutomationExecutionCommand)).toHaveLength(1);
    expect(result).toMatchObject({
      id: null, status: 'FAILED',
      reason: 'SSM Automation refused the call: AccessDeniedException: not authorized to perform: ssm:StartAutomationExecution (the stack may start only the runbooks in HookAutomationDocumentArns, passing only HookAutomationRoleArn)',
    });
  });
});
