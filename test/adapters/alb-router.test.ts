import {
  DescribeListenersCommand,
  DescribeRulesCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyRuleCommand,
  RuleNotFoundException,
  TargetGroupNotFoundException,
  type Action,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AlbRouter, type AlbDefinition } from '../../functions/adapters/alb-router.ts';
import { ThrottledError, TrafficStateError, TransientAwsError } from '../../functions/core/errors.ts';
import type { AlbTarget } from '../../functions/core/targets.ts';

const elbMock = mockClient(ElasticLoadBalancingV2Client);

const LISTENER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2';
const RULE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee';
const BLUE = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/blue/73e2d6bc24d8a067';
const GREEN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/green/09f1f3fd0b7a5c10';
const OTHER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/other/1111111111111111';

const target: AlbTarget = { type: 'alb', listenerArn: LISTENER, ruleArn: RULE, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN };
const defaultTarget: AlbTarget = { type: 'alb', listenerArn: LISTENER, baselineTargetGroupArn: BLUE, canaryTargetGroupArn: GREEN };

const forward = (blue: number, green: number, stickiness = { Enabled: false }): Action => ({
  Type: 'forward', Order: 2,
  ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: blue }, { TargetGroupArn: GREEN, Weight: green }], TargetGroupStickinessConfig: stickiness },
});
const oidc: Action = {
  Type: 'authenticate-oidc', Order: 1,
  AuthenticateOidcConfig: { Issuer: 'https://idp.example.com', AuthorizationEndpoint: 'https://idp.example.com/auth', TokenEndpoint: 'https://idp.example.com/token', UserInfoEndpoint: 'https://idp.example.com/userinfo', ClientId: 'shop' },
};
const rule = (actions: Action[]) => ({ Rules: [{ RuleArn: RULE, Priority: '10', IsDefault: false, Actions: actions, Conditions: [] }] });
const bothGroups = { TargetGroups: [{ TargetGroupArn: BLUE }, { TargetGroupArn: GREEN }] };
const router = () => new AlbRouter(new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }));
const sdkError = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
  Object.assign(new Error(`${name} happened`), { name, $fault: fault, $metadata: { httpStatusCode: status } });

