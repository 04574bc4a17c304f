-- The bookkeeping of one row write, and the row's state after it. Runs
-- inside the row's MULTI/EXEC, right after the HSET of its cells and tag
-- entries (which never pass through Lua), so the row, its index entry and
-- its partition entry become visible together.
-- KEYS[1] row hash, KEYS[2] partition index (bucket), KEYS[3] bucket's
-- partition set, KEYS[4] (standalone only) the insertion counter.
-- ARGV[1] insertion sequence for a new row, or '' to take one from KEYS[4];
-- ARGV[2] the key; ARGV[3] the partition.
-- A row without 's' is new (the HSET just created it): it gets a sequence,
-- an index entry and a partition entry.
-- Returns { {'f<field>', ...}, {'t<name>', json, ...} } after the write.
local row = KEYS[1]
if redis.call('HEXISTS', row, 's') == 0 then
  local seq = ARGV[1]
  if seq == '' then
    seq = redis.call('INCR', KEYS[4])
  end
  redis.call('HSET', row, 's', seq)
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
end
local fields, tags = {}, {}
for _, name in ipairs(redis.call('HKEYS', row)) do
  local mark = string.sub(name, 1, 1)
  if mark == 'f' then
    fields[#fields + 1] = name
  elseif mark == 't' then
    tags[#tags + 1] = name
    tags[#tags + 1] = redis.call('HGET', row, name)
  end
end
return { fields, tags }
