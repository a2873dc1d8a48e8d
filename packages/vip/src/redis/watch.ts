/**
 * The change feed on Redis: a stream written by the same Lua script as each mutation, entry id
 * `<revision>-0`, read here with XREAD BLOCK on a connection of its own, so a change reaches a
 * watcher as soon as it is written.
 *
 * A watcher first delivers a snapshot (records and revision read atomically by one script), then
 * each change in order. With `chunkSize` the snapshot is streamed instead (list-then-watch): the
 * revision R is read first, then the `vips` hash with HSCAN, one chunk per reply; then the feed
 * after R is replayed inside the snapshot (script feed-since: the revision and the next entries,
 * atomically) until it reaches the current revision R'. Records the scan saw may be newer than R;
 * replaying every change after R converges all the same (a put carries the whole record, a delete
 * is idempotent), so the table at 'snapshot-end' is the table at R'. A gap in that replay (the feed
 * was trimmed past R meanwhile), a 'reset' entry or a revision going backwards start it over. It resyncs with a new snapshot when the next entry is not last+1 (the
 * stream was trimmed past us), on a 'reset' entry (an import), when the store's revision went
 * backwards (Redis lost its data), and after every reconnection. On connection loss it emits
 * 'error' once, retries with backoff, then emits 'reconnected' and a fresh 'snapshot'.
 */
import type { Logger } from 'pino';
import { ClosedError } from '../errors.js';
import type { VipChange, VipRecord, VipSnapshot, Watch, WatchEvent } from '../types.js';
import { connectClient, reconnectDelay, recycleOnTimeout, toStoreError } from './connection.js';
import type { RedisKeys } from './keys.js';
import { decodeRecord } from './records.js';
import { runScript, type RedisClient } from './scripts.js';

export interface WatcherDeps {
  /** A connection of the watcher's own (closed by the watcher), with the scripts defined. */
  readonly client: RedisClient;
  readonly keys: RedisKeys;
  readonly store: string;
  readonly logger: Logger;
  /** XREAD BLOCK timeout; after an idle block the watcher checks the revision. */
  readonly blockMs: number;
  readonly connectTimeoutMs: number;
  /** Entries read per XREAD. */
  readonly batch: number;
  /** Stream snapshots in chunks of at most this many records (undefined: one 'snapshot' event). */
  readonly chunkSize?: number | undefined;
}

type StreamEntry = [id: string, fields: string[]];
type XReadReply = [key: string, entries: StreamEntry[]][] | null;

export function revisionOfId(id: string): number {
  const dash = id.indexOf('-');
  return Number(dash < 0 ? id : id.slice(0, dash));
}

export async function readSnapshot(client: RedisClient, keys: RedisKeys): Promise<VipSnapshot> {
  const reply = (await runScript(client, 'snapshot', keys.all, [])) as [string, string[]];
  return { revision: Number(reply[0]), vips: reply[1].map(decodeRecord) };
}

function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** A feed entry as a change; undefined for a 'reset' entry (an import, new pools) or anything unknown. */
function changeOf(revision: number, fields: readonly string[]): VipChange | undefined {
  const type = field(fields, 't');
  if (type !== 'put' && type !== 'delete') return undefined;
  const vip = decodeRecord(field(fields, 'v') ?? '');
  return type === 'put' ? { revision, type, vip } : { revision, type, name: field(fields, 'n') ?? vip.name, vip };
}

export class RedisWatcher implements Watch {
  readonly #deps: WatcherDeps;
  readonly #listener: (event: WatchEvent) => void;
  #closed = false;
  #loop: Promise<void>;
  #wake: (() => void) | undefined;

  constructor(deps: WatcherDeps, listener: (event: WatchEvent) => void, fromRevision?: number) {
    this.#deps = deps;
    this.#listener = listener;
    this.#loop = this.#run(fromRevision);
  }

  #emit(event: WatchEvent): void {
    if (this.#closed) return;
    try {
      this.#listener(event);
    } catch (err) {
      this.#deps.logger.error({ err }, 'watch listener threw');
    }
  }

