import { describe, expect, it } from 'vitest';
import { ThrottledError, TransientAwsError } from '../../functions/core/errors.ts';
import { classifyAwsError, mapAwsError } from '../../functions/adapters/aws-errors.ts';

const sdkError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, $fault: 'client', $metadata: { httpStatusCode: 400 }, ...extra });

describe('classifyAwsError', () => {
  it.each([
    'Throttling', 'ThrottlingException', 'PriorRequestNotComplete', 'TooManyRequestsException',
    'ProvisionedThroughputExceededException', 'RequestLimitExceeded',
  ])('classifies %s as throttled', (name) => {
    // Prepare
    const err = sdkError(name);

    // Act
    const kind = classifyAwsError(err);

    // Assess
    expect(kind).toBe('throttled');
  });

  it('classifies HTTP 429 as throttled, whatever its name', () => {
    // Prepare
    const err = sdkError('SomethingElse', { $metadata: { httpStatusCode: 429 } });

    // Act
    const kind = classifyAwsError(err);

    // Assess
    expect(kind).toBe('throttled');
  });

  it.each([
    ['a server fault', sdkError('InternalServerError', { $fault: 'server', $metadata: { httpStatusCode: 500 } })],
    ['a 503', sdkError('Whatever', { $metadata: { httpStatusCode: 503 } })],
    ['a timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError' })],
    ['a reset connection', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' })],
  ])('classifies %s as transient', (_label, err) => {
    // Prepare
    // (the error above)

    // Act
    const kind = classifyAwsError(err);

    // Assess
    expect(kind).toBe('transient');
  });

  it.each([
    ['a validation error', sdkError('ValidationException')],
    ['a failed condition', sdkError('ConditionalCheckFailedException')],
    ['access denied', sdkError('AccessDeniedException', { $metadata: { httpStatusCode: 403 } })],
    ['not an object', 'boom'],
  ])('leaves %s alone', (_label, err) => {
    // Prepare
    // (the error above)

    // Act
    const kind = classifyAwsError(err);

    // Assess
    expect(kind).toBe('other');
  });
});

describe('mapAwsError', () => {
  it('throws Throttled, TransientAwsError or the original error', () => {
    // Prepare
    const throttled = sdkError('Throttling');
    const transient = sdkError('ServiceUnavailable', { $fault: 'server', $metadata: { httpStatusCode: 503 } });
    const other = sdkError('ValidationException');

    // Act
    const caught = [throttled, transient, other].map((err) => {
      try {
        return mapAwsError('Route 53', err);
      } catch (mapped) {
        return mapped;
      }
    });

    // Assess
    expect(caught[0]).toBeInstanceOf(ThrottledError);
    expect(caught[0]).toMatchObject({ name: 'Throttled', message: 'Route 53 throttled the request (Throttling: Throttling happened)' });
    expect(caught[1]).toBeInstanceOf(TransientAwsError);
    expect(caught[2]).toBe(other);
  });

  it('passes an already typed error through unchanged', () => {
    // Prepare
    const typed = new ThrottledError('DynamoDB', new Error('x'));

    // Act
    const act = () => mapAwsError('SNS', typed);

    // Assess
    expect(act).toThrow(typed);
  });
});
