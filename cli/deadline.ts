/**
 * `--timeout SECONDS`: one deadline for a whole command, AWS calls in flight included. Every AWS
 * call carries the deadline's AbortSignal (cli/aws.ts), so a call to an endpoint that never
 * answers is abandoned when the deadline passes, and `run` settles then even if the work does not.
 */
import { CliError } from './io.ts';

/** The command ran out of time; `call` is the AWS call that was still waiting, if any. */
export class DeadlineExceeded extends Error {
  readonly seconds: number;
  readonly call?: string;
  constructor(seconds: number, call?: string) {
    super(`gave up after ${seconds} s (--timeout)${call ? `: no answer yet to ${call}` : ''}`);
    this.name = 'DeadlineExceeded';
    this.seconds = seconds;
    this.call = call;
  }
}

/** `--timeout`'s text as seconds: a positive number, or undefined when not given. */
export function timeoutSeconds(text: string | undefined, flag = '--timeout'): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} must be a positive number of seconds, not '${text}'`);
  return n;
}

export class Deadline {
  /** Undefined: no deadline. */
  readonly seconds: number | undefined;
  readonly #controller = new AbortController();
  readonly #at: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(seconds: number | undefined, now = Date.now()) {
    this.seconds = seconds;
    this.#at = seconds === undefined ? Infinity : now + seconds * 1000;
    if (seconds !== undefined) {
      this.#timer = setTimeout(() => this.#controller.abort(new DeadlineExceeded(seconds)), seconds * 1000);
      // The deadline alone never keeps the process alive.
      this.#timer.unref();
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  expired(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Milliseconds left (Infinity without a deadline). */
  remainingMs(now = Date.now()): number {
    return Math.max(0, this.#at - now);
  }

  /**
   * Runs `work` until it settles or the deadline passes, whichever comes first; then rejects with
   * `onDeadline()`'s error (default: DeadlineExceeded naming the call still in flight).
   */
  async run<T>(work: () => Promise<T>, onDeadline: () => Error = () => new DeadlineExceeded(this.seconds ?? 0)): Promise<T> {
    if (this.seconds === undefined) return work();
    const signal = this.#controller.signal;
    let onAbort: (() => void) | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      onAbort = () => reject(onDeadline());
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const running = work();
    // Once the deadline has won, whatever the work still throws (an aborted call) is not news.
    running.catch(() => undefined);
    try {
      return await Promise.race([running, expired]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      this.dispose();
    }
  }

  /** Sleeps `ms` or until the deadline, whichever is sooner. */
  sleep(ms: number): Promise<void> {
    const wait = Math.min(ms, this.remainingMs());
    return new Promise((resolve) => {
      const timer = setTimeout(done, wait);
      const signal = this.#controller.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }
}
