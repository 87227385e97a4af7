/**
 * The event store's Lua scripts. Every write is one script call per batch of alerts (or of
 * delivery status changes), so the store adds one round trip per batch, not per alert.
 *
 * Key layout (K = `<redis.prefix>:ui`):
 *   K:idx               LIST  "<seq> <id>" of every stored alert, oldest first
 *   K:ix:<field>:<val>  LIST  the same entries, one list per indexed value (priority, rule, source, …)
 *   K:rec               HASH  alert id → "<index keys \x1f-joined>\x1e<outputs \x1f-joined>\n<alert JSON>"
 *   K:del               HASH  "<id>\x1f<output>" → delivery status JSON (none yet = pending)
 *   K:bytes             STR   estimated memory of the stored alerts (`cost`), the maxBytes bound
 *   K:last              STR   the last sequence handed out
 *   K:m:<tenant|*>:<min> HASH per-minute counters "p:<priority>", "r:<rule>", "s:<source>", "n:<ns>"
 *
 * The sequence is the µs of storage, strictly increasing, and Redis runs one script at a time:
 * every list is appended in sequence order, so each is sorted and a page is a binary search and
 * an LRANGE. Eviction takes the oldest alerts in sequence order, so in every index list what it
 * removes is a run at the head: an LTRIM. Lists rather than sorted sets (issue #10): an append
 * is ~0.1 µs of Redis CPU against ~1.5 µs for a ZADD, at a third of the memory, and an alert has
 * ten index entries.
 * The header in front of each record names every list the alert is in, so eviction finds them
 * without decoding its JSON.
 */

/**
 * Redis memory per stored alert beyond its record, per index entry, per delivery status and per
 * index list (a key of its own: a value seen once, a hostname or a tag, costs this much more;
 * measured, Redis 7).
 */
export const PER_ALERT = 210;
export const PER_INDEX_ENTRY = 55;
export const PER_DELIVERY = 120;
export const PER_LIST = 200;

/**
 * An index key's expiry (maxAge + 60 s, a backstop: eviction empties it first) is renewed at most
 * this often per process: renewing every touched key on every write was a third of the store's
 * Redis commands when alerts arrive one at a time (issue #10).
 */
export const INDEX_EXPIRY_RENEW_MS = 30_000;

/**
 * A position in a batch, as ADD_SCRIPT reads it: two characters from '0' (48) up, base 64, so
 * 4,096 alerts per script call at most, all of them one-byte ASCII on the wire.
 */
export const POSITION_ZERO = 48;
export const POSITION_BASE = 64;
export const MAX_ALERTS_PER_CALL = POSITION_BASE * POSITION_BASE;

const COMMON = `
local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  local start = 1
  while true do
    local i = string.find(s, sep, start, true)
    if not i then table.insert(out, string.sub(s, start)); return out end
    table.insert(out, string.sub(s, start, i - 1))
    start = i + 1
  end
end
local function seqOf(entry)
  return tonumber(string.sub(entry, 1, string.find(entry, ' ', 1, true) - 1))
end
-- The first position in a sorted list whose sequence is >= seq (or > seq with 'after'); LLEN when none.
local function lowerBound(key, seq, after)
  local lo, hi = 0, redis.call('LLEN', key)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local s = seqOf(redis.call('LINDEX', key, mid))
    if s < seq or (after and s == seq) then lo = mid + 1 else hi = mid end
  end
  return lo
end
-- Variadic commands in chunks: unpack() of a long table overflows Lua's stack.
-- Returns the first call's reply (RPUSH: the list's length after it).
local function each(command, key, items)
  local first
  for i = 1, #items, 1000 do
    local reply = redis.call(command, key, unpack(items, i, math.min(i + 999, #items)))
    first = first or reply
  end
  return first
end
-- The record header: index keys and outputs.
local function headerOf(rec)
  local nl = string.find(rec, '\\n', 1, true) or (#rec + 1)
  local header = string.sub(rec, 1, nl - 1)
  local sep = string.find(header, '\\30', 1, true) or (#header + 1)
  return split(string.sub(header, 1, sep - 1), '\\31'), split(string.sub(header, sep + 1), '\\31')
end
`;

