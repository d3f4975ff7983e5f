"""The Lua scripts of the Redis store: each one is one atomic step.

Redis runs a script to the end before any other command, so a script is the
store's transaction. Every script gets the store's key prefix as ARGV[1]; the
rest of its arguments are listed in its comment.

Numbers cross the boundary as strings: Python sends ``repr(float)`` and the
scripts store those strings as they came, or format with ``%.17g``, because Lua
turns a number into text with 14 significant digits and would round the
milliseconds off an epoch time. For the same reason no script decodes and
re-encodes a record Python wrote (cjson also turns ``[]`` into ``{}``): records
are hashes whose mutable fields the scripts set one by one.

Key layout under the prefix (``IDENT`` is a JSON array naming the record):
  clock                     hash   wall, virtual, offset
  seq                       string the one counter that orders everything
  accounts                  zset   IDENT [provider, id] by creation
  account:IDENT             hash   provider, id, credits, purchased, created_at, opening
  ledger:IDENT              list   entries as JSON [at, kind, amount, balance, task_id, note]
  apikeys / keys-of:IDENT   zset   IDENT [provider, sha256 of the key], all and per account
  apikey:IDENT              hash   provider, key, account_id, revoked
  window:BUCKET / windows   zset   admissions by time; each bucket by its newest admission
  idem:IDENT / idem-expiry  hash / zset  IDENT [provider, account, key]
  task:ID                   hash   data (JSON as created) + status, updated_at, due_at, ...
  tasks, tasks-by-provider:P, tasks-by-account:IDENT   zset  ID by creation
  media                     hash   media token -> task ID
  due / expiry              zset   processing tasks by due time / tasks by expiry
  delivery:ID / deliveries  hash / zset  data + state, due_at, attempts (JSON array)
  delivery-due              zset   pending deliveries by due time
  fault:ID / faults         hash / zset  data + hits, times
  journal / journal-id      list / string  "ID JSON" entries, the last ID given
"""

from __future__ import annotations

# Helpers every script starts with.
_PRELUDE = """
local P = ARGV[1]

local function next_seq()
  return redis.call('INCR', P .. 'seq')
end

-- Due-queue members sort by (seq, id) when due times tie, as the memory
-- store's heap does; the id starts at character 18.
local function queue_member(seq, id)
  return string.format('%016d', tonumber(seq)) .. ':' .. id
end

local function member_id(member)
  return string.sub(member, 18)
end

-- A hash as a table, or nil when the key does not exist.
local function record(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  return fields
end

local function entry(acct, at, kind, amount, balance, task_id, note)
  redis.call('RPUSH', P .. 'ledger:' .. acct,
    cjson.encode({at, kind, amount, balance, task_id or cjson.null, note}))
end

-- Move an account's balance by amount, with its ledger entry.
local function move(acct, at, kind, amount, task_id, note)
  local balance = redis.call('HINCRBY', P .. 'account:' .. acct, 'credits', amount)
  entry(acct, at, kind, amount, balance, task_id, note)
end

local function bind_key(ident, provider, key, account_id, acct)
  redis.call('HSET', P .. 'apikey:' .. ident,
    'provider', provider, 'key', key, 'account_id', account_id, 'revoked', '0')
  local seq = next_seq()
  redis.call('ZADD', P .. 'apikeys', 'NX', seq, ident)
  redis.call('ZADD', P .. 'keys-of:' .. acct, 'NX', seq, ident)
end

-- Forget an unfinished claim; a key bound to a task stays bound.
local function release(ident)
  local key = P .. 'idem:' .. ident
  if redis.call('EXISTS', key) == 1 and redis.call('HEXISTS', key, 'task_id') == 0 then
    redis.call('DEL', key)
    redis.call('ZREM', P .. 'idem-expiry', ident)
  end
end

-- rules.settle() and the refund after it: end processing task t at `at`.
-- Returns the credits refunded.
local function finish(id, t, outcome, at, code, message)
  local key = P .. 'task:' .. id
  local updated = at
  if tonumber(t.created_at) > tonumber(at) then updated = t.created_at end
  redis.call('HSET', key, 'status', outcome, 'updated_at', updated)
  redis.call('HDEL', key, 'due_at')
  redis.call('ZREM', P .. 'due', queue_member(t.seq, id))
  if outcome ~= 'failed' then return 0 end
  if code ~= '' then redis.call('HSET', key, 'error_code', code) end
  if message ~= '' then redis.call('HSET', key, 'error_message', message) end
  local refund = 0
  if t.refund == '1' then refund = tonumber(t.credits) end
  redis.call('HSET', key, 'refunded', refund)
  if refund ~= 0 then move(t.acct, at, 'refund', refund, id, 'task failed') end
  return refund
end
"""

