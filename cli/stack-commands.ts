/**
 * Commands against a deployed stack: start, status, watch, list, abort (approve says what it
 * can't do). The rollout record (DynamoDB, through the same DynamoRollouts adapter the steps
 * use) is what they read; the execution (Step Functions) is what `start` creates.
 */
import { randomBytes } from 'node:crypto';
import { DescribeExecutionCommand, StartExecutionCommand, type DescribeExecutionOutput } from '@aws-sdk/client-sfn';
import { DynamoRollouts } from '../functions/adapters/dynamodb-store.ts';
import type { RolloutRecord } from '../functions/core/rollout-record.ts';
import { makeClients, resolveStack, type AwsClients, type StackOptions } from './aws.ts';
import { checkConfigFile, readConfigFile } from './config-file.ts';
import { CliError, EXIT, makeStyle, type CliIO, type Style } from './io.ts';
import { EventRenderer, lastCheck, outcomeText, stagesOf, verdictMark, verdictText } from './render.ts';

/** Rollout ids are execution names: what the workflow's preflight accepts as one. */
const ROLLOUT_ID = /^[A-Za-z0-9_-]{1,80}$/;

export interface FollowOptions {
  poll?: string;
  timeout?: string;
}

function seconds(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} must be a positive number of seconds, not '${text}'`);
  return n;
}

function checkRolloutId(id: string): string {
  if (!ROLLOUT_ID.test(id)) throw new CliError(`'${id}' is not a rollout id: 1-80 letters, digits, '-' or '_' (the execution name; see canary list)`);
  return id;
}

/** A new execution name: the config's name, the UTC time, and 4 random hex digits. */
export function executionName(configName: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const base = configName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 55);
  return `${base}-${stamp}-${randomBytes(2).toString('hex')}`;
}

interface Context {
  io: CliIO;
  style: Style;
  clients: AwsClients;
}

function context(io: CliIO, opts: StackOptions, json = false): Context {
  return { io, style: makeStyle(io.color && !json), clients: makeClients(opts, io.env) };
}

function awsMessage(error: unknown): string {
  const e = error as Error;
  return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
}

export async function startCommand(file: string, opts: StackOptions & FollowOptions & { wait?: boolean; name?: string; json?: boolean }, io: CliIO): Promise<number> {
  // Validated here, before any AWS call: a bad config never reaches the account.
  const configFile = readConfigFile(file);
  const config = checkConfigFile(configFile);
  const name = opts.name ?? executionName(config.name);
  if (!ROLLOUT_ID.test(name)) throw new CliError(`--name must be 1-80 letters, digits, '-' or '_' (it becomes the rollout id), not '${name}'`);
  const pollSeconds = seconds(opts.poll, '--poll', 10);
  const timeoutSeconds = opts.timeout === undefined ? undefined : seconds(opts.timeout, '--timeout', 0);

  const ctx = context(io, opts, opts.json);
  const stack = await resolveStack(opts, { stateMachine: true, table: Boolean(opts.wait) }, ctx.clients, io.env);
  let started;
  try {
    started = await ctx.clients.sfn.send(new StartExecutionCommand({
      stateMachineArn: stack.stateMachineArn, name, input: JSON.stringify(configFile.raw),
    }));
  } catch (error) {
    const e = error as Error;
    if (e.name === 'ExecutionAlreadyExists') throw new CliError(`an execution named ${name} already exists: choose another --name`);
    if (e.name === 'StateMachineDoesNotExist') throw new CliError(`state machine ${stack.stateMachineArn} does not exist: check --stack / --state-machine-arn and --region`);
    throw new CliError(`could not start the execution: ${awsMessage(error)}`);
  }
  const executionArn = started.executionArn!;
  if (opts.json && !opts.wait) {
    io.out(JSON.stringify({ rolloutId: name, executionArn, startDate: started.startDate }, null, 2));
    return EXIT.PROMOTED;
  }
  const log = opts.json ? io.err : io.out;
  log(`started rollout ${ctx.style.bold(name)} of ${config.name} (${config.stages.map((s) => `${s.weight} %`).join(' → ')})`);
  log(`  execution ${executionArn}`);
  if (!opts.wait) {
    log(`  follow it: canary watch ${name}${opts.stack ? ` --stack ${opts.stack}` : ''}`);
    return EXIT.PROMOTED;
  }
  return follow(ctx, { rolloutId: name, executionArn, tableName: stack.tableName!, pollSeconds, timeoutSeconds, json: opts.json });
}

export async function watchCommand(id: string, opts: StackOptions & FollowOptions & { json?: boolean }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const pollSeconds = seconds(opts.poll, '--poll', 10);
  const timeoutSeconds = opts.timeout === undefined ? undefined : seconds(opts.timeout, '--timeout', 0);
  const ctx = context(io, opts, opts.json);
  const stack = await resolveStack(opts, { table: true }, ctx.clients, io.env);
  return follow(ctx, { rolloutId: id, tableName: stack.tableName!, pollSeconds, timeoutSeconds, json: opts.json });
}

interface FollowArgs {
  rolloutId: string;
  executionArn?: string;
  tableName: string;
  pollSeconds: number;
  timeoutSeconds?: number;
  json?: boolean;
}

const TERMINAL_RECORD = new Set(['PROMOTED', 'ROLLED_BACK', 'ROLLBACK_FAILED']);

/**
 * Prints the rollout's events as they appear until it ends. The rollout record's status is the
 * decision (final once Conclude wrote it); the execution's status covers what ends it without
 * one (refused at preflight, stopped, timed out).
 */
async function follow(ctx: Context, a: FollowArgs): Promise<number> {
  const { io, style } = ctx;
  const rollouts = new DynamoRollouts(ctx.clients.dynamo, a.tableName);
  const deadline = a.timeoutSeconds === undefined ? Infinity : Date.now() + a.timeoutSeconds * 1000;
  let renderer: EventRenderer | undefined;
  let cursor: string | undefined;
  let waitingShown = false;
  const show = async (record: RolloutRecord | null) => {
    if (!record || a.json) return;
    renderer ??= new EventRenderer({ style, startedAt: record.startedAt, stages: stagesOf(record), rolloutId: record.rolloutId });
    const page = await rollouts.events(a.rolloutId, cursor).catch((error) => {
      throw new CliError(`could not read the events of rollout ${a.rolloutId} from table ${a.tableName}: ${awsMessage(error)}`);
    });
    for (const e of page.events) for (const line of renderer.render(e)) io.out(line);
    cursor = page.cursor ?? cursor;
  };
  for (;;) {
    let record = await rollouts.get(a.rolloutId).catch((error) => {
      throw new CliError(`could not read rollout ${a.rolloutId} from table ${a.tableName}: ${awsMessage(error)}`);
    });
    await show(record);
    if (record && TERMINAL_RECORD.has(record.status)) return finishWithRecord(ctx, record, a.json);
    const executionArn = a.executionArn ?? record?.executionArn;
    if (!record && !executionArn) throw new CliError(`no rollout ${a.rolloutId} in table ${a.tableName} (see canary list)`);
    let execution: DescribeExecutionOutput | undefined;
    if (executionArn) {
      try {
        execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
      } catch (error) {
        if (!record) throw new CliError(`could not describe execution ${executionArn}: ${awsMessage(error)}`);
      }
    }
    if (execution && execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') {
      record = await rollouts.get(a.rolloutId);
      await show(record);
      if (record && TERMINAL_RECORD.has(record.status)) return finishWithRecord(ctx, record, a.json);
      return finishWithExecution(ctx, execution, record, a.json);
    }
    if (!record && !waitingShown && !a.json) {
      io.out(style.dim('waiting for the preflight (the rollout record appears once it passed)…'));
      waitingShown = true;
    }
    if (Date.now() >= deadline) {
      throw new CliError(`rollout ${a.rolloutId} is still ${record?.status ?? 'starting'} after ${a.timeoutSeconds} s (--timeout); it goes on: canary watch ${a.rolloutId}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(a.pollSeconds * 1000, Math.max(0, deadline - Date.now()))));
  }
}

