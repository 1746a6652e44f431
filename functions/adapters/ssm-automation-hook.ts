/**
 * SSM Automation runbooks as action hooks (HookPort): StartAutomationExecution of the hook's
 * document with its parameters filled in from the rollout (`{{ rolloutId }}`,
 * `{{ target.recordName }}`...), returning the execution id for the evidence and the incident.
 * The execution is started, never awaited: a heap dump or isolating canary tasks takes as long
 * as it takes, and the rollback it follows has already restored the baseline.
 *
 * The ClientToken is derived from the rollout, the moment, the stage and the hook's name, so a
 * step retried by Step Functions does not start the runbook twice. Never throws.
 *
 * IAM: ssm:StartAutomationExecution on the HookAutomationDocumentArns parameter's runbooks, and
 * iam:PassRole on HookAutomationRoleArn (the runbook's AutomationAssumeRole), nothing else.
 */
import { createHash } from 'node:crypto';
import { StartAutomationExecutionCommand, type SSMClient } from '@aws-sdk/client-ssm';
import {
  MAX_HOOK_OUTPUT_CHARS, renderHookParameters, type ActionHook, type HookPort, type HookResult, type VerificationContext,
} from '../core/verification.ts';
import { awsAttempt, REAL_RETRY_ENV, untilAborted, withRetries, type Attempt, type RetryEnv } from './verifier-retry.ts';

/** A UUID-shaped token (version 5 layout) from a SHA-256 of the hook run's identity. */
export function automationClientToken(context: Pick<VerificationContext, 'rolloutId' | 'moment' | 'stage'>, hookName: string): string {
  const hex = createHash('sha256').update(`${context.rolloutId}\n${context.moment}\n${context.stage.index}\n${hookName}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export class SsmAutomationHooks implements HookPort {
  readonly #client: SSMClient;
  readonly #env: RetryEnv;

  constructor(client: SSMClient, options: { retryEnv?: RetryEnv } = {}) {
    this.#client = client;
    this.#env = options.retryEnv ?? REAL_RETRY_ENV;
  }

  async run(hook: ActionHook, context: VerificationContext): Promise<HookResult> {
    const result = (fields: Pick<HookResult, 'id' | 'status'> & Partial<HookResult>): HookResult => ({
      hook: hook.name, type: hook.type, moment: context.moment, ...fields, at: new Date(this.#env.now()).toISOString(),
    });
    if (hook.type !== 'ssm-automation') return result({ id: null, status: 'FAILED', reason: `the SSM Automation hook runner cannot start a ${hook.type} hook` });
    const parameters = renderHookParameters(hook, context);
    const output = JSON.stringify({ document: hook.document, parameters }).slice(0, MAX_HOOK_OUTPUT_CHARS);
    let executionId: string | null = null;
    const deadline = new Date(this.#env.now() + hook.timeoutSeconds * 1000);
    // A throttled start gets one more try; the client token keeps it one execution.
    const outcome = await withRetries({ maxAttempts: 2, backoffMs: 200 }, deadline, this.#env, async (_n, signal): Promise<Attempt> => {
      try {
        const out = await untilAborted(this.#client.send(new StartAutomationExecutionCommand({
          DocumentName: hook.document,
          ...(hook.documentVersion ? { DocumentVersion: hook.documentVersion } : {}),
          Parameters: parameters,
          ClientToken: automationClientToken(context, hook.name),
        }), { abortSignal: signal }), signal);
        executionId = out.AutomationExecutionId ?? null;
        return { kind: 'answer', body: executionId ?? '' };
      } catch (error) {
        return awsAttempt('SSM Automation', error, signal, (name) => {
          if (name === 'AccessDeniedException') return 'the stack may start only the runbooks in HookAutomationDocumentArns, passing only HookAutomationRoleArn';
          if (name === 'AutomationDefinitionNotFoundException') return 'no such runbook in this account and region';
          return undefined;
        });
      }
    });
    switch (outcome.status) {
      case 'answered': return result({ id: executionId, status: 'STARTED', output });
      case 'error': return result({ id: null, status: 'FAILED', reason: outcome.reason, output });
      case 'timed-out': return result({ id: null, status: 'FAILED', reason: `not started within its ${hook.timeoutSeconds} s timeout`, output });
    }
  }
}
