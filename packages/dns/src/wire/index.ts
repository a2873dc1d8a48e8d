export { HEADER_SIZE, UDP_MIN_SIZE, TCP_MAX_SIZE, Flag, Opcode, Rcode, RcodeName, QType, QClass } from './constants.js';
export { readName, skipName, encodeName, lowerName, isSubdomain, type NameRead } from './name.js';
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