  /** Sleep up to ms, waking early on close or when the connection becomes ready. */
  async #pause(ms: number): Promise<void> {
    const client = this.#deps.client;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        client.off('ready', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      client.once('ready', done);
      this.#wake = done;
    });
  }

  async #run(fromRevision: number | undefined): Promise<void> {
    const { client, keys, logger, blockMs, batch } = this.#deps;
    let last = 0;
    let needSnapshot = true;
    let failing = false;
    let attempt = 0;

    try {
      await connectClient(client, this.#deps.store, this.#deps.connectTimeoutMs);
      if (fromRevision !== undefined) {
        const rev = Number((await client.get(keys.rev)) ?? '0');
        if (rev >= fromRevision) {
          last = fromRevision;
          needSnapshot = false; // gaps (trimmed feed) are caught on the first read
        }
      }
    } catch (err) {
      failing = true;
      this.#emit({ type: 'error', error: toStoreError(err, this.#deps.store) });
    }

    while (!this.#closed) {
      try {
        if (failing) {
          if (client.status !== 'ready') {
            await this.#pause(reconnectDelay(++attempt));
            continue;
          }
          await client.ping();
          failing = false;
          attempt = 0;
          logger.info({ store: this.#deps.store }, 'watch reconnected');
          this.#emit({ type: 'reconnected' });
          needSnapshot = true;
        }
        if (needSnapshot) {
          if (this.#deps.chunkSize !== undefined) {
            const at = await this.#streamSnapshot(this.#deps.chunkSize);
            if (this.#closed) break;
            if (at === undefined) continue; // the feed moved past us while reading: start over
            last = at;
          } else {
            const snapshot = await readSnapshot(client, keys);
            if (this.#closed) break;
            last = snapshot.revision;
            this.#emit({ type: 'snapshot', snapshot });
          }
          needSnapshot = false;
        }
        const reply = (await client.xread('COUNT', batch, 'BLOCK', blockMs, 'STREAMS', keys.feed, `${last}-0`)) as XReadReply;
        if (this.#closed) break;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) {
          // Idle: make sure the store did not move on without us (data lost, feed deleted).
          const rev = Number((await client.get(keys.rev)) ?? '0');
          if (rev < last) {
            logger.warn({ store: this.#deps.store, revision: rev, last }, 'watch revision went backwards; resync');
            needSnapshot = true;
          } else if (rev > last) {
            const next = (await client.xrange(keys.feed, `${last + 1}-0`, `${last + 1}-0`)) as StreamEntry[];
            if (next.length === 0) {
              logger.warn({ store: this.#deps.store, revision: rev, last }, 'watch feed missing entries; resync');
              needSnapshot = true;
            }
          }
          continue;
        }
        for (const [id, fields] of entries) {
          const revision = revisionOfId(id);
          if (revision !== last + 1) {
            logger.info({ store: this.#deps.store, revision, last }, 'watch gap; resync');
            needSnapshot = true;
            break;
          }
          const change = changeOf(revision, fields);
          if (change !== undefined) {
            last = revision;
            this.#emit({ type: 'change', change });
          } else {
            // 'reset' (an import) or anything unknown: take a new snapshot.
            needSnapshot = true;
            break;
          }
        }
      } catch (err) {
        if (this.#closed) break;
        if (err instanceof ClosedError) break;
        recycleOnTimeout(client, err);
        if (!failing) {
          failing = true;
          logger.warn({ store: this.#deps.store, err }, 'watch lost the store');
          this.#emit({ type: 'error', error: toStoreError(err, this.#deps.store) });
        }
        await this.#pause(reconnectDelay(++attempt));
      }
    }
  }

  /**
   * A streamed snapshot (see the top of this file). Resolves with the revision of the table at
   * 'snapshot-end', or undefined when it must start over (a gap, a reset, the revision went
   * backwards) or the watcher was closed. Connection errors reject (the caller resyncs later).
   */
  async #streamSnapshot(chunkSize: number): Promise<number | undefined> {
    const { client, keys, logger } = this.#deps;
    const begin = Number((await client.get(keys.rev)) ?? '0');
    if (this.#closed) return undefined;
    this.#emit({ type: 'snapshot-begin', revision: begin });
    let cursor = '0';
    do {
      const [next, flat] = await client.hscan(keys.vips, cursor, 'COUNT', chunkSize);
      if (this.#closed) return undefined;
      cursor = next;
      // HSCAN's COUNT is a hint: a reply may hold more; chunks never do.
      let vips: VipRecord[] = [];
      for (let i = 1; i < flat.length; i += 2) {
        vips.push(decodeRecord(flat[i] as string));
        if (vips.length === chunkSize) {
          this.#emit({ type: 'snapshot-chunk', vips });
          vips = [];
        }
      }
      if (vips.length > 0) this.#emit({ type: 'snapshot-chunk', vips });
    } while (cursor !== '0');
    // Catch up: every change after `begin`, up to the revision read with the last entries.
    let last = begin;
    for (;;) {
      const reply = (await runScript(client, 'feed-since', keys.all, [last, chunkSize])) as [string, StreamEntry[]];
      if (this.#closed) return undefined;
      const revision = Number(reply[0]);
      if (revision < last) {
        logger.warn({ store: this.#deps.store, revision, last }, 'watch revision went backwards; resync');
        return undefined;
      }
      const entries = reply[1] ?? [];
      for (const [id, fields] of entries) {
        const at = revisionOfId(id);
        const change = at === last + 1 ? changeOf(at, fields) : undefined;
        if (change === undefined) {
          logger.info({ store: this.#deps.store, revision: at, last, begin }, 'watch gap while streaming a snapshot; resync');
          return undefined;
        }
        last = at;
        this.#emit({ type: 'change', change });
      }
      if (last === revision) break;
      if (entries.length === 0) {
        logger.info({ store: this.#deps.store, revision, last, begin }, 'watch feed missing entries while streaming a snapshot; resync');
        return undefined;
      }
    }
    this.#emit({ type: 'snapshot-end', revision: last });
    return last;
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    this.#wake?.();
    // Ends a pending XREAD BLOCK at once (it rejects; the loop sees #closed and stops).
    this.#deps.client.disconnect();
    await this.#loop;
  }
}
