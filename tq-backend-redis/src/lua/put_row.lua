-- A whole row write in one script: an optional version check, the HDEL of
-- removed cells, the HSET of its cells and tag entries, then the same
-- bookkeeping as put_meta.lua. Used for rows of a few KiB
-- (`SCRIPT_ROW_BYTES` in backend.rs): Redis hashes every string that enters
-- Lua, which costs little there and saves the MULTI, the EXEC and the
-- script text that the transaction of a large row sends; and for every
-- conditional write (kv_update), whatever its size, since the check and
-- the write must be one step.
-- KEYS and ARGV[1..4] as in put_meta.lua; ARGV[5] the expected version:
-- '' for none, '0' for "the row must not exist", else '<s>:<v>'; ARGV[6]
-- PUBLISH or SPUBLISH and ARGV[7] the watch channel (as in put_meta.lua);
-- ARGV[8] the base of the row's cell keys (src/keys.rs: a field's name
-- appended names the key of a cell that lives under a key of its own);
-- ARGV[9] the number R of cells to remove, ARGV[10..9+R] their hash fields,
-- then field, value, ... to set, the last pair always 'v' and the write's
-- stamp (src/write_stamp.rs), which changes the row's version. Every cell
-- this script writes goes into the hash: a cell removed or written here
-- that lived under a key of its own loses that key and its 'x' marker.
-- Publishes as put_meta.lua (nothing for a write that did not land).
-- Returns as put_meta.lua, or { {}, {}, -1 } if the version did not match.
-- read_back, item and publish_removed: row_state.lua.
local row = KEYS[1]
local seq_now = redis.call('HGET', row, 's')
local existed = seq_now ~= false
local expected = ARGV[5]
if expected ~= '' then
  local now = '0'
  if existed then
    now = seq_now .. ':' .. (redis.call('HGET', row, 'v') or '0')
  end
  if now ~= expected then
    return { {}, {}, -1 }
  end
end
if not existed and ARGV[4] == '' then
  -- Removals only, of a missing row: it stays missing.
  return { {}, {}, 0 }
end
local cell_base = ARGV[8]
local removed = tonumber(ARGV[9])
local first_set = 10 + removed
-- A cell removed, or written into the hash, that lived under a key of its
-- own loses that key and its 'x' marker.
local function drop_cell_key(name)
  local field = string.sub(name, 2)
  if redis.call('HDEL', row, 'x' .. field) == 1 then
    redis.call('DEL', cell_base .. field)
  end
end
-- HDEL or HSET of ARGV[from..to] on the row, 1,000 arguments per call
-- (unpack puts each on Lua's stack, which holds 8,000).
local function in_chunks(command, from, to)
  local i = from
  while i <= to do
    local upto = math.min(i + 999, to)
    redis.call(command, row, unpack(ARGV, i, upto))
    i = upto + 1
  end
end
local function remove_cells()
  for j = 10, first_set - 1 do drop_cell_key(ARGV[j]) end
  in_chunks('HDEL', 10, first_set - 1)
end
local function set_pairs()
  in_chunks('HSET', first_set, #ARGV)
end
local fields, tags = {}, {}
if existed then
  -- A server over maxmemory refuses a script's first write if it may grow
  -- memory (HSET, not HDEL or DEL), and lets every later one through. So a
  -- write that sets cells or tag entries starts with its HSET (refused
  -- whole on a full server), and one that only removes cells (its pairs
  -- are the stamp alone) starts with the removals, which free memory and
  -- must work on a full server.
  if #ARGV - first_set + 1 > 2 then
    set_pairs()
    remove_cells()
  else
    remove_cells()
    set_pairs()
  end
  for j = first_set, #ARGV, 2 do
    if string.sub(ARGV[j], 1, 1) == 'f' then drop_cell_key(ARGV[j]) end
  end
  read_back(row, fields, tags)
else
  -- A new row (no 's'): no hash and no cell key exists (a clear removes
  -- them with 's'), so there is nothing to remove or drop, and its fields
  -- and tag are this write's pairs: five commands instead of nine or more.
  -- Its first write (INCR, or the HSET) is what a full server refuses.
  local seq = ARGV[1]
  if seq == '' then
    seq = redis.call('INCR', KEYS[4])
  end
  local upto = math.min(first_set + 999, #ARGV)
  redis.call('HSET', row, 's', seq, unpack(ARGV, first_set, upto))
  in_chunks('HSET', upto + 1, #ARGV)
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
  for j = first_set, #ARGV, 2 do
    local mark = string.sub(ARGV[j], 1, 1)
    if mark == 'f' then
      fields[#fields + 1] = ARGV[j]
    elseif mark == 't' then
      tags[#tags + 1] = ARGV[j]
      tags[#tags + 1] = ARGV[j + 1]
    end
  end
end
if existed and removed > 0 then
  publish_removed(10, 9 + removed)
end
if ARGV[4] == '1' then
  -- The cells set: the 'f' names among the pairs (tag entries are 't').
  local set = {}
  for j = 10 + removed, #ARGV, 2 do
    if string.sub(ARGV[j], 1, 1) == 'f' then set[#set + 1] = item(ARGV[j]) end
  end
  local msg = { 'P', item(ARGV[2]), item(tostring(#set)), table.concat(set) }
  for _, t in ipairs(tags) do msg[#msg + 1] = item(t) end
  redis.pcall(ARGV[6], ARGV[7], table.concat(msg))
end
return { fields, tags, existed and 1 or 0 }
