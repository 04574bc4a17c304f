"""Type stubs of tq_rs (the runtime docstrings are on the functions)."""

import os
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Mapping, Sequence

from . import errors as errors
from .errors import (
    CapacityExceeded as CapacityExceeded,
    ConfigError as ConfigError,
    Conflict as Conflict,
    Corrupted as Corrupted,
    InvalidArgument as InvalidArgument,
    InvalidData as InvalidData,
    NotFound as NotFound,
    Timeout as Timeout,
    TqError as TqError,
    Unavailable as Unavailable,
    Unexpected as Unexpected,
    Unsupported as Unsupported,
)

Config = None | str | os.PathLike[str] | Mapping[str, Any]
Output = Literal["numpy", "torch", "tensordict"]
Keys = Sequence[str] | str
FieldList = Sequence[str] | str | None
Tag = dict[str, Any]
# A row: field -> array/tensor (no batch dimension) or JSON-able value.
RowFields = Mapping[str, Any]
# A batch: field -> array [N, ...], or a list of N arrays (jagged) or values.
BatchFields = Mapping[str, Any]
MergeFn = Callable[[dict[str, Any]], dict[str, Any] | None]
Event = dict[str, Any]

class KVBatchMeta:
    """Keys, their tags, the partition and the fields a put wrote."""

    def __init__(
        self,
        keys: Sequence[str] | None = None,
        tags: Sequence[Tag] | None = None,
        partition_id: str | None = None,
        fields: Sequence[str] | None = None,
        extra_info: Mapping[str, Any] | None = None,
    ) -> None: ...
    @property
    def keys(self) -> list[str]: ...
    @property
    def tags(self) -> list[Tag]: ...
    @property
    def partition_id(self) -> str: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def extra_info(self) -> dict[str, Any]: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    def select_keys(self, keys_to_select: Sequence[str]) -> KVBatchMeta: ...
    def reorder(self, indexes: Sequence[int]) -> None: ...
    def chunk(self, chunks: int) -> list[KVBatchMeta]: ...
    @staticmethod
    def concat(metas: Sequence[KVBatchMeta]) -> KVBatchMeta: ...

class Buffer:
    """Read-only bytes of one fetched tensor (buffer protocol and DLPack)."""

    @property
    def address(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def dtype(self) -> str: ...
    @property
    def shape(self) -> list[int]: ...
    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[int, int] | None = None,
        dl_device: Any = None,
        copy: bool | None = None,
    ) -> Any: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...

class Watch:
    """The writes to one partition: an iterator and async iterator of events."""

    def get(self, timeout: float | None = None) -> Event | None: ...
    def __iter__(self) -> Iterator[Event]: ...
    def __next__(self) -> Event: ...
    def __aiter__(self) -> AsyncIterator[Event]: ...
    async def __anext__(self) -> Event: ...

class TransferQueue:
    """The kv_* API over the backend a config selects."""

    output: Output
    def __init__(self, config: Config = None, *, output: Output = "numpy") -> None: ...
    @property
    def backend(self) -> str: ...
    def kv_put(
        self,
        key: str,
        partition_id: str,
        fields: RowFields | None = None,
        tag: Tag | None = None,
        data_parser: None = None,
    ) -> KVBatchMeta: ...
    async def async_kv_put(
        self,
        key: str,
        partition_id: str,
        fields: RowFields | None = None,
        tag: Tag | None = None,
        data_parser: None = None,
    ) -> KVBatchMeta: ...
    def kv_batch_put(
        self,
        keys: Sequence[str],
        partition_id: str,
        fields: BatchFields | None = None,
        tags: Sequence[Tag] | None = None,
        data_parser: None = None,
    ) -> KVBatchMeta: ...
    async def async_kv_batch_put(
        self,
        keys: Sequence[str],
        partition_id: str,
        fields: BatchFields | None = None,
        tags: Sequence[Tag] | None = None,
        data_parser: None = None,
    ) -> KVBatchMeta: ...
    def kv_batch_get(
        self, keys: Keys, partition_id: str, select_fields: FieldList = None, *, output: Output | None = None
    ) -> Any: ...
    async def async_kv_batch_get(
        self, keys: Keys, partition_id: str, select_fields: FieldList = None, *, output: Output | None = None
    ) -> Any: ...
    def kv_batch_get_by_meta(
        self, meta: KVBatchMeta, select_fields: FieldList = None, *, output: Output | None = None
    ) -> Any: ...
    async def async_kv_batch_get_by_meta(
        self, meta: KVBatchMeta, select_fields: FieldList = None, *, output: Output | None = None
    ) -> Any: ...
    def kv_list(self, partition_id: str | None = None) -> dict[str, dict[str, Tag]]: ...
    async def async_kv_list(self, partition_id: str | None = None) -> dict[str, dict[str, Tag]]: ...
    def kv_clear(self, keys: Keys, partition_id: str, fields: FieldList = None) -> int: ...
    async def async_kv_clear(self, keys: Keys, partition_id: str, fields: FieldList = None) -> int: ...
    def kv_update(self, key: str, partition_id: str, fields: FieldList, merge_fn: MergeFn) -> KVBatchMeta: ...
    async def async_kv_update(
        self, key: str, partition_id: str, fields: FieldList, merge_fn: MergeFn
    ) -> KVBatchMeta: ...
    def kv_batch_update(
        self, keys: Sequence[str], partition_id: str, fields: FieldList, merge_fn: MergeFn
    ) -> KVBatchMeta: ...
    async def async_kv_batch_update(
        self, keys: Sequence[str], partition_id: str, fields: FieldList, merge_fn: MergeFn
    ) -> KVBatchMeta: ...
    def kv_wait(
        self, keys: Keys, partition_id: str, fields: FieldList = None, timeout: float | None = None
    ) -> None: ...
    async def async_kv_wait(
        self, keys: Keys, partition_id: str, fields: FieldList = None, timeout: float | None = None
    ) -> None: ...
    def kv_watch(self, partition_id: str) -> Watch: ...
    async def async_kv_watch(self, partition_id: str) -> Watch: ...
    def save_checkpoint(
        self,
        url: str,
        partition_ids: Keys | None = None,
        *,
        overwrite: bool = False,
        allow_fuzzy: bool = False,
    ) -> dict[str, Any]: ...
    async def async_save_checkpoint(
        self,
        url: str,
        partition_ids: Keys | None = None,
        *,
        overwrite: bool = False,
        allow_fuzzy: bool = False,
    ) -> dict[str, Any]: ...
    def load_checkpoint(
        self, url: str, partition_ids: Keys | None = None, *, replace: bool = False
    ) -> dict[str, Any]: ...
    async def async_load_checkpoint(
        self, url: str, partition_ids: Keys | None = None, *, replace: bool = False
    ) -> dict[str, Any]: ...

