/**
 * `canary report --input` (the evidence copied out of S3, or `{ record, checks }` JSON) and
 * `canary simulate --report`: the same report, printed and written as HTML.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkKey, recordKey } from '../../functions/adapters/s3-evidence.ts';
import type { CliIO } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';
import { rolledBackRecord, storedChecks } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'canary-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), color: false, env: {}, cwd: dir };
}

/** The S3 layout of a rollout's evidence, as `aws s3 cp --recursive s3://BUCKET/rollouts/ID/ ./ID` leaves it. */
function writeEvidenceDir(): string {
  const record = rolledBackRecord();
  const root = join(dir, 'bucket');
  for (const c of storedChecks()) {
    const path = join(root, checkKey(record.rolloutId, c.checkNo));
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, JSON.stringify(c));
  }
  writeFileSync(join(root, recordKey(record.rolloutId)), JSON.stringify(record));
  return join(root, 'rollouts', record.rolloutId);
}

describe('canary report --input', () => {
  it('reads a directory copied from S3, prints the summary and timeline, and writes the HTML', async () => {
    // Prepare
    const io = fakeIO();
    const input = writeEvidenceDir();

    // Act
    const code = await main(['report', '--input', input, '--out', 'out/report.html'], io);

    // Assess
    expect(io.stderr).toEqual([]);
    expect(code).toBe(0);
    const text = io.stdout.join('\n');
    expect(text).toContain('Post-incident summary');
    expect(text).toMatch(/time to restore 46 s/);
    expect(text).toContain('3 counted checks (1 passed, 2 failed, 0 inconclusive); 3 of 3 with raw datapoints');
    expect(io.stdout.at(-1)).toBe('HTML report: out/report.html');
    const html = readFileSync(join(dir, 'out/report.html'), 'utf8');
    expect(html.match(/<svg class="chart"/g)).toHaveLength(2);
  });

  it('prints the report model as JSON with --json (and still writes the HTML)', async () => {
    const io = fakeIO();
    const file = join(dir, 'evidence.json');
    writeFileSync(file, JSON.stringify({ record: rolledBackRecord(), checks: storedChecks() }));

    const code = await main(['report', rolledBackRecord().rolloutId, '--input', file, '--json'], io);

    expect(code).toBe(0);
    const model = JSON.parse(io.stdout.join('\n'));
    expect(model.summary.durations.timeToRestore).toBe(46);
    expect(model.htmlReport).toBe(`canary-report-${rolledBackRecord().rolloutId}.html`);
  });

  it('refuses a rollout id that is not one, and an input of another rollout', async () => {
    const io = fakeIO();
    expect(await main(['report', '../etc/passwd'], io)).toBe(1);
    expect(io.stderr[0]).toMatch(/^canary: '\.\.\/etc\/passwd' is not a rollout id/);

    const other = fakeIO();
    expect(await main(['report', 'another-rollout', '--input', writeEvidenceDir()], other)).toBe(1);
    expect(other.stderr[0]).toContain('holds rollout checkout-api-20260302T100000Z-abcd, not another-rollout');
  });
});

describe('canary simulate --report', () => {
  it('writes the report of the simulated run', async () => {
    const io = fakeIO();

    const code = await main(['simulate', '--scenario', 'error-spike', '--seed', '1', '--report', 'sim/report.html'], io);

    expect(code).toBe(2);
    expect(io.stdout.at(-1)).toBe('report: sim/report.html');
    const html = readFileSync(join(dir, 'sim/report.html'), 'utf8');
    expect(html).toContain('Post-incident summary');
    expect(html).toContain('simulation: scenario error-spike, seed 1');
    expect(html.match(/<svg class="chart"/g)?.length).toBeGreaterThanOrEqual(3);
  });
});
