"""Query-string forwarding: a visitor's query merged onto the link's destination.

Parameters are handled as raw ``name[=value]`` pieces and never decoded and re-encoded, so keys
without values (``flag`` vs ``flag=``), repeated keys and the destination's own percent-encoding
come out exactly as they went in. Names are compared decoded (``a+b`` and ``a%20b`` are the same
name under application/x-www-form-urlencoded, which is how servers read them).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_plus

# Printable ASCII except '#': anything else in an incoming piece is percent-encoded so the result
# is always a valid Location header value and cannot grow a fragment.
_SAFE_PIECE = re.compile(r"[\x21\x22\x24-\x7e]*")


def _param_name(piece: str) -> str:
    return unquote_plus(piece.partition("=")[0])


def _encode_unsafe(piece: str) -> str:
    if _SAFE_PIECE.fullmatch(piece):
        return piece
    out = []
    for ch in piece:
        code = ord(ch)
        if 0x21 <= code <= 0x7E and ch != "#":
            out.append(ch)
        elif code < 0x100:
            # The caller passes the raw query decoded as latin-1, one character per byte.
            out.append(f"%{code:02X}")
        else:
            out.append(quote(ch, safe=""))
    return "".join(out)


def query_value(query: str, name: str) -> str | None:
    """The decoded value of the first ``name`` parameter in a raw query string, or None."""
    for piece in query.removeprefix("?").split("&"):
        if piece and _param_name(piece) == name:
            return unquote_plus(piece.partition("=")[2])
    return None


def merge_query(destination: str, incoming_query: str, *, strip: frozenset[str]) -> str:
    """Forward ``incoming_query`` onto ``destination``; incoming values win, ``strip`` names go.

    ``incoming_query`` is the raw query as received (ASGI ``query_string.decode("latin-1")``),
    with or without a leading ``?``. A name present in the incoming query replaces every
    destination parameter of that name, taking the place of the first one; new names are
    appended in incoming order. With nothing left to forward the destination is returned
    unchanged, byte for byte.
    """
    grouped: dict[str, list[str]] = {}
    for piece in incoming_query.removeprefix("?").split("&"):
        if not piece:
            continue
        name = _param_name(piece)
        if name in strip:
            continue
        grouped.setdefault(name, []).append(_encode_unsafe(piece))
    if not grouped:
        return destination
    base, hashmark, fragment = destination.partition("#")
    path, _, query = base.partition("?")
    out: list[str] = []
    placed: set[str] = set()
    for piece in query.split("&") if query else []:
        # An empty piece (from "a=1&&b=2") names nothing and is kept as it was.
        dest_name = _param_name(piece) if piece else None
        if dest_name is None or dest_name not in grouped:
            out.append(piece)
        elif dest_name not in placed:
            out.extend(grouped[dest_name])
            placed.add(dest_name)
    for name, pieces in grouped.items():
        if name not in placed:
            out.extend(pieces)
    return f"{path}?{'&'.join(out)}{hashmark}{fragment}"
