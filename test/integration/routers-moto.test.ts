/**
 * The ALB, Lambda alias and AppConfig routers with the real SDK clients over HTTP to moto_server.
 *
 * What moto 5.2.1 serves, and is used here as it is:
 * - ELBv2: load balancers, target groups, listeners and rules whose forward action carries a
 *   ForwardConfig with weights and TargetGroupStickinessConfig; DescribeRules / DescribeListeners
 *   return them as written; ModifyRule / ModifyListener; TargetGroupNotFound and RuleNotFound.
 *   (Its VPC and subnets are created with raw EC2 query calls: no EC2 client is a dependency.)
 * - Lambda: CreateFunction (no Docker needed; Invoke would need it and is not used), versions
 *   (PublishVersion after a configuration change), aliases with RoutingConfig weights,
 *   GetAlias / UpdateAlias / CreateAlias, GetFunctionConfiguration by version, ResourceNotFound.
 *   (The execution role is created with a raw IAM query call.)
 * - AppConfig: applications, configuration profiles (with their Type), Create/Get hosted
 *   configuration version (content and content type round-trip over the wire).
 *
 * What moto lacks, and is mocked (aws-sdk-client-mock) or covered by the unit tests:
 * - Lambda's RevisionId compare-and-set: moto accepts any RevisionId and never changes it, so
 *   the PreconditionFailed path is unit-tested with mocks only.
 * - AppConfig environments, deployments (ListDeployments, StartDeployment, GetDeployment,
 *   StopDeployment), deployment strategies and ListHostedConfigurationVersions: moto answers
 *   them with an HTML 404. Here the AppConfig client is an aws-sdk-client-mock whose profile and
 *   hosted-version commands are passed through to moto, and whose deployment commands answer
 *   from a small model in the test. LatestVersionNumber (AppConfig's compare-and-set) is
 *   ignored by moto: the conflict path is unit-tested with mocks only.
 */
import {
  AppConfigClient,
  CreateApplicationCommand,
  CreateConfigurationProfileCommand,
  CreateHostedConfigurationVersionCommand,
  GetConfigurationProfileCommand,
  GetDeploymentCommand,
  GetHostedConfigurationVersionCommand,
  ListDeploymentsCommand,
  ListHostedConfigurationVersionsCommand,
  StartDeploymentCommand,
  type DeploymentSummary,
} from '@aws-sdk/client-appconfig';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DescribeListenersCommand,
  DescribeRulesCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  DeleteAliasCommand,
  GetAliasCommand,
  LambdaClient,
  PublishVersionCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, describe, expect, it } from 'vitest';
import { AlbRouter } from '../../functions/adapters/alb-router.ts';
import { AppConfigRouter } from '../../functions/adapters/appconfig-router.ts';
import { LambdaAliasRouter } from '../../functions/adapters/lambda-alias-router.ts';
import { TrafficStateError } from '../../functions/core/errors.ts';
import { AppConfigFlagTargetSchema, type AlbTarget, type LambdaAliasTarget } from '../../functions/core/targets.ts';
import { MOTO_REGION, motoClientConfig, motoSkipReason, useMoto } from '../helpers/moto.ts';

const skip = motoSkipReason();

