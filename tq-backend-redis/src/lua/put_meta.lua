-- The bookkeeping of one row write, and the row's state after it. Runs
-- inside the row's MULTI/EXEC, right after the DEL and HDEL of removed
-- cells, the SET of the cells kept under keys of their own and the HSET of
-- the others, of their 'x' markers and of its tag entries (values never
-- pass through Lua), so the row, its index entry and its partition entry
-- become visible together.
-- KEYS[1] row hash, KEYS[2] partition index (bucket), KEYS[3] bucket's
-- partition set, KEYS[4] (standalone only) the insertion counter.
-- ARGV[1] insertion sequence for a new row, or '' to take one from KEYS[4];
-- ARGV[2] the key; ARGV[3] the partition; ARGV[4] '1' if the write creates
-- a missing row (it sets a cell or merges a tag), '' if it only removes.
-- A row without 's' did not exist before this write (an HSET just before
-- may have created its hash): it gets a sequence, an index entry and a
-- partition entry, unless the write only removes cells.
-- ARGV[5] the write's stamp, stored as 'v': with 's', the row's version
-- (see put_row.lua and src/write_stamp.rs).
-- ARGV[6] PUBLISH or SPUBLISH, ARGV[7] the watch channel, ARGV[8] the
-- number R of removed cells, ARGV[9..8+R] their hash fields, ARGV[9+R] the
-- number S of cells set, then their hash fields 'f<field>' (names only),
-- then the tag entries this write sets, 't<name>' and JSON alternating.
-- Events (src/events.rs) are published here so that an event exists iff
-- the write landed. pcall: a user whose ACL may not publish (Redis 7 users
-- start with no channel) must still get its write, which has landed by
-- then (scripts never roll back).
-- Returns { {'f<field>' or 'x<field>', ...}, {'t<name>', json, ...},
-- existed (1 or 0) }. read_back, item and publish_removed: row_state.lua.
local row = KEYS[1]
local existed = redis.call('HEXISTS', row, 's') == 1
if not existed and ARGV[4] == '' then
  return { {}, {}, 0 }
end
local removed = tonumber(ARGV[8])
local first_set = 10 + removed
local last_set = first_set + tonumber(ARGV[9 + removed]) - 1
local fields, tags = {}, {}
if existed then
  redis.call('HSET', row, 'v', ARGV[5])
  read_back(row, fields, tags)
else
  -- A new row: its fields and tag are what this write set, so nothing is
  -- read back.
  local seq = ARGV[1]
  if seq == '' then
    seq = redis.call('INCR', KEYS[4])
  end
  redis.call('HSET', row, 'v', ARGV[5], 's', seq)
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
  for j = first_set, last_set do fields[#fields + 1] = ARGV[j] end
  for j = last_set + 1, #ARGV do tags[#tags + 1] = ARGV[j] end
end
if existed and removed > 0 then
  publish_removed(9, 8 + removed)
end
if ARGV[4] == '1' then
  local msg = { 'P', item(ARGV[2]), item(ARGV[9 + removed]) }
  for j = first_set, last_set do msg[#msg + 1] = item(ARGV[j]) end
  for _, t in ipairs(tags) do msg[#msg + 1] = item(t) end
  redis.pcall(ARGV[6], ARGV[7], table.concat(msg))
end
return { fields, tags, existed and 1 or 0 }
