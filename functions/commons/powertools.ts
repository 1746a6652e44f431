/** One Logger and one Metrics per Lambda container, shared by the handlers. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { DecisionMetrics } from '../core/ports.ts';

export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'canary-analyzer' });
export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'CanaryAnalyzer', serviceName: 'canary-analyzer' });

/** The workflow's own decisions, published as CloudWatch metrics through EMF. */
export const decisionMetrics: DecisionMetrics = {
  record(name, value) {
    metrics.addMetric(name, MetricUnit.Count, value);
  },
};
