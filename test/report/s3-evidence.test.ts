import {
  GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkKey, recordKey, S3Evidence } from '../../functions/adapters/s3-evidence.ts';
import { ThrottledError, TransientAwsError } from '../../functions/core/errors.ts';
import type { StoredCheck } from '../../functions/core/ports.ts';
import { rolledBackRecord, storedChecks } from './fixtures.ts';

const s3Mock = mockClient(S3Client);
const BUCKET = 'canary-evidence-111122223333';
const ID = 'checkout-api-20260302T100000Z-abcd';

/** A GetObject body as the SDK returns it (only what the adapter uses). */
const body = (value: unknown) => ({ Body: { transformToString: async () => JSON.stringify(value) } }) as never;

describe('S3Evidence', () => {
  let evidence: S3Evidence;
  beforeEach(() => {
    s3Mock.reset();
    evidence = new S3Evidence(new S3Client({ region: 'eu-west-1' }), BUCKET);
  });

  describe('putCheck', () => {
    it('writes the check as encrypted JSON under rollouts/<id>/checks/<nnnn>.json', async () => {
      // Prepare
      s3Mock.on(PutObjectCommand).resolves({});
      const { rolloutId: _id, checkNo: _no, ...check } = storedChecks()[1]!;

      // Act
      await evidence.putCheck(ID, 2, check);

      // Assess
      expect(s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input)).toEqual([{
        Bucket: BUCKET,
        Key: `rollouts/${ID}/checks/0002.json`,
        Body: JSON.stringify({ rolloutId: ID, checkNo: 2, ...check }),
        ContentType: 'application/json',
        ServerSideEncryption: 'AES256',
      }]);
    });

    it('writes the same key when a retried step stores the same check again', async () => {
      s3Mock.on(PutObjectCommand).resolves({});
      const { rolloutId: _id, checkNo: _no, ...check } = storedChecks()[0]!;

      await evidence.putCheck(ID, 1, check);
      await evidence.putCheck(ID, 1, check);

      const keys = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key);
      expect(keys).toEqual([`rollouts/${ID}/checks/0001.json`, `rollouts/${ID}/checks/0001.json`]);
    });

    it('refuses ids and numbers that would leave the rollout\'s prefix', async () => {
      const { rolloutId: _id, checkNo: _no, ...check } = storedChecks()[0]!;
      await expect(evidence.putCheck('../other', 1, check)).rejects.toThrow(RangeError);
      await expect(evidence.putCheck('a/b', 1, check)).rejects.toThrow(RangeError);
      await expect(evidence.putCheck(ID, 0, check)).rejects.toThrow(RangeError);
      expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
    });

    it('maps S3 throttling to Throttled and a 5xx to TransientAwsError', async () => {
      const { rolloutId: _id, checkNo: _no, ...check } = storedChecks()[0]!;
      s3Mock.on(PutObjectCommand).rejectsOnce(new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 }, message: 'Please reduce your request rate.' }))
        .rejectsOnce(new S3ServiceException({ name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'We encountered an internal error.' }));

      await expect(evidence.putCheck(ID, 1, check)).rejects.toBeInstanceOf(ThrottledError);
      await expect(evidence.putCheck(ID, 1, check)).rejects.toBeInstanceOf(TransientAwsError);
    });
  });

  describe('putRecord', () => {
    it('writes the whole record, encrypted, as rollouts/<id>/record.json', async () => {
      s3Mock.on(PutObjectCommand).resolves({});
      const record = rolledBackRecord();

      await evidence.putRecord(record.rolloutId, record);

      expect(s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input)).toEqual([{
        Bucket: BUCKET, Key: `rollouts/${record.rolloutId}/record.json`, Body: JSON.stringify(record),
        ContentType: 'application/json', ServerSideEncryption: 'AES256',
      }]);
    });
  });

  describe('getRollout', () => {
    it('reads every check (all pages, numeric order) and the record snapshot', async () => {
      // Prepare
      const checks = storedChecks(ID);
      const record = rolledBackRecord();
      s3Mock.on(ListObjectsV2Command, { Bucket: BUCKET, Prefix: `rollouts/${ID}/checks/`, ContinuationToken: undefined })
        .resolves({ Contents: [{ Key: checkKey(ID, 3) }, { Key: checkKey(ID, 1) }], IsTruncated: true, NextContinuationToken: 'page-2' });
      s3Mock.on(ListObjectsV2Command, { Bucket: BUCKET, Prefix: `rollouts/${ID}/checks/`, ContinuationToken: 'page-2' })
        .resolves({ Contents: [{ Key: checkKey(ID, 2) }, { Key: `rollouts/${ID}/checks/notes.txt` }], IsTruncated: false });
      for (const c of checks) s3Mock.on(GetObjectCommand, { Bucket: BUCKET, Key: checkKey(ID, c.checkNo) }).resolves(body(c));
      s3Mock.on(GetObjectCommand, { Bucket: BUCKET, Key: recordKey(ID) }).resolves(body(record));

      // Act
      const got = await evidence.getRollout(ID);

      // Assess
      expect(got.record).toEqual(record);
      expect(got.checks.map((c: StoredCheck) => c.checkNo)).toEqual([1, 2, 3]);
      expect(got.checks).toEqual(checks);
      expect(s3Mock.commandCalls(ListObjectsV2Command)).toHaveLength(2);
      expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(4);
    });

    it('gives a null record and no checks for a rollout with no evidence', async () => {
      s3Mock.on(ListObjectsV2Command).resolves({ IsTruncated: false });
      s3Mock.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }));

      await expect(evidence.getRollout(ID)).resolves.toEqual({ record: null, checks: [] });
    });

    it('lets an access error through (the CLI says what it could not read)', async () => {
      s3Mock.on(ListObjectsV2Command).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }));

      await expect(evidence.getRollout(ID)).rejects.toMatchObject({ name: 'AccessDenied' });
    });
  });

  it('names where the evidence is, for incidents', () => {
    expect(evidence.locationOf(ID)).toBe(`s3://${BUCKET}/rollouts/${ID}/`);
  });
});
