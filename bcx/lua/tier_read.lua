-- Read one series' range across its candle tiers and its raw ticks in one round trip (bcx-web's candle reads).
-- KEYS: the chunk indexes of the candle tiers, coarsest first, then the raw ticks' index.
-- ARGV: 1 start, 2 end (of the candle buckets), 3 end of the raw ticks, 4 most entries read per chain (0: no
-- bound), 5 the raw ticks' chunk key prefix, then per candle tier its chunk key prefix and its width in ms.
-- Each tier is read from where the coarser ones stopped (the end of the newest bucket found) to `end`; the raw
-- ticks fill the rest, when anything is left (start <= end).
-- Returns one array per candle tier (its members, in order), then the raw ticks as a flat array of member,
-- time pairs (empty when nothing was left to read them for), then the time the raw part was read from.
-- Index members are `<id>:<base>` and a chunk stores each score as score - base (see chunk_add.lua); a chunk
-- covers [its index score, the next chunk's index score).
local covered, last, raw_end, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tiers = #KEYS - 1

local function base_of(id)
  return tonumber(string.match(id, ':(%-?%d+)$')) or 0
end

local function int(x)
  return string.format('%d', x)
end

-- The chunk ids of `index` overlapping [lo, hi]: the one holding lo (or the last before it), then every later one.
local function chunks(index, lo, hi)
  local ids = redis.call('ZREVRANGEBYSCORE', index, int(lo), '-inf', 'LIMIT', 0, 1)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. int(lo), int(hi))) do
    ids[#ids + 1] = id
  end
  return ids
end

-- Candle members with lo <= time <= hi, at most `limit`; and the newest one's time (nil when none).
local function candles(index, prefix, lo, hi)
  local found, newest = {}, nil
  for _, id in ipairs(chunks(index, lo, hi)) do
    local key, base = prefix .. id, base_of(id)
    local args = {'ZRANGEBYSCORE', key, int(lo - base), int(hi - base)}
    if limit > 0 then
      args[5], args[6], args[7] = 'LIMIT', 0, limit - #found
    end
    local members = redis.call(unpack(args))
    if #members > 0 then
      for _, member in ipairs(members) do
        found[#found + 1] = member
      end
      newest = tonumber(redis.call('ZSCORE', key, members[#members])) + base
    end
    if limit > 0 and #found >= limit then break end
  end
  return found, newest
end

-- Raw ticks with lo <= time <= hi, at most `limit`, as member, time pairs.
local function ticks(index, prefix, lo, hi)
  local found = {}
  for _, id in ipairs(chunks(index, lo, hi)) do
    local base = base_of(id)
    local args = {'ZRANGEBYSCORE', prefix .. id, int(lo - base), int(hi - base), 'WITHSCORES'}
    if limit > 0 then
      args[6], args[7], args[8] = 'LIMIT', 0, limit - #found / 2
    end
    local entries = redis.call(unpack(args))
    for i = 1, #entries, 2 do
      found[#found + 1] = entries[i]
      found[#found + 1] = tonumber(entries[i + 1]) + base
    end
    if limit > 0 and #found / 2 >= limit then break end
  end
  return found
end

local answer = {}
for i = 1, tiers do
  local found, newest = candles(KEYS[i], ARGV[4 + 2 * i], covered, last)
  answer[i] = found
  if newest then
    covered = newest + tonumber(ARGV[5 + 2 * i])
  end
end
answer[tiers + 1] = covered <= last and ticks(KEYS[tiers + 1], ARGV[5], covered, raw_end) or {}
answer[tiers + 2] = covered
return answer
