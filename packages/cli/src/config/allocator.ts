/** createAllocator's options from the config: shared by `hoplite serve` and `hoplite vip`. */
import { homedir } from 'node:os';
import type { Logger } from 'pino';
import { defaultEmbeddedPath, parseStoreSpec, type AllocatorOptions } from '@hoplite/vip';
import type { HopliteConfig } from './schema.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The embedded store's file when the config says just `embedded` (XDG_STATE_HOME, else HOME). */
export function embeddedPath(env: Env): string {
  return defaultEmbeddedPath(env, env['HOME'] || homedir());
}

export function allocatorOptions(config: HopliteConfig, env: Env, logger: Logger, redis?: AllocatorOptions['redis']): AllocatorOptions {
  const spec = parseStoreSpec(config.store);
  return {
    store: config.store,
    ...(spec.kind === 'embedded' && spec.path === undefined ? { path: embeddedPath(env) } : {}),
    pools: [...config.vip.pools],
    ...(config.vip.ipv6Pool !== '' ? { ipv6Pool: config.vip.ipv6Pool } : {}),
    exclude: [...config.vip.exclude],
    allowNonPrivate: config.vip.allowNonPrivate,
    updatePools: config.vip.updatePools,
    quarantineMs: config.vip.quarantine,
    logger,
    ...(redis ? { redis } : {}),
  };
}
