"""Every kv_* operation, blocking and async, on memory, RocksDB and Redis."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

import tq_rs


def test_kv_put_and_get_one_row(tq):
    ids = np.array([1, 2, 3], dtype=np.int64)
    meta = tq.kv_put("0_0", "Train", {"input_ids": ids, "prompt": "2 + 2?"}, {"status": "running"})
    assert meta.keys == ["0_0"]
    assert meta.partition_id == "Train"
    assert meta.fields == ["input_ids", "prompt"]
    assert meta.tags == [{"status": "running"}]
    got = tq.kv_batch_get("0_0", "Train")
    assert got["input_ids"].dtype == np.int64
    np.testing.assert_array_equal(got["input_ids"], ids[None, :])
    assert got["prompt"] == ["2 + 2?"]


def test_kv_batch_put_dense_jagged_and_non_tensor(tq):
    dense = np.arange(12, dtype=np.float32).reshape(3, 4)
    jagged = [np.array([1], np.int32), np.array([2, 3], np.int32), np.array([4, 5, 6], np.int32)]
    meta = tq.kv_batch_put(
        ["a", "b", "c"],
        "Train",
        {"dense": dense, "resp": jagged, "msg": [{"role": "user"}, "hi", b"\x00\x01"]},
        [{"i": 0}, {"i": 1}, {"i": 2}],
    )
    assert meta.fields == ["dense", "msg", "resp"]
    got = tq.kv_batch_get(["c", "a"], "Train")
    np.testing.assert_array_equal(got["dense"], dense[[2, 0]])
    assert [r.tolist() for r in got["resp"]] == [[4, 5, 6], [1]]
    assert got["msg"] == [b"\x00\x01", {"role": "user"}]


def test_every_numpy_dtype_round_trips(tq):
    dtypes = [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32,
              np.int64, np.uint64, np.float16, np.float32, np.float64]
    fields = {f"f{i}": (np.arange(6) % 2).astype(dt).reshape(2, 3) for i, dt in enumerate(dtypes)}
    tq.kv_batch_put(["x", "y"], "p", fields)
    got = tq.kv_batch_get(["x", "y"], "p")
    for name, arr in fields.items():
        assert got[name].dtype == arr.dtype, name
        np.testing.assert_array_equal(got[name], arr)


def test_select_fields_str_list_and_by_meta(tq):
    meta = tq.kv_batch_put(["a", "b"], "p", {"x": np.zeros((2, 2), np.float32), "y": ["u", "v"]})
    assert set(tq.kv_batch_get(["a", "b"], "p", "y")) == {"y"}
    assert set(tq.kv_batch_get(["a", "b"], "p", ["x"])) == {"x"}
    by_meta = tq.kv_batch_get_by_meta(meta)
    assert set(by_meta) == {"x", "y"} and by_meta["y"] == ["u", "v"]
    assert set(tq.kv_batch_get_by_meta(meta, "x")) == {"x"}


def test_kv_list_tags_merge_and_tag_only_put(tq):
    tq.kv_batch_put(["k1", "k2"], "Train", tags=[{"status": "new"}, {"status": "new"}])
    tq.kv_put("k1", "Train", None, {"status": "scored", "reward": 0.5})
    tq.kv_put("z", "Val", None, {"n": 1})
    listing = tq.kv_list("Train")
    assert list(listing) == ["Train"]
    assert list(listing["Train"]) == ["k1", "k2"]
    assert listing["Train"]["k1"] == {"status": "scored", "reward": 0.5}
    everything = tq.kv_list()
    assert list(everything) == ["Train", "Val"]
    assert tq.kv_list("nothing_here").get("nothing_here", {}) == {}


def test_kv_clear_rows_and_fields(tq):
    tq.kv_batch_put(["a", "b"], "p", {"x": np.ones((2, 3), np.float32), "y": [1, 2]})
    assert tq.kv_clear(["a"], "p", fields=["x"]) == 1
    assert tq.kv_batch_get("a", "p") == {"y": [1]}
    assert "a" in tq.kv_list("p")["p"]
    assert tq.kv_clear(["a", "b", "missing"], "p") == 2
    assert tq.kv_list("p").get("p", {}) == {}
    with pytest.raises(tq_rs.NotFound):
        tq.kv_batch_get("a", "p")


def test_kv_update_and_batch_update(tq):
    def bump(row):
        seen = row["tag"].get("seen", 0)
        count = row["fields"]["count"][0] if "count" in row["fields"] else 0
        return {"fields": {"count": np.array([count + 1], np.int64)}, "tag": {"seen": seen + 1}}

    tq.kv_update("u", "p", ["count"], bump)
    meta = tq.kv_update("u", "p", ["count"], bump)
    assert meta.tags == [{"seen": 2}]
    assert tq.kv_batch_get("u", "p")["count"].tolist() == [[2]]
    meta = tq.kv_batch_update(["u", "v"], "p", "count", bump)
    assert meta.keys == ["u", "v"]
    got = tq.kv_batch_get(["u", "v"], "p")
    assert got["count"].tolist() == [[3], [1]]
    # None means no change.
    tq.kv_update("u", "p", None, lambda row: None)
    assert tq.kv_list("p")["p"]["u"] == {"seen": 3}


def test_kv_update_is_atomic_across_threads(tq):
    def add_one(row):
        return {"tag": {"n": row["tag"].get("n", 0) + 1}}

    threads = [threading.Thread(target=lambda: [tq.kv_update("c", "p", None, add_one) for _ in range(25)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tq.kv_list("p")["p"]["c"] == {"n": 100}


def test_kv_wait_is_woken_by_a_put_from_another_thread(tq):
    # The putter thread can only run while kv_wait has released the GIL.
    def put_later():
        time.sleep(0.2)
        tq.kv_put("w", "p", {"reward": np.array([1.0], np.float32)})

    t = threading.Thread(target=put_later)
    start = time.monotonic()
    t.start()
    tq.kv_wait(["w"], "p", ["reward"], timeout=20)
    t.join()
    assert time.monotonic() - start < 10
    with pytest.raises(tq_rs.Timeout) as err:
        tq.kv_wait(["w", "never"], "p", ["reward"], timeout=0.1)
    assert "never" in str(err.value)
    assert err.value.partition == "p"


def test_ctrl_c_interrupts_a_blocking_kv_wait(tq):
    # _thread.interrupt_main() is what Ctrl-C does: SIGINT's handler runs in
    # the main thread, which sits in kv_wait. (Its timeout only bounds the
    # test if the interrupt is not seen: the wait then ends in Timeout.)
    import _thread

    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        tq.kv_wait(["never"], "p", ["reward"], timeout=30)
    timer.join()
    assert time.monotonic() - start < 10
    # The store still works after the dropped wait.
    tq.kv_put("w", "p", {"reward": np.array([1.0], np.float32)})
    tq.kv_wait(["w"], "p", ["reward"], timeout=10)


def test_kv_watch_reports_puts_and_clears(tq):
    watch = tq.kv_watch("p")
    tq.kv_put("a", "p", {"x": np.zeros(2, np.float32)}, {"s": 1})
    tq.kv_clear(["a"], "p", ["x"])
    tq.kv_clear(["a"], "p")
    events = [watch.get(timeout=10) for _ in range(3)]
    assert events[0] == {"type": "put", "key": "a", "fields": ["x"], "tag": {"s": 1}}
    assert events[1] == {"type": "clear", "key": "a", "fields": ["x"]}
    assert events[2] == {"type": "clear", "key": "a", "fields": None}
    assert watch.get(timeout=0.05) is None


def test_async_api(tq):
    async def main():
        meta = await tq.async_kv_batch_put(["a", "b"], "p", {"x": np.arange(4.0).reshape(2, 2)},
                                           [{"k": 1}, {"k": 2}])
        await tq.async_kv_put("c", "p", {"x": np.arange(2.0)}, {"k": 3})
        got = await tq.async_kv_batch_get(["a", "c"], "p")
        by_meta = await tq.async_kv_batch_get_by_meta(meta)
        listing = await tq.async_kv_list("p")
        await tq.async_kv_update("a", "p", None, lambda row: {"tag": {"k": 10}})
        await tq.async_kv_batch_update(["b"], "p", None, lambda row: {"tag": {"k": 20}})
        watch = await tq.async_kv_watch("p")
        waiter = asyncio.ensure_future(tq.async_kv_wait(["d"], "p", None, timeout=20))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await tq.async_kv_put("d", "p", None, {"k": 4})
        await waiter
        event = await watch.__anext__()
        cleared = await tq.async_kv_clear(["a", "b", "c", "d"], "p")
        return got, by_meta, listing, event, cleared

    got, by_meta, listing, event, cleared = asyncio.run(main())
    assert got["x"].tolist() == [[0.0, 1.0], [0.0, 1.0]]
    assert by_meta["x"].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert list(listing["p"]) == ["a", "b", "c"]
    assert event["key"] == "d" and event["type"] == "put"
    assert cleared == 4


def test_module_level_api(config):
    tq_rs.init(config)
    try:
        meta = tq_rs.kv_put("0_0", "Train", {"x": np.ones(3, np.float32)}, {"status": "new"})
        tq_rs.kv_batch_put(["1_0"], "Train", {"x": np.ones((1, 3), np.float32)}, [{"status": "new"}])
        assert tq_rs.kv_batch_get(["0_0", "1_0"], "Train")["x"].shape == (2, 3)
        assert tq_rs.kv_batch_get_by_meta(meta)["x"].shape == (1, 3)
        assert set(tq_rs.kv_list("Train")["Train"]) == {"0_0", "1_0"}
        tq_rs.kv_update("0_0", "Train", None, lambda row: {"tag": {"status": "done"}})
        tq_rs.kv_wait("0_0", "Train", ["x"], timeout=5)
        assert tq_rs.kv_clear(["0_0", "1_0"], "Train") == 2

        async def run():
            await tq_rs.async_kv_put("a", "Train", None, {"s": 1})
            await tq_rs.async_kv_batch_put(["b"], "Train", None, [{"s": 2}])
            assert (await tq_rs.async_kv_list("Train"))["Train"]["b"] == {"s": 2}
            return await tq_rs.async_kv_clear(["a", "b"], "Train")

        assert asyncio.run(run()) == 2
    finally:
        tq_rs.close()


def test_init_from_a_toml_file(tmp_path):
    path = tmp_path / "tq.toml"
    path.write_text('backend = "memory"\n[memory]\ncapacity_bytes = 64\n')
    q = tq_rs.init(path)
    try:
        assert q.backend == "memory"
        with pytest.raises(tq_rs.CapacityExceeded):
            tq_rs.kv_put("a", "p", {"x": np.zeros(100, np.uint8)})
        assert tq_rs.kv_list() == {}
    finally:
        tq_rs.close()


def test_meta_helpers_and_pickle():
    import pickle

    meta = tq_rs.KVBatchMeta(["a", "b", "c"], [{"i": 0}, {"i": 1}, {"i": 2}], "p", ["x"])
    assert meta.select_keys(["c", "a"]).tags == [{"i": 2}, {"i": 0}]
    parts = meta.chunk(2)
    assert [len(p) for p in parts] == [2, 1]
    assert tq_rs.KVBatchMeta.concat(parts) == meta
    assert pickle.loads(pickle.dumps(meta)) == meta
    meta.reorder([2, 1, 0])
    assert meta.keys == ["c", "b", "a"]
