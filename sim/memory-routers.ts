/**
 * In-memory routers for the simulator, with each router's semantics as the AWS adapters see
 * them (they read and write through the same functions of core/router-state.ts):
 * - ALB: a rule's forward action; a change is what a describe call shows at once (in sync
 *   immediately) and reaches requests 1-5 s later (seeded);
 * - Lambda alias: the alias routing, a RevisionId bumped on each update; in sync at once, in
 *   effect 1-5 s later;
 * - AppConfig flag: hosted versions and deployments per environment, one at a time; a
 *   deployment is DEPLOYING for some seconds, BAKING for the strategy's bake time, then
 *   COMPLETE (or ROLLED_BACK when stopped, or when a scenario makes AppConfig roll it back);
 *   clients pick the new percentage up within a poll interval once it is deployed.
 * Compare-and-set, refusals and restore behave as in the adapters: a restore rewrites the rule
 * from the preflight definition, re-creates a deleted alias, re-creates a deleted flag.
 * Everything random comes from the given Rng, and time from the given Clock.
 */
import { TrafficStateError, TransientAwsError } from '../functions/core/errors.ts';
import type { Clock } from '../functions/core/ports.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from '../functions/core/router.ts';
import {
  albActionsWith, albChangeId, albRestoreWeights, albSettleSeconds, albWhere, aliasChangeId, aliasMatchesChange, aliasName, aliasRoutingFor,
  APPCONFIG_IN_PROGRESS, APPCONFIG_LIVE, appConfigChangeId, flagDocumentWith, flagName, flagRestoreDocument, flagSnapshot, parseAlbChangeId,
  parseAppConfigChangeId, readAlbActions, readAlias, readFlag, shiftStickiness, type AlbAction, type AliasState,
} from '../functions/core/router-state.ts';
import {
  albWeights, DEFAULT_APPCONFIG_STRATEGY, flagPercentage, type AlbTarget, type AppConfigFlagTarget, type LambdaAliasTarget, type SplitWeights,
} from '../functions/core/targets.ts';
import { uniformInt, type Rng } from './prng.ts';

const copy = <T>(value: T): T => structuredClone(value);

export interface MemoryRouterOptions {
  clock: Clock;
  rng: Rng;
  /** Seconds from a change to its effect on requests, drawn per change. Default [1, 5]. */
  effectDelaySeconds?: [number, number];
}

/** When a split started to apply to requests. */
interface Effect {
  at: number;
  canaryPercent: number;
}

/** The share in effect at `atMs`: the latest effect that had started by then (0 before any). */
function shareAt(effects: readonly Effect[], atMs: number): number {
  let share = 0;
  for (const e of effects) if (e.at <= atMs) share = e.canaryPercent;
  return share;
}

function recordEffect(effects: Effect[], at: number, canaryPercent: number): void {
  effects.push({ at, canaryPercent });
  effects.sort((a, b) => a.at - b.at);
}

// ---------------------------------------------------------------------------------------------
// ALB
// ---------------------------------------------------------------------------------------------

/** An ALB in memory: rule (or default) actions per target, and the target groups that exist. */
export class MemoryAlbRouter implements TrafficRouter<AlbTarget> {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #delay: [number, number];
  readonly #actions = new Map<string, AlbAction[]>();
  readonly #targetGroups = new Set<string>();
  readonly #effects = new Map<string, Effect[]>();
  readonly #writes: { key: string; at: string; actions: AlbAction[] }[] = [];

  constructor(options: MemoryRouterOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#delay = options.effectDelaySeconds ?? [1, 5];
  }

  /** Creates the two target groups and a forward at `weights` (default 1 / 0): the setup a rollout starts from. */
  putForward(target: AlbTarget, weights: SplitWeights = { canary: 0, baseline: 1 }): void {
    this.#targetGroups.add(target.baselineTargetGroupArn);
    this.#targetGroups.add(target.canaryTargetGroupArn);
    this.setActions(target, albActionsWith([], -1, target, weights, { Enabled: false }));
  }

