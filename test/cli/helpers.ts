/** Running the `canary` CLI from tests: as a process (exit codes, bytes) or in-process (fast). */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../cli/main.ts';
import type { CliIO } from '../../cli/io.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = fileURLToPath(new URL('../../cli/canary.ts', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** An environment without the caller's AWS settings or colors: only what a test gives. */
export function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) =>
    !k.startsWith('AWS_') && k !== 'CANARY_STACK' && k !== 'NO_COLOR' && k !== 'FORCE_COLOR')) as Record<string, string>;
  return Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** `node cli/canary.ts ...args` with the Node running the tests, waiting for it (in the repository, or `cwd`). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, cwd = REPO): CliRun {
  const t0 = performance.now();
  const out = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: cleanEnv(env), timeout: 60_000 });
  return { code: out.status, stdout: out.stdout, stderr: out.stderr, ms: performance.now() - t0 };
}

/** The same, without blocking the test (for commands that wait on something the test does). */
export function startCli(args: string[], env: Record<string, string | undefined> = {}, cwd = REPO): Promise<CliRun> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: cleanEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** `main()` in this process, with its output captured. */
export async function runMain(
  args: string[], options: { env?: Record<string, string | undefined>; color?: boolean; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    out: (t) => out.push(t), err: (t) => err.push(t), color: options.color ?? false, env: cleanEnv(options.env ?? {}), cwd: options.cwd ?? REPO,
  };
  const code = await main(args, io);
  return { code, stdout: out.length ? `${out.join('\n')}\n` : '', stderr: err.length ? `${err.join('\n')}\n` : '' };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 100 ms until it holds; fails after `timeoutMs`. */
export async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(100);
  }
  throw new Error('condition not met in time');
}
