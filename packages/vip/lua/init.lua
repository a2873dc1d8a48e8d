-- Write the pools of an empty store, or decide what to do with a store that holds some
-- (src/stored-pools.ts `decidePools` is the same rule in TypeScript, for the embedded store).
-- ARGV[1] fingerprint of the given layout; ARGV[2] its configuration as stored JSON ('' when none);
-- ARGV[3] its configuration key ('' when none); ARGV[4] '1' to replace other stored pools;
-- ARGV[5] feed maxlen; ARGV[6..] the layout's ranges as "start:end".
-- Returns {status, fingerprint, pools} where fingerprint and pools are what the store holds after
-- the call, status 'created' | 'same' | 'adopted' | 'updated' (then also the previous fingerprint
-- and pools), or {'incompatible', schema}.
local sv = redis.call('GET', K.schema)
if sv and sv ~= SCHEMA then
  return { 'incompatible', sv }
end
local cur = redis.call('GET', K.layout)
local curPools = redis.call('GET', K.pools) or ''

local function write_layout()
  redis.call('DEL', K.ranges)
  local members = {}
  for i = 6, #ARGV do
    local s = range_parse(ARGV[i])
    members[#members + 1] = s
    members[#members + 1] = ARGV[i]
  end
  if #members > 0 then
    batched('ZADD', K.ranges, members, 1000)
  end
  redis.call('SET', K.layout, ARGV[1])
  redis.call('SET', K.schema, SCHEMA)
  rebuild_free()
end

local function write_pools()
  if ARGV[2] ~= '' then
    redis.call('SET', K.pools, ARGV[2])
  else
    redis.call('DEL', K.pools)
  end
end

if sv ~= SCHEMA or not cur then
  write_layout()
  write_pools()
  return { 'created', ARGV[1], ARGV[2] }
end

-- The stored configuration counts only while it describes the stored layout (an older Hoplite
-- may have rewritten the layout and left it stale).
local storedKey = nil
if curPools ~= '' then
  local ok, p = pcall(cjson.decode, curPools)
  if ok and type(p) == 'table' and p.layout == cur and type(p.key) == 'string' then
    storedKey = p.key
  end
end
local same
if storedKey and ARGV[3] ~= '' then
  same = storedKey == ARGV[3]
else
  same = cur == ARGV[1]
end
if same then
  if ARGV[3] ~= '' and not storedKey then
    redis.call('SET', K.pools, ARGV[2])
    return { 'same', cur, ARGV[2] }
  end
  return { 'same', cur, curPools }
end
if ARGV[4] ~= '1' then
  return { 'adopted', cur, curPools }
end
if cur ~= ARGV[1] then
  write_layout()
end
write_pools()
-- Every VIP's AAAA may have moved: a 'reset' entry at the next revision makes watchers resync.
local rev = redis.call('INCR', K.rev)
redis.call('XADD', K.feed, 'MAXLEN', '~', ARGV[5], astr(rev) .. '-0', 't', 'reset', 'n', '', 'v', '')
return { 'updated', ARGV[1], ARGV[2], cur, curPools }
