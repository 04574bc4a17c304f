"""TensorDict in and out (optional: only used when tensordict is installed).

Inputs: a TensorDict becomes a dict of columns (nested tensors become lists
of per-row tensors, non-tensor stacks lists of values). Outputs: a dict of
torch tensors becomes a TensorDict (jagged fields as nested tensors with the
jagged layout, which copies their rows; non-tensor fields as NonTensorStack).
"""

from __future__ import annotations

import sys
from typing import Any


def is_tensordict(obj: Any) -> bool:
    """Whether ``obj`` is a TensorDict (without importing tensordict)."""
    if "tensordict" not in sys.modules:
        return False
    from tensordict import TensorDictBase

    return isinstance(obj, TensorDictBase)


def _column(value: Any) -> Any:
    if getattr(value, "is_nested", False):
        return list(value.unbind(0))
    name = type(value).__name__
    if name in ("NonTensorStack", "NonTensorData"):
        return value.tolist()
    return value


def columns_in(fields: Any) -> Any:
    """The columns of a batch put as a plain dict (a TensorDict converted)."""
    if fields is None:
        return None
    if is_tensordict(fields):
        return {k: _column(fields.get(k)) for k in fields.keys()}
    if type(fields) is dict and "torch" in sys.modules:
        return {k: _column(v) for k, v in fields.items()}
    return fields


def row_in(fields: Any) -> Any:
    """The fields of a one-row put: a TensorDict of batch size [1] loses
    its batch dimension, as the Python TransferQueue adds one to a dict."""
    if is_tensordict(fields):
        out = {}
        for k in fields.keys():
            v = fields.get(k)
            name = type(v).__name__
            if name in ("NonTensorStack", "NonTensorData"):
                values = v.tolist()
                out[k] = values[0] if isinstance(values, list) and len(values) == 1 else values
            else:
                out[k] = v[0]
        return out
    return fields


def to_tensordict(columns: dict[str, Any], num_rows: int) -> Any:
    """A TensorDict of ``num_rows`` rows from a dict of torch columns."""
    import torch
    from tensordict import NonTensorStack, TensorDict

    out: dict[str, Any] = {}
    for name, value in columns.items():
        if isinstance(value, list):
            if value and isinstance(value[0], torch.Tensor):
                out[name] = torch.nested.as_nested_tensor(value, layout=torch.jagged)
            else:
                out[name] = NonTensorStack.from_list(value)
        else:
            out[name] = value
    return TensorDict(out, batch_size=[num_rows])