const EVICT = `
-- What one alert costs in Redis memory, roughly: its record plus its index entries and delivery
-- statuses (measured: test/unit/ui/store.test.ts), so that maxBytes bounds memory.
local function cost(recLen, ixCount, outCount)
  return recLen + ${PER_ALERT} + ${PER_INDEX_ENTRY} * (ixCount + 1) + ${PER_DELIVERY} * outCount
end
-- Drops the head of an index list up to sequence 'upto': normally the 'expected' first entries.
-- Returns the memory it frees beyond the entries: the list's own when it is emptied (and so gone).
local function trimHead(key, upto, expected)
  local head = redis.call('LRANGE', key, 0, expected)
  local n = 0
  while n < #head and seqOf(head[n + 1]) <= upto do n = n + 1 end
  if n == #head and n > expected then n = lowerBound(key, upto, true) end
  if n == 0 then return 0 end
  redis.call('LTRIM', key, n, -1)
  if n < #head then return 0 end
  if #head <= expected then return ${PER_LIST} end
  return redis.call('EXISTS', key) == 0 and ${PER_LIST} or 0
end
-- Once a bound is exceeded, removes the oldest alerts until the store is 1% (at most 500 alerts)
-- under the bound it crossed (count or bytes; past maxAge only what is older), at most 'budget' of
-- them; returns how many. The slack makes eviction a run every few hundred writes rather than a
-- few entries on every write: each run trims every index list it touches once, and at one alert
-- per write that was most of the store's cost (issue #10).
local function evict(K, maxAlerts, maxBytes, cutoff, budget)
  local count = redis.call('LLEN', K .. ':idx')
  local bytes = tonumber(redis.call('GET', K .. ':bytes') or '0')
  if count <= maxAlerts and bytes <= maxBytes then
    local oldest = redis.call('LINDEX', K .. ':idx', 0)
    if not oldest or seqOf(oldest) >= cutoff then return 0 end
  end
  if count > maxAlerts then maxAlerts = maxAlerts - math.min(math.floor(maxAlerts / 100), 500) end
  if bytes > maxBytes then maxBytes = maxBytes - math.floor(maxBytes / 100) end
  local removed = 0
  while removed < budget do
    -- As many as the count bound says, else a few at a time (bytes and age need each record).
    local want = count > maxAlerts and count - maxAlerts or 16
    local oldest = redis.call('LRANGE', K .. ':idx', 0, math.min(budget - removed, want, 1000) - 1)
    if #oldest == 0 then break end
    local ids = {}
    for i, entry in ipairs(oldest) do ids[i] = string.sub(entry, string.find(entry, ' ', 1, true) + 1) end
    local recs = redis.call('HMGET', K .. ':rec', unpack(ids))
    local n, gone, touched, upto, freed = 0, {}, {}, 0, 0
    for i, entry in ipairs(oldest) do
      local seq = seqOf(entry)
      if count <= maxAlerts and bytes <= maxBytes and seq >= cutoff then break end
      n, upto, count = i, seq, count - 1
      local rec = recs[i]
      if rec then
        local ixs, outs = headerOf(rec)
        for _, ix in ipairs(ixs) do touched[ix] = (touched[ix] or 0) + 1 end
        for _, out in ipairs(outs) do table.insert(gone, ids[i] .. '\\31' .. out) end
        local c = cost(#rec, #ixs, #outs)
        freed, bytes = freed + c, bytes - c
      end
    end
    if n == 0 then break end
    redis.call('LTRIM', K .. ':idx', n, -1)
    local lists = 0
    for ix, k in pairs(touched) do lists = lists + trimHead(K .. ':ix:' .. ix, upto, k) end
    if n == #oldest and redis.call('EXISTS', K .. ':idx') == 0 then lists = lists + ${PER_LIST} end
    freed, bytes = freed + lists, bytes - lists
    redis.call('HDEL', K .. ':rec', unpack(ids, 1, n))
    each('HDEL', K .. ':del', gone)
    if freed > 0 then redis.call('DECRBY', K .. ':bytes', freed) end
    removed = removed + n
    if n < #oldest then break end
  end
  return removed
end
`;

