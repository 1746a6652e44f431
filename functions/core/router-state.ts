/**
 * What a router's state means, as pure functions over the shapes the AWS APIs return (an ALB
 * rule's actions, a Lambda alias, a feature flag document). The AWS adapters and the
 * simulator's in-memory routers both read and write through these, so that both agree on what
 * "canary at 5 %" is and on what is wrong with a setup. No AWS imports: the shapes are the
 * structural subset the code reads.
 */
import {
  albWeights, lambdaRouting, percentOfLambdaWeight, percentOfWeights,
  type AlbTarget, type AppConfigFlagTarget, type LambdaAliasTarget, type SplitWeights,
} from './targets.ts';

const fmt = (percent: number) => `${Number(percent.toFixed(4))} %`;

// ---------------------------------------------------------------------------------------------
// ALB: the forward action of a listener rule (or of a listener's default action)
// ---------------------------------------------------------------------------------------------

export interface AlbTargetGroupTuple {
  TargetGroupArn?: string;
  Weight?: number;
}

export interface AlbStickiness {
  Enabled?: boolean;
  DurationSeconds?: number;
}

export interface AlbAction {
  Type?: string;
  Order?: number;
  TargetGroupArn?: string;
  ForwardConfig?: { TargetGroups?: AlbTargetGroupTuple[]; TargetGroupStickinessConfig?: AlbStickiness };
  AuthenticateOidcConfig?: { ClientSecret?: string; UseExistingClientSecret?: boolean };
}

export interface AlbReading {
  canaryPercent: number | null;
  problems: string[];
  /** The weights of the two target groups (a target group absent from the forward has weight 0); null without a forward. */
  weights: SplitWeights | null;
  /** Index of the forward action in the action list; -1 without one. */
  forwardIndex: number;
  stickiness: AlbStickiness | undefined;
}

/** The rule's or the default action's name in messages. */
export function albWhere(target: Pick<AlbTarget, 'ruleArn' | 'listenerArn'>): string {
  return target.ruleArn ? `rule ${target.ruleArn}` : `the default action of listener ${target.listenerArn}`;
}

function tuplesOf(action: AlbAction): AlbTargetGroupTuple[] {
  const tuples = action.ForwardConfig?.TargetGroups ?? [];
  if (tuples.length > 0) return tuples;
  return action.TargetGroupArn ? [{ TargetGroupArn: action.TargetGroupArn, Weight: 1 }] : [];
}

/**
 * Reads the split of an ALB rule's actions. Usable when exactly one forward action forwards to
 * exactly the baseline and canary target groups, with at least one weight above 0.
 */
export function readAlbActions(actions: readonly AlbAction[], target: AlbTarget): AlbReading {
  const where = albWhere(target);
  const forwards = actions.map((a, i) => [a, i] as const).filter(([a]) => a.Type === 'forward');
  const none: AlbReading = { canaryPercent: null, problems: [], weights: null, forwardIndex: -1, stickiness: undefined };
  if (forwards.length !== 1) {
    const types = actions.map((a) => a.Type ?? '?').join(', ') || 'none';
    none.problems.push(forwards.length === 0
      ? `${where} does not forward (its actions: ${types}): make it forward to ${target.baselineTargetGroupArn} (weight 1) and ${target.canaryTargetGroupArn} (weight 0)`
      : `${where} has ${forwards.length} forward actions: keep one, forwarding to the baseline and canary target groups`);
    return none;
  }
  const [forward, forwardIndex] = forwards[0]!;
  const tuples = tuplesOf(forward);
  const stickiness = forward.ForwardConfig?.TargetGroupStickinessConfig;
  const weightOf = (arn: string) => {
    const t = tuples.find((x) => x.TargetGroupArn === arn);
    return t ? t.Weight ?? 1 : undefined;
  };
  const problems: string[] = [];
  const others = tuples.map((t) => t.TargetGroupArn ?? '?').filter((arn) => arn !== target.baselineTargetGroupArn && arn !== target.canaryTargetGroupArn);
  if (others.length > 0) {
    problems.push(`${where} also forwards to ${others.join(', ')}: it must forward to exactly the baseline ${target.baselineTargetGroupArn} and the canary ${target.canaryTargetGroupArn}`);
  }
  const baseline = weightOf(target.baselineTargetGroupArn);
  const canary = weightOf(target.canaryTargetGroupArn);
  if (baseline === undefined) problems.push(`${where} does not forward to the baseline target group ${target.baselineTargetGroupArn}: add it to the forward action`);
  if (canary === undefined) {
    problems.push(`${where} does not forward to the canary target group ${target.canaryTargetGroupArn}: add it to the forward action with weight 0 (aws elbv2 ${target.ruleArn ? 'modify-rule' : 'modify-listener'} with a ForwardConfig listing both target groups)`);
  }
  const weights = { baseline: baseline ?? 0, canary: canary ?? 0 };
  const canaryPercent = percentOfWeights(weights);
  if (canaryPercent === null && baseline !== undefined && canary !== undefined) {
    problems.push(`${where} gives both target groups weight 0: give the baseline a weight above 0`);
  }
  return { canaryPercent: problems.length > 0 ? null : canaryPercent, problems, weights, forwardIndex, stickiness };
}

