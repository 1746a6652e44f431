/**
 * A deterministic discrete-event scheduler: many simulated activities (executions, the Lambdas they
 * run, an EventBridge target, a person at a console) share one simulated clock, and time moves only
 * from one event to the next.
 *
 * Activities are async functions ("threads"). Exactly one runs at a time: the scheduler takes the
 * earliest event (by simulated time, then by the order it was scheduled), lets the thread it wakes
 * run until every thread is blocked again on the scheduler (a sleep, a signal), then takes the next
 * event. So the interleaving depends only on simulated time and on the order of scheduling, never
 * on wall-clock timing: the same inputs and seed give the same run, byte for byte. A thread may
 * await real I/O (a moto_server call): the scheduler waits for it before moving on.
 *
 * The rule for threads: block only through the scheduler (`sleepUntil`, `wait`). A thread that
 * awaits a promise another thread settles, without a Signal, deadlocks the simulation.
 */
import { SimClock } from './clock.ts';

/** Thrown into a thread whose scope was cancelled while it was blocked (its execution was stopped). */
export class CancelledError extends Error {
  constructor(message = 'cancelled') {
    super(message);
    this.name = 'CancelledError';
  }
}

interface SimEvent {
  at: number;
  seq: number;
  fire: () => void;
  live: boolean;
}

export interface TimerHandle {
  /** Cancels the event if it has not fired; a cancelled event neither runs nor moves the clock. */
  cancel(): void;
}

/**
 * A tree of cancellation: an execution has one, each Parallel branch or Map iteration a child.
 * Cancelling wakes every thread blocked under it with a CancelledError.
 */
export class CancelScope {
  #cancelled = false;
  readonly #onCancel = new Set<() => void>();
  readonly #children = new Set<CancelScope>();
  readonly #parent: CancelScope | undefined;

