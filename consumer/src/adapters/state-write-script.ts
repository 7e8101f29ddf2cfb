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
 * Its arguments are few whatever the batch's size, so that encoding the command (ioredis's work per
 * argument) and parsing it stay small: the records of every write travel as ONE string, cut by a
 * table of lengths.
 *
 * KEYS: the entity keys (nWrites), then the lookup hashes.
 * ARGV: ttl ms, nWrites, the modes (one character per write), the lengths (per write two uint32
 * little-endian: the length the key must have, then the bytes of its records), the records of
 * every write one after the other, then per lookup its field.
 * Reply: { conflicts: key index and its length, flattened; empty when written }, then one value
 * (or nil) per lookup.
 */
import { createHash } from "node:crypto";

/** Bytes per write in the lengths argument. */
export const LENGTHS_STRIDE = 8;

export const WRITE_MODES = {
  append: "a",
  appendWithExpiry: "e",
  rewrite: "r",
} as const;

export const STATE_WRITE_SCRIPT = `
local ttl = ARGV[1]
local nWrites = tonumber(ARGV[2])
local modes = ARGV[3]
local lengths = ARGV[4]
local records = ARGV[5]
local conflicts = {}
for i = 1, nWrites do
  local expected = struct.unpack('<I4', lengths, ${LENGTHS_STRIDE} * (i - 1) + 1)
  local length = redis.call('STRLEN', KEYS[i])
  if length ~= expected then
    conflicts[#conflicts + 1] = i
    conflicts[#conflicts + 1] = length
  end
end
if #conflicts == 0 then
  local at = 1
  for i = 1, nWrites do
    local size = struct.unpack('<I4', lengths, ${LENGTHS_STRIDE} * (i - 1) + 5)
    local chunk = string.sub(records, at, at + size - 1)
    at = at + size
    local mode = string.sub(modes, i, i)
    if mode == 'r' then
      redis.call('SET', KEYS[i], chunk, 'PX', ttl)
    else
      redis.call('APPEND', KEYS[i], chunk)
      if mode == 'e' then redis.call('PEXPIRE', KEYS[i], ttl) end
    end
  end
end
local out = { conflicts }
local field = 6
for k = nWrites + 1, #KEYS do
  out[#out + 1] = redis.call('HGET', KEYS[k], ARGV[field])
  field = field + 1
end
return out
`;

/** SHA1 of the script, computed locally: EVALSHA needs no SCRIPT LOAD round trip while cached. */
export const STATE_WRITE_SCRIPT_SHA = createHash("sha1").update(STATE_WRITE_SCRIPT).digest("hex");