def init(config: Config = None, *, output: Output = "numpy") -> TransferQueue: ...
def close() -> None: ...
def kv_put(
    key: str,
    partition_id: str,
    fields: RowFields | None = None,
    tag: Tag | None = None,
    data_parser: None = None,
) -> KVBatchMeta: ...
def kv_batch_put(
    keys: Sequence[str],
    partition_id: str,
    fields: BatchFields | None = None,
    tags: Sequence[Tag] | None = None,
    data_parser: None = None,
) -> KVBatchMeta: ...
def kv_batch_get(
    keys: Keys, partition_id: str, select_fields: FieldList = None, *, output: Output | None = None
) -> Any: ...
def kv_batch_get_by_meta(
    meta: KVBatchMeta, select_fields: FieldList = None, *, output: Output | None = None
) -> Any: ...
def kv_list(partition_id: str | None = None) -> dict[str, dict[str, Tag]]: ...
def kv_clear(keys: Keys, partition_id: str, fields: FieldList = None) -> int: ...
def kv_update(key: str, partition_id: str, fields: FieldList, merge_fn: MergeFn) -> KVBatchMeta: ...
def kv_batch_update(
    keys: Sequence[str], partition_id: str, fields: FieldList, merge_fn: MergeFn
) -> KVBatchMeta: ...
def kv_wait(keys: Keys, partition_id: str, fields: FieldList = None, timeout: float | None = None) -> None: ...
def kv_watch(partition_id: str) -> Watch: ...
async def async_kv_put(
    key: str,
    partition_id: str,
    fields: RowFields | None = None,
    tag: Tag | None = None,
    data_parser: None = None,
) -> KVBatchMeta: ...
async def async_kv_batch_put(
    keys: Sequence[str],
    partition_id: str,
    fields: BatchFields | None = None,
    tags: Sequence[Tag] | None = None,
    data_parser: None = None,
) -> KVBatchMeta: ...
async def async_kv_batch_get(
    keys: Keys, partition_id: str, select_fields: FieldList = None, *, output: Output | None = None
) -> Any: ...
async def async_kv_batch_get_by_meta(
    meta: KVBatchMeta, select_fields: FieldList = None, *, output: Output | None = None
) -> Any: ...
async def async_kv_list(partition_id: str | None = None) -> dict[str, dict[str, Tag]]: ...
async def async_kv_clear(keys: Keys, partition_id: str, fields: FieldList = None) -> int: ...
async def async_kv_update(key: str, partition_id: str, fields: FieldList, merge_fn: MergeFn) -> KVBatchMeta: ...
async def async_kv_batch_update(
    keys: Sequence[str], partition_id: str, fields: FieldList, merge_fn: MergeFn
) -> KVBatchMeta: ...
async def async_kv_wait(
    keys: Keys, partition_id: str, fields: FieldList = None, timeout: float | None = None
) -> None: ...
async def async_kv_watch(partition_id: str) -> Watch: ...
def save_checkpoint(
    url: str,
    partition_ids: Keys | None = None,
    *,
    overwrite: bool = False,
    allow_fuzzy: bool = False,
) -> dict[str, Any]: ...
async def async_save_checkpoint(
    url: str,
    partition_ids: Keys | None = None,
    *,
    overwrite: bool = False,
    allow_fuzzy: bool = False,
) -> dict[str, Any]: ...
def load_checkpoint(
    url: str, partition_ids: Keys | None = None, *, replace: bool = False
) -> dict[str, Any]: ...
async def async_load_checkpoint(
    url: str, partition_ids: Keys | None = None, *, replace: bool = False
) -> dict[str, Any]: ...