function finishWithRecord(ctx: Context, record: RolloutRecord, json?: boolean): number {
  const code = record.status === 'PROMOTED' ? EXIT.PROMOTED : record.status === 'ROLLED_BACK' ? EXIT.ROLLED_BACK : EXIT.ERROR;
  if (json) {
    ctx.io.out(JSON.stringify({ rolloutId: record.rolloutId, status: record.status, exitCode: code, decision: record.decision ?? null }, null, 2));
    return code;
  }
  const { io, style } = ctx;
  const stages = stagesOf(record);
  const d = record.decision;
  io.out('');
  if (record.status === 'PROMOTED') {
    io.out(`${outcomeText('PROMOTED', style)}: ${record.rolloutId} ended with the canary at 100 %`);
  } else if (record.status === 'ROLLED_BACK') {
    io.out(`${outcomeText('ROLLED_BACK', style)}: ${record.rolloutId}${d ? ` at stage ${d.stageIndex + 1}${stages.length ? `/${stages.length}` : ''} (canary ${d.weight} %)` : ''}; traffic is back at 100 % baseline`);
  } else {
    io.out(`${outcomeText(record.status, style)}: ${record.rolloutId}: the rollback could not be applied; check the record set now`);
  }
  for (const r of d?.reasons ?? []) io.out(`  - ${r}`);
  return code;
}

