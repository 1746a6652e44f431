/**
 * The HTML report of a simulated error-spike rollout, rendered by a real browser: Debian's
 * headless Chromium takes a screenshot (kept in reports/report-error-spike.png for people to
 * look at) and dumps the DOM it built, in which the charts must be. No Playwright: the chromium
 * binary's own --screenshot and --dump-dom.
 *
 * Without chromium the test is skipped with a message, unless CI=true, where it fails
 * (.ci/run installs Debian's `chromium` package).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../../cli/report/html.ts';
import { reportFromSimulation } from '../../cli/report/command.ts';
import type { ReportModel } from '../../functions/core/report.ts';
import { simulate } from '../../sim/simulate.ts';

const ROOT = join(import.meta.dirname, '../..');
const REPORTS = join(ROOT, 'reports');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const WIDTH = 1280;
const HEIGHT = 2000;

const userDataDir = mkdtempSync(join(tmpdir(), 'canary-chromium-'));
afterAll(() => rmSync(userDataDir, { recursive: true, force: true }));

/** Runs headless Chromium on a file; kills it (its own process group) if it hangs. */
function chromium(extra: string[], file: string, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars',
    `--user-data-dir=${userDataDir}`, `--window-size=${WIDTH},${HEIGHT}`, ...extra, pathToFileURL(file).href,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      reject(new Error(`chromium did not finish within ${timeoutMs} ms:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('the HTML report in headless Chromium', () => {
  let model: ReportModel;
  const htmlFile = join(REPORTS, 'report-error-spike.html');
  const pngFile = join(REPORTS, 'report-error-spike.png');

  it('renders the report of a simulated error-spike rollout and saves a screenshot', async (ctx) => {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI === 'true') throw new Error(`chromium is not installed at ${CHROMIUM}, and CI=true requires it (apt-get install -y chromium)`);
      console.warn(`SKIPPED: no chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_BIN); CI=true makes this a failure`);
      ctx.skip();
    }
    // Prepare
    const config = JSON.parse(readFileSync(join(ROOT, 'examples/rollout.json'), 'utf8')) as unknown;
    const result = await simulate({ config, scenario: 'error-spike', seed: 1 });
    expect(result.outcome).toBe('ROLLED_BACK');
    model = reportFromSimulation(result, result.endedAt)!;
    mkdirSync(REPORTS, { recursive: true });
    writeFileSync(htmlFile, renderHtml(model));
    rmSync(pngFile, { force: true });

    // Act
    const run = await chromium([`--screenshot=${pngFile}`], htmlFile);

    // Assess
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    expect(existsSync(pngFile)).toBe(true);
    const png = readFileSync(pngFile);
    expect(pngSize(png)).toEqual({ width: WIDTH, height: HEIGHT });
    // A blank or error page of this size compresses to a few kB; the report is far more.
    expect(statSync(pngFile).size).toBeGreaterThan(100_000);
  }, 120_000);

  it('has the charts\' SVG elements in the DOM the browser built', async (ctx) => {
    if (!model) ctx.skip();
    // Act
    const run = await chromium(['--dump-dom'], htmlFile);

    // Assess
    expect(run.code, run.stderr.slice(-2000)).toBe(0);
    const dom = run.stdout;
    const charts = [...dom.matchAll(/<svg class="chart" data-metric="([^"]+)"/g)].map((m) => m[1]);
    expect(charts).toEqual(model.metrics.map((m) => m.name));
    for (const cls of ['series series-canary', 'threshold', 'decision-marker', 'restored-marker', 'stage-boundary', 'check-marker']) {
      expect(dom.match(new RegExp(`class="${cls}"`, 'g'))?.length ?? 0, cls).toBeGreaterThanOrEqual(model.metrics.length);
    }
    // A baseline line wherever there is a baseline (the traffic share is the canary's alone).
    const withBaseline = model.metrics.filter((m) => m.baseline.some((p) => p.value !== null)).length;
    expect(withBaseline).toBeGreaterThanOrEqual(3);
    expect(dom.match(/class="series series-baseline"/g)?.length ?? 0).toBeGreaterThanOrEqual(withBaseline);
    expect(dom).toContain('class="breach"');
    expect(dom).toContain('Post-incident summary');
    expect(dom).toMatch(/Time to restore<\/span><b>\d+ s<\/b>/);
    expect(dom).not.toMatch(/<script/i);
  }, 120_000);
});
