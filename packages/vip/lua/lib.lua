-- Shared helpers, prepended to every script by src/redis/scripts.ts after a generated prelude
-- that maps key names to KEYS (local K = { schema = KEYS[1], rev = KEYS[2], ... }; see keys.ts).
--
-- Data model (all integers are IPv4 addresses as unsigned 32-bit numbers):
--   K.vips    hash  name -> record JSON {name, kind, label, framework, a, ports, pinned, cr, ur}
--   K.used    zset  member name, score a                 (derived from K.vips)
--   K.free    zset  member "s:e", score s                (free inclusive ranges inside the layout)
--   K.ranges  zset  member "s:e", score s                (the layout's allocatable ranges)
--   K.quar    zset  member a, score until (epoch ms)     (quarantined addresses)
--   K.qname   hash  a -> name that released it
--   K.qbyname hash  name -> the address it last released (to give it back)
--   K.rev     counter; K.feed stream, entry id "<rev>-0"
-- Every lookup below is O(log n): cost does not grow with the size of the pools.

local SCHEMA = '1'

local function astr(a)
  return string.format('%d', a)
end

local function range_member(s, e)
  return string.format('%d:%d', s, e)
end

local function range_parse(member)
  local s, e = string.match(member, '^(%d+):(%d+)$')
  return tonumber(s), tonumber(e)
end

local function schema_ok()
  return redis.call('GET', K.schema) == SCHEMA
end

-- The free range holding address a: member, start, end; or nil.
local function free_find(a)
  local r = redis.call('ZREVRANGEBYSCORE', K.free, a, '-inf', 'LIMIT', 0, 1)
  if r[1] then
    local s, e = range_parse(r[1])
    if e >= a then
      return r[1], s, e
    end
  end
  return nil
end

-- Remove address a from the free ranges (splitting its range). True when it was free.
local function free_take(a)
  local m, s, e = free_find(a)
  if not m then
    return false
  end
  redis.call('ZREM', K.free, m)
  if s <= a - 1 then
    redis.call('ZADD', K.free, s, range_member(s, a - 1))
  end
  if a + 1 <= e then
    redis.call('ZADD', K.free, a + 1, range_member(a + 1, e))
  end
  return true
end

-- The first free address >= p, wrapping round to the lowest free range; nil when none is free.
local function free_next(p)
  if free_find(p) then
    return p
  end
  local r = redis.call('ZRANGEBYSCORE', K.free, '(' .. astr(p), '+inf', 'LIMIT', 0, 1)
  if not r[1] then
    r = redis.call('ZRANGE', K.free, 0, 0)
  end
  if r[1] then
    local s = range_parse(r[1])
    return s
  end
  return nil
end

-- True when address a lies inside one of the layout's ranges.
local function in_layout(a)
  local r = redis.call('ZREVRANGEBYSCORE', K.ranges, a, '-inf', 'LIMIT', 0, 1)
  if not r[1] then
    return false
  end
  local _, e = range_parse(r[1])
  return e >= a
end

-- Put address a back into the free ranges, merging with its neighbours.
local function free_put(a)
  if free_find(a) then
    return
  end
  local s, e = a, a
  local r = redis.call('ZREVRANGEBYSCORE', K.free, a - 1, '-inf', 'LIMIT', 0, 1)
  if r[1] then
    local ps, pe = range_parse(r[1])
    if pe == a - 1 then
      redis.call('ZREM', K.free, r[1])
      s = ps
    end
  end
  r = redis.call('ZRANGEBYSCORE', K.free, a + 1, a + 1, 'LIMIT', 0, 1)
  if r[1] then
    local _, ne = range_parse(r[1])
    redis.call('ZREM', K.free, r[1])
    e = ne
  end
  redis.call('ZADD', K.free, s, range_member(s, e))
end

-- The name holding address a, or nil.
local function holder_of(a)
  return redis.call('ZRANGEBYSCORE', K.used, a, a, 'LIMIT', 0, 1)[1]
end

-- Forget the quarantine entry of address a (string form).
local function quar_drop(as)
  local n = redis.call('HGET', K.qname, as)
  redis.call('ZREM', K.quar, as)
  redis.call('HDEL', K.qname, as)
  if n and redis.call('HGET', K.qbyname, n) == as then
    redis.call('HDEL', K.qbyname, n)
  end
end

local function quar_put(a, name, untilMs)
  local as = astr(a)
  redis.call('ZADD', K.quar, untilMs, as)
  redis.call('HSET', K.qname, as, name)
  redis.call('HSET', K.qbyname, name, as)
end

-- Return at most `limit` expired quarantine entries (until <= now) to the free ranges.
local function sweep(now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.quar, '-inf', now, 'LIMIT', 0, limit)
  for _, as in ipairs(due) do
    quar_drop(as)
    local a = tonumber(as)
    if in_layout(a) and not holder_of(a) then
      free_put(a)
    end
  end
end

-- Next revision, and its feed entry. Called before any other write of a mutation, so that a
-- failing XADD (which cannot happen while only these scripts write the feed) changes nothing else.
local function bump(kind, name, json, maxlen)
  local rev = redis.call('INCR', K.rev)
  redis.call('XADD', K.feed, 'MAXLEN', '~', maxlen, astr(rev) .. '-0', 't', kind, 'n', name, 'v', json)
  return rev
end

-- cjson turns [] into {} and back; ports are always an array.
local function port_list(p)
  if type(p) ~= 'table' then
    return {}
  end
  return p
end

-- Union of two port lists, sorted by port then protocol. Returns the list and whether it grew.
local function merge_ports(old, add)
  local seen, out = {}, {}
  old = port_list(old)
  for _, list in ipairs({ old, port_list(add) }) do
    for _, p in ipairs(list) do
      local k = astr(p.port) .. '/' .. p.protocol
      if not seen[k] then
        seen[k] = true
        out[#out + 1] = { port = p.port, protocol = p.protocol }
      end
    end
  end
  table.sort(out, function(x, y)
    if x.port ~= y.port then
      return x.port < y.port
    end
    return x.protocol < y.protocol
  end)
  return out, #out ~= #old
end

-- Rebuild the free ranges: layout ranges minus used and quarantined addresses. O(used + quarantined).
local function rebuild_free()
  redis.call('DEL', K.free)
  local qs = {}
  for _, as in ipairs(redis.call('ZRANGE', K.quar, 0, -1)) do
    qs[#qs + 1] = tonumber(as)
  end
  table.sort(qs)
  for _, rm in ipairs(redis.call('ZRANGE', K.ranges, 0, -1)) do
    local s, e = range_parse(rm)
    local taken = {}
    local used = redis.call('ZRANGEBYSCORE', K.used, s, e, 'WITHSCORES')
    for i = 2, #used, 2 do
      taken[#taken + 1] = tonumber(used[i])
    end
    for _, q in ipairs(qs) do
      if q >= s and q <= e then
        taken[#taken + 1] = q
      end
    end
    table.sort(taken)
    local cur = s
    for _, t in ipairs(taken) do
      if t > cur then
        redis.call('ZADD', K.free, cur, range_member(cur, t - 1))
      end
      if t + 1 > cur then
        cur = t + 1
      end
    end
    if cur <= e then
      redis.call('ZADD', K.free, cur, range_member(cur, e))
    end
  end
end

-- Batched HSET/ZADD for long argument lists (Lua's unpack has a stack limit).
local function batched(cmd, key, args, step)
  for i = 1, #args, step do
    local chunk = {}
    for j = i, math.min(i + step - 1, #args) do
      chunk[#chunk + 1] = args[j]
    end
    redis.call(cmd, key, unpack(chunk))
  end
end
