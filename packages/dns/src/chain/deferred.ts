/**
 * An answer that completes later, without a Promise on the server's path.
 *
 * A stage that waits on another server (masters, forward) returns a `Deferred` as its `Answer`.
 * The server recognises it and registers itself as the one target: when the stage settles it,
 * the answer goes straight to the client (no Promise, no reaction closures, no microtask per
 * query). Anyone else who gets it from `next(query)` (a stage placed before, e.g. a cache, or a
 * test) uses it as the Promise it is typed as: `then`, `catch`, `finally` and `await` work on a
 * real Promise made on first use. It never rejects: a stage settles it with an error answer
 * (SERVFAIL) instead.
 */
import type { Query } from './stage.js';

/** Where a settled Deferred delivers (the server: a UDP socket or a TCP connection). */
export interface DeferredSink {
  /** Never throws. */
  reply(q: Query, resp: Buffer): void;
}

export interface DeferredTarget {
  /** Called once, when the Deferred settles (never from inside `deliverTo`). */
  deferredDone(q: Query, sink: DeferredSink, answer: Buffer): void;
}

export abstract class Deferred implements Promise<Buffer> {
  /** The answer, once settled. */
  value: Buffer | undefined;
  private target: DeferredTarget | undefined;
  private targetQuery: Query | undefined;
  private sink: DeferredSink | undefined;
  private promise: Promise<Buffer> | undefined;
  private resolvePromise: ((b: Buffer) => void) | undefined;
  readonly [Symbol.toStringTag] = 'Deferred';

  /**
   * The server takes delivery of the answer to its query `q` (one target at most; `q` is handed
   * back as it was given, whatever query the stage saw). When the Deferred has settled already,
   * the caller uses `value` instead.
   */
  deliverTo(target: DeferredTarget, q: Query, sink: DeferredSink): void {
    this.target = target;
    this.targetQuery = q;
    this.sink = sink;
  }

  /** Settle with `answer` (once; later calls are ignored). */
  protected resolveWith(answer: Buffer): void {
    if (this.value !== undefined) return;
    this.value = answer;
    const target = this.target;
    if (target !== undefined) {
      this.target = undefined;
      const q = this.targetQuery!;
      const sink = this.sink!;
      this.targetQuery = undefined;
      this.sink = undefined;
      target.deferredDone(q, sink, answer);
    }
    const resolve = this.resolvePromise;
    if (resolve !== undefined) {
      this.resolvePromise = undefined;
      resolve(answer);
    }
  }

  /** The answer as a Promise (made on first use). */
  asPromise(): Promise<Buffer> {
    if (this.promise === undefined) {
      if (this.value !== undefined) this.promise = Promise.resolve(this.value);
      else
        this.promise = new Promise<Buffer>((resolve) => {
          this.resolvePromise = resolve;
        });
    }
    return this.promise;
  }

  then<R1 = Buffer, R2 = never>(
    onfulfilled?: ((value: Buffer) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.asPromise().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<Buffer | R> {
    return this.asPromise().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<Buffer> {
    return this.asPromise().finally(onfinally);
  }
}
