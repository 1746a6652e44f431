/**
 * template.yaml: cfn-lint clean, wired to the state machines it deploys (the rollout and its
 * segments), built from entry points that exist, its stores and alarms as the code expects them,
 * and least-privilege (no mutating action on '*'; Route 53 changes only in the allowed hosted
 * zones, deletes only by the shift; each function exactly the actions its steps call). IAM is
 * checked on the template as CloudFormation would resolve it, for every combination of the
 * parameters and partitions that select a different Fn::If branch.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BY_ACTIVE_INDEX, BY_ROLLOUT_INDEX, BY_START_INDEX } from '../../functions/adapters/dynamodb-store.ts';
import { esbuildFunctions, loadTemplate, ROOT, type CfnTemplate } from '../../scripts/build.ts';

/** The state machines, by logical id, and the ASL file each deploys. */
const STATE_MACHINES: Record<string, string> = {
  RolloutStateMachine: 'statemachines/rollout.asl.json',
  RolloutSegmentStateMachine: 'statemachines/rollout-segment.asl.json',
};

let template: CfnTemplate;
beforeAll(async () => {
  template = await loadTemplate();
});

const resourcesOfType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

describe('cfn-lint', () => {
  it('prints nothing for template.yaml', (ctx) => {
    const run = spawnSync('cfn-lint', ['--', 'template.yaml'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const missing = (run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    if (missing) {
      if (process.env.CI === 'true') throw new Error('cfn-lint is not installed, and CI=true requires it (pip install cfn-lint)');
      console.warn('SKIPPED: cfn-lint is not installed (pip install cfn-lint); CI=true makes this a failure');
      ctx.skip('cfn-lint is not installed');
    }
    expect(run.error).toBeUndefined();
    expect(`${run.stdout}${run.stderr}`.trim()).toBe('');
    expect(run.status).toBe(0);
  });
});

describe('state machine wiring', () => {
  it('runs the safety net on every execution that ends FAILED, TIMED_OUT or ABORTED', () => {
    const net = template.Resources.SafetyNetFunction;
    expect(net?.Type).toBe('AWS::Serverless::Function');
    const events = net!.Properties!.Events as Record<string, { Type: string; Properties: { Pattern: Record<string, unknown> } }>;
    const rules = Object.values(events).filter((e) => e.Type === 'EventBridgeRule');
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.Pattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: 'RolloutStateMachine' }] },
    });
    expect(net!.Properties!.DeadLetterQueue).toEqual({ Type: 'SQS', TargetArn: { 'Fn::GetAtt': ['SafetyNetDeadLetterQueue', 'Arn'] } });
  });

  it('deploys the rollout and its segments, each from its ASL file', () => {
    const machines = Object.fromEntries(resourcesOfType('AWS::Serverless::StateMachine').map(([id, r]) => [id, r.Properties?.DefinitionUri]));
    expect(machines).toEqual(STATE_MACHINES);
    for (const id of Object.keys(STATE_MACHINES)) expect(template.Resources[id]!.Properties!.Type, id).toBe('STANDARD');
  });

  it.each(Object.entries(STATE_MACHINES))('%s substitutes every ${X} of its ASL, and every substitution is used', (id, file) => {
    const asl = readFileSync(join(ROOT, file), 'utf8');
    const used = new Set([...asl.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]!));
    const substitutions = template.Resources[id]!.Properties!.DefinitionSubstitutions as Record<string, unknown>;
    expect(Object.keys(substitutions).sort()).toEqual([...used].sort());
  });

  it.each(Object.keys(STATE_MACHINES))('%s points each Task at a function it may invoke, or at the segment state machine it may start', (id) => {
    const sm = template.Resources[id]!;
    const substitutions = sm.Properties!.DefinitionSubstitutions as Record<string, unknown>;
    const policies = sm.Properties!.Policies as Array<Record<string, unknown>>;
    const invocable = policies.flatMap((p) => (p.LambdaInvokePolicy ? [(p.LambdaInvokePolicy as { FunctionName: { Ref: string } }).FunctionName.Ref] : []));
    const startable = policies.flatMap((p) => [(p as { Statement?: Statement[] }).Statement ?? []].flat())
      .filter((s) => list(s.Action).includes('states:StartExecution')).flatMap((s) => [s.Resource].flat() as unknown[]);
    const functions: string[] = [];
    for (const [name, value] of Object.entries(substitutions)) {
      const getAtt = (value as { 'Fn::GetAtt'?: string[] })['Fn::GetAtt'];
      if (getAtt) {
        expect(getAtt[1], `${name} is !GetAtt <Function>.Arn`).toBe('Arn');
        expect(template.Resources[getAtt[0]!]?.Type, name).toBe('AWS::Serverless::Function');
        expect(invocable, `LambdaInvokePolicy for ${getAtt[0]}`).toContain(getAtt[0]);
        functions.push(getAtt[0]!);
      } else {
        const ref = (value as { Ref?: string }).Ref;
        expect(template.Resources[ref!]?.Type, `${name} is !Ref <StateMachine>`).toBe('AWS::Serverless::StateMachine');
        expect(startable, `states:StartExecution on ${ref}`).toContainEqual({ Ref: ref });
      }
    }
    // It may invoke the functions its ASL names, and no other.
    expect(invocable.sort()).toEqual(functions.sort());
  });
});