# ARGV: wall, virtual, offset. 1 if this call set the clock up, 0 if it was there.
BOOTSTRAP = (
    _PRELUDE
    + """
if redis.call('EXISTS', P .. 'clock') == 1 then return 0 end
redis.call('HSET', P .. 'clock', 'wall', ARGV[2], 'virtual', ARGV[3], 'offset', ARGV[4])
return 1
"""
)

# ARGV: seconds. Moves the shared clock's offset; 0 if there is no clock.
CLOCK_ADD = (
    _PRELUDE
    + """
local offset = redis.call('HGET', P .. 'clock', 'offset')
if not offset then return 0 end
offset = tonumber(offset) + tonumber(ARGV[2])
redis.call('HSET', P .. 'clock', 'offset', string.format('%.17g', offset))
return 1
"""
)

# ARGV: acct, provider, id, credits, purchased, at, then (key ident, key) pairs.
# {'exists'} | {'key_in_use', key} | {'ok'}
CREATE_ACCOUNT = (
    _PRELUDE
    + """
local acct, provider, id, credits, at = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7]
local key = P .. 'account:' .. acct
if redis.call('EXISTS', key) == 1 then return {'exists'} end
for i = 8, #ARGV, 2 do
  if redis.call('EXISTS', P .. 'apikey:' .. ARGV[i]) == 1 then
    return {'key_in_use', ARGV[i + 1]}
  end
end
redis.call('HSET', key, 'provider', provider, 'id', id, 'credits', credits,
  'purchased', ARGV[6], 'created_at', at, 'opening', 0)
redis.call('ZADD', P .. 'accounts', next_seq(), acct)
for i = 8, #ARGV, 2 do bind_key(ARGV[i], provider, ARGV[i + 1], id, acct) end
entry(acct, at, 'grant', tonumber(credits), tonumber(credits), nil, 'opening balance')
return {'ok'}
"""
)

# ARGV: acct, credits, at, note. {'unknown'} | {'negative'} | {'ok', account}
SET_CREDITS = (
    _PRELUDE
    + """
local key = P .. 'account:' .. ARGV[2]
local current = redis.call('HGET', key, 'credits')
if not current then return {'unknown'} end
local target = tonumber(ARGV[3])
if target < 0 then return {'negative'} end
move(ARGV[2], ARGV[4], 'adjustment', target - tonumber(current), nil, ARGV[5])
return {'ok', redis.call('HGETALL', key)}
"""
)

# ARGV: acct, purchased ('1' or '0'). {'unknown'} | {'ok', account}
SET_PURCHASED = (
    _PRELUDE
    + """
local key = P .. 'account:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return {'unknown'} end
redis.call('HSET', key, 'purchased', ARGV[3])
return {'ok', redis.call('HGETALL', key)}
"""
)

# ARGV: acct, key ident, provider, key, account id. {'unknown'} | {'key_in_use'} | {'ok'}
ADD_KEY = (
    _PRELUDE
    + """
if redis.call('EXISTS', P .. 'account:' .. ARGV[2]) == 0 then return {'unknown'} end
local owner = redis.call('HGET', P .. 'apikey:' .. ARGV[3], 'account_id')
if owner and owner ~= ARGV[6] then return {'key_in_use'} end
bind_key(ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[2])
return {'ok'}
"""
)

# ARGV: key ident. The key's record after revoking it, or {} when unknown.
REVOKE_KEY = (
    _PRELUDE
    + """
local key = P .. 'apikey:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'revoked', '1') end
return redis.call('HGETALL', key)
"""
)

# ARGV: now, record ('1' to admit, '0' only to look), then bucket, now - seconds,
# limit for each window. Sliding windows, admitting into every one or none
# (refusals are not counted): nil when there is room (and, recording, admitted),
# else for each window the time of its oldest admission when it is full, '' when
# it has room.
ADMIT = (
    _PRELUDE
    + """
local now, record, oldest, refused = ARGV[2], ARGV[3] == '1', {}, false
for i = 4, #ARGV, 3 do
  local key = P .. 'window:' .. ARGV[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[i + 1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    table.insert(oldest, redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    refused = true
  else
    table.insert(oldest, '')
  end
end
if refused or not record then return refused and oldest or false end
for i = 4, #ARGV, 3 do
  redis.call('ZADD', P .. 'window:' .. ARGV[i], now, next_seq())
  redis.call('ZADD', P .. 'windows', 'GT', now, ARGV[i])
end
return false
"""
)

