/**
 * The fleet's state in Redis, and the Lua scripts that change or read it. Every change of a
 * payment's state is one script, so it is atomic: no host ever sees half of it.
 *
 *   ids      hash   correlationId → its stream entry id while unsettled, then "s" (counted) or "d" (dropped:
 *                   another sender's): idempotency (only the accept script adds a field) and the once-only gate
 *   stream   stream c, a (cents), t (acceptedAt)        work queue; consumer group `settlers`, one consumer per host;
 *                   trimmed below the oldest unacknowledged entry
 *   att      hash   correlationId → "p:requestedAt"     the last call written for an unsettled payment (before it leaves)
 *   entries  zset   requestedAt → "p:cents:id"          every counted payment, for the ms edges of a window
 *   l1/l2/l3 hash   "bucket:cP"/"bucket:aP" → count / cents per second, minute, hour of requestedAt
 *   total    hash   "cP"/"aP"                           the whole history (a window with a bound missing)
 *   purgedAt string epoch ms of the last purge; alive:<host> a host's liveness lease
 *   health:P hash   the fleet's last service-health report of processor P; healthGate:P its poll lease
 *
 * Invariants: a payment is counted (entries, levels, total) only in the script that turns its ids
 * field from an entry id into "s", which happens once; it is XACKed only then (or when dropped),
 * so an unacknowledged entry is a payment not yet settled, and a host that dies leaves it pending
 * for another. All keys share the hash tag {gw}.
 */
export const KEYS = {
  ids: '{gw}:ids',
  stream: '{gw}:stream',
  attempts: '{gw}:att',
  entries: '{gw}:entries',
  levels: ['{gw}:l1', '{gw}:l2', '{gw}:l3'],
  total: '{gw}:total',
  purgedAt: '{gw}:purgedAt',
  alivePrefix: '{gw}:alive:',
  health: (processor: number) => `{gw}:health:${processor}`,
  healthGate: (processor: number) => `{gw}:healthGate:${processor}`,
} as const;

export const GROUP = 'settlers';

/** Bucket sizes of l1, l2, l3 (ms): a window costs at most ~2 × (59 + 59 + 1) bucket reads plus its two edge seconds. */
const LEVEL_MS = [1000, 60_000, 3_600_000];

/** KEYS ids, stream, purgedAt; ARGV id, cents, acceptedAt → 1 accepted (queued), 0 already accepted. */
export const ACCEPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
-- Strictly after the fleet's last purge, whatever this host's clock says: a purge forgets by acceptedAt.
local t = math.max(tonumber(ARGV[3]), tonumber(redis.call('GET', KEYS[3]) or '0') + 1)
local entry = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'a', ARGV[2], 't', string.format('%d', t))
redis.call('HSET', KEYS[1], ARGV[1], entry)
return 1
`;

/**
 * KEYS ids, attempts, stream, entries, l1, l2, l3, total; ARGV group, then records of five:
 * kind (a attempt, s settled, d dropped), processor, id, cents, requestedAt. A purged payment
 * (no longer in ids) is ignored; so is a second outcome for one payment (another host settled it).
 */
export const LOG = `
local sizes = {${LEVEL_MS.join(', ')}}
for i = 2, #ARGV, 5 do
  local kind, p, id, cents, ra = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local entry = redis.call('HGET', KEYS[1], id)
  -- Unsettled: its field still holds the stream entry id (digits), not "s" or "d".
  if entry and string.find(entry, '^%d') then
    if kind == 'a' then
      redis.call('HSET', KEYS[2], id, p .. ':' .. ra)
    else
      redis.call('HSET', KEYS[1], id, kind)
      if kind == 's' then
        local at = tonumber(ra)
        redis.call('ZADD', KEYS[4], at, p .. ':' .. cents .. ':' .. id)
        for level = 1, 3 do
          local bucket = math.floor(at / sizes[level])
          redis.call('HINCRBY', KEYS[4 + level], bucket .. ':c' .. p, 1)
          redis.call('HINCRBY', KEYS[4 + level], bucket .. ':a' .. p, cents)
        end
        redis.call('HINCRBY', KEYS[8], 'c' .. p, 1)
        redis.call('HINCRBY', KEYS[8], 'a' .. p, cents)
      end
      redis.call('HDEL', KEYS[2], id)
      redis.call('XACK', KEYS[3], ARGV[1], entry)
    end
  end
end
return 1
`;

/**
 * KEYS entries, l1, l2, l3, total; ARGV from, to (inclusive epoch ms; both '' = everything) →
 * {count0, centsHigh0, centsLow0, count1, centsHigh1, centsLow1}. Cents are summed in two limbs
 * of 10^9 from the decimal strings, so the total is exact at any size (Lua numbers are doubles).
 */
export const SUMMARY = `
local sizes = {${LEVEL_MS.join(', ')}}
local count, high, low = {0, 0}, {0, 0}, {0, 0}
local function addCents(p, text)
  local n = #text
  if n > 9 then
    high[p] = high[p] + tonumber(string.sub(text, 1, n - 9))
    text = string.sub(text, n - 8)
  end
  low[p] = low[p] + tonumber(text)
  if low[p] >= 1e9 then
    high[p] = high[p] + math.floor(low[p] / 1e9)
    low[p] = low[p] % 1e9
  end
