/**
 * The evidence over the real S3 wire protocol (moto_server), and `canary report ID` reading a
 * "deployed" stack: its outputs (CloudFormation), the rollout record (DynamoDB) and the evidence
 * (S3), with the real SDK clients the CLI builds.
 */
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRollouts } from '../../functions/adapters/dynamodb-store.ts';
import { checkKey, S3Evidence } from '../../functions/adapters/s3-evidence.ts';
import type { CliIO } from '../../cli/io.ts';
import { main } from '../../cli/main.ts';
import { motoClientConfig, motoEnv, motoSkipReason, useMoto } from '../helpers/moto.ts';
import { awsClients } from '../integration/support/aws.ts';
import { createRolloutsTableFromTemplate } from '../helpers/rollouts-table.ts';
import { rolledBackRecord, storedChecks } from './fixtures.ts';

const skip = motoSkipReason();
const BUCKET = 'canary-evidence-test';
const TABLE = 'canary-rollouts-test';

describe.skipIf(skip !== null)('evidence on S3 (moto) and canary report against a stack', () => {
  const moto = useMoto();
  const dir = mkdtempSync(join(tmpdir(), 'canary-report-moto-'));
  const saved = { ...process.env };
  let s3: S3Client;

  beforeAll(async () => {
    // The CLI's clients take their credentials from the environment, as they would on a laptop.
    Object.assign(process.env, motoEnv(moto.endpoint));
    s3 = new S3Client({ ...motoClientConfig(moto.endpoint), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const clients = awsClients(moto.endpoint);
    await createRolloutsTableFromTemplate(clients.dynamo, TABLE);
    const record = rolledBackRecord();
    // The head and its events, as the workflow's steps would have left them (the lock given back at the end).
    const { events, ...head } = record;
    const store = new DynamoRollouts(clients.doc, TABLE);
    expect(await store.begin(head, events, { key: head.targetKey, leaseSeconds: 60, now: new Date(head.startedAt) })).toEqual({ started: true });
    await store.releaseLock(head.targetKey, head.rolloutId);
    expect(await store.history(head.rolloutId)).toEqual(record);
    const evidence = new S3Evidence(s3, BUCKET);
    for (const { rolloutId, checkNo, ...check } of storedChecks()) await evidence.putCheck(rolloutId, checkNo, check);
    await evidence.putRecord(record.rolloutId, record);
  });

  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    rmSync(dir, { recursive: true, force: true });
  });

  const io = (): CliIO & { stdout: string[]; stderr: string[] } => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), color: false, env: motoEnv(moto.endpoint), cwd: dir };
  };

  it('stores JSON objects, encrypted, that read back as they were written', async () => {
    const record = rolledBackRecord();
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: checkKey(record.rolloutId, 2) }));
    expect(object.ContentType).toBe('application/json');
    expect(object.ServerSideEncryption).toBe('AES256');

    const got = await new S3Evidence(s3, BUCKET).getRollout(record.rolloutId);
    expect(got).toEqual({ record, checks: storedChecks() });
  });

  it('canary report ID --table --bucket reads the record and the evidence and writes the HTML', async () => {
    const out = io();
    const id = rolledBackRecord().rolloutId;

    const code = await main(['report', id, '--table', TABLE, '--bucket', BUCKET, '--out', 'r.html'], out);

    expect(out.stderr).toEqual([]);
    expect(code).toBe(0);
    const text = out.stdout.join('\n');
    expect(text).toContain('3 counted checks (1 passed, 2 failed, 0 inconclusive); 3 of 3 with raw datapoints');
    expect(text).toContain(`evidence: s3://${BUCKET}/rollouts/${id}/`);
    expect(text).toMatch(/time to restore 46 s/);
    expect(readFileSync(join(dir, 'r.html'), 'utf8')).toContain('Post-incident summary');
  });

  it('canary report ID --stack finds the table and the bucket in the stack\'s outputs', async () => {
    const cfn = new CloudFormationClient(motoClientConfig(moto.endpoint));
    await cfn.send(new CreateStackCommand({
      StackName: 'canary-analyzer',
      TemplateBody: JSON.stringify({
        Resources: { Topic: { Type: 'AWS::SNS::Topic' } },
        Outputs: { RolloutTableName: { Value: TABLE }, EvidenceBucketName: { Value: BUCKET } },
      }),
    }));
    const out = io();

    const code = await main(['report', rolledBackRecord().rolloutId, '--stack', 'canary-analyzer', '--json', '--out', 's.html'], out);

    expect(out.stderr).toEqual([]);
    expect(code).toBe(0);
    const model = JSON.parse(out.stdout.join('\n'));
    expect(model.evidence).toEqual({ checksRecorded: 3, checksWithRawData: 3 });
    expect(model.source).toBe('stack canary-analyzer');
  });

  it('reports a rollout recorded before the upgrade, whose events are inline on its one item', async () => {
    // Prepare: the item as the previous DynamoRollouts wrote it (head and events in one item, no event items).
    const { events, ...head } = rolledBackRecord();
    const old = { ...head, rolloutId: 'checkout-api-before-upgrade' };
    const { incident: _new, eventCount: _count, lastChange: _change, lastCheck: _check, checkCount: _checks, ...oldHead } = old;
    await awsClients(moto.endpoint).doc.send(new PutCommand({
      TableName: TABLE, Item: { ...oldHead, incidentOpened: true, events, pk: `rollout#${old.rolloutId}`, gsi1pk: 'rollout' },
    }));
    const out = io();

    // Act
    const code = await main(['report', old.rolloutId, '--table', TABLE, '--bucket', BUCKET, '--json', '--out', 'old.html'], out);

    // Assess
    expect(code).toBe(0);
    const model = JSON.parse(out.stdout.join('\n'));
    expect(model.timeline.map((e: { title: string }) => e.title)).toContain('decision: ROLLED BACK at stage 2 (50 %)');
    expect(model.timeline).toHaveLength(events.length);
    expect(model.summary.durations.timeToRestore).toBe(46);
  });

  it('still reports, from the record alone, when the evidence cannot be read', async () => {
    const out = io();

    const code = await main(['report', rolledBackRecord().rolloutId, '--table', TABLE, '--bucket', 'no-such-bucket', '--out', 'n.html'], out);

    expect(code).toBe(0);
    expect(out.stderr.join('\n')).toMatch(/warning: could not read the evidence in s3:\/\/no-such-bucket\/.*NoSuchBucket/);
    expect(out.stdout.join('\n')).toContain('3 counted checks (1 passed, 2 failed, 0 inconclusive); 0 of 3 with raw datapoints');
  });
});
