/**
 * Commands against a deployed stack: start, status, watch, list, approve, reject, abort (promote
 * --full, pause, resume and retry are in control-commands.ts). The rollout record (DynamoDB,
 * through the same DynamoRollouts adapter the steps use) is what they read; the execution (Step
 * Functions) is what `start` creates, and what `status` and `abort` look at while the rollout is
 * still in preflight (its record is written when preflight passes).
 *
 * Every command runs under one deadline (`--timeout`), AWS calls included (cli/deadline.ts).
 */
import { randomBytes } from 'node:crypto';
import { DescribeExecutionCommand, StartExecutionCommand, StopExecutionCommand, type DescribeExecutionOutput } from '@aws-sdk/client-sfn';
import { DynamoRollouts } from '../functions/adapters/dynamodb-store.ts';
import type { RolloutRecord } from '../functions/core/rollout-record.ts';
import { awsFailure, executionArnOf, makeClients, optional, resolveStack, type AwsClients, type Stack, type StackOptions } from './aws.ts';
import { checkConfigFile, readConfigFile } from './config-file.ts';
import { Deadline, DeadlineExceeded, timeoutSeconds } from './deadline.ts';
import { CliError, EXIT, exitCodeOfStatus, fitWidth, makeStyle, statusWords, type CliIO, type Style } from './io.ts';
import { EventRenderer, lastCheck, outcomeText, stagesOf, verdictMark, verdictText } from './render.ts';

/** Rollout ids are execution names: what the workflow's preflight accepts as one. */
export const ROLLOUT_ID = /^[A-Za-z0-9_-]{1,80}$/;

export interface FollowOptions {
  poll?: string;
}

export function checkRolloutId(id: string): string {
  if (!ROLLOUT_ID.test(id)) throw new CliError(`'${id}' is not a rollout id: 1-80 letters, digits, '-' or '_' (the execution name; see canary list)`);
  return id;
}

