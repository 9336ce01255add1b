"""Where a click came from: a trusted edge country header first, else a MaxMind-format database.

``GeoReader`` reads any ``.mmdb`` with ``maxminddb`` and understands three record shapes:
GeoIP2/GeoLite2 Country and City (``{"country": {"iso_code": …}, "continent": …,
"subdivisions": […], "city": …}``) and the flat DB-IP Lite / ip-location-db shape
(``{"country_code": "US", "state1": …, "city": …}``). Anything else reads as unknown ('').
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, NamedTuple

import maxminddb

from linkhop.ingest.addresses import is_public, parse_ip
from linkhop.ingest.continents import CONTINENTS, continent_of, normalize_country


class GeoInfo(NamedTuple):
    """Location columns of a click; '' means unknown."""

    country: str
    region: str
    city: str
    continent: str


UNKNOWN = GeoInfo("", "", "", "")


class GeoReader:
    """A MaxMind-format database opened once and shared by every lookup (thread-safe reads)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._reader = maxminddb.open_database(path)

    def lookup(self, ip: str) -> GeoInfo:
        """Location of ``ip``; ``UNKNOWN`` when the database has no usable record."""
        try:
            record = self._reader.get(ip)
        except ValueError:
            # An unparsable address, or IPv6 asked of an IPv4-only database.
            return UNKNOWN
        if not isinstance(record, dict):
            return UNKNOWN
        return record_to_geo(record)

    def close(self) -> None:
        """Release the memory map."""
        self._reader.close()

    def __enter__(self) -> GeoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _english_name(node: Any) -> str:
    if isinstance(node, dict):
        names = node.get("names")
        if isinstance(names, dict):
            name = names.get("en")
            if isinstance(name, str):
                return name
    return ""


def _iso_code(node: Any) -> str:
    if isinstance(node, dict):
        code = node.get("iso_code")
        if isinstance(code, str):
            return code
    return ""


def record_to_geo(record: dict[str, Any]) -> GeoInfo:
    """Map one database record (any supported shape) to location columns."""
    flat_country = record.get("country_code")
    if isinstance(flat_country, str):
        country = normalize_country(flat_country)
        region = record.get("state1")
        city = record.get("city")
        return GeoInfo(
            country=country,
            region=region if isinstance(region, str) and country else "",
            city=city if isinstance(city, str) and country else "",
            continent=continent_of(country),
        )
    # MaxMind leaves `country` out for some networks (e.g. anycast, satellite); the country the
    # block is registered to is the best remaining answer.
    country = normalize_country(_iso_code(record.get("country")))
    if not country:
        country = normalize_country(_iso_code(record.get("registered_country")))
    if not country:
        return UNKNOWN
    continent = record.get("continent")
    continent_code = continent.get("code") if isinstance(continent, dict) else None
    if not isinstance(continent_code, str) or continent_code not in CONTINENTS:
        continent_code = continent_of(country)
    subdivisions = record.get("subdivisions")
    region = (
        _english_name(subdivisions[0]) if isinstance(subdivisions, list) and subdivisions else ""
    )
    return GeoInfo(
        country=country,
        region=region,
        city=_english_name(record.get("city")),
        continent=continent_code,
    )


def public_address(ip: str) -> str | None:
    """``ip`` in canonical form when it is globally routable; None when private, loopback, etc."""
    addr = parse_ip(ip.strip())
    # Not every database aliases ::ffff:0:0/96 to its IPv4 tree; parse_ip has unwrapped it.
    return str(addr) if addr is not None and is_public(addr) else None


def locate(*, ip: str, header_country: str, geo: GeoReader | None) -> GeoInfo:
    """Location of a click: the edge header's country wins; the database adds region and city."""
    country = normalize_country(header_country)
    address = public_address(ip) if geo is not None else None
    found = geo.lookup(address) if geo is not None and address is not None else UNKNOWN
    if not country:
        return found
    # Keep the database's region/city only when it agrees with the edge about the country;
    # otherwise they would describe a different place than the country column.
    if found.country == country:
        return found
    return GeoInfo(country=country, region="", city="", continent=continent_of(country))
