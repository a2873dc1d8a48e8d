-- Replace the whole table (validated by the caller: unique names and addresses, inside the
-- layout). Records keep their revisions; the store's revision becomes max(current, table's) + 1;
-- the feed is cleared down to one 'reset' entry at that revision, so watchers resync.
-- ARGV: feed maxlen, table revision, table JSON {vips: [record...], quarantine: [[address, until, name]...]}.
-- Returns {'ok', revision} | {'uninit'}.
if not schema_ok() then
  return { 'uninit' }
end
local t = cjson.decode(ARGV[3])
local rev = tonumber(redis.call('GET', K.rev) or '0')
local trev = tonumber(ARGV[2])
if trev > rev then
  rev = trev
end
rev = rev + 1
redis.call('SET', K.rev, astr(rev))
redis.call('DEL', K.feed, K.vips, K.used, K.quar, K.qname, K.qbyname)
redis.call('XADD', K.feed, 'MAXLEN', '~', ARGV[1], astr(rev) .. '-0', 't', 'reset', 'n', '', 'v', '')
local h, z = {}, {}
for _, rec in ipairs(t.vips) do
  rec.ports = merge_ports({}, rec.ports)
  h[#h + 1] = rec.name
  h[#h + 1] = cjson.encode(rec)
  z[#z + 1] = rec.a
  z[#z + 1] = rec.name
end
if #h > 0 then
  batched('HSET', K.vips, h, 1000)
  batched('ZADD', K.used, z, 1000)
end
for _, e in ipairs(t.quarantine) do
  quar_put(e[1], e[3], e[2])
end
rebuild_free()
return { 'ok', astr(rev) }