function finishWithExecution(ctx: Context, execution: DescribeExecutionOutput, record: RolloutRecord | null, json?: boolean): number {
  const status = execution.status ?? 'UNKNOWN';
  if (status === 'SUCCEEDED') {
    if (json) ctx.io.out(JSON.stringify({ rolloutId: execution.name, status: 'PROMOTED', exitCode: EXIT.PROMOTED }, null, 2));
    else ctx.io.out(`${outcomeText('PROMOTED', ctx.style)}: execution ${execution.name} succeeded`);
    return EXIT.PROMOTED;
  }
  if (status === 'FAILED' && execution.error === 'RolledBack') {
    if (json) ctx.io.out(JSON.stringify({ rolloutId: execution.name, status: 'ROLLED_BACK', exitCode: EXIT.ROLLED_BACK, cause: execution.cause ?? null }, null, 2));
    else ctx.io.out(`${outcomeText('ROLLED_BACK', ctx.style)}: ${execution.cause ?? ''}`);
    return EXIT.ROLLED_BACK;
  }
  const why = [execution.error, execution.cause].filter(Boolean).join(': ');
  if (status === 'FAILED' && !record) throw new CliError(`the rollout was refused before any traffic moved: ${why || 'no cause given'}`);
  throw new CliError(`execution ${execution.name} ended ${status}${why ? ` (${why})` : ''} while the rollout was ${record?.status ?? 'not started'}: check the traffic with canary status ${execution.name}`);
}

export async function statusCommand(id: string, opts: StackOptions & { json?: boolean }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const ctx = context(io, opts, opts.json);
  const stack = await resolveStack(opts, { table: true }, ctx.clients, io.env);
  const record = await new DynamoRollouts(ctx.clients.dynamo, stack.tableName!).get(id).catch((error) => {
    throw new CliError(`could not read rollout ${id} from table ${stack.tableName}: ${awsMessage(error)}`);
  });
  if (!record) throw new CliError(`no rollout ${id} in table ${stack.tableName} (see canary list)`);
  let execution: DescribeExecutionOutput | undefined;
  if (record.executionArn) {
    execution = await ctx.clients.sfn.send(new DescribeExecutionCommand({ executionArn: record.executionArn })).catch(() => undefined);
  }
  if (opts.json) {
    io.out(JSON.stringify({ ...record, execution: execution ? { status: execution.status, error: execution.error, cause: execution.cause } : null }, null, 2));
    return EXIT.PROMOTED;
  }
  for (const line of formatStatus(record, execution, ctx.style)) io.out(line);
  return EXIT.PROMOTED;
}

