/**
 * `hoplite vip check [--repair]` on an embedded store corrupted on purpose (better-sqlite3 writing
 * the store's tables directly, as a bug or a hand edit would): problems reported with exit 1,
 * repaired with --repair (exit 0), and what cannot be mended left for the operator (exit 1).
 */
import t from 'tap';
import Database from 'better-sqlite3';
import { cliHome, embeddedPathIn, runCli, stdoutJson, type RunResult } from './helpers/run-cli.js';

const home = cliHome(t);
const dbPath = embeddedPathIn(home);
const vip = (args: string[]): Promise<RunResult> => runCli(['vip', ...args], { home });

interface Problem {
  code: string;
  subject: string;
  message: string;
  repairable: boolean;
}
interface CheckJson {
  ok: boolean;
  problems: Problem[];
  repaired: string[];
  remaining: Problem[];
}

const ipv4 = (s: string): number => s.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/** Run `fn` on the store's SQLite file, as another program would. */
function withDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(dbPath);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

t.before(async () => {
  for (const name of ['alpha', 'beta', 'gamma']) {
    const r = await vip(['allocate', name, '--port', '80']);
    if (r.code !== 0) throw new Error(`allocate ${name}: ${r.stderr}`);
  }
});

t.test('repairable corruption: reported (exit 1), mended by --repair (exit 0)', async (t) => {
  const alpha = stdoutJson<{ ipv4: string }>(await vip(['get', 'alpha', '--json'])).ipv4;
  const beta = stdoutJson<{ ipv4: string }>(await vip(['get', 'beta', '--json'])).ipv4;
  withDb((db) => {
    // alpha's address also free: the next allocation could hand it out twice.
    db.prepare('INSERT INTO vip_free (first, last) VALUES (?, ?)').run(ipv4(alpha), ipv4(alpha));
    // beta's address in quarantine for some other name.
    db.prepare('INSERT INTO vip_quarantine (ipv4, name, until) VALUES (?, ?, ?)').run(ipv4(beta), 'ghost.marathon.l4lb.thisdcos.directory', Date.now() + 3_600_000);
    // The revision fell behind the records.
    db.prepare('UPDATE vip_state SET revision = 0').run();
  });

  const [human, j] = await Promise.all([vip(['check']), vip(['check', '--json'])]);
  t.equal(human.code, 1);
  t.match(human.stdout, /^found 3 problem\(s\):\n  CODE\s+SUBJECT\s+REPAIRABLE\s+PROBLEM\n/);
  t.match(human.stderr, /^error \[HOPLITE_CHECK_FAILED\]: the VIP table has 3 problem\(s\); 3 can be mended: run `hoplite vip check --repair`\n$/);
  t.equal(j.code, 1);
  const report = stdoutJson<CheckJson>(j);
  t.same(Object.keys(report), ['ok', 'problems', 'repaired', 'remaining']);
  t.equal(report.ok, false);
  t.same(report.problems.map((p) => [p.code, p.subject, p.repairable]).sort(), [
    ['FREE_OVERLAP', alpha, true],
    ['QUARANTINE_MISMATCH', beta, true],
    ['REVISION_BEHIND', '0', true],
  ]);
  t.same(report.remaining, report.problems, 'without --repair, everything remains');
  t.same(report.repaired, []);

  const repair = await vip(['check', '--repair']);
  t.equal(repair.code, 0, repair.stderr);
  t.match(repair.stdout, /^found 3 problem\(s\):\n[\s\S]*\nrepaired:\n  removed the quarantine entry of 172\.16\.[\d.]+\n  rebuilt the free space from the pools, the VIPs and the quarantine\n  raised the revision to \d+\nok: no problems remain\n$/);
  t.equal(repair.stderr, '');

  // Really mended: the file itself, and the command agrees.
  withDb((db) => {
    t.equal((db.prepare('SELECT count(*) AS n FROM vip_free WHERE first <= ? AND last >= ?').get(ipv4(alpha), ipv4(alpha)) as { n: number }).n, 0, "alpha's address is no longer free");
    t.equal((db.prepare('SELECT count(*) AS n FROM vip_quarantine WHERE ipv4 = ?').get(ipv4(beta)) as { n: number }).n, 0);
  });
  const after = await vip(['check', '--json']);
  t.equal(after.code, 0);
  t.same(stdoutJson(after), { ok: true, problems: [], repaired: [], remaining: [] });
  const repairedJson = await vip(['check', '--repair', '--json']);
  t.same(stdoutJson(repairedJson), { ok: true, problems: [], repaired: [], remaining: [] }, '--repair on a sound table does nothing');
});

t.test('what cannot be mended stays (exit 1) until the operator acts', async (t) => {
  withDb((db) => {
    // gamma's record moved outside the pools (a hand edit, or a removed pool).
    db.prepare("UPDATE vips SET ipv4 = ? WHERE name = 'gamma.marathon.l4lb.thisdcos.directory'").run(ipv4('10.200.0.1'));
  });
  const r = await vip(['check', '--repair', '--json']);
  t.equal(r.code, 1);
  const report = stdoutJson<CheckJson>(r);
  t.equal(report.ok, false);
  t.same(report.problems.map((p) => p.code).sort(), ['FREE_LEAK', 'OUTSIDE_POOL'], "gamma's old address is neither used nor free: a leak");
  t.same(report.repaired, ['rebuilt the free space from the pools, the VIPs and the quarantine']);
  t.same(report.remaining.map((p) => [p.code, p.subject, p.repairable]), [['OUTSIDE_POOL', 'gamma.marathon.l4lb.thisdcos.directory', false]]);
  t.match(r.stderr, /^error \[HOPLITE_CHECK_FAILED\]: the VIP table has 1 problem\(s\); they need an operator/);

  const human = await vip(['check', '--repair']);
  t.equal(human.code, 1);
  t.match(human.stdout, /\nrepaired: nothing\nremaining 1 problem\(s\):\n  CODE\s+SUBJECT\s+REPAIRABLE\s+PROBLEM\n  OUTSIDE_POOL\s+gamma\.marathon\.l4lb\.thisdcos\.directory\s+no\s+/);

  // What the message says to do: release it (or reserve it elsewhere).
  t.equal((await vip(['release', 'gamma'])).code, 0);
  const ok = await vip(['check']);
  t.equal(ok.code, 0, ok.stdout);
  t.equal(ok.stdout, 'ok: no problems\n');
});