describe('AlbRouter', () => {
  beforeEach(() => {
    elbMock.reset();
  });

  describe('read', () => {
    it('reads the split of a rule forwarding to the two target groups, and checks both exist', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([oidc, forward(95, 5)]));
      elbMock.on(DescribeTargetGroupsCommand).resolves(bothGroups);

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading).toMatchObject({ canaryPercent: 5, problems: [], settleSeconds: 0 });
      expect(reading.definition).toEqual({
        kind: 'alb', listenerArn: LISTENER, ruleArn: RULE, actions: [oidc, forward(95, 5)], weights: { canary: 5, baseline: 95 },
      } satisfies AlbDefinition);
      expect(elbMock.commandCalls(DescribeRulesCommand)[0]!.args[0].input).toEqual({ RuleArns: [RULE] });
      expect(elbMock.commandCalls(DescribeTargetGroupsCommand).map((c) => c.args[0].input)).toEqual([{ TargetGroupArns: [BLUE, GREEN] }]);
    });

    it("reads the listener's default action when no rule is given", async () => {
      // Prepare
      elbMock.on(DescribeListenersCommand).resolves({ Listeners: [{ ListenerArn: LISTENER, DefaultActions: [forward(1, 0)] }] });
      elbMock.on(DescribeTargetGroupsCommand).resolves(bothGroups);

      // Act
      const reading = await router().read(defaultTarget);

      // Assess
      expect(reading.canaryPercent).toBe(0);
      expect(elbMock.commandCalls(DescribeListenersCommand)[0]!.args[0].input).toEqual({ ListenerArns: [LISTENER] });
      expect(elbMock.commandCalls(DescribeRulesCommand)).toHaveLength(0);
    });

    it.each([
      ['forwards to the baseline alone', [{ Type: 'forward', TargetGroupArn: BLUE }], /does not forward to the canary target group .*green.* weight 0/],
      ['forwards to a third target group', [{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 1 }, { TargetGroupArn: GREEN, Weight: 0 }, { TargetGroupArn: OTHER, Weight: 1 }] } }], /also forwards to .*other/],
      ['answers with a fixed response', [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }], /does not forward \(its actions: fixed-response\)/],
      ['gives both target groups weight 0', [forward(0, 0)], /both target groups weight 0/],
    ] as [string, Action[], RegExp][])('reports a rule that %s as a problem, with no percent', async (_label, actions, problem) => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule(actions));
      elbMock.on(DescribeTargetGroupsCommand).resolves(bothGroups);

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems.join('\n')).toMatch(problem);
    });

    it('names the target group that was deleted', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(1, 0)]));
      const notFound = new TargetGroupNotFoundException({ message: 'One or more target groups not found', $metadata: {} });
      elbMock.on(DescribeTargetGroupsCommand, { TargetGroupArns: [BLUE, GREEN] }).rejects(notFound)
        .on(DescribeTargetGroupsCommand, { TargetGroupArns: [BLUE] }).resolves({ TargetGroups: [{ TargetGroupArn: BLUE }] })
        .on(DescribeTargetGroupsCommand, { TargetGroupArns: [GREEN] }).rejects(notFound);

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems).toEqual([`the canary target group ${GREEN} does not exist`]);
    });

    it('reports a deleted rule as a problem', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).rejects(new RuleNotFoundException({ message: 'The specified rule does not exist.', $metadata: {} }));
      elbMock.on(DescribeTargetGroupsCommand).resolves(bothGroups);

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading).toMatchObject({ canaryPercent: null, problems: [`rule ${RULE} does not exist`] });
    });

    it('gives the stickiness duration as the time clients may keep the previous split', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(90, 10, { Enabled: true, DurationSeconds: 300 } as never)]));
      elbMock.on(DescribeTargetGroupsCommand).resolves(bothGroups);

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.settleSeconds).toBe(300);
    });

    it('maps throttling to Throttled', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).rejects(sdkError('Throttling', 400));

      // Act
      const result = router().read(target);

      // Assess
      await expect(result).rejects.toBeInstanceOf(ThrottledError);
    });
  });

  describe('shift', () => {
    it('rewrites the forward action in one ModifyRule, keeping the other actions and the OIDC secret', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([oidc, forward(100, 0)]));
      elbMock.on(ModifyRuleCommand).resolves({});

      // Act
      const result = await router().shift(target, 5, { expectedPercent: 0, definition: {} });

      // Assess
      expect(result).toEqual({ changeId: 'alb:canary=5,baseline=95' });
      const calls = elbMock.commandCalls(ModifyRuleCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input).toEqual({
        RuleArn: RULE,
        Actions: [
          { ...oidc, AuthenticateOidcConfig: { ...oidc.AuthenticateOidcConfig, UseExistingClientSecret: true } },
          { Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 95 }, { TargetGroupArn: GREEN, Weight: 5 }], TargetGroupStickinessConfig: { Enabled: false } } },
        ],
      });
    });

    it("rewrites the listener's default action with ModifyListener, with the target's stickiness", async () => {
      // Prepare
      elbMock.on(DescribeListenersCommand).resolves({ Listeners: [{ ListenerArn: LISTENER, DefaultActions: [forward(1, 0)] }] });
      elbMock.on(ModifyListenerCommand).resolves({});

      // Act
      await router().shift({ ...defaultTarget, stickinessSeconds: 120 }, 12.5, { expectedPercent: 0, definition: {} });

      // Assess
      expect(elbMock.commandCalls(ModifyListenerCommand)[0]!.args[0].input).toEqual({
        ListenerArn: LISTENER,
        DefaultActions: [{
          Type: 'forward', Order: 2,
          ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 875 }, { TargetGroupArn: GREEN, Weight: 125 }], TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 120 } },
        }],
      });
      expect(elbMock.commandCalls(ModifyRuleCommand)).toHaveLength(0);
    });

    it('moves everything to the canary at 100', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(75, 25)]));
      elbMock.on(ModifyRuleCommand).resolves({});

      // Act
      const result = await router().shift(target, 100, { expectedPercent: 25, definition: {} });

      // Assess
      expect(result.changeId).toBe('alb:canary=100,baseline=0');
      expect(elbMock.commandCalls(ModifyRuleCommand)[0]!.args[0].input.Actions![0]!.ForwardConfig!.TargetGroups)
        .toEqual([{ TargetGroupArn: BLUE, Weight: 0 }, { TargetGroupArn: GREEN, Weight: 100 }]);
    });

    it('refuses, changing nothing, when the rule is not at the expected share (compare-and-set)', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(50, 50)]));

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow(`rule ${RULE} sends 50 % to the canary, not the 5 % this rollout set (changed outside the rollout?): nothing changed`);
      expect(elbMock.commandCalls(ModifyRuleCommand)).toHaveLength(0);
    });

    it('succeeds without a call when a retried shift finds the split it asked for', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(90, 10)]));

      // Act
      const result = await router().shift(target, 10, { expectedPercent: 5, definition: {} });

      // Assess
      expect(result.changeId).toBe('alb:canary=10,baseline=90');
      expect(elbMock.commandCalls(ModifyRuleCommand)).toHaveLength(0);
    });

    it('refuses a rule that no longer forwards to both target groups', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([{ Type: 'forward', TargetGroupArn: OTHER }]));

      // Act
      const result = router().shift(target, 10, { definition: {} });

      // Assess
      await expect(result).rejects.toThrow(/also forwards to .*other.*: nothing changed/);
      expect(elbMock.commandCalls(ModifyRuleCommand)).toHaveLength(0);
    });

    it('turns a deleted target group on ModifyRule into TrafficStateError', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(95, 5)]));
      elbMock.on(ModifyRuleCommand).rejects(new TargetGroupNotFoundException({ message: `Target group '${GREEN}' not found`, $metadata: {} }));

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow(/cannot forward to a target group that no longer exists/);
    });

    it('maps a 5xx on ModifyRule to TransientAwsError', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(95, 5)]));
      elbMock.on(ModifyRuleCommand).rejects(sdkError('InternalFailure', 500, 'server'));

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition: {} });

      // Assess
      await expect(result).rejects.toBeInstanceOf(TransientAwsError);
    });

    it('refuses a percent ALB cannot express exactly', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(95, 5)]));

      // Act
      const result = router().shift(target, 0.05, { definition: {} });

      // Assess
      await expect(result).rejects.toThrow(RangeError);
      expect(elbMock.commandCalls(DescribeRulesCommand)).toHaveLength(0);
    });
  });

  describe('restore', () => {
    const definition: AlbDefinition = {
      kind: 'alb', listenerArn: LISTENER, ruleArn: RULE, actions: [oidc, forward(1, 0, { Enabled: true, DurationSeconds: 60 } as never)], weights: { canary: 0, baseline: 1 },
    };

    it("writes the preflight actions back at canary 0, stickiness off, whatever the rule holds now", async () => {
      // Prepare
      elbMock.on(ModifyRuleCommand).resolves({});

      // Act
      const result = await router().restore(target, definition);

      // Assess
      expect(result).toEqual({ changeId: 'alb:canary=0,baseline=1' });
      expect(elbMock.commandCalls(DescribeRulesCommand)).toHaveLength(0);
      expect(elbMock.commandCalls(ModifyRuleCommand)[0]!.args[0].input).toEqual({
        RuleArn: RULE,
        Actions: [
          { ...oidc, AuthenticateOidcConfig: { ...oidc.AuthenticateOidcConfig, UseExistingClientSecret: true } },
          { Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 1 }, { TargetGroupArn: GREEN, Weight: 0 }], TargetGroupStickinessConfig: { Enabled: false } } },
        ],
      });
    });

    it('forwards to the baseline alone when the canary target group was deleted', async () => {
      // Prepare
      elbMock.on(ModifyRuleCommand)
        .rejectsOnce(new TargetGroupNotFoundException({ message: `Target group '${GREEN}' not found`, $metadata: {} }))
        .resolves({});
      elbMock.on(DescribeTargetGroupsCommand, { TargetGroupArns: [BLUE, GREEN] }).rejects(new TargetGroupNotFoundException({ message: 'not found', $metadata: {} }))
        .on(DescribeTargetGroupsCommand, { TargetGroupArns: [BLUE] }).resolves({ TargetGroups: [{ TargetGroupArn: BLUE }] })
        .on(DescribeTargetGroupsCommand, { TargetGroupArns: [GREEN] }).resolves({ TargetGroups: [] });

      // Act
      const result = await router().restore(target, definition);

      // Assess
      expect(result.changeId).toBe('alb:canary=0,baseline=1');
      const calls = elbMock.commandCalls(ModifyRuleCommand);
      expect(calls).toHaveLength(2);
      expect(calls[1]!.args[0].input.Actions![1]).toEqual({
        Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 1 }], TargetGroupStickinessConfig: { Enabled: false } },
      });
    });

    it('says clearly that a deleted rule cannot be restored', async () => {
      // Prepare
      elbMock.on(ModifyRuleCommand).rejects(new RuleNotFoundException({ message: 'The specified rule does not exist.', $metadata: {} }));

      // Act
      const result = router().restore(target, definition);

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow(/no longer exists .* re-create the rule forwarding to the baseline target group by hand/);
    });

    it('never turns a rule that does not forward into one that does', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }]));

      // Act
      const result = router().restore(target, { kind: 'alb', actions: [{ Type: 'fixed-response' }], weights: null });

      // Assess
      await expect(result).rejects.toThrow(`rule ${RULE} does not forward, and did not at preflight: there is no split to restore (nothing changed)`);
      expect(elbMock.commandCalls(ModifyRuleCommand)).toHaveLength(0);
    });

    it('rewrites the current actions when preflight could not read any', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(80, 20)]));
      elbMock.on(ModifyRuleCommand).resolves({});

      // Act
      await router().restore(target, { kind: 'alb', actions: [], weights: null });

      // Assess
      expect(elbMock.commandCalls(ModifyRuleCommand)[0]!.args[0].input.Actions).toEqual([
        { Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: BLUE, Weight: 100 }, { TargetGroupArn: GREEN, Weight: 0 }], TargetGroupStickinessConfig: { Enabled: false } } },
      ]);
    });
  });

  describe('isInSync', () => {
    it('is true once a describe call shows the weights of the change', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(95, 5)]));

      // Act
      const inSync = await router().isInSync(target, 'alb:canary=5,baseline=95');

      // Assess
      expect(inSync).toBe(true);
    });

    it('throws TrafficStateError when the rule shows other weights (changed since)', async () => {
      // Prepare
      elbMock.on(DescribeRulesCommand).resolves(rule([forward(50, 50)]));

      // Act
      const result = router().isInSync(target, 'alb:canary=5,baseline=95');

      // Assess
      await expect(result).rejects.toThrow(`rule ${RULE} now has canary 50 / baseline 50, not the canary 5 / baseline 95 this rollout set (changed outside the rollout?)`);
    });
  });
});
