/**
 * In-memory verifiers and hook runners for the simulator and tests, behind the same ports as the
 * AWS adapters (core/verification.ts). Time is the simulator's Clock; what a check answers is up
 * to the scenario:
 *   - MemoryVerifier: a script answers each request (a verdict, a late or malformed answer, an
 *     error, no answer at all); `reconciliationScript` is the `data-mismatch` scenario's check;
 *   - MemoryAlarms + MemoryAlarmVerifier: alarms whose state is a rule of time and stage, judged
 *     by the same judgeAlarms as the CloudWatch adapter; `alarmFromStage` is the `alarm` scenario's;
 *   - MemoryHooks: records the action hooks started, each with an id, as SSM or Lambda would.
 * They copy what they keep, so a caller cannot change their state through what it passed.
 */
import type { Clock } from '../functions/core/ports.ts';
import {
  judgeAlarms, type ActionHook, type AlarmState, type AlarmStateValue, type CheckOutcome, type HookPort, type HookResult,
  type VerificationAnswer, type VerificationCheck, type VerificationContext, type VerificationPort,
} from '../functions/core/verification.ts';

const copy = <T>(value: T): T => structuredClone(value);

/** What a scripted check does with one request. */
export type ScriptedAnswer =
  /** Answers at once. */
  | { answer: VerificationAnswer }
  /** Answers this text (e.g. malformed JSON), after `delaySeconds` (late past the deadline). */
  | { raw: string; delaySeconds?: number }
  /** Answers after `delaySeconds` of simulated time: past the deadline it is a late answer. */
  | { answer: VerificationAnswer; delaySeconds: number }
  /** Fails (a function error, an HTTP 4xx...). */
  | { error: string }
  /** Never answers within the deadline. */
  | { noAnswer: true };

export type AnswerScript = (check: VerificationCheck, context: VerificationContext, now: Date) => ScriptedAnswer;

export interface VerificationCall {
  check: string;
  context: VerificationContext;
  deadline: string;
  at: string;
}

/** A VerificationPort whose answers a script decides; it records every request. */
export class MemoryVerifier implements VerificationPort {
  readonly #clock: Clock;
  readonly #script: AnswerScript;
  readonly #calls: VerificationCall[] = [];

  constructor(options: { clock: Clock; answer: AnswerScript }) {
    this.#clock = options.clock;
    this.#script = options.answer;
  }

  async run(check: VerificationCheck, context: VerificationContext, deadline: Date): Promise<CheckOutcome> {
    const now = this.#clock.now();
    this.#calls.push({ check: check.name, context: copy(context), deadline: deadline.toISOString(), at: now.toISOString() });
    const scripted = this.#script(copy(check), copy(context), now);
    const after = (seconds = 0) => new Date(now.getTime() + seconds * 1000).toISOString();
    if ('error' in scripted) return { status: 'error', reason: scripted.error, attempts: 1, finishedAt: after() };
    if ('noAnswer' in scripted) return { status: 'timed-out', attempts: 1, finishedAt: deadline.toISOString() };
    if ('raw' in scripted) return { status: 'answered', body: scripted.raw, attempts: 1, finishedAt: after(scripted.delaySeconds) };
    const delay = 'delaySeconds' in scripted ? scripted.delaySeconds : 0;
    return { status: 'answered', body: JSON.stringify(scripted.answer), attempts: 1, finishedAt: after(delay) };
  }

  /** Every request so far, oldest first. */
  calls(): VerificationCall[] {
    return copy(this.#calls);
  }
}

/**
 * The `data-mismatch` scenario's reconciliation check: record counts and checksums of the legacy
 * and the new store agree until the canary takes `fromWeight` % of the traffic; from then on
 * `mismatched` records differ (partial writes by the canary).
 */
export function reconciliationScript(options: { fromWeight: number; records?: number; mismatched?: number }): AnswerScript {
  const records = options.records ?? 120_000;
  const mismatched = options.mismatched ?? 37;
  return (_check, context) => {
    if (context.stage.weight < options.fromWeight) {
      return { answer: { verdict: 'PASS', reason: `${records} records match between the legacy and the new store`, details: { legacyRecords: records, newRecords: records, mismatched: 0 } } };
    }
    return {
      answer: {
        verdict: 'FAIL',
        reason: `${mismatched} of ${records} records differ between the legacy and the new store (checksum mismatch)`,
        details: { legacyRecords: records, newRecords: records - mismatched, mismatched },
      },
    };
  };
}

/** An alarm's state at a time, for the request being judged. */
export type AlarmRule = (now: Date, context: VerificationContext) => { state: AlarmStateValue; reason?: string };

/** CloudWatch alarms in memory: each a fixed state or a rule of time and stage. */
export class MemoryAlarms {
  readonly #alarms = new Map<string, { kind: AlarmState['kind']; rule: AlarmRule }>();

