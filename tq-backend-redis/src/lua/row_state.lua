-- Prepended to put_meta.lua and put_row.lua (src/scripts.rs): what both
-- do with a row's state after a write, and with its events.
-- The row's cells ('f' or 'x' hash fields) into fields, its tag entries
-- ('t' name, then its JSON) into tags, read back from its hash.
local function read_back(row, fields, tags)
  for _, name in ipairs(redis.call('HKEYS', row)) do
    local mark = string.sub(name, 1, 1)
    if mark == 'f' or mark == 'x' then
      fields[#fields + 1] = name
    elseif mark == 't' then
      tags[#tags + 1] = name
      tags[#tags + 1] = redis.call('HGET', row, name)
    end
  end
end
-- One item of an event (src/events.rs): its length, ':', its bytes.
local function item(s) return #s .. ':' .. s end
-- The event of the cells ARGV[from..to] removed from the row of key
-- ARGV[2]. pcall: see put_meta.lua.
local function publish_removed(from, to)
  local msg = { 'F', item(ARGV[2]) }
  for j = from, to do msg[#msg + 1] = item(ARGV[j]) end
  redis.pcall(ARGV[6], ARGV[7], table.concat(msg))
end
