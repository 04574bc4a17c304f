"""Exceptions of tq_rs: one class per kind of tq-rs error, all under TqError.

Each also derives from the built-in exception a Python TransferQueue user
already catches for that situation (``ValueError`` for bad input and missing
keys, ``TimeoutError``, ``ConnectionError``), so existing ``except`` clauses
keep working.
"""

from __future__ import annotations

from typing import Any


class TqError(Exception):
    """Base class of every tq_rs error.

    Attributes:
        message: the whole message (operation, kind, text and context).
        key: the key (or keys, comma-separated) the error is about, or None.
        field: the field (or fields) the error is about, or None.
        partition: the partition, or None.
        context: every context pair of the error, by name.
        temporary: whether calling again later may succeed.
        operation: the kv_* call that failed (``"kv_batch_get"``), or "".
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        field: str | None = None,
        partition: str | None = None,
        context: dict[str, Any] | None = None,
        temporary: bool = False,
        operation: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.field = field
        self.partition = partition
        self.context = dict(context or {})
        self.temporary = temporary
        self.operation = operation

    def __str__(self) -> str:
        return self.message


class InvalidArgument(TqError, ValueError):
    """The call's arguments break the contract; nothing was written."""


class NotFound(TqError, ValueError):
    """A requested partition, key or field does not exist."""


class InvalidData(TqError, ValueError):
    """Stored data cannot be used as asked (mixed dtypes in one field, ...)."""


class CapacityExceeded(TqError):
    """The write would exceed a configured capacity; nothing was written."""


class Unsupported(TqError):
    """The backend or the calling context does not support the operation."""


class ConfigError(TqError, ValueError):
    """The configuration is invalid: unknown backend, setting or value."""


class Unavailable(TqError, ConnectionError):
    """The backend cannot be reached right now; usually temporary."""


class Corrupted(TqError):
    """Stored bytes failed to decode."""


class Conflict(TqError):
    """kv_update ran out of retries against concurrent writers; temporary."""


class Timeout(TqError, TimeoutError):
    """A wait ran out of time; the message names what is still missing."""


class Unexpected(TqError):
    """Anything else: a bug or an unexpected backend answer."""


__all__ = [
    "TqError",
    "InvalidArgument",
    "NotFound",
    "InvalidData",
    "CapacityExceeded",
    "Unsupported",
    "ConfigError",
    "Unavailable",
    "Corrupted",
    "Conflict",
    "Timeout",
    "Unexpected",
]
