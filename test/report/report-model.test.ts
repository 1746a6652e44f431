/** The report model of a known rollout: the post-incident facts, the merged series, the timeline. */
import { describe, expect, it } from 'vitest';
import { buildReport, formatDuration, periodValues } from '../../functions/core/report.ts';
import type { RolloutHistory } from '../../functions/core/rollout-record.ts';
import { DECISION, METRICS, rolledBackRecord, storedChecks } from './fixtures.ts';

const GENERATED = '2026-03-02T11:00:00.000Z';

describe('buildReport: post-incident summary', () => {
  it('dates detection at the first failing check of the stage, and restoration at the rollback INSYNC', () => {
    // Prepare
    const record = rolledBackRecord();

    // Act
    const report = buildReport({ record, checks: storedChecks(), metrics: METRICS, generatedAt: GENERATED });

    // Assess
    const s = report.summary!;
    expect(s.trigger).toBe('VERDICT');
    expect(s.detectedAt).toBe('2026-03-02T10:14:00.000Z');
    expect(s.detectedBy).toBe('check #2 (FAIL: error-rate)');
    expect(s.decidedAt).toBe(DECISION.at);
    expect(s.rollback).toEqual({ changeId: 'C3', submittedAt: '2026-03-02T10:16:01.000Z', inSyncAt: '2026-03-02T10:16:46.000Z' });
    expect(s.restoredAt).toBe('2026-03-02T10:16:46.000Z');
    expect(s.firstBreachAt).toBe('2026-03-02T10:11:00.000Z');
    expect(s.firstBad).toEqual({ at: '2026-03-02T10:11:00.000Z', metric: 'error-rate', rule: 'threshold' });
    expect(s.stage).toEqual({ index: 1, stage: 2, weight: 50, setAt: '2026-03-02T10:07:01.000Z', inSyncAt: '2026-03-02T10:07:41.000Z' });
    expect(s.canaryTrafficAt).toBe('2026-03-02T10:00:01.000Z');
    expect(s.peakWeight).toBe(50);
    expect(s.durations).toEqual({
      timeToDetect: 180, // the first bad datapoint (the minute from 10:11:00) → 10:14:00
      stageToDetection: 419, // 10:07:01 → 10:14:00
      breachToDetection: 180, // 10:11:00 → 10:14:00
      detectionToDecision: 120,
      timeToRestore: 46, // decision 10:16:00 → INSYNC 10:16:46
      detectionToRestore: 166,
      canaryExposure: 1005, // 10:00:01 → 10:16:46
    });
    expect(s.checks).toEqual({ total: 3, passed: 1, failed: 2, inconclusive: 0, duringBake: { total: 0, failed: 0 }, whileHeld: { total: 0, failed: 0 } });
    expect(s.incident).toEqual({ at: '2026-03-02T10:16:47.000Z', targets: [{ target: 'sns', ok: true, id: 'msg-1', error: undefined }], statusUpdates: 0 });
    expect(s.headline).toBe('checkout-api rollout checkout-api-20260302T100000Z-abcd was rolled back at stage 2 (50 % canary): ' +
      'error-rate failed its threshold. Traffic was back at 100 % baseline 46 s after the decision.');
  });

  it('lists the thresholds that fired, with the values and the test', () => {
    const report = buildReport({ record: rolledBackRecord(), checks: storedChecks(), metrics: METRICS, generatedAt: GENERATED });

    expect(report.summary!.thresholdsFired).toEqual([{
      metric: 'error-rate', verdict: 'FAIL', critical: true, test: 'threshold-on-mean', unit: 'percent', threshold: { max: 1 },
      canaryValue: 5, baselineValue: 0.1, reason: 'error-rate 5.00 % is above the maximum 1.00 %',
    }]);
    expect(report.summary!.inconclusive).toEqual([]);
    expect(report.metrics.map((m) => [m.name, m.fired, m.inDecision])).toEqual([['error-rate', true, true], ['latency-p99', false, false]]);
  });

  it('says the restoration is not recorded when the rollback never reached INSYNC', () => {
    const record = rolledBackRecord();
    record.events = record.events.filter((e) => !(e.type === 'IN_SYNC' && e.changeId === 'C3'));

    const s = buildReport({ record, checks: storedChecks(), metrics: METRICS }).summary!;

    expect(s.restoredAt).toBeUndefined();
    expect(s.durations.timeToRestore).toBeUndefined();
    expect(s.headline).toContain('The rollback change was submitted but its INSYNC is not recorded.');
    expect(s.caveats.join(' ')).toContain('not in the record');
  });

  it('dates an abort at the decision, detected by the abort request', () => {
    const record = rolledBackRecord();
    const abortedAt = '2026-03-02T10:12:30.000Z';
    const decision = { ...DECISION, trigger: 'ABORTED' as const, at: '2026-03-02T10:13:00.000Z', failing: [], reasons: ['aborted: customer reports'] };
    record.decision = decision;
    record.events = [
      ...record.events.slice(0, 6),
      { type: 'ABORT_REQUESTED', at: abortedAt, reason: 'customer reports' },
      { type: 'DECISION', at: decision.at, decision },
      { type: 'WEIGHTS_SET', at: '2026-03-02T10:13:01.000Z', canary: 0, baseline: 100, changeId: 'C3', stageIndex: 1 },
      { type: 'IN_SYNC', at: '2026-03-02T10:13:31.000Z', changeId: 'C3', canary: 0 },
    ];

    const s = buildReport({ record, checks: storedChecks().slice(0, 1), metrics: METRICS }).summary!;

    expect(s.trigger).toBe('ABORTED');
    expect(s.detectedAt).toBe(decision.at);
    expect(s.detectedBy).toBe(`an abort request at ${abortedAt}`);
    expect(s.thresholdsFired).toEqual([]);
    expect(s.durations.timeToRestore).toBe(31);
    expect(s.headline).toContain('a person aborted it');
  });

  it('records what the service did once back on the baseline (recovery verified or escalated)', () => {
    const record = rolledBackRecord();
    const window = { start: '2026-03-02T10:18:00.000Z', end: '2026-03-02T10:23:00.000Z' };
    record.events.push({ type: 'ESCALATED', at: '2026-03-02T10:24:00.000Z', reasons: ['error-rate 3.00 % is above the maximum 1.00 %'], window, deliveries: [] });

    const report = buildReport({ record, checks: storedChecks(), metrics: METRICS });

    expect(report.summary!.recovery).toEqual({ outcome: 'ESCALATED', at: '2026-03-02T10:24:00.000Z', window, reasons: ['error-rate 3.00 % is above the maximum 1.00 %'] });
    expect(report.timeline.at(-1)).toMatchObject({ level: 'fail', title: 'escalated: the service is still unhealthy after the rollback' });
  });

  it('has no post-incident summary for a promotion', () => {
    const record: RolloutHistory = {
      ...rolledBackRecord(), status: 'PROMOTED',
      decision: { outcome: 'PROMOTED', trigger: 'VERDICT', at: '2026-03-02T10:20:00.000Z', stageIndex: 2, weight: 100, failing: [], reasons: ['every stage passed'] },
    };
    record.events = record.events.slice(0, 4);

    const report = buildReport({ record, checks: storedChecks().slice(0, 1), metrics: METRICS });

    expect(report.summary).toBeNull();
    expect(report.outcome).toBe('PROMOTED');
  });
});