end
local function buckets(level, first, last)
  local fields = {}
  for b = first, last do
    for p = 0, 1 do
      fields[#fields + 1] = b .. ':c' .. p
      fields[#fields + 1] = b .. ':a' .. p
    end
  end
  local values = redis.call('HMGET', KEYS[1 + level], unpack(fields))
  for i = 1, #values, 2 do
    local p = ((i - 1) / 2) % 2 + 1
    if values[i] then
      count[p] = count[p] + tonumber(values[i])
      addCents(p, values[i + 1])
    end
  end
end
-- [lo, hi] inclusive: the whole buckets of this level inside it, the ragged ends one level down.
local function range(lo, hi, level)
  if lo > hi then return end
  if level == 0 then
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], lo, hi)) do
      local p, cents = string.match(member, '^(%d):(%d+):')
      p = tonumber(p) + 1
      count[p] = count[p] + 1
      addCents(p, cents)
    end
    return
  end
  local size = sizes[level]
  local first = math.ceil(lo / size)
  local last = math.floor((hi + 1) / size) - 1
  if first > last then return range(lo, hi, level - 1) end
  -- In slices: unpack takes a bounded number of values.
  for b = first, last, 1000 do buckets(level, b, math.min(last, b + 999)) end
  range(lo, first * size - 1, level - 1)
  range((last + 1) * size, hi, level - 1)
end
if ARGV[1] == '' or ARGV[2] == '' then
  local t = redis.call('HMGET', KEYS[5], 'c0', 'a0', 'c1', 'a1')
  for p = 1, 2 do
    if t[2 * p - 1] then
      count[p] = tonumber(t[2 * p - 1])
      addCents(p, t[2 * p])
    end
  end
else
  -- Clamped to the history held: a window of decades costs what the history's span costs.
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  if #first > 0 then range(math.max(tonumber(ARGV[1]), tonumber(first[2])), math.min(tonumber(ARGV[2]), tonumber(last[2])), 3) end
end
return {count[1], high[1], low[1], count[2], high[2], low[2]}
`;

/** KEYS ids, attempts, entries, l1, l2, l3, total, stream, purgedAt; ARGV group, now → the purge's time. */
export const PURGE = `
local at = math.max(tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[9]) or '0') + 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
redis.call('XGROUP', 'CREATE', KEYS[8], ARGV[1], '$', 'MKSTREAM')
redis.call('SET', KEYS[9], string.format('%d', at))
return at
`;

/**
 * KEYS stream; ARGV group → entries removed. Acknowledged entries are not needed any more: the
 * stream is cut below its oldest pending entry (or, none pending, above its last delivered one), so it
 * holds about the backlog, not the history. Entries not yet delivered are above both: kept.
 */
export const TRIM = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
local floor = pending[2]
if not floor then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local name, last
    for i = 1, #group, 2 do
      if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then last = group[i + 1] end
    end
    -- Everything up to and including the last delivered entry: the next id above it.
    if name == ARGV[1] and last then
      local ms, seq = string.match(last, '^(%d+)-(%d+)$')
      floor = ms .. '-' .. (tonumber(seq) + 1)
    end
  end
end
if not floor then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
`;

/**
 * KEYS stream, attempts; ARGV group, me, minIdleMs, count, alivePrefix → flat list of claimed
 * payments: entry id, correlationId, cents, acceptedAt, last attempt ("p:requestedAt" or "").
 * Takes over the pending entries of hosts whose liveness lease has expired, once idle minIdleMs
 * (a live host's entries stay its own however long they wait for a processor), and forgets
 * consumers that hold nothing.
 */
export const CLAIM = `
local out = {}
local budget = tonumber(ARGV[4])
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending
  for i = 1, #consumer, 2 do
    if consumer[i] == 'name' then name = consumer[i + 1] elseif consumer[i] == 'pending' then pending = consumer[i + 1] end
  end
  if name ~= ARGV[2] and redis.call('EXISTS', ARGV[5] .. name) == 0 then
    if pending == 0 then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    elseif budget > 0 then
      local ids = {}
      for _, e in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', budget, name)) do ids[#ids + 1] = e[1] end
      if #ids > 0 then
        for _, e in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(ids))) do
          local f = {}
          for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
          out[#out + 1] = e[1]
          out[#out + 1] = f.c
          out[#out + 1] = f.a
          out[#out + 1] = f.t
          out[#out + 1] = redis.call('HGET', KEYS[2], f.c) or ''
          budget = budget - 1
        end
      end
    end
  end
end
return out
`;

/** Stream entries as XREADGROUP returns them over RESP3 (Bun's client): {stream: [[id, [field, value, ...] | null], ...]}. */
export type StreamReply = Record<string, [string, string[] | null][]> | null;
