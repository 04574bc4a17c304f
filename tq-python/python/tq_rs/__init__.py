"""tq_rs: the KV API of the Python TransferQueue, on tq-rs (Rust).

Rollout workers, reward models and trainers put and get per-sample tensor
data by string key, grouped in partitions, with a small JSON tag per sample::

    import numpy as np
    import tq_rs as tq

    tq.init()                                   # embedded, in memory
    tq.kv_batch_put(["a", "b"], "train", {"ids": np.arange(6).reshape(2, 3)},
                    tags=[{"status": "new"}] * 2)
    got = tq.kv_batch_get(["a", "b"], "train")  # {"ids": array [2, 3]}, a view

Arrays go in without a copy (buffer protocol or DLPack) and come out as
read-only numpy arrays (or torch tensors, ``output="torch"``) viewing the
fetched buffer. Every blocking call releases the GIL; the ``async_``
functions are coroutines on one shared Tokio runtime.
"""

from . import errors
from ._api import (
    KVBatchMeta,
    TransferQueue,
    async_kv_batch_get,
    async_kv_batch_get_by_meta,
    async_kv_batch_put,
    async_kv_batch_update,
    async_kv_clear,
    async_kv_list,
    async_kv_put,
    async_kv_update,
    async_kv_wait,
    async_kv_watch,
    async_load_checkpoint,
    async_save_checkpoint,
    close,
    init,
    kv_batch_get,
    kv_batch_get_by_meta,
    kv_batch_put,
    kv_batch_update,
    kv_clear,
    kv_list,
    kv_put,
    kv_update,
    kv_wait,
    kv_watch,
    load_checkpoint,
    save_checkpoint,
)
from ._native import Buffer, Watch
from .errors import *  # noqa: F403  (the exception classes, errors.__all__)

__all__ = [
    "init",
    "close",
    "TransferQueue",
    "KVBatchMeta",
    "Buffer",
    "Watch",
    "kv_put",
    "kv_batch_put",
    "kv_batch_get",
    "kv_batch_get_by_meta",
    "kv_list",
    "kv_clear",
    "kv_update",
    "kv_batch_update",
    "kv_wait",
    "kv_watch",
    "async_kv_put",
    "async_kv_batch_put",
    "async_kv_batch_get",
    "async_kv_batch_get_by_meta",
    "async_kv_list",
    "async_kv_clear",
    "async_kv_update",
    "async_kv_batch_update",
    "async_kv_wait",
    "async_kv_watch",
    "save_checkpoint",
    "load_checkpoint",
    "async_save_checkpoint",
    "async_load_checkpoint",
    "errors",
    *errors.__all__,
]
