/**
 * The Lua script that records a micro-batch and answers all its window, previous-event and
 * lookup queries in one EVALSHA. Running inside Redis makes the whole batch one round trip and
 * atomic: no other consumer's writes interleave with a batch.
 *
 * State per entity (keys carry the entity in a hash tag):
 * - `…:w:{entity}`: sorted set scored by event time; member `<partition>:<offset>:<time>:<values>`
 *   with the tracked values joined by \x1f. The same event always makes the same member, so
 *   recording it again is a no-op: that is the replay idempotency. The time is in the member too:
 *   reading scores (WITHSCORES) makes Redis format a double per member, which measured as costly
 *   as all the parsing the script does.
 * - `…:p:{entity}:<partition>`: sorted set scored by offset; member `<offset>:<event time>`. The
 *   previous event in the stream is the member just below the event's offset.
 *
 * An event sees members with time in (t − W, t] and, in its own partition, offset ≤ its own:
 * later events (in the batch, or already recorded before a replay) are filtered out, so a replay
 * answers exactly what the first run answered. Members of other partitions cannot be ordered
 * against it and count when their time is in the window (one key lives in one partition anyway).
 *
 * Pruning keeps every member an event of the batch could need: it drops members older than the
 * batch's oldest event for that key minus (longest window + slack). A replay is therefore exact
 * as long as the replayed events are at most `slack` older (in event time) than the oldest event
 * of the same entity in any batch processed since; with commits after every batch, that is the
 * uncommitted tail, minutes at most. Replaying further back may see a window already pruned.
 *
 * KEYS: the window sets (nWinKeys), then the previous sets (nPrevKeys), then lookup hashes.
 * ARGV: nWindows, then per window (aggregation, field index or 0, duration ms); window horizon
 * ms, previous horizon ms, nWinKeys, nPrevKeys, nEvents; per event (window key index or 0,
 * previous key index or 0, time ms, partition, offset, values); nLookups; per lookup (key
 * index, hash field).
 * Reply: per event one string per window then (if asked) the previous event time or nil; then
 * one value or nil per lookup. Numbers travel as %.17g strings: Lua numbers in a reply would be
 * truncated to integers.
 */
import { createHash } from "node:crypto";

/** Arguments per event in ARGV. */
export const EVENT_STRIDE = 6;
/** Separates tracked values inside a member; strings containing it are escaped by the store. */
export const VALUE_SEPARATOR = "\x1f";

