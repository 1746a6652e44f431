/**
 * The `canary` command line: simulate, validate, judge and backtest on this machine; start,
 * status, watch, list, approve, reject, abort, promote --full, pause, resume, retry and report
 * against a deployed stack. Exit codes:
 * 0 promoted (or done), 1 error, 2 rolled back, 3 halted. Errors are one line,
 * `canary: <message>`; --debug adds the stack trace.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigValidationError } from '../functions/core/errors.ts';
import { SCENARIO_NAMES } from '../sim/scenarios.ts';
import { DeadlineExceeded } from './deadline.ts';
import { CliError, EXIT, fitWidth, MAX_WIDTH, processIO, type CliIO } from './io.ts';
import { registerJudgeCommands } from './judge-commands.ts';
import { registerReport } from './report/command.ts';
import { scenarioList, simulateCommand } from './simulate-command.ts';
import { validateCommand } from './validate-command.ts';
import { cliVersion } from './version.ts';

const example = (...lines: string[]) => `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

function withStackOptions(cmd: Command, timeout = 'give up after this long, AWS calls included (exit 1)'): Command {
  return cmd
    .option('--stack <name>', 'CloudFormation stack of the canary analyzer (default: $CANARY_STACK, else stack_name in ./samconfig.toml); its outputs StateMachineArn and RolloutTableName are used')
    .option('--state-machine-arn <arn>', 'the rollout state machine, instead of reading it from --stack')
    .option('--table <name>', 'the rollouts DynamoDB table, instead of reading it from --stack')
    .option('--region <region>', 'AWS region (default: $AWS_REGION, else the profile\'s)')
    .option('--profile <name>', 'AWS profile from ~/.aws/config (default: $AWS_PROFILE)')
    .option('--endpoint-url <url>', 'AWS endpoint to call instead, e.g. a local moto_server (default: $AWS_ENDPOINT_URL)')
    .option('--timeout <seconds>', timeout);
}

const FOLLOW_TIMEOUT = 'give up after this long, AWS calls included (exit 1; the rollout goes on)';

function followOptions(cmd: Command): Command {
  return cmd.option('--poll <seconds>', 'seconds between two reads of the rollout', '10');
}

/** Stack commands load the AWS SDK only when they run: simulate and validate start fast. */
const stackCommands = () => import('./stack-commands.ts');

export function buildProgram(io: CliIO, setExit: (code: number) => void): Command {
  const program = new Command('canary')
    .description('Automated canary analysis for services behind Route 53 weighted records: shift traffic in stages, judge the metrics, promote or roll back.')
    .version(cliVersion(), '-V, --version', 'print the version of canary and exit')
    .option('--debug', 'show stack traces (and, with simulate, the steps\' log lines on stderr)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s, write) => write(`canary: ${s.replace(/^error: /, '').trim()}\n`),
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', `${example(
      'canary simulate                           # a whole rollout on this machine, no AWS account',
      'canary simulate --scenario memory-leak',
      'canary validate examples/rollout.yaml',
      'canary start examples/rollout.yaml --stack canary-analyzer --wait',
    )}