# ARGV: scope ident, fingerprint, now, lease end, conflict while processing ('1'/'0').
# {'claimed'} | {'conflict', reason} | {'replay', task id}
CLAIM = (
    _PRELUDE
    + """
local ident, fingerprint = ARGV[2], ARGV[3]
local key = P .. 'idem:' .. ident
local held = record(key)
if held == nil or tonumber(held.expires_at) <= tonumber(ARGV[4]) then
  redis.call('DEL', key)
  redis.call('HSET', key, 'fingerprint', fingerprint, 'expires_at', ARGV[5])
  redis.call('ZADD', P .. 'idem-expiry', ARGV[5], ident)
  return {'claimed'}
end
if held.fingerprint ~= fingerprint then return {'conflict', 'different_body'} end
if not held.task_id then return {'conflict', 'in_flight'} end
if ARGV[6] == '1'
    and redis.call('HGET', P .. 'task:' .. held.task_id, 'status') == 'processing' then
  return {'conflict', 'task_processing'}
end
return {'replay', held.task_id}
"""
)

# ARGV: scope ident.
RELEASE = (
    _PRELUDE
    + """
release(ARGV[2])
return 1
"""
)

# ARGV: acct, task id, credits, created at, due at ('' for none), expires at,
# media token, provider, scope ident ('' for none), key bound until, then the
# task hash as field/value pairs. Checks the balance, charges, stores the task
# and binds the key, all or nothing.
# {'unknown'} | {'short', balance} | {'ok'}
CREATE_TASK = (
    _PRELUDE
    + """
local acct, id, cost, at, due = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local scope = ARGV[10]
local balance = redis.call('HGET', P .. 'account:' .. acct, 'credits')
if not balance then return {'unknown'} end
local key = P .. 'task:' .. id
if redis.call('EXISTS', key) == 1 then return {'ok'} end -- a retried call: charged already
if tonumber(balance) < cost then
  if scope ~= '' then release(scope) end
  return {'short', balance}
end
local seq = next_seq()
redis.call('HSET', key, 'seq', seq, unpack(ARGV, 12))
redis.call('HSET', P .. 'media', ARGV[8], id)
redis.call('ZADD', P .. 'tasks', seq, id)
redis.call('ZADD', P .. 'tasks-by-provider:' .. ARGV[9], seq, id)
redis.call('ZADD', P .. 'tasks-by-account:' .. acct, seq, id)
redis.call('ZADD', P .. 'expiry', ARGV[7], id)
if due ~= '' then redis.call('ZADD', P .. 'due', due, queue_member(seq, id)) end
move(acct, at, 'charge', -cost, id, 'submission')
if scope ~= '' then
  local bound = P .. 'idem:' .. scope
  local fingerprint = redis.call('HGET', bound, 'fingerprint') or ''
  redis.call('DEL', bound)
  redis.call('HSET', bound, 'fingerprint', fingerprint, 'expires_at', ARGV[11], 'task_id', id)
  redis.call('ZADD', P .. 'idem-expiry', ARGV[11], scope)
end
return {'ok'}
"""
)

# ARGV: now. Ends every task due by now, oldest first: {{task, refund}, ...}.
SETTLE_DUE = (
    _PRELUDE
    + """
local settled = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', ARGV[2])) do
  redis.call('ZREM', P .. 'due', member)
  local id = member_id(member)
  local t = record(P .. 'task:' .. id)
  if t and t.status == 'processing' then
    local refund = finish(id, t, t.planned, t.due_at, '', '')
    table.insert(settled, {redis.call('HGETALL', P .. 'task:' .. id), refund})
  end
end
return settled
"""
)

