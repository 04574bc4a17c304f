"""Bad input: clear errors naming partition, key and field; a rejected call
writes nothing; one exception class per error kind."""

from __future__ import annotations

import numpy as np
import pytest

import tq_rs
from tq_rs import errors


def assert_nothing_written(tq, partition="p"):
    assert tq.kv_list(partition).get(partition, {}) == {}


def test_exception_classes():
    kinds = ["InvalidArgument", "NotFound", "InvalidData", "CapacityExceeded", "Unsupported",
             "ConfigError", "Unavailable", "Corrupted", "Conflict", "Timeout", "Unexpected"]
    for name in kinds:
        cls = getattr(tq_rs, name)
        assert issubclass(cls, tq_rs.TqError), name
    assert issubclass(tq_rs.InvalidArgument, ValueError)
    assert issubclass(tq_rs.NotFound, ValueError)
    assert issubclass(tq_rs.Timeout, TimeoutError)
    assert issubclass(tq_rs.Unavailable, ConnectionError)
    assert set(kinds) | {"TqError"} == set(errors.__all__)


def test_missing_keys_are_not_found_naming_them(tq):
    tq.kv_put("a", "p", None, {"s": 1})
    with pytest.raises(tq_rs.NotFound) as err:
        tq.kv_batch_get(["a", "ghost"], "p")
    assert err.value.partition == "p"
    assert "ghost" in err.value.key
    assert err.value.operation == "kv_batch_get"
    assert "ghost" in str(err.value)


def test_non_contiguous_array_names_key_and_field(tq):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4).T
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_put("k", "p", {"ok": np.zeros(2), "bad": arr})
    assert (err.value.key, err.value.field, err.value.partition) == ("k", "bad", "p")
    assert "contiguous" in str(err.value)
    assert_nothing_written(tq)


def test_unsupported_dtypes_name_the_field(tq):
    for bad in [np.zeros(2, np.complex64), np.zeros(2, dtype=">f4"), np.array(["a", "b"]),
                np.zeros(2, dtype=[("a", "i4")])]:
        with pytest.raises(tq_rs.InvalidArgument) as err:
            tq.kv_batch_put(["a", "b"], "p", {"good": np.zeros((2, 1)), "f": bad})
        assert err.value.field == "f", bad.dtype
        assert err.value.partition == "p"
    assert_nothing_written(tq)


def test_non_json_values_and_tags(tq):
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_put("k", "p", {"obj": object()})
    assert err.value.field == "obj" and err.value.key == "k"
    assert "not JSON-able" in str(err.value)
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_put("k", "p", None, {"score": float("nan")})
    assert err.value.key == "k"
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_put("k", "p", None, {1: "int key"})
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_put("k", "p", None, {"big": 2**70})
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_put("k", "p", None, {"loop": cyclic})
    deep: dict = {}
    node = deep
    for _ in range(70):
        node["d"] = {}
        node = node["d"]
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_put("k", "p", None, deep)
    assert_nothing_written(tq)


def test_batch_shape_and_length_errors_write_nothing(tq):
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_batch_put(["a", "b"], "p", {"x": np.zeros((3, 2))})
    assert err.value.field == "x"
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_batch_put(["a", "b"], "p", {"x": np.zeros((2, 2))}, [{"t": 1}])
    assert "tags" in str(err.value)
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_batch_put(["a", "b"], "p", {"x": [np.zeros(1), "text"]})
    assert err.value.field == "x"
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_batch_put(["a", "b"], "p", {"x": 5})
    assert err.value.field == "x"
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_batch_put(["a", "a"], "p", {"x": np.zeros((2, 2))})
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_batch_put(["a", "b"], "p", {"x": [np.zeros(1, np.float32), np.zeros(1, np.float64)]})
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_batch_put(["a", "b"], "p", ["not", "a dict"])
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_put("a", "p")
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_put("a", "", {"x": np.zeros(1)})
    assert_nothing_written(tq)


def test_a_rejected_put_keeps_the_rows_it_would_have_changed(tq):
    tq.kv_batch_put(["a", "b"], "p", {"x": np.ones((2, 2), np.float32)}, [{"v": 1}, {"v": 1}])
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_batch_put(["a", "b"], "p", {"x": np.zeros((2, 2), np.float32), "y": [object(), 1]},
                        [{"v": 2}, {"v": 2}])
    assert tq.kv_batch_get(["a", "b"], "p")["x"].tolist() == [[1, 1], [1, 1]]
    assert tq.kv_list("p")["p"]["a"] == {"v": 1}


def test_merge_fn_errors_are_raised_and_write_nothing(tq):
    def boom(row):
        raise RuntimeError("merge failed")

    with pytest.raises(RuntimeError, match="merge failed"):
        tq.kv_update("k", "p", None, boom)
    with pytest.raises(tq_rs.InvalidArgument) as err:
        tq.kv_update("k", "p", None, lambda row: 42)
    assert err.value.key == "k"
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_update("k", "p", None, lambda row: {"oops": 1})
    assert_nothing_written(tq)


def test_blocking_call_inside_merge_fn_is_unsupported(tq):
    def nested(row):
        tq.kv_list("p")
        return None

    with pytest.raises(tq_rs.Unsupported):
        tq.kv_update("k", "p", None, nested)


def test_bad_output_timeout_and_parser(tq):
    tq.kv_put("k", "p", {"x": np.zeros(1)})
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_batch_get("k", "p", output="pandas")
    with pytest.raises(tq_rs.InvalidArgument):
        tq.kv_wait("k", "p", timeout=-1)
    with pytest.raises(tq_rs.Unsupported):
        tq.kv_put("k", "p", {"x": np.zeros(1)}, data_parser=lambda d: d)


def test_config_errors_name_the_setting(tmp_path):
    with pytest.raises(tq_rs.ConfigError) as err:
        tq_rs.TransferQueue({"backend": "memory", "memory": {"capacity": 1}})
    assert "capacity" in str(err.value)
    with pytest.raises(tq_rs.ConfigError) as err:
        tq_rs.TransferQueue({"backend": "nosuch"})
    assert "nosuch" in str(err.value)
    with pytest.raises(tq_rs.ConfigError):
        tq_rs.TransferQueue(tmp_path / "missing.toml")
    with pytest.raises(tq_rs.ConfigError):
        tq_rs.TransferQueue({"backend": None})
    with pytest.raises(tq_rs.InvalidArgument):
        tq_rs.init(42)
