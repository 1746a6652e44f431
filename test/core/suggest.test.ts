/** "Did you mean" for config mistakes: the distance, the closest allowed words, the keys a schema allows where the mistake is. */
import { describe, expect, it } from 'vitest';
import { RolloutConfigSchema } from '../../functions/core/config.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import { explainIssue } from '../../functions/core/issues.ts';
import { parseSoakConfig, SoakConfigSchema } from '../../functions/core/soak-config.ts';
import { allowedKeysAt, closest, didYouMean, editDistance, whereAllowed } from '../../functions/core/suggest.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

describe('editDistance', () => {
  it.each([
    ['', '', 0], ['abc', '', 3], ['kitten', 'sitting', 3], ['bakeSecs', 'bakeSeconds', 3],
    ['enabeld', 'enabled', 1], ['ca', 'abc', 3], ['statusUpdateEvry', 'statusUpdateEvery', 1],
  ])('%s → %s: %i (a swap of neighbours is one edit)', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('closest', () => {
  const keys = ['bakeSeconds', 'bake', 'checkInterval', 'checkIntervalSeconds', 'inconclusiveLimit', 'failureLimit', 'stages'];

  it.each([
    ['checkIntervall', ['checkInterval']],
    ['check_interval_seconds', ['checkIntervalSeconds']],
    ['CheckInterval', ['checkInterval']],
    ['bakeSecond', ['bakeSeconds']],
    ['bakeSecs', ['bakeSeconds']],
    ['inconclusiveLimt', ['inconclusiveLimit']],
    ['stage', ['stages']],
  ])('%s: %j', (word, expected) => {
    expect(closest(word, keys)).toEqual(expected);
  });

  it('a prefix of four letters or more, and a whole part of a dashed name, count as close', () => {
    expect(closest('starved', ['starvedWaitSeconds', 'tolerance'])).toEqual(['starvedWaitSeconds']);
    expect(closest('alias', ['route53', 'alb', 'lambda-alias', 'appconfig-flag'])).toEqual(['lambda-alias']);
    expect(closest('thr', ['threshold'])).toEqual([]);
  });

  it('nothing for a word far from all, a word of one or two letters, or a word that is allowed', () => {
    expect(closest('zzzzzz', keys)).toEqual([]);
    expect(closest('timeout', keys)).toEqual([]);
    expect(closest('7', ['1', '2', '3', '4'])).toEqual([]);
    expect(closest('1w', ['none', '1d', '7d'])).toEqual([]);
    expect(closest('stages', keys)).toEqual([]);
  });

  it('ties give at most two, said as one question', () => {
    const found = closest('limt', ['limit', 'lima', 'lime', 'limb']);
    expect(found).toHaveLength(2);
    expect(didYouMean(['a', 'b'])).toBe("did you mean 'a' or 'b'?");
    expect(didYouMean([])).toBe('');
  });
});

describe('allowedKeysAt', () => {
  it('walks objects, arrays, defaults and transforms of the rollout schema to the keys allowed there', () => {
    const input = { stages: [{ weight: 1 }], incident: { opsCenter: {} } };
    expect(allowedKeysAt(RolloutConfigSchema, [], input)).toEqual(expect.arrayContaining(['name', 'target', 'preset', 'stages', 'checkInterval', 'bakeSeconds']));
    expect(allowedKeysAt(RolloutConfigSchema, ['stages', 0], input)).toEqual(expect.arrayContaining(['weight', 'bakeSeconds', 'checks']));
    expect(allowedKeysAt(RolloutConfigSchema, ['incident'], input)).toEqual(expect.arrayContaining(['opsCenter', 'statusUpdateEvery']));
    expect(allowedKeysAt(RolloutConfigSchema, ['incident', 'opsCenter'], input)?.sort()).toEqual(['enabled', 'severity']);
  });

  it('a union picks its form by the input\'s discriminator; without one, the keys of every form', () => {
    const alb = allowedKeysAt(RolloutConfigSchema, ['target'], { target: { type: 'alb' } })!;
    const any = allowedKeysAt(RolloutConfigSchema, ['target'], { target: {} })!;
    expect(alb).toContain('listenerArn');
    expect(alb).not.toContain('hostedZoneId');
    expect(any).toEqual(expect.arrayContaining(['listenerArn', 'hostedZoneId', 'functionName']));
  });

  it('null where the path leads to no object', () => {
    expect(allowedKeysAt(RolloutConfigSchema, ['name'], { name: 'x' })).toBeNull();
    expect(allowedKeysAt(RolloutConfigSchema, ['nothing', 'here'], {})).toBeNull();
  });
});

describe('whereAllowed', () => {
  it('the places a key is allowed, the top level first, lists as `[]`', () => {
    expect(whereAllowed(RolloutConfigSchema, 'statusUpdateEvery')).toEqual(['incident']);
    expect(whereAllowed(RolloutConfigSchema, 'bakeSeconds')).toEqual(['', 'stages[]']);
    expect(whereAllowed(RolloutConfigSchema, 'dimensions')).toContain('metrics[].queries.canary.value');
    expect(whereAllowed(RolloutConfigSchema, 'nowhere')).toEqual([]);
  });
});

describe('explainIssue', () => {
  it('an unknown field with a near one: the suggestion is the fix; without: the schema file to read', () => {
    // Prepare
    const input = { ...albEcsConfig(), bakeSecs: 60, zzz: 1 };
    const issues = RolloutConfigSchema.safeParse(input).error!.issues;
    const one = (key: string) => explainIssue({ ...issues.find((i) => i.code === 'unrecognized_keys')!, keys: [key] } as never, { schema: RolloutConfigSchema, input });

    // Act / Assess
    expect(one('bakeSecs')).toEqual({ message: "unknown field 'bakeSecs': did you mean 'bakeSeconds'?", fix: "did you mean 'bakeSeconds'?" });
    expect(one('zzz')).toEqual({
      message: "unknown field(s) 'zzz': check the spelling (see schema/rollout-config.schema.json)", fix: 'check the spelling (see schema/rollout-config.schema.json)',
    });
  });

  it('a field at the wrong level says where it goes; one allowed here in another form of a union does not', () => {
    // Prepare
    const input = { ...albEcsConfig(), statusUpdateEvery: '15m' };
    const issue = RolloutConfigSchema.safeParse(input).error!.issues.find((i) => i.code === 'unrecognized_keys')!;
    const expression = {
      ...albEcsConfig(), preset: undefined,
      metrics: [{ name: 'm', kind: 'gauge', unit: 'count', threshold: { max: 1 }, queries: { canary: { value: { expression: 'SUM(x)', namespace: 'N' } }, baseline: { value: { expression: 'SUM(x)' } } } }],
    };
    const mixed = RolloutConfigSchema.safeParse(expression).error!.issues.find((i) => i.code === 'unrecognized_keys')!;

    // Act / Assess
    expect(explainIssue(issue, { schema: RolloutConfigSchema, input })).toEqual({
      message: "unknown field 'statusUpdateEvery' here: move it into `incident`", fix: 'move it into `incident`',
    });
    expect(mixed.path).toEqual(['metrics', 0, 'queries', 'canary', 'value']);
    expect(explainIssue(mixed, { schema: RolloutConfigSchema, input: expression }).message).toBe(
      "unknown field(s) 'namespace': check the spelling (see schema/rollout-config.schema.json)",
    );
  });

  it('a soak config\'s mistakes name its own schema file and fields, at every level', () => {
    // Prepare
    const input = {
      name: 'live', comparison: '7d', windowSecond: 900, qqq: 1,
      metrics: [{ name: 'm', kind: 'gauge', unit: 'count', threshold: { max: 1 }, baseline: { maxIncreasePercent: 5 }, query: { value: { namespace: 'N', metricName: 'M', stat: 'Sum', dimension: {} } } }],
    };

    // Act
    let issues: string[] = [];
    try {
      parseSoakConfig(input);
    } catch (error) {
      issues = (error as ConfigValidationError).issues;
    }

    // Assess
    expect(issues).toEqual(expect.arrayContaining([
      "(config): unknown field(s) 'windowSecond' (did you mean 'windowSeconds'?), 'qqq': check the spelling (see schema/soak-config.schema.json)",
      "metrics[0].query.value: unknown field 'dimension': did you mean 'dimensions'?",
    ]));
  });

  it('a wrong enum value says what was given and what is near; without the input, the choices', () => {
    // Prepare
    const input = { ...albEcsConfig(), incident: { opsCenter: { enabled: true, severity: '5' } } };
    const issue = RolloutConfigSchema.safeParse(input).error!.issues.find((i) => i.code === 'invalid_value')!;

    // Act / Assess
    expect(explainIssue(issue, { schema: RolloutConfigSchema, input })).toEqual({ message: "must be one of '1', '2', '3', '4', not '5'", fix: "use one of '1', '2', '3', '4'" });
    expect(explainIssue(issue)).toEqual({ message: "must be one of '1', '2', '3', '4'", fix: "use one of '1', '2', '3', '4'" });
    const soak = SoakConfigSchema.safeParse({ name: 'x', metrics: [], comparison: 'weekly' }).error!.issues.find((i) => i.path[0] === 'comparison')!;
    expect(explainIssue(soak, { input: { comparison: 'weekly' } }).message).toBe("comparison must be 'none', '1d' or '7d', not 'weekly'");
  });
});