/** A new execution name: the config's name, the UTC time, and 4 random hex digits. */
export function executionName(configName: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = configName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 55);
  return `${base}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export interface Context {
  io: CliIO;
  style: Style;
  clients: AwsClients;
  deadline: Deadline;
  /** Human lines, kept within the output's width. */
  print(lines: string[]): void;
}

export function context(io: CliIO, opts: StackOptions, json = false): Context {
  const deadline = new Deadline(timeoutSeconds(opts.timeout));
  return {
    io, deadline, style: makeStyle(io.color && !json), clients: makeClients(opts, io.env, deadline),
    print: (lines) => {
      for (const line of fitWidth(lines, io.width)) io.out(line);
    },
  };
}

/**
 * Runs a command under its deadline. When the deadline passes, `onDeadline` says what that means
 * for the rollout (default: which AWS call was still waiting).
 */
export function underDeadline(ctx: Context, work: () => Promise<number>, onDeadline?: () => string): Promise<number> {
  return ctx.deadline.run(work, () => {
    const seconds = ctx.deadline.seconds ?? 0;
    if (onDeadline) return new CliError(onDeadline());
    const call = ctx.clients.session.inFlight;
    return new CliError(`gave up after ${seconds} s (--timeout)${call ? `: no answer yet from ${ctx.clients.session.where()} to ${call}` : ''}`);
  });
}

export const rolloutStore = (ctx: Context, stack: Stack) => new DynamoRollouts(ctx.clients.dynamo, stack.tableName!);

export async function readRecord(ctx: Context, stack: Stack, id: string): Promise<RolloutRecord | null> {
  return rolloutStore(ctx, stack).get(id).catch((error) => {
    throw awsFailure(`could not read rollout ${id} from table ${stack.tableName}`, error);
  });
}

/** The execution named `id` of the stack's state machine: undefined when it does not exist or cannot be asked. */
export async function findExecution(ctx: Context, stack: Stack, id: string): Promise<DescribeExecutionOutput | undefined> {
  const executionArn = stack.stateMachineArn ? executionArnOf(stack.stateMachineArn, id) : undefined;
  if (!executionArn) return undefined;
  try {
    return await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist') return undefined;
    throw awsFailure(`could not describe execution ${executionArn}`, error);
  }
}

const whyOf = (execution: DescribeExecutionOutput) => [execution.error, execution.cause].filter(Boolean).join(': ');

export async function startCommand(file: string, opts: StackOptions & FollowOptions & { wait?: boolean; name?: string; json?: boolean }, io: CliIO): Promise<number> {
  // Validated here, before any AWS call: a bad config never reaches the account.
  const configFile = readConfigFile(file);
  const config = checkConfigFile(configFile);
  const name = opts.name ?? executionName(config.name);
  if (!ROLLOUT_ID.test(name)) throw new CliError(`--name must be 1-80 letters, digits, '-' or '_' (it becomes the rollout id), not '${name}'`);
  const pollSeconds = timeoutSeconds(opts.poll ?? '10', '--poll')!;
  const ctx = context(io, opts, opts.json);
  let phase: 'before' | 'starting' | 'started' = 'before';
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { stateMachine: true, table: Boolean(opts.wait) }, ctx.clients, io);
    // A name already used: StartExecution would refuse other input, but with the same input it
    // returns the existing execution as if it had just started it (its idempotent retry).
    // Both checks are skipped where the role may not make them; StartExecution still refuses other input.
    const record = stack.tableName ? await optional(readRecord(ctx, stack, name)) : undefined;
    if (record) {
      throw new CliError(`rollout ${name} already exists (${statusWords(record.status)}, started ${record.startedAt}): a rollout id is used once; choose another --name, or leave it out for a generated one`);
    }
    const existing = await optional(findExecution(ctx, stack, name));
    if (existing) {
      throw new CliError(`an execution named ${name} already exists (${existing.status}, started ${existing.startDate?.toISOString() ?? 'earlier'}): a rollout id is used once; choose another --name, or leave it out for a generated one`);
    }
    phase = 'starting';
    let started;
    try {
      started = await ctx.clients.sfn.send(new StartExecutionCommand({
        stateMachineArn: stack.stateMachineArn, name, input: JSON.stringify(configFile.raw),
      }));
    } catch (error) {
      const e = error as Error;
      if (e.name === 'ExecutionAlreadyExists') throw new CliError(`an execution named ${name} already exists: a rollout id is used once; choose another --name`);
      if (e.name === 'StateMachineDoesNotExist') throw new CliError(`state machine ${stack.stateMachineArn} does not exist: check --stack / --state-machine-arn and --region`);
      throw awsFailure('could not start the execution', error);
    }
    phase = 'started';
    const executionArn = started.executionArn!;
    if (opts.json && !opts.wait) {
      io.out(JSON.stringify({ rolloutId: name, executionArn, startDate: started.startDate }, null, 2));
      return EXIT.PROMOTED;
    }
    const log = (lines: string[]) => {
      for (const line of fitWidth(lines, io.width)) (opts.json ? io.err : io.out)(line);
    };
    log([
      `started rollout ${ctx.style.bold(name)} of ${config.name} (${config.stages.map((s) => `${s.weight} %`).join(' → ')})`,
      `  execution ${executionArn}`,
    ]);
    if (!opts.wait) {
      log([`  follow it: canary watch ${name}${opts.stack ? ` --stack ${opts.stack}` : ''}`]);
      return EXIT.PROMOTED;
    }
    return follow(ctx, { rolloutId: name, executionArn, tableName: stack.tableName!, pollSeconds, json: opts.json });
  }, () => phase === 'before'
    ? `gave up after ${ctx.deadline.seconds} s (--timeout) before starting the rollout${ctx.clients.session.inFlight ? `: no answer yet from ${ctx.clients.session.where()} to ${ctx.clients.session.inFlight}` : ''}; nothing was started`
    : phase === 'starting'
      ? `gave up after ${ctx.deadline.seconds} s (--timeout) waiting for StartExecution: rollout ${name} may have started; check with canary status ${name}`
      : followTimeout(name, followed.get(ctx), ctx.deadline.seconds));
}

/** What a follow saw last, for the message when the deadline passes. */
export const followed = new WeakMap<Context, { status?: string }>();

export function followTimeout(id: string, seen: { status?: string } | undefined, seconds: number | undefined): string {
  return `rollout ${id} is still ${seen?.status ? statusWords(seen.status) : 'starting'} after ${seconds} s (--timeout); it goes on: canary watch ${id}`;
}

export async function watchCommand(id: string, opts: StackOptions & FollowOptions & { json?: boolean }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const pollSeconds = timeoutSeconds(opts.poll ?? '10', '--poll')!;
  const ctx = context(io, opts, opts.json);
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true }, ctx.clients, io);
    // A rollout still in preflight has no record yet: its execution, when the state machine is known, says how it goes.
    const executionArn = stack.stateMachineArn ? executionArnOf(stack.stateMachineArn, id) : undefined;
    return follow(ctx, { rolloutId: id, executionArn, tableName: stack.tableName!, pollSeconds, json: opts.json });
  }, () => {
    const seen = followed.get(ctx);
    if (seen?.status === undefined && ctx.clients.session.inFlight) {
      return `gave up after ${ctx.deadline.seconds} s (--timeout): no answer yet from ${ctx.clients.session.where()} to ${ctx.clients.session.inFlight}; the rollout, if any, goes on`;
    }
    return followTimeout(id, seen, ctx.deadline.seconds);
  });
}

interface FollowArgs {
  rolloutId: string;
  executionArn?: string;
  tableName: string;
  pollSeconds: number;
  json?: boolean;
}

/** Record statuses after which nothing more happens on its own (HALTED: a person decides). */
const TERMINAL_RECORD = new Set(['PROMOTED', 'ROLLED_BACK', 'ROLLBACK_FAILED', 'HALTED']);

/**
 * Prints the rollout's events as they appear until it ends. The rollout record's status is the
 * decision (final once Conclude wrote it); the execution's status covers what ends it without
 * one (refused at preflight, stopped, timed out).
 */
export async function follow(ctx: Context, a: FollowArgs): Promise<number> {
  const { io, style } = ctx;
  const rollouts = new DynamoRollouts(ctx.clients.dynamo, a.tableName);
  const seen: { status?: string } = {};
  followed.set(ctx, seen);
  let renderer: EventRenderer | undefined;
  let cursor: string | undefined;
  let waitingShown = false;
  const show = async (record: RolloutRecord | null) => {
    if (!record || a.json) return;
    renderer ??= new EventRenderer({ style, startedAt: record.startedAt, stages: stagesOf(record), rolloutId: record.rolloutId, width: io.width });
    const page = await rollouts.events(a.rolloutId, cursor).catch((error) => {
      throw awsFailure(`could not read the events of rollout ${a.rolloutId} from table ${a.tableName}`, error);
    });
    for (const e of page.events) for (const line of renderer.render(e)) io.out(line);
    cursor = page.cursor ?? cursor;
  };
  const end = (lines: string[]) => {
    for (const line of renderer?.flush() ?? []) io.out(line);
    return lines;
  };
  const read = () => rollouts.get(a.rolloutId).catch((error) => {
    throw awsFailure(`could not read rollout ${a.rolloutId} from table ${a.tableName}`, error);
  });
  for (;;) {
    let record = await read();
    if (record) seen.status = record.status;
    await show(record);
    if (record && TERMINAL_RECORD.has(record.status)) return finishWithRecord(ctx, record, a.json, end);
    const executionArn = a.executionArn ?? record?.executionArn;
    if (!record && !executionArn) throw new CliError(`no rollout ${a.rolloutId} in table ${a.tableName} (see canary list; a rollout still in preflight is found with --stack or --state-machine-arn)`);
    let execution: DescribeExecutionOutput | undefined;
    if (executionArn) {
      try {
        execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
      } catch (error) {
        if (error instanceof DeadlineExceeded) throw error;
        if (!record) {
          if ((error as Error).name === 'ExecutionDoesNotExist') throw new CliError(`no rollout ${a.rolloutId}: neither a record in table ${a.tableName} nor an execution ${executionArn} (see canary list)`);
          throw awsFailure(`could not describe execution ${executionArn}`, error);
        }
      }
    }
    if (!record && execution) seen.status ??= 'in preflight';
    if (execution && execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
      record = await read();
      await show(record);
      if (record && TERMINAL_RECORD.has(record.status)) return finishWithRecord(ctx, record, a.json, end);
      end([]);
      return finishWithExecution(ctx, execution, record, a.json);
    }
    if (!record && !waitingShown && !a.json) {
      io.out(style.dim('waiting for the preflight (the rollout record appears once it passed)…'));
      waitingShown = true;
    }
    await ctx.deadline.sleep(a.pollSeconds * 1000);
  }
}

function finishWithRecord(ctx: Context, record: RolloutRecord, json: boolean | undefined, end: (lines: string[]) => string[]): number {
  const code = exitCodeOfStatus(record.status);
  if (json) {
    const d = record.decision;
    ctx.io.out(JSON.stringify({ rolloutId: record.rolloutId, status: record.status, exitCode: code, decision: d ? { ...d, stage: d.stageIndex + 1 } : null }, null, 2));
    return code;
  }
  const { style } = ctx;
  const stages = stagesOf(record);
  const d = record.decision;
  const lines = end(['']);
  if (record.status === 'PROMOTED') {
    lines.push(`${outcomeText('PROMOTED', style)}: ${record.rolloutId} ended with the canary at 100 %`);
  } else if (record.status === 'ROLLED_BACK') {
    lines.push(`${outcomeText('ROLLED_BACK', style)}: ${record.rolloutId}${d ? ` at stage ${d.stageIndex + 1}${stages.length ? `/${stages.length}` : ''} (canary ${d.weight} %)` : ''}; traffic is back at 100 % baseline`);
  } else if (record.status === 'HALTED') {
    // onFailure: halt: nothing more happens on its own before the deadline, so watch ends here (exit 3).
    lines.push(`${outcomeText(record.status, style)}: ${record.rolloutId} at stage ${record.stageIndex + 1}${stages.length ? `/${stages.length}` : ''} with the canary at ${record.weight} %: the weights are frozen until a person decides (canary status ${record.rolloutId})`);
  } else {
    lines.push(`${outcomeText(record.status, style)}: ${record.rolloutId}: the rollback could not be applied; check the record set now`);
  }
  for (const r of d?.reasons ?? []) lines.push(`  - ${r}`);
  ctx.print(lines);
  return code;
}

function finishWithExecution(ctx: Context, execution: DescribeExecutionOutput, record: RolloutRecord | null, json?: boolean): number {
  const status = execution.status ?? 'UNKNOWN';
  if (status === 'SUCCEEDED') {
    if (json) ctx.io.out(JSON.stringify({ rolloutId: execution.name, status: 'PROMOTED', exitCode: EXIT.PROMOTED }, null, 2));
    else ctx.print([`${outcomeText('PROMOTED', ctx.style)}: execution ${execution.name} succeeded`]);
    return EXIT.PROMOTED;
  }
  if (status === 'FAILED' && execution.error === 'RolledBack') {
    if (json) ctx.io.out(JSON.stringify({ rolloutId: execution.name, status: 'ROLLED_BACK', exitCode: EXIT.ROLLED_BACK, cause: execution.cause ?? null }, null, 2));
    else ctx.print([`${outcomeText('ROLLED_BACK', ctx.style)}: ${execution.cause ?? ''}`]);
    return EXIT.ROLLED_BACK;
  }
  const why = whyOf(execution);
  if (!record) {
    throw new CliError(status === 'ABORTED'
      ? `the execution was stopped in preflight, before any traffic moved${why ? ` (${why})` : ''}`
      : `the rollout was refused before any traffic moved: ${why || `the execution ended ${status} without a cause`}`);
  }
  throw new CliError(`execution ${execution.name} ended ${status}${why ? ` (${why})` : ''} while the rollout was ${statusWords(record.status)}: check the traffic with canary status ${execution.name}`);
}

/** What `status` says of a rollout with no record: in preflight, refused or stopped there, or unknown. */
function preflightStatus(ctx: Context, id: string, execution: DescribeExecutionOutput, json?: boolean): number {
  const status = execution.status ?? 'UNKNOWN';
  const running = status === 'RUNNING' || status === 'PENDING_REDRIVE';
  const code = running ? EXIT.PROMOTED : status === 'SUCCEEDED' ? EXIT.PROMOTED : EXIT.ERROR;
  const why = whyOf(execution);
  if (json) {
    ctx.io.out(JSON.stringify({
      rolloutId: id, status: running ? 'PREFLIGHT' : status === 'SUCCEEDED' ? 'UNKNOWN' : 'NOT_STARTED', exitCode: code,
      execution: { executionArn: execution.executionArn, status, startDate: execution.startDate, stopDate: execution.stopDate, error: execution.error, cause: execution.cause },
    }, null, 2));
    return code;
  }
  const { style } = ctx;
  const lines = [`${style.bold(id)}`];
  const field = (name: string, value: string) => lines.push(`  ${name.padEnd(11)} ${value}`);
  if (running) {
    field('status', `${style.bold('IN PREFLIGHT')} · nothing has moved yet`);
    field('', 'preflight checks the config, the records and the baseline, then takes the lock and writes the rollout record;');
    field('', `the first weight change follows. Follow it: canary watch ${id}. Stop it before anything moves: canary abort ${id}`);
  } else if (status === 'SUCCEEDED') {
    field('status', `the execution succeeded but no rollout record exists (deleted, or another table): check --stack / --table`);
  } else {
    field('status', `${style.bold('NOT STARTED')} · ${status === 'ABORTED' ? 'stopped in preflight' : 'refused in preflight'}, before any traffic moved`);
    if (why) field('why', why);
  }
  field('execution', `${execution.executionArn} (${status})`);
  if (execution.startDate) field('started', execution.startDate.toISOString());
  ctx.print(lines);
  return code;
}

export async function statusCommand(id: string, opts: StackOptions & { json?: boolean }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const ctx = context(io, opts, opts.json);
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true }, ctx.clients, io);
    const record = await readRecord(ctx, stack, id);
    if (!record) {
      const execution = await findExecution(ctx, stack, id);
      if (execution) return preflightStatus(ctx, id, execution, opts.json);
      throw new CliError(`no rollout ${id} in table ${stack.tableName}${stack.stateMachineArn ? ' and no execution of that name' : ' (a rollout still in preflight is found with --stack or --state-machine-arn)'}: see canary list`);
    }
    let execution: DescribeExecutionOutput | undefined;
    if (record.executionArn) {
      execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn: record.executionArn })).catch((error) => {
        if (error instanceof DeadlineExceeded) throw error;
        return undefined;
      });
    }
    // Like `kubectl argo rollouts status`: a pipeline can gate on the exit code (2 rolled back, 3 halted).
    const code = exitCodeOfStatus(record.status);
    if (opts.json) {
      io.out(JSON.stringify({
        ...record, stage: record.stageIndex + 1, exitCode: code,
        ...(record.decision ? { decision: { ...record.decision, stage: record.decision.stageIndex + 1 } } : {}),
        execution: execution ? { status: execution.status, error: execution.error, cause: execution.cause } : null,
      }, null, 2));
      return code;
    }
    ctx.print(formatStatus(record, execution, ctx.style));
    return code;
  });
}

/** The status a person reads: PAUSED for a running rollout that `canary pause` holds (the record keeps RUNNING). */
export function shownStatus(record: RolloutRecord): string {
  return record.status === 'RUNNING' && record.paused ? 'PAUSED' : record.status;
}

export function formatStatus(record: RolloutRecord, execution: DescribeExecutionOutput | undefined, style: Style): string[] {
  const stages = stagesOf(record);
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`  ${name.padEnd(11)} ${value}`);
  const more = (value: string) => lines.push(`  ${' '.repeat(11)} ${value}`);
  const id = record.rolloutId;
  lines.push(`${style.bold(record.rolloutId)} (${record.name})`);
  field('status', `${outcomeText(shownStatus(record), style)} · stage ${record.stageIndex + 1}${stages.length ? `/${stages.length}` : ''} · canary ${record.weight} %`);
  if (stages.length) field('plan', stages.map((w, i) => (i === record.stageIndex ? style.bold(`[${w} %]`) : `${w} %`)).join(' → '));
  field('target', record.targetKey);
  field('started', record.startedAt);
  field('updated', record.updatedAt);
  if (record.executionArn) field('execution', `${record.executionArn}${execution?.status ? ` (${execution.status})` : ''}`);
  const check = lastCheck(record);
  if (check) {
    const kind = check.duringBake ? ', during the bake' : check.hold ? ', while held' : '';
    field('last check', `${verdictText(check.verdict, style)} at ${check.at} (stage ${check.stageIndex + 1}, canary ${check.weight} %${kind})`);
    for (const m of check.metrics) lines.push(`  ${' '.repeat(11)} ${verdictMark(m.verdict, style)} ${m.reason}`);
  } else {
    field('last check', 'none yet');
  }
  const gate = record.pendingApproval;
  if (gate && record.approval?.stageIndex !== gate.stageIndex && record.status === 'RUNNING') {
    field('gate', style.yellow(`waiting for approval before stage ${gate.stageIndex + 1} (canary ${gate.weight} %) until ${gate.deadline}`));
    lines.push(`  ${' '.repeat(11)} canary approve ${record.rolloutId}  |  canary reject ${record.rolloutId} --reason "..."`);
  }
  if (record.abortRequested) field('abort', `requested at ${record.abortRequested.at}: ${record.abortRequested.reason}`);
  const asked = (r: { by: string; at: string; reason?: string }) => `by ${r.by} at ${r.at}${r.reason ? `: ${r.reason}` : ''}`;
  const active = record.status === 'RUNNING' || record.status === 'HALTED';
  if (record.paused && record.status === 'RUNNING') {
    field('paused', style.yellow(asked(record.paused)));
    more(`the weight is held and the stage's clock stopped; checks keep running and a failure still ${record.config?.onFailure === 'halt' ? 'halts' : 'rolls back'}`);
    more(`canary resume ${id} goes on`);
  }
  if (record.status === 'HALTED' && record.halted) {
    const h = record.halted;
    field('halted', style.yellow(`at ${h.at} (stage ${h.stageIndex + 1}, canary ${h.weight} %): the weights are frozen until a person decides`));
    for (const r of h.reasons) more(`- ${r}`);
    more(`without an answer by ${h.deadline} it rolls back; answer with one of:`);
    more(`canary abort ${id} --reason "..."`);
    more(`canary promote ${id} --full --reason "..."`);
    more(`canary resume ${id}`);
  }
  if (record.promoteRequested && active) {
    field('promote', `--full requested ${asked(record.promoteRequested)}`);
    more('the canary goes to 100 % at the next step, skipping the remaining stages\' analysis');
  }
  if (record.resumeRequested && record.status === 'HALTED') {
    field('resume', `requested ${asked(record.resumeRequested)}`);
    more('the halted stage is judged again from the next poll');
  }
  if (record.hotfix) field('hotfix', `${record.hotfix.metrics.join(', ')} judged against the baseline only${record.hotfix.healthyAt ? ` until ${record.hotfix.healthyAt} (the baseline is healthy again)` : ', until the baseline is healthy'}`);
  if (record.retryOf) field('retry of', record.retryOf);
  if (record.retriedBy) field('retried by', `${record.retriedBy} (canary status ${record.retriedBy})`);
  const d = record.decision;
  if (d) {
    field('decision', `${outcomeText(d.outcome, style)} at ${d.at} (stage ${d.stageIndex + 1}, canary ${d.weight} %)`);
    for (const r of d.reasons) lines.push(`  ${' '.repeat(11)} - ${r}`);
  } else {
    field('decision', 'none yet');
  }
  return lines;
}

