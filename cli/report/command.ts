/**
 * `canary report ID`: the rollout's record (DynamoDB) and evidence (S3: every check's raw
 * datapoints) from the deployed stack, printed as a timeline with small charts and the
 * post-incident summary, and written as one self-contained HTML file. `--input` does the same
 * from files (the evidence copied out of S3, or `{ record, checks }` JSON); `canary simulate
 * --report FILE.html` writes the same report from a simulated run.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RolloutEvidence, StoredCheck } from '../../functions/core/ports.ts';
import { buildReport, type ReportModel } from '../../functions/core/report.ts';
import type { RolloutHistory } from '../../functions/core/rollout-record.ts';
import type { SimulationResult } from '../../sim/simulate.ts';
import type { StackOptions } from '../aws.ts';
import { displayPath } from '../config-file.ts';
import { CliError, EXIT, fitWidth, makeStyle, MAX_WIDTH, type CliIO } from '../io.ts';
import { renderHtml } from './html.ts';
import { renderTerminal } from './terminal.ts';

const ROLLOUT_ID = /^[A-Za-z0-9_-]{1,80}$/;
export const OUTPUT_EVIDENCE_BUCKET = 'EvidenceBucketName';

export interface ReportCommandOptions extends StackOptions {
  bucket?: string;
  out?: string;
  json?: boolean;
  input?: string;
}

/** The report of a simulated run (its record, and the raw windows its in-memory evidence store kept). */
export function reportFromSimulation(result: SimulationResult, generatedAt = new Date().toISOString()): ReportModel | null {
  if (!result.record) return null;
  return buildReport({
    record: result.record, checks: result.checks, metrics: result.config.metrics, generatedAt,
    source: `simulation: scenario ${result.scenario}, seed ${result.seed} (simulated time)`,
  });
}

/** Writes the HTML report (creating the directory); returns the path as the user should see it. */
export function writeHtmlReport(model: ReportModel, file: string, io: CliIO, generator = 'canary report'): string {
  const path = resolve(io.cwd, file);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, renderHtml(model, { generator }));
  } catch (error) {
    throw new CliError(`could not write the report to ${file}: ${(error as Error).message}`);
  }
  return displayPath(path, io.cwd);
}

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (error) {
    throw new CliError(`could not read ${path}: ${(error as Error).message}`);
  }
}

/**
 * Evidence from files: a directory laid out as in S3 (`record.json`, `checks/0001.json`...; e.g.
 * `aws s3 cp --recursive s3://BUCKET/rollouts/ID/ ./ID`), or one JSON file holding
 * `{ record, checks }` or a bare rollout record.
 */
export function readEvidenceInput(path: string): RolloutEvidence {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new CliError(`--input ${path} does not exist`);
  }
  if (stat.isDirectory()) {
    const recordPath = join(path, 'record.json');
    const record = (() => {
      try {
        statSync(recordPath);
      } catch {
        throw new CliError(`${path} has no record.json: expected the layout of s3://BUCKET/rollouts/ID/`);
      }
      return readJson<RolloutHistory>(recordPath);
    })();
    const checksDir = join(path, 'checks');
    let files: string[] = [];
    try {
      files = readdirSync(checksDir).filter((f) => f.endsWith('.json'));
    } catch {
      files = [];
    }
    const checks = files.map((f) => readJson<StoredCheck>(join(checksDir, f))).sort((a, b) => a.checkNo - b.checkNo);
    return { record, checks };
  }
  const data = readJson<Partial<RolloutEvidence> & Partial<RolloutHistory>>(path);
  if (data.record && typeof data.record === 'object') return { record: data.record, checks: data.checks ?? [] };
  if (typeof data.rolloutId === 'string' && Array.isArray(data.events)) return { record: data as RolloutHistory, checks: [] };
  throw new CliError(`${path} is neither { record, checks } nor a rollout record`);
}

