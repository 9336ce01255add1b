"""Operator chores on the click stream and its dead-letter stream: status, list, redrive, purge.

Plain functions over a redis-py bytes client (``redis_client.stream_client``); ``linkhop queue``
wires them to the command line.

Redrive puts a dead-lettered entry's ORIGINAL fields (the packed ``v``/``n``/``e`` the redirect
published, ``redis_entries.py``) back on the click stream, never the DLQ wrapper, and deletes it
from the DLQ in the same Lua script: Redis runs a script atomically, so each entry is either
still in the DLQ or back on the stream, never both or neither. (Redis Cluster: both keys must
share a hash slot, as the default names ``linkhop:{clicks}`` and ``linkhop:{clicks}:dlq`` do.)
The re-added entry gets a new id after the group's last-delivered one, so the group reads it as
new; its events keep their ``click_id``, so a partly stored batch is deduplicated by the sink.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from linkhop.queue.redis_client import require_bytes_client
from linkhop.queue.redis_entries import EVENTS_FIELD, MalformedEntry, id_key, unpack_events
from linkhop.queue.redis_group import (
    DLQ_CONSUMER,
    DLQ_DELIVERIES,
    DLQ_GROUP,
    DLQ_REASON,
    DLQ_SOURCE_ID,
    DLQ_STREAM,
)
from linkhop.queue.redis_replies import as_bytes, entries, is_error

_DLQ_FIELDS = frozenset(
    {DLQ_REASON, DLQ_SOURCE_ID, DLQ_STREAM, DLQ_GROUP, DLQ_CONSUMER, DLQ_DELIVERIES}
)
_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_PAGE = 100  # DLQ entries read, and moved by one script call, at a time
PREVIEW_BYTES = 64

# KEYS: dlq, stream. ARGV: count, then per entry: dlq id, 2k, k field/value pairs.
# Checks every id first, so a missing one moves nothing; then XADD + XDEL each.
_REDRIVE = """
local n = tonumber(ARGV[1])
local pos = 2
local plan = {}
for i = 1, n do
  local id = ARGV[pos]
  local width = tonumber(ARGV[pos + 1])
  if #redis.call('XRANGE', KEYS[1], id, id) == 0 then
    return redis.error_reply('NOENTRY ' .. id)
  end
  plan[i] = {id, pos + 2, pos + 1 + width}
  pos = pos + 2 + width
