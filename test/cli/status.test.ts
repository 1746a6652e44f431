import { describe, expect, it } from 'vitest';
import { makeStyle } from '../../cli/io.ts';
import { formatStatus } from '../../cli/stack-commands.ts';
import { parseRolloutConfig } from '../../functions/core/config.ts';
import type { RolloutRecord } from '../../functions/core/rollout-record.ts';
import { albEcsConfig } from '../fixtures/configs.ts';

const record: RolloutRecord = {
  rolloutId: 'checkout-v42', name: 'checkout-api', targetKey: 'Z1/api.example.com/A', status: 'RUNNING',
  startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:10:00.000Z', stageIndex: 2, weight: 5,
  pendingApproval: { stageIndex: 2, weight: 25, requestedAt: '2026-01-01T00:10:00.000Z', deadline: '2026-01-01T01:10:00.000Z' },
  // The head keeps the resolved config (its plan is what status shows), not the events.
  config: parseRolloutConfig(albEcsConfig({ stages: [1, 5, 25, 100] })),
};

describe('canary status', () => {
  it('shows the pending manual gate and how to answer it', () => {
    const text = formatStatus(record, undefined, makeStyle(false)).join('\n');
    expect(text).toContain('gate        waiting for approval before stage 3 (canary 25 %) until 2026-01-01T01:10:00.000Z');
    expect(text).toContain('canary approve checkout-v42');
    expect(text).toContain('status      RUNNING · stage 3/4 · canary 5 %');
  });

  it('shows no gate once it is answered', () => {
    const answered = { ...record, approval: { stageIndex: 2, approved: true, by: 'alice', at: '2026-01-01T00:12:00.000Z' } };
    expect(formatStatus(answered, undefined, makeStyle(false)).join('\n')).not.toContain('waiting for approval');
  });
});
