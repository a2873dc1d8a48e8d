/**
 * The Redis store of @hoplite/vip. Loaded on demand by the store factory
 * (`await import('./redis/index.js')`), so that ioredis is only loaded when Redis is used.
 */
export { createRedisStore, RedisStore, REDIS_STORE_DEFAULTS, type RedisStoreOptions } from './store.js';
export { parseRedisUrl, isRedisUrl, redact as redactRedisUrl, describeConnection, type RedisConnectionOptions, type RedisHost, type RedisMode } from './url.js';
export { redisKeys, KEY_NAMES, DEFAULT_KEY_PREFIX, type RedisKeys, type KeyName } from './keys.js';