export async function listCommand(opts: StackOptions & { limit?: string; json?: boolean }, io: CliIO): Promise<number> {
  const limit = opts.limit === undefined ? 20 : Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError(`--limit must be an integer from 1 to 1000, not '${opts.limit}'`);
  const ctx = context(io, opts, opts.json);
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true }, ctx.clients, io);
    const records = await rolloutStore(ctx, stack).list(limit).catch((error) => {
      throw awsFailure(`could not list the rollouts of table ${stack.tableName}`, error);
    });
    if (opts.json) {
      io.out(JSON.stringify(records.map((r) => ({ ...r, stage: r.stageIndex + 1 })), null, 2));
      return EXIT.PROMOTED;
    }
    if (records.length === 0) {
      io.out(`no rollouts in table ${stack.tableName} yet: start one with canary start FILE`);
      return EXIT.PROMOTED;
    }
    const rows = [['ROLLOUT', 'NAME', 'STATUS', 'STAGE', 'CANARY', 'STARTED'], ...records.map((r) => {
      const stages = stagesOf(r);
      return [r.rolloutId, r.name, statusWords(shownStatus(r)), `${r.stageIndex + 1}${stages.length ? `/${stages.length}` : ''}`, `${r.weight} %`, r.startedAt];
    })];
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
    for (const [i, row] of rows.entries()) {
      const text = row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
      io.out(i === 0 ? ctx.style.bold(text) : text);
    }
    return EXIT.PROMOTED;
  });
}

