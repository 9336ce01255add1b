"""Packing events into one stream entry, and the token and id arithmetic (pure, no Redis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkhop.queue.redis_entries import (
    MalformedEntry,
    batch_token,
    declared_count,
    id_key,
    next_id,
    pack_events,
    unpack_events,
)


@given(st.lists(st.binary(max_size=600), min_size=1, max_size=60))
def test_unpack_returns_exactly_what_was_packed(payloads: list[bytes]) -> None:
    fields = pack_events(payloads)
    assert unpack_events(fields) == payloads
    assert declared_count(fields) == len(payloads)


def test_payloads_may_hold_the_framing_bytes_themselves() -> None:
    # A payload that looks like a record header must not split: lengths delimit, not markers.
    tricky = [pack_events([b"inner"])[b"e"], b"", b"\xc5LH\x01" * 3]
    assert unpack_events(pack_events(tricky)) == tricky


def test_an_entry_needs_an_event() -> None:
    with pytest.raises(ValueError, match="at least one"):
        pack_events([])


def _damaged(**changes: bytes) -> dict[bytes, bytes]:
    fields = pack_events([b"first", b"second"])
    fields.update({k.encode(): v for k, v in changes.items()})
    return fields


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"hello": b"world"}, "format version"),
        (_damaged(v=b"2"), "format version"),
        ({b"v": b"1", b"n": b"1"}, "lacks"),
        (_damaged(n=b"two"), "not a number"),
        (_damaged(n=b"3"), "'n' says 3 events, 'e' holds 2"),
        (_damaged(n=b"0", e=b""), "'n' says 0"),
        (_damaged(e=pack_events([b"first", b"second"])[b"e"][:-1]), "runs past"),
        (_damaged(e=pack_events([b"x"])[b"e"] + b"\xc5L"), "truncated record header"),
        (_damaged(e=b"JUNK" + pack_events([b"x"])[b"e"][4:]), "bad record header"),
        (_damaged(e=pack_events([b"x"])[b"e"][:-1] + b"y"), "CRC mismatch"),
    ],
)
def test_a_malformed_entry_is_refused_with_its_reason(
    fields: dict[bytes, bytes], reason: str
) -> None:
    with pytest.raises(MalformedEntry, match=reason):
        unpack_events(fields)


def test_declared_count_tolerates_garbage() -> None:
    assert declared_count({b"n": b"junk"}) == 1
    assert declared_count({}) == 1
    assert declared_count({b"n": b"42"}) == 42


def test_the_token_names_the_set_of_entries_of_one_stream() -> None:
    ids = [b"1700000000000-0", b"1700000000000-1", b"1700000000001-0"]
    token = batch_token("clicks", ids)
    assert token == batch_token("clicks", list(reversed(ids)))  # order of reading is irrelevant
    assert token != batch_token("clicks", ids[:2])
    assert token != batch_token("other-stream", ids)
    # Ids sort numerically: "9-0" comes before "10-0", so both orders give one token.
    assert batch_token("s", [b"9-0", b"10-0"]) == batch_token("s", [b"10-0", b"9-0"])


def test_stream_ids_compare_and_advance_numerically() -> None:
    assert id_key(b"10-0") > id_key(b"9-5")
    assert next_id(b"5-7") == b"5-8"
    assert next_id(b"0-0") == b"0-1"
    assert next_id(f"5-{2**64 - 1}".encode()) == b"6-0"
