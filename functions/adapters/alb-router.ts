/**
 * TrafficRouter on an Application Load Balancer: a listener rule (or the listener's default
 * action) forwards to the baseline and canary target groups by weight (0-999). A shift is one
 * ModifyRule / ModifyListener rewriting the forward action, effective within seconds; ALB has
 * no compare-and-set, so the expected share is checked on a read just before the write (a
 * change landing between the two is not detected: the lock keeps our own rollouts apart).
 */
import {
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  ModifyListenerCommand,
  ModifyRuleCommand,
  type Action,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { TrafficStateError } from '../core/errors.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from '../core/router.ts';
import {
  albActionsWith, albChangeId, albRestoreWeights, albSettleSeconds, albWhere, parseAlbChangeId, readAlbActions, shiftStickiness,
  type AlbAction, type AlbStickiness,
} from '../core/router-state.ts';
import { albWeights, type AlbTarget, type SplitWeights } from '../core/targets.ts';
import { callAws } from './aws-errors.ts';

const SERVICE = 'Elastic Load Balancing';

/** What preflight keeps of an ALB target: the actions as read, re-written by a restore. */
export interface AlbDefinition extends RouterDefinition {
  kind: 'alb';
  listenerArn: string;
  ruleArn: string | null;
  actions: AlbAction[];
  /** The two weights as read (null when the forward was unusable). */
  weights: SplitWeights | null;
}

/** ELBv2 error names: the query protocol's code, or the SDK's class name (code + Exception). */
function isElbError(err: unknown, code: string): boolean {
  const name = err !== null && typeof err === 'object' ? (err as { name?: unknown }).name : undefined;
  return name === code || name === `${code}Exception`;
}

const EQUAL = (a: SplitWeights, b: SplitWeights) => a.canary === b.canary && a.baseline === b.baseline;

export class AlbRouter implements TrafficRouter<AlbTarget> {
  readonly #client: ElasticLoadBalancingV2Client;

  constructor(client: ElasticLoadBalancingV2Client) {
    this.#client = client;
  }

  async read(target: AlbTarget): Promise<RouterReading> {
    const actions = await this.#actions(target);
    if (actions === null) {
      return { canaryPercent: null, problems: [`${albWhere(target)} does not exist`], settleSeconds: 0, definition: definitionOf(target, [], null) };
    }
    const reading = readAlbActions(actions, target);
    const problems = [...reading.problems, ...await this.#missingTargetGroups(target)];
    return {
      canaryPercent: problems.length > 0 ? null : reading.canaryPercent,
      problems,
      settleSeconds: albSettleSeconds(target, reading.stickiness),
      definition: definitionOf(target, actions, reading.weights),
    };
  }

  async shift(target: AlbTarget, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    const weights = albWeights(canaryPercent);
    const actions = await this.#actions(target);
    if (actions === null) throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?): nothing changed`);
    const reading = readAlbActions(actions, target);
    if (reading.canaryPercent === null) throw new TrafficStateError(`${reading.problems.join('; ')}: nothing changed`);
    // A retried shift whose first attempt went through finds the split it asked for: done.
    if (reading.weights && EQUAL(reading.weights, weights)) return { changeId: albChangeId(weights) };
    if (options.expectedPercent !== undefined && Math.abs(reading.canaryPercent - options.expectedPercent) > 1e-6) {
      throw new TrafficStateError(`${albWhere(target)} sends ${reading.canaryPercent} % to the canary, not the ${options.expectedPercent} % this rollout set (changed outside the rollout?): nothing changed`);
    }
    const next = albActionsWith(actions, reading.forwardIndex, target, weights, shiftStickiness(target, reading.stickiness));
    await this.#write(target, next, 'shift');
    return { changeId: albChangeId(weights) };
  }

  async restore(target: AlbTarget, definition: RouterDefinition): Promise<{ changeId: string }> {
    const def = asAlbDefinition(definition, target);
    // The actions preflight read, or (when it read no forward) what is there now: a restore
    // rewrites a forward action, and never turns a rule that does not forward into one that does.
    const hasForward = (actions: AlbAction[] | null) => actions !== null && actions.some((a) => a.Type === 'forward');
    let base = def.actions;
    if (!hasForward(base)) {
      const now = await this.#actions(target);
      if (now === null) throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?): the restore changed nothing; re-create the rule forwarding to the baseline target group by hand`);
      if (!hasForward(now)) throw new TrafficStateError(`${albWhere(target)} does not forward, and did not at preflight: there is no split to restore (nothing changed)`);
      base = now;
    }
    const forwardIndex = base.findIndex((a) => a.Type === 'forward');
    const weights = albRestoreWeights(def.weights);
    // Stickiness off: a client stuck to the canary would stay there whatever the weights.
    const off: AlbStickiness = { Enabled: false };
    try {
      await this.#write(target, albActionsWith(base, forwardIndex, target, weights, off), 'restore');
      return { changeId: albChangeId(weights) };
    } catch (err) {
      if (!isElbError(err, 'TargetGroupNotFound')) throw err;
    }
    // A target group is gone. Without the canary's, forward to the baseline alone.
    const missing = await this.#missingTargetGroups(target);
    if (missing.some((m) => m.includes(target.baselineTargetGroupArn))) {
      throw new TrafficStateError(`cannot restore ${albWhere(target)}: the baseline target group ${target.baselineTargetGroupArn} no longer exists; point the rule at a healthy target group by hand`);
    }
    const alone = { canary: 0, baseline: 1 };
    await this.#write(target, albActionsWith(base, forwardIndex, target, alone, off, { canaryGone: true }), 'restore');
    return { changeId: albChangeId(alone) };
  }

  async isInSync(target: AlbTarget, changeId: string): Promise<boolean> {
    const expected = parseAlbChangeId(changeId);
    if (!expected) throw new TrafficStateError(`'${changeId}' is not an ALB change id (alb:canary=<w>,baseline=<w>)`);
    const actions = await this.#actions(target);
    if (actions === null) throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?)`);
    const { weights } = readAlbActions(actions, target);
    if (weights && EQUAL(weights, expected)) return true;
    const now = weights ? `canary ${weights.canary} / baseline ${weights.baseline}` : 'no usable forward action';
    throw new TrafficStateError(`${albWhere(target)} now has ${now}, not the canary ${expected.canary} / baseline ${expected.baseline} this rollout set (changed outside the rollout?)`);
  }

  /** The rule's actions, or the listener's default actions; null when it does not exist. */
  async #actions(target: AlbTarget): Promise<AlbAction[] | null> {
    try {
      if (target.ruleArn) {
        const out = await callAws(SERVICE, () => this.#client.send(new DescribeRulesCommand({ RuleArns: [target.ruleArn!] })));
        const rule = out.Rules?.find((r) => r.RuleArn === target.ruleArn);
        return rule ? (rule.Actions ?? []) as AlbAction[] : null;
      }
      const out = await callAws(SERVICE, () => this.#client.send(new DescribeListenersCommand({ ListenerArns: [target.listenerArn] })));
      const listener = out.Listeners?.find((l) => l.ListenerArn === target.listenerArn);
      return listener ? (listener.DefaultActions ?? []) as AlbAction[] : null;
    } catch (err) {
      if (isElbError(err, 'RuleNotFound') || isElbError(err, 'ListenerNotFound')) return null;
      throw err;
    }
  }

  /** One line per target group of the target that does not exist (one call when both do). */
  async #missingTargetGroups(target: AlbTarget): Promise<string[]> {
    const groups = [['baseline', target.baselineTargetGroupArn], ['canary', target.canaryTargetGroupArn]] as const;
    const exists = async (arns: string[]): Promise<Set<string>> => {
      try {
        const out = await callAws(SERVICE, () => this.#client.send(new DescribeTargetGroupsCommand({ TargetGroupArns: arns })));
        return new Set((out.TargetGroups ?? []).map((tg) => tg.TargetGroupArn ?? ''));
      } catch (err) {
        if (isElbError(err, 'TargetGroupNotFound')) return new Set();
        throw err;
      }
    };
    const both = await exists(groups.map(([, arn]) => arn));
    if (groups.every(([, arn]) => both.has(arn))) return [];
    // The error does not say which one is missing: ask for each.
    const missing: string[] = [];
    for (const [variant, arn] of groups) {
      if (!(await exists([arn])).has(arn)) missing.push(`the ${variant} target group ${arn} does not exist`);
    }
    return missing;
  }

  async #write(target: AlbTarget, actions: AlbAction[], what: 'shift' | 'restore'): Promise<void> {
    try {
      if (target.ruleArn) {
        await callAws(SERVICE, () => this.#client.send(new ModifyRuleCommand({ RuleArn: target.ruleArn!, Actions: actions as Action[] })));
      } else {
        await callAws(SERVICE, () => this.#client.send(new ModifyListenerCommand({ ListenerArn: target.listenerArn, DefaultActions: actions as Action[] })));
      }
    } catch (err) {
      if (isElbError(err, 'RuleNotFound') || isElbError(err, 'ListenerNotFound')) {
        throw new TrafficStateError(`${albWhere(target)} no longer exists (deleted outside the rollout?): the ${what} changed nothing${what === 'restore' ? '; re-create the rule forwarding to the baseline target group by hand' : ''}`);
      }
      if (isElbError(err, 'TargetGroupNotFound') && what === 'shift') {
        throw new TrafficStateError(`${albWhere(target)} cannot forward to a target group that no longer exists (${(err as Error).message}): nothing changed`);
      }
      throw err;
    }
  }
}

function definitionOf(target: AlbTarget, actions: AlbAction[], weights: SplitWeights | null): AlbDefinition {
  return { kind: 'alb', listenerArn: target.listenerArn, ruleArn: target.ruleArn ?? null, actions: structuredClone(actions), weights };
}

function asAlbDefinition(definition: RouterDefinition, target: AlbTarget): AlbDefinition {
  const d = definition as Partial<AlbDefinition>;
  return {
    kind: 'alb', listenerArn: target.listenerArn, ruleArn: target.ruleArn ?? null,
    actions: Array.isArray(d.actions) ? d.actions : [],
    weights: d.weights && typeof d.weights.canary === 'number' && typeof d.weights.baseline === 'number' ? d.weights : null,
  };
}