export async function abortCommand(id: string, opts: StackOptions & { reason?: string }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const reason = (opts.reason ?? `aborted from the canary CLI${io.env.USER ? ` by ${io.env.USER}` : ''}`).trim();
  if (!reason || reason.length > 500) throw new CliError('--reason must be 1-500 characters');
  const ctx = context(io, opts);
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true }, ctx.clients, io);
    try {
      // Not StopExecution: the workflow reads the request at its next analysis and rolls back the
      // whole shift itself, stores the decision and releases the lock. Stopping it would leave
      // the traffic where it is until the safety net acts.
      await rolloutStore(ctx, stack).requestAbort(id, reason, new Date());
    } catch (error) {
      const e = error as Error;
      if (e.name === 'RolloutNotFound') return abortInPreflight(ctx, stack, id, reason);
      if (e.name === 'RolloutNotRunning') throw new CliError(`${e.message}`);
      throw awsFailure('could not request the abort', error);
    }
    ctx.print([
      `abort requested for ${ctx.style.bold(id)}: "${reason}"`,
      '  the workflow rolls the whole shift back at its next analysis (at the latest when the current bake or check interval ends),',
      `  records the reason and releases the lock. No incident is opened: a person asked for it. Follow it: canary watch ${id}`,
    ]);
    return EXIT.PROMOTED;
  });
}

