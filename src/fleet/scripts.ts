/**
 * The fleet's state in Redis, and the Lua scripts that change or read it. Every change of a
 * payment's state is one script, so it is atomic: no host ever sees half of it.
 *
 *   ids      hash   correlationId → its stream entry id, while unsettled: the once-only gate
 *   done, donePrev  set  correlationIds settled or dropped, this and the previous horizon:
 *                   idempotency (with ids: a correlationId in any of the three is not accepted again)
 *   stream   stream c, a (cents), t (acceptedAt)        work queue; consumer group `settlers`, one consumer per host;
 *                   trimmed below the oldest unacknowledged entry
 *   att      hash   correlationId → "p:requestedAt,..." every call written for an unsettled payment (before it leaves)
 *   entries  zset   requestedAt → "p:cents:id"          counted payments of the last horizon, for the ms edges of a window
 *   l1/l2/l3 hash   "bucket:cP"/"bucket:aP" → count / cents per second, minute, hour of requestedAt
 *   total    hash   "cP"/"aP"                           the whole history (a window with a bound missing)
 *   purgedAt string epoch ms of the last purge
 *   rotatedAt, foldedBelow  string  when done became donePrev last (Redis time); entries below this requestedAt are folded
 *   epoch:<host>  string  the lease epoch of the process running as consumer <host> (INCR at its start)
 *   alive:<host>  string  its liveness lease (PX, on Redis's clock)
 *   beat     string Redis time (ms) of the last lease renewal by any host; claimableAt: no take-over before it
 *   health:P hash   the fleet's last service-health report of processor P; healthGate:P its poll lease
 *
 * Invariants: a payment is counted (entries, levels, total) only in the script that removes its
 * ids field, which happens once; it is XACKed only then (or when dropped), so an unacknowledged
 * entry is a payment not yet settled, and a host that dies leaves it pending for another.
 * Fencing: a payment's state (an attempt, an outcome) is written only by the process that owns
 * its entry now, i.e. XPENDING names its consumer and the consumer's epoch is the caller's;
 * anything else is refused, per record, so a host paused or cut off past its lease, whose payments
 * were taken over, never sends or counts one of them again. Memory: a settled payment leaves ids;
 * its correlationId is kept in done for one to two horizons, its entry for one horizon (its count
 * stays in the buckets). All keys share the hash tag {gw}.
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
  epoch: (consumer: string) => `{gw}:epoch:${consumer}`,
  beat: '{gw}:beat',
  claimableAt: '{gw}:claimableAt',
  done: '{gw}:done',
  donePrev: '{gw}:donePrev',
  rotatedAt: '{gw}:rotatedAt',
  foldedBelow: '{gw}:foldedBelow',
  health: (processor: number) => `{gw}:health:${processor}`,
  healthGate: (processor: number) => `{gw}:healthGate:${processor}`,
} as const;

export const GROUP = 'settlers';

/** A host's consumer name in the group (INSTANCE_INDEX): the same across its restarts, which take back its pending entries. */
export const consumerName = (instanceIndex: number) => `host-${instanceIndex}`;

/** Bucket sizes of l1, l2, l3 (ms): a window costs at most ~2 × (59 + 59 + 1) bucket reads plus its two edge seconds. */
const LEVEL_MS = [1000, 60_000, 3_600_000];

/** KEYS ids, stream, purgedAt, done, donePrev; ARGV id, cents, acceptedAt → 1 accepted (queued), 0 already accepted. */
export const ACCEPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then
  return 0
end
-- Strictly after the fleet's last purge, whatever this host's clock says: a purge forgets by acceptedAt.
local t = math.max(tonumber(ARGV[3]), tonumber(redis.call('GET', KEYS[3]) or '0') + 1)
local entry = redis.call('XADD', KEYS[2], '*', 'c', ARGV[1], 'a', ARGV[2], 't', string.format('%d', t))
redis.call('HSET', KEYS[1], ARGV[1], entry)
return 1
`;

/** Now on Redis's clock, in ms (every host's lease and grace is measured on it, whatever the hosts' clocks say). */
const REDIS_NOW = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)`;

/**
 * KEYS ids, attempts, stream, entries, l1, l2, l3, total, epoch of the caller, done; ARGV group,
 * consumer, epoch, then records of five: kind (a attempt, s settled, d dropped), processor, id,
 * cents, requestedAt → per record 1 written, 0 refused. A record is refused unless the caller owns
 * the payment's entry (fencing, see above); a payment no longer unsettled (settled by another
 * host, purged) is refused too. A refused attempt's call must not leave. A payment found at a
 * processor with a requestedAt some host of the fleet wrote for it (att) is the fleet's own call:
 * counted, even when the host that found it did not write that call itself.
 */