async function fromStack(id: string, opts: ReportCommandOptions, io: CliIO): Promise<{ evidence: RolloutEvidence; location?: string; source: string }> {
  // The AWS SDK loads only when a stack is read: --input and simulate stay fast.
  const [{ awsFailure, makeClients, makeS3Client, resolveStack }, { Deadline, timeoutSeconds }, { DynamoRollouts }, { S3Evidence }, { DescribeStacksCommand }] = await Promise.all([
    import('../aws.ts'), import('../deadline.ts'), import('../../functions/adapters/dynamodb-store.ts'), import('../../functions/adapters/s3-evidence.ts'),
    import('@aws-sdk/client-cloudformation'),
  ]);
  const deadline = new Deadline(timeoutSeconds(opts.timeout));
  const clients = makeClients(opts, io.env, deadline);
  return deadline.run(async () => {
    const stack = await resolveStack(opts, { table: true }, clients, io);
    let bucket = opts.bucket;
    const stackName = stack.stackName ?? opts.stack ?? io.env.CANARY_STACK;
    if (!bucket && stackName) {
      const out = await clients.cfn.send(new DescribeStacksCommand({ StackName: stackName })).catch((error: Error) => {
        if (error instanceof CliError) throw error;
        return undefined;
      });
      bucket = out?.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === OUTPUT_EVIDENCE_BUCKET)?.OutputValue;
    }
    const record = await new DynamoRollouts(clients.dynamo, stack.tableName!).history(id).catch((error: Error) => {
      throw awsFailure(`could not read rollout ${id} from table ${stack.tableName}`, error);
    });
    let stored: RolloutEvidence = { record: null, checks: [] };
    let location: string | undefined;
    if (bucket) {
      const evidence = new S3Evidence(makeS3Client(clients.session), bucket);
      location = evidence.locationOf(id);
      try {
        stored = await evidence.getRollout(id);
      } catch (error) {
        if (error instanceof CliError) throw error;
        const e = error as Error;
        io.err(`canary: warning: could not read the evidence in ${location} (${e.name}: ${e.message}); the charts show the judged values per check only`);
      }
    } else {
      io.err(`canary: warning: no evidence bucket (pass --bucket, or --stack for its ${OUTPUT_EVIDENCE_BUCKET} output); the charts show the judged values per check only`);
    }
    const latest = record ?? stored.record;
    if (!latest) throw new CliError(`no rollout ${id} in table ${stack.tableName}${bucket ? ` nor in s3://${bucket}` : ''} (see canary list)`);
    return { evidence: { record: latest, checks: stored.checks }, location, source: stackName ? `stack ${stackName}` : `table ${stack.tableName}` };
  }, () => new CliError(`gave up after ${deadline.seconds} s (--timeout)${clients.session.inFlight ? `: no answer yet from ${clients.session.where()} to ${clients.session.inFlight}` : ''}`));
}

export async function reportCommand(id: string | undefined, opts: ReportCommandOptions, io: CliIO): Promise<number> {
  if (id !== undefined && !ROLLOUT_ID.test(id)) throw new CliError(`'${id}' is not a rollout id: 1-80 letters, digits, '-' or '_' (the execution name; see canary list)`);
  if (!id && !opts.input) throw new CliError('which rollout? pass its id (canary report ID), or --input PATH');
  const { evidence, location, source } = opts.input
    ? { evidence: readEvidenceInput(opts.input), location: undefined, source: displayPath(resolve(io.cwd, opts.input), io.cwd) }
    : await fromStack(id!, opts, io);
  const record = evidence.record!;
  if (id && record.rolloutId !== id) throw new CliError(`${opts.input} holds rollout ${record.rolloutId}, not ${id}`);
  const model = buildReport({ record, checks: evidence.checks, source, evidenceLocation: location });

  const out = opts.out ?? `canary-report-${record.rolloutId}.html`;
  const written = writeHtmlReport(model, out, io);
  if (opts.json) {
    io.out(JSON.stringify({ ...model, htmlReport: written }, null, 2));
    return EXIT.PROMOTED;
  }
  const style = makeStyle(io.color);
  const width = Math.min(io.width ?? MAX_WIDTH, Number(io.env.COLUMNS) || MAX_WIDTH);
  for (const line of fitWidth(renderTerminal(model, { style, width }), width)) io.out(line);
  io.out('');
  io.out(`HTML report: ${written}`);
  return EXIT.PROMOTED;
}

/** Adds `canary report` to the program. */
export function registerReport(program: Command, io: CliIO, setExit: (code: number) => void): Command {
  return program.command('report')
    .description('Print a rollout\'s timeline, charts and post-incident summary, and write them as one self-contained HTML file. Reads the rollout record and its evidence (every check\'s raw datapoints) from the deployed stack, or files with --input.')
    .argument('[id]', 'rollout id (the execution name)')
    .option('--out <file.html>', 'where to write the HTML report (default: canary-report-<id>.html)')
    .option('--json', 'print the report as JSON (the HTML file is written too)')
    .option('--input <path>', 'read the evidence from files instead of the stack: a directory copied from s3://BUCKET/rollouts/ID/, or a JSON file { record, checks }')
    .option('--stack <name>', 'CloudFormation stack of the canary analyzer (default: $CANARY_STACK, else stack_name in ./samconfig.toml); its outputs RolloutTableName and EvidenceBucketName are used')
    .option('--table <name>', 'the rollouts DynamoDB table, instead of reading it from --stack')
    .option('--bucket <name>', 'the evidence S3 bucket, instead of reading it from --stack')
    .option('--region <region>', 'AWS region (default: $AWS_REGION, else the profile\'s)')
    .option('--profile <name>', 'AWS profile from ~/.aws/config (default: $AWS_PROFILE)')
    .option('--endpoint-url <url>', 'AWS endpoint to call instead, e.g. a local moto_server (default: $AWS_ENDPOINT_URL)')
    .option('--timeout <seconds>', 'give up after this long, AWS calls included (exit 1)')
    .addHelpText('after', [
      '',
      'Examples:',
      '  $ canary report checkout-api-20260101T120000Z-3f9a --stack canary-analyzer --out report.html',
      '  $ aws s3 cp --recursive s3://BUCKET/rollouts/ID/ ./ID && canary report --input ./ID',
      '  $ canary simulate --scenario error-spike --report report.html',
    ].join('\n'))
    .action(async (id: string | undefined, opts: ReportCommandOptions) => setExit(await reportCommand(id, opts, io)));
}
