/**
 * What the forward and masters stages share per query: the message sent out (the client's raw
 * query, its question renamed when the router renamed it, an OPT of ours when it had none) and
 * the client's answer made from a server's reply (the client's ID, its question when renamed, no
 * OPT when it sent none, fitted to its buffer). Plus the promise without a per-query closure.
 */
import type { Query } from '../chain/stage.js';
import type { Timed } from '../exchange/deadlines.js';
import { Rcode } from '../wire/constants.js';
import { skipName } from '../wire/name.js';
import { appendOpt, removeOpt, setId } from '../wire/relay.js';
import { errorResponse, fitResponse } from '../wire/response.js';
import { restoreQuestion, rewriteQuestion } from '../wire/rewrite.js';

let captured: ((b: Buffer) => void) | undefined;
function capture(resolve: (b: Buffer) => void): void {
  captured = resolve;
}

export abstract class RelayQuery implements Timed {
  deadline = 0;
  heapIndex = -1;
  /** The message sent to servers (ID overwritten per exchange). */
  message: Buffer;
  questionEnd: number;
  addedOpt = false;
  /** `message` is our own copy, not yet handed to an exchange (the first send may take it). */
  ownMessage = false;
  finished = false;
  readonly promise: Promise<Buffer>;
  private readonly resolve: (b: Buffer) => void;

  constructor(
    readonly query: Query,
    ednsUdpSize: number,
    /** Our OPT size, for our own error answers. */
    readonly udpSize: number,
  ) {
    let message = query.raw;
    let questionEnd = query.questionEnd;
    if (query.renamed) {
      message = rewriteQuestion(query.raw, query.questionEnd, query.lookupName);
      questionEnd = skipName(message, 12) + 4;
      this.ownMessage = true;
    }
    if (query.edns === undefined && ednsUdpSize > 0) {
      const withOpt = appendOpt(message, ednsUdpSize);
      if (withOpt !== undefined) {
        message = withOpt;
        this.addedOpt = true;
        this.ownMessage = true;
      }
    }
    this.message = message;
    this.questionEnd = questionEnd;
    this.promise = new Promise<Buffer>(capture);
    this.resolve = captured!;
    captured = undefined;
  }

  abstract onDeadline(now: number): void;

  /** Whether the next send may take `message` without a copy (true once). */
  takeMessage(): boolean {
    const own = this.ownMessage;
    this.ownMessage = false;
    return own;
  }

  /** The client's answer from a server's reply (which we own); undefined when it cannot be made. */
  answerFrom(reply: Buffer): Buffer | undefined {
    const q = this.query;
    let out: Buffer | undefined = reply;
    if (this.addedOpt) out = removeOpt(out, this.questionEnd);
    if (q.renamed) {
      out = restoreQuestion(out, q.raw, q.questionEnd, q.lookupName);
      if (out === undefined) return undefined;
    } else {
      setId(out, q.id);
    }
    return out.length > q.maxResponseSize ? fitResponse(out, q.maxResponseSize) : out;
  }

  /** Our own error answer (SERVFAIL, REFUSED). */
  errorAnswer(rcode: number = Rcode.SERVFAIL): Buffer {
    return errorResponse(this.query, rcode, this.udpSize);
  }

  /** Resolve the client's promise once. */
  settle(answer: Buffer): void {
    if (this.finished) return;
    this.finished = true;
    this.resolve(answer);
  }
}
