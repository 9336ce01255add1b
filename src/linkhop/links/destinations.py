"""Destination URL rules: what a short link may point to, in one normalised form.

Accepted: absolute ``http``/``https`` URLs with a host. The result is pure ASCII so it can go
into a ``Location`` header as is (RFC 9110 §10.2.2):

- the scheme and host are lower-cased; Unicode hosts become punycode A-labels (UTS 46 mapping,
  non-transitional, as browsers do); an explicit port is kept;
- path, query and fragment are kept exactly as given, except that non-ASCII characters are
  percent-encoded as UTF-8 (the IRI→URI mapping of RFC 3987 §3.1). Existing percent-escapes are
  left untouched, and nothing is decoded;
- raw spaces, control and invisible-formatting characters are refused rather than encoded: they
  are almost always a paste error, and CR/LF in a ``Location`` header is response splitting.

No DNS or network checks happen here (pure function). Redirects never fetch the destination;
code that does fetch it (title/preview fetchers) applies its own SSRF guard at fetch time.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache
from urllib.parse import quote, urlsplit

import idna

from linkhop.errors import Invalid

ALLOWED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_ASCII_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# Every printable ASCII character: quote() with this safe set only touches non-ASCII.
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


def _refuse(detail: str, code: str) -> Invalid:
    return Invalid(detail, field="url", code=code)


def _check_characters(url: str) -> None:
    # Fast path: printable ASCII without spaces has no character refused below (measured: the
    # per-character loop was the largest part of validating a typical URL).
    if url.isascii() and url.isprintable() and " " not in url:
        return
    for position, ch in enumerate(url):
        category = unicodedata.category(ch)
        if ch.isspace() or category in {"Cc", "Cf", "Cs"} or category.startswith("Z"):
            what = "a space" if ch == " " else f"the character U+{ord(ch):04X}"
            raise _refuse(
                f"The URL contains {what} at position {position + 1}. Spaces must be "
                "written as %20, and control or invisible characters are not allowed.",
                "url_invalid_character",
            )


def _host_label(label: str) -> str:
    if label.isascii():
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise _refuse(
                    f"{label!r} is not a valid punycode label ({exc}).", "url_bad_host"
                ) from exc
        # Underscores are not valid in DNS host names but appear in real ones, and browsers
        # accept them; "--" in positions 3 and 4 appears in real CDN host names, so only "xn--"
        # labels get the IDNA checks.
        if not _ASCII_LABEL.fullmatch(label):
            raise _refuse(f"{label!r} is not a valid host name label.", "url_bad_host")
        return label
    try:
        return idna.encode(label).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise _refuse(
            f"{label!r} is not a valid internationalised domain name label ({exc}).", "url_bad_host"
        ) from exc


@lru_cache(maxsize=4096)
def _normalise_host(host: str) -> str:
    # Cached: pure, and the same few hosts recur (bulk imports, the own-host list of every call).
    if not host:
        raise _refuse("The URL has no host.", "url_no_host")
    if host.startswith("["):
        if not host.endswith("]"):
            raise _refuse("The URL has an unterminated IPv6 address.", "url_bad_host")
        if "%" in host:
            # Zone ids ("fe80::1%25eth0") name an interface of the visitor's own machine.
            raise _refuse("IPv6 zone ids are not allowed in a destination.", "url_bad_host")
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise _refuse(f"{host!r} is not a valid IPv6 address.", "url_bad_host") from exc
        return f"[{address.compressed}]"
    if "%" in host:
        # Browsers percent-decode hosts, so "%65vil.com" would open "evil.com".
        raise _refuse("The host may not contain percent-escapes.", "url_bad_host")
    try:
        # UTS 46: full-width dots and letters, case and compatibility forms mapped as browsers do.
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError) as exc:
        raise _refuse(f"{host!r} is not a valid host name ({exc}).", "url_bad_host") from exc
    trailing_dot = mapped.endswith(".")
    labels = (mapped[:-1] if trailing_dot else mapped).split(".")
    if any(not label for label in labels):
        raise _refuse(f"{host!r} has an empty label.", "url_bad_host")
    ascii_host = ".".join(_host_label(label) for label in labels)
    if len(ascii_host) > 253:
        raise _refuse("The host name is longer than 253 characters.", "url_bad_host")
    last = labels[-1]
    # A numeric last label makes browsers parse the host as an IPv4 number ("2130706433",
    # "0x7f.1", "127.1"): accept only the canonical dotted quad so we see what the browser sees.
    if last.isdigit() or last.startswith("0x"):
        try:
            ipaddress.IPv4Address(ascii_host)
        except ValueError as exc:
            raise _refuse(
                f"{host!r} looks like an IP address but is not a dotted-quad IPv4 address.",
                "url_bad_host",
            ) from exc
    return ascii_host + ("." if trailing_dot else "")


def _split_host_port(authority: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets) and range-check the port."""
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = (authority, "") if end < 0 else (authority[: end + 1], authority[end + 1 :])
        if rest and not rest.startswith(":"):
            raise _refuse(f"{authority!r} is not a valid host and port.", "url_bad_host")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = authority.rpartition(":")
        if not colon:
            host, port_text = authority, None
        else:
            port_text = port_text_raw
        if ":" in host:
            raise _refuse(f"{authority!r} is not a valid host and port.", "url_bad_host")
    if not port_text:  # "host:" with an empty port means the default port (RFC 3986 §3.2.3)
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise _refuse(f"The port {port_text!r} is not a number from 1 to 65535.", "url_bad_port")
    return host, int(port_text)


