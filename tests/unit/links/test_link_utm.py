"""UTM parameters composed onto destination URLs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkhop.errors import Invalid
from linkhop.links.utm import UTM_PARAMS, apply_utm


@pytest.mark.parametrize(
    ("url", "utm", "expected"),
    [
        (
            "https://example.com/p",
            {"utm_source": "news", "utm_medium": "email"},
            "https://example.com/p?utm_source=news&utm_medium=email",
        ),
        (
            "https://example.com/p?a=1&utm_source=old&b=2",
            {"utm_source": "new"},
            "https://example.com/p?a=1&utm_source=new&b=2",
        ),
        (
            "https://example.com/p?utm_source=x&a=1&utm_source=y",
            {"utm_source": "z"},
            "https://example.com/p?utm_source=z&a=1",
        ),
        (
            "https://example.com/p?utm%5Fsource=old#section",
            {"utm_source": "new"},
            "https://example.com/p?utm_source=new#section",
        ),
        (
            "https://example.com/p?a=%2F&flag&empty=#frag?x",
            {"utm_campaign": "spring sale", "utm_term": "a&b=c"},
            "https://example.com/p?a=%2F&flag&empty=&utm_campaign=spring%20sale"
            "&utm_term=a%26b%3Dc#frag?x",
        ),
        (
            "https://example.com/",
            {"utm_content": "héllo"},
            "https://example.com/?utm_content=h%C3%A9llo",
        ),
        (
            "https://example.com/p?",
            {"utm_content": "c", "utm_source": "s"},
            "https://example.com/p?utm_source=s&utm_content=c",
        ),
        (
            "https://example.com/p?utm_medium=keep",
            {"utm_medium": None, "utm_source": ""},
            "https://example.com/p?utm_medium=keep",
        ),
    ],
)
def test_apply_utm(url: str, utm: dict[str, str | None], expected: str) -> None:
    assert apply_utm(url, utm) == expected


def test_nothing_to_set_returns_the_url_unchanged() -> None:
    url = "https://example.com/a?b=%7E&c#d"
    assert apply_utm(url, {}) is url
    assert apply_utm(url, dict.fromkeys(UTM_PARAMS)) is url


def test_refuses_unknown_parameters() -> None:
    with pytest.raises(Invalid) as caught:
        apply_utm("https://example.com/", {"utm_sauce": "x"})
    assert caught.value.code == "utm_unknown_param"
    assert caught.value.field == "utm_sauce"
    assert "utm_source" in caught.value.detail


_VALUES = st.one_of(st.none(), st.text(max_size=20))
_UTM = st.fixed_dictionaries({}, optional=dict.fromkeys(UTM_PARAMS, _VALUES))
_QUERY = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "utm_source", "utm_term", "x y"]),
        st.text(alphabet="abc%20=", max_size=5),
    ),
    max_size=6,
).map(lambda pairs: "&".join(f"{name}={value}" for name, value in pairs))


@given(query=_QUERY, utm=_UTM, fragment=st.sampled_from(["", "#top", "#a?b=c"]))
def test_properties(query: str, utm: dict[str, str | None], fragment: str) -> None:
    url = (
        f"https://example.com/path?{query}{fragment}"
        if query
        else f"https://example.com/p{fragment}"
    )
    result = apply_utm(url, utm)
    assert apply_utm(result, utm) == result
    assert result.endswith(fragment)
    parsed = parse_qsl(urlsplit(result).query, keep_blank_values=True)
    wanted = {name: value for name, value in utm.items() if value}
    for name, value in wanted.items():
        assert [v for n, v in parsed if n == name] == [value]
    before = [(n, v) for n, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    assert [pair for pair in parsed if pair[0] not in wanted] == [
        pair for pair in before if pair[0] not in wanted
    ]
