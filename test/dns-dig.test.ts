/**
 * `dig` as the client, against a real @hoplite/dns server on 127.0.0.1 (port 0): the liveness
 * record, TCP, EDNS buffer sizes and truncation, a local zone with SRV/PTR, renames, FORMERR.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, MemoryRecordSource, type ZoneRecord } from '@hoplite/dns';

const run = promisify(execFile);

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=5', '+tries=1', ...args], { timeout: 30000 });
  return stdout;
}

const ZONE = 'l4lb.thisdcos.directory';
const src = new MemoryRecordSource({
  [`web.marathon.${ZONE}`]: [{ type: 'A', address: '10.0.0.1' }],
  [`_web._tcp.marathon.${ZONE}`]: [{ type: 'SRV', priority: 0, weight: 0, port: 80, target: `web.marathon.${ZONE}` }],
  [`big.${ZONE}`]: Array.from({ length: 60 }, (_, i): ZoneRecord => ({ type: 'A', address: `10.1.0.${i}` })),
  '1.0.0.10.in-addr.arpa': [{ type: 'PTR', target: `web.marathon.${ZONE}` }],
});

const server = await createServer({
  listen: [{ address: '127.0.0.1', port: 0 }],
  localZones: [{ zone: ZONE, source: src, reverseZones: ['0.0.10.in-addr.arpa'] }],
});
t.teardown(() => server.close());
const port = server.addresses()[0]!.port;

t.test('ready.spartan over UDP and TCP', async (t) => {
  t.equal((await dig(port, 'ready.spartan', '+short')).trim(), '127.0.0.1');
  t.equal((await dig(port, 'ready.hoplite', '+short', '+tcp')).trim(), '127.0.0.1');
  const full = await dig(port, 'ready.spartan');
  t.match(full, /status: NOERROR/);
  t.match(full, /flags: qr aa rd ra;/);
});

t.test('EDNS buffer sizes: truncated over UDP, whole over TCP', async (t) => {
  const small = await dig(port, `big.${ZONE}`, '+bufsize=512', '+ignore');
  t.match(small, /flags: qr aa tc rd ra;/, 'TC within 512 bytes');
  t.match(small, /ANSWER: 0/);
  const large = await dig(port, `big.${ZONE}`, '+bufsize=1232');
  t.match(large, /ANSWER: 60/, 'fits 1232');
  t.match(large, /udp: 1232/, 'our OPT');
  const retried = await dig(port, `big.${ZONE}`, '+bufsize=512');
  t.match(retried, /ANSWER: 60/, 'dig retries over TCP after TC');
  t.match(retried, /\(TCP\)/);
  const noEdns = await dig(port, `big.${ZONE}`, '+noedns', '+ignore');
  t.match(noEdns, /flags: qr aa tc rd ra;/, 'TC without EDNS (512 bytes)');
});

t.test('local zone: SRV with additional, PTR, NXDOMAIN with SOA, renames', async (t) => {
  const srv = await dig(port, `_web._tcp.marathon.${ZONE}`, 'SRV');
  t.match(srv, /SRV\s+0 0 80 web\.marathon\.l4lb\.thisdcos\.directory\./);
  t.match(srv, /ADDITIONAL SECTION:\nweb\.marathon\.l4lb\.thisdcos\.directory\.\s+5\s+IN\s+A\s+10\.0\.0\.1/);
  t.equal((await dig(port, '-x', '10.0.0.1', '+short')).trim(), `web.marathon.${ZONE}.`);
  const nx = await dig(port, `nope.${ZONE}`);
  t.match(nx, /status: NXDOMAIN/);
  t.match(nx, /AUTHORITY SECTION:\nl4lb\.thisdcos\.directory\.\s+1\s+IN\s+SOA\s+ns\.spartan\. hostmaster\.spartan\. 1 60 180 86400 1/);
  const renamed = await dig(port, 'Web.Marathon.dclb.thisdcos.global');
  t.match(renamed, /ANSWER SECTION:\nWeb\.Marathon\.dclb\.thisdcos\.global\.\s+5\s+IN\s+A\s+10\.0\.0\.1/);
});

t.test('opcode and EDNS version checks as dig sees them', async (t) => {
  const v1 = await dig(port, 'ready.spartan', '+edns=1', '+noednsnegotiation');
  t.match(v1, /status: BADVERS/);
  const notify = await dig(port, 'ready.spartan', '+opcode=notify');
  t.match(notify, /status: NOTIMP/);
});