Exit codes: 0 promoted (or done), 1 error, 2 rolled back (or judge --fail-on met), 3 halted.
Colors on a terminal; FORCE_COLOR=1 for CI logs, NO_COLOR=1 for none.`);

  program.command('simulate')
    .description('Run a whole rollout locally: the real state machine and steps, simulated Route 53, CloudWatch and DynamoDB, a modelled service. Exit 0 promoted, 2 rolled back, 3 halted (onFailure: halt, nobody answers in the simulator), 1 error.')
    .option('--config <file>', 'rollout config, YAML or JSON (default: the example examples/rollout.json, shipped with canary)')
    .addOption(new Option('--scenario <name>', 'how the canary behaves').choices(SCENARIO_NAMES).default('healthy'))
    .option('--seed <n>', 'seed of the simulated noise: the same seed gives the same output', '1')
    .option('--json', 'print one JSON document (the decision, checks and events) instead of progress')
    .option('--report <file.html>', 'also write the run\'s report (timeline, charts, post-incident summary) as one self-contained HTML file')
    .option('--list-scenarios', 'list the scenarios and exit')
    .option('--rollouts <n>', 'fleet-throttling: how many rollouts share the account (default 100)')
    .option('--route53-rate <n>', "fleet-throttling: Route 53's requests per second for the account (default 10; 5 was the old quota)")
    .addHelpText('after', `\nScenarios:\n${fitWidth(scenarioList(), MAX_WIDTH, 23).join('\n')}\n${example('canary simulate --scenario error-spike --seed 7', 'canary simulate --config examples/low-traffic.yaml --scenario low-traffic --json > run.json')}`)
    .action(async (opts: { config?: string; scenario: string; seed: string; json?: boolean; report?: string; listScenarios?: boolean; rollouts?: string; route53Rate?: string }) => {
      if (opts.listScenarios) {
        for (const line of fitWidth(scenarioList().map((l) => l.trimStart()), io.width, 21)) io.out(line);
        return setExit(EXIT.PROMOTED);
      }
      setExit(await simulateCommand({ ...opts, debug: program.opts().debug }, io));
    });

  program.command('validate')
    .description('Check a rollout config or a soak config (YAML or JSON) on this machine, changing nothing, and print the resolved plan: stages, metrics with their CloudWatch queries and thresholds, incident targets. '
      + 'The kind is told by the fields only one kind has (target, preset, stages... for a rollout; comparison, windowSeconds, postPromotionRollback, metrics with `query` for a soak), else by which it has fewer problems as. '
      + 'Every problem names the field, its line and the fix: an unknown field gets "did you mean" the closest allowed one, a wrong type or choice names the choices. Exit 0 valid, 1 not.')
    .argument('<file>', 'rollout or soak config, YAML or JSON')
    .addOption(new Option('--kind <kind>', 'check the file as this kind instead of telling it by its fields').choices(['rollout', 'soak']))
    .option('--json', 'print {valid, kind, kindReason, errors: [{path, line, message, fix}], plan} as JSON instead (plan: the resolved config, only when valid; exit 1 on errors)')
    .addHelpText('after', example('canary validate examples/rollout.yaml', 'canary validate examples/soak.json', 'canary validate examples/rollout-alb.yaml --json > validation.json'))
    .action((file: string, opts: { json?: boolean; kind?: 'rollout' | 'soak' }) => setExit(validateCommand(file, opts, io)));

  followOptions(withStackOptions(program.command('start')
    .description('Validate a rollout config locally (a bad one never reaches AWS), then start the rollout on the deployed stack (StartExecution; a name already used is refused). With --wait, follow it: exit 0 promoted, 2 rolled back, 3 halted, 1 otherwise.')
    .argument('<file>', 'rollout config, YAML or JSON')
    .option('--wait', 'follow the rollout until it is promoted, rolled back or halted')
    .option('--name <name>', 'execution name, which is the rollout id; used once (default: <config name>-<UTC time>-<random>)')
    .option('--json', 'print JSON instead of progress'), FOLLOW_TIMEOUT))
    .addHelpText('after', example('canary start examples/rollout.yaml --stack canary-analyzer --wait', 'CANARY_STACK=canary-analyzer canary start examples/rollout.json --name checkout-v42'))
    .action(async (file: string, opts) => setExit(await (await stackCommands()).startCommand(file, opts, io)));

  withStackOptions(program.command('status')
    .description('Show a rollout: status, stage and canary weight, the last check with its values, the decision and its reasons; a rollout still in preflight (no record yet) is shown from its execution. Exit 0 running or promoted, 2 rolled back, 3 halted, 1 error or refused.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--json', 'print the rollout record as JSON'))
    .addHelpText('after', example('canary status checkout-api-20260101T120000Z-3f9a --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await stackCommands()).statusCommand(id, opts, io)));

  followOptions(withStackOptions(program.command('watch')
    .description('Follow a rollout until it ends, printing each weight change and check (alike lines collapsed). Exit 0 promoted, 2 rolled back, 3 halted, 1 otherwise.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--json', 'print only the outcome, as JSON'), FOLLOW_TIMEOUT))
    .addHelpText('after', example('canary watch checkout-api-20260101T120000Z-3f9a --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await stackCommands()).watchCommand(id, opts, io)));

  withStackOptions(program.command('list')
    .description('List the most recent rollouts, newest first (--json for scripts: statuses as ROLLED_BACK, ...).')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print JSON'))
    .addHelpText('after', example('canary list --stack canary-analyzer --limit 5'))
    .action(async (opts) => setExit(await (await stackCommands()).listCommand(opts, io)));

  withStackOptions(program.command('approve')
    .description('Approve the manual gate a rollout waits at (a stage with approval: true): the workflow then sets that stage\'s weight at its next poll. Exit 0 once the answer is recorded.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--stage <n>', 'the stage (1 is the first) whose gate to approve (default: the one it waits at)')
    .option('--reason <text>', 'recorded with the answer')
    .option('--by <name>', 'who approves (default: $USER)'))
    .addHelpText('after', example('canary approve checkout-api-20260101T120000Z-3f9a --reason "dashboards look fine" --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await stackCommands()).answerCommand(id, true, opts, io)));

  withStackOptions(program.command('reject')
    .description('Reject the manual gate a rollout waits at: the workflow rolls the whole shift back (no incident is opened: a person decided). Exit 0 once the answer is recorded.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--stage <n>', 'the stage (1 is the first) whose gate to reject (default: the one it waits at)')
    .option('--reason <text>', 'why, recorded in the decision')
    .option('--by <name>', 'who rejects (default: $USER)'))
    .addHelpText('after', example('canary reject checkout-api-20260101T120000Z-3f9a --reason "support tickets about checkout" --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await stackCommands()).answerCommand(id, false, opts, io)));

  withStackOptions(program.command('abort')
    .description('Ask a running rollout to roll back: the workflow reverses the whole shift at its next analysis or gate check, records the reason and releases the lock; no incident is opened (a person asked for it). A rollout still in preflight has moved nothing: its execution is stopped (StopExecution). Exit 0 once requested; follow it with canary watch.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--reason <text>', 'why, recorded in the decision (default: aborted from the canary CLI by $USER)'))
    .addHelpText('after', example('canary abort checkout-api-20260101T120000Z-3f9a --reason "customer reports of 502s" --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await stackCommands()).abortCommand(id, opts, io)));

  const controlCommands = () => import('./control-commands.ts');
  const byOption = '--by <name>';
  const byHelp = 'who asks, recorded with the request (default: the caller\'s AWS identity from STS, else $USER)';

  withStackOptions(program.command('promote')
    .description('With --full: send a running, paused or halted rollout to 100 % now, skipping the remaining stages\' analysis and gates (an emergency fix that must ship). The workflow acts at its next step: one shift to 100 %, still fenced, waited for and read back; the decision says MANUAL_PROMOTION with who and why. Exit 0 once requested; follow it with canary watch.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--full', 'required: skip the remaining stages\' analysis and go to 100 % (a rollout whose checks pass promotes itself)')
    .option('--reason <text>', 'why, recorded with the request and the decision')
    .option(byOption, byHelp))
    .addHelpText('after', example('canary promote checkout-api-20260101T120000Z-3f9a --full --reason "fix for INC-1234 must ship" --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await controlCommands()).promoteCommand(id, opts, io)));

  withStackOptions(program.command('pause')
    .description('Hold a running rollout at its current weight: no weight moves and the stage\'s clock stops until canary resume (at most 30 d). Checks keep running while paused, and a failure still rolls back (or halts, with onFailure: halt). Exit 0 once requested.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--reason <text>', 'why, recorded with the request')
    .option(byOption, byHelp))
    .addHelpText('after', example('canary pause checkout-api-20260101T120000Z-3f9a --reason "waiting for the partner\'s smoke test" --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await controlCommands()).pauseCommand(id, opts, io)));

  withStackOptions(program.command('resume')
    .description('Go on after canary pause (the stage continues where it was), or after a halt (onFailure: halt): the halted stage is judged again from now at the frozen weight (a halt at a gate asks for that shift again), and the halt\'s incident is resolved. Exit 0 once requested.')
    .argument('<id>', 'rollout id (the execution name)')
    .option('--reason <text>', 'why, recorded with the request')
    .option(byOption, byHelp))
    .addHelpText('after', example('canary resume checkout-api-20260101T120000Z-3f9a --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await controlCommands()).resumeCommand(id, opts, io)));

  followOptions(withStackOptions(program.command('retry')
    .description('Start a rollout again with the config its record kept, after an abort, a rollback, or a halt that ended in one: a new execution whose record says retryOf ID, while ID\'s record says retriedBy the new id. A rollout still running, paused or halted is refused. Exit 0 once started; with --wait, follow the retry like start --wait: exit 0 promoted, 2 rolled back, 3 halted, 1 otherwise.')
    .argument('<id>', 'rollout id (the execution name) of the rolled-back rollout')
    .option('--wait', 'follow the new rollout until it is promoted, rolled back or halted')
    .option('--name <name>', 'the new rollout\'s id (default: <config name>-<UTC time>-<random>)')
    .option('--reason <text>', 'why, recorded on the old rollout with the link')
    .option(byOption, byHelp)
    .option('--json', 'print the new rollout\'s id and execution as JSON (with --wait: the final record, progress on stderr)'), FOLLOW_TIMEOUT))
    .addHelpText('after', example('canary retry checkout-api-20260101T120000Z-3f9a --name checkout-v42-retry --stack canary-analyzer'))
    .action(async (id: string, opts) => setExit(await (await controlCommands()).retryCommand(id, opts, io)));

  registerReport(program, io, setExit);
  registerJudgeCommands(program, io, setExit);

  return program;
}

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  let exitCode: number = EXIT.ERROR;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  const debug = () => Boolean(program.opts().debug) || argv.includes('--debug');
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.ERROR;
    }
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT.PROMOTED : EXIT.ERROR;
    }
    if (error instanceof DeadlineExceeded) {
      io.err(`canary: ${error.message}`);
      return EXIT.ERROR;
    }
    if (error instanceof CliError) {
      io.err(`canary: ${error.message}`);
      for (const line of error.details) io.err(line);
      if (debug() && error.stack) io.err(error.stack);
      return error.exitCode;
    }
    if (error instanceof ConfigValidationError) {
      io.err(`canary: not a valid rollout config (${error.issues.length} problem${error.issues.length === 1 ? '' : 's'}):`);
      for (const issue of error.issues) io.err(`  ${issue}`);
      return EXIT.ERROR;
    }
    const e = error as Error;
    io.err(`canary: ${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e?.message ?? String(error)}`);
    if (debug() && e?.stack) io.err(e.stack);
    return EXIT.ERROR;
  }
}