/** A raw AWS query-protocol call (EC2, IAM) to moto, which does not check signatures. */
async function query(endpoint: string, service: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(endpoint, {
    method: 'POST',
    body: new URLSearchParams(params).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${MOTO_REGION}/${service}/aws4_request, SignedHeaders=host, Signature=0`,
    },
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`${service} ${params.Action} answered ${res.status}: ${body.slice(0, 200)}`);
  return body;
}

const tag = (xml: string, name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)![1]!;

describe.skipIf(skip !== null)('routers on moto_server', () => {
  const moto = useMoto();

  describe('ALB', () => {
    let elb: ElasticLoadBalancingV2Client;
    let vpcId: string;
    let lbArn: string;
    let counter = 0;

    beforeAll(async () => {
      elb = new ElasticLoadBalancingV2Client(motoClientConfig(moto.endpoint));
      vpcId = tag(await query(moto.endpoint, 'ec2', { Action: 'CreateVpc', Version: '2016-11-15', CidrBlock: '10.0.0.0/16' }), 'vpcId');
      const subnets: string[] = [];
      for (const [cidr, az] of [['10.0.1.0/24', 'us-east-1a'], ['10.0.2.0/24', 'us-east-1b']] as const) {
        subnets.push(tag(await query(moto.endpoint, 'ec2', { Action: 'CreateSubnet', Version: '2016-11-15', VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: az }), 'subnetId'));
      }
      lbArn = (await elb.send(new CreateLoadBalancerCommand({ Name: 'shop', Subnets: subnets }))).LoadBalancers![0]!.LoadBalancerArn!;
    });

    /** A listener forwarding to blue (weight 1) and green (weight 0), and a rule forwarding /api/* to them 100 / 0. */
    async function setup(): Promise<{ listener: AlbTarget; rule: AlbTarget }> {
      const n = ++counter;
      const tg = async (name: string) => (await elb.send(new CreateTargetGroupCommand({ Name: `${name}-${n}`, Protocol: 'HTTP', Port: 80, VpcId: vpcId }))).TargetGroups![0]!.TargetGroupArn!;
      const blue = await tg('blue');
      const green = await tg('green');
      const forward = (b: number, g: number) => [{ Type: 'forward' as const, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: b }, { TargetGroupArn: green, Weight: g }] } }];
      const listenerArn = (await elb.send(new CreateListenerCommand({ LoadBalancerArn: lbArn, Protocol: 'HTTP', Port: 8000 + n, DefaultActions: forward(1, 0) }))).Listeners![0]!.ListenerArn!;
      const ruleArn = (await elb.send(new CreateRuleCommand({
        ListenerArn: listenerArn, Priority: 10, Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }], Actions: forward(100, 0),
      }))).Rules![0]!.RuleArn!;
      const base = { type: 'alb' as const, listenerArn, baselineTargetGroupArn: blue, canaryTargetGroupArn: green };
      return { listener: base, rule: { ...base, ruleArn } };
    }

    const ruleWeights = async (t: AlbTarget) => {
      const action = (await elb.send(new DescribeRulesCommand({ RuleArns: [t.ruleArn!] }))).Rules![0]!.Actions![0]!;
      return action.ForwardConfig;
    };

    it('moves a rule through the stages and back, each change visible to a describe call at once', async () => {
      // Prepare
      const { rule } = await setup();
      const router = new AlbRouter(elb);
      const preflight = await router.read(rule);

      // Act
      const five = await router.shift(rule, 5, { expectedPercent: 0, definition: preflight.definition });
      const afterFive = await ruleWeights(rule);
      const inSync = await router.isInSync(rule, five.changeId);
      await router.shift(rule, 100, { expectedPercent: 5, definition: preflight.definition });
      const atFull = await router.read(rule);
      const restored = await router.restore(rule, preflight.definition);

      // Assess
      expect(preflight).toMatchObject({ canaryPercent: 0, problems: [], settleSeconds: 0 });
      expect(afterFive?.TargetGroups).toEqual([{ TargetGroupArn: rule.baselineTargetGroupArn, Weight: 95 }, { TargetGroupArn: rule.canaryTargetGroupArn, Weight: 5 }]);
      expect(inSync).toBe(true);
      expect(atFull.canaryPercent).toBe(100);
      expect(await router.isInSync(rule, restored.changeId)).toBe(true);
      expect(await ruleWeights(rule)).toEqual({
        TargetGroups: [{ TargetGroupArn: rule.baselineTargetGroupArn, Weight: 100 }, { TargetGroupArn: rule.canaryTargetGroupArn, Weight: 0 }],
        TargetGroupStickinessConfig: { Enabled: false },
      });
    });

    it("moves a listener's default action, with the target's stickiness, and reports it as settling time", async () => {
      // Prepare
      const { listener } = await setup();
      const router = new AlbRouter(elb);
      const sticky = { ...listener, stickinessSeconds: 120 };

      // Act
      await router.shift(sticky, 10, { expectedPercent: 0, definition: {} });
      const reading = await router.read(sticky);
      const described = (await elb.send(new DescribeListenersCommand({ ListenerArns: [listener.listenerArn] }))).Listeners![0]!.DefaultActions![0]!.ForwardConfig;

      // Assess
      expect(reading).toMatchObject({ canaryPercent: 10, settleSeconds: 120 });
      expect(described).toEqual({
        TargetGroups: [{ TargetGroupArn: listener.baselineTargetGroupArn, Weight: 90 }, { TargetGroupArn: listener.canaryTargetGroupArn, Weight: 10 }],
        TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 120 },
      });
    });

    it('refuses a shift from a share the rule is not at, and leaves the rule as it was', async () => {
      // Prepare
      const { rule } = await setup();
      const router = new AlbRouter(elb);

      // Act
      const result = router.shift(rule, 10, { expectedPercent: 5, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      expect((await ruleWeights(rule))?.TargetGroups?.map((t) => t.Weight)).toEqual([100, 0]);
    });

    it('names a canary target group that does not exist, and will not shift to it', async () => {
      // Prepare
      const { rule } = await setup();
      const gone = { ...rule, canaryTargetGroupArn: rule.canaryTargetGroupArn.replace(/green-\d+/, 'gone') };
      const router = new AlbRouter(elb);

      // Act
      const reading = await router.read(gone);
      const shift = router.shift(gone, 5, { definition: {} });

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems).toContain(`the canary target group ${gone.canaryTargetGroupArn} does not exist`);
      await expect(shift).rejects.toThrow(TrafficStateError);
    });
  });

  describe('Lambda alias', () => {
    let lambda: LambdaClient;
    let roleArn: string;
    let counter = 0;

    beforeAll(async () => {
      lambda = new LambdaClient(motoClientConfig(moto.endpoint));
      roleArn = tag(await query(moto.endpoint, 'iam', { Action: 'CreateRole', Version: '2010-05-08', RoleName: 'checkout', AssumeRolePolicyDocument: '{}' }), 'Arn');
    });

    /** A function with versions 1 (baseline) and 2 (canary), and an alias `live` at version 1. */
    async function setup(): Promise<LambdaAliasTarget> {
      const name = `checkout-${++counter}`;
      const emptyZip = new Uint8Array([80, 75, 5, 6, ...new Array<number>(18).fill(0)]);
      await lambda.send(new CreateFunctionCommand({ FunctionName: name, Runtime: 'nodejs22.x', Role: roleArn, Handler: 'index.handler', Code: { ZipFile: emptyZip } }));
      await lambda.send(new PublishVersionCommand({ FunctionName: name }));
      await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName: name, Description: 'canary' }));
      await lambda.send(new PublishVersionCommand({ FunctionName: name }));
      await lambda.send(new CreateAliasCommand({ FunctionName: name, Name: 'live', FunctionVersion: '1' }));
      return { type: 'lambda-alias', functionName: name, alias: 'live', canaryVersion: '2' };
    }

    const alias = async (t: LambdaAliasTarget) => {
      const a = await lambda.send(new GetAliasCommand({ FunctionName: t.functionName, Name: t.alias }));
      return { FunctionVersion: a.FunctionVersion, weights: a.RoutingConfig?.AdditionalVersionWeights ?? {} };
    };

    it('weights the canary version, moves the alias at 100, and points it back at the baseline', async () => {
      // Prepare
      const target = await setup();
      const router = new LambdaAliasRouter(lambda);
      const preflight = await router.read(target);

      // Act
      const ten = await router.shift(target, 10, { expectedPercent: 0, definition: preflight.definition });
      const atTen = await alias(target);
      const tenInSync = await router.isInSync(target, ten.changeId);
      await router.shift(target, 100, { expectedPercent: 10, definition: preflight.definition });
      const promoted = await alias(target);
      const afterPromotion = await router.read(target, preflight.definition);
      await router.restore(target, preflight.definition);

      // Assess
      expect(preflight).toMatchObject({ canaryPercent: 0, problems: [], definition: { baselineVersion: '1' } });
      expect(atTen).toEqual({ FunctionVersion: '1', weights: { 2: 0.1 } });
      expect(tenInSync).toBe(true);
      expect(promoted).toEqual({ FunctionVersion: '2', weights: {} });
      expect(afterPromotion.canaryPercent).toBe(100);
      expect(await alias(target)).toEqual({ FunctionVersion: '1', weights: {} });
    });

    it('re-creates a deleted alias at the baseline on restore', async () => {
      // Prepare
      const target = await setup();
      const router = new LambdaAliasRouter(lambda);
      const preflight = await router.read(target);
      await router.shift(target, 25, { expectedPercent: 0, definition: preflight.definition });
      await lambda.send(new DeleteAliasCommand({ FunctionName: target.functionName, Name: target.alias }));

      // Act
      await router.restore(target, preflight.definition);

      // Assess
      expect(await alias(target)).toEqual({ FunctionVersion: '1', weights: {} });
    });

    it('reports a canary version that was never published', async () => {
      // Prepare
      const target = { ...await setup(), canaryVersion: '9' };

      // Act
      const reading = await new LambdaAliasRouter(lambda).read(target);

      // Assess
      expect(reading.problems).toEqual([`canary version 9 of ${target.functionName} does not exist: publish it (aws lambda publish-version)`]);
    });
  });

  describe('AppConfig flag (profile and hosted versions on moto, deployments mocked)', () => {
    it('deploys a new hosted version carrying the flag at each stage, read back from moto', async () => {
      // Prepare
      const real = new AppConfigClient(motoClientConfig(moto.endpoint));
      const app = (await real.send(new CreateApplicationCommand({ Name: 'shop' }))).Id!;
      const profile = (await real.send(new CreateConfigurationProfileCommand({ ApplicationId: app, Name: 'flags', LocationUri: 'hosted', Type: 'AWS.AppConfig.FeatureFlags' }))).Id!;
      const document = {
        version: '1',
        flags: { new_checkout: { name: 'New checkout', attributes: { percentage: { constraints: { type: 'number', minimum: 0, maximum: 100 } } } } },
        values: { new_checkout: { enabled: false, percentage: 0 } },
      };
      await real.send(new CreateHostedConfigurationVersionCommand({ ApplicationId: app, ConfigurationProfileId: profile, Content: new TextEncoder().encode(JSON.stringify(document)), ContentType: 'application/json' }));
      // The deployments moto lacks: version 1 deployed, each StartDeployment completes at once.
      const deployments: DeploymentSummary[] = [{ DeploymentNumber: 1, ConfigurationProfileId: profile, ConfigurationName: 'flags', ConfigurationVersion: '1', State: 'COMPLETE' }];
      const client = new AppConfigClient(motoClientConfig(moto.endpoint));
      const mock = mockClient(client);
      mock.on(GetConfigurationProfileCommand).callsFake((input) => real.send(new GetConfigurationProfileCommand(input)));
      mock.on(GetHostedConfigurationVersionCommand).callsFake((input) => real.send(new GetHostedConfigurationVersionCommand(input)));
      mock.on(CreateHostedConfigurationVersionCommand).callsFake((input) => real.send(new CreateHostedConfigurationVersionCommand(input)));
      mock.on(ListDeploymentsCommand).callsFake(() => ({ Items: [...deployments].reverse() }));
      mock.on(ListHostedConfigurationVersionsCommand).callsFake(() => ({ Items: deployments.map((d) => ({ VersionNumber: Number(d.ConfigurationVersion) })) }));
      mock.on(StartDeploymentCommand).callsFake((input) => {
        const next = { DeploymentNumber: deployments.length + 1, ConfigurationProfileId: input.ConfigurationProfileId, ConfigurationName: 'flags', ConfigurationVersion: input.ConfigurationVersion, State: 'COMPLETE' as const };
        deployments.push(next);
        return next;
      });
      mock.on(GetDeploymentCommand).callsFake((input) => deployments.find((d) => d.DeploymentNumber === input.DeploymentNumber));
      const target = AppConfigFlagTargetSchema.parse({ type: 'appconfig-flag', applicationId: app, environmentId: 'env5678', configurationProfileId: profile, flag: 'new_checkout' });
      const router = new AppConfigRouter(client);
      const preflight = await router.read(target);

      // Act
      const one = await router.shift(target, 1, { expectedPercent: 0, definition: preflight.definition });
      const atOne = await router.read(target);
      await router.shift(target, 50, { expectedPercent: 1, definition: preflight.definition });
      await router.restore(target, preflight.definition);
      const stored = await real.send(new GetHostedConfigurationVersionCommand({ ApplicationId: app, ConfigurationProfileId: profile, VersionNumber: 4 }));

      // Assess
      expect(preflight).toMatchObject({ canaryPercent: 0, problems: [] });
      expect(one.changeId).toBe('appconfig:deployment/2');
      expect(await router.isInSync(target, one.changeId)).toBe(true);
      expect(atOne.canaryPercent).toBe(1);
      expect(deployments.map((d) => d.ConfigurationVersion)).toEqual(['1', '2', '3', '4']);
      expect(stored.ContentType).toBe('application/json');
      expect(JSON.parse(new TextDecoder().decode(stored.Content))).toEqual(document);
    });
  });
});
