import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  InvalidChangeBatch,
  ListResourceRecordSetsCommand,
  PriorRequestNotComplete,
  Route53Client,
  Route53ServiceException,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Target } from '../../functions/core/config.ts';
import { ThrottledError, TrafficStateError, TransientAwsError } from '../../functions/core/errors.ts';
import { normalizeRecordName, route53RegionFor, Route53Traffic } from '../../functions/adapters/route53-traffic.ts';

const r53Mock = mockClient(Route53Client);

const target: Target = {
  hostedZoneId: 'Z0123456789ABCDEFGHIJ',
  recordName: 'api.example.com',
  recordType: 'A',
  baselineSetIdentifier: 'blue',
  canarySetIdentifier: 'green',
  maxTtlSeconds: 60,
};

const record = (setIdentifier: string, weight: number, extra: Partial<ResourceRecordSet> = {}): ResourceRecordSet => ({
  Name: 'api.example.com.',
  Type: 'A',
  SetIdentifier: setIdentifier,
  Weight: weight,
  TTL: 60,
  ResourceRecords: [{ Value: setIdentifier === 'blue' ? '192.0.2.10' : '192.0.2.20' }],
  ...extra,
});

const blue = record('blue', 100, { HealthCheckId: 'hc-blue' });
const green = record('green', 0);

