-- Everything check() looks at, read atomically.
-- Returns {rev, schema, layout, HGETALL vips, used WITHSCORES, free, ranges, quar WITHSCORES,
--          HGETALL qname, HGETALL qbyname, last feed id or '', stored pools JSON or ''}.
local last = redis.call('XREVRANGE', K.feed, '+', '-', 'COUNT', 1)
local lastId = ''
if last[1] then
  lastId = last[1][1]
end
return {
  redis.call('GET', K.rev) or '0',
  redis.call('GET', K.schema) or '',
  redis.call('GET', K.layout) or '',
  redis.call('HGETALL', K.vips),
  redis.call('ZRANGE', K.used, 0, -1, 'WITHSCORES'),
  redis.call('ZRANGE', K.free, 0, -1),
  redis.call('ZRANGE', K.ranges, 0, -1),
  redis.call('ZRANGE', K.quar, 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', K.qname),
  redis.call('HGETALL', K.qbyname),
  lastId,
  redis.call('GET', K.pools) or '',
}
