/**
 * The JSONPath side of ASL as the runner applies it: paths, ResultPath, payload templates,
 * intrinsic functions and Choice rules, with the error names AWS reports.
 */
import { describe, expect, it } from 'vitest';
import {
  applyResultPath, applyTemplate, evaluateChoiceRule, evaluateIntrinsic, queryPath, selectPath, StatesError,
} from '../../sim/asl-data.ts';
import { mulberry32 } from '../../sim/prng.ts';

const data = { a: { b: [10, 20, 30], 'odd key': 1 }, items: [{ n: 1, tag: 'x' }, { n: 2, tag: 'y' }, { n: 3 }], s: 'hi' };
const context = { Execution: { Id: 'arn:…:e1', Name: 'e1' } };
const env = { rng: mulberry32(1) };

describe('paths', () => {
  it.each([
    ['$', data],
    ['$.a.b[1]', 20],
    ['$.a.b[-1]', 30],
    ["$.a['odd key']", 1],
    ['$.items[*].n', [1, 2, 3]],
    ['$.a.b[0:2]', [10, 20]],
    ['$..tag', ['x', 'y']],
    ['$.items[?(@.n > 1)].n', [2, 3]],
    ["$.items[?(@.tag == 'x')].n", [1]],
    ['$.items[?(@.tag)].n', [1, 2]],
  ])('%s', (path, value) => {
    // Act + Assess
    expect(queryPath(path, data, context)).toEqual({ found: true, value });
  });

  it('reads the context object with $$ and finds nothing where nothing is', () => {
    // Act + Assess
    expect(queryPath('$$.Execution.Name', data, context)).toEqual({ found: true, value: 'e1' });
    expect(queryPath('$.a.missing', data, context)).toEqual({ found: false });
    expect(queryPath('$.s.length', data, context)).toEqual({ found: false });
  });

  it('makes a missing InputPath a States.Runtime error, and a null one an empty object', () => {
    // Act + Assess
    expect(selectPath(null, data, context, 'InputPath', 'S')).toEqual({});
    expect(() => selectPath('$.nope', data, context, 'InputPath', 'S')).toThrow(expect.objectContaining({ error: 'States.Runtime', kind: 'runtime' }));
  });
});

describe('ResultPath', () => {
  it('puts the result into a copy of the input, creating what is missing, never touching the original', () => {
    // Prepare
    const input = { keep: { x: 1 }, list: [1, 2] };

    // Act
    const out = applyResultPath('$.made.here', input, 'r', 'S') as Record<string, unknown>;
    const intoList = applyResultPath('$.list[1]', input, 'r', 'S');

    // Assess
    expect(out).toEqual({ keep: { x: 1 }, list: [1, 2], made: { here: 'r' } });
    expect(out.keep).toBe(input.keep); // untouched branches are shared, not copied
    expect(intoList).toEqual({ keep: { x: 1 }, list: [1, 'r'] });
    expect(input).toEqual({ keep: { x: 1 }, list: [1, 2] });
    expect(applyResultPath(null, input, 'r', 'S')).toBe(input);
    expect(applyResultPath(undefined, input, 'r', 'S')).toBe('r');
  });

  it('fails with States.ResultPathMatchFailure when the path goes through a non-object', () => {
    // Act + Assess
    expect(() => applyResultPath('$.s.x', data, 1, 'S')).toThrow(expect.objectContaining({ error: 'States.ResultPathMatchFailure' }));
  });
});

