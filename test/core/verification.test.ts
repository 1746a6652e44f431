/**
 * core/verification.ts: the schemas of checks and hooks (messages naming the field and the fix),
 * the request, the parsing of answers (never a PASS unless a well-formed PASS, checked on
 * arbitrary answers with fast-check), the alarm judgement, the verdicts the decision sees, the
 * runners over the ports, and the preflight refusal of what the stack may not use.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssues, parseRolloutConfig } from '../../functions/core/config.ts';
import { decideAfterCheck } from '../../functions/core/decision.ts';
import { ConfigValidationError } from '../../functions/core/errors.ts';
import { combineVerdicts } from '../../functions/core/judge.ts';
import {
  buildVerificationContext, beforeShiftGates, checkVerdict, hookResultLine, judgeAlarms, MAX_ANSWER_BYTES, MAX_REASON_CHARS,
  parseVerificationAnswer, parseVerificationConfig, renderHookParameters, routeHooks, routeVerification, runChecks, runGate, runHooks,
  verificationAllowListFromEnv, verificationConfigShape, verificationCrossIssues, verificationPermissionIssues,
  type AlarmCheck, type CheckOutcome, type HookPort, type MomentInput, type VerificationCheck, type VerificationConfigInput, type VerificationPort,
} from '../../functions/core/verification.ts';

const clockAt = (iso: string) => ({ now: () => new Date(iso) });
const NOW = '2026-03-01T10:00:00.000Z';
const DEADLINE = new Date('2026-03-01T10:00:20.000Z');

const issuesOf = (input: unknown): string[] => {
  try {
    parseVerificationConfig(input);
    return [];
  } catch (error) {
    if (error instanceof ConfigValidationError) return error.issues;
    throw error;
  }
};

const target = parseRolloutConfig({
  name: 'orders', target: { hostedZoneId: 'Z1', recordName: 'Orders.Example.com.', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green' },
  metrics: [{ name: 'm', kind: 'gauge', threshold: { max: 1 }, queries: {
    canary: { value: { namespace: 'N', metricName: 'M', stat: 'Sum' } }, baseline: { value: { namespace: 'N', metricName: 'M', stat: 'Sum' } },
  } }],
}).target;

const lambdaCheck = (overrides: Partial<VerificationCheck> = {}): VerificationCheck =>
  ({ ...parseVerificationConfig({ verification: [{ name: 'reconcile', type: 'lambda', function: 'orders-reconcile' }] }).verification[0]!, ...overrides } as VerificationCheck);
const alarmCheck = (alarms: string[], insufficientData: 'INCONCLUSIVE' | 'FAIL' = 'INCONCLUSIVE'): AlarmCheck =>
  parseVerificationConfig({ verification: [{ name: 'alarms', type: 'alarm', alarms, insufficientData }] }).verification[0] as AlarmCheck;

const answered = (body: unknown, finishedAt = NOW): CheckOutcome =>
  ({ status: 'answered', body: typeof body === 'string' ? body : JSON.stringify(body), attempts: 1, finishedAt });

const moment: MomentInput = {
  moment: 'analysis', rolloutId: 'r-1', service: 'orders', stageIndex: 2, stageCount: 5, weight: 10,
  window: { start: '2026-03-01T09:50:00.000Z', end: '2026-03-01T09:58:00.000Z' }, target,
};

describe('verification config', () => {
  it('fills in the defaults: timeout, retry policy, not critical, INSUFFICIENT_DATA inconclusive, event hooks', () => {
    // Act
    const parsed = parseVerificationConfig({
      verification: [
        { name: 'reconcile', type: 'lambda', function: 'orders-reconcile' },
        { name: 'cdc-lag', type: 'http', secretId: 'canary/cdc-endpoint' },
        { name: 'alarms', type: 'alarm', alarms: ['orders-5xx', 'orders-composite'] },
      ],
      hooks: { afterRollback: [{ name: 'heap-dump', type: 'lambda', function: 'capture-heap' }] },
    });

    // Assess
    expect(parsed.verification).toEqual([
      { name: 'reconcile', type: 'lambda', function: 'orders-reconcile', timeoutSeconds: 20, retry: { maxAttempts: 3, backoffMs: 500 }, critical: false },
      { name: 'cdc-lag', type: 'http', secretId: 'canary/cdc-endpoint', timeoutSeconds: 20, retry: { maxAttempts: 3, backoffMs: 500 }, critical: false },
      { name: 'alarms', type: 'alarm', alarms: ['orders-5xx', 'orders-composite'], insufficientData: 'INCONCLUSIVE', timeoutSeconds: 20, retry: { maxAttempts: 3, backoffMs: 500 }, critical: false },
    ]);
    expect(parsed.hooks).toEqual({
      preRollout: [], beforeShift: [], afterPromotion: [],
      afterRollback: [{ name: 'heap-dump', type: 'lambda', function: 'capture-heap', invocation: 'event', timeoutSeconds: 10 }],
    });
  });

  it('accepts nothing at all: the feature is off', () => {
    expect(parseVerificationConfig({})).toEqual({ verification: [], hooks: { preRollout: [], beforeShift: [], afterPromotion: [], afterRollback: [] } });
  });

  it.each([
    [{ verification: [{ name: 'a', type: 'lamda', function: 'f' }] },
      "verification[0].type: type must be 'lambda' (a function you own), 'http' (a signed HTTPS POST) or 'alarm' (CloudWatch alarms)"],
    [{ verification: [{ name: 'a', type: 'lambda' }] }, 'verification[0].function: function is required: a Lambda function name or ARN'],
    [{ verification: [{ name: 'a', type: 'lambda', function: 'my func' }] },
      'verification[0].function: function must be a Lambda function name (e.g. orders-reconcile, or orders-reconcile:live for an alias) or its ARN'],
    [{ verification: [{ name: 'a', type: 'http', secretId: 'x', timeoutSeconds: 90 }] },
      'verification[0].timeoutSeconds: timeoutSeconds must be at most 50 (every check runs within one step)'],
    [{ verification: [{ name: 'a', type: 'http', secretId: 'x', retry: { maxAttempts: 0 } }] }, 'verification[0].retry.maxAttempts: maxAttempts must be 1 to 5'],
    [{ verification: [{ name: 'a', type: 'alarm', alarms: ['x'], insufficientData: 'PASS' }] },
      "verification[0].insufficientData: insufficientData must be 'INCONCLUSIVE' (the default) or 'FAIL'"],
    [{ verification: [{ name: 'a', type: 'alarm', alarms: [] }] }, 'verification[0].alarms: alarms needs at least one alarm name'],
    [{ verification: [{ name: 'a', type: 'alarm', alarms: ['x', 'x'] }] }, 'verification[0].alarms: alarms must not repeat a name'],
    [{ verification: [{ name: 'a', type: 'alarm', alarms: ['x'] }, { name: 'a', type: 'alarm', alarms: ['y'] }] }, "verification[1].name: duplicate name 'a'"],
    [{ hooks: { afterRollback: [{ name: 'h', type: 'lambda', function: 'f', invocation: 'request-response' }] } },
      "hooks.afterRollback[0].invocation: an afterRollback hook is started, never awaited (the rollback must not wait on it): use 'event' or leave invocation out"],
    [{ hooks: { afterRollback: [{ name: 'h', type: 'ssm-automation', document: 'Doc', parameters: { Id: ['{{ rolloutid }}'] } }] } },
      'hooks.afterRollback[0].parameters.Id[0]: unknown placeholder {{ rolloutid }}: use one of rolloutId, service, moment, stageIndex, weight, windowStart, windowEnd, target.hostedZoneId, target.recordName, target.recordType, target.baselineSetIdentifier, target.canarySetIdentifier, decision.outcome, decision.trigger, '
      + 'target.type, target.listenerArn, target.ruleArn, target.baselineTargetGroupArn, target.canaryTargetGroupArn, target.functionName, target.alias, target.baselineVersion, target.canaryVersion, '
      + 'target.applicationId, target.environmentId, target.configurationProfileId, target.flag'],
    [{ hooks: { afterPromotion: [{ name: 'h', type: 'webhook' }] } },
      "hooks.afterPromotion[0].type: type must be 'lambda' (a function you own) or 'ssm-automation' (an SSM Automation runbook)"],
    [{ hooks: { afterRollbak: [] } }, "hooks: unknown field(s) 'afterRollbak': check the spelling (see schema/rollout-config.schema.json)"],
  ])('refuses %j naming the field and the fix', (input, issue) => {
    expect(issuesOf(input)).toEqual([issue]);
  });

  it('cross-checks against the rest of the rollout config: names apart from metrics, gate weights that are stages', () => {
    // Prepare
    const parsed = parseVerificationConfig({
      verification: [{ name: 'error-rate', type: 'alarm', alarms: ['x'] }],
      hooks: { beforeShift: [{ name: 'cdc', type: 'alarm', alarms: ['cdc'], weights: [10, 50] }] },
    });

    // Act
    const issues = verificationCrossIssues({ metrics: [{ name: 'error-rate' }], stages: [1, { weight: 10 }, 100], ...parsed });

    // Assess
    expect(issues).toEqual([
      { path: ['verification', 0, 'name'], message: "'error-rate' is also a metric's name: give the check a name of its own" },
      { path: ['hooks', 'beforeShift', 0, 'weights', 1], message: '50 is not the weight of any stage (1, 10, 100)' },
    ]);
  });

  it('keeps its own checks when its shape is spread into another object, as the rollout config will', () => {
    // Prepare
    const host = z.object({ name: z.string(), ...verificationConfigShape }).strict();

    // Act
    const result = host.safeParse({
      name: 'orders',
      verification: [{ name: 'a', type: 'alarm', alarms: ['x'] }, { name: 'a', type: 'alarm', alarms: ['y'] }],
      hooks: { afterRollback: [{ name: 'h', type: 'lambda', function: 'f', invocation: 'request-response' }] },
    });

    // Assess
    expect(result.success).toBe(false);
    expect(result.error && formatIssues(result.error)).toEqual([
      "verification[1].name: duplicate name 'a'",
      "hooks.afterRollback[0].invocation: an afterRollback hook is started, never awaited (the rollback must not wait on it): use 'event' or leave invocation out",
    ]);
  });

  it('picks the beforeShift gates of a stage by its weight', () => {
    // Prepare
    const { hooks } = parseVerificationConfig({
      hooks: { beforeShift: [{ name: 'always', type: 'alarm', alarms: ['a'] }, { name: 'big', type: 'alarm', alarms: ['b'], weights: [25, 100] }] },
    });

    // Act / Assess
    expect(beforeShiftGates(hooks, 10).map((g) => g.name)).toEqual(['always']);
    expect(beforeShiftGates(hooks, 25).map((g) => g.name)).toEqual(['always', 'big']);
  });
});

describe('the request', () => {
  it('carries the rollout, the stage, the window and the target, and the deadline', () => {
    // Act
    const context = buildVerificationContext({ ...moment, check: 'reconcile', now: new Date(NOW), deadline: DEADLINE });

    // Assess
    expect(context).toEqual({
      version: 1, moment: 'analysis', check: 'reconcile', rolloutId: 'r-1', service: 'orders',
      stage: { index: 2, weight: 10, count: 5 },
      window: { start: '2026-03-01T09:50:00.000Z', end: '2026-03-01T09:58:00.000Z' },
      target: { hostedZoneId: 'Z1', recordName: 'orders.example.com', recordType: 'A', baselineSetIdentifier: 'blue', canarySetIdentifier: 'green' },
      sentAt: NOW, deadline: '2026-03-01T10:00:20.000Z',
    });
  });

  it('fills an SSM hook\'s placeholders from it', () => {
    // Prepare
    const { hooks } = parseVerificationConfig({ hooks: { afterRollback: [{
      name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump',
      parameters: { RolloutId: ['{{ rolloutId }}'], Service: ['{{service}}/{{ target.canarySetIdentifier }} at {{ weight }} %'], Why: ['{{ decision.trigger }}'] },
    }] } });
    const context = buildVerificationContext({
      ...moment, moment: 'afterRollback', check: 'heap-dump', now: new Date(NOW), deadline: DEADLINE,
      decision: { outcome: 'ROLLED_BACK', trigger: 'VERDICT', reasons: ['check failed'] },
    });

    // Act
    const parameters = renderHookParameters(hooks.afterRollback[0] as Extract<typeof hooks.afterRollback[0], { type: 'ssm-automation' }>, context);

    // Assess
    expect(parameters).toEqual({ RolloutId: ['r-1'], Service: ['orders/green at 10 %'], Why: ['VERDICT'] });
  });
});

describe('answers', () => {
  it('turns a well-formed answer into a verdict naming the check, with its details', () => {
    // Act
    const verdict = checkVerdict(lambdaCheck({ critical: true }), answered({ verdict: 'FAIL', reason: '37 records differ', details: { mismatched: 37, sample: ['o-1', 'o-2'] } }), DEADLINE);

    // Assess
    expect(verdict).toEqual({
      name: 'reconcile', verdict: 'FAIL', critical: true, test: 'verification-lambda',
      reason: "check 'reconcile' (lambda orders-reconcile): FAIL: 37 records differ",
      canaryValue: null, baselineValue: null, threshold: {}, sample: { canary: 1, baseline: 0 },
      details: { mismatched: 37, sample: '["o-1","o-2"]', attempts: 1 },
    });
  });

  it.each([
    ['not JSON', 'OK', "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer is not JSON (\"OK\")"],
    ['an array', '[]', "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer is not a JSON object with `verdict` and `reason`"],
    ['a lower-case verdict', { verdict: 'pass', reason: 'fine' }, "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer's verdict is \"\\\"pass\\\"\", not PASS, FAIL or INCONCLUSIVE"],
    ['no verdict', { reason: 'fine' }, "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer's verdict is missing, not PASS, FAIL or INCONCLUSIVE"],
    ['no reason', { verdict: 'PASS' }, "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer (PASS) has no reason: `reason` must be a non-empty string"],
    ['a blank reason', { verdict: 'PASS', reason: ' \n ' }, "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer (PASS) has no reason: `reason` must be a non-empty string"],
    ['details not an object', { verdict: 'PASS', reason: 'ok', details: [1] }, "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer's `details` must be an object"],
  ])('makes an answer that is %s INCONCLUSIVE, naming the check', (_what, body, reason) => {
    // Act
    const verdict = checkVerdict(lambdaCheck(), answered(body), DEADLINE);

    // Assess
    expect(verdict).toMatchObject({ verdict: 'INCONCLUSIVE', reason, sample: { canary: 0, baseline: 0 } });
  });

  it('makes an oversized answer INCONCLUSIVE, even a PASS', () => {
    // Prepare
    const body = JSON.stringify({ verdict: 'PASS', reason: 'ok', details: { blob: 'x'.repeat(MAX_ANSWER_BYTES) } });

    // Act
    const verdict = checkVerdict(lambdaCheck(), answered(body), DEADLINE);

    // Assess
    expect(verdict.verdict).toBe('INCONCLUSIVE');
    expect(verdict.reason).toBe(`check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer is ${Buffer.byteLength(body)} bytes, more than the ${MAX_ANSWER_BYTES} allowed`);
  });

  it('makes a late PASS INCONCLUSIVE, saying how late', () => {
    // Act
    const verdict = checkVerdict(lambdaCheck(), answered({ verdict: 'PASS', reason: 'ok' }, '2026-03-01T10:00:22.500Z'), DEADLINE);

    // Assess
    expect(verdict).toMatchObject({
      verdict: 'INCONCLUSIVE',
      reason: "check 'reconcile' (lambda orders-reconcile) gave no usable answer: the answer came 2.5 s after its deadline 2026-03-01T10:00:20.000Z (timeout 20 s)",
    });
  });

  it('makes errors and timeouts INCONCLUSIVE, naming the check', () => {
    expect(checkVerdict(lambdaCheck(), { status: 'error', reason: 'the function failed (Unhandled): Error: boom', attempts: 1, finishedAt: NOW }, DEADLINE).reason)
      .toBe("check 'reconcile' (lambda orders-reconcile) gave no usable answer: the function failed (Unhandled): Error: boom");
    expect(checkVerdict(lambdaCheck(), { status: 'timed-out', attempts: 2, finishedAt: NOW }, DEADLINE).reason)
      .toBe("check 'reconcile' (lambda orders-reconcile) gave no usable answer: no answer within its 20 s timeout (2 attempts)");
  });

  it('cuts a long reason to one line of at most MAX_REASON_CHARS', () => {
    // Act
    const parsed = parseVerificationAnswer(JSON.stringify({ verdict: 'FAIL', reason: `line one\nline two ${'x'.repeat(2000)}` }));

    // Assess
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.answer.reason.length).toBe(MAX_REASON_CHARS);
    expect(parsed.answer.reason.startsWith('line one line two xxx')).toBe(true);
  });

  it('never yields PASS for an arbitrary answer unless it is a well-formed PASS', () => {
    const wellFormedPass = (body: string): boolean => {
      if (Buffer.byteLength(body) > MAX_ANSWER_BYTES) return false;
      let v: unknown;
      try {
        v = JSON.parse(body);
      } catch {
        return false;
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
      const a = v as Record<string, unknown>;
      const detailsOk = a.details === undefined || (a.details !== null && typeof a.details === 'object' && !Array.isArray(a.details));
      return a.verdict === 'PASS' && typeof a.reason === 'string' && a.reason.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim() !== '' && detailsOk;
    };
    const verdictish = fc.oneof(fc.constantFrom('PASS', 'FAIL', 'INCONCLUSIVE', 'pass', 'Pass', 'PASS ', 'PASSED', 'OK', ''), fc.jsonValue());
    const answerish = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ verdict: verdictish, reason: fc.oneof(fc.string(), fc.jsonValue()), details: fc.oneof(fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue())) }, { requiredKeys: [] })
        .map((o) => JSON.stringify(o)),
    );
    const outcomes = fc.oneof(
      answerish.map((body) => ({ body, finishedAt: NOW })),
      answerish.map((body) => ({ body, finishedAt: '2026-03-01T10:00:20.001Z' })),
    );
    fc.assert(fc.property(outcomes, ({ body, finishedAt }) => {
      const verdict = checkVerdict(lambdaCheck(), { status: 'answered', body, attempts: 1, finishedAt }, DEADLINE);
      const onTime = Date.parse(finishedAt) <= DEADLINE.getTime();
      if (verdict.verdict === 'PASS') expect(onTime && wellFormedPass(body)).toBe(true);
      if (onTime && wellFormedPass(body)) expect(verdict.verdict).toBe('PASS');
      expect(verdict.reason).toContain("check 'reconcile'");
    }), { numRuns: 2000 });
  });
});

describe('alarms', () => {
  const ok = { name: 'orders-5xx', kind: 'metric' as const, state: 'OK' };

  it('passes when every alarm is OK', () => {
    expect(judgeAlarms(alarmCheck(['orders-5xx']), [ok])).toEqual({ verdict: 'PASS', reason: 'all 1 alarm OK', details: { 'orders-5xx': 'OK' } });
  });

  it('fails on any alarm in ALARM, naming it and its reason', () => {
    // Act
    const answer = judgeAlarms(alarmCheck(['orders-5xx', 'orders-composite']), [
      ok, { name: 'orders-composite', kind: 'composite', state: 'ALARM', reason: 'ALARM("orders-latency") is in ALARM' },
    ]);

    // Assess
    expect(answer).toEqual({
      verdict: 'FAIL', reason: 'in ALARM: orders-composite (ALARM("orders-latency") is in ALARM)',
      details: { 'orders-5xx': 'OK', 'orders-composite': 'ALARM' },
    });
  });

  it('makes INSUFFICIENT_DATA the check\'s choice: INCONCLUSIVE by default, FAIL if asked', () => {
    const insufficient = [{ name: 'orders-5xx', kind: 'metric' as const, state: 'INSUFFICIENT_DATA' }];
    expect(judgeAlarms(alarmCheck(['orders-5xx']), insufficient)).toMatchObject({ verdict: 'INCONCLUSIVE', reason: 'INSUFFICIENT_DATA (counted as INCONCLUSIVE): orders-5xx' });
    expect(judgeAlarms(alarmCheck(['orders-5xx'], 'FAIL'), insufficient)).toMatchObject({ verdict: 'FAIL', reason: 'INSUFFICIENT_DATA (counted as FAIL): orders-5xx' });
  });

  it('makes a missing alarm INCONCLUSIVE, naming it', () => {
    expect(judgeAlarms(alarmCheck(['orders-5xx', 'orders-gone']), [ok])).toEqual({
      verdict: 'INCONCLUSIVE',
      reason: "no alarm named 'orders-gone' (or not visible: composite alarms need cloudwatch:DescribeAlarms on '*')",
      details: { 'orders-5xx': 'OK', 'orders-gone': 'MISSING' },
    });
  });
});

describe('what the decision makes of checks', () => {
  const limits = { checksRequired: 1, failureLimit: 0, inconclusiveLimit: 1, maxExtensionSeconds: 600, extendedSeconds: 0 };

  it('counts a check without a usable answer against the inconclusive limit, like a metric without data', () => {
    // Prepare
    const silent = checkVerdict(lambdaCheck(), { status: 'timed-out', attempts: 1, finishedAt: NOW }, DEADLINE);

    // Act
    const first = decideAfterCheck(combineVerdicts([silent]), { passed: 0, failed: 0, inconclusive: 0 }, limits);
    const second = decideAfterCheck(combineVerdicts([silent]), first.counters, limits);

    // Assess
    expect(first).toMatchObject({ action: 'CHECK_AGAIN', counters: { inconclusive: 1 } });
    expect(second.action).toBe('ROLLBACK');
    expect(second.reasons[0]).toBe(silent.reason);
  });

  it('rolls back at once on a critical check\'s FAIL', () => {
    // Prepare
    const failed = checkVerdict(lambdaCheck({ critical: true }), answered({ verdict: 'FAIL', reason: '37 records differ' }), DEADLINE);

    // Act
    const out = decideAfterCheck(combineVerdicts([failed]), { passed: 0, failed: 0, inconclusive: 0 }, { ...limits, failureLimit: 5 });

    // Assess
    expect(out).toMatchObject({ action: 'ROLLBACK', reasons: ["critical metric failed: check 'reconcile' (lambda orders-reconcile): FAIL: 37 records differ"] });
  });
});

describe('running checks and hooks', () => {
  const clock = clockAt(NOW);

  it('runs every check at once with its own request and deadline, and routes by type', async () => {
    // Prepare
    const seen: { check: string; deadline: string; context: unknown }[] = [];
    const lambda: VerificationPort = {
      run: async (check, context, deadline) => {
        seen.push({ check: check.name, deadline: deadline.toISOString(), context });
        return answered({ verdict: 'PASS', reason: 'counts match' });
      },
    };
    const port = routeVerification({ lambda }, clock);
    const checks = parseVerificationConfig({ verification: [
      { name: 'reconcile', type: 'lambda', function: 'f', timeoutSeconds: 5 },
      { name: 'cdc', type: 'http', secretId: 's' },
    ] }).verification;

    // Act
    const verdicts = await runChecks(port, checks, moment, clock, new Date('2026-03-01T10:00:03.000Z'));

    // Assess
    expect(verdicts.map((v) => [v.name, v.verdict, v.reason])).toEqual([
      ['reconcile', 'PASS', "check 'reconcile' (lambda f): PASS: counts match"],
      ['cdc', 'INCONCLUSIVE', "check 'cdc' (http via secret s) gave no usable answer: no http verifier is wired in this step"],
    ]);
    expect(seen).toEqual([{ check: 'reconcile', deadline: '2026-03-01T10:00:03.000Z', context: expect.objectContaining({ check: 'reconcile', deadline: '2026-03-01T10:00:03.000Z', stage: { index: 2, weight: 10, count: 5 } }) }]);
  });

  it('turns a verifier that throws into an INCONCLUSIVE check, and one that hangs too', async () => {
    // Prepare
    const port: VerificationPort = {
      run: async (check) => {
        if (check.name === 'throws') throw new TypeError('bad wiring');
        return new Promise<CheckOutcome>(() => undefined); // never settles
      },
    };
    const checks = parseVerificationConfig({ verification: [
      { name: 'throws', type: 'lambda', function: 'f' }, { name: 'hangs', type: 'lambda', function: 'g', timeoutSeconds: 1 },
    ] }).verification;

    // Act
    const verdicts = await runChecks(port, checks, moment, { now: () => new Date() });

    // Assess
    expect(verdicts.map((v) => [v.verdict, v.reason])).toEqual([
      ['INCONCLUSIVE', "check 'throws' (lambda f) gave no usable answer: the verifier failed: TypeError: bad wiring"],
      ['INCONCLUSIVE', "check 'hangs' (lambda g) gave no usable answer: no answer within its 1 s timeout (1 attempt)"],
    ]);
  });

  it('opens a gate only when every check passes', async () => {
    // Prepare
    const answers: Record<string, unknown> = { cdc: { verdict: 'PASS', reason: 'lag 2 s' }, schema: { verdict: 'INCONCLUSIVE', reason: 'still migrating' } };
    const port: VerificationPort = { run: async (check) => answered(answers[check.name]) };
    const checks = parseVerificationConfig({ verification: [{ name: 'cdc', type: 'lambda', function: 'f' }, { name: 'schema', type: 'lambda', function: 'g' }] }).verification;

    // Act
    const gate = await runGate(port, checks, { ...moment, moment: 'preRollout', window: null }, clock);
    const open = await runGate(port, checks.slice(0, 1), { ...moment, moment: 'preRollout', window: null }, clock);

    // Assess
    expect(gate.open).toBe(false);
    expect(gate.reasons).toEqual(["preRollout gate: check 'schema' (lambda g): INCONCLUSIVE: still migrating"]);
    expect(open).toMatchObject({ open: true, reasons: [] });
  });

  it('starts hooks without ever throwing, and says what happened in one line each', async () => {
    // Prepare
    const { hooks } = parseVerificationConfig({ hooks: { afterRollback: [
      { name: 'heap-dump', type: 'ssm-automation', document: 'CanaryCaptureHeapDump' },
      { name: 'isolate', type: 'lambda', function: 'isolate-tasks' },
      { name: 'broken', type: 'lambda', function: 'x' },
    ] } });
    const ssm: HookPort = { run: async (hook, context) => ({ hook: hook.name, type: hook.type, moment: context.moment, id: 'exec-1', status: 'STARTED', at: NOW }) };
    const lambda: HookPort = {
      run: async (hook, context) => {
        if (hook.name === 'broken') throw new Error('socket hang up');
        return { hook: hook.name, type: hook.type, moment: context.moment, id: 'req-1', status: 'STARTED', at: NOW };
      },
    };

    // Act
    const results = await runHooks(routeHooks({ 'ssm-automation': ssm, lambda }, clock), hooks.afterRollback, { ...moment, moment: 'afterRollback' }, clock);

    // Assess
    expect(results.map(hookResultLine)).toEqual([
      "afterRollback hook 'heap-dump' (ssm-automation): STARTED, id exec-1",
      "afterRollback hook 'isolate' (lambda): STARTED, id req-1",
      "afterRollback hook 'broken' (lambda): FAILED: the hook runner failed: Error: socket hang up",
    ]);
  });
});

describe('what the stack allows', () => {
  const allowed = verificationAllowListFromEnv({
    VERIFICATION_FUNCTION_ARNS: 'arn:aws:lambda:eu-west-1:111122223333:function:orders-reconcile, arn:aws:lambda:eu-west-1:111122223333:function:capture-heap',
    VERIFICATION_SECRET_ARNS: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:canary/cdc-endpoint-AbCdEf',
    VERIFICATION_ALARM_PREFIXES: 'orders-',
    HOOK_AUTOMATION_DOCUMENT_ARNS: 'arn:aws:ssm:eu-west-1:111122223333:automation-definition/CanaryCaptureHeapDump',
    HOOK_AUTOMATION_ROLE_ARN: 'arn:aws:iam::111122223333:role/canary-runbooks',
  });
  const config = (input: VerificationConfigInput) => parseVerificationConfig(input);

  it('accepts what the parameters name, by name, alias or ARN', () => {
    expect(verificationPermissionIssues(config({
      verification: [
        { name: 'a', type: 'lambda', function: 'orders-reconcile:live' },
        { name: 'b', type: 'lambda', function: 'arn:aws:lambda:eu-west-1:111122223333:function:orders-reconcile:7' },
        { name: 'c', type: 'http', secretId: 'canary/cdc-endpoint' },
        { name: 'd', type: 'http', secretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:canary/cdc-endpoint-AbCdEf' },
        { name: 'e', type: 'alarm', alarms: ['orders-5xx', 'orders-composite'] },
      ],
      hooks: { afterRollback: [
        { name: 'h', type: 'ssm-automation', document: 'CanaryCaptureHeapDump', parameters: { AutomationAssumeRole: ['arn:aws:iam::111122223333:role/canary-runbooks'] } },
        { name: 'i', type: 'lambda', function: 'capture-heap' },
      ] },
    }), allowed)).toEqual([]);
  });

  it('refuses anything else, one line per problem naming the field and the parameter', () => {
    expect(verificationPermissionIssues(config({
      verification: [
        { name: 'a', type: 'lambda', function: 'payments-reconcile' },
        { name: 'b', type: 'lambda', function: 'arn:aws:lambda:eu-west-1:444455556666:function:orders-reconcile' },
        { name: 'c', type: 'http', secretId: 'other-secret' },
        { name: 'd', type: 'alarm', alarms: ['orders-5xx', 'billing-5xx'] },
      ],
      hooks: {
        preRollout: [{ name: 'p', type: 'lambda', function: 'cdc-status' }],
        afterRollback: [{ name: 'h', type: 'ssm-automation', document: 'AWS-RestartEC2Instance', parameters: { AutomationAssumeRole: ['arn:aws:iam::111122223333:role/admin'] } }],
      },
    }), allowed)).toEqual([
      "verification[0].function: 'payments-reconcile' is not a function this stack may invoke (VerificationFunctionArns: arn:aws:lambda:eu-west-1:111122223333:function:orders-reconcile, arn:aws:lambda:eu-west-1:111122223333:function:capture-heap); redeploy with its ARN in the VerificationFunctionArns parameter",
      "verification[1].function: 'arn:aws:lambda:eu-west-1:444455556666:function:orders-reconcile' is not a function this stack may invoke (VerificationFunctionArns: arn:aws:lambda:eu-west-1:111122223333:function:orders-reconcile, arn:aws:lambda:eu-west-1:111122223333:function:capture-heap); redeploy with its ARN in the VerificationFunctionArns parameter",
      "verification[2].secretId: 'other-secret' is not a secret this stack may read (VerificationSecretArns: arn:aws:secretsmanager:eu-west-1:111122223333:secret:canary/cdc-endpoint-AbCdEf); redeploy with its full ARN in the VerificationSecretArns parameter",
      "verification[3].alarms[1]: 'billing-5xx' does not start with a prefix this stack may read (VerificationAlarmPrefixes: orders-); redeploy with a prefix of it in the VerificationAlarmPrefixes parameter",
      "hooks.preRollout[0].function: 'cdc-status' is not a function this stack may invoke (VerificationFunctionArns: arn:aws:lambda:eu-west-1:111122223333:function:orders-reconcile, arn:aws:lambda:eu-west-1:111122223333:function:capture-heap); redeploy with its ARN in the VerificationFunctionArns parameter",
      "hooks.afterRollback[0].document: 'AWS-RestartEC2Instance' is not a runbook this stack may start (HookAutomationDocumentArns: arn:aws:ssm:eu-west-1:111122223333:automation-definition/CanaryCaptureHeapDump); redeploy with its automation-definition ARN in the HookAutomationDocumentArns parameter",
      "hooks.afterRollback[0].parameters.AutomationAssumeRole: 'arn:aws:iam::111122223333:role/admin' is not the role this stack may pass to runbooks (HookAutomationRoleArn: arn:aws:iam::111122223333:role/canary-runbooks); use that role or redeploy with this one in the HookAutomationRoleArn parameter",
    ]);
  });

  it('refuses every reference when the parameters are empty (the feature is off)', () => {
    expect(verificationPermissionIssues(config({ verification: [{ name: 'e', type: 'alarm', alarms: ['orders-5xx'] }] }), verificationAllowListFromEnv({}))).toEqual([
      "verification[0].alarms[0]: 'orders-5xx' does not start with a prefix this stack may read (VerificationAlarmPrefixes: empty); redeploy with a prefix of it in the VerificationAlarmPrefixes parameter",
    ]);
  });
});
