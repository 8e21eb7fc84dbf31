//! The Lua scripts behind [`crate::RedisStorage`]. Each runs atomically on the server, so no
//! WATCH/MULTI is needed (WATCH would be unsafe on a multiplexed connection anyway). Every key a
//! script touches is passed in `KEYS`; no script derives a key name itself.
//!
//! Layout under a namespace `ns` (the crate README has the details and the layout before):
//! - `ns:r:<key>`: a record, as the string `{"v":<version>,"d":<json>}`, with a PEXPIRE for TTLs;
//! - `ns:i:<family>`: for the families in [`crate::INDEXED_FAMILIES`], a sorted set of the keys
//!   in the family (all scores 0, so ZRANGEBYLEX pages it in key order). It may hold members
//!   whose record expired; listing and purging drop them.
//!
//! Versions: a put gives the record `max(previous version + 1, clock)`, where `clock` is the
//! server's `TIME` in microseconds × 1000 for the batch's first put and one more than the
//! previous put's version for the others, so the versions of one batch are distinct and every
//! version is above those any earlier batch gave, on any key (see the README for the argument
//! and its limits). The arithmetic is done on (microseconds, sequence) pairs: the product does
//! not fit Lua's doubles exactly.

use redis::Script;
use std::sync::LazyLock;

/// Atomic batch write.
///
/// KEYS: one record key per op, then the index keys of the indexed families the batch touches.
/// ARGV: the number of ops, then seven per op: mode (`p` put, `d` delete), precondition (`a`
/// any, `m` if-match, `n` if-absent), expected version (decimal), ttl in ms (`0`: none), the
/// position in KEYS of the op's index (`0`: none), the key (index member), data.
///
/// Returns `{"ok", v1, v2, ...}` (an empty string for deletes), or `{"conflict", i}` /
/// `{"corrupt", i}` with the 1-based op index; in those cases nothing was written.
const WRITE: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local n = tonumber(ARGV[1])
local before = {}
local function stored(key)
  local cur = before[key]
  if cur == nil then
    cur = redis.call('GET', key)
    before[key] = cur
  end
  return cur
end
for i = 1, n do
  local b = 1 + (i - 1) * 7
  local cond = ARGV[b + 2]
  if cond ~= 'a' then
    local cur = stored(KEYS[i])
    if cond == 'n' then
      if cur then return {'conflict', tostring(i)} end
    else
      if not cur then return {'conflict', tostring(i)} end
      local v = string.match(cur, '^{"v":(%d+),')
      if not v then return {'corrupt', tostring(i)} end
      if v ~= ARGV[b + 3] then return {'conflict', tostring(i)} end
    end
  end
end
local function next_of(hi, lo)
  if lo < 999 then return hi, lo + 1 end
  return hi + 1, 0
end
local t = redis.call('TIME')
local chi, clo = tonumber(t[1]) * 1000000 + tonumber(t[2]), -1
local state = {}
local out = {'ok'}
for i = 1, n do
  local b = 1 + (i - 1) * 7
  local key = KEYS[i]
  local s = state[key]
  if not s then
    local cur = stored(key)
    s = {live = cur ~= false, hi = 0, lo = -1}
    local v = cur and string.match(cur, '^{"v":(%d+),')
    if v and #v > 3 then
      s.hi, s.lo = tonumber(string.sub(v, 1, -4)), tonumber(string.sub(v, -3))
    elseif v then
      s.lo = tonumber(v)
    end
    state[key] = s
  end
  local idx = tonumber(ARGV[b + 5])
  if ARGV[b + 1] == 'p' then
    local hi, lo = next_of(chi, clo)
    local phi, plo = next_of(s.hi, s.lo)
    if phi > hi or (phi == hi and plo > lo) then hi, lo = phi, plo end
    chi, clo, s.hi, s.lo = hi, lo, hi, lo
    local v = hi > 0 and string.format('%.0f%03d', hi, lo) or tostring(lo)
    local env = '{"v":' .. v .. ',"d":' .. ARGV[b + 7] .. '}'
    if ARGV[b + 4] ~= '0' then
      redis.call('SET', key, env, 'PX', ARGV[b + 4])
    else
      redis.call('SET', key, env)
    end
    if idx > 0 and not s.live then redis.call('ZADD', KEYS[idx], 0, ARGV[b + 6]) end
    s.live = true
    out[#out + 1] = v
  else
    if s.live then redis.call('DEL', key) end
    if idx > 0 then redis.call('ZREM', KEYS[idx], ARGV[b + 6]) end
    s.live = false
    out[#out + 1] = ''
  end
end
return out
"#;

/// Drops index members whose record is gone (expired), atomically with respect to writes (a
/// member whose record exists when the script runs is kept).
///
/// KEYS: the index, then the record key of each member. ARGV: the members.
///
/// Returns one character per member: `1` if its record exists, `0` if it was removed.
const PRUNE: &str = r#"
local flags, dead = {}, {}
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    flags[i] = '1'
  else
    flags[i] = '0'
    dead[#dead + 1] = ARGV[i]
  end
end
if #dead > 0 then redis.call('ZREM', KEYS[1], unpack(dead)) end
return table.concat(flags)
"#;

pub(crate) static WRITE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(WRITE));
pub(crate) static PRUNE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(PRUNE));
