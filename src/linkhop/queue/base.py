"""The click queue interface. Payloads are opaque bytes: this package holds no business logic.

Delivery contract (reliability.md §4.4): at-least-once. A consumer gets a ``Batch`` whose ``token``
is deterministic for exactly that set of entries: if the consumer dies before ``ack``, the next
``read_batch`` returns the SAME entries with the SAME token, so an idempotent sink (ClickHouse with
``insert_deduplication_token``) turns redelivery into effectively-once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Batch:
    """Entries handed to a consumer, with a token that names exactly this set."""

    token: str
    items: list[bytes]


class ClickPublisher(Protocol):
    """The producer side, used on the redirect hot path."""

    def publish(self, payload: bytes) -> None:
        """Queue one event without waiting on the network; durable against a process crash
        when this returns (the local spool) or buffered for a packed send (Redis Streams)."""
        ...

    async def flush(self) -> None:
        """Push out anything buffered."""
        ...

    async def close(self) -> None:
        """Flush and release resources."""
        ...


class ClickConsumer(Protocol):
    """The consumer side, used by the worker."""

    async def read_batch(self, max_items: int) -> Batch | None:
        """The next batch, or None when nothing is waiting. Replays an un-acked batch first."""
        ...

    async def ack(self, batch: Batch) -> None:
        """Mark every entry of ``batch`` as processed."""
        ...

    async def lag(self) -> int:
        """Entries published but not yet acked (for metrics and readiness)."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...
