"""Zero copy: a put keeps the caller's buffer (buffer protocol or DLPack),
and a get returns arrays that view the fetched buffer."""

from __future__ import annotations

import numpy as np
import pytest

import tq_rs


def address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def test_put_keeps_the_callers_buffer_and_get_views_its_result(mem):
    # The memory backend stores the bytes it is given: if the put had copied
    # the array, changing the array afterwards could not show in a get.
    arr = np.arange(8, dtype=np.float32).reshape(2, 4)
    mem.kv_batch_put(["a", "b"], "p", {"x": arr})
    arr[1, 3] = 99.0
    got = mem.kv_batch_get(["a", "b"], "p")["x"]
    assert got[1, 3] == 99.0
    # The result views a tq_rs buffer: same address, no copy on the way out.
    buf = got.base.obj if isinstance(got.base, memoryview) else got.base
    assert isinstance(buf, tq_rs.Buffer)
    assert address(got) == buf.address
    assert buf.nbytes == got.nbytes and buf.shape == [2, 4] and buf.dtype == "float32"
    assert address(got) != address(arr)
    assert not got.flags.writeable


def test_single_row_put_keeps_the_buffer(mem):
    arr = np.zeros(3, dtype=np.int64)
    mem.kv_put("k", "p", {"x": arr})
    arr[0] = 7
    assert mem.kv_batch_get("k", "p")["x"].tolist() == [[7, 0, 0]]


def test_jagged_rows_view_one_buffer(mem):
    rows = [np.arange(n, dtype=np.int32) for n in (1, 2, 3)]
    mem.kv_batch_put(["a", "b", "c"], "p", {"r": rows})
    got = mem.kv_batch_get(["a", "b", "c"], "p")["r"]
    assert [g.tolist() for g in got] == [[0], [0, 1], [0, 1, 2]]
    # Row i starts where row i - 1 ends: slices of one fetched buffer.
    assert address(got[1]) == address(got[0]) + 4
    assert address(got[2]) == address(got[1]) + 8


def test_dlpack_out_views_the_same_bytes(mem):
    mem.kv_batch_put(["a", "b"], "p", {"x": np.arange(6, dtype=np.float64).reshape(2, 3)})
    got = mem.kv_batch_get(["a", "b"], "p")["x"]
    buf = got.base.obj if isinstance(got.base, memoryview) else got.base
    via_dlpack = np.from_dlpack(buf)
    assert via_dlpack.shape == (2, 3) and via_dlpack.dtype == np.float64
    assert address(via_dlpack) == address(got)
    np.testing.assert_array_equal(via_dlpack, got)


class DLPackOnly:
    """A tensor that only speaks DLPack (like a torch tensor), over numpy."""

    def __init__(self, arr):
        self.arr = arr

    def __dlpack__(self, stream=None, **kwargs):
        return self.arr.__dlpack__()

    def __dlpack_device__(self):
        return self.arr.__dlpack_device__()


def test_dlpack_in_without_a_copy(mem):
    arr = np.arange(4, dtype=np.int16).reshape(2, 2)
    mem.kv_batch_put(["a", "b"], "p", {"x": DLPackOnly(arr)})
    arr[0, 0] = 42
    got = mem.kv_batch_get(["a", "b"], "p")["x"]
    assert got.dtype == np.int16 and got.tolist() == [[42, 1], [2, 3]]


def test_dlpack_in_rejects_non_contiguous(mem):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)[:, ::2]
    with pytest.raises(tq_rs.InvalidArgument) as err:
        mem.kv_batch_put(["a", "b"], "p", {"x": DLPackOnly(arr)})
    assert err.value.field == "x" and "contiguous" in str(err.value)
    assert mem.kv_list("p") == {} or mem.kv_list("p").get("p") == {}


def test_buffers_outlive_the_queue_and_the_rows(mem):
    mem.kv_batch_put(["a"], "p", {"x": np.full((1, 1000), 3.0)})
    got = mem.kv_batch_get(["a"], "p")["x"]
    mem.kv_clear(["a"], "p")
    del mem
    assert float(got.sum()) == 3000.0


def test_zero_dim_and_scalar_values(mem):
    mem.kv_put("k", "p", {"s": np.float32(2.5), "z": np.array(7, dtype=np.int64)})
    got = mem.kv_batch_get("k", "p")
    assert got["s"].shape == (1,) and got["s"][0] == np.float32(2.5)
    assert got["z"].tolist() == [7]
