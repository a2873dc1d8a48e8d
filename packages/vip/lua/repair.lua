-- Rebuild everything derived from the table and the quarantine: the address index, the
-- quarantine indexes, the free ranges, and a revision behind the records or the feed.
-- Records that share an address are left alone (not repairable: an operator releases one).
-- ARGV[1]: the revision the feed's last entry has (0 when none). Returns {'ok'} | {'uninit'}.
if not schema_ok() then
  return { 'uninit' }
end
local maxrev = tonumber(ARGV[1])
local all = redis.call('HGETALL', K.vips)
redis.call('DEL', K.used)
local usedBy = {}
local z = {}
for i = 1, #all, 2 do
  local ok, rec = pcall(cjson.decode, all[i + 1])
  if ok and type(rec) == 'table' and tonumber(rec.a) then
    local a = tonumber(rec.a)
    usedBy[astr(a)] = true
    z[#z + 1] = a
    z[#z + 1] = all[i]
    if tonumber(rec.ur) and tonumber(rec.ur) > maxrev then
      maxrev = tonumber(rec.ur)
    end
  end
end
if #z > 0 then
  batched('ZADD', K.used, z, 1000)
end
-- Quarantine: drop entries without a name, for addresses in use or outside the layout, and names
-- without entries.
local quar = redis.call('ZRANGE', K.quar, 0, -1)
for _, as in ipairs(quar) do
  local n = redis.call('HGET', K.qname, as)
  if (not n) or usedBy[as] or not in_layout(tonumber(as)) then
    redis.call('ZREM', K.quar, as)
    redis.call('HDEL', K.qname, as)
  end
end
local qn = redis.call('HGETALL', K.qname)
for i = 1, #qn, 2 do
  if not redis.call('ZSCORE', K.quar, qn[i]) then
    redis.call('HDEL', K.qname, qn[i])
  end
end
local qb = redis.call('HGETALL', K.qbyname)
for i = 1, #qb, 2 do
  if redis.call('HGET', K.qname, qb[i + 1]) ~= qb[i] then
    redis.call('HDEL', K.qbyname, qb[i])
  end
end
local cur = tonumber(redis.call('GET', K.rev) or '0')
if maxrev > cur then
  redis.call('SET', K.rev, astr(maxrev))
end
rebuild_free()
return { 'ok' }
