/**
 * The HTML and terminal renderers: self-contained, and safe with hostile text (a reason quoting
 * an abort message, a metric name from a tampered record) in every place it can appear.
 */
import { describe, expect, it } from 'vitest';
import { buildReport } from '../../functions/core/report.ts';
import type { RolloutHistory } from '../../functions/core/rollout-record.ts';
import { makeStyle } from '../../cli/io.ts';
import { esc, renderHtml } from '../../cli/report/html.ts';
import { printable, renderTerminal } from '../../cli/report/terminal.ts';
import { METRICS, rolledBackRecord, storedChecks } from './fixtures.ts';

const SCRIPT = '<script>alert(document.cookie)</script>';
const ATTR = '"><img src=x onerror=alert(1)>';
const HOSTILE_METRIC = '<svg onload=alert(2)>';

/** The fixture, with hostile text in a reason, an abort message, the name, and a metric name. */
function hostileRecord(): RolloutHistory {
  const record = rolledBackRecord();
  record.name = `checkout${SCRIPT}`;
  record.decision = { ...record.decision!, reasons: [`aborted: ${SCRIPT}`, `quote ${ATTR}`] };
  record.events = record.events.map((e) => {
    if (e.type === 'CHECK') return { ...e, metrics: [...e.metrics, { name: HOSTILE_METRIC, verdict: 'FAIL' as const, reason: `${HOSTILE_METRIC} ${ATTR}`, canaryValue: 1, baselineValue: 0 }] };
    if (e.type === 'DECISION') return { ...e, decision: record.decision! };
    return e;
  });
  record.events.push({ type: 'NOTE', at: record.updatedAt, message: `\u001b[2J\u001b[31mred ${SCRIPT}` });
  return record;
}

describe('renderHtml', () => {
  const model = buildReport({ record: hostileRecord(), checks: storedChecks(), metrics: METRICS, generatedAt: '2026-03-02T11:00:00.000Z' });
  const html = renderHtml(model);

  /** Every tag of the document: escaped text has no '<', so these are the renderer's own. */
  const tags = [...html.matchAll(/<([a-zA-Z][\w-]*)((?:[^>"]|"[^"]*")*)>/g)]
    // Attribute names only: quoted values (escaped text) are emptied.
    .map((m) => ({ name: m[1]!.toLowerCase(), attributes: m[2]!.replace(/"[^"]*"/g, '""') }));

  it('escapes hostile text wherever it appears: no element or attribute is injected', () => {
    expect(new Set(tags.map((t) => t.name))).not.toContain('script');
    expect(new Set(tags.map((t) => t.name))).not.toContain('img');
    expect(tags.filter((t) => /\son\w+\s*=/i.test(t.attributes))).toEqual([]);
    expect(html).toContain('aborted: &lt;script&gt;alert(document.cookie)&lt;/script&gt;');
    expect(html).toContain('quote &quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('data-metric="&lt;svg onload=alert(2)&gt;"');
    expect(html).not.toContain('\u001b');
  });

  it('is one self-contained file: inline CSS and SVG, no script, nothing fetched, and a CSP that forbids both', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
    expect(html).not.toMatch(/<link\b|<iframe\b|<object\b|<embed\b|@import|url\(/i);
    expect(tags.filter((t) => /\s(src|href|xlink:href|action)\s*=/i.test(t.attributes))).toEqual([]);
    expect(tags.filter((t) => t.name === 'svg').length).toBe(model.metrics.length);
    // The only URL is the SVG namespace, which is an identifier, not a fetch.
    expect([...html.matchAll(/https?:\/\/[^\s"'<)]+/g)].map((m) => m[0])).toEqual(
      Array(model.metrics.length).fill('http://www.w3.org/2000/svg'),
    );
  });

  it('draws one chart per metric with canary, baseline, threshold, stage boundaries and the decision', () => {
    const charts = [...html.matchAll(/<svg class="chart" data-metric="([^"]*)"[\s\S]*?<\/svg>/g)];
    expect(charts.map((c) => c[1])).toEqual(['error-rate', 'latency-p99', '&lt;svg onload=alert(2)&gt;']);
    const errorRate = charts[0]![0];
    expect(errorRate).toContain('class="series series-canary"');
    expect(errorRate).toContain('class="series series-baseline"');
    expect(errorRate).toContain('class="threshold"');
    expect(errorRate).toContain('max 1.00 %');
    expect(errorRate.match(/class="stage-boundary"/g)).toHaveLength(3);
    expect(errorRate).toContain('class="decision-marker"');
    expect(errorRate).toContain('class="restored-marker"');
    expect(errorRate.match(/class="breach"/g)).toHaveLength(4); // 4, 5.2, 6 and 5.5 % are above 1 %
    expect(errorRate.match(/class="check-marker"/g)).toHaveLength(3);
  });

  it('carries the post-incident facts: detection, time to restore, the thresholds that fired', () => {
    expect(html).toContain('Post-incident summary');
    expect(html).toMatch(/Time to restore<\/span><b>46 s<\/b>/);
    expect(html).toMatch(/Detected<\/th><td class="mono">\+00:14:00/);
    expect(html).toMatch(/<td><b>error-rate<\/b> <span class="chip chip-critical">critical<\/span><\/td>/);
    expect(html).toContain('Route 53 change <span class="mono">C3</span>');
  });
});

describe('esc', () => {
  it('escapes the five HTML metacharacters and drops control characters', () => {
    expect(esc(`<a href="x" title='y'>&\u0000\u001b</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    expect(esc(undefined)).toBe('');
    expect(esc(42)).toBe('42');
  });
});

describe('renderTerminal', () => {
  const model = buildReport({ record: hostileRecord(), checks: storedChecks(), metrics: METRICS });

  it('strips control characters from record text, so a reason cannot drive the terminal', () => {
    const lines = renderTerminal(model, { style: makeStyle(false), width: 100 });
    expect(lines.join('\n')).not.toContain('\u001b');
    expect(lines.join('\n')).toContain(`[2J[31mred ${SCRIPT}`);
    expect(printable('a\u001b[31mb\u0007\tc')).toBe('a[31mb c');
  });

  it('prints the summary, a chart per metric and the timeline; colors only when asked', () => {
    const plain = renderTerminal(model, { style: makeStyle(false), width: 100 });
    const text = plain.join('\n');
    expect(text).toContain('Post-incident summary');
    expect(text).toMatch(/traffic restored\s+\+00:16:46\s+time to restore 46 s/);
    expect(text).toMatch(/detected\s+\+00:14:00\s+by check #2 \(FAIL: error-rate, <svg onload=alert\(2\)>\)/);
    expect(text).toContain('✗ error-rate (critical): canary 5.00 %, baseline 0.100 %; max 1.00 %');
    expect(plain.filter((l) => l.includes(' ┤')).length).toBe(4 * model.metrics.length);
    expect(plain.some((l) => /[▁▂▃▄▅▆▇█]/.test(l))).toBe(true);
    expect(text).toMatch(/└10%─+50%─+▲/);
    expect(plain.filter((l) => l.includes(' ┤')).every((l) => l.length <= 100)).toBe(true); // charts fit the width

    const colored = renderTerminal(model, { style: makeStyle(true), width: 100 }).join('\n');
    expect(colored).toContain('\u001b[31m');
  });
});
