/**
 * TrafficPort on Route 53: the baseline and canary are two weighted records (same name and
 * type, different SetIdentifier). Weights move in one ChangeResourceRecordSets batch, so a
 * failure never leaves one record changed and the other not.
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
import type { TrafficPort, WeightedRecord, Weights } from '../core/ports.ts';
import { callAws } from './aws-errors.ts';

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

export class Route53Traffic implements TrafficPort {
  readonly #client: Route53Client;

  constructor(client: Route53Client) {
    this.#client = client;
  }

  async readRecords(target: Target): Promise<{ baseline: WeightedRecord | null; canary: WeightedRecord | null }> {
    const { baseline, canary } = await this.#find(target);
    return { baseline: toWeighted(baseline), canary: toWeighted(canary) };
  }

  async setWeights(target: Target, weights: Weights): Promise<{ changeId: string }> {
    for (const [variant, w] of Object.entries(weights)) {
      if (!Number.isInteger(w) || w < 0 || w > 255) throw new RangeError(`${variant} weight ${w} is not an integer in 0..255`);
    }
    const { baseline, canary } = await this.#find(target);
    if (!baseline || !canary) {
      const missing = [!baseline && `baseline '${target.baselineSetIdentifier}'`, !canary && `canary '${target.canarySetIdentifier}'`]
        .filter(Boolean).join(' and ');
      throw new TrafficStateError(`${target.recordName} ${target.recordType} in zone ${target.hostedZoneId} has no weighted record with the ${missing} SetIdentifier (deleted or changed outside the rollout?)`);
    }
    const out = await callAws(SERVICE, () => this.#client.send(new ChangeResourceRecordSetsCommand({
      HostedZoneId: target.hostedZoneId,
      ChangeBatch: {
        Comment: `canary-analyzer: canary ${weights.canary} / baseline ${weights.baseline}`,
        Changes: [
          { Action: 'UPSERT', ResourceRecordSet: { ...canary, Weight: weights.canary } },
          { Action: 'UPSERT', ResourceRecordSet: { ...baseline, Weight: weights.baseline } },
        ],
      },
    })));
    const id = out.ChangeInfo?.Id;
    if (!id) throw new TrafficStateError('Route 53 accepted the change batch but returned no change id');
    return { changeId: id.replace(/^\/change\//, '') };
  }

  async isInSync(changeId: string): Promise<boolean> {
    const out = await callAws(SERVICE, () => this.#client.send(new GetChangeCommand({ Id: changeId })));
    return out.ChangeInfo?.Status === 'INSYNC';
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

/**
 * Alias records have no TTL of their own: Route 53 answers with the alias target's, 60 s for an
 * ELB. They are reported with that 60 s, so the bake still waits for clients' caches.
 */
export const ALIAS_TTL_SECONDS = 60;

function toWeighted(rrs: ResourceRecordSet | null): WeightedRecord | null {
  if (!rrs) return null;
  return { setIdentifier: rrs.SetIdentifier ?? '', weight: rrs.Weight ?? 0, ttl: rrs.TTL ?? ALIAS_TTL_SECONDS };
}
