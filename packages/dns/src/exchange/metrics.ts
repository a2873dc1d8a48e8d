/**
 * Counters the exchange layer updates, created by the stage that owns the exchanger so that their
 * names carry the stage (`hoplite_dns_<stage>_...`) and the server label its word (`upstream`,
 * `master`). Children are looked up once per server and kept: the hot path is a property add.
 */
import { RcodeName } from '../wire/index.js';
import type { CounterChild, HistogramChild, Registry } from '../metrics/registry.js';

export interface ServerStats {
  /** Exchanges started (UDP sends; a TCP retry is counted in `tcpRetries`). */
  readonly requests: CounterChild;
  readonly timeouts: CounterChild;
  /** Socket errors, TCP connection failures, malformed TCP framing. */
  readonly errors: CounterChild;
  readonly tcpRetries: CounterChild;
  /** Seconds from the first send to the accepted reply. */
  readonly duration: HistogramChild;
  /** Accepted replies by header rcode. */
  rcode(rcode: number): CounterChild;
}

export type DropReason = 'id' | 'source' | 'question' | 'malformed' | 'late';

/** Replies dropped by the exchange layer, by reason. `late` is a reply to an exchange already
 *  abandoned (another server won, or the deadline passed): not an attack, counted apart. */
export type DropStats = Readonly<Record<DropReason, CounterChild>>;

export function createServerStats(registry: Registry, stage: string, label: string, key: string): ServerStats {
  const p = `hoplite_dns_${stage}`;
  const labels = { [label]: key };
  const responses = registry.counter(`${p}_${label}_responses_total`, `Replies accepted from each ${label}, by rcode`);
  const byRcode: CounterChild[] = [];
  return {
    requests: registry.counter(`${p}_${label}_requests_total`, `Exchanges started with each ${label}`).labels(labels),
    timeouts: registry.counter(`${p}_${label}_timeouts_total`, `Exchanges with each ${label} that timed out`).labels(labels),
    errors: registry.counter(`${p}_${label}_errors_total`, `Socket and TCP errors talking to each ${label}`).labels(labels),
    tcpRetries: registry.counter(`${p}_${label}_tcp_retries_total`, `Truncated UDP replies retried over TCP, per ${label}`).labels(labels),
    duration: registry.histogram(`${p}_${label}_duration_seconds`, `Exchange duration with each ${label}`).labels(labels),
    rcode(rcode: number): CounterChild {
      let c = byRcode[rcode];
      if (c === undefined) {
        c = responses.labels({ ...labels, rcode: RcodeName[rcode] ?? String(rcode) });
        byRcode[rcode] = c;
      }
      return c;
    },
  };
}

export function createDropStats(registry: Registry, stage: string): DropStats {
  const c = registry.counter(`hoplite_dns_${stage}_dropped_replies_total`, 'Replies dropped: unknown ID, wrong source, wrong question, malformed, or late');
  return {
    id: c.labels({ reason: 'id' }),
    source: c.labels({ reason: 'source' }),
    question: c.labels({ reason: 'question' }),
    malformed: c.labels({ reason: 'malformed' }),
    late: c.labels({ reason: 'late' }),
  };
}
