-- Remove every entry older than a cutoff from a chain of chunks, atomically.
-- KEYS: 1 chunk index. ARGV: 1 chunk key prefix, 2 cutoff (unix ms; entries with a smaller score go).
-- Whole chunks are dropped where the next chunk starts at or before the cutoff; the chunk that straddles the
-- cutoff loses its older part and its index entry moves to its new first timestamp. Returns entries removed.
-- A chunk stores scores relative to the base in its index member `<id>:<base>` (see chunk_add.lua).
local index, prefix, cutoff = KEYS[1], ARGV[1], tonumber(ARGV[2])
local chunks = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[2], 'WITHSCORES')
local after = redis.call('ZRANGEBYSCORE', index, ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local removed = 0
for i = 1, #chunks, 2 do
  local id = chunks[i]
  local key = prefix .. id
  local base = tonumber(string.match(id, ':(%-?%d+)$')) or 0
  local next_start = chunks[i + 3] or after[2]
  if next_start and tonumber(next_start) <= cutoff then
    removed = removed + redis.call('ZCARD', key)
    redis.call('DEL', key)
    redis.call('ZREM', index, id)
  else
    removed = removed + redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('(%d', cutoff - base))
    local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if #first == 0 then
      redis.call('ZREM', index, id)
    else
      redis.call('ZADD', index, tonumber(first[2]) + base, id)
    end
  end
end
return removed
