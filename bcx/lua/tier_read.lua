-- Plan the read of one series' range across its candle tiers and its raw ticks (bcx-web's candle reads): which
-- chunks of each chain hold what is to be read, found in one round trip; the caller then reads them all in one
-- pipeline. (Reading the members here too would save that second round trip but costs more: a script copies
-- every member into a Lua string and back, about 0.4 us each, where a plain ZRANGEBYSCORE sends it as it is.)
-- KEYS: the chunk indexes of the candle tiers, coarsest first, then the raw ticks' index.
-- ARGV: 1 start, 2 end (of the candle buckets), 3 end of the raw ticks, then each candle tier's chunk key prefix
-- and width in ms.
-- Each tier is read from where the coarser ones stopped (the end of the newest bucket they hold up to `end`);
-- the raw ticks fill the rest, when anything is left (start <= end).
-- Returns one array per chain, tiers first: {from, to, chunk id...}; the raw ticks' array is {from} alone when
-- the tiers leave nothing to read.
-- Index members are `<id>:<base>` and a chunk stores each score as score - base (see chunk_add.lua); a chunk
-- covers [its index score, the next chunk's index score).
local covered, last, raw_end = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tiers = #KEYS - 1

local function base_of(id)
  return tonumber(string.match(id, ':(%-?%d+)$')) or 0
end

local function int(x)
  return string.format('%d', x)
end

-- {lo, hi, ids of the chunks of `index` overlapping [lo, hi]: the one holding lo (or the last before it), then
-- every later one}
local function plan(index, lo, hi)
  local found = {int(lo), int(hi)}
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', index, int(lo), '-inf', 'LIMIT', 0, 1)) do
    found[3] = id
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. int(lo), int(hi))) do
    found[#found + 1] = id
  end
  return found
end

local answer = {}
for i = 1, tiers do
  local found = plan(KEYS[i], covered, last)
  answer[i] = found
  if #found > 2 then -- the newest entry up to `last` is in the last chunk that starts at or before it
    local id = found[#found]
    local base = base_of(id)
    local newest = redis.call('ZREVRANGEBYSCORE', ARGV[2 + 2 * i] .. id, int(last - base), '-inf', 'WITHSCORES',
      'LIMIT', 0, 1)
    if #newest > 0 and tonumber(newest[2]) + base >= covered then
      covered = tonumber(newest[2]) + base + tonumber(ARGV[3 + 2 * i])
    end
  end
end
answer[tiers + 1] = covered <= last and plan(KEYS[tiers + 1], covered, raw_end) or {int(covered)}
return answer
