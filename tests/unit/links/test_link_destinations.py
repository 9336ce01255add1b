"""Destination URL validation and normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkhop.errors import Invalid
from linkhop.links.destinations import destination_host, validate_destination

OWN = frozenset({"sho.rt", "Links.Example:8080", "[::1]:9000", "bücher.link"})


def validate(url: str, *, max_length: int = 8192, own_hosts: frozenset[str] = OWN) -> str:
    return validate_destination(url, max_length=max_length, own_hosts=own_hosts)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com", "https://example.com"),
        ("https://example.com/", "https://example.com/"),
        ("  https://example.com/a  \n", "https://example.com/a"),
        ("HTTPS://Example.COM/Path/Kept?Q=Kept#Frag", "https://example.com/Path/Kept?Q=Kept#Frag"),
        ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ("http://BÜCHER.example/x", "http://xn--bcher-kva.example/x"),
        ("http://faß.de/", "http://xn--fa-hia.de/"),
        ("https://ｅｘａｍｐｌｅ．ｃｏｍ/", "https://example.com/"),
        ("http://xn--bcher-kva.example/", "http://xn--bcher-kva.example/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com:/x", "https://example.com/x"),
        ("http://192.0.2.1/", "http://192.0.2.1/"),
        ("http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080/"),
        ("https://my_sub.example.com/", "https://my_sub.example.com/"),
        ("https://r3---sn-ab.example.com/", "https://r3---sn-ab.example.com/"),
        ("https://example.com./", "https://example.com./"),
        (
            "https://example.com/a%20b?q=%zz&x=%2F#f%41",
            "https://example.com/a%20b?q=%zz&x=%2F#f%41",
        ),
        ("https://example.com/café?q=ü#ñ", "https://example.com/caf%C3%A9?q=%C3%BC#%C3%B1"),
        ("https://example.com?only=query", "https://example.com?only=query"),
        ("https://example.com#only-fragment", "https://example.com#only-fragment"),
        ("https://example.com/?q=a\\b", "https://example.com/?q=a\\b"),
        ("https://sho.rt:8443/x", "https://sho.rt:8443/x"),
        ("http://links.example/x", "http://links.example/x"),
        ("http://[::1]/x", "http://[::1]/x"),
    ],
)
def test_accepts_and_normalises(url: str, expected: str) -> None:
    assert validate(url) == expected


@pytest.mark.parametrize(
    ("url", "code", "fragment"),
    [
        ("", "url_empty", "empty"),
        ("   ", "url_empty", "empty"),
        ("javascript:alert(1)", "url_scheme_not_allowed", "'javascript:'"),
        ("JavaScript:alert(1)", "url_scheme_not_allowed", "'javascript:'"),
        ("data:text/html,<script>alert(1)</script>", "url_scheme_not_allowed", "'data:'"),
        ("file:///etc/passwd", "url_scheme_not_allowed", "'file:'"),
        ("ftp://example.com/x", "url_scheme_not_allowed", "'ftp:'"),
        ("vbscript:msgbox", "url_scheme_not_allowed", "run code"),
        ("example.com/path", "url_no_scheme", "http://"),
        ("example.com:8080/path", "url_no_scheme", "http://"),
        ("//example.com/path", "url_no_scheme", "http://"),
        ("http://", "url_no_host", "no host"),
        ("https:///path", "url_no_host", "no host"),
        ("http:example.com", "url_no_host", "http://host/"),
        ("http://?q=1", "url_no_host", "no host"),
        ("http://user:pw@x.com", "url_userinfo", "phishing"),
        ("http://user@x.com/", "url_userinfo", "user:pass@host"),
        ("https://paypal.com@evil.example/", "url_userinfo", "before '@'"),
        ("https://sho.rt/abc", "url_redirect_loop", "loop"),
        ("https://SHO.RT/abc", "url_redirect_loop", "loop"),
        ("http://sho.rt:80/abc", "url_redirect_loop", "loop"),
        ("https://sho.rt:443/abc", "url_redirect_loop", "loop"),
        ("https://sho.rt./abc", "url_redirect_loop", "loop"),
        ("http://links.example:8080/abc", "url_redirect_loop", "loop"),
        ("http://LINKS.Example:8080/abc", "url_redirect_loop", "loop"),
        ("http://[::1]:9000/abc", "url_redirect_loop", "loop"),
        ("https://BÜCHER.link/abc", "url_redirect_loop", "loop"),
        ("https://xn--bcher-kva.link/abc", "url_redirect_loop", "loop"),
        ("http://x.com:0/", "url_bad_port", "1 to 65535"),
        ("http://x.com:65536/", "url_bad_port", "1 to 65535"),
        ("http://x.com:8o/", "url_bad_port", "'8o'"),
        ("http://x.com:١٢/", "url_bad_port", "1 to 65535"),
        ("http://xn--zzzz.example/", "url_bad_host", "punycode"),
        ("http://☃.net/", "url_bad_host", "internationalised"),
        ("http://\u0300a.example/", "url_bad_host", "internationalised"),
        ("http://a..b/", "url_bad_host", "empty label"),
        ("http://-a.example/", "url_bad_host", "label"),
        ("http://a!b.example/", "url_bad_host", "label"),
        ("http://" + "a" * 64 + ".example/", "url_bad_host", "label"),
        ("http://" + ".".join(["a" * 60] * 5) + "/", "url_bad_host", "253"),
        ("http://%65vil.com/", "url_bad_host", "percent-escapes"),
        ("http://2130706433/", "url_bad_host", "dotted-quad"),
        ("http://0x7f.1/", "url_bad_host", "dotted-quad"),
        ("http://127.1/", "url_bad_host", "dotted-quad"),
        ("http://[::1/", "url_bad_host", "IPv6"),
        ("http://[not-v6]/", "url_bad_host", "IPv6"),
        ("http://[fe80::1%25eth0]/", "url_bad_host", "zone"),
        ("http://[::1]x/", "url_bad_host", "host and port"),
        ("http://a:b:c/", "url_bad_host", "host and port"),
        ("http://evil.com\\@good.com/", "url_invalid_character", "'\\'"),
        ("https://example.com/a\\b", "url_invalid_character", "'\\'"),
        ("https://example.com/a b", "url_invalid_character", "space"),
        ("https://exa mple.com/", "url_invalid_character", "space"),
        ("https://example.com/\r\nSet-Cookie: x=1", "url_invalid_character", "U+000D"),
        ("https://example.com/\x00", "url_invalid_character", "U+0000"),
        ("https://example.com/\u202egnp.exe", "url_invalid_character", "U+202E"),
        ("https://example.com/\u00a0x", "url_invalid_character", "U+00A0"),
    ],
)
def test_refuses_with_a_stable_code_and_a_precise_message(
    url: str, code: str, fragment: str
) -> None:
    with pytest.raises(Invalid) as caught:
        validate(url)
    assert caught.value.code == code
    assert caught.value.field == "url"
    assert fragment in caught.value.detail


def test_scheme_message_names_the_dangerous_schemes() -> None:
    with pytest.raises(Invalid) as caught:
        validate("javascript:alert(1)")
    for scheme in ("javascript:", "data:", "file:", "ftp:"):
        assert scheme in caught.value.detail


def test_refuses_urls_over_the_limit() -> None:
    url = "https://example.com/" + "a" * (8192 - len("https://example.com/"))
    assert validate(url) == url
    with pytest.raises(Invalid) as caught:
        validate(url + "a")
    assert caught.value.code == "url_too_long"
    assert "8192" in caught.value.detail
    with pytest.raises(Invalid) as caught:
        validate("https://example.com/" + "a" * 20_000)
    assert caught.value.code == "url_too_long"


def test_limit_applies_to_the_encoded_form() -> None:
    url = "https://example.com/" + "é" * 20
    with pytest.raises(Invalid) as caught:
        validate(url, max_length=len(url) + 10)
    assert caught.value.code == "url_too_long"
    assert "once encoded" in caught.value.detail


def test_own_host_with_port_only_loops_on_that_port() -> None:
    own = frozenset({"127.0.0.1:8080"})
    with pytest.raises(Invalid):
        validate("http://127.0.0.1:8080/abc", own_hosts=own)
    assert validate("http://127.0.0.1:3000/app", own_hosts=own) == "http://127.0.0.1:3000/app"
    assert validate("http://127.0.0.1/app", own_hosts=own) == "http://127.0.0.1/app"


def test_own_host_on_a_default_port_matches_the_portless_url() -> None:
    with pytest.raises(Invalid):
        validate("https://go.example/x", own_hosts=frozenset({"go.example:443"}))
    assert validate("http://go.example/x", own_hosts=frozenset({"go.example:443"}))


def test_no_own_hosts_means_no_loop_check() -> None:
    assert validate("https://sho.rt/abc", own_hosts=frozenset()) == "https://sho.rt/abc"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.com/x", "example.com"),
        ("https://Example.COM:8443/x", "example.com"),
        ("http://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
    ],
)
def test_destination_host(url: str, host: str) -> None:
    assert destination_host(url) == host


def test_destination_host_refuses_hostless_urls() -> None:
    with pytest.raises(Invalid) as caught:
        destination_host("mailto:someone")
    assert caught.value.code == "url_no_host"


_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)
_HOSTS = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "example", "Org", "bücher", "テスト"]),
)
_TAILS = st.text(
    alphabet=st.characters(
        exclude_categories=["Cc", "Cf", "Cs", "Zs", "Zl", "Zp"], exclude_characters="\\"
    ),
    max_size=40,
).map(lambda text: "/" + text)


@given(scheme=st.sampled_from(["http", "https", "HTTPS"]), host=_HOSTS, tail=_TAILS)
def test_valid_urls_normalise_to_ascii_and_are_stable(scheme: str, host: str, tail: str) -> None:
    result = validate(f"{scheme}://{host}{tail}")
    assert result.isascii()
    assert validate(result) == result
    assert result.startswith(scheme.lower() + "://")
    assert destination_host(result) == result.split("://")[1].split("/")[0]
    if tail.isascii():
        assert result.endswith(tail)


def _outcome(url: str) -> str | Invalid:
    try:
        return validate(url)
    except Invalid as refusal:
        return refusal


@given(st.text(max_size=80))
def test_any_text_is_accepted_cleanly_or_refused_with_invalid(text: str) -> None:
    for candidate in (text, "https://" + text, "http://example.com/" + text):
        result = _outcome(candidate)
        if isinstance(result, Invalid):
            assert result.code.startswith("url_")
            continue
        assert result.isascii()
        assert result.startswith(("http://", "https://"))
        assert not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in result)
