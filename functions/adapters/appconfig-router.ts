/**
 * TrafficRouter on an AWS AppConfig feature flag (the model is described in core/targets.ts):
 * a stage writes the flag's percentage into a new hosted configuration version and deploys it
 * to the environment with an all-at-once strategy; it is in sync once AppConfig says the
 * deployment is COMPLETE. The hosted version is created with LatestVersionNumber set to the
 * version that is deployed, AppConfig's compare-and-set: a version someone else created in
 * between (deployed or not) makes the shift fail and change nothing.
 *
 * AppConfig runs one deployment per environment at a time, so the lock is per environment
 * (lockKeyOf) and a deployment already in progress is a problem at preflight.
 */
import {
  CreateHostedConfigurationVersionCommand,
  GetConfigurationProfileCommand,
  GetDeploymentCommand,
  GetDeploymentStrategyCommand,
  GetHostedConfigurationVersionCommand,
  ListDeploymentsCommand,
  ListHostedConfigurationVersionsCommand,
  StartDeploymentCommand,
  StopDeploymentCommand,
  type AppConfigClient,
  type DeploymentSummary,
} from '@aws-sdk/client-appconfig';
import { TrafficStateError, TransientAwsError } from '../core/errors.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from '../core/router.ts';
import {
  APPCONFIG_IN_PROGRESS, APPCONFIG_LIVE, appConfigChangeId, flagDocumentWith, flagName, flagRestoreDocument, flagSnapshot,
  parseAppConfigChangeId, readFlag,
} from '../core/router-state.ts';
import { DEFAULT_APPCONFIG_STRATEGY, flagPercentage, type AppConfigFlagTarget } from '../core/targets.ts';
import { callAws, isAwsError } from './aws-errors.ts';

const SERVICE = 'AppConfig';
const FEATURE_FLAGS = 'AWS.AppConfig.FeatureFlags';
/** Deployment pages read at most (50 a page), newest first: a guard, not a limit met in practice. */
const MAX_DEPLOYMENT_PAGES = 10;
const DESCRIPTION = 'canary-analyzer';

/** What preflight keeps of a flag: enough to re-create it at 0 % if it was deleted. */
export interface AppConfigFlagDefinition extends RouterDefinition {
  kind: 'appconfig-flag';
  applicationId: string;
  environmentId: string;
  configurationProfileId: string;
  flag: string;
  attribute: string;
  deploymentStrategyId: string;
  contentType: string;
  /** The flag's definition and its value at 0 % (disabled). */
  snapshot: { definition: unknown; value: Record<string, unknown> };
}

/** The configuration of the profile clients get: the newest deployment of it that was not rolled back. */
interface Live {
  deploymentNumber: number;
  state: string;
  version: number;
  contentType: string;
  content: string;
}