# ARGV: task id, outcome, at, code ('' for none), message ('' for none).
# {'none'} (unknown or ended) | {'invalid'} | {'ok', refund, task}
FORCE = (
    _PRELUDE
    + """
local id, outcome = ARGV[2], ARGV[3]
local key = P .. 'task:' .. id
local t = record(key)
if not t or t.status ~= 'processing' then return {'none'} end
if outcome == 'processing' then -- pinned: never due
  redis.call('HDEL', key, 'due_at')
  redis.call('ZREM', P .. 'due', queue_member(t.seq, id))
  return {'ok', 0, redis.call('HGETALL', key)}
end
if outcome ~= 'completed' and outcome ~= 'failed' then return {'invalid'} end
local refund = finish(id, t, outcome, ARGV[4], ARGV[5], ARGV[6])
return {'ok', refund, redis.call('HGETALL', key)}
"""
)

# ARGV: delivery id, due at, then the delivery hash as field/value pairs.
ADD_DELIVERY = (
    _PRELUDE
    + """
local id = ARGV[2]
local seq = next_seq()
redis.call('DEL', P .. 'delivery:' .. id)
redis.call('HSET', P .. 'delivery:' .. id, unpack(ARGV, 4))
redis.call('ZADD', P .. 'deliveries', 'NX', seq, id)
redis.call('ZADD', P .. 'delivery-due', ARGV[3], queue_member(seq, id))
return 1
"""
)

# ARGV: now, limit. Marks up to limit due pending deliveries "sending" and
# returns them, so each goes to exactly one worker.
CLAIM_DELIVERIES = (
    _PRELUDE
    + """
local claimed, limit = {}, tonumber(ARGV[3])
while #claimed < limit do
  local due = redis.call('ZRANGEBYSCORE', P .. 'delivery-due', '-inf', ARGV[2], 'LIMIT', 0, limit)
  if #due == 0 then break end
  for _, member in ipairs(due) do
    if #claimed >= limit then break end
    redis.call('ZREM', P .. 'delivery-due', member)
    local key = P .. 'delivery:' .. member_id(member)
    if redis.call('HGET', key, 'state') == 'pending' then
      redis.call('HSET', key, 'state', 'sending')
      table.insert(claimed, redis.call('HGETALL', key))
    end
  end
end
return claimed
"""
)

# ARGV: delivery id, attempt (JSON), state, next due ('' for none).
# The delivery after it, or {} when unknown. The attempt is spliced into the
# JSON array as text, never decoded.
RECORD_ATTEMPT = (
    _PRELUDE
    + """
local id = ARGV[2]
local key = P .. 'delivery:' .. id
local attempts = redis.call('HGET', key, 'attempts')
if not attempts then return {} end
if attempts == '[]' then
  attempts = '[' .. ARGV[3] .. ']'
else
  attempts = string.sub(attempts, 1, -2) .. ',' .. ARGV[3] .. ']'
end
redis.call('HSET', key, 'attempts', attempts, 'state', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', key, 'due_at', ARGV[5])
  redis.call('ZADD', P .. 'delivery-due', ARGV[5], queue_member(next_seq(), id))
end
return redis.call('HGETALL', key)
"""
)

# ARGV: rule id, then the rule hash as field/value pairs. Replaces a rule of
# the same id in its place.
ADD_FAULT = (
    _PRELUDE
    + """
redis.call('DEL', P .. 'fault:' .. ARGV[2])
redis.call('HSET', P .. 'fault:' .. ARGV[2], unpack(ARGV, 3))
redis.call('ZADD', P .. 'faults', 'NX', next_seq(), ARGV[2])
return 1
"""
)

# ARGV: rule id. Counts one firing; removes the rule when its times run out.
# 1, or 0 when the rule is gone.
SPEND_FAULT = (
    _PRELUDE
    + """
local key = P .. 'fault:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HINCRBY', key, 'hits', 1)
if redis.call('HEXISTS', key, 'times') == 1
    and redis.call('HINCRBY', key, 'times', -1) <= 0 then
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'faults', ARGV[2])
end
return 1
"""
)

# No ARGV. Removes every fault rule.
CLEAR_FAULTS = (
    _PRELUDE
    + """
for _, id in ipairs(redis.call('ZRANGE', P .. 'faults', 0, -1)) do
  redis.call('DEL', P .. 'fault:' .. id)
end
redis.call('DEL', P .. 'faults')
return 1
"""
)

# ARGV: entry (JSON), size. Appends "ID JSON", keeps the newest size; returns ID.
JOURNAL_APPEND = (
    _PRELUDE
    + """
local id = redis.call('INCR', P .. 'journal-id')
redis.call('RPUSH', P .. 'journal', id .. ' ' .. ARGV[2])
redis.call('LTRIM', P .. 'journal', -math.max(1, tonumber(ARGV[3])), -1)
return id
"""
)

