-- The record holding an address. ARGV[1]: address. Returns record JSON or nil.
local r = redis.call('ZRANGEBYSCORE', K.used, ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if not r[1] then
  return nil
end
return redis.call('HGET', K.vips, r[1])
