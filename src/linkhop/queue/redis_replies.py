"""Shapes of redis-py's stream replies, narrowed to what the click stream uses (raw bytes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError


@dataclass(frozen=True, slots=True)
class Delivered:
    """One stream entry handed to this consumer: its id, fields (None once deleted from the
    stream, though still pending) and how many times the group has now delivered it."""

    entry_id: bytes
    fields: dict[bytes, bytes] | None
    deliveries: int


@dataclass(frozen=True, slots=True)
class PendingInfo:
    """One row of ``XPENDING … IDLE``: an entry a consumer holds without an ack."""

    entry_id: bytes
    consumer: bytes
    idle_ms: int
    deliveries: int


def as_bytes(value: object) -> bytes:
    """An id or name from a reply (bytes with ``decode_responses=False``)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"expected bytes in a Redis reply, got {type(value).__name__}")


def entries(reply: object) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    """``(id, fields)`` pairs of an XREADGROUP (RESP2 list or RESP3 map) or XCLAIM reply.

    A pending entry deleted from the stream comes back with no fields: it is reported as None.
    """
    if isinstance(reply, Mapping):  # RESP3 XREADGROUP: {stream: [[id, fields], ...]}
        rows: list[Any] = [row for batch in reply.values() for row in batch]
    elif isinstance(reply, list) and reply and isinstance(reply[0], list):  # RESP2 XREADGROUP
        rows = [row for _stream, batch in reply for row in batch]
    elif isinstance(reply, list):  # XCLAIM
        rows = reply
    else:
        rows = []
    out: list[tuple[bytes, dict[bytes, bytes] | None]] = []
    for entry_id, fields in rows:
        if not fields:
            out.append((as_bytes(entry_id), None))
        else:
            out.append((as_bytes(entry_id), {as_bytes(k): as_bytes(v) for k, v in fields.items()}))
    return out


def pending_rows(reply: Sequence[Mapping[str, Any]]) -> list[PendingInfo]:
    """The rows of an extended ``XPENDING`` reply."""
    return [
        PendingInfo(
            entry_id=as_bytes(row["message_id"]),
            consumer=as_bytes(row["consumer"]),
            idle_ms=int(row["time_since_delivered"]),
            deliveries=int(row["times_delivered"]),
        )
        for row in reply
    ]


def is_error(exc: ResponseError, code: str) -> bool:
    """Whether a Redis error reply starts with ``code`` (NOGROUP, BUSYGROUP, …)."""
    return str(exc).startswith(code)
