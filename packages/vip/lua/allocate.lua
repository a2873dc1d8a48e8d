-- Allocate (idempotent) an address for a named VIP.
-- ARGV: name, label, framework, ports JSON, preferred address, now (ms), feed maxlen, sweep limit.
-- Returns {'ok', record JSON, created '1'|'0', fromQuarantine '1'|'0'} | {'exhausted'} | {'uninit'}.
if not schema_ok() then
  return { 'uninit' }
end
local name = ARGV[1]
local ports = cjson.decode(ARGV[4])
local preferred = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
local maxlen = ARGV[7]
local limit = tonumber(ARGV[8])

local cur = redis.call('HGET', K.vips, name)
if cur then
  local rec = cjson.decode(cur)
  local merged, grew = merge_ports(rec.ports, ports)
  if not grew then
    return { 'ok', cur, '0', '0' }
  end
  rec.ports = merged
  rec.ur = redis.call('INCR', K.rev)
  local json = cjson.encode(rec)
  redis.call('XADD', K.feed, 'MAXLEN', '~', maxlen, astr(rec.ur) .. '-0', 't', 'put', 'n', name, 'v', json)
  redis.call('HSET', K.vips, name, json)
  return { 'ok', json, '0', '0' }
end

-- Back from quarantine: the address this name released, while its quarantine runs (until > now).
local a, fromq = nil, false
local qa = redis.call('HGET', K.qbyname, name)
if qa and redis.call('HGET', K.qname, qa) == name then
  local untilMs = tonumber(redis.call('ZSCORE', K.quar, qa))
  if untilMs and untilMs > now and in_layout(tonumber(qa)) and not holder_of(tonumber(qa)) then
    a = tonumber(qa)
    fromq = true
  end
end
if not a then
  sweep(now, limit)
  a = free_next(preferred)
  if not a then
    return { 'exhausted' }
  end
end

local merged = merge_ports({}, ports)
local rev = redis.call('INCR', K.rev)
local json = cjson.encode({
  name = name, kind = 'named', label = ARGV[2], framework = ARGV[3], a = a,
  ports = merged, pinned = false, cr = rev, ur = rev,
})
redis.call('XADD', K.feed, 'MAXLEN', '~', maxlen, astr(rev) .. '-0', 't', 'put', 'n', name, 'v', json)
if fromq then
  quar_drop(qa)
else
  free_take(a)
end
redis.call('HSET', K.vips, name, json)
redis.call('ZADD', K.used, a, name)
if fromq then
  return { 'ok', json, '0', '1' }
end
return { 'ok', json, '1', '0' }