end
local moved = {}
for i = 1, n do
  local entry = plan[i]
  local args = {'XADD', KEYS[2], '*'}
  for j = entry[2], entry[3] do
    args[#args + 1] = ARGV[j]
  end
  moved[i] = redis.call(unpack(args))
  redis.call('XDEL', KEYS[1], entry[1])
end
return moved
"""


class UnknownEntries(LookupError):
    """Ids asked for that are not in the dead-letter stream (nothing was moved)."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(", ".join(ids))
        self.ids = list(ids)


class MalformedEntries(ValueError):
    """Ids asked for whose payload the worker would reject again (nothing was moved)."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{i}: {r}" for i, r in reasons.items()))
        self.reasons = dict(reasons)


@dataclass(frozen=True, slots=True)
class ConsumerStatus:
    """One consumer of the group, per ``XINFO CONSUMERS``."""

    name: str
    pending: int
    idle_ms: int
    inactive_ms: int | None  # Redis 7.2+: since its last successful read


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """The consumer group, per ``XINFO GROUPS``."""

    name: str
    pending: int
    lag: int | None  # entries never delivered; None when Redis cannot tell (or before 7.0)
    last_delivered_id: str
    consumers: list[ConsumerStatus]


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """The click stream, its group (None if not created yet) and its dead-letter stream."""

    stream: str
    length: int
    group: GroupStatus | None
    group_name: str
    dlq_stream: str
    dlq_length: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One entry of the dead-letter stream, with its payload cut to a preview."""

    id: str
    dead_lettered_at: datetime
    reason: str
    deliveries: int | None
    source_id: str | None
    consumer: str | None
    events: int | None  # None: the payload does not unpack (see ``malformed``)
    payload_bytes: int
    payload_head: str
    malformed: str | None
    fields: dict[bytes, bytes] = field(repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the payload itself is left out, only its head is shown)."""
        return {
            "id": self.id,
            "dead_lettered_at": self.dead_lettered_at.isoformat(),
            "reason": self.reason,
            "deliveries": self.deliveries,
            "source_id": self.source_id,
            "consumer": self.consumer,
            "events": self.events,
            "payload_bytes": self.payload_bytes,
            "payload_head": self.payload_head,
            "malformed": self.malformed,
        }


@dataclass(frozen=True, slots=True)
class Redriven:
    """A DLQ entry put back on the stream (``new_id`` None in a dry run)."""

    dlq_id: str
    new_id: str | None
    events: int


@dataclass(slots=True)
class RedriveReport:
    """What a redrive moved, and what it left in the DLQ because it would fail again."""

    moved: list[Redriven] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # dlq id -> why it stayed
    dry_run: bool = False


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def original_fields(fields: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """A DLQ entry's fields without the ``dlq_*`` metadata: what the publisher wrote."""
    return {k: v for k, v in fields.items() if k not in _DLQ_FIELDS}


def describe(entry_id: bytes, fields: Mapping[bytes, bytes]) -> DeadLetter:
    """A DLQ entry as an operator sees it: reason, counts and the first bytes of the payload."""
    original = original_fields(fields)
    try:
        events: int | None = len(unpack_events(original))
        malformed = None
    except MalformedEntry as exc:
        events, malformed = None, str(exc)
    payload = original.get(EVENTS_FIELD)
    if payload is None:  # no packed events: show whatever fields it had
        payload = b" ".join(k + b"=" + v for k, v in original.items())
    raw_deliveries = fields.get(DLQ_DELIVERIES, b"")
    return DeadLetter(
        id=entry_id.decode(),
        dead_lettered_at=datetime.fromtimestamp(id_key(entry_id)[0] / 1000, UTC),
        reason=_text(fields.get(DLQ_REASON)) or "",
        deliveries=int(raw_deliveries) if raw_deliveries.isdigit() else None,
        source_id=_text(fields.get(DLQ_SOURCE_ID)),
        consumer=_text(fields.get(DLQ_CONSUMER)),
        events=events,
        payload_bytes=len(payload),
        payload_head=payload[:PREVIEW_BYTES].decode("ascii", "backslashreplace"),
        malformed=malformed,
        fields=dict(fields),
    )


def _info(reply: Mapping[Any, Any]) -> dict[str, Any]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in reply.items()}


async def stream_status(redis: Redis, *, stream: str, group: str, dlq_stream: str) -> StreamStatus:
    """Lengths of both streams, the group's pending count and lag, its consumers' idle times."""
    require_bytes_client(redis)
    length = int(await redis.xlen(stream))
    dlq_length = int(await redis.xlen(dlq_stream))
    found: GroupStatus | None = None
    try:
        groups = [_info(g) for g in await redis.xinfo_groups(stream)]
    except ResponseError as exc:
        if not is_error(exc, "ERR no such key") and not is_error(exc, "no such key"):
            raise
        groups = []
    for info in groups:
        if as_bytes(info["name"]) != group.encode():
            continue
        consumers = [_info(c) for c in await redis.xinfo_consumers(stream, group)]
        lag = info.get("lag")
        found = GroupStatus(
            name=group,
            pending=int(info["pending"]),
            lag=None if lag is None else int(lag),
            last_delivered_id=as_bytes(info["last-delivered-id"]).decode(),
            consumers=[
                ConsumerStatus(
                    name=as_bytes(c["name"]).decode("utf-8", "replace"),
                    pending=int(c["pending"]),
                    idle_ms=int(c["idle"]),
                    inactive_ms=None if c.get("inactive") is None else int(c["inactive"]),
                )
                for c in consumers
            ],
        )
    return StreamStatus(stream, length, found, group, dlq_stream, dlq_length)


async def list_dead_letters(redis: Redis, *, dlq_stream: str, limit: int) -> list[DeadLetter]:
    """The oldest ``limit`` DLQ entries."""
    require_bytes_client(redis)
    reply = await redis.xrange(dlq_stream, "-", "+", count=max(1, limit))
    return [describe(i, f) for i, f in entries(reply) if f is not None]


