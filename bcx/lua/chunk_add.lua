-- Add entries to a chain of chunks (a product's ticks, or one candle interval), atomically.
-- KEYS: 1 chunk index, 2 chunk id counter, 3 written marker: the lowest score written since the watcher took it,
-- 4 (optional) latest hash: `time` and `member` of the newest entry
-- ARGV: 1 chunk key prefix, 2 most entries per chunk, 3 mode, then (score, id, member) triples in any order.
-- Returns the number of entries that were new.
--
-- Each chunk covers [its start, the next chunk's start); an entry goes to the chunk whose start is the greatest
-- at or below its score (the first chunk when it is older than all). A full chunk is split in two, never
-- between two equal scores, so one timestamp always lives in exactly one chunk.
-- Mode `trade`: one trade, one entry: a member with the same id (the member's first field) at the same time is
-- the same trade; the one that carries the book (bid/ask) wins. Mode `replace`: one entry per score (a candle
-- bucket), the new member replacing whatever was there.
local index, counter, written, latest = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, limit, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- The chunk the last entry went to, cached so that entries arriving in order cost one ZADD each.
local cur_id, cur_start, cur_next, cur_card, cur_last
local replaced = 0 -- entries the current one replaced (mode replace): it is not new then

local function load_chunk(id, start, next_start)
  cur_id, cur_start, cur_next = id, start, next_start
  cur_card = redis.call('ZCARD', prefix .. id)
  local last = redis.call('ZRANGE', prefix .. id, -1, -1, 'WITHSCORES')
  cur_last = (#last > 0) and tonumber(last[2]) or -math.huge
end

local function locate(score)
  if cur_id and score >= cur_start and (cur_next == nil or score < cur_next) then return end
  local found = redis.call('ZREVRANGEBYSCORE', index, score, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #found == 0 then
    local first = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
    if #first == 0 then
      first = {tostring(redis.call('INCR', counter))}
    end
    redis.call('ZADD', index, score, first[1])
    found = {first[1], tostring(score)}
  end
  local nxt = redis.call('ZRANGEBYSCORE', index, '(' .. found[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  load_chunk(found[1], tonumber(found[2]), (#nxt > 0) and tonumber(nxt[2]) or nil)
end

local function has_book(member)
  return not string.find(member, '||', 1, true)
end

-- true when the entry must be written (new, or a richer copy of a stored trade, which it then replaces)
local function admit(score, trade_id, member)
  if score > cur_last then return true end -- nothing stored at this time yet
  if mode == 'replace' then
    replaced = redis.call('ZREMRANGEBYSCORE', prefix .. cur_id, score, score)
    cur_card = cur_card - replaced
    return true
  end
  local head = trade_id .. '|'
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', prefix .. cur_id, score, score)) do
    if string.sub(old, 1, #head) == head then
      if old == member or has_book(old) or not has_book(member) then return false end
      redis.call('ZREM', prefix .. cur_id, old)
      cur_card = cur_card - 1
      return true
    end
  end
  return true
end

-- A full chunk that the entry would extend at its end: start a new chunk there instead of splitting.
local function start_chunk_at(score)
  local id = tostring(redis.call('INCR', counter))
  redis.call('ZADD', index, score, id)
  cur_id, cur_start, cur_card, cur_last = id, score, 0, -math.huge
end

local function split()
  local key = prefix .. cur_id
  local n = cur_card
  local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local i = math.floor(n / 2) + 1
  while i <= n and all[2 * i] == all[2 * i - 2] do i = i + 1 end
  if i > n then
    i = math.floor(n / 2)
    while i > 1 and all[2 * i] == all[2 * i - 2] do i = i - 1 end
    if i <= 1 then return end -- every entry has one timestamp: the chunk stays oversized
  end
  local moved = {}
  for j = i, n do
    moved[#moved + 1] = all[2 * j]
    moved[#moved + 1] = all[2 * j - 1]
  end
  local new_id = tostring(redis.call('INCR', counter))
  redis.call('ZADD', index, all[2 * i], new_id)
  redis.call('ZADD', prefix .. new_id, unpack(moved))
  redis.call('ZREMRANGEBYRANK', key, i - 1, -1)
  cur_id = nil
end

local added, newest, newest_member, oldest = 0, nil, nil, nil
for k = 4, #ARGV, 3 do
  local score, trade_id, member = tonumber(ARGV[k]), ARGV[k + 1], ARGV[k + 2]
  locate(score)
  replaced = 0
  if admit(score, trade_id, member) then
    if cur_card >= limit and score > cur_last then start_chunk_at(score) end
    local new = redis.call('ZADD', prefix .. cur_id, score, member)
    added = added + math.max(new - replaced, 0)
    cur_card = cur_card + new
    if score > cur_last then cur_last = score end
    if cur_card > limit then split() end
    if newest == nil or score >= newest then newest, newest_member = score, member end
    if oldest == nil or score < oldest then oldest = score end
  end
end

if oldest then
  local stored = redis.call('GET', written)
  if not stored or oldest < tonumber(stored) then redis.call('SET', written, string.format('%d', oldest)) end
end

if newest and latest then
  local stored = redis.call('HGET', latest, 'time')
  if not stored or newest >= tonumber(stored) then
    redis.call('HSET', latest, 'time', string.format('%d', newest), 'member', newest_member)
  end
end
return added
