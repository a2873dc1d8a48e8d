-- The whole table and its revision, read atomically.
-- Returns {revision, {record JSON...}}.
return { redis.call('GET', K.rev) or '0', redis.call('HVALS', K.vips) }