def check_ids(ids: Sequence[str]) -> list[str]:
    """The ids that are not stream ids (``<ms>-<seq>``)."""
    return [i for i in ids if not _ID.match(i)]


async def _fetch(redis: Redis, dlq_stream: str, ids: Sequence[str]) -> dict[str, DeadLetter]:
    pipe = redis.pipeline(transaction=False)
    for entry_id in ids:
        pipe.xrange(dlq_stream, entry_id, entry_id)
    found: dict[str, DeadLetter] = {}
    for reply in await pipe.execute():
        for i, f in entries(reply):
            if f is not None:
                found[i.decode()] = describe(i, f)
    return found


async def _move(
    redis: Redis, *, dlq_stream: str, stream: str, chosen: Sequence[DeadLetter]
) -> list[Redriven]:
    args: list[bytes | str | int] = [len(chosen)]
    for entry in chosen:
        original = original_fields(entry.fields)
        args += [entry.id, 2 * len(original)]
        for key, value in original.items():
            args += [key, value]
    try:
        new_ids = await redis.eval(_REDRIVE, 2, dlq_stream, stream, *args)
    except ResponseError as exc:
        if is_error(exc, "NOENTRY"):  # deleted (redriven, purged) since we read it
            raise UnknownEntries([str(exc).split()[-1]]) from None
        raise
    return [
        Redriven(e.id, as_bytes(n).decode(), e.events or 0)
        for e, n in zip(chosen, new_ids, strict=True)
    ]


async def redrive(
    redis: Redis,
    *,
    stream: str,
    dlq_stream: str,
    ids: Sequence[str] = (),
    every: bool = False,
    dry_run: bool = False,
) -> RedriveReport:
    """Put DLQ entries (``ids``, or ``every`` one present now) back on ``stream``.

    Named ids are all-or-nothing: an unknown id raises ``UnknownEntries``, one whose payload
    does not unpack raises ``MalformedEntries`` (the worker would dead-letter it again at once),
    and nothing moves. ``every`` moves the entries up to the DLQ's newest id at the start (so
    an entry that fails again meanwhile is not looped back) and skips malformed ones, reporting
    them. Each script call moves up to ``_PAGE`` entries atomically; ``dry_run`` moves nothing.
    """
    require_bytes_client(redis)
    report = RedriveReport(dry_run=dry_run)
    if not every:
        wanted = list(dict.fromkeys(ids))
        found = await _fetch(redis, dlq_stream, wanted)
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise UnknownEntries(unknown)
        bad = {i: found[i].malformed for i in wanted if found[i].malformed}
        if bad:
            raise MalformedEntries({i: r for i, r in bad.items() if r})
        chosen = [found[i] for i in sorted(wanted, key=lambda i: id_key(i.encode()))]
        for start in range(0, len(chosen), _PAGE):
            await _redrive_page(redis, stream, dlq_stream, chosen[start : start + _PAGE], report)
        return report
    newest = entries(await redis.xrevrange(dlq_stream, "+", "-", count=1))
    if not newest:
        return report
    last = newest[0][0]
    after = "-"
    while True:
        page = [
            describe(i, f)
            for i, f in entries(await redis.xrange(dlq_stream, after, last, count=_PAGE))
            if f is not None
        ]
        if not page:
            return report
        for entry in page:
            if entry.malformed:
                report.skipped[entry.id] = f"malformed: {entry.malformed}"
        await _redrive_page(redis, stream, dlq_stream, [e for e in page if not e.malformed], report)
        after = "(" + page[-1].id


async def _redrive_page(
    redis: Redis, stream: str, dlq_stream: str, chosen: list[DeadLetter], report: RedriveReport
) -> None:
    if not chosen:
        return
    if report.dry_run:
        report.moved += [Redriven(e.id, None, e.events or 0) for e in chosen]
        return
    report.moved += await _move(redis, dlq_stream=dlq_stream, stream=stream, chosen=chosen)


async def purge_dead_letters(redis: Redis, *, dlq_stream: str, before: str | None) -> int:
    """Delete DLQ entries with ids below ``before`` (every one if None); return how many."""
    require_bytes_client(redis)
    if before is None:
        return int(await redis.xtrim(dlq_stream, maxlen=0, approximate=False))
    return int(await redis.xtrim(dlq_stream, minid=before, approximate=False))
