"""The record codec, key naming and circuit breaker: pure, no Redis needed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from linkhop.cache.breaker import CircuitBreaker
from linkhop.cache.codec import RecordCodec, UndecodableError, epoch_ms, from_epoch_ms
from linkhop.cache.redis_keys import record_keys
from linkhop.redirects.decision import LinkRecord

CODEC = RecordCodec(LinkRecord)


def full_record() -> LinkRecord:
    return LinkRecord(
        id="lnk_1",
        org_id="org_1",
        domain="xn--bcher-kva.example",
        key="Grüße/ü:}{",
        url="https://example.com/ä?utm_source=x",
        expires_at=datetime(2031, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        expired_url="https://example.com/gone",
        max_clicks=10,
        clicks=3,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$abc",
        archived=True,
        redirect_status=308,
        forward_query=False,
        title="Ein Titel ✓",
        created_at=datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
    )


def test_round_trip_keeps_every_field() -> None:
    record = full_record()
    assert CODEC.decode(CODEC.encode(record)) == record


def test_round_trip_with_none_fields() -> None:
    record = dataclasses.replace(
        full_record(),
        expires_at=None,
        expired_url=None,
        max_clicks=None,
        password_hash=None,
        title=None,
        created_at=None,
    )
    assert CODEC.decode(CODEC.encode(record)) == record


def test_datetimes_are_epoch_ms_and_naive_means_utc() -> None:
    naive = datetime(2030, 1, 1, 12, 0, 0, 987654)
    record = dataclasses.replace(full_record(), expires_at=naive, created_at=None)
    encoded = orjson.loads(CODEC.encode(record))
    assert isinstance(encoded[6], int)
    decoded = CODEC.decode(CODEC.encode(record))
    # Milliseconds survive, microseconds below them do not; the result is aware UTC.
    assert decoded.expires_at == datetime(2030, 1, 1, 12, 0, 0, 987000, tzinfo=UTC)


def test_other_time_zones_survive_as_the_same_instant() -> None:
    moment = datetime(2030, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=-7)))
    record = dataclasses.replace(full_record(), expires_at=moment)
    assert CODEC.decode(CODEC.encode(record)).expires_at == moment
    assert from_epoch_ms(epoch_ms(moment)) == moment


def test_a_changed_record_type_is_a_different_schema() -> None:
    @dataclasses.dataclass(frozen=True)
    class LinkRecordV2:  # what a later release might cache: one field more
        id: str
        url: str
        note: str | None

    @dataclasses.dataclass(frozen=True)
    class LinkRecordV1:
        id: str
        url: str

    old, new = RecordCodec(LinkRecordV1), RecordCodec(LinkRecordV2)
    assert old.schema != new.schema
    with pytest.raises(UndecodableError):
        new.decode(old.encode(LinkRecordV1("a", "u")))
    with pytest.raises(UndecodableError):
        old.decode(new.encode(LinkRecordV2("a", "u", None)))


def test_a_version_bump_is_a_different_schema() -> None:
    bumped = RecordCodec(LinkRecord, version=2)
    assert bumped.schema != CODEC.schema
    with pytest.raises(UndecodableError):
        bumped.decode(CODEC.encode(full_record()))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"{}",
        b"[]",
        b'["LinkRecord/1/00000000"]',
        b"-",
    ],
)
def test_garbage_is_undecodable(raw: bytes) -> None:
    with pytest.raises(UndecodableError):
        CODEC.decode(raw)


def test_wrong_field_types_and_invalid_records_are_undecodable() -> None:
    values = orjson.loads(CODEC.encode(full_record()))
    for index, bad in [(1, 5), (9, True), (11, "yes"), (6, "2030-01-01"), (12, 200), (6, 2**62)]:
        broken = list(values)
        broken[index] = bad
        with pytest.raises(UndecodableError):
            CODEC.decode(orjson.dumps(broken))
    assert CODEC.decode(orjson.dumps(values)) == full_record()


def test_unsupported_field_types_fail_when_the_codec_is_built() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithRules:
        id: str
        rules: tuple[str, ...]

    with pytest.raises(TypeError, match="rules"):
        RecordCodec(WithRules)
    with pytest.raises(TypeError):
        RecordCodec(dict)


def test_record_keys_are_unambiguous_and_share_a_cluster_slot() -> None:
    first = record_keys("link", ("a:b", "c"))
    second = record_keys("link", ("a", "b:c"))
    assert first != second
    record, lease = record_keys("link", ("例え.jp", "ключ\ud800}{:"))
    assert record.startswith("lh:link:v1:{") and lease.startswith("lh:link:lease:v1:{")
    # Redis Cluster hashes the text between the first braces: the same for record and lease.
    assert record[record.index("{") :] == lease[lease.index("{") :]
    assert record_keys("link", ("d", "k")) != record_keys("other", ("d", "k"))
    assert record_keys("link", ("d", "k")) == record_keys("link", ("d", "k"))


def test_breaker_skips_until_cooldown_then_lets_one_probe_through() -> None:
    breaker = CircuitBreaker(cooldown=5.0)
    assert breaker.allow(0.0)
    assert breaker.failure(1.0) is True
    assert breaker.failure(1.5) is False  # already open: no second "outage"
    assert not breaker.allow(2.0)
    assert not breaker.allow(6.4)
    assert breaker.allow(6.5)  # the probe
    assert not breaker.allow(6.6)  # others keep skipping while it runs
    assert breaker.success() is True
    assert breaker.allow(6.7)
    assert breaker.success() is False
    assert breaker.trips == 1


def test_breaker_failed_probe_keeps_it_open() -> None:
    breaker = CircuitBreaker(cooldown=1.0)
    breaker.failure(0.0)
    assert breaker.allow(1.0)
    assert breaker.failure(1.0) is False
    assert not breaker.allow(1.5)
    assert breaker.allow(2.0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(cooldown=-1)


def test_keyword_only_records_round_trip() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Rule:
        domain: str
        case_sensitive: bool
        weight: float | None = None

    codec = RecordCodec(Rule)
    rule = Rule(domain="lh.to", case_sensitive=True, weight=0.5)
    assert codec.decode(codec.encode(rule)) == rule
