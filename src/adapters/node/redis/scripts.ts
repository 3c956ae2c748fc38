/**
 * The Lua scripts that coordinate every sender of one API key through Redis. Each runs atomically
 * on the server and reads the server's clock (`TIME`), so the replicas' clocks never matter.
 */
import { defineScript } from '@redis/client'

/**
 * RESERVE, on KEYS[1] (the sliding-window log: a sorted set of slots scored by the time they stop
 * counting from) and KEYS[2] (the epoch: when this Redis started keeping the log).
 * ARGV: limit, windowMs, leaseMs, slot. Answers `{1, now}` (the slot is taken) or `{0, waitMs}`.
 *
 * A taken slot is scored `now + lease`, the latest its request can be answered (the replica starts
 * it within a margin and gives up after the upstream timeout); LAND then scores it with the
 * answer's time. A slot counts until a window after its score, so no window at Conversion can
 * hold more than `limit` requests, wherever the network put them. A log that is missing its epoch
 * was lost (Redis restarted empty): starts may have happened that it forgot, so the first start
 * waits one full window.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], now)
  return {0, window}
end
if now < tonumber(epoch) + window then return {0, tonumber(epoch) + window - now} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], lease + window)
  return {1, now}
end
local room = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, math.max(1, tonumber(room[2]) + window - now)}
`

/**
 * EPOCH, on KEYS[1]: when this Redis started keeping the key's coordination (created now when
 * missing). A replica that sees it change knows Redis lost what it held (restarted empty).
 */
const EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
local t = redis.call('TIME')
epoch = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('SET', KEYS[1], epoch)
return epoch
`

/** LAND, on KEYS[1]: the answer to slot ARGV[1] came now (or its request was abandoned). */
const LAND = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1]) end
return 1
`

/**
 * CLAIM, on KEYS (one per engagement, named by its id's fingerprint). ARGV: owner, leaseMs, then
 * each engagement's content fingerprint. A value is `c:<content>:<owner>` (claimed, expiring
 * after the lease) or `a:<content>` (acknowledged). Answers, per key: `new` (claimed now),
 * `known`, `conflict` (other content) or `pending` (another sender holds the claim).
 *
 * A claim that is already this owner's, for this content, is `new` too, with a full lease again:
 * it is one whose answer never reached its sender (a lost reply, a timeout), which no one else may
 * take before it expires and which its sender, not knowing it holds it, does not renew.
 */
const CLAIM = `
local out = {}
for i, key in ipairs(KEYS) do
  local content = ARGV[i + 2]
  local mine = 'c:' .. content .. ':' .. ARGV[1]
  local value = redis.call('GET', key)
  if not value or value == mine then
    redis.call('SET', key, mine, 'PX', ARGV[2])
    out[i] = 'new'
  else
    local stored = string.sub(value, 3, 18)
    if stored ~= content and stored ~= '0000000000000000' then out[i] = 'conflict'
    elseif string.sub(value, 1, 1) == 'a' then out[i] = 'known'
    else out[i] = 'pending' end
  end
end
return out
`

/** ACKNOWLEDGE, on KEYS: delivered. ARGV: retentionMs, then each content fingerprint. */
const ACKNOWLEDGE = `
for i, key in ipairs(KEYS) do redis.call('SET', key, 'a:' .. ARGV[i + 1], 'PX', ARGV[1]) end
return #KEYS
`

/**
 * RELEASE (ARGV[1] = '') or RENEW (ARGV[1] = leaseMs), on KEYS: only the claims this owner still
 * holds (compare-and-delete, compare-and-extend). ARGV: mode, owner, then each content fingerprint.
 */
const OWN_CLAIMS = `
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'c:' .. ARGV[i + 2] .. ':' .. ARGV[2] then
    if ARGV[1] == '' then redis.call('DEL', key) else redis.call('PEXPIRE', key, ARGV[1]) end
    n = n + 1
  end
end
return n
`

/** A script over any number of keys and arguments: `(keys, args)`. */
function script(source: string) {
  return defineScript({
    SCRIPT: source,
    parseCommand(parser, keys: string[], args: string[]) {
      parser.pushKeysLength(keys)
      parser.push(...args)
    },
    transformReply: undefined as unknown as () => unknown,
  })
}

/** The scripts, as node-redis runs them (EVALSHA, and EVAL once when Redis does not know one yet). */
export const SCRIPTS = {
  epoch: script(EPOCH),
  reserve: script(RESERVE),
  land: script(LAND),
  claim: script(CLAIM),
  acknowledge: script(ACKNOWLEDGE),
  ownClaims: script(OWN_CLAIMS),
}