  /** Creates or replaces an alarm. */
  set(name: string, state: AlarmStateValue | AlarmRule, kind: AlarmState['kind'] = 'metric'): void {
    const rule: AlarmRule = typeof state === 'function' ? state : () => ({ state });
    this.#alarms.set(name, { kind, rule });
  }

  delete(name: string): void {
    this.#alarms.delete(name);
  }

  /** The alarms of `names` that exist, as DescribeAlarms would give them. */
  describe(names: string[], now: Date, context: VerificationContext): AlarmState[] {
    return names.flatMap((name) => {
      const alarm = this.#alarms.get(name);
      if (!alarm) return [];
      const { state, reason } = alarm.rule(now, context);
      return [{ name, kind: alarm.kind, state, ...(reason ? { reason } : {}), updatedAt: now.toISOString() }];
    });
  }
}

/** A VerificationPort over MemoryAlarms, judged as the CloudWatch adapter judges. */
export class MemoryAlarmVerifier implements VerificationPort {
  readonly #clock: Clock;
  readonly #alarms: MemoryAlarms;

  constructor(options: { clock: Clock; alarms: MemoryAlarms }) {
    this.#clock = options.clock;
    this.#alarms = options.alarms;
  }

  async run(check: VerificationCheck, context: VerificationContext, _deadline: Date): Promise<CheckOutcome> {
    const now = this.#clock.now();
    if (check.type !== 'alarm') return { status: 'error', reason: `the alarm verifier cannot run a ${check.type} check`, attempts: 0, finishedAt: now.toISOString() };
    const answer = judgeAlarms(check, this.#alarms.describe(check.alarms, now, context));
    return { status: 'answered', body: JSON.stringify(answer), attempts: 1, finishedAt: now.toISOString() };
  }
}

/**
 * The `alarm` scenario's rule: OK until the canary has held `weight` % (or more) for
 * `afterSeconds` of its analysis window, then ALARM (mid-stage).
 */
export function alarmFromStage(options: { weight: number; afterSeconds: number; reason?: string }): AlarmRule {
  const reason = options.reason ?? 'Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (1.0)';
  return (now, context) => {
    if (context.stage.weight < options.weight) return { state: 'OK' };
    if (context.stage.weight > options.weight) return { state: 'ALARM', reason };
    const since = context.window ? Date.parse(context.window.start) : Number.NaN;
    return Number.isFinite(since) && now.getTime() - since >= options.afterSeconds * 1000 ? { state: 'ALARM', reason } : { state: 'OK' };
  };
}

/** A HookPort that records the hooks started; those named in `failing` fail to start. */
export class MemoryHooks implements HookPort {
  readonly #clock: Clock;
  readonly #failing: Set<string>;
  readonly #started: { hook: ActionHook; context: VerificationContext; result: HookResult }[] = [];

  constructor(options: { clock: Clock; failing?: string[] }) {
    this.#clock = options.clock;
    this.#failing = new Set(options.failing ?? []);
  }

  async run(hook: ActionHook, context: VerificationContext): Promise<HookResult> {
    const at = this.#clock.now().toISOString();
    const result: HookResult = this.#failing.has(hook.name)
      ? { hook: hook.name, type: hook.type, moment: context.moment, id: null, status: 'FAILED', reason: 'the scenario made this hook fail to start', at }
      : { hook: hook.name, type: hook.type, moment: context.moment, id: `sim-${hook.type}-${this.#started.length + 1}`, status: 'STARTED', at };
    this.#started.push({ hook: copy(hook), context: copy(context), result: copy(result) });
    return result;
  }

  /** Every hook run so far, oldest first. */
  started(): { hook: ActionHook; context: VerificationContext; result: HookResult }[] {
    return copy(this.#started);
  }
}
