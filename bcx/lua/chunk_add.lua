-- Add entries to a chain of chunks (a product's ticks, or one candle interval), atomically.
-- KEYS: 1 chunk index, 2 chunk id counter, 3 written marker: the lowest score written since the watcher took it,
-- 4 (optional) latest hash: `time` and `member` of the newest entry
-- ARGV: 1 chunk key prefix, 2 most entries per chunk, 3 mode, 4 the entries in any order: one `score member` line
-- each (an integer score, a space, a member without a line break), lines separated by `\n`. One argument for the
-- whole batch: the server parses and the client packs one string instead of two arguments an entry.
-- Returns the number of entries that were new.
--
-- Index members are `<id>:<base>`, the chunk's key is the prefix followed by it, and the chunk stores each score
-- as score - base (small integers take 2 to 5 bytes in a listpack instead of 9 for a unix-ms time). The base
-- never changes; the index score is the chunk's first (absolute) score and moves when older entries arrive.
-- Each chunk covers [its start, the next chunk's start); an entry goes to the chunk whose start is the greatest
-- at or below its score (the first chunk when it is older than all). A full chunk is split in two, never
-- between two equal scores, so one timestamp always lives in exactly one chunk; in-order appends to a full
-- chunk start a new one instead, so chunks fill up.
-- Mode `trade`: one trade, one entry: a member with the same trade id at the same time is the same trade, whatever
-- the formats of the two (trade_of); the one that carries the book (both a bid and an ask: has_book) wins. Mode
-- `replace`: one entry per score (a candle bucket), the new member replacing whatever was there.
local index, counter, written, latest = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, limit, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3]
-- The chunk the last entry went to, cached so that entries arriving in order cost no lookup.
local cur_id, cur_key, cur_base, cur_start, cur_next, cur_card, cur_last
local replaced = 0 -- entries the current one replaced (mode replace): it is not new then
local added = 0
-- Entries appended after everything in the current chunk wait here and go in one variadic ZADD: a redis.call
-- costs more than the insert itself. Flushed before the chunk changes or is read, and at the end.
local appends, appended = {}, 0

local function flush()
  if appended == 0 then return end
  local new = redis.call('ZADD', cur_key, unpack(appends))
  added = added + new
  cur_card = cur_card - appended + new -- counted as new when buffered; a moved member was not
  appends, appended = {}, 0
end

local function base_of(id)
  return tonumber(string.match(id, ':(%-?%d+)$')) or 0
end

local function new_chunk(score)
  local id = redis.call('INCR', counter) .. ':' .. string.format('%d', score)
  redis.call('ZADD', index, score, id)
  return id
end

local function use_chunk(id, start, next_start)
  flush()
  cur_id, cur_key, cur_base = id, prefix .. id, base_of(id)
  cur_start, cur_next = start, next_start
end

local function load_chunk(id, start, next_start)
  use_chunk(id, start, next_start)
  cur_card = redis.call('ZCARD', cur_key)
  local last = redis.call('ZRANGE', cur_key, -1, -1, 'WITHSCORES')
  cur_last = (#last > 0) and (tonumber(last[2]) + cur_base) or -math.huge
end

local function locate(score)
  if cur_id and score >= cur_start and (cur_next == nil or score < cur_next) then return end
  local found = redis.call('ZREVRANGEBYSCORE', index, score, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #found == 0 then
    local first = redis.call('ZRANGE', index, 0, 0)
    if #first == 0 then
      first = {new_chunk(score)}
    else
      redis.call('ZADD', index, score, first[1])
    end
    found = {first[1], tostring(score)}
  end
  local nxt = redis.call('ZRANGEBYSCORE', index, '(' .. found[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  load_chunk(found[1], tonumber(found[2]), (#nxt > 0) and tonumber(nxt[2]) or nil)
end

-- Tick members (bcx/tick.py): compact ones are fields of base-36 digits each ended by one character of ENDS (trade
-- id, size, price, book value, ...); separated ones have `;` between their fields, or `|` before issue 19.
local ENDS = '!#$%&()*+,ABCDEFGHIJKLMNOPQRSTUVWXYZ./:<>?@[]^_`{}~'
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local end_value = {}
for i = 1, #ENDS do end_value[string.sub(ENDS, i, i)] = i - 1 end
-- A compact member's book value: below 49 a bid and an ask near the price, 49 neither, then 50 + 4 * offset + (0:
-- both, 1: the bid only, 2: the ask only, 3: sides with other decimals than the price's, one field each, 0 for none)
local NO_BOOK, FAR = 49, 50

-- The trade id in base 36, as a separated member writes it: a compact member's first field ends with its last digit.
local function trade_of(member)
  local separated = string.match(member, '^([^;|]*)[;|]')
  if separated then return separated end
  local digits, last = string.match(member, '^([0-9a-z]*)(.)')
  local value = end_value[last]
  return digits .. string.sub(DIGITS, value + 1, value + 1)
end

-- The value of a compact member's field that starts at `at`, and where the next one starts
local function field_at(member, at)
  local digits, last = string.match(member, '^([0-9a-z]*)(.)', at)
  return (digits ~= '' and tonumber(digits, 36) * #ENDS or 0) + end_value[last], at + #digits + 1
end

local function has_book(member)
  if string.find(member, '[;|]') then
    return not (string.find(member, ';;', 1, true) or string.find(member, '||', 1, true))
  end
  local at = 1
  for _ = 1, 3 do at = string.find(member, '[^0-9a-z]', at) + 1 end -- past the trade id, the size and the price
  local book
  book, at = field_at(member, at)
  if book < NO_BOOK then return true end
  local side = (book - FAR) % 4
  if book == NO_BOOK or side == 1 or side == 2 then return false end
  if side == 0 then return true end
  local bid, ask
  bid, at = field_at(member, at)
  ask = field_at(member, at)
  return bid > 0 and ask > 0
end

-- An entry at or before the chunk's newest time: true when it must be written (new, or a richer copy of a stored
-- trade, which it then replaces)
local function admit(score, member)
  flush()
  local relative = score - cur_base
  if mode == 'replace' then
    replaced = redis.call('ZREMRANGEBYSCORE', cur_key, relative, relative)
    cur_card = cur_card - replaced
    return true
  end
  local id = trade_of(member)
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', cur_key, relative, relative)) do
    if trade_of(old) == id then
      if old == member or has_book(old) or not has_book(member) then return false end
      redis.call('ZREM', cur_key, old)
      cur_card = cur_card - 1
      return true
    end
  end
  return true
end

-- A full chunk that the entry would extend at its end: start a new chunk there instead of splitting.
local function start_chunk_at(score)
  use_chunk(new_chunk(score), score, cur_next)
  cur_card, cur_last = 0, -math.huge
end

local function split()
  flush()
  local n = cur_card
  local all = redis.call('ZRANGE', cur_key, 0, -1, 'WITHSCORES')
  local i = math.floor(n / 2) + 1
  while i <= n and all[2 * i] == all[2 * i - 2] do i = i + 1 end
  if i > n then
    i = math.floor(n / 2)
    while i > 1 and all[2 * i] == all[2 * i - 2] do i = i - 1 end
    if i <= 1 then return end -- every entry has one timestamp: the chunk stays oversized
  end
  local start = tonumber(all[2 * i]) + cur_base
  local new_id = new_chunk(start)
  local moved = {}
  for j = i, n do
    moved[#moved + 1] = tonumber(all[2 * j]) + cur_base - start
    moved[#moved + 1] = all[2 * j - 1]
  end
  redis.call('ZADD', prefix .. new_id, unpack(moved))
  redis.call('ZREMRANGEBYRANK', cur_key, i - 1, -1)
  cur_id = nil
end

-- An entry after everything in its chunk is new: it waits for the chunk's variadic ZADD. Others are checked.
local function write(score, member)
  if score > cur_last then
    if cur_card >= limit then start_chunk_at(score) end
    appends[appended * 2 + 1], appends[appended * 2 + 2] = score - cur_base, member
    appended = appended + 1
    cur_card, cur_last = cur_card + 1, score
    return true
  end
  replaced = 0
  if not admit(score, member) then return false end
  local new = redis.call('ZADD', cur_key, score - cur_base, member)
  added = added + math.max(new - replaced, 0)
  cur_card = cur_card + new
  if cur_card > limit then split() end
  return true
end

local newest, newest_member, oldest = nil, nil, nil
for text, member in string.gmatch(ARGV[4], '(%-?%d+) ([^\n]+)') do
  local score = tonumber(text)
  locate(score)
  if write(score, member) then
    if newest == nil or score >= newest then newest, newest_member = score, member end
    if oldest == nil or score < oldest then oldest = score end
  end
end

flush()
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
