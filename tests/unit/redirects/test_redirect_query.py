"""Query-string forwarding onto destinations."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkhop.redirects.query import merge_query, query_value

QR = frozenset({"qr"})


@pytest.mark.parametrize(
    ("destination", "incoming", "expected"),
    [
        ("https://example.com/p", "a=1", "https://example.com/p?a=1"),
        ("https://example.com/p", "?a=1", "https://example.com/p?a=1"),
        ("https://example.com/p?a=1&b=2", "a=9", "https://example.com/p?a=9&b=2"),
        ("https://example.com/p?a=1&b=2&a=3", "a=9", "https://example.com/p?a=9&b=2"),
        ("https://example.com/p?a=1&b=2", "c=3&a=9&a=8", "https://example.com/p?a=9&a=8&b=2&c=3"),
        ("https://example.com/p?b=2#frag", "a=1", "https://example.com/p?b=2&a=1#frag"),
        ("https://example.com/p#frag?not=query", "a=1", "https://example.com/p?a=1#frag?not=query"),
        ("https://example.com/p?", "a=1", "https://example.com/p?a=1"),
        ("https://example.com/p?flag&x=", "flag2&x", "https://example.com/p?flag&x&flag2"),
        ("https://example.com/p?a=1&&b=2", "c=3", "https://example.com/p?a=1&&b=2&c=3"),
        ("https://example.com/p?a%20b=1", "a+b=2", "https://example.com/p?a+b=2"),
        (
            "https://example.com/p?q=%2F%7e",
            "r=%2f%ZZ+x",
            "https://example.com/p?q=%2F%7e&r=%2f%ZZ+x",
        ),
        ("https://example.com/p", "qr=1&a=1", "https://example.com/p?a=1"),
        ("https://example.com/p", "a=1&qr=1&qr=0", "https://example.com/p?a=1"),
        ("https://example.com/p?qr=dest", "qr=1", "https://example.com/p?qr=dest"),
        ("https://example.com/p?qr=dest", "QR=1", "https://example.com/p?qr=dest&QR=1"),
        ("https://example.com/p", "a=caf\u00c3\u00a9", "https://example.com/p?a=caf%C3%A9"),
        ("https://example.com/p", "a=b c#d", "https://example.com/p?a=b%20c%23d"),
        ("https://example.com/p", "a=\u263a", "https://example.com/p?a=%E2%98%BA"),
        ("https://example.com/p", "=x", "https://example.com/p?=x"),
    ],
)
def test_merge_query(destination: str, incoming: str, expected: str) -> None:
    assert merge_query(destination, incoming, strip=QR) == expected


@pytest.mark.parametrize("incoming", ["", "?", "&&", "qr=1", "?qr=1&qr=2&"])
def test_nothing_to_forward_leaves_the_destination_byte_for_byte(incoming: str) -> None:
    destination = "https://example.com/a?b=%7E&c#d"
    assert merge_query(destination, incoming, strip=QR) is destination


@pytest.mark.parametrize(
    ("query", "name", "value"),
    [
        ("qr=1", "qr", "1"),
        ("?a=2&qr=1", "qr", "1"),
        ("qr=0&qr=1", "qr", "0"),
        ("qr", "qr", ""),
        ("a=%31", "a", "1"),
        ("a+b=c+d", "a b", "c d"),
        ("qrx=1", "qr", None),
        ("", "qr", None),
    ],
)
def test_query_value(query: str, name: str, value: str | None) -> None:
    assert query_value(query, name) == value


_NAMES = st.sampled_from(["a", "b", "c", "qr", "utm_source", "x%20y", "x+y", "flag"])
_VALUES = st.text(alphabet="az09%+=-._~/?:@!$'()*,;", max_size=6)
_PIECES = st.builds(
    lambda name, value, with_equals: f"{name}={value}" if with_equals else name,
    _NAMES,
    _VALUES,
    st.booleans(),
)
_QUERIES = st.lists(st.one_of(_PIECES, st.just("")), max_size=8).map("&".join)
_DESTINATIONS = st.builds(
    lambda query, fragment: "https://example.com/path" + (f"?{query}" if query else "") + fragment,
    _QUERIES,
    st.sampled_from(["", "#frag", "#f?x=1&a=2"]),
)
_STRIPS = st.frozensets(_NAMES, max_size=2)


def _name(piece: str) -> str:
    return unquote_plus(piece.partition("=")[0])


def _split(url: str) -> tuple[str, list[str], str]:
    base, hashmark, fragment = url.partition("#")
    path, _, query = base.partition("?")
    return path, query.split("&") if query else [], hashmark + fragment


@given(destination=_DESTINATIONS, strip=_STRIPS)
def test_empty_incoming_is_the_identity(destination: str, strip: frozenset[str]) -> None:
    assert merge_query(destination, "", strip=strip) == destination


@given(destination=_DESTINATIONS, incoming=_QUERIES, strip=_STRIPS)
def test_merge_properties(destination: str, incoming: str, strip: frozenset[str]) -> None:
    result = merge_query(destination, incoming, strip=strip)
    path, pieces, fragment = _split(result)
    dest_path, dest_pieces, dest_fragment = _split(destination)
    assert (path, fragment) == (dest_path, dest_fragment)
    forwarded = [p for p in incoming.split("&") if p and _name(p) not in strip]
    forwarded_names = {_name(p) for p in forwarded}
    # Every forwarded piece arrives verbatim, in its order among pieces of the same name, and no
    # destination piece of that name survives.
    for name in forwarded_names:
        assert [p for p in pieces if p and _name(p) == name] == [
            p for p in forwarded if _name(p) == name
        ]
    # Destination params the visitor did not override stay, verbatim and in order.
    kept = [p for p in dest_pieces if not p or _name(p) not in forwarded_names]
    assert [p for p in pieces if not p or _name(p) not in forwarded_names] == kept
    # Forwarding the same query again changes nothing.
    assert merge_query(result, incoming, strip=strip) == result


@given(destination=_DESTINATIONS, incoming=_QUERIES)
def test_stripped_names_never_come_from_the_visitor(destination: str, incoming: str) -> None:
    result = merge_query(destination, incoming, strip=QR)
    _, pieces, _ = _split(result)
    _, dest_pieces, _ = _split(destination)
    assert [p for p in pieces if _name(p) == "qr"] == [p for p in dest_pieces if _name(p) == "qr"]


@given(st.text(max_size=40))
def test_result_is_always_a_valid_header_value(incoming: str) -> None:
    result = merge_query("https://example.com/p?x=1#f", incoming, strip=QR)
    assert result.isascii()
    assert all(0x21 <= ord(ch) <= 0x7E for ch in result)
    assert result.endswith("#f")
    assert result.count("#") == 1
