//! The Lua scripts behind [`crate::RedisStorage`]. Each runs atomically on the server, so no
//! WATCH/MULTI is needed (WATCH would be unsafe on a multiplexed connection anyway).
//!
//! Layout under a namespace `ns`:
//! - `ns:r:<key>`: a record, as the string `{"v":<version>,"d":<json>}`, with a PEXPIRE for TTLs;
//! - `ns:v`: the version counter (INCR);
//! - `ns:i`: a sorted set of every record key (all scores 0, so ZRANGEBYLEX pages it in key
//!   order). Expired records leave stale members behind; listing and purging drop them.

use redis::Script;
use std::sync::LazyLock;

/// Atomic batch write.
///
/// KEYS: counter, index, then one record key per op.
/// ARGV: six per op: mode (`p` put, `d` delete), precondition (`a` any, `m` if-match,
/// `n` if-absent), expected version (decimal), ttl in ms (`0`: none), key (index member), data.
///
/// Returns `{"ok", v1, v2, ...}` (an empty string for deletes), or `{"conflict", i}` /
/// `{"corrupt", i}` with the 1-based op index; in those cases nothing was written.
const WRITE: &str = r#"
local n = #KEYS - 2
for i = 1, n do
  local b = (i - 1) * 6
  local cond = ARGV[b + 2]
  if cond ~= 'a' then
    local cur = redis.call('GET', KEYS[i + 2])
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
local out = {'ok'}
for i = 1, n do
  local b = (i - 1) * 6
  local key = KEYS[i + 2]
  if ARGV[b + 1] == 'p' then
    local v = string.format('%d', redis.call('INCR', KEYS[1]))
    local env = '{"v":' .. v .. ',"d":' .. ARGV[b + 6] .. '}'
    if ARGV[b + 4] ~= '0' then
      redis.call('SET', key, env, 'PX', ARGV[b + 4])
    else
      redis.call('SET', key, env)
    end
    redis.call('ZADD', KEYS[2], 0, ARGV[b + 5])
    out[#out + 1] = v
  else
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], ARGV[b + 5])
    out[#out + 1] = ''
  end
end
return out
"#;

/// One bounded step of an index walk: examines at most `budget` index members in
/// `[min, max]` (ZRANGEBYLEX syntax), drops those whose record is gone (expired), and stops
/// early once `wanted` live keys were found.
///
/// KEYS: index. ARGV: record key prefix, min, max, wanted, budget.
///
/// Returns `{last examined member or "", done ("1" when the range is exhausted), removed
/// count, live keys...}`.
const SCAN: &str = r#"
local rp, min, max = ARGV[1], ARGV[2], ARGV[3]
local wanted, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local batch = redis.call('ZRANGEBYLEX', KEYS[1], min, max, 'LIMIT', 0, budget)
local out = {'', '0', '0'}
local live, removed, examined = 0, 0, 0
for _, m in ipairs(batch) do
  if live >= wanted then break end
  examined = examined + 1
  out[1] = m
  if redis.call('EXISTS', rp .. m) == 1 then
    live = live + 1
    out[#out + 1] = m
  else
    redis.call('ZREM', KEYS[1], m)
    removed = removed + 1
  end
end
if #batch < budget and examined == #batch then out[2] = '1' end
out[3] = tostring(removed)
return out
"#;

pub(crate) static WRITE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(WRITE));
pub(crate) static SCAN_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SCAN));