describe('the rollout table', () => {
  it('has the keys and the three indexes the store queries (byStart, the sparse byActive keys only, byRollout), and a TTL on ttl', () => {
    const table = template.Resources.RolloutTable!;
    const p = table.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    expect(p.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(p.GlobalSecondaryIndexes).toEqual([
      { IndexName: BY_START_INDEX, KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }, { AttributeName: 'startedAt', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
      // The reconciler reads each head again (consistently) before acting: keys are enough.
      { IndexName: BY_ACTIVE_INDEX, KeySchema: [{ AttributeName: 'activePk', KeyType: 'HASH' }, { AttributeName: 'startedAt', KeyType: 'RANGE' }], Projection: { ProjectionType: 'KEYS_ONLY' } },
      { IndexName: BY_ROLLOUT_INDEX, KeySchema: [{ AttributeName: 'evPk', KeyType: 'HASH' }, { AttributeName: 'evSk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
    ]);
    // Exactly the attributes that are keys somewhere, all strings.
    expect(p.AttributeDefinitions).toEqual(['pk', 'gsi1pk', 'startedAt', 'activePk', 'evPk', 'evSk'].map((AttributeName) => ({ AttributeName, AttributeType: 'S' })));
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect((table as { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
  });
});

describe('alarms and the incident topic', () => {
  it('the dead letters of the safety net and the reconciler\'s errors page the incident topic', () => {
    const alarms = Object.fromEntries(resourcesOfType('AWS::CloudWatch::Alarm').map(([id, r]) => [id, r.Properties as Record<string, unknown>]));
    expect(Object.keys(alarms).sort()).toEqual(['ReconcilerErrorAlarm', 'SafetyNetDeadLetterAlarm']);
    for (const [id, alarm] of Object.entries(alarms)) {
      expect(alarm.AlarmActions, id).toEqual([{ Ref: 'IncidentTopic' }]);
      expect(alarm, id).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold', EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
    }
    expect(alarms.SafetyNetDeadLetterAlarm).toMatchObject({
      Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['SafetyNetDeadLetterQueue', 'QueueName'] } }],
    });
    expect(alarms.ReconcilerErrorAlarm).toMatchObject({
      Namespace: 'AWS/Lambda', MetricName: 'Errors', Statistic: 'Sum',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'ReconcilerFunction' } }],
    });
  });

  it('the topic is encrypted with a customer managed key that CloudWatch alarms may use, and SNS for this account only', () => {
    expect(template.Resources.IncidentTopic!.Properties!.KmsMasterKeyId).toEqual({ Ref: 'IncidentTopicKey' });
    const key = template.Resources.IncidentTopicKey!;
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties!.EnableKeyRotation).toBe(true);
    const statements = (key.Properties!.KeyPolicy as { Statement: Array<Record<string, any>> }).Statement; // eslint-disable-line @typescript-eslint/no-explicit-any
    const bySid = Object.fromEntries(statements.map((st) => [st.Sid, st]));
    expect(Object.keys(bySid).sort()).toEqual(['AccountAdministers', 'CloudWatchAlarmsPublish', 'PublishersInThisAccountThroughSns']);
    // CloudWatch (the alarms' AlarmActions) encrypts what it publishes: without this it cannot page.
    expect(bySid.CloudWatchAlarmsPublish).toEqual({
      Sid: 'CloudWatchAlarmsPublish', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: ['kms:GenerateDataKey*', 'kms:Decrypt'], Resource: '*',
    });
    // The functions publish through SNS, as principals of this account.
    expect(bySid.PublishersInThisAccountThroughSns).toMatchObject({
      Effect: 'Allow', Principal: { AWS: '*' }, Action: ['kms:GenerateDataKey*', 'kms:Decrypt'],
      Condition: { StringEquals: { 'kms:CallerAccount': { Ref: 'AWS::AccountId' }, 'kms:ViaService': { 'Fn::Sub': 'sns.${AWS::Region}.amazonaws.com' } } },
    });
    expect(bySid.AccountAdministers).toMatchObject({ Principal: { AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' } } });
    // No other statement opens the key to everyone.
    for (const st of statements) {
      if (JSON.stringify(st.Principal) === JSON.stringify({ AWS: '*' })) expect(st.Condition, st.Sid).toBeDefined();
    }
  });
});

describe('evidence bucket', () => {
  it('is encrypted, private, owner-enforced, versioned, expires its objects, and refuses plain HTTP', () => {
    const bucket = template.Resources.EvidenceBucket;
    expect(bucket?.Type).toBe('AWS::S3::Bucket');
    const p = bucket!.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
    expect(p.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(p.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(p.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(p.LifecycleConfiguration.Rules[0]).toMatchObject({ Status: 'Enabled', ExpirationInDays: { Ref: 'EvidenceRetentionDays' } });
    expect(template.Parameters?.EvidenceRetentionDays?.Default).toBe(400);

    const policies = resourcesOfType('AWS::S3::BucketPolicy').map(([, r]) => r.Properties as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(policies).toHaveLength(1);
    expect(policies[0]!.Bucket).toEqual({ Ref: 'EvidenceBucket' });
    expect(policies[0]!.PolicyDocument.Statement).toContainEqual(expect.objectContaining({
      Effect: 'Deny', Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    }));
  });

  it('is named in the environment and the outputs (the CLI reads it from there)', () => {
    const vars = (template.Globals?.Function?.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(vars.EVIDENCE_BUCKET).toEqual({ Ref: 'EvidenceBucket' });
    expect((template as unknown as { Outputs: Record<string, { Value: unknown }> }).Outputs.EvidenceBucketName?.Value).toEqual({ Ref: 'EvidenceBucket' });
  });
});

describe('schedules', () => {
  it('are the soak check\'s and the reconciler\'s, nothing else', () => {
    expect(resourcesOfType('AWS::Scheduler::Schedule').map(([id]) => id).sort()).toEqual(['ReconcileSchedule', 'SoakSchedule']);
  });

  it('runs the reconciler on EventBridge Scheduler, always on, every 5 minutes by default, not retried (the next run sweeps again)', () => {
    const p = template.Resources.ReconcileSchedule!.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(p.ScheduleExpression).toEqual({ Ref: 'ReconcileScheduleExpression' });
    expect(p.State).toBe('ENABLED');
    expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
    expect(p.Target).toEqual({
      Arn: { 'Fn::GetAtt': ['ReconcilerFunction', 'Arn'] }, RoleArn: { 'Fn::GetAtt': ['ReconcileSchedulerRole', 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
    });
    expect(template.Parameters?.ReconcileScheduleExpression?.Default).toBe('rate(5 minutes)');
    const fn = template.Resources.ReconcilerFunction!.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(fn.EventInvokeConfig).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 });
    // It may restore many rollouts in one run, each waiting for a stopped execution's last Lambda.
    expect(fn.Timeout).toBe(900);
  });

  it('runs the soak check on EventBridge Scheduler, off by default, with the config from a parameter', () => {
    const p = template.Resources.SoakSchedule!.Properties as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(p.ScheduleExpression).toEqual({ Ref: 'SoakScheduleExpression' });
    expect(p.State).toEqual({ Ref: 'SoakEnabled' });
    expect(p.Target).toMatchObject({
      Arn: { 'Fn::GetAtt': ['SoakCheckFunction', 'Arn'] }, RoleArn: { 'Fn::GetAtt': ['SoakSchedulerRole', 'Arn'] }, Input: { Ref: 'SoakConfigJson' },
    });
    expect(template.Parameters?.SoakScheduleExpression?.Default).toBe('rate(5 minutes)');
    expect(template.Parameters?.SoakEnabled?.Default).toBe('DISABLED');
    expect(template.Parameters?.SoakConfigJson?.Default).toBe('{}');
    expect(template.Parameters?.SoakPostPromotionRollback?.Default).toBe('false');
  });
});

describe('functions', () => {
  it('are all esbuild-built, with entry points that exist and Handlers naming their bundles', () => {
    const functions = esbuildFunctions(template);
    expect(functions.map((f) => f.logicalId).sort()).toEqual(resourcesOfType('AWS::Serverless::Function').map(([id]) => id).sort());
    for (const fn of functions) {
      expect(fn.entryPoints, fn.logicalId).toHaveLength(1);
      const entry = fn.entryPoints[0]!;
      expect(existsSync(join(fn.codeDir, entry)), `${fn.logicalId}: ${entry} exists`).toBe(true);
      // One entry point: esbuild writes <outdir>/<entry file name>.mjs (see template.yaml's header).
      expect(fn.handler, fn.logicalId).toBe(`${basename(entry, extname(entry))}.handler`);
      expect(fn.properties.External, `${fn.logicalId} bundles the AWS SDK`).toEqual([]);
    }
  });

  it('read the environment the adapters need from Globals', () => {
    const vars = (template.Globals?.Function?.Environment as { Variables: Record<string, unknown> }).Variables;
    for (const name of ['TABLE_NAME', 'TOPIC_ARN', 'ALLOWED_HOSTED_ZONE_IDS', 'EVIDENCE_BUCKET', 'STACK_NAME', 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE']) {
      expect(vars, name).toHaveProperty(name);
    }
  });
});

// -------------------------------------------------------------------------------------------
// A small evaluator of CloudFormation intrinsics, enough to resolve the IAM policies the way
// CloudFormation does for given parameter values.
// -------------------------------------------------------------------------------------------

const NO_VALUE = Symbol('AWS::NoValue');

interface Scenario {
  name: string;
  partition: string;
  params: Record<string, string>;
}

interface Context {
  template: CfnTemplate;
  partition: string;
  params: Record<string, string | string[]>;
}

function scenarioContext(s: Scenario): Context {
  const params: Record<string, string | string[]> = {};
  for (const [name, def] of Object.entries(template.Parameters ?? {})) {
    const raw = s.params[name] ?? (def.Default as string | undefined);
    if (raw === undefined) throw new Error(`scenario ${s.name} lacks required parameter ${name}`);
    params[name] = def.Type === 'CommaDelimitedList' ? raw.split(',') : raw;
  }
  return { template, partition: s.partition, params };
}

function ref(name: string, ctx: Context): unknown {
  const pseudo: Record<string, unknown> = {
    'AWS::Partition': ctx.partition, 'AWS::Region': 'eu-west-1', 'AWS::AccountId': '111122223333',
    'AWS::StackName': 'canary', 'AWS::NoValue': NO_VALUE, 'AWS::URLSuffix': 'amazonaws.com',
  };
  if (name in pseudo) return pseudo[name];
  if (name in ctx.params) return ctx.params[name];
  if (name in ctx.template.Resources) return `{${name}}`; // stands for the resource's Ref value
  throw new Error(`Ref to unknown ${name}`);
}

function condition(name: string, ctx: Context): boolean {
  const c = ctx.template.Conditions?.[name];
  if (c === undefined) throw new Error(`unknown condition ${name}`);
  return evaluate(c, ctx) as boolean;
}

function sub(text: string, vars: Record<string, unknown>, ctx: Context): string {
  return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in vars) return String(vars[name]);
    if (name.includes('.')) return `{${name}}`;
    return String(ref(name, ctx));
  });
}

function evaluate(node: unknown, ctx: Context): unknown {
  if (Array.isArray(node)) return node.map((n) => evaluate(n, ctx)).filter((v) => v !== NO_VALUE);
  if (node === null || typeof node !== 'object') return node;
  const entries = Object.entries(node);
  if (entries.length === 1) {
    const [fn, arg] = entries[0]! as [string, unknown];
    const args = arg as unknown[];
    switch (fn) {
      case 'Ref': return ref(arg as string, ctx);
      case 'Condition': return condition(arg as string, ctx);
      case 'Fn::GetAtt': return `{${args.join('.')}}`;
      case 'Fn::If': return condition(args[0] as string, ctx) ? evaluate(args[1], ctx) : evaluate(args[2], ctx);
      case 'Fn::Equals': return evaluate(args[0], ctx) === evaluate(args[1], ctx);
      case 'Fn::Not': return !(evaluate(args[0], ctx) as boolean);
      case 'Fn::And': return args.every((a) => evaluate(a, ctx));
      case 'Fn::Or': return args.some((a) => evaluate(a, ctx));
      case 'Fn::Join': return (evaluate(args[1], ctx) as string[]).join(args[0] as string);
      case 'Fn::Split': return (evaluate(args[1], ctx) as string).split(args[0] as string);
      case 'Fn::Select': return (evaluate(args[1], ctx) as unknown[])[Number(evaluate(args[0], ctx))];
      case 'Fn::Sub': {
        if (typeof arg === 'string') return sub(arg, {}, ctx);
        return sub(args[0] as string, evaluate(args[1], ctx) as Record<string, unknown>, ctx);
      }
      default:
        if (fn.startsWith('Fn::')) throw new Error(`the test's evaluator does not know ${fn}`);
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, evaluate(v, ctx)]).filter(([, v]) => v !== NO_VALUE));
}

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

interface Grant {
  /** Logical id of the function, state machine or policy. */
  owner: string;
  statement: Statement;
}

/** The SAM policy templates the template uses, as SAM expands them. */
function expandPolicyTemplate(name: string, args: Record<string, unknown>, ctx: Context): Statement[] {
  if (name === 'LambdaInvokePolicy') {
    return [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: `arn:${ctx.partition}:lambda:eu-west-1:111122223333:function:${String(args.FunctionName)}*` }];
  }
  throw new Error(`policy template ${name} is unknown to this test: teach expandPolicyTemplate what SAM expands it to`);
}

/** Every IAM statement the template grants, resolved for one scenario; plus managed policy attachments. */
function grants(ctx: Context): { grants: Grant[]; attachments: Record<string, string[]> } {
  const out: Grant[] = [];
  const attachments: Record<string, string[]> = {};
  for (const [id, resource] of Object.entries(ctx.template.Resources)) {
    if (resource.Condition && !condition(resource.Condition, ctx)) continue;
    const props = evaluate(resource.Properties ?? {}, ctx) as Record<string, unknown>;
    if (resource.Type === 'AWS::Serverless::Function' || resource.Type === 'AWS::Serverless::StateMachine') {
      const policies = props.Policies === undefined ? [] : Array.isArray(props.Policies) ? props.Policies : [props.Policies];
      for (const policy of policies as unknown[]) {
        if (typeof policy === 'string') {
          (attachments[id] ??= []).push(policy);
        } else if (policy && typeof policy === 'object' && 'Statement' in policy) {
          for (const s of [(policy as { Statement: Statement | Statement[] }).Statement].flat()) out.push({ owner: id, statement: s });
        } else {
          const [[name, args]] = Object.entries(policy as Record<string, Record<string, unknown>>) as [[string, Record<string, unknown>]];
          for (const s of expandPolicyTemplate(name, args, ctx)) out.push({ owner: id, statement: s });
        }
      }
    } else if (resource.Type === 'AWS::IAM::ManagedPolicy' || resource.Type === 'AWS::IAM::Policy') {
      const doc = props.PolicyDocument as { Statement: Statement | Statement[] };
      for (const s of [doc.Statement].flat()) out.push({ owner: id, statement: s });
    } else if (resource.Type === 'AWS::IAM::Role') {
      for (const p of (props.Policies ?? []) as Array<{ PolicyDocument: { Statement: Statement | Statement[] } }>) {
        for (const s of [p.PolicyDocument.Statement].flat()) out.push({ owner: id, statement: s });
      }
      (attachments[id] ??= []).push(...((props.ManagedPolicyArns ?? []) as string[]));
    }
  }
  return { grants: out, attachments };
}

const list = (v: string | string[]) => [v].flat();
const ZONES = ['Z0123456789ABCDEFGHIJ', 'ZSECOND'];

const SCENARIOS: Scenario[] = ['aws', 'aws-cn', 'aws-us-gov'].flatMap((partition): Scenario[] => [
  { name: `${partition}, defaults`, partition, params: { AllowedHostedZoneIds: ZONES.join(',') } },
  {
    name: `${partition}, everything given`, partition, params: {
      AllowedHostedZoneIds: ZONES.join(','),
      AllowedRecordNames: 'api.example.com,www.example.com',
      WebhookSecretArn: `arn:${partition}:secretsmanager:eu-west-1:111122223333:secret:pagerduty-AbCdEf`,
      AdditionalIncidentTopicArns: `arn:${partition}:sns:eu-west-1:111122223333:oncall,arn:${partition}:sns:eu-west-1:111122223333:team`,
      SoakPostPromotionRollback: 'true',
      VerificationFunctionArns: `arn:${partition}:lambda:eu-west-1:111122223333:function:orders-reconcile,arn:${partition}:lambda:eu-west-1:111122223333:function:capture-heap`,
      VerificationSecretArns: `arn:${partition}:secretsmanager:eu-west-1:111122223333:secret:canary/cdc-AbCdEf`,
      VerificationAlarmPrefixes: 'orders-,payments-',
      HookAutomationDocumentArns: `arn:${partition}:ssm:eu-west-1:111122223333:automation-definition/CanaryCaptureHeapDump`,
      HookAutomationRoleArn: `arn:${partition}:iam::111122223333:role/canary-runbooks`,
      AllowedListenerArns: `arn:${partition}:elasticloadbalancing:eu-west-1:111122223333:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2`,
      AllowedLambdaFunctionArns: `arn:${partition}:lambda:eu-west-1:111122223333:function:checkout,arn:${partition}:lambda:eu-west-1:111122223333:function:cart`,
      AllowedLambdaAliases: 'live',
      AllowedAppConfigApplicationArns: `arn:${partition}:appconfig:eu-west-1:111122223333:application/app1234`,
    },
  },
  { name: `${partition}, alarm checks only`, partition, params: { AllowedHostedZoneIds: ZONES.join(','), VerificationAlarmPrefixes: 'orders-' } },
]);

/**
 * The only actions allowed on Resource '*' besides reads: Step Functions' delivery of execution
 * logs to CloudWatch Logs needs these, and they have no resource-level permissions.
 */
const LOG_DELIVERY = [
  'logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery',
  'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups',
];
const STAR_EXCEPTIONS: Record<string, string[]> = {
  RolloutStateMachine: LOG_DELIVERY,
  RolloutSegmentStateMachine: LOG_DELIVERY,
};

const isReadOnly = (action: string) => /^[a-z0-9-]+:(Get|List|Describe|BatchGet|Query|Scan)[A-Za-z]*$/.test(action);

describe.each(SCENARIOS)('IAM ($name)', (scenario) => {
  let ctx: Context;
  let all: Grant[];
  let attachments: Record<string, string[]>;
  beforeAll(() => {
    ctx = scenarioContext(scenario);
    ({ grants: all, attachments } = grants(ctx));
  });

  it('grants no wildcard action and no mutating action on Resource *', () => {
    expect(all.length).toBeGreaterThan(0);
    const violations: string[] = [];
    for (const { owner, statement } of all) {
      expect(statement.Effect, `${owner} ${statement.Sid ?? ''}`).toBe('Allow');
      for (const action of list(statement.Action)) {
        if (action.includes('*')) violations.push(`${owner}: wildcard action ${action}`);
        const onStar = list(statement.Resource).some((r) => r === '*' || /^arn:[^:]*:[^:]*:[^:]*:[^:]*:\*$/.test(r));
        if (onStar && !isReadOnly(action) && !STAR_EXCEPTIONS[owner]?.includes(action)) {
          violations.push(`${owner}: ${action} on '*'`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('allows ChangeResourceRecordSets only on the allowed hosted zones: CREATE and DELETE to the shift, UPSERT to the rollbacks', () => {
    const changes = all.filter((g) => list(g.statement.Action).some((a) => a === 'route53:ChangeResourceRecordSets'));
    expect(changes.map((g) => g.owner).sort()).toEqual(['ChangeZoneRecordsPolicy', 'RestoreZoneRecordsPolicy']);
    const names = scenario.params.AllowedRecordNames?.split(',');
    for (const { owner, statement } of changes) {
      expect(list(statement.Action), owner).toEqual(['route53:ChangeResourceRecordSets']);
      expect(list(statement.Resource).sort(), owner).toEqual(ZONES.map((z) => `arn:${scenario.partition}:route53:::hostedzone/${z}`).sort());
      const forAll = statement.Condition?.['ForAllValues:StringEquals'];
      // The shift is a compare-and-set (DELETE the exact records, CREATE the new ones); a rollback UPSERTs.
      expect(forAll?.['route53:ChangeResourceRecordSetsActions'], owner).toEqual(owner === 'ChangeZoneRecordsPolicy' ? ['CREATE', 'DELETE'] : ['UPSERT']);
      expect(forAll?.['route53:ChangeResourceRecordSetsRecordTypes'], owner).toEqual(['A', 'AAAA', 'CNAME']);
      expect(forAll?.['route53:ChangeResourceRecordSetsNormalizedRecordNames'], owner).toEqual(names);
    }
    const holders = (policy: string) => Object.entries(attachments).filter(([, a]) => a.includes(`{${policy}}`)).map(([id]) => id).sort();
    expect(holders('ChangeZoneRecordsPolicy')).toEqual(['ShiftTrafficFunction']);
    expect(holders('RestoreZoneRecordsPolicy')).toEqual([
      'ReconcilerFunction', 'RollbackFunction', 'SafetyNetFunction', ...(scenario.params.SoakPostPromotionRollback === 'true' ? ['SoakCheckFunction'] : []),
    ].sort());
  });

  it('reads records only in the allowed hosted zones', () => {
    const reads = all.filter((g) => list(g.statement.Action).includes('route53:ListResourceRecordSets'));
    expect(reads.length).toBeGreaterThan(0);
    for (const { owner, statement } of reads) {
      expect(list(statement.Resource).sort(), owner).toEqual(ZONES.map((z) => `arn:${scenario.partition}:route53:::hostedzone/${z}`).sort());
    }
  });

  it('gives each step only what it needs', () => {
    const actionsOf = (fn: string) => {
      const policies = new Set([fn, ...(attachments[fn] ?? []).map((a) => a.replace(/^\{|\}$/g, ''))]);
      return [...new Set(all.filter((g) => policies.has(g.owner)).flatMap((g) => list(g.statement.Action)))].sort();
    };
    const webhook = scenario.params.WebhookSecretArn ? ['secretsmanager:GetSecretValue'] : [];
    // Verification checks and gates (preflight, shift, analysis) and action hooks (conclude,
    // rollback): only what the parameters name, nothing when they are empty.
    const p = scenario.params;
    const checks = [
      ...(p.VerificationFunctionArns ? ['lambda:InvokeFunction'] : []), ...(p.VerificationSecretArns ? ['secretsmanager:GetSecretValue'] : []),
      ...(p.VerificationAlarmPrefixes ? ['cloudwatch:DescribeAlarms'] : []),
    ];
    const hooks = p.VerificationFunctionArns || p.HookAutomationDocumentArns ? [
      ...(p.VerificationFunctionArns ? ['lambda:InvokeFunction'] : []), ...(p.HookAutomationDocumentArns ? ['ssm:StartAutomationExecution'] : []),
      ...(p.HookAutomationRoleArn ? ['iam:PassRole'] : []),
    ] : [];
    // The routers beside Route 53: read by every step that reads the target, changed by those that move it.
    const routerRead = [
      ...(p.AllowedListenerArns ? ['elasticloadbalancing:DescribeListeners', 'elasticloadbalancing:DescribeRules', 'elasticloadbalancing:DescribeTargetGroups'] : []),
      ...(p.AllowedLambdaFunctionArns ? ['lambda:GetAlias', 'lambda:GetFunctionConfiguration'] : []),
      ...(p.AllowedAppConfigApplicationArns ? [
        'appconfig:GetConfigurationProfile', 'appconfig:GetDeployment', 'appconfig:GetDeploymentStrategy', 'appconfig:GetHostedConfigurationVersion',
        'appconfig:ListDeployments', 'appconfig:ListHostedConfigurationVersions',
      ] : []),
    ];
    const routerChange = [
      ...(p.AllowedListenerArns ? ['elasticloadbalancing:ModifyListener', 'elasticloadbalancing:ModifyRule'] : []),
      ...(p.AllowedLambdaFunctionArns ? ['lambda:CreateAlias', 'lambda:UpdateAlias'] : []),
      ...(p.AllowedAppConfigApplicationArns ? ['appconfig:CreateHostedConfigurationVersion', 'appconfig:StartDeployment', 'appconfig:StopDeployment'] : []),
    ];
    const withAll = (...lists: string[][]) => [...new Set(lists.flat())].sort();
    // Fence (ConditionCheck on the head, Update of the lock), then the head's Update and one Put per event.
    const fencedStep = ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
    // Take over (Update of the head, Put of the lock), restore, record, release; snapshot (events through byRollout).
    const finisher = [
      'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
      'route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets', 's3:PutObject', ...webhook, 'sns:Publish', 'ssm:AddTagsToResource', 'ssm:CreateOpsItem',
    ];
    const owners = [
      'PreflightFunction', 'ShiftTrafficFunction', 'CheckSyncFunction', 'CheckApprovalFunction', 'AnalyzeFunction', 'RollbackFunction', 'ConcludeFunction',
      'SafetyNetFunction', 'ReconcilerFunction', 'VerifyRecoveryFunction', 'SoakCheckFunction', 'SoakSchedulerRole', 'ReconcileSchedulerRole',
      'RolloutStateMachine', 'RolloutSegmentStateMachine',
    ];
    expect(Object.fromEntries(owners.map((id) => [id, actionsOf(id)]))).toEqual({
      // The lock, the head and the first event in one transaction (Puts); the holder or the head read on a refusal.
      PreflightFunction: withAll(['cloudwatch:GetMetricData', 'dynamodb:GetItem', 'dynamodb:PutItem', 'route53:ListResourceRecordSets'], checks, routerRead),
      ShiftTrafficFunction: withAll(fencedStep, ['route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets'], checks, routerRead, routerChange),
      // Reads the target back at 100 % (drift) before promoting.
      CheckSyncFunction: withAll(fencedStep, ['route53:GetChange', 'route53:ListResourceRecordSets'], routerRead),
      // Both judge the live weight: drift read-back, metrics, the check's evidence.
      CheckApprovalFunction: withAll(fencedStep, ['cloudwatch:GetMetricData', 'route53:ListResourceRecordSets', 's3:PutObject'], checks, routerRead),
      AnalyzeFunction: withAll(fencedStep, ['cloudwatch:GetMetricData', 'route53:ListResourceRecordSets', 's3:PutObject'], checks, routerRead),
      // Restores by UPSERT without reading the records; the record's snapshot reads the events.
      RollbackFunction: withAll(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'route53:ChangeResourceRecordSets', 's3:PutObject'], hooks, routerRead, routerChange),
      // Also records a halt and waits in it (fenced polls), and resolves the halt's incident when a person answers.
      ConcludeFunction: withAll([
        'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 's3:PutObject',
        ...webhook, 'sns:Publish', 'ssm:AddTagsToResource', 'ssm:CreateOpsItem', 'ssm:UpdateOpsItem',
      ], hooks),
      SafetyNetFunction: withAll(finisher, ['sqs:SendMessage'], routerRead, routerChange),
      // The safety net's work, on the rollouts whose execution Step Functions says has ended.
      ReconcilerFunction: withAll(finisher, ['states:DescribeExecution'], routerRead, routerChange),
      VerifyRecoveryFunction: ['cloudwatch:GetMetricData', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', ...webhook, 'sns:Publish', 'ssm:UpdateOpsItem'].sort(),
      // Route 53, the lock, the note on the rollout and the rollouts' listing only when the stack lets soaks roll back.
      SoakCheckFunction: [
        'cloudwatch:GetMetricData', 'dynamodb:GetItem', 'dynamodb:UpdateItem', ...webhook, 'sns:Publish',
        'ssm:AddTagsToResource', 'ssm:CreateOpsItem', 'ssm:UpdateOpsItem',
        ...(scenario.params.SoakPostPromotionRollback === 'true'
          ? ['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Query', 'route53:ChangeResourceRecordSets', 'route53:ListResourceRecordSets', ...routerRead, ...routerChange]
          : []),
      ].sort(),
      SoakSchedulerRole: ['lambda:InvokeFunction'],
      ReconcileSchedulerRole: ['lambda:InvokeFunction'],
      // Preflight, then the segments as child executions (startExecution.sync:2).
      RolloutStateMachine: [
        'events:DescribeRule', 'events:PutRule', 'events:PutTargets', 'lambda:InvokeFunction', ...LOG_DELIVERY,
        'states:DescribeExecution', 'states:StartExecution', 'states:StopExecution',
      ].sort(),
      RolloutSegmentStateMachine: ['lambda:InvokeFunction', ...LOG_DELIVERY].sort(),
    });
  });

  it('queries only the indexes each function reads: events for snapshots, active rollouts for the reconciler, the listing for the soak', () => {
    const queries: Record<string, string[]> = {};
    for (const { owner, statement } of all.filter((g) => list(g.statement.Action).includes('dynamodb:Query'))) {
      expect(list(statement.Action), owner).toEqual(['dynamodb:Query']);
      (queries[owner] ??= []).push(...list(statement.Resource));
    }
    const index = (name: string) => `{RolloutTable.Arn}/index/${name}`;
    expect(queries).toEqual({
      RollbackFunction: [index(BY_ROLLOUT_INDEX)],
      ConcludeFunction: [index(BY_ROLLOUT_INDEX)],
      SafetyNetFunction: [index(BY_ROLLOUT_INDEX)],
      ReconcilerFunction: [index(BY_ACTIVE_INDEX), index(BY_ROLLOUT_INDEX)],
      ...(scenario.params.SoakPostPromotionRollback === 'true' ? { SoakCheckFunction: [index(BY_START_INDEX)] } : {}),
    });
  });

  it('lets the rollout start, follow and stop its segments (startExecution.sync:2), and the reconciler only ask about rollout executions', () => {
    const states = all.filter((g) => list(g.statement.Action).some((a) => a.startsWith('states:') || a.startsWith('events:')));
    const byOwner = states.map((g) => [g.owner, list(g.statement.Action), list(g.statement.Resource)]);
    const region = 'eu-west-1:111122223333';
    expect(byOwner).toEqual(expect.arrayContaining([
      ['RolloutStateMachine', ['states:StartExecution'], ['{RolloutSegmentStateMachine}']],
      ['RolloutStateMachine', ['states:DescribeExecution', 'states:StopExecution'], [`arn:${scenario.partition}:states:${region}:execution:{RolloutSegmentStateMachine.Name}:*`]],
      ['RolloutStateMachine', ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'], [`arn:${scenario.partition}:events:${region}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`]],
      ['ReconcilerFunction', ['states:DescribeExecution'], [`arn:${scenario.partition}:states:${region}:execution:{RolloutStateMachine.Name}:*`]],
    ]));
    expect(byOwner).toHaveLength(4);
  });

  it('lets the reconciler\'s schedule invoke the reconciler and nothing else', () => {
    const schedulerGrants = all.filter((g) => g.owner === 'ReconcileSchedulerRole');
    expect(schedulerGrants.map((g) => [list(g.statement.Action), list(g.statement.Resource)])).toEqual([[['lambda:InvokeFunction'], ['{ReconcilerFunction.Arn}']]]);
    expect(attachments.ReconcileSchedulerRole ?? []).toEqual([]);
  });

  it('lets the soak schedule invoke the soak check function and nothing else', () => {
    const schedulerGrants = all.filter((g) => g.owner === 'SoakSchedulerRole');
    expect(schedulerGrants.map((g) => [list(g.statement.Action), list(g.statement.Resource)])).toEqual([[['lambda:InvokeFunction'], ['{SoakCheckFunction.Arn}']]]);
    expect(attachments.SoakSchedulerRole ?? []).toEqual([]);
  });

  it('lets only the steps that store evidence write it, under rollouts/ only, and nothing read it', () => {
    const s3 = all.filter((g) => list(g.statement.Action).some((a) => a.startsWith('s3:')));
    expect([...new Set(s3.map((g) => g.owner))].sort()).toEqual(['AnalyzeFunction', 'CheckApprovalFunction', 'ConcludeFunction', 'ReconcilerFunction', 'RollbackFunction', 'SafetyNetFunction']);
    for (const { owner, statement } of s3) {
      expect(list(statement.Action), owner).toEqual(['s3:PutObject']);
      expect(list(statement.Resource), owner).toEqual(['{EvidenceBucket.Arn}/rollouts/*']);
    }
  });

  it('lets the ALB, Lambda alias and AppConfig routers change only what the stack names, and nothing when it names nothing', () => {
    const p = scenario.partition;
    const routers = all.filter((g) => list(g.statement.Action).some((a) => /^(elasticloadbalancing|lambda|appconfig):/.test(a) && a !== 'lambda:InvokeFunction'));
    const by = (action: string) => routers.filter((g) => list(g.statement.Action).includes(action)).flatMap((g) => list(g.statement.Resource)).sort();
    if (!scenario.params.AllowedListenerArns) {
      expect(routers).toEqual([]);
      return;
    }
    const listener = `arn:${p}:elasticloadbalancing:eu-west-1:111122223333:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2`;
    const fns = ['cart', 'checkout'].map((f) => `arn:${p}:lambda:eu-west-1:111122223333:function:${f}`);
    const app = `arn:${p}:appconfig:eu-west-1:111122223333:application/app1234/*`;
    const strategies = `arn:${p}:appconfig:eu-west-1:111122223333:deploymentstrategy/*`;
    expect(by('elasticloadbalancing:ModifyListener')).toEqual([listener]);
    expect(by('elasticloadbalancing:ModifyRule')).toEqual([`arn:${p}:elasticloadbalancing:eu-west-1:111122223333:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/*`]);
    expect(by('lambda:UpdateAlias')).toEqual([...fns, ...fns.map((f) => `${f}:*`)].sort());
    expect(by('lambda:CreateAlias')).toEqual(by('lambda:UpdateAlias'));
    expect(by('appconfig:CreateHostedConfigurationVersion')).toEqual([app]);
    expect(by('appconfig:StopDeployment')).toEqual([app]);
    expect(by('appconfig:StartDeployment')).toEqual([app, strategies].sort());
  });

  it('scopes DynamoDB to the table, SNS to the incident topics, secrets to the webhook secret', () => {
    for (const { owner, statement } of all) {
      const actions = list(statement.Action);
      const resources = list(statement.Resource);
      if (actions.some((a) => a.startsWith('dynamodb:'))) {
        expect(resources.every((r) => r === '{RolloutTable.Arn}' || r.startsWith('{RolloutTable.Arn}/index/')), owner).toBe(true);
      }
      if (actions.includes('sns:Publish')) {
        const extra = scenario.params.AdditionalIncidentTopicArns?.split(',') ?? [];
        expect(resources.sort(), owner).toEqual(['{IncidentTopic}', ...extra].sort());
      }
      if (actions.includes('secretsmanager:GetSecretValue')) {
        expect(resources, owner).toEqual(owner === 'VerificationChecksPolicy' ? scenario.params.VerificationSecretArns!.split(',') : [scenario.params.WebhookSecretArn]);
      }
      if (actions.some((a) => a.startsWith('ssm:') && a !== 'ssm:StartAutomationExecution')) expect(resources, owner).toEqual(['arn:' + scenario.partition + ':ssm:eu-west-1:111122223333:opsitem/*']);
    }
  });

  it('lets checks and hooks invoke, read, start and pass only what the Verification* / Hook* parameters name', () => {
    const p = scenario.params;
    const grantsOf = (action: string) => all.filter((g) => list(g.statement.Action).includes(action));
    const functions = p.VerificationFunctionArns?.split(',') ?? [];
    // The stack's own functions ({Logical ids}) are invoked by its state machines and schedules: not these.
    const invokes = grantsOf('lambda:InvokeFunction').filter((g) => list(g.statement.Resource).some((r) => !r.includes('{')));
    expect(invokes.map((g) => g.owner).sort()).toEqual(functions.length ? ['HookActionsPolicy', 'VerificationChecksPolicy'] : []);
    for (const { owner, statement } of invokes) {
      expect(list(statement.Resource).sort(), owner).toEqual([...functions, ...functions.map((f) => `${f}:*`)].sort());
    }
    const starts = grantsOf('ssm:StartAutomationExecution');
    expect(starts.map((g) => [g.owner, list(g.statement.Resource)])).toEqual(
      p.HookAutomationDocumentArns ? [['HookActionsPolicy', p.HookAutomationDocumentArns.split(',').map((d) => `${d}:*`)]] : [],
    );
    const passes = grantsOf('iam:PassRole');
    expect(passes.map((g) => [g.owner, list(g.statement.Resource), g.statement.Condition])).toEqual(
      p.HookAutomationRoleArn ? [['HookActionsPolicy', [p.HookAutomationRoleArn], { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } }]] : [],
    );
    const alarms = grantsOf('cloudwatch:DescribeAlarms');
    expect(alarms.map((g) => g.owner)).toEqual(p.VerificationAlarmPrefixes ? ['VerificationChecksPolicy'] : []);
  });
});
