/**
 * The Route 53 router: the baseline and canary are two weighted records (same name and type,
 * different SetIdentifier). Weights move in one ChangeResourceRecordSets batch, so a failure never
 * leaves one record changed and the other not. A forward shift is a compare-and-set: the batch
 * DELETEs both records with the exact values just read (Route 53 refuses the whole batch when a
 * DELETE does not match the record) and CREATEs them with the new weights. A restore UPSERTs both
 * records as preflight read them, the canary at weight 0: it re-creates a deleted record and puts
 * back a TTL someone raised. The canary's share is `canary / (canary + baseline)`; we write canary
 * p and baseline 100 - p (weights 0-255), never both 0 (which Route 53 answers as an equal split).
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import type { Target } from '../core/config.ts';
import { TrafficStateError } from '../core/errors.ts';
import type { RouterDefinition, RouterReading, TrafficRouter } from '../core/router.ts';
import { callAws, isAwsError } from './aws-errors.ts';

const SERVICE = 'Route 53';
/** Pages of one name and type we read at most (300 records a page): a guard, not a limit met in practice. */
const MAX_PAGES = 20;

/**
 * A record name as Route 53 returns it, made comparable with the config's: lowercase, no
 * trailing dot, octal escapes decoded (Route 53 lists `*` as `\052`).
 */
export function normalizeRecordName(name: string): string {
  return name
    .replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    .toLowerCase()
    .replace(/\.$/, '');
}

type Pair = { baseline: ResourceRecordSet | null; canary: ResourceRecordSet | null };

/**
 * Alias records have no TTL of their own: Route 53 answers with the alias target's, 60 s for an
 * ELB. They are reported with that 60 s, so the bake still waits for clients' caches.
 */
export const ALIAS_TTL_SECONDS = 60;

/** What preflight keeps of the pair: both records as Route 53 listed them (every field). */
interface Route53Definition extends RouterDefinition {
  kind: 'route53';
  baseline: ResourceRecordSet;
  canary: ResourceRecordSet;
}

/**
 * The region of Route 53's API for the partition the stack runs in: Route 53 is global, but its
 * endpoint lives in us-east-1 in the commercial partition, cn-northwest-1 in China and
 * us-gov-west-1 in GovCloud.
 */
export function route53RegionFor(region: string | undefined): string {
  if (region?.startsWith('cn-')) return 'cn-northwest-1';
  if (region?.startsWith('us-gov-')) return 'us-gov-west-1';
  return 'us-east-1';
}

export class Route53Traffic implements TrafficRouter<Target> {
  readonly #client: Route53Client;

  constructor(client: Route53Client) {
    this.#client = client;
  }

  async read(target: Target): Promise<RouterReading> {
    const { baseline, canary } = await this.#find(target);
    const problems: string[] = [];
    if (!baseline || !canary) {
      const missing = [!baseline && `baseline '${target.baselineSetIdentifier}'`, !canary && `canary '${target.canarySetIdentifier}'`].filter(Boolean).join(' and ');
      problems.push(`${target.recordName} ${target.recordType} in zone ${target.hostedZoneId} has no weighted record with the ${missing} SetIdentifier; create both weighted records (canary at weight 0)`);
    }
    const ttl = Math.max(ttlOf(baseline), ttlOf(canary));
    if (ttl > target.maxTtlSeconds) {
      problems.push(`${target.recordName} has TTL ${ttl} s, above target.maxTtlSeconds ${target.maxTtlSeconds} s: clients keep an old answer for a whole TTL, so a rollback would take that long to reach them. Lower the TTL to 60 s or raise target.maxTtlSeconds knowingly`);
    }
    let canaryPercent: number | null = null;
    if (baseline && canary) {
      const total = (baseline.Weight ?? 0) + (canary.Weight ?? 0);
      if (total === 0) problems.push('both weighted records have weight 0, which Route 53 answers as an equal split');
      else canaryPercent = (100 * (canary.Weight ?? 0)) / total;
    }
    const definition: RouterDefinition = baseline && canary ? { kind: 'route53', baseline, canary } : { kind: 'route53', incomplete: true };
    return { canaryPercent, problems, settleSeconds: ttl, definition };
  }

