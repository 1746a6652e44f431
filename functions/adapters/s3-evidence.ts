/**
 * EvidencePort on S3: one JSON object per check and one snapshot of the rollout record, under
 * the rollout's id in the stack's evidence bucket (encrypted, public access blocked, versioned):
 *
 *   rollouts/<id>/record.json           the whole RolloutHistory, as last snapshotted
 *   rollouts/<id>/checks/<nnnn>.json    check n: the raw datapoints, the judgement, when and where
 *
 * Keys depend only on the rollout id and the check's number, so a retried step overwrites the
 * object it wrote before (a new version of the same key) instead of adding a second one. The
 * steps only write (s3:PutObject on rollouts/*); reading back is for the CLI, with the user's
 * credentials.
 */
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { CheckEvidence, EvidencePort, RolloutEvidence, StoredCheck } from '../core/ports.ts';
import type { RolloutHistory } from '../core/rollout-record.ts';
import { callAws, isAwsError } from './aws-errors.ts';

const SERVICE = 'S3';
/** Checks read back in parallel at most. */
const READ_CONCURRENCY = 8;

/** Rollout ids are execution names; anything that could leave the rollout's prefix is refused. */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function checkId(rolloutId: string): string {
  if (!SAFE_ID.test(rolloutId) || rolloutId.includes('..')) {
    throw new RangeError(`'${rolloutId}' is not a rollout id that can name an S3 prefix (1-128 letters, digits, '.', '_' or '-')`);
  }
  return rolloutId;
}

export const evidencePrefix = (rolloutId: string) => `rollouts/${checkId(rolloutId)}/`;
export const recordKey = (rolloutId: string) => `${evidencePrefix(rolloutId)}record.json`;
export const checksPrefix = (rolloutId: string) => `${evidencePrefix(rolloutId)}checks/`;
export function checkKey(rolloutId: string, checkNo: number): string {
  if (!Number.isSafeInteger(checkNo) || checkNo < 1) throw new RangeError(`check number ${checkNo} is not a positive integer`);
  return `${checksPrefix(rolloutId)}${String(checkNo).padStart(4, '0')}.json`;
}

export class S3Evidence implements EvidencePort {
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(client: S3Client, bucketName: string) {
    this.#client = client;
    this.#bucket = bucketName;
  }

  async putCheck(rolloutId: string, checkNo: number, check: CheckEvidence): Promise<void> {
    const stored: StoredCheck = { rolloutId, checkNo, ...check };
    await this.#put(checkKey(rolloutId, checkNo), stored);
  }

  async putRecord(rolloutId: string, record: RolloutHistory): Promise<void> {
    await this.#put(recordKey(rolloutId), record);
  }

  async getRollout(rolloutId: string): Promise<RolloutEvidence> {
    const keys = await this.#listChecks(rolloutId);
    const checks: StoredCheck[] = [];
    for (let i = 0; i < keys.length; i += READ_CONCURRENCY) {
      const batch = await Promise.all(keys.slice(i, i + READ_CONCURRENCY).map((k) => this.#get<StoredCheck>(k)));
      for (const c of batch) if (c) checks.push(c);
    }
    checks.sort((a, b) => a.checkNo - b.checkNo);
    return { record: await this.#get<RolloutHistory>(recordKey(rolloutId)), checks };
  }

  locationOf(rolloutId: string): string {
    return `s3://${this.#bucket}/${evidencePrefix(rolloutId)}`;
  }

  async #put(key: string, body: unknown): Promise<void> {
    await callAws(SERVICE, () => this.#client.send(new PutObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      Body: JSON.stringify(body),
      ContentType: 'application/json',
      ServerSideEncryption: 'AES256',
    })));
  }

  async #get<T>(key: string): Promise<T | null> {
    try {
      const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      const text = await out.Body?.transformToString('utf-8');
      return text ? (JSON.parse(text) as T) : null;
    } catch (err) {
      if (isAwsError(err, 'NoSuchKey')) return null;
      return callAws(SERVICE, () => Promise.reject(err));
    }
  }

  async #listChecks(rolloutId: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await callAws(SERVICE, () => this.#client.send(new ListObjectsV2Command({
        Bucket: this.#bucket, Prefix: checksPrefix(rolloutId), ContinuationToken: token,
      })));
      for (const o of out.Contents ?? []) if (o.Key?.endsWith('.json')) keys.push(o.Key);
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }
}
