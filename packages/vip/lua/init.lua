-- Initialize or update the pool layout. Idempotent: the same layout twice changes nothing.
-- ARGV[1] fingerprint of the layout; ARGV[2..] its ranges as "start:end".
-- Returns {'same'} | {'created'} | {'changed', previousFingerprint} | {'incompatible', schema}.
local sv = redis.call('GET', K.schema)
if sv and sv ~= SCHEMA then
  return { 'incompatible', sv }
end
local cur = redis.call('GET', K.layout)
if sv == SCHEMA and cur == ARGV[1] then
  return { 'same' }
end
redis.call('DEL', K.ranges)
local members = {}
for i = 2, #ARGV do
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
if cur then
  return { 'changed', cur }
end
return { 'created' }
