"""Validation of the analytics query model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from linkhop.analytics.schemas import AnalyticsQuery, ExportQuery


def test_defaults() -> None:
    query = AnalyticsQuery(org_id="org_1")
    assert (query.group_by, query.timezone, query.include_bots, query.limit) == (
        "count",
        "UTC",
        False,
        100,
    )


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "America/Argentina/Buenos_Aires"])
def test_iana_zones_are_accepted(zone: str) -> None:
    assert AnalyticsQuery(org_id="o", timezone=zone).timezone == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../../etc/passwd", "utc+2", "Europe/paris"])
def test_unknown_zones_are_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="time zone"):
        AnalyticsQuery(org_id="o", timezone=zone)


def test_a_naive_start_is_read_in_the_query_zone() -> None:
    query = AnalyticsQuery(
        org_id="o", timezone="Asia/Kolkata", start=datetime(2025, 1, 1), end="2025-01-02T00:00:00"
    )
    assert query.start == datetime(2025, 1, 1, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert query.end is not None
    assert query.end.utcoffset() == timedelta(hours=5, minutes=30)


def test_an_aware_start_keeps_its_offset() -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-3)))
    assert AnalyticsQuery(org_id="o", timezone="Asia/Tokyo", start=start).start == start


def test_interval_and_explicit_range_are_exclusive() -> None:
    with pytest.raises(ValidationError, match="either interval or start/end"):
        AnalyticsQuery(org_id="o", interval="7d", start=datetime(2025, 1, 1, tzinfo=UTC))


def test_start_must_precede_end() -> None:
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="start must be before end"):
        AnalyticsQuery(org_id="o", start=moment, end=moment)


@pytest.mark.parametrize(
    "fields",
    [
        {"org_id": ""},
        {"org_id": "o", "group_by": "cities_everywhere"},
        {"org_id": "o", "interval": "2w"},
        {"org_id": "o", "limit": 0},
        {"org_id": "o", "limit": 1001},
        {"org_id": "o", "unknown_filter": "x"},
        {"org_id": "o", "link_ids": ["l"] * 10_001},
    ],
)
def test_bad_fields_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AnalyticsQuery.model_validate(fields)


def test_dimension_filters_normalise_codes() -> None:
    query = AnalyticsQuery(org_id="o", country="fr", continent="eu", trigger="qr")
    assert (query.country, query.continent, query.trigger) == ("FR", "EU", "qr")
    assert query.dimension_values() == {"country": "FR", "continent": "EU", "trigger": "qr"}
    assert AnalyticsQuery(org_id="o").dimension_values() == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"country": "FRA"},
        {"country": "F1"},
        {"country": ""},
        {"continent": "XX"},
        {"trigger": "sms"},
        {"city": ""},
        {"city": "x" * 201},
        {"region": "x" * 201},
        {"device": "x" * 101},
        {"referrer": "x" * 2049},
        {"utm_source": ""},
        {"utm_campaign": "x" * 501},
    ],
)
def test_bad_dimension_filters_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AnalyticsQuery.model_validate({"org_id": "o", **fields})


def test_filters_at_their_length_limits_pass() -> None:
    query = AnalyticsQuery(
        org_id="o", city="x" * 200, referrer="r" * 2048, utm_content="u" * 500, os="o" * 100
    )
    assert len(query.dimension_values()) == 4


def test_export_query_defaults_and_formats() -> None:
    export = ExportQuery(org_id="o")
    assert (export.format, export.include_ua, export.include_bots) == ("csv", False, False)
    assert ExportQuery(org_id="o", format="parquet", interval="qtd").format == "parquet"
    for bad in ({"format": "xlsx"}, {"group_by": "countries"}, {"limit": 5}):
        with pytest.raises(ValidationError):
            ExportQuery.model_validate({"org_id": "o", **bad})