  /** Replaces the actions as someone outside the rollout would (takes effect at once). */
  setActions(target: AlbTarget, actions: AlbAction[]): void {
    this.#actions.set(keyOf(target), copy(actions));
    const reading = readAlbActions(actions, target);
    recordEffect(this.#effectsOf(target), this.#clock.now().getTime(), reading.canaryPercent ?? 0);
  }

  deleteTargetGroup(arn: string): void {
    this.#targetGroups.delete(arn);
  }

  deleteRule(target: AlbTarget): void {
    this.#actions.delete(keyOf(target));
  }

  /** The actions stored for the target (what a describe call returns), or null. */
  actions(target: AlbTarget): AlbAction[] | null {
    const a = this.#actions.get(keyOf(target));
    return a ? copy(a) : null;
  }

  /** Every ModifyRule / ModifyListener the router made, oldest first. */
  writes(): { key: string; at: string; actions: AlbAction[] }[] {
    return copy(this.#writes);
  }

  /** The canary's share of requests at `at` (changes reach requests a few seconds after they are made). */
  canaryShareAt(target: AlbTarget, at: Date = this.#clock.now()): number {
    return shareAt(this.#effects.get(keyOf(target)) ?? [], at.getTime());
  }

  async read(target: AlbTarget): Promise<RouterReading> {
    const actions = this.#actions.get(keyOf(target));
    const definition = { kind: 'alb', listenerArn: target.listenerArn, ruleArn: target.ruleArn ?? null, actions: copy(actions ?? []), weights: null as SplitWeights | null };
    if (!actions) return { canaryPercent: null, problems: [`${albWhere(target)} does not exist`], settleSeconds: 0, definition };
    const reading = readAlbActions(actions, target);
    const problems = [...reading.problems, ...this.#missing(target)];
    definition.weights = reading.weights;
    return { canaryPercent: problems.length > 0 ? null : reading.canaryPercent, problems, settleSeconds: albSettleSeconds(target, reading.stickiness), definition };
  }

  async shift(target: AlbTarget, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    const weights = albWeights(canaryPercent);
    const actions = this.#actions.get(keyOf(target));
    if (!actions) throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?): nothing changed`);
    const reading = readAlbActions(actions, target);
    if (reading.canaryPercent === null) throw new TrafficStateError(`${reading.problems.join('; ')}: nothing changed`);
    if (reading.weights && reading.weights.canary === weights.canary && reading.weights.baseline === weights.baseline) return { changeId: albChangeId(weights) };
    if (options.expectedPercent !== undefined && Math.abs(reading.canaryPercent - options.expectedPercent) > 1e-6) {
      throw new TrafficStateError(`${albWhere(target)} sends ${reading.canaryPercent} % to the canary, not the ${options.expectedPercent} % this rollout set (changed outside the rollout?): nothing changed`);
    }
    const missing = this.#missing(target);
    if (missing.length > 0) throw new TrafficStateError(`${albWhere(target)} cannot forward to a target group that no longer exists (${missing.join('; ')}): nothing changed`);
    this.#write(target, albActionsWith(actions, reading.forwardIndex, target, weights, shiftStickiness(target, reading.stickiness)), canaryPercent);
    return { changeId: albChangeId(weights) };
  }

  async restore(target: AlbTarget, definition: RouterDefinition): Promise<{ changeId: string }> {
    const d = definition as { actions?: AlbAction[]; weights?: SplitWeights | null };
    if (!this.#actions.has(keyOf(target))) {
      throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?): the restore changed nothing; re-create the rule forwarding to the baseline target group by hand`);
    }
    const hasForward = (actions: AlbAction[] | undefined) => actions !== undefined && actions.some((a) => a.Type === 'forward');
    const base = hasForward(d.actions) ? d.actions! : this.#actions.get(keyOf(target))!;
    if (!hasForward(base)) throw new TrafficStateError(`${albWhere(target)} does not forward, and did not at preflight: there is no split to restore (nothing changed)`);
    const forwardIndex = base.findIndex((a) => a.Type === 'forward');
    if (!this.#targetGroups.has(target.baselineTargetGroupArn)) {
      throw new TrafficStateError(`cannot restore ${albWhere(target)}: the baseline target group ${target.baselineTargetGroupArn} no longer exists; point the rule at a healthy target group by hand`);
    }
    const canaryGone = !this.#targetGroups.has(target.canaryTargetGroupArn);
    const weights = canaryGone ? { canary: 0, baseline: 1 } : albRestoreWeights(d.weights ?? null);
    this.#write(target, albActionsWith(base, forwardIndex, target, weights, { Enabled: false }, { canaryGone }), 0);
    return { changeId: albChangeId(weights) };
  }

  async isInSync(target: AlbTarget, changeId: string): Promise<boolean> {
    const expected = parseAlbChangeId(changeId);
    if (!expected) throw new TrafficStateError(`'${changeId}' is not an ALB change id (alb:canary=<w>,baseline=<w>)`);
    const actions = this.#actions.get(keyOf(target));
    if (!actions) throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?)`);
    const { weights } = readAlbActions(actions, target);
    if (weights && weights.canary === expected.canary && weights.baseline === expected.baseline) return true;
    throw new TrafficStateError(`${albWhere(target)} now has ${weights ? `canary ${weights.canary} / baseline ${weights.baseline}` : 'no usable forward action'}, not the canary ${expected.canary} / baseline ${expected.baseline} this rollout set (changed outside the rollout?)`);
  }

  #missing(target: AlbTarget): string[] {
    return ([['baseline', target.baselineTargetGroupArn], ['canary', target.canaryTargetGroupArn]] as const)
      .filter(([, arn]) => !this.#targetGroups.has(arn)).map(([variant, arn]) => `the ${variant} target group ${arn} does not exist`);
  }

  #effectsOf(target: AlbTarget): Effect[] {
    const key = keyOf(target);
    let effects = this.#effects.get(key);
    if (!effects) this.#effects.set(key, effects = []);
    return effects;
  }

  #write(target: AlbTarget, actions: AlbAction[], canaryPercent: number): void {
    const now = this.#clock.now().getTime();
    this.#actions.set(keyOf(target), copy(actions));
    this.#writes.push({ key: keyOf(target), at: new Date(now).toISOString(), actions: copy(actions) });
    recordEffect(this.#effectsOf(target), now + uniformInt(this.#rng, this.#delay[0], this.#delay[1]) * 1000, canaryPercent);
  }
}

function keyOf(target: AlbTarget): string {
  return target.ruleArn ?? `${target.listenerArn}:default`;
}

// ---------------------------------------------------------------------------------------------
// Lambda alias
// ---------------------------------------------------------------------------------------------

interface MemoryFunction {
  versions: Map<string, { role: string }>;
  aliases: Map<string, Required<Pick<AliasState, 'FunctionVersion' | 'RevisionId'>> & { weights: Record<string, number> }>;
}

/** Lambda functions, their published versions and aliases, in memory. */
export class MemoryLambdaAliasRouter implements TrafficRouter<LambdaAliasTarget> {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #delay: [number, number];
  readonly #functions = new Map<string, MemoryFunction>();
  readonly #effects = new Map<string, Effect[]>();
  #revisions = 0;

  constructor(options: MemoryRouterOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#delay = options.effectDelaySeconds ?? [1, 5];
  }

  /** Creates the function with these published versions (same role), and the alias at `aliasVersion`. */
  putFunction(target: LambdaAliasTarget, versions: string[], aliasVersion: string, role = 'arn:aws:iam::123456789012:role/service'): void {
    const fn: MemoryFunction = { versions: new Map(versions.map((v) => [v, { role }])), aliases: new Map() };
    this.#functions.set(nameOf(target), fn);
    this.setAlias(target, aliasVersion, {});
  }

  /** Points the alias as someone outside the rollout would (takes effect at once). */
  setAlias(target: LambdaAliasTarget, functionVersion: string, weights: Record<string, number>): void {
    const fn = this.#fn(target);
    fn.aliases.set(target.alias, { FunctionVersion: functionVersion, weights: { ...weights }, RevisionId: this.#revision() });
    const reading = readAlias(this.#state(target)!, target);
    recordEffect(this.#effectsOf(target), this.#clock.now().getTime(), reading.canaryPercent ?? 0);
  }

  deleteAlias(target: LambdaAliasTarget): void {
    this.#functions.get(nameOf(target))?.aliases.delete(target.alias);
  }

  alias(target: LambdaAliasTarget): AliasState | null {
    return this.#state(target);
  }

  canaryShareAt(target: LambdaAliasTarget, at: Date = this.#clock.now()): number {
    return shareAt(this.#effects.get(`${nameOf(target)}:${target.alias}`) ?? [], at.getTime());
  }

  async read(target: LambdaAliasTarget, definition?: RouterDefinition): Promise<RouterReading> {
    const known = baselineOf(target, definition);
    const alias = this.#state(target);
    const def = (baselineVersion: string | null) => ({ kind: 'lambda-alias', functionName: target.functionName, alias: target.alias, canaryVersion: target.canaryVersion, baselineVersion });
    if (!alias) return { canaryPercent: null, problems: [`${aliasName(target)} does not exist: create it pointing at the baseline version`], settleSeconds: 0, definition: def(known ?? null) };
    const reading = readAlias(alias, target, known);
    const problems = [...reading.problems];
    if (reading.baselineVersion === null && problems.length === 0) {
      problems.push(`${aliasName(target)} points at the canary version ${target.canaryVersion} alone, so the baseline cannot be told: give target.baselineVersion`);
    }
    const versions = this.#functions.get(nameOf(target))?.versions;
    if (!versions?.has(target.canaryVersion)) problems.push(`canary version ${target.canaryVersion} of ${target.functionName} does not exist: publish it (aws lambda publish-version)`);
    return { canaryPercent: problems.length > 0 ? null : reading.canaryPercent, problems, settleSeconds: 0, definition: def(reading.baselineVersion) };
  }

  async shift(target: LambdaAliasTarget, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    const alias = this.#state(target);
    if (!alias) throw new TrafficStateError(`${aliasName(target)} no longer exists (deleted outside the rollout?): nothing changed`);
    const reading = readAlias(alias, target, baselineOf(target, options.definition));
    if (reading.canaryPercent === null) throw new TrafficStateError(`${reading.problems.join('; ')}: nothing changed`);
    if (reading.baselineVersion === null) throw new TrafficStateError(`${aliasName(target)}: the baseline version is unknown (give target.baselineVersion): nothing changed`);
    const routing = aliasRoutingFor(canaryPercent, reading.baselineVersion, target.canaryVersion);
    if (aliasMatchesChange(alias, aliasChangeId(routing))) return { changeId: aliasChangeId(routing) };
    if (options.expectedPercent !== undefined && Math.abs(reading.canaryPercent - options.expectedPercent) > 1e-6) {
      throw new TrafficStateError(`${aliasName(target)} gives the canary version ${target.canaryVersion} ${reading.canaryPercent} %, not the ${options.expectedPercent} % this rollout set (changed outside the rollout?): nothing changed`);
    }
    // UpdateAlias with the RevisionId read: nothing can interleave here, the check is kept for its message.
    if (this.#state(target)?.RevisionId !== alias.RevisionId) {
      throw new TrafficStateError(`${aliasName(target)} changed between the read and the update (revision ${alias.RevisionId} is no longer current): nothing changed`);
    }
    const versions = this.#fn(target).versions;
    if (!versions.has(routing.FunctionVersion) || Object.keys(routing.RoutingConfig.AdditionalVersionWeights).some((v) => !versions.has(v))) {
      throw new TrafficStateError(`${aliasName(target)} or one of its versions no longer exists: nothing changed`);
    }
    this.#update(target, routing.FunctionVersion, routing.RoutingConfig.AdditionalVersionWeights, canaryPercent);
    return { changeId: aliasChangeId(routing) };
  }

  async restore(target: LambdaAliasTarget, definition: RouterDefinition): Promise<{ changeId: string }> {
    const baseline = baselineOf(target, definition);
    if (baseline === undefined) throw new TrafficStateError(`cannot restore ${aliasName(target)}: neither the config nor preflight named the baseline version; point the alias at it by hand`);
    const fn = this.#functions.get(nameOf(target));
    if (!fn || !fn.versions.has(baseline)) throw new TrafficStateError(`cannot restore ${aliasName(target)}: the function or its baseline version ${baseline} no longer exists`);
    // UpdateAlias, or CreateAlias when the alias was deleted: the same routing either way.
    this.#update(target, baseline, {}, 0);
    return { changeId: aliasChangeId(aliasRoutingFor(0, baseline, target.canaryVersion)) };
  }

  async isInSync(target: LambdaAliasTarget, changeId: string): Promise<boolean> {
    const alias = this.#state(target);
    if (!alias) throw new TrafficStateError(`${aliasName(target)} no longer exists (deleted outside the rollout?)`);
    const matches = aliasMatchesChange(alias, changeId);
    if (matches === null) throw new TrafficStateError(`'${changeId}' is not a Lambda alias change id (lambda:<version>[+<version>@<weight>])`);
    if (matches) return true;
    throw new TrafficStateError(`${aliasName(target)} now routes to version ${alias.FunctionVersion}, not what this rollout set (${changeId}): changed outside the rollout?`);
  }

  #fn(target: LambdaAliasTarget): MemoryFunction {
    const fn = this.#functions.get(nameOf(target));
    if (!fn) throw new TrafficStateError(`function ${target.functionName} does not exist`);
    return fn;
  }

  #state(target: LambdaAliasTarget): AliasState | null {
    const a = this.#functions.get(nameOf(target))?.aliases.get(target.alias);
    return a ? { FunctionVersion: a.FunctionVersion, RevisionId: a.RevisionId, RoutingConfig: { AdditionalVersionWeights: { ...a.weights } } } : null;
  }

  #revision(): string {
    return `rev-${++this.#revisions}`;
  }

  #effectsOf(target: LambdaAliasTarget): Effect[] {
    const key = `${nameOf(target)}:${target.alias}`;
    let effects = this.#effects.get(key);
    if (!effects) this.#effects.set(key, effects = []);
    return effects;
  }

