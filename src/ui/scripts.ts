/**
 * The event store's Lua scripts. Every write is one script call per ingest batch (or per batch of
 * delivery status changes), so the store adds one round trip per batch, not per alert.
 *
 * Key layout (K = `<redis.prefix>:ui`):
 *   K:idx               ZSET  alert id by sequence (µs of storage, strictly increasing: see `nextScore`)
 *   K:rec               HASH  alert id → "<index keys \x1f-joined>\x1e<outputs \x1f-joined>\n<alert JSON>"
 *   K:ix:<field>:<val>  ZSET  alert id by sequence, one per indexed value (priority, rule, source, …)
 *   K:del               HASH  "<id>\x1f<output>" → delivery status JSON
 *   K:bytes             STR   estimated memory of the stored alerts (records + index entries: `cost`), the maxBytes bound
 *   K:last              STR   the last sequence handed out
 *   K:m:<tenant|*>:<min> HASH per-minute counters "p:<priority>", "r:<rule>", "s:<source>", "n:<ns>"
 * The header in front of each record names every key the alert is in, so eviction removes it
 * everywhere without decoding its JSON.
 */

/** Redis memory per stored alert beyond its record, per index entry and per delivery status (measured, Redis 7). */
export const PER_ALERT = 160;
export const PER_INDEX_ENTRY = 145;
export const PER_DELIVERY = 120;

/**
 * An index key's expiry (maxAge + 60 s, a backstop: eviction empties it first) is renewed at most
 * this often per process: renewing every touched key on every write was a third of the store's
 * Redis commands when alerts arrive one at a time (issue #10).
 */
export const INDEX_EXPIRY_RENEW_MS = 30_000;

const SPLIT = `
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
`;

const EVICT = `
-- What one alert costs in Redis memory, roughly: its record plus the entries of its index and
-- delivery status (measured: test/unit/ui/store.test.ts), so that maxBytes bounds memory.
local function cost(recLen, ixCount, outCount)
  return recLen + ${PER_ALERT} + ${PER_INDEX_ENTRY} * (ixCount + 1) + ${PER_DELIVERY} * outCount
end
-- Removes the oldest alerts while a bound is exceeded, at most 'budget' of them; returns how many.
local function evict(K, maxAlerts, maxBytes, cutoff, budget)
  local removed = 0
  while removed < budget do
    local oldest = redis.call('ZRANGE', K .. ':idx', 0, 99, 'WITHSCORES')
    if #oldest == 0 then return removed end
    for i = 1, #oldest, 2 do
      local count = redis.call('ZCARD', K .. ':idx')
      local bytes = tonumber(redis.call('GET', K .. ':bytes') or '0')
      if count <= maxAlerts and bytes <= maxBytes and tonumber(oldest[i + 1]) >= cutoff then return removed end
      if removed >= budget then return removed end
      local id = oldest[i]
      local rec = redis.call('HGET', K .. ':rec', id)
      if rec then
        local nl = string.find(rec, '\\n', 1, true) or (#rec + 1)
        local header = string.sub(rec, 1, nl - 1)
        local sep = string.find(header, '\\30', 1, true) or (#header + 1)
        local ixs, outs = split(string.sub(header, 1, sep - 1), '\\31'), split(string.sub(header, sep + 1), '\\31')
        for _, ix in ipairs(ixs) do redis.call('ZREM', K .. ':ix:' .. ix, id) end
        for _, out in ipairs(outs) do redis.call('HDEL', K .. ':del', id .. '\\31' .. out) end
        redis.call('HDEL', K .. ':rec', id)
        redis.call('DECRBY', K .. ':bytes', cost(#rec, #ixs, #outs))
      end
      redis.call('ZREM', K .. ':idx', id)
      removed = removed + 1
    end
  end
  return removed
end
`;

/**
 * ARGV: K, maxAlerts, maxBytes, maxAgeMicros, counterTtlSeconds, the index keys whose expiry to
 * renew (\x1f-joined; the caller renews each at most every INDEX_EXPIRY_RENEW_MS), then 7 per alert:
 * id, index keys, outputs, alert JSON, summary JSON (for /api/events), counter fields, tenant.
 * Returns {stored, evicted}.
 */
export const ADD_SCRIPT = `${SPLIT}${EVICT}
local K = ARGV[1]
local maxAlerts, maxBytes, maxAge, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', K .. ':last') or '0')
local minute = math.floor(tonumber(t[1]) / 60)
local stored, summaries = 0, {}
-- Counters once per distinct key and field in the batch, not once per alert.
local counts = {}
for i = 7, #ARGV, 7 do
  local id = ARGV[i]
  if redis.call('HEXISTS', K .. ':rec', id) == 0 then
    -- Strictly increasing: a page walked newest-first never meets an alert stored after it began.
    local score = math.max(now, last + 1)
    last = score
    local s = string.format('%.0f', score)
    local rec = ARGV[i + 1] .. '\\30' .. ARGV[i + 2] .. '\\n' .. ARGV[i + 3]
    local ixs, outs = split(ARGV[i + 1], '\\31'), split(ARGV[i + 2], '\\31')
    redis.call('HSET', K .. ':rec', id, rec)
    redis.call('INCRBY', K .. ':bytes', cost(#rec, #ixs, #outs))
    redis.call('ZADD', K .. ':idx', s, id)
    for _, ix in ipairs(ixs) do redis.call('ZADD', K .. ':ix:' .. ix, s, id) end
    for _, out in ipairs(outs) do
      redis.call('HSETNX', K .. ':del', id .. '\\31' .. out, '{"status":"pending","attempts":0}')
    end
    local scopes = {'*'}
    if ARGV[i + 6] ~= '' then table.insert(scopes, ARGV[i + 6]) end
    for _, scope in ipairs(scopes) do
      local c = counts[scope]
      if not c then c = {}; counts[scope] = c end
      for _, f in ipairs(split(ARGV[i + 5], '\\31')) do c[f] = (c[f] or 0) + 1 end
    end
    table.insert(summaries, '{"seq":"' .. s .. '",' .. string.sub(ARGV[i + 4], 2))
    stored = stored + 1
  end
end
for _, ix in ipairs(split(ARGV[6], '\\31')) do redis.call('PEXPIRE', K .. ':ix:' .. ix, math.floor(maxAge / 1000) + 60000) end
for scope, c in pairs(counts) do
  local mk = K .. ':m:' .. scope .. ':' .. minute
  for f, n in pairs(c) do redis.call('HINCRBY', mk, f, n) end
  redis.call('EXPIRE', mk, ttl)
end
redis.call('SET', K .. ':last', string.format('%.0f', last))
local evicted = evict(K, maxAlerts, maxBytes, now - maxAge, stored * 2 + 1000)
if stored > 0 then redis.call('PUBLISH', K .. ':events', '{"type":"alerts","alerts":[' .. table.concat(summaries, ',') .. ']}') end
return {stored, evicted}
`;

/**
 * ARGV: K, then 4 per change: id, output, status JSON, "1" to write only over a pending status.
 * A status for an alert the store does not hold (a digest, an evicted alert) is ignored.
 * Returns how many were written.
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
