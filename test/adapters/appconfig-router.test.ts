import {
  AppConfigClient,
  ConflictException,
  CreateHostedConfigurationVersionCommand,
  GetConfigurationProfileCommand,
  GetDeploymentCommand,
  GetDeploymentStrategyCommand,
  GetHostedConfigurationVersionCommand,
  ListDeploymentsCommand,
  ListHostedConfigurationVersionsCommand,
  ResourceNotFoundException,
  StartDeploymentCommand,
  StopDeploymentCommand,
  type DeploymentSummary,
  type GetHostedConfigurationVersionCommandOutput,
} from '@aws-sdk/client-appconfig';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppConfigRouter, type AppConfigFlagDefinition } from '../../functions/adapters/appconfig-router.ts';
import { ThrottledError, TrafficStateError, TransientAwsError } from '../../functions/core/errors.ts';
import { AppConfigFlagTargetSchema, type AppConfigFlagTarget } from '../../functions/core/targets.ts';

const acMock = mockClient(AppConfigClient);

const target: AppConfigFlagTarget = AppConfigFlagTargetSchema.parse({
  type: 'appconfig-flag', applicationId: 'app1234', environmentId: 'env5678', configurationProfileId: 'prof901', flag: 'new_checkout',
});
const ENV = { ApplicationId: 'app1234', EnvironmentId: 'env5678' };
const PROFILE = { ApplicationId: 'app1234', ConfigurationProfileId: 'prof901' };

const doc = (percent: number, enabled = percent > 0) => ({
  version: '1',
  flags: {
    new_checkout: { name: 'New checkout', attributes: { percentage: { constraints: { type: 'number', minimum: 0, maximum: 100 } } } },
    dark_mode: { name: 'Dark mode' },
  },
  values: { new_checkout: { enabled, percentage: percent }, dark_mode: { enabled: true } },
});
/** Content as GetHostedConfigurationVersion returns it (a Uint8Array). */
const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value)) as GetHostedConfigurationVersionCommandOutput['Content'];
/** Content as the router sent it (a Uint8Array). */
const text = (content: unknown) => new TextDecoder().decode(content as Uint8Array);
const deployment = (n: number, version: number, state: string, profile = 'prof901'): DeploymentSummary =>
  ({ DeploymentNumber: n, ConfigurationProfileId: profile, ConfigurationName: profile === 'prof901' ? 'flags' : 'other', ConfigurationVersion: String(version), State: state as DeploymentSummary['State'] });
const router = () => new AppConfigRouter(new AppConfigClient({ region: 'eu-west-1' }));

/** A feature flag profile deployed at `version` with the flag at `percent`. */
function deployed(percent: number, options: { version?: number; deployments?: DeploymentSummary[]; hosted?: number[] } = {}): void {
  const version = options.version ?? 3;
  acMock.on(GetConfigurationProfileCommand).resolves({ Id: 'prof901', Name: 'flags', Type: 'AWS.AppConfig.FeatureFlags', LocationUri: 'hosted' });
  acMock.on(ListDeploymentsCommand).resolves({ Items: options.deployments ?? [deployment(4, version, 'COMPLETE')] });
  acMock.on(GetHostedConfigurationVersionCommand, { ...PROFILE, VersionNumber: version }).resolves({ ...PROFILE, VersionNumber: version, Content: bytes(doc(percent)), ContentType: 'application/json' });
  acMock.on(ListHostedConfigurationVersionsCommand).resolves({ Items: (options.hosted ?? [1, 2, version]).map((v) => ({ ...PROFILE, VersionNumber: v })) });
}

const definition: AppConfigFlagDefinition = {
  kind: 'appconfig-flag', applicationId: 'app1234', environmentId: 'env5678', configurationProfileId: 'prof901', flag: 'new_checkout',
  attribute: 'percentage', deploymentStrategyId: 'AppConfig.AllAtOnce', contentType: 'application/json',
  snapshot: { definition: doc(0).flags.new_checkout, value: { enabled: false, percentage: 0 } },
};

