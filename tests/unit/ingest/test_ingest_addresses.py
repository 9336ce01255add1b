"""The fast IP helpers agree with the standard library's ``ipaddress``."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkhop.ingest.addresses import anonymize, is_public, parse_ip

ipv4 = st.ip_addresses(v=4)
ipv6 = st.ip_addresses(v=6)


@given(st.one_of(ipv4, ipv6))
def test_parse_and_print_match_ipaddress(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    parsed = parse_ip(str(addr))

    assert parsed is not None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        assert str(parsed) == str(addr.ipv4_mapped)
    else:
        assert str(parsed) == str(addr)


@given(st.one_of(ipv4, ipv6))
def test_anonymize_matches_the_network_address(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    expected = ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address
    parsed = parse_ip(str(addr))

    assert parsed is not None
    assert str(anonymize(parsed)) == str(expected)


@pytest.mark.parametrize(
    "text",
    ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4/24", "::g", "fe80::1%eth0", "x"],
)
def test_garbage_is_not_an_address(text: str) -> None:
    assert parse_ip(text) is None


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("81.2.69.160", True),
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("2a02:1810:1c07:9200::1", True),
        ("0.1.2.3", False),
        ("10.1.2.3", False),
        ("100.64.0.1", False),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("172.31.255.255", False),
        ("172.32.0.1", True),
        ("192.0.2.1", False),
        ("192.168.0.10", False),
        ("198.18.0.1", False),
        ("198.51.100.7", False),
        ("203.0.113.9", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("2001:db8::1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:81.2.69.160", True),
    ],
)
def test_is_public(text: str, public: bool) -> None:
    parsed = parse_ip(text)

    assert parsed is not None
    assert is_public(parsed) is public