export const WINDOW_SCRIPT = `
local a = 1
local function arg() local v = ARGV[a]; a = a + 1; return v end
local function fmt(x) return string.format('%.17g', x) end
local SEP = string.char(31)

local nWin = tonumber(arg())
local agg, fld, dur = {}, {}, {}
local maxDur = 0
for w = 1, nWin do
  agg[w] = arg(); fld[w] = tonumber(arg()); dur[w] = tonumber(arg())
  if dur[w] > maxDur then maxDur = dur[w] end
end
local winHorizon = tonumber(arg())
local prevHorizon = tonumber(arg())
local nWinKeys = tonumber(arg())
local nPrevKeys = tonumber(arg())
local nEvents = tonumber(arg())
local first = a
local STRIDE = ${EVENT_STRIDE}

-- Pass 1: record every event first, so each sees the batch's earlier events whatever their order.
-- One variadic ZADD per key (in chunks: unpack has a stack limit). oldest/newest[k]: the
-- event-time span of key k in this batch.
local oldest, newest, adds = {}, {}, {}
local function add(k, score, member, t)
  local list = adds[k]
  if list == nil then list = {}; adds[k] = list end
  list[#list + 1] = score
  list[#list + 1] = member
  if oldest[k] == nil or t < oldest[k] then oldest[k] = t end
  if newest[k] == nil or t > newest[k] then newest[k] = t end
end
for e = 0, nEvents - 1 do
  local j = first + e * STRIDE
  local wk, pk = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
  local t = tonumber(ARGV[j + 2])
  if wk > 0 then add(wk, ARGV[j + 2], ARGV[j + 3] .. ':' .. ARGV[j + 4] .. ':' .. ARGV[j + 2] .. ':' .. ARGV[j + 5], t) end
  if pk > 0 then add(pk, ARGV[j + 4], ARGV[j + 4] .. ':' .. ARGV[j + 2], t) end
end
for k, list in pairs(adds) do
  for from = 1, #list, 1000 do
    redis.call('ZADD', KEYS[k], unpack(list, from, math.min(from + 999, #list)))
  end
end

-- Tracked values aggregated as numbers are converted once per member, not once per query.
local numeric, nFields = {}, 0
for w = 1, nWin do
  local f = fld[w]
  if f > 0 and agg[w] ~= 'distinct_count' then numeric[f] = true end
  if f > nFields then nFields = f end
end
-- One match per member splits it all: a loop of find/sub per value costs twice as much.
local pattern = '^([^:]*):([^:]*):([^:]*):'
if nFields > 0 then pattern = pattern .. string.rep('([^' .. SEP .. ']*)' .. SEP, nFields - 1) .. '(.*)$' end

-- The members one key's events of this batch can see, read and parsed once per key per batch,
-- as columns sorted by time. maxOff/mixed let an event tell in O(1) whether members 1..i all
-- precede it (one partition, offsets up to its own): then counts are index arithmetic and no
-- loop checks members one by one.
local parsed = {}
local function membersOf(wk)
  local c = parsed[wk]
  if c then return c end
  local rows = redis.call('ZRANGEBYSCORE', KEYS[wk], '(' .. fmt(oldest[wk] - maxDur), fmt(newest[wk]))
  local n = #rows
  local ts, parts, offs, vals, maxOff, mixed = {}, {}, {}, {}, {}, {}
  for f = 1, nFields do vals[f] = {} end
  local firstPart, highest, isMixed = nil, -1, false
  for i = 1, n do
    local p, o, t, v1, v2, v3 = string.match(rows[i], pattern)
    local off = tonumber(o)
    ts[i] = tonumber(t); parts[i] = p; offs[i] = off
    if firstPart == nil then firstPart = p elseif p ~= firstPart then isMixed = true end
    if off > highest then highest = off end
    maxOff[i] = highest; mixed[i] = isMixed
    if nFields > 3 then
      local captures = { string.match(rows[i], pattern) }
      for f = 1, nFields do
        local v = captures[f + 3]
        if numeric[f] then v = tonumber(v) end
        vals[f][i] = v
      end
    elseif nFields > 0 then
      if numeric[1] then v1 = tonumber(v1) end
      vals[1][i] = v1
      if nFields > 1 then
        if numeric[2] then v2 = tonumber(v2) end
        vals[2][i] = v2
        if nFields > 2 then
          if numeric[3] then v3 = tonumber(v3) end
          vals[3][i] = v3
        end
      end
    end
  end
  c = { n = n, t = ts, part = parts, off = offs, vals = vals, maxOff = maxOff, mixed = mixed, firstPart = firstPart }
  parsed[wk] = c
  return c
end

-- First index whose time is > x (n + 1 when none).
local function after(ts, n, x)
  local lo, hi = 1, n
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    if ts[mid] <= x then lo = mid + 1 else hi = mid - 1 end
  end
  return lo
end

-- Pass 2: answer every event. A window is members lo..hi (time in (t - W, t]) that came before
-- the event: in its own partition an offset up to its own; other partitions count by time alone.
-- Loops run in time order, so a replay adds the same numbers in the same order.
local out = {}
for e = 0, nEvents - 1 do
  local j = first + e * STRIDE
  local wk, pk = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
  local t = tonumber(ARGV[j + 2])
  local part = ARGV[j + 3]
  local off = tonumber(ARGV[j + 4])
  if nWin > 0 then
    local c = membersOf(wk)
    local parts, offs = c.part, c.off
    local hi = after(c.t, c.n, t) - 1
    local all = hi == 0 or (not c.mixed[hi] and c.firstPart == part and c.maxOff[hi] <= off)
    for w = 1, nWin do
      local lo = after(c.t, hi, t - dur[w])
      local g = agg[w]
      local r = 0
      if g == 'count' then
        if all then r = hi - lo + 1
        else for i = lo, hi do if parts[i] ~= part or offs[i] <= off then r = r + 1 end end end
      elseif g == 'distinct_count' then
        local column, seen = c.vals[fld[w]], {}
        for i = lo, hi do
          if all or parts[i] ~= part or offs[i] <= off then
            local v = column[i]
            if not seen[v] then seen[v] = true; r = r + 1 end
          end
        end
      else
        local column, k, mn, mx = c.vals[fld[w]], 0, math.huge, -math.huge
        for i = lo, hi do
          if all or parts[i] ~= part or offs[i] <= off then
            local v = column[i]
            r = r + v; k = k + 1
            if v < mn then mn = v end
            if v > mx then mx = v end
          end
        end
        if g == 'mean' then r = r / k elseif g == 'min' then r = mn elseif g == 'max' then r = mx end
      end
      out[#out + 1] = fmt(r)
    end
  end
  if pk > 0 then
    local prev = redis.call('ZREVRANGEBYSCORE', KEYS[pk], '(' .. ARGV[j + 4], '-inf', 'LIMIT', 0, 1)
    if prev[1] then
      out[#out + 1] = string.sub(prev[1], string.find(prev[1], ':', 1, true) + 1)
    else
      out[#out + 1] = false
    end
  end
end

-- Pass 3: forget what no event at or after this batch's oldest can reach (the horizons include
-- the replay slack), and let idle entities expire.
for k = 1, nWinKeys do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', fmt(oldest[k] - winHorizon))
  redis.call('PEXPIRE', KEYS[k], winHorizon)
end
local function timeOf(member) return tonumber(string.sub(member, string.find(member, ':', 1, true) + 1)) end
for k = nWinKeys + 1, nWinKeys + nPrevKeys do
  local key = KEYS[k]
  local horizon = oldest[k] - prevHorizon
  local head = redis.call('ZRANGE', key, 0, 0)
  -- Oldest offsets first; the latest event is never examined, so never removed: it is the next
  -- event's previous, however old.
  while head[1] and timeOf(head[1]) <= horizon do
    local batch = redis.call('ZRANGE', key, 0, 31)
    local n = 0
    for i = 1, #batch - 1 do
      if timeOf(batch[i]) <= horizon then n = i else break end
    end
    if n == 0 then break end
    redis.call('ZREMRANGEBYRANK', key, 0, n - 1)
    head = redis.call('ZRANGE', key, 0, 0)
  end
  redis.call('PEXPIRE', key, prevHorizon)
end

local l = first + nEvents * STRIDE
local nLookups = tonumber(ARGV[l])
for i = 0, nLookups - 1 do
  out[#out + 1] = redis.call('HGET', KEYS[tonumber(ARGV[l + 1 + 2 * i])], ARGV[l + 2 + 2 * i])
end
return out
`;

/** SHA1 of the script, computed locally: EVALSHA needs no SCRIPT LOAD round trip while cached. */
export const WINDOW_SCRIPT_SHA = createHash("sha1").update(WINDOW_SCRIPT).digest("hex");
