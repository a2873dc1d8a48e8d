/**
 * @hoplite/vip: VIP labels and names, pools, the allocator and its stores.
 * Curated exports; docs/vip.md describes each.
 */
export const VERSION = '0.1.0';

// The allocator (what most callers need).
export {
  ALLOCATOR_OPTION_KEYS,
  Allocator,
  createAllocator,
  createRedisStore,
  DEFAULT_QUARANTINE_MS,
  EMBEDDED_OPTION_KEYS,
  openStore,
  type OpenStoreOptions,
  type AllocateOptions,
  type AllocatorOptions,
  type LabelAllocation,
  type ListFilter,
  type PortSpec,
} from './allocator.js';

// Labels, names, pools, the preferred address.
export { isVipLabelKey, labelPorts, parsePortSpec, parseProtocols, parseVipLabel, type ParseLabelOptions, type VipLabel } from './labels.js';
export { DEFAULT_FRAMEWORK, isNormalizedVipName, normalizePart, parseVipDnsName, vipName, VIP_ZONE, type VipName } from './names.js';
export {
  addressAt,
  DEFAULT_POOLS,
  indexOfAddress,
  inLayout,
  ipv4ForIpv6,
  ipv6For,
  layoutPools,
  planPools,
  poolOf,
  type Ipv6Pool,
  type PoolBlock,
  type PoolOptions,
  type PoolPlan,
} from './pools.js';
export { describePools, planFromLayout, poolConfigKey, POOLS_ADOPTED_LOG } from './stored-pools.js';
export { nameHash, preferredAddress } from './hash.js';
export { formatIpv4, parseIpv4 } from './addr.js';

// Stores.
export { defaultEmbeddedPath, EMBEDDED_DEFAULTS, EmbeddedStore, openEmbeddedStore, type EmbeddedStoreOptions } from './embedded/index.js';
export { parseStoreSpec, redactStoreSpec, type StoreSpec } from './store-url.js';
export type { RedisStoreOptions } from './redis/store.js';
export { CHECK_PROBLEM_CODES, mergePorts, validateTable } from './records.js';

// Errors.
export {
  AddressOutsidePoolError,
  AddressTakenError,
  BadAddressError,
  BadImportError,
  BadLabelError,
  BadNameError,
  BadOptionError,
  BadPoolError,
  BadPortError,
  BadStoreUrlError,
  ClosedError,
  isVipError,
  PoolExhaustedError,
  StoreIncompatibleError,
  StoreUnavailableError,
  VIP_ERROR_CODES,
  VipError,
  type VipErrorCode,
} from './errors.js';

// The store contract.
export type {
  AllocateRequest,
  AllocateResult,
  CheckProblem,
  CheckReport,
  PoolConfig,
  PoolLayout,
  PoolsOutcome,
  PoolStats,
  Protocol,
  QuarantineEntry,
  StoreCommonOptions,
  VipChange,
  VipKind,
  VipPort,
  VipRecord,
  VipSnapshot,
  VipStore,
  VipTableExport,
  Watch,
  WatchEvent,
  WatchOptions,
} from './types.js';
export { WATCH_CHUNK_MAX } from './watch-options.js';
