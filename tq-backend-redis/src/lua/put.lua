-- Writes one row atomically and returns its state.
-- KEYS[1] row hash, KEYS[2] partition index (bucket), KEYS[3] bucket's
-- partition set, KEYS[4] (standalone only) the insertion counter.
-- ARGV[1] insertion sequence for a new row, or '' to take one from KEYS[4];
-- ARGV[2] the key; ARGV[3] the partition; then hash field / value pairs
-- (cells 'f<field>' and tag entries 't<name>').
-- Returns { {'f<field>', ...}, {'t<name>', json, ...} } after the write.
local row = KEYS[1]
if redis.call('EXISTS', row) == 0 then
  local seq = ARGV[1]
  if seq == '' then
    seq = redis.call('INCR', KEYS[4])
  end
  redis.call('HSET', row, 's', seq)
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
end
for i = 4, #ARGV - 1, 2 do
  redis.call('HSET', row, ARGV[i], ARGV[i + 1])
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