/**
 * Abort before the rollout record exists: the execution is in preflight, which reads and checks but
 * moves no traffic, so stopping the execution (StopExecution) is safe. The safety net sees the stop
 * and releases the lock if the preflight had taken it; a preflight Lambda still finishing after the
 * stop may write the record, and then the reconciler closes it (traffic stays at 100 % baseline).
 */
async function abortInPreflight(ctx: Context, stack: Stack, id: string, reason: string): Promise<number> {
  if (!stack.stateMachineArn) {
    throw new CliError(`no rollout ${id} in table ${stack.tableName}; if it is still in preflight, pass --stack or --state-machine-arn so that abort can stop its execution`);
  }
  const execution = await findExecution(ctx, stack, id);
  if (!execution) throw new CliError(`no rollout ${id} in table ${stack.tableName} and no execution of that name (see canary list)`);
  if (execution.status !== 'RUNNING') {
    const why = whyOf(execution);
    throw new CliError(`rollout ${id} ended in preflight (${execution.status}${why ? `: ${why}` : ''}) before any traffic moved: there is nothing to abort`);
  }
  try {
    await ctx.clients.sfn.send(new StopExecutionCommand({ executionArn: execution.executionArn, error: 'AbortedInPreflight', cause: reason.slice(0, 32_768) }));
  } catch (error) {
    throw awsFailure(`could not stop execution ${execution.executionArn}`, error);
  }
  ctx.print([
    `rollout ${ctx.style.bold(id)} was still in preflight: its execution was stopped (StopExecution, cause "${reason}").`,
    '  Nothing had moved: preflight only checks the config, the records and the baseline before taking the lock.',
    '  No incident is opened. Should the preflight step have been finishing as it stopped, the reconciler closes',
    '  the rollout it recorded and releases the lock; traffic stays at 100 % baseline.',
  ]);
  return EXIT.PROMOTED;
}

