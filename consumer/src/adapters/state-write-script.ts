/**
 * The one command that writes a micro-batch's state and reads its lookups: a short Lua script, so
 * that a batch of 256 events is one command for the client to encode and for Redis to parse, not
 * 256 (pipelined APPENDs cost the consumer ~10 µs of CPU per event in ioredis's per-command work,
 * measured; this costs it ~1), and so that the write is all or nothing.
 *
 * It first checks that every key is the length the member expects: the member's memory is then
 * exactly what Redis holds. If any is not (another member wrote it, it expired, Redis lost it),
 * nothing is written and the reply names those keys; the member reloads them and retries the
 * batch. Otherwise each key gets its records: appended (`a`), appended and its expiry set (`e`),
 * or replaced by the entity's live records (`r`, once pruning made most of the key stale).
 *
 * KEYS: the entity keys (nWrites), then the lookup hashes.
 * ARGV: ttl ms, nWrites, per write (mode, expected length, records), then per lookup its field.
 * Reply: { conflicts: key index and its length, flattened; empty when written }, then one value
 * (or nil) per lookup.
 */
import { createHash } from "node:crypto";

/** Arguments per write in ARGV. */
export const WRITE_STRIDE = 3;

export const WRITE_MODES = {
  append: "a",
  appendWithExpiry: "e",
  rewrite: "r",
} as const;

export const STATE_WRITE_SCRIPT = `
local ttl = ARGV[1]
local nWrites = tonumber(ARGV[2])
local conflicts = {}
for i = 1, nWrites do
  local length = redis.call('STRLEN', KEYS[i])
  if length ~= tonumber(ARGV[${WRITE_STRIDE} * i + 1]) then
    conflicts[#conflicts + 1] = i
    conflicts[#conflicts + 1] = length
  end
end
if #conflicts == 0 then
  for i = 1, nWrites do
    local mode = ARGV[${WRITE_STRIDE} * i]
    local records = ARGV[${WRITE_STRIDE} * i + 2]
    if mode == 'r' then
      redis.call('SET', KEYS[i], records, 'PX', ttl)
    else
      redis.call('APPEND', KEYS[i], records)
      if mode == 'e' then redis.call('PEXPIRE', KEYS[i], ttl) end
    end
  end
end
local out = { conflicts }
local field = ${WRITE_STRIDE} * nWrites + 3
for k = nWrites + 1, #KEYS do
  out[#out + 1] = redis.call('HGET', KEYS[k], ARGV[field])
  field = field + 1
end
return out
`;

/** SHA1 of the script, computed locally: EVALSHA needs no SCRIPT LOAD round trip while cached. */
export const STATE_WRITE_SCRIPT_SHA = createHash("sha1").update(STATE_WRITE_SCRIPT).digest("hex");