export const LOG = `
local sizes = {${LEVEL_MS.join(', ')}}
local written = {}
local fenced = redis.call('GET', KEYS[9]) ~= ARGV[3]
for i = 4, #ARGV, 5 do
  local kind, p, id, cents, ra = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local entry = redis.call('HGET', KEYS[1], id)
  local owned = false
  -- Unsettled: it still has its field, the stream entry id.
  if not fenced and entry then
    local holder = redis.call('XPENDING', KEYS[3], ARGV[1], entry, entry, 1)[1]
    owned = holder ~= nil and holder[2] == ARGV[2]
  end
  if owned then
    local call = p .. ':' .. ra
    local calls = redis.call('HGET', KEYS[2], id)
    if kind == 'a' then
      redis.call('HSET', KEYS[2], id, calls and (calls .. ',' .. call) or call)
    else
      if kind == 'd' and calls and string.find(',' .. calls .. ',', ',' .. call .. ',', 1, true) then kind = 's' end
      redis.call('HDEL', KEYS[1], id)
      redis.call('SADD', KEYS[10], id)
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
        -- The history's span (SUMMARY clamps a window to it; entries hold only the last horizon).
        local span = redis.call('HMGET', KEYS[8], 'first', 'last')
        if not span[1] or at < tonumber(span[1]) then redis.call('HSET', KEYS[8], 'first', ra) end
        if not span[2] or at > tonumber(span[2]) then redis.call('HSET', KEYS[8], 'last', ra) end
      end
      redis.call('HDEL', KEYS[2], id)
      redis.call('XACK', KEYS[3], ARGV[1], entry)
    end
  end
  written[#written + 1] = owned and 1 or 0
end
return written
`;

/**
 * KEYS entries, l1, l2, l3, total, foldedBelow; ARGV from, to (inclusive epoch ms; both '' =
 * everything) → {count0, centsHigh0, centsLow0, count1, centsHigh1, centsLow1}. Cents are summed
 * in two limbs of 10^9 from the decimal strings, so the total is exact at any size (Lua numbers
 * are doubles). Exact to the millisecond where entries are kept (the last horizon: see FOLD); a
 * window edge in a second older than that counts that whole second.
 */
export const SUMMARY = `
local sizes = {${LEVEL_MS.join(', ')}}
local folded = tonumber(redis.call('GET', KEYS[6]) or '0')
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
    -- At most two seconds, each summed from its entries, or whole from l1 when they are folded.
    for second = math.floor(lo / 1000), math.floor(hi / 1000) do
      if second * 1000 < folded then
        buckets(1, second, second)
      else
        for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], math.max(lo, second * 1000), math.min(hi, second * 1000 + 999))) do
          local p, cents = string.match(member, '^(%d):(%d+):')
          p = tonumber(p) + 1
          count[p] = count[p] + 1
          addCents(p, cents)
        end
      end
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
  -- Clamped to the history's span: a window of decades costs what the history's span costs.
  local span = redis.call('HMGET', KEYS[5], 'first', 'last')
  if span[1] then range(math.max(tonumber(ARGV[1]), tonumber(span[1])), math.min(tonumber(ARGV[2]), tonumber(span[2])), 3) end
end
return {count[1], high[1], low[1], count[2], high[2], low[2]}
`;

/**
 * KEYS ids, attempts, entries, l1, l2, l3, total, stream, purgedAt, done, donePrev, foldedBelow;
 * ARGV group, now → the purge's time.
 */
export const PURGE = `
local at = math.max(tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[9]) or '0') + 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[10], KEYS[11], KEYS[12])
redis.call('XGROUP', 'CREATE', KEYS[8], ARGV[1], '$', 'MKSTREAM')
redis.call('SET', KEYS[9], string.format('%d', at))
return at
`;

/**
 * KEYS done, donePrev, entries, rotatedAt, foldedBelow; ARGV horizonMs → 1 when the settled ids
 * rotated. Bounds memory by time instead of by payments: entries whose requestedAt is older than
 * the horizon (whole seconds) leave the zset (their counts stay in the buckets; a window edge
 * older than that is summed to whole seconds), and once per horizon the settled ids rotate (done
 * becomes donePrev, the former donePrev is dropped), so a correlationId stays known one to two
 * horizons after it settled. A repeat after that is accepted again, and the processor, which
 * still holds it, answers 422: found with a requestedAt the fleet no longer knows, it is dropped,
 * not paid again. Any host may call it: it acts on Redis's clock, once per horizon.
 */
