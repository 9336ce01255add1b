"""The raw click event: what the redirect service publishes and the worker consumes.

One event is one orjson-encoded JSON object per queue item. This module is imported on the
redirect hot path, so it stays light: orjson and the standard library only (no ua-parser, no
maxminddb). Enrichment lives in ``linkhop.ingest.enrich``.
"""

from __future__ import annotations

import math
import operator
import re
import uuid
from typing import Literal, TypedDict, cast

import orjson

Trigger = Literal["link", "qr", "api"]
Method = Literal["GET", "HEAD"]

TRIGGERS: frozenset[str] = frozenset({"link", "qr", "api"})
METHODS: frozenset[str] = frozenset({"GET", "HEAD"})


class RawClick(TypedDict):
    """One click as published by the redirect service (before enrichment)."""

    click_id: str  # UUIDv7, canonical text form with dashes
    ts: float  # epoch seconds, millisecond precision
    org_id: str
    link_id: str
    domain: str
    key: str
    url: str  # the destination chosen, final URL including the forwarded query
    trigger: Trigger
    ip: str  # client address as seen by the redirect service
    ua: str  # User-Agent header, '' when absent
    referrer: str  # Referer header, '' when absent
    country: str  # ISO 3166-1 alpha-2 from a trusted edge header, '' when absent
    method: Method


class MalformedClickError(ValueError):
    """A queue item is not a valid raw click event."""


# Field name -> required Python type. bool is rejected separately for ts: it is an int subclass.
_STR_FIELDS = (
    "click_id",
    "org_id",
    "link_id",
    "domain",
    "key",
    "url",
    "trigger",
    "ip",
    "ua",
    "referrer",
    "country",
    "method",
)


def encode_click(click: RawClick) -> bytes:
    """Serialise a raw click for the queue."""
    return orjson.dumps(click)


_GET_STRS = operator.itemgetter(*_STR_FIELDS)
_ONLY_STR = {str}
_FIELD_COUNT = len(_STR_FIELDS) + 1  # + ts
# What uuid.UUID(...) and str() would give back unchanged: the redirect's own click ids.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def decode_click(payload: bytes) -> RawClick:
    """Parse and validate one queue item; raise ``MalformedClickError`` saying what is wrong."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedClickError(f"not JSON: {exc}") from exc
    # Fast path (the worker decodes every click): all string fields present and exact str, in
    # one C-level pass. Anything else takes the field-by-field checks below for the message.
    try:
        strs = _GET_STRS(data)
    except (KeyError, TypeError):
        strs = None
    if strs is None or set(map(type, strs)) != _ONLY_STR:
        _check_fields(data)
    if not data["org_id"] or not data["link_id"]:
        raise MalformedClickError("fields 'org_id' and 'link_id' must not be empty")
    ts = data.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts) or ts <= 0:
        raise MalformedClickError(f"field 'ts' must be positive epoch seconds, got {ts!r:.80}")
    if data["trigger"] not in TRIGGERS:
        raise MalformedClickError(f"field 'trigger' must be one of {sorted(TRIGGERS)}")
    if data["method"] not in METHODS:
        raise MalformedClickError(f"field 'method' must be one of {sorted(METHODS)}")
    click_id = data["click_id"]
    if not _CANONICAL_UUID.fullmatch(click_id):
        try:
            click_id = str(uuid.UUID(click_id))
        except ValueError as exc:
            raise MalformedClickError(f"field 'click_id' is not a UUID: {click_id!r:.80}") from exc
    if len(data) == _FIELD_COUNT and type(ts) is float and click_id is data["click_id"]:
        # Exactly our fields, already in their final form: the object itself is the click.
        return cast(RawClick, data)
    # Unknown keys are dropped, not rejected: a newer redirect service may add fields (variant,
    # rule id) before every worker is upgraded, and the queue must keep flowing meanwhile.
    return RawClick(
        click_id=click_id,
        ts=float(ts),
        org_id=data["org_id"],
        link_id=data["link_id"],
        domain=data["domain"],
        key=data["key"],
        url=data["url"],
        trigger=data["trigger"],
        ip=data["ip"],
        ua=data["ua"],
        referrer=data["referrer"],
        country=data["country"],
        method=data["method"],
    )


def _check_fields(data: object) -> None:
    """Raise for the first field that is missing or not a string (the slow, precise path)."""
    if not isinstance(data, dict):
        raise MalformedClickError(f"expected a JSON object, got {type(data).__name__}")
    for name in _STR_FIELDS:
        value = data.get(name)
        if not isinstance(value, str):
            raise MalformedClickError(f"field {name!r} must be a string, got {value!r:.80}")
