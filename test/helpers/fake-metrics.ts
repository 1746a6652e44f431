/**
 * A MetricsPort whose datapoints come from a function of (metric, variant, role, period start),
 * with every fetch recorded: enough to script a service's health over time in tests.
 */
import type { RolloutMetric } from '../../functions/core/config.ts';
import type { MetricWindow, Series } from '../../functions/core/judge.ts';
import type { MetricRange, MetricsPort } from '../../functions/core/ports.ts';

export type Variant = 'canary' | 'baseline';
export type Role = 'value' | 'numerator' | 'denominator';
export type Datapoint = (metric: string, variant: Variant, role: Role, at: Date) => number | null;

export class ScriptedMetrics implements MetricsPort {
  readonly fetches: { metrics: string[]; start: string; end: string; periodSeconds: number }[] = [];
  datapoint: Datapoint;

  constructor(datapoint: Datapoint) {
    this.datapoint = datapoint;
  }

  async fetchWindow(metrics: RolloutMetric[], range: MetricRange): Promise<MetricWindow> {
    this.fetches.push({ metrics: metrics.map((m) => m.name), start: range.start.toISOString(), end: range.end.toISOString(), periodSeconds: range.periodSeconds });
    const periodMs = range.periodSeconds * 1000;
    const periods = Math.max(0, Math.floor((range.end.getTime() - range.start.getTime()) / periodMs));
    const at = (k: number) => new Date(range.start.getTime() + k * periodMs);
    const series = (m: RolloutMetric, variant: Variant): Series => {
      const roles: Role[] = 'numerator' in m.queries[variant] ? ['numerator', 'denominator'] : ['value'];
      const values = (role: Role) => Array.from({ length: periods }, (_, k) => this.datapoint(m.name, variant, role, at(k)));
      return roles.length === 2 ? { numerator: values('numerator'), denominator: values('denominator') } : { values: values('value') };
    };
    return {
      periodSeconds: range.periodSeconds,
      start: range.start.toISOString(),
      metrics: Object.fromEntries(metrics.map((m) => [m.name, { canary: series(m, 'canary'), baseline: series(m, 'baseline') }])),
    };
  }
}
