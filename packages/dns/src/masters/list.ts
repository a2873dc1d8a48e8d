/**
 * The master-list file: one `ip[:port]` per line (`#` starts a comment; commas and blanks also
 * separate entries), or a JSON array of such strings (DC/OS's master_list is one). Re-read when it
 * changes, without a restart: fs.watch on its directory (so that an atomic write — a temporary
 * file renamed over it — is seen, and a file created later too) plus a periodic stat as a fallback
 * (network filesystems, missed events). A file that cannot be read or parsed, or lists no master,
 * keeps the last good list; the problem is logged and counted.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { MasterListError } from '../errors.js';
import { parseServerAddress, type ServerAddress } from '../exchange/address.js';

/** Parse a master list. Throws MasterListError naming the first bad entry. */
export function parseMasterList(text: string, file: string, defaultPort: number): ServerAddress[] {
  const entries: Array<{ text: string; where: string }> = [];
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      throw new MasterListError(file, `not valid JSON (${(err as Error).message})`, { cause: err });
    }
    if (!Array.isArray(json)) throw new MasterListError(file, 'JSON is not an array');
    json.forEach((e: unknown, i) => {
      if (typeof e !== 'string') throw new MasterListError(file, `entry ${i} is ${JSON.stringify(e)}, not a string`);
      entries.push({ text: e, where: `entry ${i}` });
    });
  } else {
    text.split(/\r?\n/).forEach((line, i) => {
      const content = line.replace(/#.*$/, '');
      for (const part of content.split(/[\s,]+/)) if (part !== '') entries.push({ text: part, where: `line ${i + 1}` });
    });
  }
  const out: ServerAddress[] = [];
  for (const e of entries) {
    const a = parseServerAddress(e.text, defaultPort);
    if (!a) throw new MasterListError(file, `${e.where}: ${JSON.stringify(e.text)} is not "ip", "ip:port" or "[ipv6]:port"`);
    if (!out.some((o) => o.key === a.key)) out.push(a);
  }
  if (out.length === 0) throw new MasterListError(file, 'lists no master');
  return out;
}

export interface MasterListWatcherOptions {
  readonly file: string;
  readonly defaultPort: number;
  readonly pollInterval: number;
  readonly logger: Logger;
  /** Extra check on a parsed list (e.g. not ourselves); return a reason to reject it. */
  readonly check?: (list: readonly ServerAddress[]) => string | undefined;
  /** A new list (different from the current one) was read. */
  readonly onList: (list: readonly ServerAddress[]) => void;
  /** The file could not be used; the last good list stays. */
  readonly onError: (err: MasterListError) => void;
}

function sameList(a: readonly ServerAddress[], b: readonly ServerAddress[]): boolean {
  return a.length === b.length && a.every((x, i) => x.key === b[i]!.key);
}

export class MasterListWatcher {
  current: readonly ServerAddress[] = [];
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private signature = '';
  private reading: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly o: MasterListWatcherOptions) {}

  /** Read the file once (a missing or bad file is reported, not thrown), then watch it. */
  async start(): Promise<void> {
    await this.reload();
    this.watchDir();
    this.poll = setInterval(() => void this.reload(), this.o.pollInterval);
    this.poll.unref();
  }

  private watchDir(): void {
    const name = basename(this.o.file);
    try {
      this.watcher = watch(dirname(this.o.file), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name || filename.toString() === name) void this.reload();
      });
      this.watcher.on('error', (err) => {
        this.o.logger.warn({ err, file: this.o.file }, 'master list watch failed; polling only');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      // The directory does not exist (yet): the periodic stat still picks the file up.
      this.o.logger.warn({ err, file: this.o.file }, 'master list directory not watchable; polling only');
    }
  }

  /** Read and apply the file now (coalesces concurrent calls). */
  reload(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.readOnce().finally(() => {
      this.reading = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    if (this.closed) return;
    const file = this.o.file;
    let text: string;
    try {
      const s = await stat(file);
      const sig = `${s.ino}:${s.size}:${s.mtimeMs}`;
      // Unchanged since the last read (good or bad): nothing to do.
      if (sig === this.signature) return;
      this.signature = sig;
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (this.signature === 'missing') return;
      this.signature = 'missing';
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      this.o.onError(new MasterListError(file, `cannot be read (${code})`, { cause: err }));
      return;
    }
    if (this.closed) return;
    let list: ServerAddress[];
    try {
      list = parseMasterList(text, file, this.o.defaultPort);
      const reason = this.o.check?.(list);
      if (reason !== undefined) throw new MasterListError(file, reason);
    } catch (err) {
      this.o.onError(err instanceof MasterListError ? err : new MasterListError(file, String(err), { cause: err }));
      return;
    }
    if (sameList(list, this.current)) return;
    this.current = Object.freeze(list);
    this.o.onList(this.current);
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }
}
