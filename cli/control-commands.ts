/**
 * A person's controls on a deployed rollout besides abort and a gate's answer: `promote --full`,
 * `pause`, `resume` and `retry`. The first three are requests written on the rollout's head (one
 * conditional write with a CONTROL event saying who, why and when, DynamoRollouts.requestControl);
 * the workflow acts on them at its next step. `retry` starts a new execution with the config the
 * old record kept, linked both ways (`retryOf` on the new record, `retriedBy` on the old one).
 *
 * Who asked is `--by`, else the caller's STS identity (what CloudTrail would name), else $USER.
 */
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { controlRefusal, retryRefusal } from '../functions/core/controls.ts';
import { MAX_BY_CHARS, MAX_REASON_CHARS, type ControlAction, type ControlRequest, type RolloutRecord } from '../functions/core/rollout-record.ts';
import { awsFailure, callerIdentity, optional, resolveStack, type Stack, type StackOptions } from './aws.ts';
import { CliError, EXIT, fitWidth, statusWords, type CliIO } from './io.ts';
import { timeoutSeconds } from './deadline.ts';
import {
  checkRolloutId, context, executionName, findExecution, follow, followed, followTimeout, readRecord, ROLLOUT_ID, rolloutStore, underDeadline,
  type Context, type FollowOptions,
} from './stack-commands.ts';

export interface RequestOptions extends StackOptions {
  reason?: string;
  by?: string;
}

/** --reason and --by as given (checked before any AWS call). */
function checkRequestOptions(opts: RequestOptions): { reason?: string; by?: string } {
  const reason = opts.reason?.trim();
  if (opts.reason !== undefined && (!reason || reason.length > MAX_REASON_CHARS)) throw new CliError(`--reason must be 1-${MAX_REASON_CHARS} characters`);
  const by = opts.by?.trim();
  if (opts.by !== undefined && (!by || by.length > MAX_BY_CHARS)) throw new CliError(`--by must be 1-${MAX_BY_CHARS} characters`);
  return { ...(reason ? { reason } : {}), ...(by ? { by } : {}) };
}

/** Who asks: --by, else the caller's STS identity, else $USER, else `canary-cli`. */
async function whoAsks(ctx: Context, by: string | undefined): Promise<string> {
  if (by) return by;
  return (await callerIdentity(ctx.clients.session, MAX_BY_CHARS)) ?? ctx.io.env.USER?.trim().slice(0, MAX_BY_CHARS) ?? 'canary-cli';
}

/** A rollout with no record: in preflight (nothing to act on yet) or unknown. */
async function noRecord(ctx: Context, stack: Stack, id: string, what: string): Promise<never> {
  const execution = stack.stateMachineArn ? await optional(findExecution(ctx, stack, id)) : undefined;
  if (execution?.status === 'RUNNING') {
    throw new CliError(`rollout ${id} is still in preflight (no record yet, nothing has moved): there is nothing to ${what} yet; canary abort ${id} stops it`);
  }
  throw new CliError(`no rollout ${id} in table ${stack.tableName} (see canary list)`);
}

async function request(ctx: Context, stack: Stack, id: string, action: ControlAction, asked: ControlRequest): Promise<RolloutRecord> {
  const rollouts = rolloutStore(ctx, stack);
  const record = await readRecord(ctx, stack, id);
  const verb = { PROMOTE: 'promote', PAUSE: 'pause', RESUME: 'resume' }[action];
  if (!record) return noRecord(ctx, stack, id, verb);
  // Said before the write, in the words the store's refusal would use; the write's condition still decides.
  const refusal = controlRefusal(record, action);
  if (refusal) throw new CliError(refusal);
  try {
    await rollouts.requestControl(id, action, asked);
  } catch (error) {
    const e = error as Error;
    if (e.name === 'ControlRefused') throw new CliError(e.message);
    if (e.name === 'RolloutNotFound') return noRecord(ctx, stack, id, verb);
    throw awsFailure(`could not record the ${verb} request`, error);
  }
  return record;
}

/**
 * One request on a rollout's head (promote --full, pause, resume): checked here, written with
 * who and why, then said in `describe`'s words. Exit 0 once the request is recorded.
 */
