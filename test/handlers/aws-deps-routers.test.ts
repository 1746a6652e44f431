/**
 * The AWS wiring (functions/commons/aws-deps.ts): the preflight Lambda reads the target with the
 * adapter of its kind, through the one dispatch, calling only that service (aws-sdk-client-mock,
 * exact commands); the stack's allowances come from the environment the template sets; and the
 * verification and hook ports reach the Lambda, CloudWatch and SSM adapters.
 */
import { AppConfigClient, GetConfigurationProfileCommand, GetHostedConfigurationVersionCommand, ListDeploymentsCommand, ListHostedConfigurationVersionsCommand } from '@aws-sdk/client-appconfig';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeRulesCommand, DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetAliasCommand, GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { Route53Client } from '@aws-sdk/client-route-53';
import { SSMClient, StartAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { Context } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hooks, overrideAwsDeps, resetAwsDeps, verification } from '../../functions/commons/aws-deps.ts';
import { handler as preflight } from '../../functions/preflight.ts';
import type { RolloutState } from '../../functions/core/rollout-steps.ts';
import { buildVerificationContext, parseVerificationConfig } from '../../functions/core/verification.ts';
import { MemoryLog, MemoryRollouts } from '../../sim/memory-adapters.ts';

const elb = mockClient(ElasticLoadBalancingV2Client);
const lambda = mockClient(LambdaClient);
const appconfig = mockClient(AppConfigClient);
const route53 = mockClient(Route53Client);
const cw = mockClient(CloudWatchClient);
const ssm = mockClient(SSMClient);

const context = { functionName: 'preflight', awsRequestId: 'req-1', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2';
const RULE = `${LISTENER.replace(':listener/', ':listener-rule/')}/9683b2d02a6cabee`;
const BLUE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/73e2d6bc24d8a067';
const GREEN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/09f1f3fd0b7a5c10';

const memory = {
  name: 'memory', kind: 'gauge', unit: 'percent', threshold: { max: 80 },
  queries: { canary: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', stat: 'Maximum' } }, baseline: { value: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', stat: 'Maximum' } } },
};
const configWith = (target: unknown) => ({ name: 'shop', target, metrics: [memory], checkBaselineHealth: false, stages: [10, 100] });
const execution = (name: string) => ({ id: `arn:aws:states:eu-west-1:123456789012:execution:CanaryRollout:${name}`, name, startTime: '2026-03-02T10:00:00.000Z' });

describe('aws-deps: one router per target kind, through one dispatch', () => {
  beforeEach(() => {
    for (const m of [elb, lambda, appconfig, route53, cw, ssm]) m.reset();
    process.env.AWS_REGION = 'eu-west-1';
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    process.env.TABLE_NAME = 'canary-rollouts';
    process.env.ALLOWED_LISTENER_ARNS = LISTENER;
    process.env.ALLOWED_LAMBDA_FUNCTION_ARNS = 'arn:aws:lambda:eu-west-1:123456789012:function:orders-api';
    process.env.ALLOWED_LAMBDA_ALIASES = '';
    process.env.ALLOWED_APPCONFIG_APPLICATION_ARNS = 'arn:aws:appconfig:eu-west-1:123456789012:application/abc1234';
    resetAwsDeps();
    overrideAwsDeps({ rollouts: new MemoryRollouts(), log: new MemoryLog(), decisionMetrics: undefined });
  });
  afterEach(() => {
    for (const name of ['ALLOWED_LISTENER_ARNS', 'ALLOWED_LAMBDA_FUNCTION_ARNS', 'ALLOWED_LAMBDA_ALIASES', 'ALLOWED_APPCONFIG_APPLICATION_ARNS']) delete process.env[name];
    resetAwsDeps();
  });

  it('an ALB target: preflight reads the rule and the target groups from ELBv2, and nothing from Route 53', async () => {
    // Prepare
    elb.on(DescribeRulesCommand).resolves({
      Rules: [{ RuleArn: RULE, Actions: [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 1 }, { TargetGroupArn: GREEN, Weight: 0 }] } }] }],
    });
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: BLUE }, { TargetGroupArn: GREEN }] });
    const target = { type: 'alb', listenerArn: LISTENER, ruleArn: RULE, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN };

    // Act
    const state = await preflight({ config: configWith(target), execution: execution('alb-1') } as never, context) as RolloutState;

    // Assess
    expect(elb.commandCalls(DescribeRulesCommand).map((c) => c.args[0].input)).toEqual([{ RuleArns: [RULE] }]);
    expect(elb.commandCalls(DescribeTargetGroupsCommand).map((c) => c.args[0].input)).toEqual([{ TargetGroupArns: [BLUE, GREEN] }]);
    expect(route53.calls()).toHaveLength(0);
    expect(state).toMatchObject({ next: 'SHIFT', settleSeconds: 0, routerDefinition: { kind: 'alb', ruleArn: RULE, weights: { canary: 0, baseline: 1 } } });
  });

  it('a Lambda alias target: GetAlias and the versions\' configurations, the baseline version kept for later reads', async () => {
    // Prepare
    lambda.on(GetAliasCommand).resolves({ FunctionVersion: '41', RevisionId: 'rev-1' });
    lambda.on(GetFunctionConfigurationCommand).resolves({ State: 'Active', Role: 'arn:aws:iam::123456789012:role/orders' });
    const target = { type: 'lambda-alias', functionName: 'orders-api', alias: 'live', canaryVersion: '42' };

    // Act
    const state = await preflight({ config: configWith(target), execution: execution('alias-1') } as never, context) as RolloutState;

    // Assess
    expect(lambda.commandCalls(GetAliasCommand).map((c) => c.args[0].input)).toEqual([{ FunctionName: 'orders-api', Name: 'live' }]);
    expect(lambda.commandCalls(GetFunctionConfigurationCommand).map((c) => c.args[0].input.Qualifier)).toEqual(['42', '41']);
    expect(state.routerDefinition).toEqual({ kind: 'lambda-alias', functionName: 'orders-api', alias: 'live', canaryVersion: '42', baselineVersion: '41' });
  });

  it('an AppConfig flag target: the profile, its live deployment and hosted versions; the settle time is the clients\' poll interval', async () => {
    // Prepare
    const doc = { version: '1', flags: { 'new-checkout': { name: 'new-checkout', attributes: { percentage: { constraints: { type: 'number', minimum: 0, maximum: 100 } } } } }, values: { 'new-checkout': { enabled: false, percentage: 0 } } };
    appconfig.on(GetConfigurationProfileCommand).resolves({ Name: 'flags', Type: 'AWS.AppConfig.FeatureFlags', LocationUri: 'hosted' });
    appconfig.on(ListDeploymentsCommand).resolves({ Items: [{ DeploymentNumber: 3, ConfigurationProfileId: 'ur8hx2f', ConfigurationVersion: '5', State: 'COMPLETE' }] });
    appconfig.on(GetHostedConfigurationVersionCommand).resolves({ ContentType: 'application/json', Content: new TextEncoder().encode(JSON.stringify(doc)) as never });
    appconfig.on(ListHostedConfigurationVersionsCommand).resolves({ Items: [{ VersionNumber: 5 }] });
    const target = { type: 'appconfig-flag', applicationId: 'abc1234', environmentId: '54j1r29', configurationProfileId: 'ur8hx2f', flag: 'new-checkout', clientPollSeconds: 30 };

    // Act
    const state = await preflight({ config: configWith(target), execution: execution('flag-1') } as never, context) as RolloutState;

    // Assess
    expect(appconfig.commandCalls(GetHostedConfigurationVersionCommand).map((c) => c.args[0].input)).toEqual([{ ApplicationId: 'abc1234', ConfigurationProfileId: 'ur8hx2f', VersionNumber: 5 }]);
    expect(state).toMatchObject({ settleSeconds: 30, routerDefinition: { kind: 'appconfig-flag', flag: 'new-checkout' } });
  });

  it('refuses a target outside the allowances the environment gives, before any AWS call', async () => {
    // Prepare
    process.env.ALLOWED_LISTENER_ARNS = '';
    resetAwsDeps();
    overrideAwsDeps({ rollouts: new MemoryRollouts(), log: new MemoryLog(), decisionMetrics: undefined });
    const target = { type: 'alb', listenerArn: LISTENER, ruleArn: RULE, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN };

    // Act / Assess
    await expect(preflight({ config: configWith(target), execution: execution('alb-2') } as never, context)).rejects.toThrow('AllowedListenerArns');
    expect(elb.calls()).toHaveLength(0);
  });
});