/** Counted checks only (no bake checks, none while held). */
const counted = (total: number, passed: number, failed: number, inconclusive: number) =>
  ({ total, passed, failed, inconclusive, duringBake: { total: 0, failed: 0 }, whileHeld: { total: 0, failed: 0 } });

describe('buildReport: series, stages, checks, timeline', () => {
  it('merges the overlapping windows of a stage into one series per variant, the later check winning', () => {
    const report = buildReport({ record: rolledBackRecord(), checks: storedChecks(), metrics: METRICS });
    const errorRate = report.metrics.find((m) => m.name === 'error-rate')!;

    expect(errorRate.source).toBe('raw');
    expect(errorRate.periodSeconds).toBe(60);
    expect(errorRate.canary.map((p) => [p.at.slice(11, 16), p.value])).toEqual([
      ['10:02', 0.1], ['10:03', 0], ['10:04', 0.1], ['10:05', 0.2], // an absent 5xx count beside requests is 0 %
      ['10:09', 0], ['10:10', 0.2], ['10:11', 4], ['10:12', 5.2], ['10:13', 6], ['10:14', 5.5],
    ]);
    expect(errorRate.baseline).toHaveLength(10);
    expect(errorRate.peak).toEqual({ at: '2026-03-02T10:13:00.000Z', value: 6 });
    expect(errorRate.firstBreach).toEqual({ at: '2026-03-02T10:11:00.000Z', value: 4 });
    expect(errorRate.judged.map((j) => [j.checkNo, j.verdict, j.canaryValue])).toEqual([[1, 'PASS', 0.1], [2, 'FAIL', 4], [3, 'FAIL', 5]]);
  });

  it('falls back to the judged value per check when no raw datapoints were stored', () => {
    const report = buildReport({ record: rolledBackRecord(), metrics: METRICS });
    const errorRate = report.metrics.find((m) => m.name === 'error-rate')!;

    expect(errorRate.source).toBe('judged');
    expect(errorRate.canary.map((p) => p.value)).toEqual([0.1, 4, 5]);
    expect(report.evidence).toEqual({ checksRecorded: 3, checksWithRawData: 0 });
    expect(report.summary!.caveats.join(' ')).toContain('No raw datapoints were stored');
  });

  it('gives each weight change its change id, INSYNC time and checks', () => {
    const report = buildReport({ record: rolledBackRecord(), checks: storedChecks(), metrics: METRICS });

    expect(report.stages.map((s) => [s.weight, s.changeId, s.setAt.slice(11, 19), s.inSyncAt?.slice(11, 19), s.endAt.slice(11, 19), s.checks])).toEqual([
      [10, 'C1', '10:00:01', '10:00:31', '10:07:01', counted(1, 1, 0, 0)],
      [50, 'C2', '10:07:01', '10:07:41', '10:16:01', counted(2, 0, 2, 0)],
      [0, 'C3', '10:16:01', '10:16:46', '10:16:47', counted(0, 0, 0, 0)],
    ]);
    expect(report.checks.map((c) => [c.checkNo, c.verdict, c.hasRawData])).toEqual([[1, 'PASS', true], [2, 'FAIL', true], [3, 'FAIL', true]]);
  });

  it('tells the story in the timeline, with the change ids and the propagation times', () => {
    const report = buildReport({ record: rolledBackRecord(), checks: storedChecks(), metrics: METRICS });

    expect(report.timeline.map((e) => [e.offsetSeconds, e.level, e.title])).toEqual([
      [0, 'info', 'rollout started: stages 10 % → 50 % → 100 %'],
      [1, 'info', 'stage 1: weights set to canary 10 % / baseline 90 %'],
      [31, 'info', 'canary 10 % INSYNC 30 s after it was submitted'],
      [420, 'pass', 'check #1 at stage 1 (10 %): PASS'],
      [421, 'info', 'stage 2: weights set to canary 50 % / baseline 50 %'],
      [461, 'info', 'canary 50 % INSYNC 40 s after it was submitted'],
      [840, 'fail', 'check #2 at stage 2 (50 %): FAIL'],
      [960, 'fail', 'check #3 at stage 2 (50 %): FAIL'],
      [961, 'fail', 'decision: ROLLED BACK at stage 2 (50 %)'],
      [961, 'warn', 'rollback: weights set to canary 0 % / baseline 100 %'],
      [1006, 'pass', 'traffic restored: 100 % baseline INSYNC 45 s after it was submitted'],
      [1007, 'info', 'incident opened (1/1 targets)'],
    ]);
    expect(report.timeline[1]!.details).toEqual(['Route 53 change C1']);
    expect(report.timeline[6]!.details).toEqual(['✗ error-rate 4.00 % is above the maximum 1.00 % (critical)']);
  });

  it('says the incident\'s severity and each status update sent while the recovery watch ran', () => {
    // Prepare
    const record = rolledBackRecord();
    const deliveries = [{ target: 'sns' as const, ok: true, attempts: 1, id: 'msg-2' }, { target: 'opscenter' as const, ok: false, attempts: 3, error: 'boom' }];
    record.events = record.events.map((e) => (e.type === 'INCIDENT' ? { ...e, severity: 'critical' as const, severityReason: 'critical: error-rate failed (a critical check)' } : e));
    record.events.push(
      { type: 'INCIDENT_UPDATE', at: '2026-03-02T10:31:47.000Z', seq: 1, note: 'Status update 1 (every 15 min) at 10:31 UTC.\nTraffic: restored.\nNext: 10:46 UTC.', deliveries },
      { type: 'INCIDENT_UPDATE', at: '2026-03-02T10:46:47.000Z', seq: 2, note: 'Status update 2 (every 15 min) at 10:46 UTC.\nTraffic: unchanged.', deliveries: deliveries.slice(0, 1) },
    );

    // Act
    const report = buildReport({ record, checks: storedChecks(), metrics: METRICS });

    // Assess
    expect(report.timeline.slice(-3).map((e) => [e.offsetSeconds, e.level, e.title, e.details])).toEqual([
      [1007, 'info', 'incident opened (critical; 1/1 targets)', ['severity critical: error-rate failed (a critical check)', 'sns: delivered (msg-1)']],
      [1907, 'warn', 'incident status update 1 (1/2 targets)', ['Traffic: restored.', 'Next: 10:46 UTC.', 'sns: delivered (msg-2)', 'opscenter: FAILED after 3 attempts: boom']],
      [2807, 'info', 'incident status update 2 (1/1 targets)', ['Traffic: unchanged.', 'sns: delivered (msg-2)']],
    ]);
    expect(report.summary!.incident).toMatchObject({ severity: 'critical', severityReason: 'critical: error-rate failed (a critical check)', statusUpdates: 2 });
  });

  it('without metric definitions (no config in the record), takes the metrics from the checks', () => {
    const record = rolledBackRecord();
    const report = buildReport({ record, checks: storedChecks() });
    expect(report.metrics.map((m) => m.name)).toEqual(['error-rate', 'latency-p99']);
    expect(report.metrics[0]!.critical).toBe(true);
  });
});

describe('helpers', () => {
  it('formats durations for people', () => {
    expect([0, 45, 60, 192, 3600, 7500].map(formatDuration)).toEqual(['0 s', '45 s', '1 min', '3 min 12 s', '1 h', '2 h 05 min']);
  });

  it('turns a ratio into a rate in percent per period, and keeps a gauge as it is', () => {
    expect(periodValues('ratio', { numerator: [null, 5, null], denominator: [100, 100, null] })).toEqual([0, 5, null]);
    expect(periodValues('gauge', { values: [1, null, Number.NaN] })).toEqual([1, null, null]);
    expect(periodValues('gauge', { numerator: [1], denominator: [2] })).toEqual([]);
  });
});