/**
 * Answers a manual gate (a stage with `approval: true`): the workflow polls the rollout record
 * and sets the stage's weight once approved, or rolls back once rejected.
 */
export async function answerCommand(
  id: string, approved: boolean, opts: StackOptions & { stage?: string; reason?: string; by?: string }, io: CliIO,
): Promise<number> {
  checkRolloutId(id);
  const by = (opts.by ?? io.env.USER ?? 'canary-cli').trim().slice(0, 100) || 'canary-cli';
  if (opts.reason !== undefined && (opts.reason.trim().length === 0 || opts.reason.length > 500)) throw new CliError('--reason must be 1-500 characters');
  const ctx = context(io, opts);
  return underDeadline(ctx, async () => {
    const stack = await resolveStack(opts, { table: true }, ctx.clients, io);
    const rollouts = rolloutStore(ctx, stack);
    const record = await readRecord(ctx, stack, id);
    if (!record) throw new CliError(`no rollout ${id} in table ${stack.tableName} (see canary list)`);
    if (record.status !== 'RUNNING') throw new CliError(`rollout ${id} is ${statusWords(record.status)}: there is no gate to answer`);
    let stageIndex: number;
    if (opts.stage !== undefined) {
      const n = Number(opts.stage);
      if (!Number.isInteger(n) || n < 1) throw new CliError(`--stage must be a stage number (1 is the first), not '${opts.stage}'`);
      stageIndex = n - 1;
    } else if (record.pendingApproval) {
      stageIndex = record.pendingApproval.stageIndex;
    } else {
      throw new CliError(`rollout ${id} is not waiting for an approval (stage ${record.stageIndex + 1}, canary ${record.weight} %); stages wait only where the config says approval: true`);
    }
    try {
      await rollouts.answerApproval(id, { stageIndex, approved, by, at: new Date().toISOString(), ...(opts.reason ? { reason: opts.reason.trim() } : {}) });
    } catch (error) {
      const e = error as Error;
      if (e.name === 'RolloutNotFound' || e.name === 'RolloutNotRunning' || e.name === 'GateNotPending') throw new CliError(e.message);
      throw awsFailure('could not answer the gate', error);
    }
    const stages = stagesOf(record);
    const weight = record.pendingApproval?.stageIndex === stageIndex ? record.pendingApproval.weight : stages[stageIndex];
    ctx.print([
      approved
        ? `approved stage ${stageIndex + 1}${weight !== undefined ? ` (canary ${weight} %)` : ''} of ${ctx.style.bold(id)}: the workflow sets the weight at its next poll`
        : `rejected stage ${stageIndex + 1}${weight !== undefined ? ` (canary ${weight} %)` : ''} of ${ctx.style.bold(id)}: the workflow rolls the whole shift back at its next poll (no incident: a person decided)`,
      `  follow it: canary watch ${id}`,
    ]);
    return EXIT.PROMOTED;
  });
}