# ARGV: index, record kind, start, stop, 'rev' for newest first. The hashes the
# index names, in its order (one consistent read of a listing).
READ_RECORDS = (
    _PRELUDE
    + """
local order = 'ZRANGE'
if ARGV[6] == 'rev' then order = 'ZREVRANGE' end
local found = {}
for _, id in ipairs(redis.call(order, P .. ARGV[2], ARGV[4], ARGV[5])) do
  local flat = redis.call('HGETALL', P .. ARGV[3] .. id)
  if #flat > 0 then table.insert(found, flat) end
end
return found
"""
)

# No ARGV. {accounts, keys, tasks, idempotency records, ledger entries, deliveries}
COUNTS = (
    _PRELUDE
    + """
local entries = 0
for _, acct in ipairs(redis.call('ZRANGE', P .. 'accounts', 0, -1)) do
  entries = entries + redis.call('LLEN', P .. 'ledger:' .. acct)
end
return {redis.call('ZCARD', P .. 'accounts'), redis.call('ZCARD', P .. 'apikeys'),
  redis.call('ZCARD', P .. 'tasks'), redis.call('ZCARD', P .. 'idem-expiry'), entries,
  redis.call('ZCARD', P .. 'deliveries')}
"""
)

# ARGV: now, now - one hour. Forgets expired tasks (with their
# media, index and due entries), deliveries whose task is gone, expired
# idempotency records and idle rate windows; folds old ledger entries into each
# opening balance as the memory store does. Returns tasks + records forgotten.
EXPIRE = (
    _PRELUDE
    + """
local now, hour_ago = ARGV[2], ARGV[3]
local removed = 0

for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'expiry', '-inf', now)) do
  local t = record(P .. 'task:' .. id)
  if t then
    redis.call('DEL', P .. 'task:' .. id)
    redis.call('HDEL', P .. 'media', t.media_token)
    redis.call('ZREM', P .. 'tasks', id)
    redis.call('ZREM', P .. 'tasks-by-provider:' .. t.provider, id)
    redis.call('ZREM', P .. 'tasks-by-account:' .. t.acct, id)
    redis.call('ZREM', P .. 'due', queue_member(t.seq, id))
    removed = removed + 1
  end
end
redis.call('ZREMRANGEBYSCORE', P .. 'expiry', '-inf', now)

for _, id in ipairs(redis.call('ZRANGE', P .. 'deliveries', 0, -1)) do
  local task_id = redis.call('HGET', P .. 'delivery:' .. id, 'task_id')
  if not task_id or redis.call('EXISTS', P .. 'task:' .. task_id) == 0 then
    redis.call('DEL', P .. 'delivery:' .. id)
    redis.call('ZREM', P .. 'deliveries', id)
  end
end

for _, ident in ipairs(redis.call('ZRANGEBYSCORE', P .. 'idem-expiry', '-inf', now)) do
  redis.call('DEL', P .. 'idem:' .. ident)
  removed = removed + 1
end
redis.call('ZREMRANGEBYSCORE', P .. 'idem-expiry', '-inf', now)

-- An entry folds when it has no task (a grant, an adjustment) or its task is
-- gone; folding stops at the first entry whose task is still stored, so what
-- stays is a running balance from the new opening.
local function folds(raw)
  local e = cjson.decode(raw)
  if e[5] == cjson.null then return true end
  return redis.call('EXISTS', P .. 'task:' .. e[5]) == 0
end
for _, acct in ipairs(redis.call('ZRANGE', P .. 'accounts', 0, -1)) do
  local key, folded, count, kept = P .. 'ledger:' .. acct, 0, 0, false
  repeat
    local page = redis.call('LRANGE', key, count, count + 99)
    for _, raw in ipairs(page) do
      if not folds(raw) then kept = true break end
      folded = folded + cjson.decode(raw)[3]
      count = count + 1
    end
  until kept or #page < 100
  if count > 0 then
    redis.call('LTRIM', key, count, -1)
    redis.call('HINCRBY', P .. 'account:' .. acct, 'opening', folded)
  end
end

for _, bucket in ipairs(redis.call('ZRANGEBYSCORE', P .. 'windows', '-inf', hour_ago)) do
  redis.call('DEL', P .. 'window:' .. bucket)
end
redis.call('ZREMRANGEBYSCORE', P .. 'windows', '-inf', hour_ago)
return removed
"""
)
