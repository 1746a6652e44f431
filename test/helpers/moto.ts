/**
 * moto_server for integration tests: the real AWS wire protocols on a free loopback port.
 *
 *   const skip = motoSkipReason();           // at collection: null, or why the suite is skipped
 *   describe.skipIf(skip !== null)('…', () => {
 *     const moto = useMoto();                // started in beforeAll, stopped in afterAll
 *     it('…', async () => { new SFNClient({ ...motoClientConfig(moto.endpoint) }) … });
 *   });
 *
 * Without moto_server on PATH the suite is skipped with a visible message, unless CI=true:
 * then it fails (CI must run these tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const MOTO_REGION = 'us-east-1';
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** Full path of an executable on PATH, or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Null when moto_server can run; else the reason the suite is skipped (printed once). Throws
 * when CI=true, so a CI without moto fails instead of passing with nothing tested.
 */
export function motoSkipReason(): string | null {
  if (findOnPath('moto_server')) return null;
  if (process.env.CI === 'true') {
    throw new Error('moto_server is not on PATH and CI=true: the moto integration tests must run in CI (pip install "moto[server]")');
  }
  const reason = 'moto_server is not on PATH: SKIPPING the moto integration tests (pip install "moto[server]" to run them)';
  console.warn(`\n⚠  ${reason}\n`);
  return reason;
}

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface Moto {
  endpoint: string;
  port: number;
  /** Forgets every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) killTree(child, 'SIGKILL');
});

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // its own process group: the shim and the Python server
  } catch {
    child.kill(signal);
  }
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** Starts moto_server on a free loopback port and waits until it answers. */
export async function startMoto(options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Moto> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    running.add(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', (error) => {
      stderr += String(error);
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await answers(endpoint)) {
        const stop = async () => {
          if (!running.has(child)) return;
          killTree(child, 'SIGTERM');
          const killed = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
          if (!killed) {
            killTree(child, 'SIGKILL');
            await exited;
          }
          running.delete(child);
        };
        const reset = async () => {
          const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`moto reset answered ${res.status}`);
        };
        return { endpoint, port, reset, stop };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    killTree(child, 'SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    running.delete(child);
    lastError = child.exitCode !== null ? `exited with code ${child.exitCode}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : `did not answer within ${timeoutMs} ms`;
  }
  throw new Error(`moto_server could not be started: ${lastError}`);
}

/** The SDK client config for moto (region, endpoint, fake credentials). */
export function motoClientConfig(endpoint: string) {
  return { region: MOTO_REGION, endpoint, credentials: MOTO_CREDENTIALS, maxAttempts: 2 };
}

/** Environment for a child process (e.g. the CLI) that must call moto and nothing else. */
export function motoEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
    AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

/**
 * Starts moto in beforeAll and stops it in afterAll of the enclosing suite. The returned
 * object's fields are filled once beforeAll ran.
 */
export function useMoto(options: { timeoutMs?: number; env?: Record<string, string> } = {}): Moto {
  let moto: Moto | undefined;
  const handle: Moto = {
    get endpoint() {
      if (!moto) throw new Error('moto is not started yet (use it inside tests or hooks)');
      return moto.endpoint;
    },
    get port() {
      if (!moto) throw new Error('moto is not started yet (use it inside tests or hooks)');
      return moto.port;
    },
    reset: () => moto!.reset(),
    stop: async () => {
      await moto?.stop();
    },
  };
  beforeAll(async () => {
    moto = await startMoto(options);
  }, (options.timeoutMs ?? 30_000) * 3 + 5000);
  afterAll(async () => {
    await moto?.stop();
  });
  return handle;
}
