/** The resolved plan of a soak config (the soak check schedule's Input), as `canary validate` prints it. */
import { opsCenterSeverity } from '../functions/core/incident.ts';
import { metricQueryText } from '../functions/core/config.ts';
import { COMPARISON_SHIFT_SECONDS, type SoakConfig } from '../functions/core/soak-config.ts';
import type { Style } from './io.ts';
import { duration, targetLines, thresholdText } from './plan.ts';

/** CloudFormation's limit on a parameter value: the stack takes the soak config as SoakConfigJson. */
export const PARAMETER_LIMIT_BYTES = 4096;

export function formatSoakPlan(config: SoakConfig, raw: unknown, source: string, style: Style, why: string): string[] {
  const lines: string[] = [];
  lines.push(`${style.bold(config.name)}: ${source} is a valid soak config (${why})`);
  lines.push('');
  lines.push(style.bold('Each scheduled run (SoakScheduleExpression, default every 5 minutes)'));
  const shift = COMPARISON_SHIFT_SECONDS[config.comparison];
  lines.push(`  judges the last ${duration(config.windowSeconds)} of complete ${config.periodSeconds} s periods of the live service`);
  lines.push(shift === 0
    ? '  against the absolute thresholds only (comparison: none)'
    : `  against the thresholds and the same window ${duration(shift)} earlier (comparison: ${config.comparison}, for metrics with a baseline)`);
  lines.push('  a breach opens one incident (a long breach stays one), a passing run resolves it; no data changes nothing');
  lines.push('');
  lines.push(style.bold(`Metrics (${config.metrics.length})`));
  for (const m of config.metrics) {
    const compared = shift === 0 && m.baseline ? { ...m, baseline: undefined } : m;
    lines.push(`  ${style.bold(m.name)}: ${m.kind}, ${m.unit}${m.critical ? ', critical' : ''}: ${thresholdText(compared)}`);
    if ('numerator' in m.query) {
      lines.push(`    live ${metricQueryText(m.query.numerator)}`);
      lines.push(`         per ${metricQueryText(m.query.denominator)}`);
    } else {
      lines.push(`    live ${metricQueryText(m.query.value)}`);
    }
  }
  lines.push('');
  lines.push(style.bold('Incident on a breach'));
  const inc = config.incident;
  lines.push('  the stack\'s SNS topic (always)');
  if (inc.snsTopicArn) lines.push(`  SNS topic ${inc.snsTopicArn}`);
  lines.push(inc.opsCenter.enabled
    ? `  OpsCenter OpsItem, severity ${inc.opsCenter.severity} for an error (${opsCenterSeverity('critical', inc.opsCenter.severity)} when a critical metric fails)`
    : '  OpsCenter: off');
  lines.push(inc.webhook ? `  ${inc.webhook.type === 'pagerduty' ? 'PagerDuty Events v2' : 'Slack webhook'} (secret ${inc.webhook.secretId})` : '  webhook: none');
  lines.push('');
  lines.push(style.bold('Post-promotion rollback'));
  const rb = config.postPromotionRollback;
  if (!rb.enabled) {
    lines.push('  off: a soak never moves traffic');
  } else {
    lines.push(`  within ${rb.hours} h after a promotion on the target, while the baseline still exists, a breach moves all traffic back to it`);
    lines.push('  (only where the stack allows it: SoakPostPromotionRollback=true, and the router is one the stack may change)');
    lines.push(...targetLines({ target: rb.target! }));
  }
  const bytes = Buffer.byteLength(JSON.stringify(raw));
  lines.push('');
  lines.push(bytes > PARAMETER_LIMIT_BYTES
    ? style.yellow(`Too long for the stack: ${bytes} bytes as minified JSON; SoakConfigJson takes at most ${PARAMETER_LIMIT_BYTES} (shorten names or drop metrics)`)
    : `As the stack's SoakConfigJson parameter: ${bytes} bytes of minified JSON (CloudFormation takes at most ${PARAMETER_LIMIT_BYTES})`);
  return lines;
}