describe('aws-deps: the verification and hook ports', () => {
  const { verification: [lambdaCheck, alarmCheck], hooks: { afterRollback: [runbook] } } = parseVerificationConfig({
    verification: [{ name: 'reconcile', type: 'lambda', function: 'orders-reconcile', retry: { maxAttempts: 1 } }, { name: 'alarms', type: 'alarm', alarms: ['orders-5xx'] }],
    hooks: { afterRollback: [{ name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump' }] },
  });
  const request = buildVerificationContext({
    moment: 'analysis', check: 'reconcile', rolloutId: 'r-1', service: 'shop', stageIndex: 0, stageCount: 2, weight: 10, window: null,
    target: { type: 'alb', listenerArn: LISTENER, ruleArn: RULE, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN },
    now: new Date(), deadline: new Date(Date.now() + 20_000),
  });

  beforeEach(() => {
    for (const m of [lambda, cw, ssm]) m.reset();
    process.env.AWS_REGION = 'eu-west-1';
    resetAwsDeps();
  });
  afterEach(() => resetAwsDeps());

  it('runs a lambda check with Invoke (the request as its event) and an alarm check with DescribeAlarms', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: new TextEncoder().encode(JSON.stringify({ verdict: 'PASS', reason: 'ok' })) as never });
    cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [{ AlarmName: 'orders-5xx', StateValue: 'OK' }] });
    const deadline = new Date(Date.now() + 20_000);

    // Act
    const answered = await verification().run(lambdaCheck!, request, deadline);
    const alarmed = await verification().run(alarmCheck!, request, deadline);

    // Assess
    expect(answered).toMatchObject({ status: 'answered', body: '{"verdict":"PASS","reason":"ok"}' });
    const invoke = lambda.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(invoke).toMatchObject({ FunctionName: 'orders-reconcile', InvocationType: 'RequestResponse' });
    expect(JSON.parse(new TextDecoder().decode(invoke.Payload as Uint8Array))).toMatchObject({ rolloutId: 'r-1', target: { type: 'alb', listenerArn: LISTENER } });
    expect(alarmed.status).toBe('answered');
    expect(cw.commandCalls(DescribeAlarmsCommand)[0]!.args[0].input.AlarmNames).toEqual(['orders-5xx']);
  });

  it('starts an SSM Automation hook with StartAutomationExecution', async () => {
    // Prepare
    ssm.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: 'exec-1' });

    // Act
    const result = await hooks().run(runbook!, { ...request, moment: 'afterRollback', check: 'heap-dump' });

    // Assess
    expect(result).toMatchObject({ hook: 'heap-dump', status: 'STARTED', id: 'exec-1' });
    expect(ssm.commandCalls(StartAutomationExecutionCommand)[0]!.args[0].input).toMatchObject({ DocumentName: 'CanaryCaptureHeapDump' });
  });
});
