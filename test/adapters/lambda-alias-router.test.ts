import {
  CreateAliasCommand,
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  PreconditionFailedException,
  ResourceNotFoundException,
  UpdateAliasCommand,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { LambdaAliasRouter, type LambdaAliasDefinition } from '../../functions/adapters/lambda-alias-router.ts';
import { ThrottledError, TrafficStateError } from '../../functions/core/errors.ts';
import type { LambdaAliasTarget } from '../../functions/core/targets.ts';

const lambdaMock = mockClient(LambdaClient);

const target: LambdaAliasTarget = { type: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7' };
const ROLE = 'arn:aws:iam::123456789012:role/checkout';
const notFound = (message: string) => new ResourceNotFoundException({ message, $metadata: {}, Type: 'User' });
const alias = (version: string, weights?: Record<string, number>, revision = 'rev-1') => ({
  AliasArn: 'arn:aws:lambda:eu-west-1:123456789012:function:checkout:live', Name: 'live', FunctionVersion: version,
  RevisionId: revision, ...(weights ? { RoutingConfig: { AdditionalVersionWeights: weights } } : {}),
});
const router = () => new LambdaAliasRouter(new LambdaClient({ region: 'eu-west-1' }));
const definition: LambdaAliasDefinition = { kind: 'lambda-alias', functionName: 'checkout', alias: 'live', canaryVersion: '7', baselineVersion: '6' };

function versions(extra: Record<string, Record<string, unknown>> = {}): void {
  for (const v of ['6', '7']) {
    lambdaMock.on(GetFunctionConfigurationCommand, { FunctionName: 'checkout', Qualifier: v })
      .resolves({ FunctionName: 'checkout', Version: v, Role: ROLE, State: 'Active', ...extra[v] });
  }
}

describe('LambdaAliasRouter', () => {
  beforeEach(() => {
    lambdaMock.reset();
  });

  describe('read', () => {
    it('reads an alias at the baseline with no extra weight as 0 %, and takes the baseline from it', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6'));
      versions();

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading).toEqual({ canaryPercent: 0, problems: [], settleSeconds: 0, definition });
      expect(lambdaMock.commandCalls(GetAliasCommand)[0]!.args[0].input).toEqual({ FunctionName: 'checkout', Name: 'live' });
      expect(lambdaMock.commandCalls(GetFunctionConfigurationCommand).map((c) => c.args[0].input)).toEqual([
        { FunctionName: 'checkout', Qualifier: '7' }, { FunctionName: 'checkout', Qualifier: '6' },
      ]);
    });

    it('reads the canary weight as a percent', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6', { 7: 0.05 }));
      versions();

      // Act
      const reading = await router().read(target);

      // Assess
      expect(reading.canaryPercent).toBe(5);
    });

    it('knows the baseline from the definition once the alias points at the canary alone', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('7'));
      versions();

      // Act
      const without = await router().read(target);
      const withDefinition = await router().read(target, definition);

      // Assess
      expect(without.canaryPercent).toBeNull();
      expect(without.problems).toEqual(['alias live of checkout points at the canary version 7 alone, so the baseline cannot be told: give target.baselineVersion']);
      expect(withDefinition).toMatchObject({ canaryPercent: 100, problems: [] });
    });

    it.each([
      ['points at another version than the baseline', alias('5'), { baselineVersion: '6' }, /points at version 5, not the baseline version 6/],
      ['gives weight to a third version', alias('6', { 5: 0.1 }), {}, /gives 10 % to version 5, not the canary version 7/],
    ])('reports an alias that %s', async (_label, state, extra, problem) => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(state);
      versions();

      // Act
      const reading = await router().read({ ...target, ...extra });

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems.join('\n')).toMatch(problem);
    });

    it('reports a missing alias, a missing canary version, and versions Lambda will not split between', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).rejects(notFound('Alias not found'));
      const missing = await router().read(target);
      lambdaMock.reset();
      lambdaMock.on(GetAliasCommand).resolves(alias('6'));
      lambdaMock.on(GetFunctionConfigurationCommand, { Qualifier: '7' }).rejects(notFound('Function not found'));
      lambdaMock.on(GetFunctionConfigurationCommand, { Qualifier: '6' }).resolves({ Version: '6', Role: ROLE });
      const unpublished = await router().read(target);
      lambdaMock.reset();
      lambdaMock.on(GetAliasCommand).resolves(alias('6'));
      versions({ 7: { Role: 'arn:aws:iam::123456789012:role/other', DeadLetterConfig: { TargetArn: 'arn:aws:sqs:eu-west-1:123456789012:dlq' } } });

      // Act
      const mismatched = await router().read(target);

      // Assess
      expect(missing.problems).toEqual(['alias live of checkout does not exist: create it pointing at the baseline version']);
      expect(unpublished.problems).toEqual(['canary version 7 of checkout does not exist: publish it (aws lambda publish-version)']);
      expect(mismatched.problems).toEqual([
        `versions 6 and 7 of checkout have different execution roles (${ROLE} / arn:aws:iam::123456789012:role/other): Lambda splits an alias only between versions with the same role`,
        'versions 6 and 7 of checkout have different dead-letter queues (none / arn:aws:sqs:eu-west-1:123456789012:dlq): Lambda splits an alias only between versions with the same one',
      ]);
    });
  });

  describe('shift', () => {
    it('updates the alias in one UpdateAlias carrying the revision it read (compare-and-set)', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6', undefined, 'rev-42'));
      lambdaMock.on(UpdateAliasCommand).resolves({});

      // Act
      const result = await router().shift(target, 5, { expectedPercent: 0, definition });

      // Assess
      expect(result).toEqual({ changeId: 'lambda:6+7@0.05' });
      const calls = lambdaMock.commandCalls(UpdateAliasCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input).toEqual({
        FunctionName: 'checkout', Name: 'live', FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: { 7: 0.05 } }, RevisionId: 'rev-42',
      });
    });

    it('moves the alias to the canary version with no extra weight at 100 (promotion)', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6', { 7: 0.25 }));
      lambdaMock.on(UpdateAliasCommand).resolves({});

      // Act
      const result = await router().shift(target, 100, { expectedPercent: 25, definition });

      // Assess
      expect(result.changeId).toBe('lambda:7');
      expect(lambdaMock.commandCalls(UpdateAliasCommand)[0]!.args[0].input).toMatchObject({ FunctionVersion: '7', RoutingConfig: { AdditionalVersionWeights: {} } });
    });

    it('refuses, changing nothing, when the alias is not at the expected share', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6', { 7: 0.5 }));

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow('alias live of checkout gives the canary version 7 50 %, not the 5 % this rollout set (changed outside the rollout?): nothing changed');
      expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(0);
    });

    it('turns a revision that moved between read and update into TrafficStateError', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6', { 7: 0.05 }, 'rev-1'));
      lambdaMock.on(UpdateAliasCommand).rejects(new PreconditionFailedException({ message: 'The RevisionId provided does not match the latest RevisionId', $metadata: {}, Type: 'User' }));

      // Act
      const result = router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      await expect(result).rejects.toThrow('alias live of checkout changed between the read and the update (revision rev-1 is no longer current): nothing changed');
    });

    it('succeeds without a call when a retried shift finds the routing it asked for', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6', { 7: 0.1 }));

      // Act
      const result = await router().shift(target, 10, { expectedPercent: 5, definition });

      // Assess
      expect(result.changeId).toBe('lambda:6+7@0.1');
      expect(lambdaMock.commandCalls(UpdateAliasCommand)).toHaveLength(0);
    });

    it('maps TooManyRequestsException to Throttled', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolves(alias('6'));
      lambdaMock.on(UpdateAliasCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException', $fault: 'client', $metadata: { httpStatusCode: 429 } }));

      // Act
      const result = router().shift(target, 1, { expectedPercent: 0, definition });

      // Assess
      await expect(result).rejects.toBeInstanceOf(ThrottledError);
    });
  });

  describe('restore', () => {
    it('points the alias back at the baseline with no extra weight, without a revision (unconditional)', async () => {
      // Prepare
      lambdaMock.on(UpdateAliasCommand).resolves({});

      // Act
      const result = await router().restore(target, definition);

      // Assess
      expect(result).toEqual({ changeId: 'lambda:6' });
      expect(lambdaMock.commandCalls(UpdateAliasCommand)[0]!.args[0].input).toEqual({
        FunctionName: 'checkout', Name: 'live', FunctionVersion: '6', RoutingConfig: { AdditionalVersionWeights: {} },
      });
      expect(lambdaMock.commandCalls(GetAliasCommand)).toHaveLength(0);
    });

    it('re-creates a deleted alias at the baseline', async () => {
      // Prepare
      lambdaMock.on(UpdateAliasCommand).rejects(notFound('Alias not found'));
      lambdaMock.on(CreateAliasCommand).resolves({});

      // Act
      await router().restore(target, definition);

      // Assess
      expect(lambdaMock.commandCalls(CreateAliasCommand)[0]!.args[0].input).toEqual({
        FunctionName: 'checkout', Name: 'live', FunctionVersion: '6', Description: 'Re-created by canary-analyzer: rolled back to the baseline version',
      });
    });

    it('says clearly when neither the alias nor the baseline version can be restored', async () => {
      // Prepare
      lambdaMock.on(UpdateAliasCommand).rejects(notFound('Function not found'));
      lambdaMock.on(CreateAliasCommand).rejects(notFound('Function not found: arn:aws:lambda:eu-west-1:123456789012:function:checkout:6'));

      // Act
      const result = router().restore(target, definition);

      // Assess
      await expect(result).rejects.toThrow(/cannot restore alias live of checkout: the function or its baseline version 6 no longer exists/);
    });
  });

  describe('isInSync', () => {
    it('is true once GetAlias shows the routing of the change, and throws when it shows another', async () => {
      // Prepare
      lambdaMock.on(GetAliasCommand).resolvesOnce(alias('6', { 7: 0.05 })).resolvesOnce(alias('6', { 7: 0.5 }));

      // Act
      const first = await router().isInSync(target, 'lambda:6+7@0.05');
      const second = router().isInSync(target, 'lambda:6+7@0.05');

      // Assess
      expect(first).toBe(true);
      await expect(second).rejects.toThrow('alias live of checkout now routes to version 6 + version 7 at 0.5, not what this rollout set (lambda:6+7@0.05): changed outside the rollout?');
    });
  });
});
