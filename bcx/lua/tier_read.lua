-- Plan the read of one series' range across its candle tiers and its raw ticks (bcx-web's candle reads): which
-- chunks of each chain hold what is to be read, found in one round trip; the caller then reads them all in one
-- pipeline. (Reading the candles here too would save that second round trip but costs more: a script copies
-- every member into a Lua string and back, about 0.4 us each, where a plain ZRANGEBYSCORE sends it as it is.
-- The raw ticks of the open bucket are few: the caller may ask for them here, and a reader that keeps the closed
-- candles (bcx_web's ClosedCandles) then needs no second round trip.)
-- KEYS: the chunk indexes of the candle tiers, coarsest first, then the raw ticks' index, the series' list of
-- candle writes (bcx.keys.SeriesKeys.candles_versions), its latest hash, then the indexes whose first entry
-- counts for the extent (the raw ticks' and every stored tier's).
-- ARGV: 1 start, 2 end (of the candle buckets), 3 end of the raw ticks, 4 the raw ticks' chunk key prefix, 5 how
-- many raw chunks at most to read here (0: none), 6 how many extent indexes follow the latest hash in KEYS (0: no
-- extent), 7 the candle version the caller keeps candles of (the raw ticks are read here only when it is the
-- current one: otherwise the caller reads the candles in a second round trip anyway, and the raw ticks with
-- them cost the server less), then each candle tier's chunk key prefix and width in ms.
-- Each tier is read from where the coarser ones stopped (the end of the newest bucket they hold up to `end`);
-- the raw ticks fill the rest, when anything is left (start <= end).
-- Returns one array per chain, tiers first: {from, to, chunk id...} (the raw ticks' array is {from} alone when
-- the tiers leave nothing to read); then the raw chunks' replies (member, score relative to the chunk's base),
-- one array per chunk, when they were read here, else an empty array; then {version, oldest, newest, since}: the
-- candle version ('' when no writer set one yet), the extent ('' for an end nothing tells, or both when not
-- asked for), and since when the caller's kept candles are changed (below; else ''). The version is read before
-- any candle is: a writer lists its write after writing (bcx.candles.CandleStore.mark_changed).
local covered, last, raw_end = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local raw_prefix, inline_chunks, extents, kept = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local tiers = (#ARGV - 7) / 2
local raw_index, version_key, latest_key = KEYS[tiers + 1], KEYS[tiers + 2], KEYS[tiers + 3]

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

-- The version: the first token of the list of writes (`<token>:<earliest bucket or ->`, newest first). When the
-- caller's kept version is listed after it, the earliest bucket written since ('' when a removal is among them).
local state = {'', '', '', ''}
local since
for i, write in ipairs(redis.call('LRANGE', version_key, 0, -1)) do
  local token, earliest = string.match(write, '^(%x+):(.*)$')
  if i == 1 then
    state[1] = token
  end
  if token == kept then
    if i > 1 and since ~= false then
      state[4] = int(since)
    end
    break
  end
  local t = tonumber(earliest)
  if t == nil then
    since = false
  elseif since ~= false and (since == nil or t < since) then
    since = t
  end
end
if extents > 0 then
  local oldest
  for i = tiers + 4, tiers + 3 + extents do
    local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if #first > 0 and (oldest == nil or tonumber(first[2]) < oldest) then
      oldest = tonumber(first[2])
    end
  end
  state[2] = oldest and int(oldest) or ''
  state[3] = redis.call('HGET', latest_key, 'time') or ''
end

local answer = {}
for i = 1, tiers do
  local found = plan(KEYS[i], covered, last)
  answer[i] = found
  if #found > 2 then -- the newest entry up to `last` is in the last chunk that starts at or before it
    local id = found[#found]
    local base = base_of(id)
    local newest = redis.call('ZREVRANGEBYSCORE', ARGV[6 + 2 * i] .. id, int(last - base), '-inf', 'WITHSCORES',
      'LIMIT', 0, 1)
    if #newest > 0 and tonumber(newest[2]) + base >= covered then
      covered = tonumber(newest[2]) + base + tonumber(ARGV[7 + 2 * i])
    end
  end
end
local raw = covered <= last and plan(raw_index, covered, raw_end) or {int(covered)}
answer[tiers + 1] = raw
local read = {}
if #raw > 2 and #raw - 2 <= inline_chunks and kept ~= '' and kept == state[1] then
  for j = 3, #raw do
    local base = base_of(raw[j])
    read[j - 2] = redis.call('ZRANGEBYSCORE', raw_prefix .. raw[j], int(covered - base), int(raw_end - base),
      'WITHSCORES')
  end
end
answer[tiers + 2] = read
answer[tiers + 3] = state
return answer
