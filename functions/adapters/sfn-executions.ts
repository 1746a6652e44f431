/**
 * ExecutionsPort on Step Functions: DescribeExecution, for the safety net and the reconciler to ask
 * whether a rollout's execution still runs.
 */
import { DescribeExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionStatus, ExecutionsPort } from '../core/ports.ts';
import { callAws, isAwsError } from './aws-errors.ts';

const SERVICE = 'Step Functions';

export class SfnExecutions implements ExecutionsPort {
  readonly #client: SFNClient;

  constructor(client: SFNClient) {
    this.#client = client;
  }

  async describe(executionArn: string): Promise<ExecutionStatus> {
    try {
      const out = await callAws(SERVICE, () => this.#client.send(new DescribeExecutionCommand({ executionArn })));
      return {
        status: (out.status ?? 'RUNNING') as ExecutionStatus['status'],
        ...(out.stopDate ? { stopDate: out.stopDate.toISOString() } : {}),
        ...(out.error ? { error: out.error } : {}),
        ...(out.cause ? { cause: out.cause } : {}),
      };
    } catch (error) {
      // Executions are kept 90 days after they end; one that is gone has long ended.
      if (isAwsError(error, 'ExecutionDoesNotExist')) return { status: 'NOT_FOUND' };
      throw error;
    }
  }
}