describe('AppConfigRouter', () => {
  beforeEach(() => {
    acMock.reset();
  });

  describe('read', () => {
    it('reads the flag percentage clients have: the latest deployment of the profile, not rolled back', async () => {
      // Prepare
      deployed(0, { deployments: [deployment(6, 5, 'ROLLED_BACK'), deployment(5, 4, 'COMPLETE', 'other99'), deployment(4, 3, 'COMPLETE')], hosted: [1, 2, 3, 5] });
      acMock.on(GetHostedConfigurationVersionCommand, { ...PROFILE, VersionNumber: 5 }).resolves({ Content: bytes(doc(50)) });

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems).toEqual(['hosted configuration version 5 of profile prof901 is newer than the deployed version 3 and not deployed: deploy or delete it first (the rollout deploys only its own change)']);
      expect(acMock.commandCalls(GetHostedConfigurationVersionCommand).map((c) => c.args[0].input)).toEqual([{ ...PROFILE, VersionNumber: 3 }]);
      expect(acMock.commandCalls(ListDeploymentsCommand)[0]!.args[0].input).toEqual({ ...ENV, MaxResults: 50 });
    });

    it('reads a deployed flag at 0 % as usable, with the poll interval as settling time and a snapshot for restore', async () => {
      // Prepare
      deployed(0);

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading).toEqual({ canaryPercent: 0, problems: [], settleSeconds: 45, definition });
      expect(acMock.commandCalls(GetDeploymentStrategyCommand)).toHaveLength(0);
    });

    it('reports a deployment in progress on the environment, whatever its profile', async () => {
      // Prepare
      deployed(0, { deployments: [deployment(5, 9, 'BAKING', 'other99'), deployment(4, 3, 'COMPLETE')] });

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems).toEqual(['deployment 5 (other version 9) is BAKING on environment env5678: wait for it to end or stop it (aws appconfig stop-deployment --application-id app1234 --environment-id env5678 --deployment-number 5)']);
    });

    it.each([
      ['the flag does not exist', { version: '1', flags: {}, values: {} }, /flag new_checkout of configuration profile prof901 does not exist \(flags: none\)/],
      ['the attribute is not declared', { flags: { new_checkout: { attributes: {} } }, values: { new_checkout: { enabled: false } } }, /has no attribute percentage: declare it/],
      ['the attribute is a string', { flags: { new_checkout: { attributes: { percentage: { constraints: { type: 'string' } } } } }, values: { new_checkout: { enabled: false, percentage: '0' } } }, /is of type string: it must be a number/],
      ['the attribute cannot reach 100', { flags: { new_checkout: { attributes: { percentage: { constraints: { type: 'number', maximum: 50 } } } } }, values: { new_checkout: { enabled: false, percentage: 0 } } }, /constrained to -∞..50: it must admit 0 and 100/],
      ['the content is not JSON', 'flags: yes', /does not hold a feature flag JSON document/],
    ])('reports a flag when %s', async (_label, content, problem) => {
      // Prepare
      deployed(0);
      acMock.on(GetHostedConfigurationVersionCommand, { ...PROFILE, VersionNumber: 3 }).resolves({ Content: bytes(content), ContentType: 'application/json' });

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems.join('\n')).toMatch(problem);
    });

    it('reports a profile that is not a hosted feature flag profile, a missing environment, and a gradual strategy', async () => {
      // Prepare
      acMock.on(GetConfigurationProfileCommand).resolves({ Id: 'prof901', Name: 'flags', Type: 'AWS.Freeform', LocationUri: 'ssm-parameter://flags' });
      acMock.on(ListDeploymentsCommand).rejects(new ResourceNotFoundException({ message: 'Environment not found', $metadata: {} }));
      acMock.on(GetDeploymentStrategyCommand).resolves({ Id: 'lin1234', DeploymentDurationInMinutes: 20, GrowthFactor: 10 });

      // Act
      const reading = await router().read({ ...target, deploymentStrategyId: 'lin1234' });

      // Assess
      expect(reading.problems).toEqual([
        'configuration profile prof901 is of type AWS.Freeform, not AWS.AppConfig.FeatureFlags',
        'configuration profile prof901 is stored at ssm-parameter://flags, not in the AppConfig hosted store',
        'environment env5678 of application app1234 does not exist',
        'deployment strategy lin1234 deploys over 20 minutes: use an all-at-once strategy (deployment duration 0), or AppConfig.AllAtOnce, so that each stage\'s percentage reaches every client at once',
      ]);
    });

    it('matches deployments by profile name when the summaries carry no profile id', async () => {
      // Prepare
      deployed(10, { deployments: [{ DeploymentNumber: 5, ConfigurationName: 'other', ConfigurationVersion: '8', State: 'COMPLETE' }, { DeploymentNumber: 4, ConfigurationName: 'flags', ConfigurationVersion: '3', State: 'COMPLETE' }] });

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading).toMatchObject({ canaryPercent: 10, problems: [] });
    });

    it('reports a profile never deployed to the environment', async () => {
      // Prepare
      deployed(0, { deployments: [] });

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.problems).toEqual(['configuration profile prof901 has never been deployed to environment env5678: deploy it once with new_checkout at 0 % (enabled: false)']);
    });
  });

  describe('shift', () => {
    it('creates a hosted version from the deployed one with only the flag changed (compare-and-set on the version), then deploys it all at once', async () => {
      // Prepare
      deployed(0);
      acMock.on(CreateHostedConfigurationVersionCommand).resolves({ ...PROFILE, VersionNumber: 4 });
      acMock.on(StartDeploymentCommand).resolves({ DeploymentNumber: 5, State: 'DEPLOYING' });

      // Act
      const result = await router().shift(target, 5, { expectedPercent: 0, definition });

      // Assess
      expect(result).toEqual({ changeId: 'appconfig:deployment/5' });
      const create = acMock.commandCalls(CreateHostedConfigurationVersionCommand);
      expect(create).toHaveLength(1);
      const { Content, ...input } = create[0]!.args[0].input;
      expect(input).toEqual({ ...PROFILE, ContentType: 'application/json', Description: 'canary-analyzer: new_checkout at 5 %', LatestVersionNumber: 3 });
      expect(JSON.parse(text(Content))).toEqual(doc(5));
      expect(acMock.commandCalls(StartDeploymentCommand)[0]!.args[0].input).toEqual({
        ...ENV, ConfigurationProfileId: 'prof901', ConfigurationVersion: '4', DeploymentStrategyId: 'AppConfig.AllAtOnce', Description: 'canary-analyzer: new_checkout at 5 %',
      });
    });

    it('refuses, changing nothing, when the flag is not at the expected percentage', async () => {
      // Prepare
      deployed(20);

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow('flag new_checkout of configuration profile prof901 is at 20 % in environment env5678, not the 5 % this rollout set (changed outside the rollout?): nothing changed');
      expect(acMock.commandCalls(CreateHostedConfigurationVersionCommand)).toHaveLength(0);
    });

    it('refuses while another deployment holds the environment', async () => {
      // Prepare
      deployed(5, { deployments: [deployment(5, 9, 'DEPLOYING', 'other99'), deployment(4, 3, 'COMPLETE')] });

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      await expect(result).rejects.toThrow(/deployment 5 \(other version 9\) is DEPLOYING on environment env5678.*: nothing changed/);
      expect(acMock.commandCalls(CreateHostedConfigurationVersionCommand)).toHaveLength(0);
    });

    it('turns a hosted version created in between (LatestVersionNumber refused) into TrafficStateError', async () => {
      // Prepare
      deployed(5);
      acMock.on(CreateHostedConfigurationVersionCommand).rejects(new ConflictException({ message: 'LatestVersionNumber 3 is not the latest version', $metadata: {} }));

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      await expect(result).rejects.toThrow(/newer than the deployed version 3 was created outside the rollout: nothing changed/);
      expect(acMock.commandCalls(StartDeploymentCommand)).toHaveLength(0);
    });

    it("deploys the version a first attempt created but could not deploy, and refuses someone else's", async () => {
      // Prepare
      deployed(5, { hosted: [1, 2, 3, 4] });
      acMock.on(GetHostedConfigurationVersionCommand, { ...PROFILE, VersionNumber: 4 }).resolves({ Content: bytes(doc(10)) });
      acMock.on(StartDeploymentCommand).resolves({ DeploymentNumber: 5 });
      const retried = await router().shift(target, 10, { expectedPercent: 5, definition });
      acMock.on(GetHostedConfigurationVersionCommand, { ...PROFILE, VersionNumber: 4 }).resolves({ Content: bytes({ ...doc(5), values: {} }) });

      // Act
      const foreign = router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      expect(retried.changeId).toBe('appconfig:deployment/5');
      expect(acMock.commandCalls(StartDeploymentCommand)[0]!.args[0].input.ConfigurationVersion).toBe('4');
      await expect(foreign).rejects.toThrow(/hosted configuration version 4 .* was created outside the rollout/);
      expect(acMock.commandCalls(CreateHostedConfigurationVersionCommand)).toHaveLength(0);
    });

    it('returns the deployment already carrying the asked percentage (a retried shift)', async () => {
      // Prepare
      deployed(10, { version: 4, deployments: [deployment(5, 4, 'DEPLOYING'), deployment(4, 3, 'COMPLETE')] });

      // Act
      const result = await router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      expect(result.changeId).toBe('appconfig:deployment/5');
      expect(acMock.commandCalls(CreateHostedConfigurationVersionCommand)).toHaveLength(0);
      expect(acMock.commandCalls(StartDeploymentCommand)).toHaveLength(0);
    });

    it('maps throttling on StartDeployment to Throttled', async () => {
      // Prepare
      deployed(0);
      acMock.on(CreateHostedConfigurationVersionCommand).resolves({ VersionNumber: 4 });
      acMock.on(StartDeploymentCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 429 } }));

      // Act
      const result = router().shift(target, 1, { expectedPercent: 0, definition });

      // Assess
      await expect(result).rejects.toBeInstanceOf(ThrottledError);
    });
  });

  describe('restore', () => {
    it('stops its own deployment in progress (AllowRevert: it may be baking), then deploys the flag at 0 %, other flags untouched', async () => {
      // Prepare
      deployed(25, { version: 4, deployments: [deployment(5, 4, 'BAKING'), deployment(4, 3, 'COMPLETE')] });
      acMock.on(StopDeploymentCommand).resolves({});
      acMock.on(CreateHostedConfigurationVersionCommand).resolves({ VersionNumber: 5 });
      acMock.on(StartDeploymentCommand).resolves({ DeploymentNumber: 6 });

      // Act
      const result = await router().restore(target, definition);

      // Assess
      expect(result).toEqual({ changeId: 'appconfig:deployment/6' });
      expect(acMock.commandCalls(StopDeploymentCommand)[0]!.args[0].input).toEqual({ ...ENV, DeploymentNumber: 5, AllowRevert: true });
      const { Content, ...input } = acMock.commandCalls(CreateHostedConfigurationVersionCommand)[0]!.args[0].input;
      expect(input).toEqual({ ...PROFILE, ContentType: 'application/json', Description: 'canary-analyzer: rollback, new_checkout at 0 %' });
      expect(JSON.parse(text(Content))).toEqual(doc(0, false));
      expect(acMock.commandCalls(StartDeploymentCommand)[0]!.args[0].input).toMatchObject({ ConfigurationVersion: '5', DeploymentStrategyId: 'AppConfig.AllAtOnce' });
    });

    it('re-creates a deleted flag from the snapshot, keeping the other flags', async () => {
      // Prepare
      deployed(0);
      const { new_checkout: _gone, ...flags } = doc(30).flags;
      acMock.on(GetHostedConfigurationVersionCommand, { ...PROFILE, VersionNumber: 3 }).resolves({ Content: bytes({ version: '1', flags, values: { dark_mode: { enabled: true } } }), ContentType: 'application/json' });
      acMock.on(CreateHostedConfigurationVersionCommand).resolves({ VersionNumber: 4 });
      acMock.on(StartDeploymentCommand).resolves({ DeploymentNumber: 5 });

      // Act
      await router().restore(target, definition);

      // Assess
      const content = JSON.parse(text(acMock.commandCalls(CreateHostedConfigurationVersionCommand)[0]!.args[0].input.Content));
      expect(content).toEqual(doc(0, false));
    });

    it("waits (a retried TransientAwsError) rather than stop someone else's deployment", async () => {
      // Prepare
      deployed(25, { deployments: [deployment(5, 9, 'DEPLOYING', 'other99'), deployment(4, 3, 'COMPLETE')] });

      // Act
      const result = router().restore(target, definition);

      // Assess
      await expect(result).rejects.toBeInstanceOf(TransientAwsError);
      await expect(result).rejects.toThrow(/deployment 5 \(other version 9\) is DEPLOYING .* the rollback deploys new_checkout at 0 % once it ends/);
      expect(acMock.commandCalls(StopDeploymentCommand)).toHaveLength(0);
      expect(acMock.commandCalls(StartDeploymentCommand)).toHaveLength(0);
    });
  });

  describe('isInSync', () => {
    it.each([['COMPLETE', true], ['DEPLOYING', false], ['BAKING', false]])('is %s → %s', async (state, expected) => {
      // Prepare
      acMock.on(GetDeploymentCommand).resolves({ DeploymentNumber: 5, State: state as 'COMPLETE' });

      // Act
      const inSync = await router().isInSync(target, 'appconfig:deployment/5');

      // Assess
      expect(inSync).toBe(expected);
      expect(acMock.commandCalls(GetDeploymentCommand)[0]!.args[0].input).toEqual({ ...ENV, DeploymentNumber: 5 });
    });

    it('surfaces a rollback by AppConfig itself, with its last event', async () => {
      // Prepare
      acMock.on(GetDeploymentCommand).resolves({
        DeploymentNumber: 5, State: 'ROLLED_BACK',
        EventLog: [
          { EventType: 'DEPLOYMENT_STARTED', TriggeredBy: 'USER', Description: 'Deployment started', OccurredAt: new Date('2026-01-01T00:00:00Z') },
          { EventType: 'ROLLBACK_COMPLETED', TriggeredBy: 'CLOUDWATCH_ALARM', Description: 'Rollback completed: alarm checkout-5xx', OccurredAt: new Date('2026-01-01T00:03:00Z') },
        ],
      });

      // Act
      const result = router().isInSync(target, 'appconfig:deployment/5');

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow('AppConfig rolled back deployment 5 of flag new_checkout of configuration profile prof901 to environment env5678 (state ROLLED_BACK): Rollback completed: alarm checkout-5xx (CLOUDWATCH_ALARM); clients are back on the previous configuration, not the one this rollout deployed');
    });
  });
});
