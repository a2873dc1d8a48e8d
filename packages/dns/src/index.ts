export const VERSION = '0.1.0';

// Server
export { createServer, type DnsServer, type ServerOptions, type StageFactory } from './server.js';
export {
  validateServerConfig,
  SERVER_DEFAULTS,
  type ServerConfig,
  type ServerConfigInput,
  type ListenAddress,
  type TcpConfig,
  type UdpConfig,
} from './config.js';
export { MAX_TCP_QUERY } from './server/tcp.js';
export { nativeUdpStatus, UDP_IO_VALUES, type UdpIo } from './io/udp.js';

// Stage contract, chain, router
export type {
  Answer,
  BoundAddress,
  EdnsInfo,
  Next,
  Query,
  Route,
  RouteKind,
  Stage,
  StageContext,
  Transport,
  ZoneRoute,
} from './chain/stage.js';
export { composeChain, collectRoutes, refusedTerminal } from './chain/chain.js';
export { Router, UPSTREAM_ROUTE, applyRenames, renameSuffixes, normalizeZone, type RouterOptions } from './router/router.js';

// Local zones
export {
  LOCAL_ZONE_DEFAULTS,
  type LocalZoneConfig,
  type ResolvedLocalZone,
  type RecordSource,
  type ZoneRecord,
  type ZoneRecordType,
  type SoaFields,
  type NsFields,
} from './local/types.js';
export { MemoryRecordSource, staticSource, readyZones } from './local/sources.js';
export { LocalStage, recordToWire, type LocalStageOptions } from './local/stage.js';
export { validateLocalZones } from './local/config.js';

// Masters and forward stages (see docs/dns-forwarding.md)
export {
  createMastersStage,
  mastersStageFactory,
  MASTERS_STAGE,
  type MastersStageContext,
} from './masters/stage.js';
export { validateMastersConfig, MASTERS_DEFAULTS, MASTER_PORT, type MastersConfig, type MastersConfigInput } from './masters/config.js';
export { createForwardStage, forwardStageFactory, FORWARD_STAGE, type ForwardStageContext } from './upstream/forward.js';
export {
  validateForwardConfig,
  UPSTREAM_DEFAULTS,
  FORWARD_POLICIES,
  type ForwardConfig,
  type ForwardConfigInput,
  type ForwardPolicy,
  type ForwardZone,
  type UpstreamsConfig,
  type UpstreamsConfigInput,
} from './upstream/config.js';

// Cache stage (see docs/dns.md#cache)
export { createCacheStage, cacheStageFactory, cacheKey, CacheStage, CACHE_STAGE, type CacheStageContext } from './cache/stage.js';
export { validateCacheConfig, CACHE_DEFAULTS, type CacheConfig, type CacheConfigInput } from './cache/config.js';

// Wire helpers
export {
  HEADER_SIZE,
  UDP_MIN_SIZE,
  TCP_MAX_SIZE,
  Flag,
  Opcode,
  Rcode,
  RcodeName,
  QType,
  QClass,
  readName,
  skipName,
  encodeName,
  splitLabels,
  lowerName,
  isSubdomain,
  parseQuery,
  readResponseHeader,
  questionMatches,
  errorResponse,
  withId,
  fitResponse,
  findOpt,
  encodeMessage,
  ipv4Bytes,
  ipv6Bytes,
  reverseName,
  addressFromReverseName,
  rewriteQuestion,
  restoreQuestion,
  lookupQuery,
  askedResponse,
  type NameRead,
  type ParsedQuestion,
  type ParseResult,
  type ResponseHeader,
  type ErrorResponseInput,
  type WireMessage,
  type WireRecord,
  type WireQuestion,
  type RDataPart,
} from './wire/index.js';

// Metrics
export { Registry, Counter, Gauge, Histogram, DURATION_BUCKETS } from './metrics/registry.js';

// Errors
export {
  HopliteDnsError,
  ConfigError,
  ListenError,
  StageError,
  SelfForwardError,
  MasterListError,
  type ConfigProblem,
  type SelfServer,
} from './errors.js';
