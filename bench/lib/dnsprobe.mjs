// A one-query DNS client over UDP, used to wait until a server under test answers and to check
// that it answers what we expect before load is applied.

import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { sleep } from './proc.mjs';

/** Send one query, resolve with the decoded answer, or undefined after `timeoutMs`. */
export function query(port, name, type = 'A', { host = '127.0.0.1', timeoutMs = 500 } = {}) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const id = (Math.random() * 0x10000) | 0;
    const msg = dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name, class: 'IN' }],
    });
    const finish = (v) => {
      clearTimeout(timer);
      sock.close();
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    sock.on('error', () => finish(undefined));
    sock.on('message', (buf) => {
      try {
        const res = dnsPacket.decode(buf);
        if (res.id === id) finish(res);
      } catch {
        /* ignore garbage */
      }
    });
    sock.send(msg, port, host);
  });
}

/**
 * Poll until the server answers `name` with rcode NOERROR (or `until` ms pass, or `child` exits).
 * Returns the answer, or throws with the reason.
 */
export async function waitForAnswer(port, name, { until = 15000, child } = {}) {
  const deadline = Date.now() + until;
  let last;
  while (Date.now() < deadline) {
    if (child && !child.alive()) {
      const ex = await child.exited;
      const err = new Error(`${child.name} exited (code ${ex.code}, signal ${ex.signal}) before answering\n${child.output()}`);
      err.exitCode = ex.code;
      throw err;
    }
    last = await query(port, name);
    if (last && last.rcode === 'NOERROR' && last.answers.length > 0) return last;
    await sleep(100);
  }
  throw new Error(`no NOERROR answer for ${name} on 127.0.0.1:${port} within ${until} ms (last: ${last ? last.rcode : 'timeout'})${child ? '\n' + child.output() : ''}`);
}