/** Index field → per-minute counter prefix (src/ui/stats.ts reads them). */
const COUNTED = `local COUNTED = { priority = 'p:', rule = 'r:', source = 's:', namespace = 'n:' }`;

/**
 * ARGV: K, maxAlerts, maxBytes, maxAgeMicros, counterTtlSeconds, the index keys whose expiry to
 * renew (\x1f-joined; the caller renews each at most every INDEX_EXPIRY_RENEW_MS), the number of
 * alerts n, then 3 per alert: id, record (header and JSON, as stored), its output count; then 2
 * per distinct index key of the batch, tenant keys first: the key and the alerts in it, as
 * positions in the batch of two characters each (POSITION_BASE). The caller groups the batch by
 * key so that this script does no string work per alert and key: parsing each record's header
 * here was two thirds of the store's Redis CPU (issue #10).
 * Publishes the new entries ("<seq> <id>") on K:events for the live view, which reads the records
 * itself (src/ui/live.ts): a watcher, not every write, pays for the summaries.
 * Returns {stored, evicted}.
 */
export const ADD_SCRIPT = `${COMMON}${EVICT}${COUNTED}
local K = ARGV[1]
local maxAlerts, maxBytes, maxAge, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local n = tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', K .. ':last') or '0')
local minute = math.floor(tonumber(t[1]) / 60)
local entries, entryAt, tenantAt, added = {}, {}, {}, 0
for p = 0, n - 1 do
  local at = 8 + p * 3
  local id, rec = ARGV[at], ARGV[at + 1]
  -- An alert already stored (a replayed ingest entry, a duplicate POST) keeps its record and place.
  if redis.call('HSETNX', K .. ':rec', id, rec) == 1 then
    local score = math.max(now, last + 1)
    last = score
    local entry = string.format('%.0f', score) .. ' ' .. id
    table.insert(entries, entry)
    entryAt[p] = entry
    added = added + #rec + ${PER_ALERT} + ${PER_INDEX_ENTRY} + ${PER_DELIVERY} * tonumber(ARGV[at + 2])
  end
end
local counts = { ['*'] = {} }
for k = 8 + n * 3, #ARGV, 2 do
  local ix, positions = ARGV[k], ARGV[k + 1]
  local colon = string.find(ix, ':', 1, true)
  local field, value = string.sub(ix, 1, colon - 1), string.sub(ix, colon + 1)
  local counter = COUNTED[field] and (COUNTED[field] .. value)
  local list = {}
  for j = 1, #positions, 2 do
    local p = (string.byte(positions, j) - ${POSITION_ZERO}) * ${POSITION_BASE} + string.byte(positions, j + 1) - ${POSITION_ZERO}
    local entry = entryAt[p]
    if entry then
      table.insert(list, entry)
      if field == 'tenant' then tenantAt[p] = value end
      if counter then
        local all = counts['*']
        all[counter] = (all[counter] or 0) + 1
        local tenant = tenantAt[p]
        if tenant then
          local c = counts[tenant]
          if not c then c = {}; counts[tenant] = c end
          c[counter] = (c[counter] or 0) + 1
        end
      end
    end
  end
  if #list > 0 then
    local length = each('RPUSH', K .. ':ix:' .. ix, list)
    added = added + ${PER_INDEX_ENTRY} * #list
    if length == math.min(#list, 1000) then added = added + ${PER_LIST} end
  end
end
if #entries > 0 then
  if each('RPUSH', K .. ':idx', entries) == math.min(#entries, 1000) then added = added + ${PER_LIST} end
  redis.call('INCRBY', K .. ':bytes', added)
  redis.call('SET', K .. ':last', string.format('%.0f', last))
end
for _, ix in ipairs(split(ARGV[6], '\\31')) do redis.call('PEXPIRE', K .. ':ix:' .. ix, math.floor(maxAge / 1000) + 60000) end
for scope, c in pairs(counts) do
  if next(c) then
    local mk = K .. ':m:' .. scope .. ':' .. minute
    for f, count in pairs(c) do redis.call('HINCRBY', mk, f, count) end
    redis.call('EXPIRE', mk, ttl)
  end
end
local evicted = evict(K, maxAlerts, maxBytes, now - maxAge, #entries * 2 + 1000)
if #entries > 0 then redis.call('PUBLISH', K .. ':events', '{"type":"stored","entries":' .. cjson.encode(entries) .. '}') end
return {#entries, evicted}
`;

