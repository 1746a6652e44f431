/**
 * TrafficRouter on a Lambda alias's weighted routing: the alias points at the baseline version
 * and gives the canary version a weight (RoutingConfig.AdditionalVersionWeights, 0.0-1.0); at
 * 100 % it points at the canary version alone (promotion moves the alias). A shift is one
 * UpdateAlias carrying the RevisionId that was read, Lambda's own compare-and-set.
 */
import {
  CreateAliasCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  UpdateAliasCommand,
  type FunctionConfiguration,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { TrafficStateError } from '../core/errors.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from '../core/router.ts';
import { aliasChangeId, aliasMatchesChange, aliasName, aliasRoutingFor, readAlias, type AliasState } from '../core/router-state.ts';
import type { LambdaAliasTarget } from '../core/targets.ts';
import { callAws, isAwsError } from './aws-errors.ts';

const SERVICE = 'Lambda';

/** What preflight keeps of an alias: the baseline version a restore points it back at. */
export interface LambdaAliasDefinition extends RouterDefinition {
  kind: 'lambda-alias';
  functionName: string;
  alias: string;
  canaryVersion: string;
  /** The version the alias served before the rollout; null when it could not be told. */
  baselineVersion: string | null;
}

export class LambdaAliasRouter implements TrafficRouter<LambdaAliasTarget> {
  readonly #client: LambdaClient;

  constructor(client: LambdaClient) {
    this.#client = client;
  }

  /**
   * `definition` (optional, beyond the port): the one preflight kept, so that a later read knows
   * the baseline when the config did not name it.
   */
  async read(target: LambdaAliasTarget, definition?: RouterDefinition): Promise<RouterReading> {
    const known = baselineOf(target, definition);
    const alias = await this.#alias(target);
    if (!alias) {
      return {
        canaryPercent: null, problems: [`${aliasName(target)} does not exist: create it pointing at the baseline version`],
        settleSeconds: 0, definition: definitionOf(target, known ?? null),
      };
    }
    const reading = readAlias(alias, target, known);
    const problems = [...reading.problems];
    if (reading.baselineVersion === null && problems.length === 0) {
      problems.push(`${aliasName(target)} points at the canary version ${target.canaryVersion} alone, so the baseline cannot be told: give target.baselineVersion`);
    }
    problems.push(...await this.#versionProblems(target, reading.baselineVersion));
    return {
      canaryPercent: problems.length > 0 ? null : reading.canaryPercent,
      problems,
      settleSeconds: 0,
      definition: definitionOf(target, reading.baselineVersion),
    };
  }

  async shift(target: LambdaAliasTarget, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    const alias = await this.#alias(target);
    if (!alias) throw new TrafficStateError(`${aliasName(target)} no longer exists (deleted outside the rollout?): nothing changed`);
    const reading = readAlias(alias, target, baselineOf(target, options.definition));
    if (reading.canaryPercent === null) throw new TrafficStateError(`${reading.problems.join('; ')}: nothing changed`);
    const baseline = reading.baselineVersion;
    if (baseline === null) throw new TrafficStateError(`${aliasName(target)}: the baseline version is unknown (give target.baselineVersion): nothing changed`);
    const routing = aliasRoutingFor(canaryPercent, baseline, target.canaryVersion);
    // A retried shift whose first attempt went through finds the routing it asked for: done.
    if (aliasMatchesChange(alias, aliasChangeId(routing))) return { changeId: aliasChangeId(routing) };
    if (options.expectedPercent !== undefined && Math.abs(reading.canaryPercent - options.expectedPercent) > 1e-6) {
      throw new TrafficStateError(`${aliasName(target)} gives the canary version ${target.canaryVersion} ${reading.canaryPercent} %, not the ${options.expectedPercent} % this rollout set (changed outside the rollout?): nothing changed`);
    }
    try {
      await callAws(SERVICE, () => this.#client.send(new UpdateAliasCommand({
        FunctionName: target.functionName, Name: target.alias, ...routing, RevisionId: alias.RevisionId,
      })));
    } catch (err) {
      if (isAwsError(err, 'PreconditionFailedException')) {
        throw new TrafficStateError(`${aliasName(target)} changed between the read and the update (revision ${alias.RevisionId} is no longer current): nothing changed`);
      }
      if (isAwsError(err, 'ResourceNotFoundException')) {
        throw new TrafficStateError(`${aliasName(target)} or one of its versions no longer exists (${(err as Error).message}): nothing changed`);
      }
      throw err;
    }
    return { changeId: aliasChangeId(routing) };
  }

  async restore(target: LambdaAliasTarget, definition: RouterDefinition): Promise<{ changeId: string }> {
    const baseline = baselineOf(target, definition);
    if (baseline === undefined) {
      throw new TrafficStateError(`cannot restore ${aliasName(target)}: neither the config nor preflight named the baseline version; point the alias at it by hand`);
    }
    const routing = aliasRoutingFor(0, baseline, target.canaryVersion);
    try {
      await callAws(SERVICE, () => this.#client.send(new UpdateAliasCommand({ FunctionName: target.functionName, Name: target.alias, ...routing })));
      return { changeId: aliasChangeId(routing) };
    } catch (err) {
      if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
    }
    // The alias is gone (or the function, or the baseline version): re-create the alias.
    try {
      await callAws(SERVICE, () => this.#client.send(new CreateAliasCommand({
        FunctionName: target.functionName, Name: target.alias, FunctionVersion: baseline,
        Description: 'Re-created by canary-analyzer: rolled back to the baseline version',
      })));
    } catch (err) {
      if (isAwsError(err, 'ResourceNotFoundException')) {
        throw new TrafficStateError(`cannot restore ${aliasName(target)}: the function or its baseline version ${baseline} no longer exists (${(err as Error).message})`);
      }
      throw err;
    }
    return { changeId: aliasChangeId(routing) };
  }

  async isInSync(target: LambdaAliasTarget, changeId: string): Promise<boolean> {
    const alias = await this.#alias(target);
    if (!alias) throw new TrafficStateError(`${aliasName(target)} no longer exists (deleted outside the rollout?)`);
    const matches = aliasMatchesChange(alias, changeId);
    if (matches === null) throw new TrafficStateError(`'${changeId}' is not a Lambda alias change id (lambda:<version>[+<version>@<weight>])`);
    if (matches) return true;
    const extra = Object.entries(alias.RoutingConfig?.AdditionalVersionWeights ?? {}).map(([v, w]) => ` + version ${v} at ${w}`).join('');
    throw new TrafficStateError(`${aliasName(target)} now routes to version ${alias.FunctionVersion}${extra}, not what this rollout set (${changeId}): changed outside the rollout?`);
  }

  async #alias(target: LambdaAliasTarget): Promise<AliasState | null> {
    try {
      return await callAws(SERVICE, () => this.#client.send(new GetAliasCommand({ FunctionName: target.functionName, Name: target.alias })));
    } catch (err) {
      if (isAwsError(err, 'ResourceNotFoundException')) return null;
      throw err;
    }
  }

  async #version(target: LambdaAliasTarget, version: string): Promise<FunctionConfiguration | null> {
    try {
      return await callAws(SERVICE, () => this.#client.send(new GetFunctionConfigurationCommand({ FunctionName: target.functionName, Qualifier: version })));
    } catch (err) {
      if (isAwsError(err, 'ResourceNotFoundException')) return null;
      throw err;
    }
  }

  /**
   * The versions must exist and be active, and Lambda splits an alias only between versions with
   * the same execution role and the same dead-letter queue.
   */
  async #versionProblems(target: LambdaAliasTarget, baselineVersion: string | null): Promise<string[]> {
    const problems: string[] = [];
    const canary = await this.#version(target, target.canaryVersion);
    if (!canary) problems.push(`canary version ${target.canaryVersion} of ${target.functionName} does not exist: publish it (aws lambda publish-version)`);
    else if (canary.State && canary.State !== 'Active') problems.push(`canary version ${target.canaryVersion} of ${target.functionName} is ${canary.State}, not Active`);
    if (baselineVersion === null) return problems;
    const baseline = await this.#version(target, baselineVersion);
    if (!baseline) {
      problems.push(`baseline version ${baselineVersion} of ${target.functionName} does not exist`);
      return problems;
    }
    if (canary && canary.Role !== baseline.Role) {
      problems.push(`versions ${baselineVersion} and ${target.canaryVersion} of ${target.functionName} have different execution roles (${baseline.Role} / ${canary.Role}): Lambda splits an alias only between versions with the same role`);
    }
    const dlq = (c: FunctionConfiguration) => c.DeadLetterConfig?.TargetArn ?? 'none';
    if (canary && dlq(canary) !== dlq(baseline)) {
      problems.push(`versions ${baselineVersion} and ${target.canaryVersion} of ${target.functionName} have different dead-letter queues (${dlq(baseline)} / ${dlq(canary)}): Lambda splits an alias only between versions with the same one`);
    }
    return problems;
  }
}

function baselineOf(target: LambdaAliasTarget, definition: RouterDefinition | undefined): string | undefined {
  const fromDefinition = (definition as Partial<LambdaAliasDefinition> | undefined)?.baselineVersion;
  return target.baselineVersion ?? (typeof fromDefinition === 'string' ? fromDefinition : undefined);
}

function definitionOf(target: LambdaAliasTarget, baselineVersion: string | null): LambdaAliasDefinition {
  return { kind: 'lambda-alias', functionName: target.functionName, alias: target.alias, canaryVersion: target.canaryVersion, baselineVersion };
}