export const FOLD = `
${REDIS_NOW}
local horizon = tonumber(ARGV[1])
local below = math.floor((now - horizon) / 1000) * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. below)
redis.call('SET', KEYS[5], string.format('%d', below))
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
if last == 0 then
  redis.call('SET', KEYS[4], string.format('%d', now))
  return 0
end
if now - last < horizon then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) else redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[4], string.format('%d', now))
return 1
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

/** Appends a claimed entry to `out`: entry id, correlationId, cents, acceptedAt, last call written ("p:requestedAt" or ""), deliveries. */
const CLAIMED_ENTRY = `local function claimed(out, attempts, e, deliveries)
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  local calls = redis.call('HGET', attempts, f.c)
  out[#out + 1] = e[1]
  out[#out + 1] = f.c
  out[#out + 1] = f.a
  out[#out + 1] = f.t
  out[#out + 1] = calls and string.match(calls, '([^,]+)$') or ''
  out[#out + 1] = deliveries
end`;

/** Fields per entry in CLAIM's and RECLAIM's replies. */
export const CLAIMED_FIELDS = 6;

/**
 * KEYS alive, epoch (of this host), beat, claimableAt; ARGV epoch, leaseMs, gapMs, held ("1": the
 * caller held the lease, "0": it takes it now, at its start) → the epoch to go on with: ARGV
 * epoch when renewed in time; a new one (INCR) when a held lease had lapsed (another
 * host may have taken over some of this host's payments: every copy this process holds is stale,
 * and records written under the old epoch are refused from now on); 0 when fenced (another
 * process took this host's name since: this one must stop). When no host at all renewed for gapMs
 * (Redis was down, hung or restarted: every lease may have lapsed for that reason alone), nobody
 * takes over anything for a lease period from now: every live host has time to renew after reconnecting.
 */
export const RENEW = `
local epoch = redis.call('GET', KEYS[2])
if epoch ~= ARGV[1] then return 0 end
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then epoch = tostring(redis.call('INCR', KEYS[2])) end
${REDIS_NOW}
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
if now - last > tonumber(ARGV[3]) then redis.call('SET', KEYS[4], string.format('%d', now + tonumber(ARGV[2]))) end
redis.call('SET', KEYS[3], string.format('%d', now))
redis.call('SET', KEYS[1], epoch, 'PX', ARGV[2])
return tonumber(epoch)
`;

/**
 * KEYS stream, attempts, claimableAt, alive of the caller; ARGV group, me, minIdleMs, count,
 * alivePrefix, epoch → entries as CLAIMED_ENTRY. Takes over the pending entries of hosts whose
 * liveness lease has expired, once idle minIdleMs (a live host's entries stay its own however long
 * they wait for a processor), and forgets consumers that hold nothing. Nothing during the grace
 * after an outage (see RENEW), nor for a caller whose own lease lapsed (it may hold stale copies).
 */
export const CLAIM = `
${CLAIMED_ENTRY}
${REDIS_NOW}
local out = {}
if now < tonumber(redis.call('GET', KEYS[3]) or '0') or redis.call('GET', KEYS[4]) ~= ARGV[6] then return out end
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
      local ids, deliveries = {}, {}
      for _, e in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', budget, name)) do
        ids[#ids + 1] = e[1]
        deliveries[e[1]] = e[4]
      end
      if #ids > 0 then
        for _, e in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], unpack(ids))) do
          claimed(out, KEYS[2], e, deliveries[e[1]] + 1)
          budget = budget - 1
        end
      end
    end
  end
end
return out
`;

/**
 * KEYS stream, attempts, epoch and alive of the caller; ARGV group, me, epoch, minIdleMs, entry
 * ids → entries as CLAIMED_ENTRY. Self-reclaim: takes back, to this process, entries pending at
 * its own consumer that it does not hold (delivered by a read whose reply was lost, or to this
 * host's previous process), each only if still pending here and idle minIdleMs. Nothing when
 * fenced or when the caller's lease lapsed.
 */
export const RECLAIM = `
${CLAIMED_ENTRY}
local out = {}
if redis.call('GET', KEYS[3]) ~= ARGV[3] or redis.call('GET', KEYS[4]) ~= ARGV[3] then return out end
for i = 5, #ARGV do
  local holder = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if holder and holder[2] == ARGV[2] and holder[3] >= tonumber(ARGV[4]) then
    for _, e in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], ARGV[i])) do claimed(out, KEYS[2], e, holder[4] + 1) end
  end
end
return out
`;

/** Stream entries as XREADGROUP returns them over RESP3 (Bun's client): {stream: [[id, [field, value, ...] | null], ...]}. */
export type StreamReply = Record<string, [string, string[] | null][]> | null;
