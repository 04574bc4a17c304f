"""save_checkpoint / load_checkpoint from Python: round trips on every
backend, a checkpoint of one backend loaded into another, the refusals
(non-empty target, existing checkpoint, missing or damaged objects), and
the async and module-level forms."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

import tq_rs


def _fill(q: tq_rs.TransferQueue) -> None:
    q.kv_batch_put(
        ["b", "a", "c"],
        "train",
        {
            "ids": np.arange(12, dtype=np.int64).reshape(3, 4),
            "jag": [np.ones(1, np.float32), np.ones(2, np.float32), np.ones(3, np.float32)],
            "text": ["x", "y", "z"],
        },
        tags=[{"n": 0}, {"n": 1}, {"n": 2}],
    )
    q.kv_put("k", "val", {"v": np.float64(2.5)}, {"status": "done"})


def _snapshot(q: tq_rs.TransferQueue) -> dict:
    listing = q.kv_list()
    out = {"listing": {p: list(keys.items()) for p, keys in listing.items()}}
    got = q.kv_batch_get(["b", "a", "c"], "train")
    out["ids"] = got["ids"].tolist()
    out["jag"] = [a.tolist() for a in got["jag"]]
    out["text"] = got["text"]
    out["v"] = q.kv_batch_get("k", "val")["v"]
    return out


def _url(tmp_path: Path, name: str = "ckpt") -> str:
    return (tmp_path / name).as_uri()


def test_save_clear_load_round_trips(tq, tmp_path):
    _fill(tq)
    before = _snapshot(tq)
    manifest = tq.save_checkpoint(_url(tmp_path))
    assert sorted(p["name"] for p in manifest["partitions"]) == ["train", "val"]
    assert {p["name"]: p["keys"] for p in manifest["partitions"]} == {"train": 3, "val": 1}

    tq.kv_clear(["b", "a", "c"], "train")
    tq.kv_clear("k", "val")
    assert tq.kv_list() == {}
    loaded = tq.load_checkpoint(_url(tmp_path))
    assert loaded["checkpoint_id"] == manifest["checkpoint_id"]
    assert _snapshot(tq) == before


def test_a_checkpoint_of_memory_loads_into_every_backend(tq, mem, tmp_path):
    _fill(mem)
    mem.save_checkpoint(_url(tmp_path))
    tq.load_checkpoint(_url(tmp_path))
    assert _snapshot(tq) == _snapshot(mem)


def test_partition_ids_select_what_is_saved_and_loaded(mem, tmp_path):
    _fill(mem)
    manifest = mem.save_checkpoint(_url(tmp_path), "train")
    assert [p["name"] for p in manifest["partitions"]] == ["train"]
    both = mem.save_checkpoint(_url(tmp_path, "both"), ["train", "val"])
    assert len(both["partitions"]) == 2

    fresh = tq_rs.TransferQueue({"backend": "memory"})
    fresh.load_checkpoint(_url(tmp_path, "both"), ["val"])
    assert list(fresh.kv_list()) == ["val"]
    with pytest.raises(tq_rs.InvalidArgument) as err:
        mem.save_checkpoint(_url(tmp_path, "bad"), 3)
    assert err.value.field == "partition_ids"


def test_refusals_write_nothing(mem, tmp_path):
    _fill(mem)
    url = _url(tmp_path)
    mem.save_checkpoint(url)
    # A checkpoint is already there.
    with pytest.raises(tq_rs.InvalidArgument):
        mem.save_checkpoint(url)
    mem.save_checkpoint(url, overwrite=True)
    # The target partitions hold keys.
    with pytest.raises(tq_rs.InvalidArgument):
        mem.load_checkpoint(url)
    mem.kv_put("extra", "train", {"ids": np.zeros(4, np.int64)})
    mem.load_checkpoint(url, replace=True)
    assert "extra" not in mem.kv_list("train")["train"]
    # Nothing there at all.
    empty = tq_rs.TransferQueue({"backend": "memory"})
    with pytest.raises(tq_rs.NotFound):
        empty.load_checkpoint(_url(tmp_path, "nothing"))
    assert empty.kv_list() == {}


def test_a_damaged_checkpoint_is_refused_before_anything_is_written(mem, tmp_path):
    _fill(mem)
    mem.save_checkpoint(_url(tmp_path))
    data = sorted(p for p in (tmp_path / "ckpt").rglob("*") if p.is_file() and p.name != "manifest.json")
    assert data, "the checkpoint has data objects"
    raw = bytearray(data[-1].read_bytes())
    raw[len(raw) // 2] ^= 0x40
    data[-1].write_bytes(bytes(raw))
    target = tq_rs.TransferQueue({"backend": "memory"})
    with pytest.raises(tq_rs.Corrupted):
        target.load_checkpoint(_url(tmp_path))
    assert target.kv_list() == {}


def test_async_and_module_level_forms(tmp_path):
    tq_rs.init()
    try:
        _fill(tq_rs._api._q())
        manifest = tq_rs.save_checkpoint(_url(tmp_path, "sync"))
        assert asyncio.run(tq_rs.async_save_checkpoint(_url(tmp_path, "async")))["partitions"]
        tq_rs.init()
        assert asyncio.run(tq_rs.async_load_checkpoint(_url(tmp_path, "async")))["partitions"]
        assert sorted(tq_rs.kv_list()) == ["train", "val"]
        tq_rs.init()
        assert tq_rs.load_checkpoint(_url(tmp_path, "sync"))["checkpoint_id"] == manifest["checkpoint_id"]
        assert tq_rs.kv_list("val")["val"] == {"k": {"status": "done"}}
    finally:
        tq_rs.close()