describe('payload templates and intrinsic functions', () => {
  it('fills .$ fields from paths, the context and intrinsic functions, recursively', () => {
    // Act
    const out = applyTemplate({
      fixed: 1,
      'first.$': '$.a.b[0]',
      nested: { 'name.$': '$$.Execution.Name', list: [{ 'n.$': '$.items[0].n' }] },
      'label.$': "States.Format('{}-{} \\{x\\}', $$.Execution.Name, $.a.b[2])",
      'parts.$': "States.StringSplit('a,b;c', ',;')",
      'sum.$': 'States.MathAdd($.a.b[0], -1)',
      'json.$': 'States.JsonToString($.items[2])',
      'back.$': "States.StringToJson('{\"k\":[1]}')",
      'len.$': 'States.ArrayLength($.items)',
      'chunks.$': 'States.ArrayPartition(States.Array(1, 2, 3), 2)',
      'has.$': 'States.ArrayContains($.a.b, 20)',
      'range.$': 'States.ArrayRange(1, 9, 4)',
      'item.$': 'States.ArrayGetItem($.a.b, 1)',
      'unique.$': 'States.ArrayUnique(States.Array(1, 1, 2))',
      'b64.$': "States.Base64Encode('hi')",
      'hash.$': "States.Hash('hi', 'SHA-256')",
      'merged.$': 'States.JsonMerge($.a, $.items[0], false)',
    }, data, context, env, 'S');

    // Assess
    expect(out).toEqual({
      fixed: 1, first: 10, nested: { name: 'e1', list: [{ n: 1 }] }, label: 'e1-30 {x}', parts: ['a', 'b', 'c'], sum: 9, json: '{"n":3}',
      back: { k: [1] }, len: 3, chunks: [[1, 2], [3]], has: true, range: [1, 5, 9], item: 20, unique: [1, 2], b64: 'aGk=',
      hash: '8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4', merged: { b: [10, 20, 30], 'odd key': 1, n: 1, tag: 'x' },
    });
  });

  it('fails with States.ParameterPathFailure when a path finds nothing, and States.IntrinsicFailure on bad arguments', () => {
    // Act + Assess
    expect(() => applyTemplate({ 'x.$': '$.nope' }, data, context, env, 'S')).toThrow(expect.objectContaining({ error: 'States.ParameterPathFailure' }));
    expect(() => evaluateIntrinsic('States.ArrayGetItem($.a.b, 7)', data, context, env, 'S')).toThrow(expect.objectContaining({ error: 'States.IntrinsicFailure' }));
  });

  it('draws States.UUID and States.MathRandom from the seeded PRNG', () => {
    // Act
    const a = evaluateIntrinsic('States.UUID()', data, context, { rng: mulberry32(5) }, 'S');
    const b = evaluateIntrinsic('States.UUID()', data, context, { rng: mulberry32(5) }, 'S');
    const r = evaluateIntrinsic('States.MathRandom(10, 20)', data, context, { rng: () => 0.99 }, 'S');

    // Assess
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r).toBe(19);
  });
});

describe('Choice rules', () => {
  const rule = (r: Record<string, unknown>, input: unknown = data) => evaluateChoiceRule(r, input, context, 'C');

  it.each([
    [{ Variable: '$.s', StringEquals: 'hi' }, true],
    [{ Variable: '$.s', StringMatches: 'h*' }, true],
    [{ Variable: '$.s', StringMatches: 'h\\*' }, false],
    [{ Variable: '$.a.b[0]', NumericGreaterThanEquals: 10 }, true],
    [{ Variable: '$.a.b[0]', NumericLessThanPath: '$.a.b[1]' }, true],
    [{ Variable: '$.s', NumericEquals: 1 }, false], // a type mismatch is false, not an error
    [{ Variable: '$.t', TimestampLessThan: '2026-01-02T00:00:00Z' }, true],
    [{ Variable: '$.missing', IsPresent: false }, true],
    [{ Variable: '$.a', IsNull: false }, true],
    [{ And: [{ Variable: '$.missing', IsPresent: true }, { Variable: '$.missing', StringEquals: 'x' }] }, false], // And stops at the first false
    [{ Not: { Variable: '$.s', StringEquals: 'no' } }, true],
    [{ Or: [{ Variable: '$.s', StringEquals: 'no' }, { Variable: '$.s', IsString: true }] }, true],
  ])('%j → %s', (r, expected) => {
    // Act + Assess
    expect(rule(r, { ...data, t: '2026-01-01T00:00:00Z' })).toBe(expected);
  });

  it('makes a comparison on a missing Variable a States.Runtime error, as AWS does', () => {
    // Act + Assess
    let thrown: unknown;
    try {
      rule({ Variable: '$.next', StringEquals: 'SHIFT' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StatesError);
    expect(thrown).toMatchObject({ error: 'States.Runtime', kind: 'runtime' });
    expect((thrown as Error).message).toContain("Invalid path '$.next': The choice state's condition path references an invalid value.");
  });
});