  constructor(parent?: CancelScope) {
    this.#parent = parent;
    if (parent) {
      if (parent.cancelled) this.#cancelled = true;
      else parent.#children.add(this);
    }
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  child(): CancelScope {
    return new CancelScope(this);
  }

  /** Calls `fn` when the scope is cancelled; returns the function that unregisters it. */
  onCancel(fn: () => void): () => void {
    this.#onCancel.add(fn);
    return () => this.#onCancel.delete(fn);
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    const callbacks = [...this.#onCancel];
    this.#onCancel.clear();
    for (const fn of callbacks) fn();
    for (const child of [...this.#children]) child.cancel();
    this.#children.clear();
    if (this.#parent) this.#parent.#children.delete(this);
  }

  /** Detaches a finished child scope from its parent (so long runs do not accumulate them). */
  dispose(): void {
    if (this.#parent) this.#parent.#children.delete(this);
    this.#onCancel.clear();
  }

  throwIfCancelled(): void {
    if (this.#cancelled) throw new CancelledError();
  }
}

/** A one-shot value threads can wait for (a task finished, an execution ended). */
export class Signal<T = void> {
  readonly #scheduler: SimScheduler;
  #fired = false;
  #value: T | undefined;
  #waiters: Array<(value: T) => void> = [];

  constructor(scheduler: SimScheduler) {
    this.#scheduler = scheduler;
  }

  get fired(): boolean {
    return this.#fired;
  }

  get value(): T | undefined {
    return this.#value;
  }

  /** Fires once (later calls are ignored, and answer false); every waiter resumes at the current time. */
  fire(value: T): boolean {
    if (this.#fired) return false;
    this.#fired = true;
    this.#value = value;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const notify of waiters) notify(value);
    return true;
  }

  /** @internal used by SimScheduler.wait: `notify` is called when the signal fires. */
  addWaiter(notify: (value: T) => void): () => void {
    this.#waiters.push(notify);
    return () => {
      const i = this.#waiters.indexOf(notify);
      if (i >= 0) this.#waiters.splice(i, 1);
    };
  }
}

export class SimScheduler {
  readonly clock: SimClock;
  readonly #heap: SimEvent[] = [];
  #seq = 0;
  /** Threads running (not blocked on the scheduler). */
  #running = 0;
  #idle: (() => void) | null = null;
  #looping = false;
  #failure: { error: unknown } | null = null;
  #stopRequested = false;
  /** Events fired and threads started, for the benchmarks. */
  readonly stats = { events: 0, threads: 0 };

  constructor(clock: SimClock = new SimClock()) {
    this.clock = clock;
  }

  nowMs(): number {
    return this.clock.now().getTime();
  }

  /** Starts `fn` as a new thread at simulated time `atMs` (now if earlier). */
  spawnAt(atMs: number, fn: () => unknown): TimerHandle {
    const event = this.#push(atMs, () => this.#startThread(fn));
    return { cancel: () => void (event.live = false) };
  }

  /** Starts `fn` as a new thread now, after the events already due now. */
  spawn(fn: () => unknown): TimerHandle {
    return this.spawnAt(this.nowMs(), fn);
  }

  /**
   * Starts `fn` as a new thread at once, inside the current turn: it runs until it first blocks,
   * then the caller goes on. Errors it throws fail the whole run (catch what you expect).
   */
  fork(fn: () => unknown): void {
    this.#startThread(fn);
  }

  /** Blocks the calling thread until simulated time `atMs`; a cancelled `scope` wakes it with CancelledError. */
  sleepUntil(atMs: number, scope?: CancelScope): Promise<void> {
    if (scope?.cancelled) return Promise.reject(new CancelledError());
    return new Promise<void>((resolve, reject) => {
      const blocked = { settled: false };
      let unregister: (() => void) | undefined;
      const event = this.#push(atMs, () => this.#resume(blocked, () => {
        unregister?.();
        resolve();
      }));
      if (scope) {
        unregister = scope.onCancel(() => {
          event.live = false;
          this.#push(this.nowMs(), () => this.#resume(blocked, () => reject(new CancelledError())));
        });
      }
      this.#block();
    });
  }

  /** Blocks the calling thread for `seconds` of simulated time. */
  sleep(seconds: number, scope?: CancelScope): Promise<void> {
    if (!(seconds >= 0) || !Number.isFinite(seconds)) return Promise.reject(new RangeError(`sleep takes a finite number of seconds >= 0, not ${seconds}`));
    return this.sleepUntil(this.nowMs() + seconds * 1000, scope);
  }

  /** Blocks the calling thread until `signal` fires; a cancelled `scope` wakes it with CancelledError. */
  wait<T>(signal: Signal<T>, scope?: CancelScope): Promise<T> {
    if (signal.fired) return Promise.resolve(signal.value as T);
    if (scope?.cancelled) return Promise.reject(new CancelledError());
    return new Promise<T>((resolve, reject) => {
      const blocked = { settled: false };
      let unregisterScope: (() => void) | undefined;
      const removeWaiter = signal.addWaiter((value) => {
        this.#push(this.nowMs(), () => this.#resume(blocked, () => {
          unregisterScope?.();
          resolve(value);
        }));
      });
      if (scope) {
        unregisterScope = scope.onCancel(() => {
          removeWaiter();
          this.#push(this.nowMs(), () => this.#resume(blocked, () => reject(new CancelledError())));
        });
      }
      this.#block();
    });
  }

  /** Resumes a blocked thread once: whichever of its wake-ups fires first wins, the others do nothing. */
  #resume(blocked: { settled: boolean }, resume: () => void): void {
    if (blocked.settled) return;
    blocked.settled = true;
    this.#running++;
    resume();
  }

  /**
   * Runs events in simulated-time order until none is left (or until the next is after `until`,
   * where the clock is then moved to). Rejects if a thread failed with an error nobody caught.
   */
  async run(until?: Date | string | number): Promise<void> {
    if (this.#looping) throw new Error('SimScheduler.run is already running: call it once, and from outside the simulation');
    const untilMs = until === undefined ? undefined : typeof until === 'number' ? until : new Date(until).getTime();
    this.#looping = true;
    try {
      await this.#settle();
      this.#stopRequested = false;
      for (;;) {
        this.#throwFailure();
        if (this.#stopRequested) break;
        const event = this.#peekLive();
        if (!event || (untilMs !== undefined && event.at > untilMs)) break;
        this.#pop();
        if (event.at > this.nowMs()) this.clock.advanceTo(new Date(event.at));
        this.stats.events++;
        event.fire();
        await this.#settle();
      }
      this.#throwFailure();
      if (untilMs !== undefined && !this.#stopRequested) this.clock.advanceTo(new Date(untilMs));
    } finally {
      this.#looping = false;
    }
  }

  /**
   * Ends the current `run` once the event being handled has settled, leaving every thread where it
   * is (the simulator stops at a halted rollout: its execution still runs, waiting for a person).
   */
  stopRun(): void {
    this.#stopRequested = true;
  }

  /** Events still due (cancelled ones excluded). */
  pendingEvents(): number {
    return this.#heap.filter((e) => e.live).length;
  }

  #throwFailure(): void {
    if (this.#failure) {
      const { error } = this.#failure;
      this.#failure = null;
      throw error;
    }
  }

  #startThread(fn: () => unknown): void {
    this.#running++;
    this.stats.threads++;
    let result: unknown;
    try {
      result = fn();
    } catch (error) {
      this.#fail(error);
      this.#exit();
      return;
    }
    if (result instanceof Promise) {
      result.then(() => this.#exit(), (error: unknown) => {
        this.#fail(error);
        this.#exit();
      });
    } else {
      this.#exit();
    }
  }

  #fail(error: unknown): void {
    if (error instanceof CancelledError) return; // a thread unwinding after its scope was cancelled
    this.#failure ??= { error };
  }

  #exit(): void {
    this.#block();
  }

  #block(): void {
    this.#running--;
    if (this.#running === 0 && this.#idle) {
      const idle = this.#idle;
      this.#idle = null;
      idle();
    }
  }

  #settle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idle = resolve));
  }

  // A binary min-heap on (at, seq).
  #push(at: number, fire: () => void): SimEvent {
    const event: SimEvent = { at: Math.max(at, this.nowMs()), seq: this.#seq++, fire, live: true };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
    return event;
  }

  #peekLive(): SimEvent | undefined {
    while (this.#heap.length > 0 && !this.#heap[0]!.live) this.#pop();
    return this.#heap[0];
  }

  #pop(): SimEvent | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
