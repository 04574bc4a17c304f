"""The kv_* API: a TransferQueue class and module-level functions over a
default queue, with the Python TransferQueue's names and argument order."""

from __future__ import annotations

import os
from typing import Any, Callable

from . import _native, _tensordict
from .errors import InvalidArgument, Unsupported

KVBatchMeta = _native.KVBatchMeta

_OUTPUTS = ("numpy", "torch", "tensordict")


def _check_output(output: str) -> None:
    if output not in _OUTPUTS:
        raise InvalidArgument(
            f'output must be "numpy", "torch" or "tensordict", got {output!r}', field="output"
        )


def _no_parser(data_parser: Any, op: str) -> None:
    if data_parser is not None:
        raise Unsupported(
            f"{op}: data_parser is not supported by tq_rs; resolve references before the put",
            field="data_parser",
        )


class TransferQueue:
    """The kv_* API over the backend a config selects.

    ``config``: None (the file ``TQ_CONFIG`` names, else the embedded
    in-memory backend), a path to a TOML file, or a dict of the same tables
    (``{"backend": "rocksdb", "rocksdb": {"path": "/data/tq"}}``).
    ``output``: what gets return tensors as by default: ``"numpy"``
    (read-only arrays viewing the fetched buffer), ``"torch"`` (tensors
    viewing it, through DLPack) or ``"tensordict"``.
    """

    def __init__(self, config: Any = None, *, output: str = "numpy") -> None:
        _check_output(output)
        self._q = _native.TransferQueue(config)
        self.output = output

    @property
    def backend(self) -> str:
        """The backend's name: ``"memory"``, ``"rocksdb"`` or ``"redis"``."""
        return self._q.backend

    def _out(self, output: str | None) -> str:
        output = self.output if output is None else output
        _check_output(output)
        return output

    def _finish(self, columns: dict[str, Any], output: str, num_rows: int) -> Any:
        if output == "tensordict":
            return _tensordict.to_tensordict(columns, num_rows)
        return columns

    # ---- puts --------------------------------------------------------------

    def kv_put(
        self,
        key: str,
        partition_id: str,
        fields: Any = None,
        tag: dict[str, Any] | None = None,
        data_parser: Callable[[Any], Any] | None = None,
    ) -> KVBatchMeta:
        """Inserts or updates one row: ``fields`` maps field -> value (an
        array or tensor without batch dimension, or a JSON-able value); the
        ``tag`` is shallow-merged into the row's tag."""
        if data_parser is not None:
            _no_parser(data_parser, "kv_put")
        if fields is not None and type(fields) is not dict:
            fields = _tensordict.row_in(fields)
        return self._q.kv_put(key, partition_id, fields, tag)

    async def async_kv_put(
        self,
        key: str,
        partition_id: str,
        fields: Any = None,
        tag: dict[str, Any] | None = None,
        data_parser: Callable[[Any], Any] | None = None,
    ) -> KVBatchMeta:
        """``kv_put`` as a coroutine."""
        _no_parser(data_parser, "async_kv_put")
        if fields is not None and type(fields) is not dict:
            fields = _tensordict.row_in(fields)
        return await self._q.async_kv_put(key, partition_id, fields, tag)

    def kv_batch_put(
        self,
        keys: list[str],
        partition_id: str,
        fields: Any = None,
        tags: list[dict[str, Any]] | None = None,
        data_parser: Callable[[Any], Any] | None = None,
    ) -> KVBatchMeta:
        """Inserts or updates many rows: ``fields`` maps field -> an array
        whose leading dimension is the rows (split without copying), or a
        list with one value per row (tensors: a jagged field)."""
        _no_parser(data_parser, "kv_batch_put")
        return self._q.kv_batch_put(keys, partition_id, _tensordict.columns_in(fields), tags)

    async def async_kv_batch_put(
        self,
        keys: list[str],
        partition_id: str,
        fields: Any = None,
        tags: list[dict[str, Any]] | None = None,
        data_parser: Callable[[Any], Any] | None = None,
    ) -> KVBatchMeta:
        """``kv_batch_put`` as a coroutine."""
        _no_parser(data_parser, "async_kv_batch_put")
        return await self._q.async_kv_batch_put(
            keys, partition_id, _tensordict.columns_in(fields), tags
        )

    # ---- gets --------------------------------------------------------------

    def kv_batch_get(
        self,
        keys: list[str] | str,
        partition_id: str,
        select_fields: list[str] | str | None = None,
        *,
        output: str | None = None,
    ) -> Any:
        """Reads rows, in the order asked: a dict field -> column (or a
        TensorDict). A missing key is ``NotFound``."""
        out = self._out(output)
        native = "numpy" if out == "numpy" else "torch"
        columns = self._q.kv_batch_get(keys, partition_id, select_fields, output=native)
        n = 1 if isinstance(keys, str) else len(keys)
        return self._finish(columns, out, n)

    async def async_kv_batch_get(
        self,
        keys: list[str] | str,
        partition_id: str,
        select_fields: list[str] | str | None = None,
        *,
        output: str | None = None,
    ) -> Any:
        """``kv_batch_get`` as a coroutine."""
        out = self._out(output)
        native = "numpy" if out == "numpy" else "torch"
        columns = await self._q.async_kv_batch_get(
            keys, partition_id, select_fields, output=native
        )
        n = 1 if isinstance(keys, str) else len(keys)
        return self._finish(columns, out, n)

    def kv_batch_get_by_meta(
        self,
        meta: KVBatchMeta,
        select_fields: list[str] | str | None = None,
        *,
        output: str | None = None,
    ) -> Any:
        """Reads the rows and fields a put's meta names."""
        out = self._out(output)
        native = "numpy" if out == "numpy" else "torch"
        columns = self._q.kv_batch_get_by_meta(meta, select_fields, output=native)
        return self._finish(columns, out, len(meta))

    async def async_kv_batch_get_by_meta(
        self,
        meta: KVBatchMeta,
        select_fields: list[str] | str | None = None,
        *,
        output: str | None = None,
    ) -> Any:
        """``kv_batch_get_by_meta`` as a coroutine."""
        out = self._out(output)
        native = "numpy" if out == "numpy" else "torch"
        columns = await self._q.async_kv_batch_get_by_meta(meta, select_fields, output=native)
        return self._finish(columns, out, len(meta))

    # ---- list and clear ----------------------------------------------------

    def kv_list(self, partition_id: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """partition -> key -> tag; keys in first-insertion order."""
        return self._q.kv_list(partition_id)

    async def async_kv_list(
        self, partition_id: str | None = None
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """``kv_list`` as a coroutine."""
        return await self._q.async_kv_list(partition_id)

    def kv_clear(
        self, keys: list[str] | str, partition_id: str, fields: list[str] | str | None = None
    ) -> int:
        """Removes whole rows, or only ``fields`` of them (the rows stay);
        returns how many of the keys were rows."""
        return self._q.kv_clear(keys, partition_id, fields)

    async def async_kv_clear(
        self, keys: list[str] | str, partition_id: str, fields: list[str] | str | None = None
    ) -> int:
        """``kv_clear`` as a coroutine."""
        return await self._q.async_kv_clear(keys, partition_id, fields)

    # ---- update, wait, watch -----------------------------------------------

    def kv_update(
        self,
        key: str,
        partition_id: str,
        fields: list[str] | str | None,
        merge_fn: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> KVBatchMeta:
        """Atomically reads the row (its ``fields`` and tag), calls
        ``merge_fn(row)`` and writes what it returns, retrying when another
        writer got there first. ``row`` is ``{"key", "exists", "fields",
        "tag"}``; return None (no change) or ``{"fields": {...}, "tag":
        {...}}``. The function may run more than once."""
        return self._q.kv_update(key, partition_id, fields, merge_fn)

    async def async_kv_update(
        self,
        key: str,
        partition_id: str,
        fields: list[str] | str | None,
        merge_fn: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> KVBatchMeta:
        """``kv_update`` as a coroutine (``merge_fn`` runs on a worker thread)."""
        return await self._q.async_kv_update(key, partition_id, fields, merge_fn)

    def kv_batch_update(
        self,
        keys: list[str],
        partition_id: str,
        fields: list[str] | str | None,
        merge_fn: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> KVBatchMeta:
        """``kv_update`` of each key (atomic per row)."""
        return self._q.kv_batch_update(keys, partition_id, fields, merge_fn)

    async def async_kv_batch_update(
        self,
        keys: list[str],
        partition_id: str,
        fields: list[str] | str | None,
        merge_fn: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> KVBatchMeta:
        """``kv_batch_update`` as a coroutine."""
        return await self._q.async_kv_batch_update(keys, partition_id, fields, merge_fn)

    def kv_wait(
        self,
        keys: list[str] | str,
        partition_id: str,
        fields: list[str] | str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Returns when every key holds every field (or exists, without
        ``fields``), woken by the writes; ``Timeout`` after ``timeout``
        seconds (None: no limit), naming what is missing."""
        return self._q.kv_wait(keys, partition_id, fields, timeout)

    async def async_kv_wait(
        self,
        keys: list[str] | str,
        partition_id: str,
        fields: list[str] | str | None = None,
        timeout: float | None = None,
    ) -> None:
        """``kv_wait`` as a coroutine."""
        return await self._q.async_kv_wait(keys, partition_id, fields, timeout)

    # ---- checkpoints ---------------------------------------------------------

    def save_checkpoint(
        self,
        url: str,
        partition_ids: str | list[str] | None = None,
        *,
        overwrite: bool = False,
        allow_fuzzy: bool = False,
    ) -> dict[str, Any]:
        """Saves partitions (``partition_ids``; all when None) as a checkpoint
        at ``url`` (``file://``, ``memory://``; ``s3://``, ``gs://``,
        ``az://`` when the extension was built with those features) and
        returns its manifest. An existing checkpoint there is refused unless
        ``overwrite``; a partition that changed during the save is refused
        (``Conflict``) unless ``allow_fuzzy`` accepts a copy that is not of
        one instant."""
        return self._q.save_checkpoint(
            url, partition_ids, overwrite=overwrite, allow_fuzzy=allow_fuzzy
        )

    async def async_save_checkpoint(
        self,
        url: str,
        partition_ids: str | list[str] | None = None,
        *,
        overwrite: bool = False,
        allow_fuzzy: bool = False,
    ) -> dict[str, Any]:
        """``save_checkpoint`` as a coroutine."""
        return await self._q.async_save_checkpoint(
            url, partition_ids, overwrite=overwrite, allow_fuzzy=allow_fuzzy
        )

    def load_checkpoint(
        self,
        url: str,
        partition_ids: str | list[str] | None = None,
        *,
        replace: bool = False,
    ) -> dict[str, Any]:
        """Loads the checkpoint at ``url`` (its ``partition_ids``; all when
        None) and returns its manifest. Every object is verified before
        anything is written; a missing, partial or corrupted checkpoint
        raises and writes nothing. A target partition that holds keys is
        refused unless ``replace`` clears it first."""
        return self._q.load_checkpoint(url, partition_ids, replace=replace)

    async def async_load_checkpoint(
        self,
        url: str,
        partition_ids: str | list[str] | None = None,
        *,
        replace: bool = False,
    ) -> dict[str, Any]:
        """``load_checkpoint`` as a coroutine."""
        return await self._q.async_load_checkpoint(url, partition_ids, replace=replace)

    def kv_watch(self, partition_id: str) -> Any:
        """The writes to ``partition_id`` from now on: an iterator of event
        dicts (``{"type": "put" | "clear" | "lagged", ...}``), also an async
        iterator; ``.get(timeout)`` waits at most ``timeout`` seconds."""
        return self._q.kv_watch(partition_id)

    async def async_kv_watch(self, partition_id: str) -> Any:
        """``kv_watch`` as a coroutine."""
        return await self._q.async_kv_watch(partition_id)


# ---- the module-level API over a default queue ------------------------------

_default: TransferQueue | None = None


def init(config: Any = None, *, output: str = "numpy") -> TransferQueue:
    """Opens the default queue that the module-level kv_* functions use:
    ``config`` is None (``TQ_CONFIG``, else in-memory), a TOML file path,
    or a dict. Calling it again replaces the default queue."""
    global _default
    if config is not None and not isinstance(config, (dict, str, os.PathLike)):
        raise InvalidArgument(
            f"config must be None, a path or a dict, got {type(config).__name__}",
            field="config",
        )
    _default = TransferQueue(config, output=output)
    return _default


def close() -> None:
    """Drops the default queue (the next kv_* call opens a new one)."""
    global _default
    _default = None


def _q() -> TransferQueue:
    # Like the Python TransferQueue, a call before init() initialises.
    return _default if _default is not None else init()


def kv_put(key, partition_id, fields=None, tag=None, data_parser=None):  # noqa: D103
    return _q().kv_put(key, partition_id, fields, tag, data_parser)


def kv_batch_put(keys, partition_id, fields=None, tags=None, data_parser=None):  # noqa: D103
    return _q().kv_batch_put(keys, partition_id, fields, tags, data_parser)


def kv_batch_get(keys, partition_id, select_fields=None, *, output=None):  # noqa: D103
    return _q().kv_batch_get(keys, partition_id, select_fields, output=output)


def kv_batch_get_by_meta(meta, select_fields=None, *, output=None):  # noqa: D103
    return _q().kv_batch_get_by_meta(meta, select_fields, output=output)


def kv_list(partition_id=None):  # noqa: D103
    return _q().kv_list(partition_id)


def kv_clear(keys, partition_id, fields=None):  # noqa: D103
    return _q().kv_clear(keys, partition_id, fields)


def kv_update(key, partition_id, fields, merge_fn):  # noqa: D103
    return _q().kv_update(key, partition_id, fields, merge_fn)


def kv_batch_update(keys, partition_id, fields, merge_fn):  # noqa: D103
    return _q().kv_batch_update(keys, partition_id, fields, merge_fn)


def kv_wait(keys, partition_id, fields=None, timeout=None):  # noqa: D103
    return _q().kv_wait(keys, partition_id, fields, timeout)


def kv_watch(partition_id):  # noqa: D103
    return _q().kv_watch(partition_id)


def save_checkpoint(url, partition_ids=None, *, overwrite=False, allow_fuzzy=False):  # noqa: D103
    return _q().save_checkpoint(url, partition_ids, overwrite=overwrite, allow_fuzzy=allow_fuzzy)


def load_checkpoint(url, partition_ids=None, *, replace=False):  # noqa: D103
    return _q().load_checkpoint(url, partition_ids, replace=replace)


async def async_save_checkpoint(  # noqa: D103
    url, partition_ids=None, *, overwrite=False, allow_fuzzy=False
):
    return await _q().async_save_checkpoint(
        url, partition_ids, overwrite=overwrite, allow_fuzzy=allow_fuzzy
    )


async def async_load_checkpoint(url, partition_ids=None, *, replace=False):  # noqa: D103
    return await _q().async_load_checkpoint(url, partition_ids, replace=replace)


async def async_kv_put(key, partition_id, fields=None, tag=None, data_parser=None):  # noqa: D103
    return await _q().async_kv_put(key, partition_id, fields, tag, data_parser)


async def async_kv_batch_put(keys, partition_id, fields=None, tags=None, data_parser=None):  # noqa: D103
    return await _q().async_kv_batch_put(keys, partition_id, fields, tags, data_parser)


async def async_kv_batch_get(keys, partition_id, select_fields=None, *, output=None):  # noqa: D103
    return await _q().async_kv_batch_get(keys, partition_id, select_fields, output=output)


async def async_kv_batch_get_by_meta(meta, select_fields=None, *, output=None):  # noqa: D103
    return await _q().async_kv_batch_get_by_meta(meta, select_fields, output=output)


async def async_kv_list(partition_id=None):  # noqa: D103
    return await _q().async_kv_list(partition_id)


async def async_kv_clear(keys, partition_id, fields=None):  # noqa: D103
    return await _q().async_kv_clear(keys, partition_id, fields)


async def async_kv_update(key, partition_id, fields, merge_fn):  # noqa: D103
    return await _q().async_kv_update(key, partition_id, fields, merge_fn)


async def async_kv_batch_update(keys, partition_id, fields, merge_fn):  # noqa: D103
    return await _q().async_kv_batch_update(keys, partition_id, fields, merge_fn)


async def async_kv_wait(keys, partition_id, fields=None, timeout=None):  # noqa: D103
    return await _q().async_kv_wait(keys, partition_id, fields, timeout)


async def async_kv_watch(partition_id):  # noqa: D103
    return await _q().async_kv_watch(partition_id)


# The module-level functions share the methods' docstrings.
_SHARED = ("kv_", "async_kv_", "save_checkpoint", "load_checkpoint",
           "async_save_checkpoint", "async_load_checkpoint")
for _name in [n for n in dir(TransferQueue) if n.startswith(_SHARED)]:
    globals()[_name].__doc__ = getattr(TransferQueue, _name).__doc__
del _name
