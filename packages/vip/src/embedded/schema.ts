/**
 * The embedded store's SQLite schema (version 1).
 *
 * vip_state        one row: schema version, revision, the pool layout the free space follows
 *                  (`layout` JSON and its fingerprint `layout_key`) and the pool configuration it
 *                  came from (`pools`, see stored-pools.ts; NULL in files of older versions, added
 *                  by ALTER TABLE: the schema version stays 1, so older versions still open it).
 * vips             one row per VIP; name is the key, ipv4 is UNIQUE (one name per address).
 * vip_free         free space as inclusive ranges [first, last], non-overlapping, never crossing a
 *                  pool range. Indexed by both ends: "first free address >= p" is one index lookup
 *                  on `last` whatever the pool size.
 * vip_quarantine   released addresses held for their old name until `until` (epoch ms). These
 *                  addresses are in neither vips nor vip_free; expired rows are merged back into
 *                  vip_free lazily, a few per write, oldest first (index on until).
 * vip_changes      the change feed's tail: one row per revision, trimmed to the last N.
 */

export const SCHEMA_VERSION = 1;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS vip_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  schema INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  layout TEXT NOT NULL,
  layout_key TEXT NOT NULL,
  pools TEXT
);
CREATE TABLE IF NOT EXISTS vips (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  label TEXT NOT NULL,
  framework TEXT NOT NULL,
  ipv4 INTEGER NOT NULL,
  ports TEXT NOT NULL,
  pinned INTEGER NOT NULL,
  created_rev INTEGER NOT NULL,
  updated_rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS vips_ipv4 ON vips (ipv4);
CREATE TABLE IF NOT EXISTS vip_free (
  first INTEGER PRIMARY KEY,
  last INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS vip_free_last ON vip_free (last);
CREATE TABLE IF NOT EXISTS vip_quarantine (
  ipv4 INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  until INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vip_quarantine_name ON vip_quarantine (name, until);
CREATE INDEX IF NOT EXISTS vip_quarantine_until ON vip_quarantine (until);
CREATE TABLE IF NOT EXISTS vip_changes (
  revision INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  name TEXT NOT NULL,
  vip TEXT NOT NULL
);
`;

export const TABLES = ['vip_state', 'vips', 'vip_free', 'vip_quarantine', 'vip_changes'] as const;