  async shift(target: Target, canaryPercent: number, options: { expectedPercent?: number; definition: RouterDefinition }): Promise<{ changeId: string }> {
    if (!Number.isInteger(canaryPercent) || canaryPercent < 0 || canaryPercent > 100) {
      throw new RangeError(`canary share ${canaryPercent} is not an integer percent in 0..100`);
    }
    const { baseline, canary } = await this.#find(target);
    if (!baseline || !canary) {
      const missing = [!baseline && `baseline '${target.baselineSetIdentifier}'`, !canary && `canary '${target.canarySetIdentifier}'`].filter(Boolean).join(' and ');
      throw new TrafficStateError(`${target.recordName} ${target.recordType} in zone ${target.hostedZoneId} has no weighted record with the ${missing} SetIdentifier (deleted outside the rollout?)`);
    }
    const expected = options.expectedPercent;
    if (expected !== undefined && (canary.Weight !== expected || baseline.Weight !== 100 - expected)) {
      throw new TrafficStateError(`the weights changed outside the rollout: expected canary ${expected} / baseline ${100 - expected}, found ${canary.Weight} / ${baseline.Weight}`);
    }
    const weights = { canary: canaryPercent, baseline: 100 - canaryPercent };
    return this.#change(target, `canary ${weights.canary} / baseline ${weights.baseline}`, [
      { Action: 'DELETE', ResourceRecordSet: canary },
      { Action: 'CREATE', ResourceRecordSet: { ...canary, Weight: weights.canary } },
      { Action: 'DELETE', ResourceRecordSet: baseline },
      { Action: 'CREATE', ResourceRecordSet: { ...baseline, Weight: weights.baseline } },
    ]);
  }

  async restore(target: Target, definition: RouterDefinition): Promise<{ changeId: string }> {
    const def = definition as Route53Definition;
    if (def.kind !== 'route53' || !def.baseline || !def.canary) {
      throw new TrafficStateError(`no Route 53 definition of ${target.recordName} to restore (preflight did not read both records)`);
    }
    const baselineWeight = def.baseline.Weight && def.baseline.Weight > 0 ? def.baseline.Weight : 100;
    return this.#change(target, `rollback: canary 0 / baseline ${baselineWeight}`, [
      { Action: 'UPSERT', ResourceRecordSet: { ...def.canary, Weight: 0 } },
      { Action: 'UPSERT', ResourceRecordSet: { ...def.baseline, Weight: baselineWeight } },
    ]);
  }

  async isInSync(_target: Target, changeId: string): Promise<boolean> {
    const out = await callAws(SERVICE, () => this.#client.send(new GetChangeCommand({ Id: changeId })));
    return out.ChangeInfo?.Status === 'INSYNC';
  }

  async #change(target: Target, comment: string, changes: { Action: 'CREATE' | 'DELETE' | 'UPSERT'; ResourceRecordSet: ResourceRecordSet }[]): Promise<{ changeId: string }> {
    let out;
    try {
      out = await callAws(SERVICE, () => this.#client.send(new ChangeResourceRecordSetsCommand({
        HostedZoneId: target.hostedZoneId,
        ChangeBatch: { Comment: `canary-analyzer: ${comment}`, Changes: changes },
      })));
    } catch (error) {
      // A DELETE that no longer matches: someone changed a record between our read and our write.
      if (isAwsError(error, 'InvalidChangeBatch')) {
        throw new TrafficStateError(`Route 53 refused the change of ${target.recordName} (${(error as Error).message}): a record changed outside the rollout`);
      }
      throw error;
    }
    const id = out.ChangeInfo?.Id;
    if (!id) throw new TrafficStateError('Route 53 accepted the change batch but returned no change id');
    return { changeId: id.replace(/^\/change\//, '') };
  }

  /** The two weighted records of the target, as Route 53 returns them (every field kept). */
  async #find(target: Target): Promise<Pair> {
    const name = normalizeRecordName(target.recordName);
    const type = target.recordType;
    const found: Pair = { baseline: null, canary: null };
    let start: { name: string; id?: string } = { name: target.recordName };
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await callAws(SERVICE, () => this.#client.send(new ListResourceRecordSetsCommand({
        HostedZoneId: target.hostedZoneId,
        StartRecordName: start.name,
        StartRecordType: target.recordType,
        ...(start.id !== undefined ? { StartRecordIdentifier: start.id } : {}),
      })));
      for (const rrs of out.ResourceRecordSets ?? []) {
        if (rrs.Type !== type || normalizeRecordName(rrs.Name ?? '') !== name) continue;
        // A record with a SetIdentifier but no Weight uses another routing policy: not ours.
        if (rrs.Weight === undefined) continue;
        if (rrs.SetIdentifier === target.baselineSetIdentifier) found.baseline = rrs;
        else if (rrs.SetIdentifier === target.canarySetIdentifier) found.canary = rrs;
      }
      if (found.baseline && found.canary) break;
      // Records are listed in name, type, identifier order: past our name and type there is nothing more.
      if (!out.IsTruncated || !out.NextRecordName || out.NextRecordType !== type || normalizeRecordName(out.NextRecordName) !== name) break;
      start = { name: out.NextRecordName, id: out.NextRecordIdentifier };
    }
    return found;
  }
}

function ttlOf(rrs: ResourceRecordSet | null): number {
  if (!rrs) return 0;
  return rrs.TTL ?? ALIAS_TTL_SECONDS;
}