async function requestCommand(
  id: string, opts: RequestOptions, io: CliIO, action: ControlAction,
  describe: (record: RolloutRecord, asked: { by: string; reason?: string }, ctx: Context) => string[],
): Promise<number> {
  checkRolloutId(id);
  const given = checkRequestOptions(opts);
  const ctx = context(io, opts);
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true }, ctx.clients, io);
    const by = await whoAsks(ctx, given.by);
    const asked = { by, ...(given.reason ? { reason: given.reason } : {}) };
    const record = await request(ctx, stack, id, action, { at: new Date().toISOString(), ...asked });
    ctx.print(describe(record, asked, ctx));
    return EXIT.PROMOTED;
  });
}

/** `by alice: "why"`, as the request lines say it. */
const askedBy = ({ by, reason }: { by: string; reason?: string }) => `by ${by}${reason ? `: "${reason}"` : ''}`;

export async function promoteCommand(id: string, opts: RequestOptions & { full?: boolean }, io: CliIO): Promise<number> {
  if (!opts.full) {
    throw new CliError(`promote needs --full: it sends the canary to 100 % now and skips the remaining stages' analysis and gates (canary promote ${id} --full --reason "..."); a rollout whose checks pass promotes itself`);
  }
  return requestCommand(id, opts, io, 'PROMOTE', (record, asked, ctx) => [
    `promote --full requested for ${ctx.style.bold(id)} ${askedBy(asked)}`,
    `  at its next step the workflow sends the canary from ${record.weight} % to 100 % in one shift (still waited for and read back),`,
    '  skipping the remaining stages\' analysis and gates; the decision says MANUAL_PROMOTION with who and why.',
    `  ${record.status === 'HALTED' ? 'The halt\'s incident is resolved. ' : ''}Follow it: canary watch ${id}`,
  ]);
}

export async function pauseCommand(id: string, opts: RequestOptions, io: CliIO): Promise<number> {
  return requestCommand(id, opts, io, 'PAUSE', (record, asked, ctx) => [
    `pause requested for ${ctx.style.bold(id)} ${askedBy(asked)}`,
    `  at its next step the workflow holds the weight (now canary ${record.weight} %) and stops the stage's clock until canary resume ${id}.`,
    `  Checks keep running while paused, and a failure still ${record.config?.onFailure === 'halt' ? 'halts it (onFailure: halt)' : 'rolls it back'}. A pause ends by itself after 30 d.`,
    `  Follow it: canary watch ${id}`,
  ]);
}

export async function resumeCommand(id: string, opts: RequestOptions, io: CliIO): Promise<number> {
  return requestCommand(id, opts, io, 'RESUME', (record, asked, ctx) => record.status === 'HALTED'
    ? [
      `resume requested for the HALTED rollout ${ctx.style.bold(id)} ${askedBy(asked)}`,
      `  within a minute the workflow judges stage ${record.stageIndex + 1} again from now, at the frozen weight (canary ${record.weight} %)`,
      '  (a halt at a gate asks for that shift again instead), and resolves the halt\'s incident; a failure halts it again.',
      `  Follow it: canary watch ${id}`,
    ]
    : [
      `resume requested for ${ctx.style.bold(id)} ${askedBy(asked)}`,
      `  at its next step the stage goes on where it was (canary ${record.weight} %), its clock moved on by the time paused.`,
      `  Follow it: canary watch ${id}`,
    ]);
}

/**
 * Starts a rollout again with the config its record kept (after an abort, a rollback, or a halt
 * that ended in one). The old record is linked first (a conditional write: two retries of the same
 * rollout cannot both start), then the execution starts; should it not start, the link is undone.
 */