describe('Route53Traffic', () => {
  beforeEach(() => {
    r53Mock.reset();
  });
  const traffic = () => new Route53Traffic(new Route53Client({ region: 'us-east-1' }));
  const listed = (...records: ResourceRecordSet[]) => ({ ResourceRecordSets: records, IsTruncated: false, MaxItems: 300 });

  describe('read', () => {
    it('lists from the record name and type, picks the two weighted records, and keeps them whole as the definition', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(record('amber', 5), blue, green, record('blue', 1, { Type: 'AAAA' })));

      // Act
      const reading = await traffic().read(target);

      // Assess
      expect(reading).toEqual({ canaryPercent: 0, problems: [], settleSeconds: 60, definition: { kind: 'route53', baseline: blue, canary: green } });
      const calls = r53Mock.commandCalls(ListResourceRecordSetsCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input).toEqual({ HostedZoneId: 'Z0123456789ABCDEFGHIJ', StartRecordName: 'api.example.com', StartRecordType: 'A' });
    });

    it('follows pages while the next record still has the same name and type', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand)
        .resolvesOnce({
          ResourceRecordSets: [blue], IsTruncated: true, MaxItems: 1,
          NextRecordName: 'API.example.com.', NextRecordType: 'A', NextRecordIdentifier: 'green',
        })
        .resolvesOnce({ ResourceRecordSets: [record('green', 25)], IsTruncated: false, MaxItems: 1 });

      // Act
      const reading = await traffic().read(target);

      // Assess
      expect(reading.canaryPercent).toBe(20); // 25 / (100 + 25)
      const calls = r53Mock.commandCalls(ListResourceRecordSetsCommand);
      expect(calls).toHaveLength(2);
      expect(calls[1]!.args[0].input).toEqual({
        HostedZoneId: 'Z0123456789ABCDEFGHIJ', StartRecordName: 'API.example.com.', StartRecordType: 'A', StartRecordIdentifier: 'green',
      });
    });

    it('stops paging once the listing has moved past the name, and names a missing record as a problem', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({
        ResourceRecordSets: [blue], IsTruncated: true, MaxItems: 1, NextRecordName: 'b.example.com.', NextRecordType: 'A',
      });

      // Act
      const reading = await traffic().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems).toEqual([expect.stringMatching(/has no weighted record with the canary 'green' SetIdentifier; create both/)]);
      expect(r53Mock.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(1);
    });

    it('matches an escaped wildcard name and reports alias records with the 60 s an ELB alias answers with', async () => {
      // Prepare
      const alias = { HostedZoneId: 'Z35SXDOTRQ7X7K', DNSName: 'dualstack.my-alb-1.us-east-1.elb.amazonaws.com.', EvaluateTargetHealth: true };
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(
        { Name: '\\052.example.com.', Type: 'A', SetIdentifier: 'blue', Weight: 90, AliasTarget: alias },
        { Name: '\\052.example.com.', Type: 'A', SetIdentifier: 'green', Weight: 10, AliasTarget: alias },
      ));

      // Act
      const reading = await traffic().read({ ...target, recordName: '*.example.com' });

      // Assess
      expect(reading).toMatchObject({ canaryPercent: 10, problems: [], settleSeconds: 60 });
    });

    it('ignores a record with the identifier but another routing policy (no Weight)', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(blue, { Name: 'api.example.com.', Type: 'A', SetIdentifier: 'green', Region: 'us-east-1', TTL: 60 }));

      // Act
      const reading = await traffic().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.problems[0]).toMatch(/canary 'green'/);
    });

    it('names a TTL above the limit and an all-zero pair (which Route 53 answers as an equal split)', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(record('blue', 0, { TTL: 3600 }), record('green', 0)));

      // Act
      const reading = await traffic().read(target);

      // Assess
      expect(reading.canaryPercent).toBeNull();
      expect(reading.settleSeconds).toBe(3600);
      expect(reading.problems).toEqual([
        expect.stringContaining('has TTL 3600 s, above target.maxTtlSeconds 60 s'),
        'both weighted records have weight 0, which Route 53 answers as an equal split',
      ]);
    });
  });

  describe('shift', () => {
    it('sends one batch that DELETEs both records exactly as read and CREATEs them with the new weights', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(blue, green));
      r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C2682N5HXP0BZ4', Status: 'PENDING', SubmittedAt: new Date() } });

      // Act
      const result = await traffic().shift(target, 10, { expectedPercent: 0, definition: {} });

      // Assess
      expect(result).toEqual({ changeId: 'C2682N5HXP0BZ4' });
      const calls = r53Mock.commandCalls(ChangeResourceRecordSetsCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input).toEqual({
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        ChangeBatch: {
          Comment: 'canary-analyzer: canary 10 / baseline 90',
          Changes: [
            { Action: 'DELETE', ResourceRecordSet: green },
            { Action: 'CREATE', ResourceRecordSet: { ...green, Weight: 10 } },
            { Action: 'DELETE', ResourceRecordSet: blue },
            { Action: 'CREATE', ResourceRecordSet: { ...blue, Weight: 90 } },
          ],
        },
      });
    });

    it('refuses, changing nothing, when the weights are not the ones expected (someone moved them)', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(record('blue', 50), record('green', 50)));

      // Act
      const result = traffic().shift(target, 10, { expectedPercent: 5, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow('the weights changed outside the rollout: expected canary 5 / baseline 95, found 50 / 50');
      expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(0);
    });

    it('throws TrafficStateError and changes nothing when a record is missing', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(blue));

      // Act
      const result = traffic().shift(target, 5, { expectedPercent: 0, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow(/canary 'green'/);
      expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(0);
    });

    it('maps PriorRequestNotComplete on the change to Throttled', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(blue, green));
      r53Mock.on(ChangeResourceRecordSetsCommand).rejects(new PriorRequestNotComplete({ message: 'The request was rejected', $metadata: { httpStatusCode: 400 } }));

      // Act
      const result = traffic().shift(target, 5, { expectedPercent: 0, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(ThrottledError);
      await expect(result).rejects.toMatchObject({ name: 'Throttled' });
    });

    it('turns a refused batch (a DELETE that no longer matches) into TrafficStateError, naming the record', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves(listed(blue, green));
      r53Mock.on(ChangeResourceRecordSetsCommand).rejects(new InvalidChangeBatch({ message: 'Tried to delete resource record set but the values do not match', $metadata: { httpStatusCode: 400 } }));

      // Act
      const result = traffic().shift(target, 5, { expectedPercent: 0, definition: {} });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow(/refused the change of api.example.com .*a record changed outside the rollout/);
    });

    it('refuses a share that is not an integer percent', async () => {
      // Act
      const result = traffic().shift(target, 12.5, { definition: {} });

      // Assess
      await expect(result).rejects.toThrow(RangeError);
      expect(r53Mock.calls()).toHaveLength(0);
    });
  });

  describe('restore', () => {
    it('UPSERTs both records as preflight read them, the canary at 0, without reading first', async () => {
      // Prepare
      r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/CROLLBACK', Status: 'PENDING', SubmittedAt: new Date() } });

      // Act
      const result = await traffic().restore(target, { kind: 'route53', baseline: blue, canary: record('green', 0) });

      // Assess
      expect(result).toEqual({ changeId: 'CROLLBACK' });
      expect(r53Mock.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(0);
      expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)[0]!.args[0].input).toEqual({
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        ChangeBatch: {
          Comment: 'canary-analyzer: rollback: canary 0 / baseline 100',
          Changes: [
            { Action: 'UPSERT', ResourceRecordSet: { ...green, Weight: 0 } },
            { Action: 'UPSERT', ResourceRecordSet: blue },
          ],
        },
      });
    });

    it('refuses a definition that is not a complete Route 53 pair, saying so', async () => {
      // Act
      const result = traffic().restore(target, { kind: 'route53', incomplete: true });

      // Assess
      await expect(result).rejects.toThrow(/no Route 53 definition of api.example.com to restore/);
      expect(r53Mock.calls()).toHaveLength(0);
    });
  });

  describe('isInSync', () => {
    it('is true only once GetChange reports INSYNC', async () => {
      // Prepare
      r53Mock.on(GetChangeCommand)
        .resolvesOnce({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } })
        .resolvesOnce({ ChangeInfo: { Id: '/change/C1', Status: 'INSYNC', SubmittedAt: new Date() } });
      const router = traffic();

      // Act
      const first = await router.isInSync(target, 'C1');
      const second = await router.isInSync(target, 'C1');

      // Assess
      expect([first, second]).toEqual([false, true]);
      expect(r53Mock.commandCalls(GetChangeCommand).map((c) => c.args[0].input)).toEqual([{ Id: 'C1' }, { Id: 'C1' }]);
    });

    it('maps Throttling to Throttled and a 5xx to TransientAwsError', async () => {
      // Prepare
      const throttling = new Route53ServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
      const unavailable = new Route53ServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: 'try later', $metadata: { httpStatusCode: 503 } });
      r53Mock.on(GetChangeCommand).rejectsOnce(throttling).rejectsOnce(unavailable);
      const router = traffic();

      // Act
      const [first, second] = await Promise.allSettled([router.isInSync(target, 'C1'), router.isInSync(target, 'C1')]);

      // Assess
      expect(first).toMatchObject({ status: 'rejected', reason: { name: 'Throttled', message: expect.stringContaining('Route 53 throttled') } });
      expect(first.status === 'rejected' && first.reason).toBeInstanceOf(ThrottledError);
      expect(second.status === 'rejected' && second.reason).toBeInstanceOf(TransientAwsError);
    });
  });
});

describe('route53RegionFor', () => {
  it("calls Route 53 in its partition's region: aws-cn and GovCloud are not us-east-1", () => {
    // Act + Assess
    expect(['eu-west-1', 'us-east-1', 'cn-north-1', 'cn-northwest-1', 'us-gov-east-1', undefined].map(route53RegionFor))
      .toEqual(['us-east-1', 'us-east-1', 'cn-northwest-1', 'cn-northwest-1', 'us-gov-west-1', 'us-east-1']);
  });
});

describe('normalizeRecordName', () => {
  it('lowercases, drops the trailing dot and decodes octal escapes', () => {
    // Prepare
    const listed = '\\052.API.Example.com.';

    // Act
    const normalized = normalizeRecordName(listed);

    // Assess
    expect(normalized).toBe('*.api.example.com');
  });
});
