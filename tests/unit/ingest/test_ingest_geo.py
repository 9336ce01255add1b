"""GeoIP lookups against tiny MaxMind-format databases written with mmdb-writer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from linkhop.ingest.enrich import enrich
from linkhop.ingest.geo import GeoInfo, GeoReader, locate, public_address
from linkhop.ingest.schemas import RawClick


def write_mmdb(
    path: Path,
    networks: dict[tuple[str, ...], dict[str, Any]],
    *,
    db_type: str,
    ip_version: int = 6,
) -> Path:
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=db_type,
        languages=["en"],
        description={"en": "linkhop test geo db"},
    )
    for cidrs, record in networks.items():
        writer.insert_network(IPSet(list(cidrs)), record)
    writer.to_db_file(str(path))
    return path


def geoip2_country(iso: str, continent: str) -> dict[str, Any]:
    country = {"iso_code": iso, "names": {"en": iso}}
    return {"country": country, "registered_country": country, "continent": {"code": continent}}


@pytest.fixture
def country_db(tmp_path: Path) -> Iterator[GeoReader]:
    path = write_mmdb(
        tmp_path / "country.mmdb",
        {
            ("81.2.69.0/24",): geoip2_country("GB", "EU"),
            ("1.1.1.0/24", "2606:4700::/32"): geoip2_country("AU", "OC"),
            # A record with only the registered country (MaxMind omits `country` for some blocks).
            ("5.45.0.0/16",): {"registered_country": {"iso_code": "ru"}},
            ("9.9.9.0/24",): {"traits": {"is_anycast": True}},
        },
        db_type="GeoIP2-Country",
    )
    with GeoReader(path) as reader:
        yield reader


@pytest.fixture
def city_db(tmp_path: Path) -> Iterator[GeoReader]:
    record = {
        "city": {"names": {"en": "London", "de": "London"}, "geoname_id": 2643743},
        "continent": {"code": "EU", "names": {"en": "Europe"}},
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
    }
    path = write_mmdb(tmp_path / "city.mmdb", {("81.2.69.0/24",): record}, db_type="GeoIP2-City")
    with GeoReader(path) as reader:
        yield reader


@pytest.fixture
def dbip_db(tmp_path: Path) -> Iterator[GeoReader]:
    # The flat record shape of DB-IP Lite as packaged by ip-location-db; IPv4-only on purpose.
    path = write_mmdb(
        tmp_path / "dbip.mmdb",
        {
            ("8.8.8.0/24",): {"country_code": "US"},
            ("81.2.69.0/24",): {"country_code": "GB", "state1": "England", "city": "London"},
            ("185.0.0.0/16",): {"country_code": "ZZ"},
        },
        db_type="country ipv4",
        ip_version=4,
    )
    with GeoReader(path) as reader:
        yield reader


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", GeoInfo("GB", "", "", "EU")),
        ("1.1.1.1", GeoInfo("AU", "", "", "OC")),
        ("2606:4700::1111", GeoInfo("AU", "", "", "OC")),
        ("5.45.1.2", GeoInfo("RU", "", "", "EU")),
        ("9.9.9.9", GeoInfo("", "", "", "")),
        ("8.8.8.8", GeoInfo("", "", "", "")),
        ("garbage", GeoInfo("", "", "", "")),
    ],
)
def test_geoip2_country_database(country_db: GeoReader, ip: str, expected: GeoInfo) -> None:
    assert country_db.lookup(ip) == expected


def test_geoip2_city_database_gives_region_and_city(city_db: GeoReader) -> None:
    assert city_db.lookup("81.2.69.160") == GeoInfo("GB", "England", "London", "EU")


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", GeoInfo("US", "", "", "NA")),
        ("81.2.69.160", GeoInfo("GB", "England", "London", "EU")),
        ("185.0.1.1", GeoInfo("", "", "", "")),  # not a country code
        ("2606:4700::1111", GeoInfo("", "", "", "")),  # IPv6 asked of an IPv4-only database
    ],
)
def test_flat_dbip_database(dbip_db: GeoReader, ip: str, expected: GeoInfo) -> None:
    assert dbip_db.lookup(ip) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", "81.2.69.160"),
        ("2606:4700:0::1111", "2606:4700::1111"),
        ("::ffff:81.2.69.160", "81.2.69.160"),
        ("10.1.2.3", None),
        ("192.168.0.10", None),
        ("172.16.5.4", None),
        ("127.0.0.1", None),
        ("100.64.0.1", None),  # carrier-grade NAT
        ("169.254.1.1", None),
        ("::1", None),
        ("fd00::1", None),
        ("fe80::1", None),
        ("::ffff:10.0.0.1", None),
        ("", None),
    ],
)
def test_public_address(ip: str, expected: str | None) -> None:
    assert public_address(ip) == expected


def test_ipv4_mapped_client_is_located_by_its_ipv4_address(country_db: GeoReader) -> None:
    assert locate(ip="::ffff:1.1.1.1", header_country="", geo=country_db) == GeoInfo(
        "AU", "", "", "OC"
    )


def test_private_addresses_are_never_looked_up(tmp_path: Path) -> None:
    # Even a database that (wrongly) maps private space yields nothing for it.
    path = write_mmdb(
        tmp_path / "bad.mmdb",
        {("10.0.0.0/8", "127.0.0.0/8"): geoip2_country("US", "NA")},
        db_type="GeoIP2-Country",
    )
    with GeoReader(path) as reader:
        assert reader.lookup("10.1.2.3").country == "US"
        assert locate(ip="10.1.2.3", header_country="", geo=reader) == GeoInfo("", "", "", "")
        assert locate(ip="127.0.0.1", header_country="", geo=reader) == GeoInfo("", "", "", "")


def test_header_country_wins_and_keeps_city_only_when_the_database_agrees(
    city_db: GeoReader,
) -> None:
    assert locate(ip="81.2.69.160", header_country="gb", geo=city_db) == GeoInfo(
        "GB", "England", "London", "EU"
    )
    assert locate(ip="81.2.69.160", header_country="FR", geo=city_db) == GeoInfo("FR", "", "", "EU")
    # An unusable header ("XX" = unknown at Cloudflare) falls back to the database.
    assert locate(ip="81.2.69.160", header_country="XX", geo=city_db).country == "GB"


def test_enrich_uses_the_database_when_there_is_no_header(country_db: GeoReader) -> None:
    raw: RawClick = {
        "click_id": "01938d2e-7b1c-7a3e-9f00-1234567890ab",
        "ts": 1_764_072_000.0,
        "org_id": "org_1",
        "link_id": "link_1",
        "domain": "go.example.com",
        "key": "k",
        "url": "https://example.com/",
        "trigger": "link",
        "ip": "1.1.1.7",
        "ua": "Mozilla/5.0",
        "referrer": "",
        "country": "",
        "method": "GET",
    }

    row = enrich(raw, geo=country_db, store_ip="anonymized")

    assert (row.country, row.continent, row.ip) == ("AU", "OC", "1.1.1.0")