  #update(target: LambdaAliasTarget, functionVersion: string, weights: Record<string, number>, canaryPercent: number): void {
    this.#fn(target).aliases.set(target.alias, { FunctionVersion: functionVersion, weights: { ...weights }, RevisionId: this.#revision() });
    const now = this.#clock.now().getTime();
    recordEffect(this.#effectsOf(target), now + uniformInt(this.#rng, this.#delay[0], this.#delay[1]) * 1000, canaryPercent);
  }
}

function nameOf(target: LambdaAliasTarget): string {
  return target.functionName.slice(target.functionName.lastIndexOf(':') + 1);
}

function baselineOf(target: LambdaAliasTarget, definition: RouterDefinition | undefined): string | undefined {
  const d = (definition as { baselineVersion?: unknown } | undefined)?.baselineVersion;
  return target.baselineVersion ?? (typeof d === 'string' ? d : undefined);
}

// ---------------------------------------------------------------------------------------------
// AppConfig flag
// ---------------------------------------------------------------------------------------------

interface MemoryDeployment {
  number: number;
  profileId: string;
  version: number;
  startedAt: number;
  /** When it reaches every target (BAKING from then). */
  deployedAt: number;
  /** When it becomes COMPLETE. */
  completeAt: number;
  /** Set when stopped, or rolled back by AppConfig (an alarm). */
  rolledBackAt?: number;
  rollbackReason?: string;
  /** When the clients had fetched it (a poll interval after it was deployed). */
  fetchedAt: number;
}

