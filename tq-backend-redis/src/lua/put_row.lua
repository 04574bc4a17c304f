-- A whole small row write in one script: the HDEL of removed cells and the
-- HSET of its cells and tag entries, then the same bookkeeping as
-- put_meta.lua. Only for rows of a few KiB (`SCRIPT_ROW_BYTES` in
-- backend.rs): Redis hashes every string that enters Lua, which costs
-- little here and saves the MULTI, the EXEC and the script text that the
-- transaction of a large row sends.
-- KEYS and ARGV[1..4] as in put_meta.lua; ARGV[5] the number R of cells to
-- remove, ARGV[6..5+R] their hash fields, then field, value, ... to set.
local row = KEYS[1]
local existed = redis.call('HEXISTS', row, 's') == 1
if not existed and ARGV[4] == '' then
  -- Removals only, of a missing row: it stays missing.
  return { {}, {}, 0 }
end
local removed = tonumber(ARGV[5])
if removed > 0 then
  redis.call('HDEL', row, unpack(ARGV, 6, 5 + removed))
end
if #ARGV > 5 + removed then
  redis.call('HSET', row, unpack(ARGV, 6 + removed))
end
if not existed then
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
return { fields, tags, existed and 1 or 0 }
