-- Table and quarantine, read atomically. ARGV[1]: now (ms).
-- Returns {revision, {record JSON...}, {address, until, name, ...}}.
local r = redis.call('ZRANGEBYSCORE', K.quar, '(' .. ARGV[1], '+inf', 'WITHSCORES')
local q = {}
for i = 1, #r, 2 do
  q[#q + 1] = r[i]
  q[#q + 1] = r[i + 1]
  q[#q + 1] = redis.call('HGET', K.qname, r[i]) or ''
end
return { redis.call('GET', K.rev) or '0', redis.call('HVALS', K.vips), q }
