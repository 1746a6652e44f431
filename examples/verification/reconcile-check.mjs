/**
 * A verification Lambda: reconciles the records written since the analysis window started in
 * the legacy store and in the new one, and answers the canary analyzer's contract:
 *
 *   request  (the Lambda event): { version: 1, moment, check, rolloutId, service,
 *             stage: { index, weight, count }, window: { start, end } | null, target, sentAt, deadline }
 *   answer   (the return value): { verdict: 'PASS' | 'FAIL' | 'INCONCLUSIVE', reason, details? }
 *
 * FAIL on a single record missing or different; INCONCLUSIVE when a store cannot be read (the
 * analyzer counts it against the stage's inconclusive limit: it is never taken as a pass).
 * Throwing also gives INCONCLUSIVE, but an answer says why.
 *
 * As deployed (nodejs22.x or later, whose runtime ships the AWS SDK v3): two DynamoDB tables
 * named by LEGACY_TABLE and NEW_TABLE, both keyed by `id` with an ISO `updatedAt`. To reconcile
 * other stores, pass your own readers to createHandler: each returns the records written since a
 * time, as objects with an `id`.
 */
import { createHash } from 'node:crypto';

/** A record's digest: its fields in key order, so that field order does not count. */
function digest(record) {
  const canonical = (value) => (Array.isArray(value) ? value.map(canonical)
    : value && typeof value === 'object' ? Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]))
      : value);
  return createHash('sha256').update(JSON.stringify(canonical(record))).digest('hex');
}

/** Compares two lists of records by id and digest. Pure. */
export function reconcile(legacy, current) {
  const left = new Map(legacy.map((r) => [String(r.id), digest(r)]));
  const right = new Map(current.map((r) => [String(r.id), digest(r)]));
  const missing = [...left.keys()].filter((id) => !right.has(id));
  const unexpected = [...right.keys()].filter((id) => !left.has(id));
  const different = [...left.keys()].filter((id) => right.has(id) && right.get(id) !== left.get(id));
  const checksum = (m) => createHash('sha256').update([...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, d]) => `${id}:${d}`).join('\n')).digest('hex');
  return { legacyCount: left.size, newCount: right.size, missing, unexpected, different, legacyChecksum: checksum(left), newChecksum: checksum(right) };
}

export function createHandler({ readLegacy, readNew }) {
  return async (request) => {
    if (request?.version !== 1) return { verdict: 'INCONCLUSIVE', reason: `request version ${request?.version} is not one this check knows (1)` };
    // At a stage's check: what was written during its window; at other moments: the last hour.
    const since = request.window?.start ?? new Date(Date.now() - 3600_000).toISOString();
    let legacy;
    let current;
    try {
      [legacy, current] = await Promise.all([readLegacy(since), readNew(since)]);
    } catch (error) {
      return { verdict: 'INCONCLUSIVE', reason: `could not read a store: ${error.message}` };
    }
    const r = reconcile(legacy, current);
    const details = {
      legacyCount: r.legacyCount, newCount: r.newCount,
      missing: r.missing.length, unexpected: r.unexpected.length, different: r.different.length,
      legacyChecksum: r.legacyChecksum.slice(0, 16), newChecksum: r.newChecksum.slice(0, 16),
      // A few ids to start from; the full list belongs in your logs, not in the answer.
      sampleIds: [...r.missing, ...r.different, ...r.unexpected].slice(0, 10).join(','),
    };
    const bad = r.missing.length + r.unexpected.length + r.different.length;
    if (bad === 0) return { verdict: 'PASS', reason: `${r.legacyCount} records since ${since} match (checksum ${details.legacyChecksum})`, details };
    return {
      verdict: 'FAIL',
      reason: `${bad} of ${Math.max(r.legacyCount, r.newCount)} records since ${since} differ: ${r.missing.length} missing in the new store, ${r.different.length} different, ${r.unexpected.length} only in the new store`,
      details,
    };
  };
}

/** Reads the records of a DynamoDB table updated since `since` (a Scan: fine for a check's window). */
function dynamoReader(tableName) {
  return async (since) => {
    const { DynamoDBClient, ScanCommand } = await import('@aws-sdk/client-dynamodb');
    const { unmarshall } = await import('@aws-sdk/util-dynamodb');
    const client = new DynamoDBClient({});
    const records = [];
    let ExclusiveStartKey;
    do {
      const out = await client.send(new ScanCommand({
        TableName: tableName, FilterExpression: 'updatedAt >= :since', ExpressionAttributeValues: { ':since': { S: since } }, ExclusiveStartKey,
      }));
      records.push(...(out.Items ?? []).map((item) => unmarshall(item)));
      ExclusiveStartKey = out.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return records;
  };
}

export const handler = createHandler({ readLegacy: dynamoReader(process.env.LEGACY_TABLE), readNew: dynamoReader(process.env.NEW_TABLE) });
