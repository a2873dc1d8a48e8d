import { join } from 'node:path';
import { EmbeddedStore, type EmbeddedStoreOptions } from './store.js';

export { EmbeddedStore, EMBEDDED_DEFAULTS, type EmbeddedStoreOptions, type ReserveRequest } from './store.js';

/** Open (creating when missing) the embedded store at `opts.path`. */
export function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
  return EmbeddedStore.open(opts);
}

/**
 * The default database path, following the XDG base directory spec:
 * `$XDG_STATE_HOME/hoplite/vip.db`, else `<home>/.local/state/hoplite/vip.db`.
 * Pure: the caller passes the environment and home directory (libraries do not read process.env);
 * the CLI passes `process.env` and `os.homedir()`.
 */
export function defaultEmbeddedPath(env: Readonly<Record<string, string | undefined>>, home: string): string {
  const state = env['XDG_STATE_HOME'];
  // The spec says relative values are invalid and must be ignored.
  if (state !== undefined && state.startsWith('/')) return join(state, 'hoplite', 'vip.db');
  return join(home, '.local', 'state', 'hoplite', 'vip.db');
}