/**
 * The actions with the forward action replaced by one forwarding to the baseline and canary at
 * `weights` (the canary left out when `canaryGone`). Every other action is kept as it is; an
 * OIDC authentication action is re-sent with UseExistingClientSecret, since a describe call
 * never returns the client secret.
 */
export function albActionsWith(
  actions: readonly AlbAction[], forwardIndex: number, target: AlbTarget, weights: SplitWeights,
  stickiness: AlbStickiness | undefined, options: { canaryGone?: boolean } = {},
): AlbAction[] {
  const groups: AlbTargetGroupTuple[] = [{ TargetGroupArn: target.baselineTargetGroupArn, Weight: weights.baseline }];
  if (!options.canaryGone) groups.push({ TargetGroupArn: target.canaryTargetGroupArn, Weight: weights.canary });
  const forward: AlbAction = {
    Type: 'forward',
    ...(actions[forwardIndex]?.Order !== undefined ? { Order: actions[forwardIndex]!.Order } : {}),
    ForwardConfig: { TargetGroups: groups, ...(stickiness ? { TargetGroupStickinessConfig: stickiness } : {}) },
  };
  const out = actions.map((a): AlbAction => {
    const copy = structuredClone(a);
    if (copy.Type === 'authenticate-oidc' && copy.AuthenticateOidcConfig && copy.AuthenticateOidcConfig.ClientSecret === undefined) {
      copy.AuthenticateOidcConfig.UseExistingClientSecret = true;
    }
    return copy;
  });
  if (forwardIndex >= 0 && forwardIndex < out.length) out[forwardIndex] = forward;
  else out.push(forward);
  return out;
}

/** The stickiness a shift writes: the target's, else what the rule had. */
export function shiftStickiness(target: AlbTarget, current: AlbStickiness | undefined): AlbStickiness | undefined {
  return target.stickinessSeconds !== undefined ? { Enabled: true, DurationSeconds: target.stickinessSeconds } : current;
}

/**
 * How long clients may keep the previous split once ALB has it: stickiness keeps a client on
 * its target group for its whole duration, whatever the weights.
 */
export function albSettleSeconds(target: AlbTarget, stickiness: AlbStickiness | undefined): number {
  const read = stickiness?.Enabled ? stickiness.DurationSeconds ?? 0 : 0;
  return Math.max(read, target.stickinessSeconds ?? 0);
}

/** The weights a restore writes: the definition's own when its canary was at 0 (back as it was), else 0 / 100. */
export function albRestoreWeights(definitionWeights: SplitWeights | null): SplitWeights {
  return definitionWeights && definitionWeights.canary === 0 && definitionWeights.baseline > 0 ? definitionWeights : albWeights(0);
}

const ALB_CHANGE = /^alb:canary=(\d+),baseline=(\d+)$/;

/** An ALB change id says which weights the change set: in sync once a describe call shows them. */
export function albChangeId(weights: SplitWeights): string {
  return `alb:canary=${weights.canary},baseline=${weights.baseline}`;
}

export function parseAlbChangeId(changeId: string): SplitWeights | null {
  const m = ALB_CHANGE.exec(changeId);
  return m ? { canary: Number(m[1]), baseline: Number(m[2]) } : null;
}

// ---------------------------------------------------------------------------------------------
// Lambda alias
// ---------------------------------------------------------------------------------------------

export interface AliasState {
  FunctionVersion?: string;
  RoutingConfig?: { AdditionalVersionWeights?: Record<string, number> };
  RevisionId?: string;
}

export interface AliasReading {
  canaryPercent: number | null;
  /** The baseline version: as given, else as the alias shows it; null when the alias cannot tell (it points at the canary alone). */
  baselineVersion: string | null;
  problems: string[];
}

export function aliasName(target: Pick<LambdaAliasTarget, 'functionName' | 'alias'>): string {
  return `alias ${target.alias} of ${target.functionName}`;
}

/**
 * Reads the split of an alias: it may route only between the baseline and the canary version.
 * `baselineVersion` is the known baseline (the target's, or the one preflight read).
 */