export function formatStatus(record: RolloutRecord, execution: DescribeExecutionOutput | undefined, style: Style): string[] {
  const stages = stagesOf(record);
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`  ${name.padEnd(11)} ${value}`);
  lines.push(`${style.bold(record.rolloutId)} (${record.name})`);
  const statusText = record.status === 'PROMOTED' || record.status === 'ROLLED_BACK' ? outcomeText(record.status, style) : style.bold(record.status);
  field('status', `${statusText} · stage ${record.stageIndex + 1}${stages.length ? `/${stages.length}` : ''} · canary ${record.weight} %`);
  if (stages.length) field('plan', stages.map((w, i) => (i === record.stageIndex ? style.bold(`[${w} %]`) : `${w} %`)).join(' → '));
  field('target', record.targetKey);
  field('started', record.startedAt);
  field('updated', record.updatedAt);
  if (record.executionArn) field('execution', `${record.executionArn}${execution?.status ? ` (${execution.status})` : ''}`);
  const check = lastCheck(record);
  if (check) {
    field('last check', `${verdictText(check.verdict, style)} at ${check.at} (stage ${check.stageIndex + 1}, canary ${check.weight} %)`);
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
  const stack = await resolveStack(opts, { table: true }, ctx.clients, io.env);
  const records = await new DynamoRollouts(ctx.clients.dynamo, stack.tableName!).list(limit).catch((error) => {
    throw new CliError(`could not list the rollouts of table ${stack.tableName}: ${awsMessage(error)}`);
  });
  if (opts.json) {
    io.out(JSON.stringify(records, null, 2));
    return EXIT.PROMOTED;
  }
  if (records.length === 0) {
    io.out(`no rollouts in table ${stack.tableName} yet: start one with canary start FILE`);
    return EXIT.PROMOTED;
  }
  const rows = [['ROLLOUT', 'NAME', 'STATUS', 'STAGE', 'CANARY', 'STARTED'], ...records.map((r) => {
    const stages = stagesOf(r);
    return [r.rolloutId, r.name, r.status, `${r.stageIndex + 1}${stages.length ? `/${stages.length}` : ''}`, `${r.weight} %`, r.startedAt];
  })];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const [i, row] of rows.entries()) {
    const text = row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
    io.out(i === 0 ? ctx.style.bold(text) : text);
  }
  return EXIT.PROMOTED;
}

export async function abortCommand(id: string, opts: StackOptions & { reason?: string }, io: CliIO): Promise<number> {
  checkRolloutId(id);
  const reason = (opts.reason ?? `aborted from the canary CLI${io.env.USER ? ` by ${io.env.USER}` : ''}`).trim();
  if (!reason || reason.length > 500) throw new CliError('--reason must be 1-500 characters');
  const ctx = context(io, opts);
  const stack = await resolveStack(opts, { table: true }, ctx.clients, io.env);
  try {
    // Not StopExecution: the workflow reads the request at its next analysis and rolls back the
    // whole shift itself, stores the decision and opens the incident. Stopping it would leave
    // the traffic where it is.
    await new DynamoRollouts(ctx.clients.dynamo, stack.tableName!).requestAbort(id, reason, new Date());
  } catch (error) {
    const e = error as Error;
    if (e.name === 'RolloutNotFound') throw new CliError(`no rollout ${id} in table ${stack.tableName} (see canary list)`);
    if (e.name === 'RolloutNotRunning') throw new CliError(`${e.message}`);
    throw new CliError(`could not request the abort: ${awsMessage(error)}`);
  }
  io.out(`abort requested for ${ctx.style.bold(id)}: "${reason}"`);
  io.out('  the workflow rolls the whole shift back at its next analysis (at the latest when the current bake or check interval ends),');
  io.out(`  records the reason and releases the lock (no incident: you asked for it). Follow it: canary watch ${id}`);
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
  const stack = await resolveStack(opts, { table: true }, ctx.clients, io.env);
  const rollouts = new DynamoRollouts(ctx.clients.dynamo, stack.tableName!);
  const record = await rollouts.get(id).catch((error) => {
    throw new CliError(`could not read rollout ${id} from table ${stack.tableName}: ${awsMessage(error)}`);
  });
  if (!record) throw new CliError(`no rollout ${id} in table ${stack.tableName} (see canary list)`);
  if (record.status !== 'RUNNING') throw new CliError(`rollout ${id} is ${record.status}: there is no gate to answer`);
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
    throw new CliError(`could not answer the gate: ${awsMessage(error)}`);
  }
  const stages = stagesOf(record);
  const weight = record.pendingApproval?.stageIndex === stageIndex ? record.pendingApproval.weight : stages[stageIndex];
  io.out(approved
    ? `approved stage ${stageIndex + 1}${weight !== undefined ? ` (canary ${weight} %)` : ''} of ${ctx.style.bold(id)}: the workflow sets the weight at its next poll`
    : `rejected stage ${stageIndex + 1}${weight !== undefined ? ` (canary ${weight} %)` : ''} of ${ctx.style.bold(id)}: the workflow rolls the whole shift back at its next poll`);
  io.out(`  follow it: canary watch ${id}`);
  return EXIT.PROMOTED;
}
