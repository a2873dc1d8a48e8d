/**
 * What the forward and masters stages share per query: the message sent out (the client's raw
 * query, its question renamed when the router renamed it, an OPT of ours when it had none) and
 * the client's answer made from a server's reply (the client's ID, its question when renamed, no
 * OPT when it sent none, fitted to its buffer). The query is itself the stage's Answer: a
 * Deferred, delivered to the server without a Promise (chain/deferred.ts).
 */
import { Deferred } from '../chain/deferred.js';
import type { Query } from '../chain/stage.js';
import type { Lane, Timed } from '../exchange/deadlines.js';
import { Rcode } from '../wire/constants.js';
import { skipName } from '../wire/name.js';
import { appendOpt, removeOpt, setId } from '../wire/relay.js';
import { errorResponse, fitResponse } from '../wire/response.js';
import { restoreQuestion, rewriteQuestion } from '../wire/rewrite.js';

export abstract class RelayQuery extends Deferred implements Timed {
  deadline = 0;
  heapIndex = -1;
  lane: Lane | undefined = undefined;
  lanePrev: Timed | undefined = undefined;
  laneNext: Timed | undefined = undefined;
  /** The message sent to servers (ID overwritten per exchange). */
  message: Buffer;
  questionEnd: number;
  addedOpt = false;
  /** `message` is our own copy, not yet handed to an exchange (the first send may take it). */
  ownMessage = false;
  finished = false;

  constructor(
    readonly query: Query,
    ednsUdpSize: number,
    /** Our OPT size, for our own error answers. */
    readonly udpSize: number,
  ) {
    super();
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

  /** Settle the client's answer once. */
  settle(answer: Buffer): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveWith(answer);
  }
}
