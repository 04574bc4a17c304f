-- Removes one row atomically: its hash, the keys of its cells that live
-- under keys of their own ('x' markers), its index entry, and the bucket's
-- partition entry when the partition has no other row in the bucket.
-- KEYS[1] row hash, KEYS[2] partition index (bucket), KEYS[3] bucket's
-- partition set. ARGV[1] the key, ARGV[2] the partition, ARGV[3] PUBLISH
-- or SPUBLISH, ARGV[4] the watch channel: a removed row's event
-- (src/events.rs); a missing row publishes nothing. ARGV[5] the base of
-- the row's cell keys (a field's name appended names one; src/keys.rs).
-- Returns 1 if the row existed, else 0.
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(name, 1, 1) == 'x' then
    redis.call('DEL', ARGV[5] .. string.sub(name, 2))
  end
end
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
redis.pcall(ARGV[3], ARGV[4], 'C' .. #ARGV[1] .. ':' .. ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[2])
end
return 1