export function readAlias(alias: AliasState, target: LambdaAliasTarget, baselineVersion?: string): AliasReading {
  const name = aliasName(target);
  const primary = alias.FunctionVersion ?? '';
  const extra = Object.entries(alias.RoutingConfig?.AdditionalVersionWeights ?? {});
  const canary = target.canaryVersion;
  const known = baselineVersion ?? target.baselineVersion;
  const fail = (problem: string): AliasReading => ({ canaryPercent: null, baselineVersion: known ?? null, problems: [problem] });
  if (extra.length > 1) return fail(`${name} routes to ${extra.length} additional versions: it must route between baseline and canary only`);
  if (primary === canary) {
    if (extra.length === 0) return { canaryPercent: 100, baselineVersion: known ?? null, problems: [] };
    const [other, weight] = extra[0]!;
    if (known !== undefined && other !== known) return fail(`${name} gives ${fmt(percentOfLambdaWeight(weight))} to version ${other}, neither the baseline ${known} nor the canary ${canary}`);
    return { canaryPercent: percentOfLambdaWeight(1 - weight), baselineVersion: other, problems: [] };
  }
  if (known !== undefined && primary !== known) {
    return fail(`${name} points at version ${primary}, not the baseline version ${known}${extra.length ? '' : ' (nor the canary)'}: point it back at ${known} or fix baselineVersion`);
  }
  if (extra.length === 0) return { canaryPercent: 0, baselineVersion: primary, problems: [] };
  const [other, weight] = extra[0]!;
  if (other !== canary) return fail(`${name} gives ${fmt(percentOfLambdaWeight(weight))} to version ${other}, not the canary version ${canary}: remove that routing first`);
  return { canaryPercent: percentOfLambdaWeight(weight), baselineVersion: primary, problems: [] };
}

/** The UpdateAlias fields for `percent` (see `lambdaRouting`). */
export function aliasRoutingFor(percent: number, baselineVersion: string, canaryVersion: string): {
  FunctionVersion: string;
  RoutingConfig: { AdditionalVersionWeights: Record<string, number> };
} {
  const r = lambdaRouting(percent, { baselineVersion, canaryVersion });
  return { FunctionVersion: r.functionVersion, RoutingConfig: { AdditionalVersionWeights: r.additionalVersionWeights } };
}

/** A Lambda change id says which routing the change set: `lambda:<version>` or `lambda:<version>+<extra>@<weight>`. */
export function aliasChangeId(routing: { FunctionVersion: string; RoutingConfig: { AdditionalVersionWeights: Record<string, number> } }): string {
  const extra = Object.entries(routing.RoutingConfig.AdditionalVersionWeights).map(([v, w]) => `+${v}@${w}`).join('');
  return `lambda:${routing.FunctionVersion}${extra}`;
}

/** True when the alias holds the routing a change id names. */
export function aliasMatchesChange(alias: AliasState, changeId: string): boolean | null {
  const m = /^lambda:(\d+)((?:\+\d+@[0-9.e-]+)?)$/.exec(changeId);
  if (!m) return null;
  const extra = Object.entries(alias.RoutingConfig?.AdditionalVersionWeights ?? {});
  const expected = m[2] ? [[m[2].slice(1).split('@')[0]!, Number(m[2].split('@')[1])] as const] : [];
  return alias.FunctionVersion === m[1] && extra.length === expected.length
    && expected.every(([v, w]) => extra.some(([ev, ew]) => ev === v && Math.abs(ew - w) < 1e-9));
}

// ---------------------------------------------------------------------------------------------
// AppConfig feature flag document (AWS.AppConfig.FeatureFlags)
// ---------------------------------------------------------------------------------------------

