/**
 * The recorded-data formats of `canary judge --data` (one window) and `canary backtest
 * --recording` (a whole rollout's periods, with the time of the first): per metric, canary and
 * baseline series, one element per period, oldest first, null where a period has no datapoint.
 */
import { z } from 'zod';
import type { MetricRange, MetricsPort } from './ports.ts';
import type { MetricData, MetricWindow, Series } from './judge.ts';
import type { RolloutMetric } from './config.ts';
import { formatIssues } from './config.ts';
import { ConfigValidationError } from './errors.ts';

const point = z.number().finite().nullable();
const MAX_PERIODS = 100_000;
const GaugeSeriesSchema = z.object({ values: z.array(point).max(MAX_PERIODS) }).strict();
const RatioSeriesSchema = z.object({
  numerator: z.array(point).max(MAX_PERIODS),
  denominator: z.array(point.refine((v) => v === null || v >= 0, 'a denominator (event count) cannot be negative')).max(MAX_PERIODS),
}).strict();
const SeriesSchema = z.union([GaugeSeriesSchema, RatioSeriesSchema], {
  error: 'a series is { "values": [...] } (gauge) or { "numerator": [...], "denominator": [...] } (ratio)',
});

export const MetricWindowSchema = z.object({
  periodSeconds: z.number().int().positive().max(86_400),
  start: z.string().datetime({ offset: true }).optional(),
  metrics: z.record(z.string().min(1).max(64), z.object({ canary: SeriesSchema, baseline: SeriesSchema.optional() }).strict()),
}).strict();

export const RecordingSchema = MetricWindowSchema.extend({
  start: z.string().datetime({ offset: true }),
});
export type Recording = z.infer<typeof RecordingSchema>;

function parseWith<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigValidationError(formatIssues(result.error).map((i) => `${what} ${i}`));
  return result.data;
}

export const parseMetricWindow = (input: unknown): MetricWindow => parseWith(MetricWindowSchema, input, 'data:') as MetricWindow;
export const parseRecording = (input: unknown): Recording => parseWith(RecordingSchema, input, 'recording:');

/** Replays a recording as CloudWatch would answer: the periods of the asked range, by metric name. */
export class RecordingMetrics implements MetricsPort {
  readonly #recording: Recording;
  readonly #startMs: number;
  constructor(recording: Recording) {
    this.#recording = recording;
    this.#startMs = Date.parse(recording.start);
  }

  get periods(): number {
    return Math.max(0, ...Object.values(this.#recording.metrics).flatMap((m) => [m.canary, m.baseline].filter(Boolean).map((s) => seriesLength(s!))));
  }

  async fetchWindow(metrics: RolloutMetric[], range: MetricRange): Promise<MetricWindow> {
    const period = this.#recording.periodSeconds;
    if (range.periodSeconds !== period) {
      throw new ConfigValidationError([`analysisPeriodSeconds: the recording has ${period} s periods; set analysisPeriodSeconds to ${period}`]);
    }
    const from = Math.round((range.start.getTime() - this.#startMs) / 1000 / period);
    const n = Math.max(0, Math.floor((range.end.getTime() - range.start.getTime()) / 1000 / period));
    const slice = (values: (number | null)[]) => Array.from({ length: n }, (_, i) => values[from + i] ?? null);
    const sliceSeries = (s: Series): Series => ('values' in s
      ? { values: slice(s.values) }
      : { numerator: slice(s.numerator), denominator: slice(s.denominator) });
    const out: Record<string, MetricData> = {};
    for (const metric of metrics) {
      const data = this.#recording.metrics[metric.name];
      if (!data) continue;
      out[metric.name] = { canary: sliceSeries(data.canary), ...(data.baseline ? { baseline: sliceSeries(data.baseline) } : {}) };
    }
    return { periodSeconds: period, start: range.start.toISOString(), metrics: out };
  }
}

function seriesLength(s: Series): number {
  return 'values' in s ? s.values.length : Math.max(s.numerator.length, s.denominator.length);
}
