/**
 * `canary simulate` with `onFailure: halt`: nobody answers in the simulator, so the run ends at the
 * halt, HALTED with exit 3 (distinct from promoted 0 and rolled back 2), the weights frozen and
 * the lock still held; --json says the same with the halt's stage.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers.ts';

const haltConfig = () => {
  const config = JSON.parse(readFileSync(new URL('../../examples/rollout.json', import.meta.url), 'utf8'));
  const file = join(mkdtempSync(join(tmpdir(), 'canary-halt-')), 'halt.json');
  writeFileSync(file, JSON.stringify({ ...config, onFailure: 'halt' }));
  return file;
};

describe('canary simulate with onFailure: halt', () => {
  it('error-spike: HALTED at the failing stage, exit 3, weights frozen, what to answer', () => {
    // Prepare
    const file = haltConfig();
    // Act
    const run = runCli(['simulate', '--config', file, '--scenario', 'error-spike']);
    const json = runCli(['simulate', '--config', file, '--scenario', 'error-spike', '--json']);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(3);
    const text = run.stdout.replace(/\s+/g, ' ');
    expect(text).toMatch(/HALTED at stage 3\/5 \(canary 10 %\), decided at \+\d\d:\d\d:\d\d simulated: the weights are frozen and the rollout waits for a person/);
    expect(text).toContain('answer with: canary abort sim-error-spike-1 | canary promote sim-error-spike-1 --full | canary resume sim-error-spike-1');
    expect(text).toContain('weights frozen at canary 10 / baseline 90 · lock held by sim-error-spike-1');
    expect(text).not.toContain('ROLLED BACK');
    expect(json.code).toBe(3);
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ outcome: 'HALTED', exitCode: 3, halted: { stage: 3, weight: 10 } });
  });
});
