/**
 * `canary simulate` and `canary validate` on the examples for the routers beside Route 53 and for
 * verification checks and hooks: the exit codes a pipeline gates on, and the plan a person reads.
 */
import { describe, expect, it } from 'vitest';
import { runMain } from './helpers.ts';

describe('canary simulate on each router', () => {
  it.each(['examples/rollout-alb.yaml', 'examples/rollout-lambda-alias.yaml', 'examples/rollout-appconfig.yaml'])('%s: healthy exits 0, --scenario error-spike exits 2', async (file) => {
    // Act
    const healthy = await runMain(['simulate', '--config', file]);
    const spike = await runMain(['simulate', '--config', file, '--scenario', 'error-spike']);

    // Assess
    expect(healthy.stderr).toBe('');
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toMatch(/^PROMOTED: canary at 100 %/m);
    expect(healthy.stdout).toMatch(/✓ traffic moved: the canary served [\d.]+ % of requests at weight 1 %/);
    expect(spike.code).toBe(2);
    expect(spike.stdout).toMatch(/^ROLLED BACK at stage 3\/5 \(canary 10 %\)/m);
    expect(spike.stdout).toContain('final weights canary 0 / baseline 100 · lock released');
  });

  it('says what the target is and what clients lag behind', async () => {
    // Act
    const alb = await runMain(['simulate', '--config', 'examples/rollout-alb.yaml']);
    const flag = await runMain(['simulate', '--config', 'examples/rollout-appconfig.yaml']);

    // Assess
    // Long lines are wrapped at 120 columns: compare with the whitespace folded.
    const folded = (text: string) => text.replace(/\s+/g, ' ');
    expect(folded(alb.stdout)).toContain('checkout-api: ALB rule arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/checkout-alb/');
    expect(folded(flag.stdout)).toContain('checkout-web: AppConfig flag new-checkout.percentage of profile ur8hx2f (application abc1234, environment 54j1r29)');
    expect(flag.stdout).toMatch(/INSYNC: canary 1 % is live; first check after one client poll \(45 s\) \+ bake \(300 s\)/);
  });

  it.each([
    ['canary-starved', /traffic did not move/],
    ['throughput-drop', /throughput dropped/],
    ['data-mismatch', /check 'reconcile-orders' \(lambda orders-reconcile\): FAIL: 37 of 120000 records differ/],
    ['alarm', /check 'service-alarms' \(alarm orders-health\): FAIL: in ALARM: orders-health/],
  ])('--scenario %s exits 2 and says why', async (scenario, why) => {
    // Act
    const run = await runMain(['simulate', '--scenario', scenario]);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(why);
  });
});

describe('canary validate on each router and on checks and hooks', () => {
  it.each([
    ['examples/rollout-alb.yaml', ['ALB listener rule arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/checkout-alb/', 'weights 0-999, one ModifyRule/ModifyListener', 'AWS/ApplicationELB RequestCount (Sum)']],
    ['examples/rollout-lambda-alias.yaml', ['Lambda alias live of orders-api (lock key lambda:orders-api:live)', 'baseline version 41 → canary version 42', 'AWS/Lambda Invocations (Sum) {FunctionName=orders-api, Resource=orders-api:live, ExecutedVersion=42}']],
    ['examples/rollout-appconfig.yaml', ['AppConfig flag new-checkout (attribute percentage)', 'rollback (the kill switch) deploys it at 0 %, disabled', 'AppConfig.AllAtOnce bakes 10 minutes first', 'Checkout Requests (Sum) {Service=checkout-web, variant=canary}']],
  ] as const)('%s: accepted, and the plan says how the router moves traffic', async (file, lines) => {
    // Act
    const run = await runMain(['validate', file]);

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    for (const line of lines) expect(run.stdout.replace(/\s+/g, ' ')).toContain(line);
    expect(run.stdout).toContain('Traffic checks (proof that traffic moved)');
    expect(run.stdout).toMatch(/traffic share: the canary's share of requests within 50 % of its weight, judged from (30|60) s after in sync/);
  });

  it('examples/rollout-hooks.yaml: accepted and explained: every check, gate and hook, and the metric-math and Metrics Insights queries', async () => {
    // Act
    const run = await runMain(['validate', 'examples/rollout-hooks.yaml']);

    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain('canary   expression 100 * errors / FILL(requests, 0)');
    expect(out).toContain('canary   Metrics Insights SELECT MAX(CPUUtilization)');
    expect(out).not.toContain('undefined');
    expect(out).toContain('Verification checks (beside the metrics at every check; 3)');
    expect(out).toContain('reconcile-orders: lambda orders-reconcile, critical (one FAIL rolls back); timeout 20 s, 3 attempts');
    expect(out).toContain('orders-alarms: alarms orders-5xx, orders-health-composite; timeout 20 s, 3 attempts; INSUFFICIENT_DATA counts as FAIL');
    expect(out).toContain('preRollout gate cdc-running: alarm orders-cdc-replication-lag: must PASS before anything moves');
    expect(out).toContain('beforeShift gate change-freeze: http via secret canary/change-freeze-endpoint before 25 %, 100 %');
    expect(out).toContain('afterRollback heap-dump: SSM Automation CanaryCaptureHeapDump, started right after traffic is back at 100 % baseline');
    expect(out).toContain('afterPromotion announce: lambda announce-release (request-response)');
  });

  it('--json prints the resolved config with its target kind, checks and hooks', async () => {
    // Act
    const run = await runMain(['validate', 'examples/rollout-lambda-alias.yaml', '--json']);

    // Assess
    const { valid, kind, errors, plan: resolved } = JSON.parse(run.stdout);
    expect({ valid, kind, errors }).toEqual({ valid: true, kind: 'rollout', errors: [] });
    expect(resolved.target).toEqual({ type: 'lambda-alias', functionName: 'orders-api', alias: 'live', baselineVersion: '41', canaryVersion: '42' });
    expect(resolved.metrics.map((m: { name: string }) => m.name)).toEqual(['error-rate', 'duration-p99', 'concurrency']);
    expect(resolved.trafficChecks.enabled).toBe(true);
    expect(resolved.verification).toEqual([]);
  });
});
