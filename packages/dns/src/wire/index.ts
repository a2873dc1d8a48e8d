export { HEADER_SIZE, UDP_MIN_SIZE, TCP_MAX_SIZE, Flag, Opcode, Rcode, RcodeName, QType, QClass } from './constants.js';
export { readName, skipName, encodeName, splitLabels, lowerName, isSubdomain, type NameRead } from './name.js';
export { parseQuery, type ParsedQuestion, type ParseResult } from './query.js';
export {
  readResponseHeader,
  questionMatches,
  errorResponse,
  withId,
  fitResponse,
  findOpt,
  type ResponseHeader,
  type ErrorResponseInput,
} from './response.js';
export { encodeMessage, type WireMessage, type WireRecord, type WireQuestion, type RDataPart } from './builder.js';
export { ipv4Bytes, ipv6Bytes, reverseName, addressFromReverseName } from './ip.js';
export { rewriteQuestion, restoreQuestion, lookupQuery, askedResponse } from './rewrite.js';
