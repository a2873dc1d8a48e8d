-- The revision and up to ARGV[2] change-feed entries after revision ARGV[1], read atomically (the
-- catch-up of a streamed snapshot: revision == last entry's revision means caught up).
-- Returns {revision, {{id, {field, value, ...}}, ...}}.
return {
  redis.call('GET', K.rev) or '0',
  redis.call('XRANGE', K.feed, astr(tonumber(ARGV[1]) + 1) .. '-0', '+', 'COUNT', tonumber(ARGV[2])),
}