export interface FlagDocument {
  version?: string;
  flags?: Record<string, { name?: string; attributes?: Record<string, { constraints?: { type?: string; minimum?: number; maximum?: number } }> } & Record<string, unknown>>;
  values?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

export interface FlagReading {
  canaryPercent: number | null;
  problems: string[];
  document: FlagDocument | null;
}

export function flagName(target: Pick<AppConfigFlagTarget, 'flag' | 'configurationProfileId'>): string {
  return `flag ${target.flag} of configuration profile ${target.configurationProfileId}`;
}

/** Parses a feature flag document and reads the flag's percentage (0 when it is disabled). */
export function readFlag(content: string, target: AppConfigFlagTarget): FlagReading {
  const name = flagName(target);
  let document: FlagDocument;
  try {
    const parsed: unknown = JSON.parse(content);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    document = parsed as FlagDocument;
  } catch {
    return { canaryPercent: null, problems: [`configuration profile ${target.configurationProfileId} does not hold a feature flag JSON document`], document: null };
  }
  const problems: string[] = [];
  const definition = document.flags?.[target.flag];
  if (!definition) {
    const known = Object.keys(document.flags ?? {});
    problems.push(`${name} does not exist (flags: ${known.join(', ') || 'none'}): create it with a numeric attribute ${target.attribute}`);
    return { canaryPercent: null, problems, document };
  }
  const attribute = definition.attributes?.[target.attribute];
  if (!attribute) {
    problems.push(`${name} has no attribute ${target.attribute}: declare it with constraints { "type": "number", "minimum": 0, "maximum": 100 }`);
  } else {
    const c = attribute.constraints ?? {};
    if (c.type !== undefined && c.type !== 'number') problems.push(`attribute ${target.attribute} of ${name} is of type ${c.type}: it must be a number (the canary's percentage)`);
    if ((c.minimum !== undefined && c.minimum > 0) || (c.maximum !== undefined && c.maximum < 100)) {
      problems.push(`attribute ${target.attribute} of ${name} is constrained to ${c.minimum ?? '-∞'}..${c.maximum ?? '∞'}: it must admit 0 and 100`);
    }
  }
  const value = document.values?.[target.flag];
  if (!value) {
    problems.push(`${name} has no value: set it to { "enabled": false, "${target.attribute}": 0 }`);
    return { canaryPercent: null, problems, document };
  }
  if ('_variants' in value) problems.push(`${name} is a multi-variant flag: the rollout moves a numeric attribute, use a flag with ${target.attribute}`);
  const raw = value[target.attribute];
  const enabled = value.enabled !== false;
  let canaryPercent: number | null = null;
  if (!enabled) canaryPercent = 0;
  else if (typeof raw === 'number' && raw >= 0 && raw <= 100) canaryPercent = raw;
  else problems.push(`${name} is enabled with ${target.attribute} = ${JSON.stringify(raw ?? null)}: it must be a number in 0..100`);
  return { canaryPercent: problems.length > 0 ? null : canaryPercent, problems, document };
}

/** The document with the flag at `percent` (enabled above 0) and everything else unchanged. */
export function flagDocumentWith(document: FlagDocument, target: AppConfigFlagTarget, percent: number): FlagDocument {
  const copy = structuredClone(document);
  copy.values ??= {};
  copy.values[target.flag] = { ...(copy.values[target.flag] ?? {}), enabled: percent > 0, [target.attribute]: percent };
  return copy;
}

/** The flag's definition and value at 0 %, kept by preflight so that a restore can re-create a deleted flag. */
export function flagSnapshot(document: FlagDocument, target: AppConfigFlagTarget): { definition: unknown; value: Record<string, unknown> } {
  return {
    definition: structuredClone(document.flags?.[target.flag] ?? { name: target.flag, attributes: { [target.attribute]: { constraints: { type: 'number', minimum: 0, maximum: 100 } } } }),
    value: { ...(structuredClone(document.values?.[target.flag]) ?? {}), enabled: false, [target.attribute]: 0 },
  };
}

/**
 * The document a restore deploys: `base` (what is deployed, when it could be read) with the flag
 * re-created from the snapshot if it is missing, at 0 % and disabled.
 */
export function flagRestoreDocument(base: FlagDocument | null, target: AppConfigFlagTarget, snapshot: { definition: unknown; value: Record<string, unknown> }): FlagDocument {
  const doc: FlagDocument = base ? structuredClone(base) : { version: '1', flags: {}, values: {} };
  doc.flags ??= {};
  doc.values ??= {};
  if (!doc.flags[target.flag]) doc.flags[target.flag] = structuredClone(snapshot.definition) as NonNullable<FlagDocument['flags']>[string];
  const attrs = (doc.flags[target.flag]!.attributes ??= {});
  attrs[target.attribute] ??= { constraints: { type: 'number', minimum: 0, maximum: 100 } };
  doc.values[target.flag] = { ...(doc.values[target.flag] ?? snapshot.value), enabled: false, [target.attribute]: 0 };
  return doc;
}

/** AppConfig deployment states that hold the environment (a new deployment is refused meanwhile). */
export const APPCONFIG_IN_PROGRESS = new Set(['DEPLOYING', 'BAKING', 'VALIDATING', 'ROLLING_BACK']);
/** States of a deployment whose configuration clients get (or are getting). */
export const APPCONFIG_LIVE = new Set(['COMPLETE', 'BAKING', 'DEPLOYING', 'VALIDATING']);

export function appConfigChangeId(deploymentNumber: number): string {
  return `appconfig:deployment/${deploymentNumber}`;
}

export function parseAppConfigChangeId(changeId: string): number | null {
  const m = /^appconfig:deployment\/(\d+)$/.exec(changeId);
  return m ? Number(m[1]) : null;
}