/**
 * KEYS[1]: an index list. ARGV: before (exclusive; '' for none), min (inclusive; '' for none),
 * count. Returns id, seq, id, seq… newest first.
 */
export const PAGE_SCRIPT = `${COMMON}
local key, count = KEYS[1], tonumber(ARGV[3])
local before = ARGV[1] == '' and math.huge or tonumber(ARGV[1])
local min = ARGV[2] == '' and -math.huge or tonumber(ARGV[2])
local stop = before == math.huge and redis.call('LLEN', key) or lowerBound(key, before, false)
if stop == 0 or count <= 0 then return {} end
local entries = redis.call('LRANGE', key, math.max(stop - count, 0), stop - 1)
local out = {}
for i = #entries, 1, -1 do
  local e = entries[i]
  local space = string.find(e, ' ', 1, true)
  local seq = string.sub(e, 1, space - 1)
  if tonumber(seq) < min then break end
  table.insert(out, string.sub(e, space + 1))
  table.insert(out, seq)
end
return out
`;

/** KEYS[1]: an index list. ARGV: min, max (inclusive; '' for none). Returns how many entries are within. */
export const COUNT_SCRIPT = `${COMMON}
local key = KEYS[1]
local min = ARGV[1] == '' and -math.huge or tonumber(ARGV[1])
local max = ARGV[2] == '' and math.huge or tonumber(ARGV[2])
local from = min == -math.huge and 0 or lowerBound(key, min, false)
local to = max == math.huge and redis.call('LLEN', key) or lowerBound(key, max, true)
return math.max(to - from, 0)
`;

/**
 * ARGV: K, then 4 per change: id, output, status JSON, "1" to write only over a pending status
 * (none yet counts as pending). A status for an alert the store does not hold (a digest, an
 * evicted alert) is ignored. Returns how many were written.
 */
export const STATUS_SCRIPT = `
local K = ARGV[1]
local written, items = 0, {}
for i = 2, #ARGV, 4 do
  local ok = redis.call('HEXISTS', K .. ':rec', ARGV[i]) == 1
  if ok and ARGV[i + 3] == '1' then
    local current = redis.call('HGET', K .. ':del', ARGV[i] .. '\\31' .. ARGV[i + 1])
    ok = current == false or string.find(current, '"status":"pending"', 1, true) ~= nil
  end
  if ok then
    redis.call('HSET', K .. ':del', ARGV[i] .. '\\31' .. ARGV[i + 1], ARGV[i + 2])
    table.insert(items, '{"id":' .. cjson.encode(ARGV[i]) .. ',"output":' .. cjson.encode(ARGV[i + 1]) .. ',"delivery":' .. ARGV[i + 2] .. '}')
    written = written + 1
  end
end
if written > 0 then redis.call('PUBLISH', K .. ':events', '{"type":"deliveries","items":[' .. table.concat(items, ',') .. ']}') end
return written
`;