export interface MemoryAppConfigOptions extends MemoryRouterOptions {
  /** Seconds a deployment takes to reach every target, drawn per deployment. Default [5, 30]. */
  deploySeconds?: [number, number];
  /** Bake time per deployment strategy id; AppConfig.AllAtOnce bakes 600 s; unknown ids 0. */
  bakeSeconds?: Record<string, number>;
}

/** AppConfig in memory: hosted feature flag profiles and deployments per environment. */
export class MemoryAppConfigRouter implements TrafficRouter<AppConfigFlagTarget> {
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #deploy: [number, number];
  readonly #bake: Record<string, number>;
  readonly #profiles = new Map<string, { versions: Map<number, string>; type: string }>();
  readonly #environments = new Map<string, MemoryDeployment[]>();

  constructor(options: MemoryAppConfigOptions) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#deploy = options.deploySeconds ?? [5, 30];
    this.#bake = { [DEFAULT_APPCONFIG_STRATEGY]: 600, ...options.bakeSeconds };
  }

  /** A feature flag profile holding the flag at `percent`, deployed (COMPLETE) to the environment an hour ago (other profiles' deployments kept). */
  putFlag(target: AppConfigFlagTarget, percent = 0, otherFlags: Record<string, boolean> = {}): void {
    const document = {
      version: '1',
      flags: {
        [target.flag]: { name: target.flag, attributes: { [target.attribute]: { constraints: { type: 'number', minimum: 0, maximum: 100 } } } },
        ...Object.fromEntries(Object.keys(otherFlags).map((f) => [f, { name: f }])),
      },
      values: { [target.flag]: { enabled: percent > 0, [target.attribute]: percent }, ...Object.fromEntries(Object.entries(otherFlags).map(([f, on]) => [f, { enabled: on }])) },
    };
    this.#profiles.set(profileKey(target), { versions: new Map([[1, JSON.stringify(document)]]), type: 'AWS.AppConfig.FeatureFlags' });
    const past = this.#clock.now().getTime() - 3_600_000;
    const deployments = this.#environments.get(envKey(target)) ?? [];
    const number = Math.max(0, ...deployments.map((d) => d.number)) + 1;
    deployments.push({ number, profileId: target.configurationProfileId, version: 1, startedAt: past, deployedAt: past, completeAt: past, fetchedAt: past });
    this.#environments.set(envKey(target), deployments);
  }

  /** Replaces the profile's content in a new hosted version, as someone outside the rollout would (not deployed). */
  createVersion(target: AppConfigFlagTarget, content: string): number {
    const versions = this.#profile(target).versions;
    const n = Math.max(0, ...versions.keys()) + 1;
    versions.set(n, content);
    return n;
  }

  /** Deploys a hosted version as someone outside the rollout would (same timing as the rollout's). */
  deploy(target: AppConfigFlagTarget, version: number): number {
    return this.#start(target, version);
  }

  /** Makes AppConfig roll a deployment back (an alarm during its bake). */
  rollBack(target: AppConfigFlagTarget, deploymentNumber: number, reason = 'CloudWatch alarm in ALARM state'): void {
    const d = this.#environments.get(envKey(target))?.find((x) => x.number === deploymentNumber);
    if (d && d.rolledBackAt === undefined) {
      d.rolledBackAt = this.#clock.now().getTime();
      d.rollbackReason = reason;
    }
  }

  /** The state of a deployment now. */
  deploymentState(target: AppConfigFlagTarget, deploymentNumber: number): string | null {
    const d = this.#environments.get(envKey(target))?.find((x) => x.number === deploymentNumber);
    return d ? stateOf(d, this.#clock.now().getTime()) : null;
  }

  /** The flag's percentage the clients have at `at` (the last deployment they had fetched by then, not rolled back). */
  canaryShareAt(target: AppConfigFlagTarget, at: Date = this.#clock.now()): number {
    const t = at.getTime();
    const fetched = (this.#environments.get(envKey(target)) ?? [])
      .filter((d) => d.profileId === target.configurationProfileId && d.fetchedAt <= t && !(d.rolledBackAt !== undefined && d.rolledBackAt <= t))
      .sort((a, b) => b.number - a.number)[0];
    const content = fetched ? this.#profiles.get(profileKey(target))?.versions.get(fetched.version) : undefined;
    return content ? readFlag(content, target).canaryPercent ?? 0 : 0;
  }

  async read(target: AppConfigFlagTarget): Promise<RouterReading> {
    const state = this.#state(target);
    const problems = [...state.problems];
    if (state.inProgress) problems.push(inProgressLine(target, state.inProgress, this.#clock.now().getTime()));
    let canaryPercent: number | null = null;
    let snapshot = flagSnapshot({}, target);
    if (state.problems.length === 0 && state.live) {
      const reading = readFlag(state.live.content, target);
      problems.push(...reading.problems);
      canaryPercent = reading.canaryPercent;
      if (reading.document) snapshot = flagSnapshot(reading.document, target);
      const latest = Math.max(...this.#profile(target).versions.keys());
      if (latest > state.live.version) problems.push(`hosted configuration version ${latest} of profile ${target.configurationProfileId} is newer than the deployed version ${state.live.version} and not deployed: deploy or delete it first (the rollout deploys only its own change)`);
    } else if (state.problems.length === 0) {
      problems.push(`configuration profile ${target.configurationProfileId} has never been deployed to environment ${target.environmentId}: deploy it once with ${target.flag} at 0 % (enabled: false)`);
    }
    return {
      canaryPercent: problems.length > 0 ? null : canaryPercent, problems, settleSeconds: target.clientPollSeconds,
      definition: {
        kind: 'appconfig-flag', applicationId: target.applicationId, environmentId: target.environmentId, configurationProfileId: target.configurationProfileId,
        flag: target.flag, attribute: target.attribute, deploymentStrategyId: target.deploymentStrategyId, contentType: 'application/json', snapshot,
      },
    };
  }

  async shift(target: AppConfigFlagTarget, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    const value = flagPercentage(canaryPercent);
    const state = this.#state(target);
    if (state.problems.length > 0) throw new TrafficStateError(`${state.problems.join('; ')}: nothing changed`);
    const live = state.live;
    if (!live) throw new TrafficStateError(`configuration profile ${target.configurationProfileId} is not deployed to environment ${target.environmentId} any more: nothing changed`);
    const reading = readFlag(live.content, target);
    if (reading.canaryPercent === null || !reading.document) throw new TrafficStateError(`${reading.problems.join('; ')}: nothing changed`);
    if (reading.canaryPercent === value) return { changeId: appConfigChangeId(live.number) };
    if (state.inProgress) throw new TrafficStateError(`${inProgressLine(target, state.inProgress, this.#clock.now().getTime())}: nothing changed`);
    if (options.expectedPercent !== undefined && Math.abs(reading.canaryPercent - options.expectedPercent) > 1e-6) {
      throw new TrafficStateError(`${flagName(target)} is at ${reading.canaryPercent} % in environment ${target.environmentId}, not the ${options.expectedPercent} % this rollout set (changed outside the rollout?): nothing changed`);
    }
    const content = JSON.stringify(flagDocumentWith(reading.document, target, value));
    const versions = this.#profile(target).versions;
    const latest = Math.max(...versions.keys());
    let version: number;
    if (latest > live.version) {
      // LatestVersionNumber set to the deployed version: a newer one is refused, unless it is our own retried change.
      if (versions.get(latest) !== content) throw new TrafficStateError(`hosted configuration version ${latest} of profile ${target.configurationProfileId} was created outside the rollout after the deployed version ${live.version} and is not deployed: nothing changed (deploy or delete it)`);
      version = latest;
    } else {
      version = this.createVersion(target, content);
    }
    return { changeId: appConfigChangeId(this.#start(target, version)) };
  }

  async restore(target: AppConfigFlagTarget, definition: RouterDefinition): Promise<{ changeId: string }> {
    const snapshot = (definition as { snapshot?: { definition: unknown; value: Record<string, unknown> } }).snapshot ?? flagSnapshot({}, target);
    const state = this.#state(target);
    const now = this.#clock.now().getTime();
    if (state.inProgress) {
      if (state.inProgress.profileId !== target.configurationProfileId) {
        // As the adapter: someone else's deployment is not stopped; the rollback is retried until it ends.
        throw new TransientAwsError('AppConfig', new Error(`${inProgressLine(target, state.inProgress, now)}; the rollback deploys ${target.flag} at 0 % once it ends`));
      }
      // StopDeployment with AllowRevert: ROLLED_BACK at once in this model.
      this.rollBack(target, state.inProgress.number, 'stopped by the rollback');
    }
    const after = this.#state(target);
    const base = after.live ? readFlag(after.live.content, target).document : null;
    if (!this.#profiles.has(profileKey(target))) throw new TrafficStateError(`configuration profile ${target.configurationProfileId} of application ${target.applicationId} does not exist`);
    const version = this.createVersion(target, JSON.stringify(flagRestoreDocument(base, target, snapshot)));
    return { changeId: appConfigChangeId(this.#start(target, version)) };
  }

  async isInSync(target: AppConfigFlagTarget, changeId: string): Promise<boolean> {
    const n = parseAppConfigChangeId(changeId);
    if (n === null) throw new TrafficStateError(`'${changeId}' is not an AppConfig change id (appconfig:deployment/<number>)`);
    const d = this.#environments.get(envKey(target))?.find((x) => x.number === n);
    if (!d) throw new TrafficStateError(`deployment ${n} does not exist on environment ${target.environmentId}`);
    const state = stateOf(d, this.#clock.now().getTime());
    if (state === 'COMPLETE') return true;
    if (state === 'ROLLED_BACK') {
      throw new TrafficStateError(`AppConfig rolled back deployment ${n} of ${flagName(target)} to environment ${target.environmentId} (state ROLLED_BACK): ${d.rollbackReason ?? 'rolled back'}; clients are back on the previous configuration, not the one this rollout deployed`);
    }
    return false;
  }

  #profile(target: AppConfigFlagTarget): { versions: Map<number, string>; type: string } {
    const p = this.#profiles.get(profileKey(target));
    if (!p) throw new TrafficStateError(`configuration profile ${target.configurationProfileId} of application ${target.applicationId} does not exist`);
    return p;
  }

  #state(target: AppConfigFlagTarget): { problems: string[]; inProgress: MemoryDeployment | null; live: (MemoryDeployment & { content: string }) | null } {
    const profile = this.#profiles.get(profileKey(target));
    if (!profile) return { problems: [`configuration profile ${target.configurationProfileId} of application ${target.applicationId} does not exist`], inProgress: null, live: null };
    const deployments = this.#environments.get(envKey(target));
    if (!deployments) return { problems: [`environment ${target.environmentId} of application ${target.applicationId} does not exist`], inProgress: null, live: null };
    const now = this.#clock.now().getTime();
    const newest = [...deployments].sort((a, b) => b.number - a.number);
    const inProgress = newest.find((d) => APPCONFIG_IN_PROGRESS.has(stateOf(d, now))) ?? null;
    const live = newest.find((d) => d.profileId === target.configurationProfileId && APPCONFIG_LIVE.has(stateOf(d, now)));
    const content = live ? profile.versions.get(live.version) : undefined;
    return { problems: [], inProgress, live: live && content !== undefined ? { ...live, content } : null };
  }

  #start(target: AppConfigFlagTarget, version: number): number {
    const deployments = this.#environments.get(envKey(target));
    if (!deployments) throw new TrafficStateError(`environment ${target.environmentId} of application ${target.applicationId} does not exist`);
    const now = this.#clock.now().getTime();
    if (deployments.some((d) => APPCONFIG_IN_PROGRESS.has(stateOf(d, now)))) {
      throw new TrafficStateError(`another deployment is in progress on environment ${target.environmentId}: hosted version ${version} was created but not deployed`);
    }
    const deployedAt = now + uniformInt(this.#rng, this.#deploy[0], this.#deploy[1]) * 1000;
    const number = Math.max(0, ...deployments.map((d) => d.number)) + 1;
    deployments.push({
      number, profileId: target.configurationProfileId, version, startedAt: now, deployedAt,
      completeAt: deployedAt + (this.#bake[target.deploymentStrategyId] ?? 0) * 1000,
      fetchedAt: deployedAt + uniformInt(this.#rng, 0, target.clientPollSeconds) * 1000,
    });
    return number;
  }
}

function stateOf(d: MemoryDeployment, now: number): string {
  if (d.rolledBackAt !== undefined && d.rolledBackAt <= now) return 'ROLLED_BACK';
  if (now < d.deployedAt) return 'DEPLOYING';
  if (now < d.completeAt) return 'BAKING';
  return 'COMPLETE';
}

function profileKey(target: AppConfigFlagTarget): string {
  return `${target.applicationId}/${target.configurationProfileId}`;
}

function envKey(target: AppConfigFlagTarget): string {
  return `${target.applicationId}/${target.environmentId}`;
}

function inProgressLine(target: AppConfigFlagTarget, d: MemoryDeployment, now: number): string {
  return `deployment ${d.number} (${d.profileId} version ${d.version}) is ${stateOf(d, now)} on environment ${target.environmentId}: wait for it to end or stop it (aws appconfig stop-deployment --application-id ${target.applicationId} --environment-id ${target.environmentId} --deployment-number ${d.number})`;
}
