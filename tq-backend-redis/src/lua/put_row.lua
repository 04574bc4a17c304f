-- A whole small row write in one script: the HSET of its cells and tag
-- entries, then the same bookkeeping as put_meta.lua. Only for rows of a
-- few KiB (`SCRIPT_ROW_BYTES` in backend.rs): Redis hashes every string that
-- enters Lua, which costs little here and saves the MULTI, the EXEC and
-- the script text that the transaction of a large row sends.
-- KEYS and ARGV[1..3] as in put_meta.lua; ARGV[4..] field, value, ...
local row = KEYS[1]
if #ARGV > 3 then
  redis.call('HSET', row, unpack(ARGV, 4))
end
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
