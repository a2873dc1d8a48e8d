-- Counts for the pool statistics, over the stored layout. ARGV[1]: now (ms).
-- Returns {layout fingerprint, stored pools JSON or '', {used count per stored range, in address
-- order...}, {addresses quarantined until after now...}}.
local now = tonumber(ARGV[1])
local counts = {}
for _, m in ipairs(redis.call('ZRANGE', K.ranges, 0, -1)) do
  local s, e = range_parse(m)
  counts[#counts + 1] = redis.call('ZCOUNT', K.used, s, e)
end
return {
  redis.call('GET', K.layout) or '',
  redis.call('GET', K.pools) or '',
  counts,
  redis.call('ZRANGEBYSCORE', K.quar, '(' .. astr(now), '+inf'),
}