@lru_cache(maxsize=64)
def _own_endpoints(own_hosts: frozenset[str]) -> frozenset[tuple[str, int | None]]:
    endpoints = set()
    for entry in own_hosts:
        host, port = _split_host_port(entry.strip())
        endpoints.add((_normalise_host(host).rstrip("."), port))
    return frozenset(endpoints)


def _is_own(
    host: str, port: int | None, scheme: str, own: frozenset[tuple[str, int | None]]
) -> bool:
    # An own entry without a port is the domain on its default ports; one with a port matches that
    # port, which is also what a portless URL reaches when the port is the scheme's default. A
    # different explicit port on the same host is another service (e.g. a dev server) and allowed.
    bare = host.rstrip(".")
    effective = port if port is not None else _DEFAULT_PORTS[scheme]
    for own_host, own_port in own:
        if own_host != bare:
            continue
        if own_port is None and effective in _DEFAULT_PORTS.values():
            return True
        if own_port == effective:
            return True
    return False


def validate_destination(
    url: str, *, max_length: int, own_hosts: frozenset[str], field: str = "url"
) -> str:
    """Check a destination URL and return its normalised form; raise ``Invalid`` if refused.

    ``field`` names the input the URL came from (``url``, ``expired_url``) in the error, so a
    form shows the message next to the right field.
    """
    try:
        return _validate(url, max_length=max_length, own_hosts=own_hosts)
    except Invalid as exc:
        if field != "url":
            exc.field = field
        raise


def _validate(url: str, *, max_length: int, own_hosts: frozenset[str]) -> str:
    url = url.strip()
    if not url:
        raise _refuse("The URL is empty.", "url_empty")
    if len(url) > max_length:
        raise _refuse(
            f"The URL is {len(url)} characters long; the limit is {max_length}.", "url_too_long"
        )
    _check_characters(url)
    match = _SCHEME.match(url)
    if match is None:
        raise _refuse("The URL must start with http:// or https://.", "url_no_scheme")
    scheme = match.group(1).lower()
    if scheme not in ALLOWED_SCHEMES and url[match.end() : match.end() + 1].isdigit():
        # "example.com:8080/x" parses as scheme "example.com"; the user forgot the scheme.
        raise _refuse("The URL must start with http:// or https://.", "url_no_scheme")
    if scheme not in ALLOWED_SCHEMES:
        raise _refuse(
            f"Only http:// and https:// destinations are allowed, not '{scheme}:'. Schemes such "
            "as javascript:, data:, file: and ftp: can run code in the visitor's browser, read "
            "local files or bypass browser protections.",
            "url_scheme_not_allowed",
        )
    rest = url[match.end() :]
    if not rest.startswith("//"):
        raise _refuse(f"The URL must look like {scheme}://host/…", "url_no_host")
    rest = rest[2:]
    end = len(rest)
    for delimiter in "/?#\\":
        found = rest.find(delimiter)
        if 0 <= found < end:
            end = found
    authority, tail = rest[:end], rest[end:]
    if "\\" in tail.partition("?")[0].partition("#")[0]:
        raise _refuse(
            "The URL may not contain '\\' before the query: browsers read it as '/', so the "
            "visitor would reach a different host or path than the one shown.",
            "url_invalid_character",
        )
    if "@" in authority:
        raise _refuse(
            "The URL may not contain a user name or password (user:pass@host): browsers show "
            "the part before '@' as if it were the site, a common phishing trick, and anyone "
            "who sees the link would see the credentials.",
            "url_userinfo",
        )
    raw_host, port = _split_host_port(authority)
    host = _normalise_host(raw_host)
    if _is_own(host, port, scheme, _own_endpoints(own_hosts)):
        raise _refuse(
            f"The URL points to this short-link domain ({host}), which would redirect in a loop.",
            "url_redirect_loop",
        )
    normalised = f"{scheme}://{host}{'' if port is None else f':{port}'}"
    normalised += quote(tail, safe=_PRINTABLE_ASCII)
    if len(normalised) > max_length:
        raise _refuse(
            f"The URL is {len(normalised)} characters long once encoded; "
            f"the limit is {max_length}.",
            "url_too_long",
        )
    return normalised


def destination_host(url: str) -> str:
    """The host of a validated destination URL: lower-case, punycode, no port or brackets."""
    host = urlsplit(url).hostname
    if not host:
        raise _refuse("The URL has no host.", "url_no_host")
    return host
