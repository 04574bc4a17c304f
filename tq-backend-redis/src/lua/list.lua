-- Lists one bucket: for each partition (ARGV[2], or every partition of the
-- bucket's set KEYS[1] when ARGV[2] is absent), its rows with their insertion
-- sequence and tag entries. ARGV[1] is the bucket's key base 'P{b}:'.
-- Returns { partition, { key, seq, { 't<name>', json, ... } , ... }, ... }.
local base = ARGV[1]
local parts
if #ARGV >= 2 then
  parts = { ARGV[2] }
else
  parts = redis.call('SMEMBERS', KEYS[1])
end
local out = {}
for _, p in ipairs(parts) do
  local rows = {}
  local index = base .. 'i:' .. #p .. ':' .. p
  local row_base = base .. 'r:' .. #p .. ':' .. p .. ':'
  for _, key in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local row = row_base .. key
    local seq = redis.call('HGET', row, 's')
    if seq then
      local tags = {}
      for _, name in ipairs(redis.call('HKEYS', row)) do
        if string.sub(name, 1, 1) == 't' then
          tags[#tags + 1] = name
          tags[#tags + 1] = redis.call('HGET', row, name)
        end
      end
      rows[#rows + 1] = key
      rows[#rows + 1] = seq
      rows[#rows + 1] = tags
    end
  end
  out[#out + 1] = p
  out[#out + 1] = rows
end
return out
