"""torch and TensorDict (run only where torch is installed: see the README)."""

from __future__ import annotations

import numpy as np
import pytest

import tq_rs

torch = pytest.importorskip("torch")


def test_torch_tensors_in_and_out_without_copies(mem):
    t = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    mem.kv_batch_put(["a", "b"], "p", {"x": t})
    t[0, 0] = 5.0  # the store kept the tensor's memory (no copy on put)
    got = mem.kv_batch_get(["a", "b"], "p", output="torch")["x"]
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert got[0, 0].item() == 5.0
    again = mem.kv_batch_get(["a", "b"], "p", output="numpy")["x"]
    assert got.data_ptr() != t.data_ptr() and again.shape == (2, 4)


def test_bfloat16_round_trips_through_torch_and_is_refused_as_numpy(mem):
    t = torch.tensor([[1.5, -2.0]], dtype=torch.bfloat16)
    mem.kv_batch_put(["a"], "p", {"x": t})
    got = mem.kv_batch_get(["a"], "p", output="torch")["x"]
    assert got.dtype == torch.bfloat16 and torch.equal(got, t)
    with pytest.raises(tq_rs.Unsupported) as err:
        mem.kv_batch_get(["a"], "p")
    assert err.value.field == "x"


def test_nested_tensor_goes_in_as_jagged_rows(mem):
    nested = torch.nested.nested_tensor([torch.ones(1), torch.ones(3)], layout=torch.jagged)
    mem.kv_batch_put(["a", "b"], "p", {"r": nested})
    got = mem.kv_batch_get(["a", "b"], "p", output="torch")["r"]
    assert [g.shape[0] for g in got] == [1, 3]


def test_tensordict_in_and_out(mem):
    tensordict = pytest.importorskip("tensordict")
    td = tensordict.TensorDict({"x": torch.zeros(2, 3), "y": torch.ones(2, 1)}, batch_size=[2])
    mem.kv_batch_put(["a", "b"], "p", td)
    got = mem.kv_batch_get(["a", "b"], "p", output="tensordict")
    assert isinstance(got, tensordict.TensorDict)
    assert got.batch_size == torch.Size([2])
    assert torch.equal(got["x"], td["x"])
    one = tensordict.TensorDict({"x": torch.full((1, 3), 2.0)}, batch_size=[1])
    mem.kv_put("c", "p", one)
    assert np.asarray(mem.kv_batch_get("c", "p")["x"]).tolist() == [[2.0, 2.0, 2.0]]
