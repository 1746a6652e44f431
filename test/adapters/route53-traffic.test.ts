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
import { normalizeRecordName, Route53Traffic } from '../../functions/adapters/route53-traffic.ts';

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

  describe('readRecords', () => {
    it('lists from the record name and type and picks the two weighted records', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({
        ResourceRecordSets: [record('amber', 5), blue, green, record('blue', 1, { Name: 'api.example.com.', Type: 'AAAA' })],
        IsTruncated: false,
        MaxItems: 300,
      });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const records = await traffic.readRecords(target);

      // Assess
      expect(records).toEqual({
        baseline: { setIdentifier: 'blue', weight: 100, ttl: 60 },
        canary: { setIdentifier: 'green', weight: 0, ttl: 60 },
      });
      const calls = r53Mock.commandCalls(ListResourceRecordSetsCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input).toEqual({
        HostedZoneId: 'Z0123456789ABCDEFGHIJ', StartRecordName: 'api.example.com', StartRecordType: 'A',
      });
    });

    it('follows pages while the next record still has the same name and type', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand)
        .resolvesOnce({
          ResourceRecordSets: [blue], IsTruncated: true, MaxItems: 1,
          NextRecordName: 'API.example.com.', NextRecordType: 'A', NextRecordIdentifier: 'green',
        })
        .resolvesOnce({ ResourceRecordSets: [green], IsTruncated: false, MaxItems: 1 });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const records = await traffic.readRecords(target);

      // Assess
      expect(records.canary).toEqual({ setIdentifier: 'green', weight: 0, ttl: 60 });
      const calls = r53Mock.commandCalls(ListResourceRecordSetsCommand);
      expect(calls).toHaveLength(2);
      expect(calls[1]!.args[0].input).toEqual({
        HostedZoneId: 'Z0123456789ABCDEFGHIJ', StartRecordName: 'API.example.com.', StartRecordType: 'A', StartRecordIdentifier: 'green',
      });
    });

    it('stops paging once the listing has moved past the name, and reports a missing record as null', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({
        ResourceRecordSets: [blue], IsTruncated: true, MaxItems: 1, NextRecordName: 'b.example.com.', NextRecordType: 'A',
      });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const records = await traffic.readRecords(target);

      // Assess
      expect(records).toEqual({ baseline: { setIdentifier: 'blue', weight: 100, ttl: 60 }, canary: null });
      expect(r53Mock.commandCalls(ListResourceRecordSetsCommand)).toHaveLength(1);
    });

    it('matches an escaped wildcard name and reports alias records with ttl 0', async () => {
      // Prepare
      const alias = { HostedZoneId: 'Z35SXDOTRQ7X7K', DNSName: 'dualstack.my-alb-1.us-east-1.elb.amazonaws.com.', EvaluateTargetHealth: true };
      r53Mock.on(ListResourceRecordSetsCommand).resolves({
        ResourceRecordSets: [
          { Name: '\\052.example.com.', Type: 'A', SetIdentifier: 'blue', Weight: 90, AliasTarget: alias },
          { Name: '\\052.example.com.', Type: 'A', SetIdentifier: 'green', Weight: 10, AliasTarget: alias },
        ],
        IsTruncated: false, MaxItems: 300,
      });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const records = await traffic.readRecords({ ...target, recordName: '*.example.com' });

      // Assess
      expect(records).toEqual({
        baseline: { setIdentifier: 'blue', weight: 90, ttl: 60 },
        canary: { setIdentifier: 'green', weight: 10, ttl: 60 },
      });
    });

    it('ignores a record with the identifier but another routing policy (no Weight)', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({
        ResourceRecordSets: [blue, { Name: 'api.example.com.', Type: 'A', SetIdentifier: 'green', Region: 'us-east-1', TTL: 60 }],
        IsTruncated: false, MaxItems: 300,
      });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const records = await traffic.readRecords(target);

      // Assess
      expect(records.canary).toBeNull();
    });
  });

  describe('setWeights', () => {
    it('sends one change batch of two UPSERTs that change only the weights', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [blue, green], IsTruncated: false, MaxItems: 300 });
      r53Mock.on(ChangeResourceRecordSetsCommand).resolves({
        ChangeInfo: { Id: '/change/C2682N5HXP0BZ4', Status: 'PENDING', SubmittedAt: new Date() },
      });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const result = await traffic.setWeights(target, { canary: 10, baseline: 90 });

      // Assess
      expect(result).toEqual({ changeId: 'C2682N5HXP0BZ4' });
      const calls = r53Mock.commandCalls(ChangeResourceRecordSetsCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.args[0].input).toEqual({
        HostedZoneId: 'Z0123456789ABCDEFGHIJ',
        ChangeBatch: {
          Comment: 'canary-analyzer: canary 10 / baseline 90',
          Changes: [
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: 'api.example.com.', Type: 'A', SetIdentifier: 'green', Weight: 10, TTL: 60,
                ResourceRecords: [{ Value: '192.0.2.20' }],
              },
            },
            {
              Action: 'UPSERT',
              ResourceRecordSet: {
                Name: 'api.example.com.', Type: 'A', SetIdentifier: 'blue', Weight: 90, TTL: 60,
                ResourceRecords: [{ Value: '192.0.2.10' }], HealthCheckId: 'hc-blue',
              },
            },
          ],
        },
      });
    });

    it('throws TrafficStateError and changes nothing when a record is missing', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [blue], IsTruncated: false, MaxItems: 300 });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const result = traffic.setWeights(target, { canary: 0, baseline: 100 });

      // Assess
      await expect(result).rejects.toThrow(TrafficStateError);
      await expect(result).rejects.toThrow(/canary 'green'/);
      expect(r53Mock.commandCalls(ChangeResourceRecordSetsCommand)).toHaveLength(0);
    });

    it('maps PriorRequestNotComplete on the change to Throttled', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [blue, green], IsTruncated: false, MaxItems: 300 });
      r53Mock.on(ChangeResourceRecordSetsCommand).rejects(new PriorRequestNotComplete({ message: 'The request was rejected', $metadata: { httpStatusCode: 400 } }));
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const result = traffic.setWeights(target, { canary: 0, baseline: 100 });

      // Assess
      await expect(result).rejects.toThrow(ThrottledError);
      await expect(result).rejects.toMatchObject({ name: 'Throttled' });
    });

    it('rethrows a rejected change batch unchanged', async () => {
      // Prepare
      r53Mock.on(ListResourceRecordSetsCommand).resolves({ ResourceRecordSets: [blue, green], IsTruncated: false, MaxItems: 300 });
      const invalid = new InvalidChangeBatch({ message: 'bad batch', $metadata: { httpStatusCode: 400 } });
      r53Mock.on(ChangeResourceRecordSetsCommand).rejects(invalid);
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const result = traffic.setWeights(target, { canary: 5, baseline: 95 });

      // Assess
      await expect(result).rejects.toBe(invalid);
    });
  });

  describe('isInSync', () => {
    it('is true only once GetChange reports INSYNC', async () => {
      // Prepare
      r53Mock.on(GetChangeCommand)
        .resolvesOnce({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } })
        .resolvesOnce({ ChangeInfo: { Id: '/change/C1', Status: 'INSYNC', SubmittedAt: new Date() } });
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const first = await traffic.isInSync('C1');
      const second = await traffic.isInSync('C1');

      // Assess
      expect([first, second]).toEqual([false, true]);
      expect(r53Mock.commandCalls(GetChangeCommand).map((c) => c.args[0].input)).toEqual([{ Id: 'C1' }, { Id: 'C1' }]);
    });

    it('maps Throttling to Throttled and a 5xx to TransientAwsError', async () => {
      // Prepare
      const throttling = new Route53ServiceException({ name: 'Throttling', $fault: 'client', message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } });
      const unavailable = new Route53ServiceException({ name: 'ServiceUnavailable', $fault: 'server', message: 'try later', $metadata: { httpStatusCode: 503 } });
      r53Mock.on(GetChangeCommand).rejectsOnce(throttling).rejectsOnce(unavailable);
      const traffic = new Route53Traffic(new Route53Client({ region: 'us-east-1' }));

      // Act
      const [first, second] = await Promise.allSettled([traffic.isInSync('C1'), traffic.isInSync('C1')]);

      // Assess
      expect(first).toMatchObject({ status: 'rejected', reason: { name: 'Throttled', message: expect.stringContaining('Route 53 throttled') } });
      expect(first.status === 'rejected' && first.reason).toBeInstanceOf(ThrottledError);
      expect(second.status === 'rejected' && second.reason).toBeInstanceOf(TransientAwsError);
    });
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
