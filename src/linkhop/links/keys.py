"""Short-key rules: the lookup form of a key and what a custom key may look like.

A custom key is one path segment of an IRI (RFC 3987): Unicode letters, marks and digits plus the
RFC 3986 "unreserved" punctuation ``-``, ``_``, ``.``, ``~``. Everything that a browser, proxy or
our own router would read as structure is refused rather than escaped, so that the key a user
types is exactly the key a visitor's browser sends:

- ``/`` is refused entirely: keys are one segment. Multi-segment keys would collide with
  trailing-slash handling, and proxies rewrite ``//`` and ``..`` in paths.
- ``?`` and ``#`` start the query and the fragment; ``%`` starts a percent-escape (a key holding
  ``%41`` would be ambiguous with ``A``); ``\\`` is read as ``/`` by browsers (WHATWG URL).
- a trailing ``+`` is how visitors ask for a link's inspect page (``key+``).
- ``.`` and ``..`` are dot segments that clients remove; leading/trailing dots look like files
  and domains.
- control, invisible-formatting (e.g. bidi overrides used to spoof text) and whitespace
  characters.
"""

from __future__ import annotations

import unicodedata

from linkhop.errors import Invalid

BUILTIN_RESERVED_KEYS: frozenset[str] = frozenset(
    {
        "api",
        "app",
        "docs",
        "redoc",
        "openapi.json",
        "healthz",
        "readyz",
        "metrics",
        "robots.txt",
        "favicon.ico",
        ".well-known",
        "static",
        "assets",
        "admin",
        "login",
        "logout",
        "signup",
        "auth",
        "sso",
        "settings",
        "qr",
        "s",
        "setup",
    }
)
"""Paths the apps serve on every short domain; keys starting with ``_`` are reserved too."""

_PUNCTUATION_ALLOWED = frozenset("-_.~")
_STRUCTURAL = {
    "?": "'?' starts the query string",
    "#": "'#' starts the fragment, which browsers never send",
    "%": "'%' starts a percent-escape, so the key would be ambiguous",
    "\\": "browsers read '\\' as '/'",
}


def normalize_key(key: str, *, case_sensitive: bool) -> str:
    """The lookup form of a key: NFC-normalised, lower-cased unless the domain is case-sensitive."""
    # NFC so that "é" typed precomposed and "e + U+0301" from another keyboard are one key.
    nfc = unicodedata.normalize("NFC", key)
    if case_sensitive:
        return nfc
    # lower() rather than casefold(): casefold maps "ß" to "ss", merging keys a user sees as
    # different. NFC again because lower-casing can leave a decomposed sequence (e.g. "İ").
    return unicodedata.normalize("NFC", nfc.lower())


_BUILTIN_LOOKUP = frozenset(normalize_key(k, case_sensitive=False) for k in BUILTIN_RESERVED_KEYS)


def _refuse(detail: str, code: str) -> Invalid:
    return Invalid(detail, field="key", code=code)


def _check_character(ch: str, position: int) -> None:
    category = unicodedata.category(ch)
    where = f"at position {position + 1}"
    if category == "Cc":
        raise _refuse(
            f"The key contains a control character (U+{ord(ch):04X}) {where}.",
            "key_control_character",
        )
    if category == "Cf":
        raise _refuse(
            f"The key contains an invisible formatting character (U+{ord(ch):04X}) {where}; "
            "such characters can make a key look like another one.",
            "key_invisible_character",
        )
    if ch.isspace() or category.startswith("Z"):
        raise _refuse(
            f"The key contains whitespace {where}; use '-' or '_' instead.", "key_whitespace"
        )
    if ch in _STRUCTURAL:
        raise _refuse(
            f"The key may not contain {ch!r} ({_STRUCTURAL[ch]}).", "key_reserved_character"
        )
    if ch in _PUNCTUATION_ALLOWED or category[0] in "LMN":
        return
    raise _refuse(
        f"The key may not contain {ch!r} {where}; use letters, digits, '-', '_', '.' or '~'.",
        "key_invalid_character",
    )


def validate_custom_key(key: str, *, max_length: int, reserved: frozenset[str]) -> str:
    """Check a user-chosen key; return it NFC-normalised, case kept, or raise ``Invalid``."""
    key = unicodedata.normalize("NFC", key)
    if not key:
        raise _refuse("The key is empty.", "key_empty")
    if len(key) > max_length:
        raise _refuse(
            f"The key is {len(key)} characters long; the limit is {max_length}.", "key_too_long"
        )
    if "/" in key:
        raise _refuse("The key may not contain '/': a key is a single path segment.", "key_slash")
    # Position-specific rules first, so "abc+" gets the inspect-page explanation rather than a
    # generic "'+' not allowed".
    if key.endswith("+"):
        raise _refuse(
            "The key may not end with '+': 'key+' shows the link's inspect page.",
            "key_trailing_plus",
        )
    for position, ch in enumerate(key):
        _check_character(ch, position)
    if key in {".", ".."}:
        raise _refuse(f"{key!r} is a relative path segment and cannot be a key.", "key_dot_segment")
    if key.startswith(".") or key.endswith("."):
        raise _refuse("The key may not start or end with '.'.", "key_dot_edge")
    if key.startswith("_"):
        raise _refuse("Keys starting with '_' are reserved for internal use.", "key_reserved")
    lookup = normalize_key(key, case_sensitive=False)
    extra = frozenset(normalize_key(r, case_sensitive=False) for r in reserved)
    if lookup in _BUILTIN_LOOKUP or lookup in extra:
        raise _refuse(f"The key {key!r} is reserved.", "key_reserved")
    return key