export async function retryCommand(id: string, opts: RequestOptions & FollowOptions & { name?: string; json?: boolean; wait?: boolean }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const given = checkRequestOptions(opts);
  const pollSeconds = timeoutSeconds(opts.poll ?? '10', '--poll')!;
  if (opts.name !== undefined && !ROLLOUT_ID.test(opts.name)) throw new CliError(`--name must be 1-80 letters, digits, '-' or '_' (it becomes the rollout id), not '${opts.name}'`);
  const ctx = context(io, opts, opts.json);
  let startedName: string | undefined;
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true, stateMachine: true }, ctx.clients, io);
    const rollouts = rolloutStore(ctx, stack);
    const record = await readRecord(ctx, stack, id);
    if (!record) {
      const execution = await optional(findExecution(ctx, stack, id));
      if (execution?.status === 'RUNNING') throw new CliError(`rollout ${id} is still in preflight: retry it once it has ended (canary abort ${id} stops it)`);
      throw new CliError(`no rollout ${id} in table ${stack.tableName}${execution ? ` (its execution ended ${execution.status} in preflight, before any traffic moved: start it again with canary start FILE)` : ' (see canary list)'}`);
    }
    const refusal = retryRefusal(record);
    if (refusal) throw new CliError(refusal);
    const config = record.config!;
    const name = opts.name ?? executionName(config.name);
    if (name === id) throw new CliError(`--name ${name} is the rollout being retried: a rollout id is used once; choose another --name`);
    const used = await optional(readRecord(ctx, stack, name));
    const existing = used ? undefined : await optional(findExecution(ctx, stack, name));
    if (used || existing) throw new CliError(`rollout ${name} already exists (${used ? statusWords(used.status) : existing!.status}): a rollout id is used once; choose another --name`);
    const by = await whoAsks(ctx, given.by);
    const at = new Date().toISOString();
    try {
      await rollouts.linkRetry(id, name, { at, by, ...(given.reason ? { reason: given.reason } : {}) });
    } catch (error) {
      const e = error as Error;
      if (e.name === 'ControlRefused') throw new CliError(e.message);
      throw awsFailure(`could not link rollout ${id} to its retry`, error);
    }
    let executionArn: string;
    try {
      const started = await ctx.clients.sfn.send(new StartExecutionCommand({
        stateMachineArn: stack.stateMachineArn, name, input: JSON.stringify({ ...config, retryOf: id }),
      }));
      executionArn = started.executionArn!;
    } catch (error) {
      await rollouts.unlinkRetry(id, name, new Date().toISOString(), (error as Error).name ?? 'StartExecution failed').catch(() => undefined);
      if ((error as Error).name === 'ExecutionAlreadyExists') throw new CliError(`an execution named ${name} already exists: a rollout id is used once; choose another --name`);
      throw awsFailure(`could not start the retry of ${id} (the link on ${id} was undone)`, error);
    }
    startedName = name;
    if (opts.json && !opts.wait) {
      io.out(JSON.stringify({ rolloutId: name, retryOf: id, executionArn, by }, null, 2));
      return EXIT.PROMOTED;
    }
    const lines = [
      `started rollout ${ctx.style.bold(name)}, a retry of ${id} by ${by}`,
      `  ${id} was ${statusWords(record.status)}${record.decision ? `: ${record.decision.reasons[0] ?? record.decision.trigger}` : ''}`,
      `  the same config (${config.name}, ${config.stages.map((s) => `${s.weight} %`).join(' → ')}), kept on ${id}'s record`,
      `  linked both ways: ${id}'s record says retriedBy ${name}; ${name}'s says retryOf ${id} once its preflight passes`,
      `  execution ${executionArn}`,
    ];
    if (!opts.wait) {
      ctx.print([...lines, `  follow it: canary watch ${name}`]);
      return EXIT.PROMOTED;
    }
    // As start --wait: progress on stderr under --json, the retry's outcome as the exit code.
    for (const line of fitWidth(lines, io.width)) (opts.json ? io.err : io.out)(line);
    return follow(ctx, { rolloutId: name, executionArn, tableName: stack.tableName!, pollSeconds, json: opts.json });
  }, () => startedName
    ? followTimeout(startedName, followed.get(ctx), ctx.deadline.seconds)
    : `gave up after ${ctx.deadline.seconds} s (--timeout) before the retry of ${id} started${ctx.clients.session.inFlight ? `: no answer yet from ${ctx.clients.session.where()} to ${ctx.clients.session.inFlight}` : ''}; check with canary status ${id}`);
}