interface State {
  profileProblems: string[];
  profileName?: string;
  /** A deployment holding the environment (of any profile), newest first. */
  inProgress: DeploymentSummary | null;
  live: Live | null;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class AppConfigRouter implements TrafficRouter<AppConfigFlagTarget> {
  readonly #client: AppConfigClient;

  constructor(client: AppConfigClient) {
    this.#client = client;
  }

  async read(target: AppConfigFlagTarget): Promise<RouterReading> {
    const state = await this.#state(target);
    const problems = [...state.profileProblems];
    if (state.inProgress) problems.push(inProgressLine(target, state.inProgress));
    let canaryPercent: number | null = null;
    let snapshot = flagSnapshot({}, target);
    if (state.profileProblems.length === 0) {
      if (!state.live) {
        problems.push(`configuration profile ${target.configurationProfileId} has never been deployed to environment ${target.environmentId}: deploy it once with ${target.flag} at 0 % (enabled: false)`);
      } else {
        const reading = readFlag(state.live.content, target);
        problems.push(...reading.problems);
        canaryPercent = reading.canaryPercent;
        if (reading.document) snapshot = flagSnapshot(reading.document, target);
        const newer = await this.#newerHostedVersion(target, state.live.version);
        if (newer !== null) {
          problems.push(`hosted configuration version ${newer} of profile ${target.configurationProfileId} is newer than the deployed version ${state.live.version} and not deployed: deploy or delete it first (the rollout deploys only its own change)`);
        }
      }
    }
    problems.push(...await this.#strategyProblems(target));
    return {
      canaryPercent: problems.length > 0 ? null : canaryPercent,
      problems,
      // Clients poll: they may keep the previous percentage one poll interval after COMPLETE.
      settleSeconds: target.clientPollSeconds,
      definition: {
        kind: 'appconfig-flag', applicationId: target.applicationId, environmentId: target.environmentId,
        configurationProfileId: target.configurationProfileId, flag: target.flag, attribute: target.attribute,
        deploymentStrategyId: target.deploymentStrategyId, contentType: state.live?.contentType ?? 'application/json', snapshot,
      } satisfies AppConfigFlagDefinition,
    };
  }

  async shift(target: AppConfigFlagTarget, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    const value = flagPercentage(canaryPercent);
    const state = await this.#state(target);
    if (state.profileProblems.length > 0) throw new TrafficStateError(`${state.profileProblems.join('; ')}: nothing changed`);
    const live = state.live;
    if (!live) throw new TrafficStateError(`configuration profile ${target.configurationProfileId} is not deployed to environment ${target.environmentId} any more: nothing changed`);
    const reading = readFlag(live.content, target);
    if (reading.canaryPercent === null || !reading.document) throw new TrafficStateError(`${reading.problems.join('; ')}: nothing changed`);
    // A retried shift whose first attempt went through finds its deployment (done or under way).
    if (reading.canaryPercent === value) return { changeId: appConfigChangeId(live.deploymentNumber) };
    if (state.inProgress) throw new TrafficStateError(`${inProgressLine(target, state.inProgress)}: nothing changed`);
    if (options.expectedPercent !== undefined && Math.abs(reading.canaryPercent - options.expectedPercent) > 1e-6) {
      throw new TrafficStateError(`${flagName(target)} is at ${reading.canaryPercent} % in environment ${target.environmentId}, not the ${options.expectedPercent} % this rollout set (changed outside the rollout?): nothing changed`);
    }
    const next = flagDocumentWith(reading.document, target, value);
    const content = JSON.stringify(next);
    // A retried shift whose first attempt created the version but did not deploy it finds that
    // version: it deploys it. Any other newer version is someone else's: refused.
    const newer = await this.#newerHostedVersion(target, live.version);
    let version: number;
    if (newer !== null) {
      if ((await this.#hostedContent(target, newer)) !== content) {
        throw new TrafficStateError(`hosted configuration version ${newer} of profile ${target.configurationProfileId} was created outside the rollout after the deployed version ${live.version} and is not deployed: nothing changed (deploy or delete it)`);
      }
      version = newer;
    } else {
      version = await this.#createVersion(target, content, live.contentType, `${DESCRIPTION}: ${target.flag} at ${value} %`, live.version);
    }
    return { changeId: appConfigChangeId(await this.#deploy(target, version, `${DESCRIPTION}: ${target.flag} at ${value} %`, 'shift')) };
  }

  async restore(target: AppConfigFlagTarget, definition: RouterDefinition): Promise<{ changeId: string }> {
    const def = definition as Partial<AppConfigFlagDefinition>;
    const snapshot = def.snapshot && typeof def.snapshot === 'object' ? def.snapshot : flagSnapshot({}, target);
    const state = await this.#state(target);
    if (state.inProgress) {
      const n = state.inProgress.DeploymentNumber!;
      const ours = isOfProfile(state.inProgress, target, state.profileName);
      if (!ours) {
        // Someone else's change is deploying: stopping it would revert it. Retried until it ends.
        throw new TransientAwsError(SERVICE, new Error(`${inProgressLine(target, state.inProgress)}; the rollback deploys ${target.flag} at 0 % once it ends`));
      }
      if (state.inProgress.State !== 'ROLLING_BACK') {
        // AllowRevert: without it StopDeployment refuses a deployment past DEPLOYING (BAKING).
        await callAws(SERVICE, () => this.#client.send(new StopDeploymentCommand({
          ApplicationId: target.applicationId, EnvironmentId: target.environmentId, DeploymentNumber: n, AllowRevert: true,
        })));
      }
    }
    // What clients have is the base (other flags untouched); the flag is re-created if it was deleted.
    const base = state.live ? readFlag(state.live.content, target).document : null;
    const doc = flagRestoreDocument(base, target, snapshot as AppConfigFlagDefinition['snapshot']);
    const contentType = state.live?.contentType ?? (typeof def.contentType === 'string' ? def.contentType : 'application/json');
    const version = await this.#createVersion(target, JSON.stringify(doc), contentType, `${DESCRIPTION}: rollback, ${target.flag} at 0 %`);
    return { changeId: appConfigChangeId(await this.#deploy(target, version, `${DESCRIPTION}: rollback, ${target.flag} at 0 %`, 'restore')) };
  }

  async isInSync(target: AppConfigFlagTarget, changeId: string): Promise<boolean> {
    const n = parseAppConfigChangeId(changeId);
    if (n === null) throw new TrafficStateError(`'${changeId}' is not an AppConfig change id (appconfig:deployment/<number>)`);
    const d = await callAws(SERVICE, () => this.#client.send(new GetDeploymentCommand({
      ApplicationId: target.applicationId, EnvironmentId: target.environmentId, DeploymentNumber: n,
    })));
    switch (d.State) {
      case 'COMPLETE': return true;
      case 'DEPLOYING': case 'BAKING': case 'VALIDATING': return false;
      default: {
        const last = [...(d.EventLog ?? [])].sort((a, b) => (b.OccurredAt?.getTime() ?? 0) - (a.OccurredAt?.getTime() ?? 0))[0];
        const why = last ? `: ${last.Description ?? last.EventType} (${last.TriggeredBy ?? 'unknown'})` : '';
        throw new TrafficStateError(`AppConfig ${d.State === 'ROLLING_BACK' || d.State === 'ROLLED_BACK' ? 'rolled back' : 'reverted'} deployment ${n} of ${flagName(target)} to environment ${target.environmentId} (state ${d.State})${why}; clients are back on the previous configuration, not the one this rollout deployed`);
      }
    }
  }

  async #state(target: AppConfigFlagTarget): Promise<State> {
    const profileProblems: string[] = [];
    let profileName: string | undefined;
    try {
      const profile = await callAws(SERVICE, () => this.#client.send(new GetConfigurationProfileCommand({
        ApplicationId: target.applicationId, ConfigurationProfileId: target.configurationProfileId,
      })));
      profileName = profile.Name;
      if (profile.Type !== FEATURE_FLAGS) profileProblems.push(`configuration profile ${target.configurationProfileId} is of type ${profile.Type ?? 'AWS.Freeform'}, not ${FEATURE_FLAGS}`);
      if (profile.LocationUri !== 'hosted') profileProblems.push(`configuration profile ${target.configurationProfileId} is stored at ${profile.LocationUri}, not in the AppConfig hosted store`);
    } catch (err) {
      if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
      return { profileProblems: [`configuration profile ${target.configurationProfileId} of application ${target.applicationId} does not exist`], inProgress: null, live: null };
    }
    const deployments: DeploymentSummary[] = [];
    try {
      let token: string | undefined;
      for (let page = 0; page < MAX_DEPLOYMENT_PAGES; page++) {
        const out = await callAws(SERVICE, () => this.#client.send(new ListDeploymentsCommand({
          ApplicationId: target.applicationId, EnvironmentId: target.environmentId, MaxResults: 50, ...(token ? { NextToken: token } : {}),
        })));
        deployments.push(...(out.Items ?? []));
        token = out.NextToken;
        // Newest first: once this profile's live deployment is found there is nothing older to need.
        if (!token || deployments.some((d) => isOfProfile(d, target, profileName) && APPCONFIG_LIVE.has(d.State ?? ''))) break;
      }
    } catch (err) {
      if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
      return { profileProblems: [...profileProblems, `environment ${target.environmentId} of application ${target.applicationId} does not exist`], inProgress: null, live: null };
    }
    deployments.sort((a, b) => (b.DeploymentNumber ?? 0) - (a.DeploymentNumber ?? 0));
    const inProgress = deployments.find((d) => APPCONFIG_IN_PROGRESS.has(d.State ?? '')) ?? null;
    const liveSummary = deployments.find((d) => isOfProfile(d, target, profileName) && APPCONFIG_LIVE.has(d.State ?? ''));
    let live: Live | null = null;
    if (liveSummary) {
      const version = Number(liveSummary.ConfigurationVersion);
      try {
        const out = await callAws(SERVICE, () => this.#client.send(new GetHostedConfigurationVersionCommand({
          ApplicationId: target.applicationId, ConfigurationProfileId: target.configurationProfileId, VersionNumber: version,
        })));
        live = {
          deploymentNumber: liveSummary.DeploymentNumber!, state: liveSummary.State!, version,
          contentType: out.ContentType ?? 'application/json', content: decoder.decode(out.Content ?? new Uint8Array()),
        };
      } catch (err) {
        if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
        profileProblems.push(`the deployed hosted configuration version ${version} of profile ${target.configurationProfileId} was deleted: deploy a current version first`);
      }
    }
    return { profileProblems, profileName, inProgress, live };
  }

  /** A hosted version newer than `deployed`, if the first page of versions shows one. */
  async #newerHostedVersion(target: AppConfigFlagTarget, deployed: number): Promise<number | null> {
    // The API does not document an order: a newer version past the first page is caught by the
    // compare-and-set of the first shift instead (nothing moves then either).
    const out = await callAws(SERVICE, () => this.#client.send(new ListHostedConfigurationVersionsCommand({
      ApplicationId: target.applicationId, ConfigurationProfileId: target.configurationProfileId, MaxResults: 50,
    })));
    const newer = (out.Items ?? []).map((v) => v.VersionNumber ?? 0).filter((v) => v > deployed);
    return newer.length > 0 ? Math.max(...newer) : null;
  }

  /** A custom strategy must deploy at once (AppConfig.AllAtOnce does). */
  async #strategyProblems(target: AppConfigFlagTarget): Promise<string[]> {
    if (target.deploymentStrategyId === DEFAULT_APPCONFIG_STRATEGY) return [];
    try {
      const s = await callAws(SERVICE, () => this.#client.send(new GetDeploymentStrategyCommand({ DeploymentStrategyId: target.deploymentStrategyId })));
      if ((s.DeploymentDurationInMinutes ?? 0) > 0) {
        return [`deployment strategy ${target.deploymentStrategyId} deploys over ${s.DeploymentDurationInMinutes} minutes: use an all-at-once strategy (deployment duration 0), or AppConfig.AllAtOnce, so that each stage's percentage reaches every client at once`];
      }
      return [];
    } catch (err) {
      if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
      return [`deployment strategy ${target.deploymentStrategyId} does not exist`];
    }
  }

  async #hostedContent(target: AppConfigFlagTarget, version: number): Promise<string | null> {
    try {
      const out = await callAws(SERVICE, () => this.#client.send(new GetHostedConfigurationVersionCommand({
        ApplicationId: target.applicationId, ConfigurationProfileId: target.configurationProfileId, VersionNumber: version,
      })));
      return decoder.decode(out.Content ?? new Uint8Array());
    } catch (err) {
      if (isAwsError(err, 'ResourceNotFoundException')) return null;
      throw err;
    }
  }

  async #createVersion(target: AppConfigFlagTarget, content: string, contentType: string, description: string, latestVersionNumber?: number): Promise<number> {
    try {
      const out = await callAws(SERVICE, () => this.#client.send(new CreateHostedConfigurationVersionCommand({
        ApplicationId: target.applicationId,
        ConfigurationProfileId: target.configurationProfileId,
        Content: encoder.encode(content),
        ContentType: contentType,
        Description: description,
        ...(latestVersionNumber !== undefined ? { LatestVersionNumber: latestVersionNumber } : {}),
      })));
      if (out.VersionNumber === undefined) throw new TrafficStateError('AppConfig created the hosted configuration version but returned no version number');
      return out.VersionNumber;
    } catch (err) {
      if (isAwsError(err, 'ConflictException')) {
        throw new TrafficStateError(`a hosted configuration version of profile ${target.configurationProfileId} newer than the deployed version ${latestVersionNumber} was created outside the rollout: nothing changed (${(err as Error).message})`);
      }
      if (isAwsError(err, 'BadRequestException')) {
        throw new TrafficStateError(`AppConfig refused the flag document with ${target.flag} changed (${(err as Error).message}): nothing changed`);
      }
      throw err;
    }
  }

  async #deploy(target: AppConfigFlagTarget, version: number, description: string, what: 'shift' | 'restore'): Promise<number> {
    try {
      const out = await callAws(SERVICE, () => this.#client.send(new StartDeploymentCommand({
        ApplicationId: target.applicationId,
        EnvironmentId: target.environmentId,
        ConfigurationProfileId: target.configurationProfileId,
        ConfigurationVersion: String(version),
        DeploymentStrategyId: target.deploymentStrategyId,
        Description: description,
      })));
      if (out.DeploymentNumber === undefined) throw new TrafficStateError('AppConfig started the deployment but returned no deployment number');
      return out.DeploymentNumber;
    } catch (err) {
      if (!isAwsError(err, 'ConflictException')) throw err;
      const line = `another deployment is in progress on environment ${target.environmentId} (${(err as Error).message})`;
      // A rollback waits for it (retried); a shift stops: someone else is changing the environment.
      if (what === 'restore') throw new TransientAwsError(SERVICE, new Error(line));
      throw new TrafficStateError(`${line}: hosted version ${version} was created but not deployed`);
    }
  }
}

/** A summary without ConfigurationProfileId (older responses) is matched by the profile's name. */
function isOfProfile(d: DeploymentSummary, target: AppConfigFlagTarget, profileName?: string): boolean {
  if (d.ConfigurationProfileId !== undefined) return d.ConfigurationProfileId === target.configurationProfileId;
  return profileName !== undefined && d.ConfigurationName === profileName;
}

function inProgressLine(target: AppConfigFlagTarget, d: DeploymentSummary): string {
  return `deployment ${d.DeploymentNumber} (${d.ConfigurationName ?? d.ConfigurationProfileId ?? '?'} version ${d.ConfigurationVersion ?? '?'}) is ${d.State} on environment ${target.environmentId}: wait for it to end or stop it (aws appconfig stop-deployment --application-id ${target.applicationId} --environment-id ${target.environmentId} --deployment-number ${d.DeploymentNumber})`;
}
