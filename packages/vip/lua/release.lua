-- Release a VIP: its address goes into quarantine until now + quarantineMs (or straight back to
-- the free ranges when quarantineMs <= 0); an address outside the layout is dropped.
-- ARGV: name, now (ms), quarantineMs, feed maxlen, sweep limit.
-- Returns {'ok', record JSON (as it was)} | {'none'} | {'uninit'}.
if not schema_ok() then
  return { 'uninit' }
end
local name = ARGV[1]
local now = tonumber(ARGV[2])
local q = tonumber(ARGV[3])
local maxlen = ARGV[4]
local limit = tonumber(ARGV[5])

local cur = redis.call('HGET', K.vips, name)
if not cur then
  return { 'none' }
end
local rec = cjson.decode(cur)
local a = tonumber(rec.a)
bump('delete', name, cur, maxlen)
redis.call('HDEL', K.vips, name)
redis.call('ZREM', K.used, name)
-- An address outside the layout (its pool was removed) is simply dropped.
if in_layout(a) then
  if q > 0 then
    quar_put(a, name, now + q)
  else
    free_put(a)
  end
end
sweep(now, limit)
return { 'ok', cur }
