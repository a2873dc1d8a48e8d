-- Pin an address to a name (named VIP) or reserve an IP VIP's address.
-- ARGV: name, kind, label, framework, ports JSON, address, now (ms), quarantineMs, feed maxlen, sweep limit.
-- Returns {'ok', record JSON, created, fromQuarantine} | {'outside'} | {'taken', holder, 'used'|'quarantined', until}
--       | {'uninit'}.
-- A name that already has another address moves to the new one; its old address goes into quarantine.
if not schema_ok() then
  return { 'uninit' }
end
local name = ARGV[1]
local kind = ARGV[2]
local ports = cjson.decode(ARGV[5])
local a = tonumber(ARGV[6])
local as = astr(a)
local now = tonumber(ARGV[7])
local q = tonumber(ARGV[8])
local maxlen = ARGV[9]
local limit = tonumber(ARGV[10])

if not in_layout(a) then
  return { 'outside' }
end
local holder = holder_of(a)
if holder and holder ~= name then
  return { 'taken', holder, 'used', '0' }
end
local qn = redis.call('HGET', K.qname, as)
if qn and qn ~= name then
  local untilMs = redis.call('ZSCORE', K.quar, as)
  if untilMs and tonumber(untilMs) > now then
    return { 'taken', qn, 'quarantined', untilMs }
  end
end

local cur = redis.call('HGET', K.vips, name)
local rec, created, fromq
if cur then
  rec = cjson.decode(cur)
  local merged, grew = merge_ports(rec.ports, ports)
  if tonumber(rec.a) == a and rec.pinned and not grew then
    return { 'ok', cur, '0', '0' }
  end
  rec.ports = merged
  rec.pinned = true
  created, fromq = '0', '0'
else
  rec = {
    name = name, kind = kind, label = ARGV[3], framework = ARGV[4], a = a,
    ports = merge_ports({}, ports), pinned = true,
  }
  if qn == name then
    created, fromq = '0', '1'
  else
    created, fromq = '1', '0'
  end
end

local old = cur and tonumber(rec.a) or nil
rec.a = a
local rev = redis.call('INCR', K.rev)
if not cur then
  rec.cr = rev
end
rec.ur = rev
local json = cjson.encode(rec)
redis.call('XADD', K.feed, 'MAXLEN', '~', maxlen, astr(rev) .. '-0', 't', 'put', 'n', name, 'v', json)

if old ~= a then
  if qn then
    quar_drop(as)
  end
  free_take(a)
  if old then
    if q > 0 and in_layout(old) then
      quar_put(old, name, now + q)
    elseif in_layout(old) then
      free_put(old)
    end
  end
end
redis.call('HSET', K.vips, name, json)
redis.call('ZADD', K.used, a, name)
sweep(now, limit)
return { 'ok', json, created, fromq }
