"""UTM composition: a link's ``utm_*`` fields written onto its destination's query string."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, unquote_plus

from linkhop.errors import Invalid

UTM_PARAMS: tuple[str, ...] = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
"""The UTM parameters a link can set, in the order new ones are appended."""


def _param_name(piece: str) -> str:
    # Compare decoded names so "utm%5Fsource" is recognised as utm_source (WHATWG form decoding).
    return unquote_plus(piece.partition("=")[0])


def apply_utm(url: str, utm: Mapping[str, str | None]) -> str:
    """Set the link's UTM values on ``url``: same-named params are replaced, the rest kept as is."""
    unknown = sorted(set(utm) - set(UTM_PARAMS))
    if unknown:
        raise Invalid(
            f"Unknown UTM parameter {unknown[0]!r}; expected one of {', '.join(UTM_PARAMS)}.",
            field=unknown[0],
            code="utm_unknown_param",
        )
    # None or "" means the link does not set that parameter: the destination's own value stays.
    wanted = {name: utm[name] for name in UTM_PARAMS if utm.get(name)}
    if not wanted:
        return url
    base, hashmark, fragment = url.partition("#")
    path, _, query = base.partition("?")
    out: list[str] = []
    placed: set[str] = set()
    for piece in query.split("&") if query else []:
        name = _param_name(piece) if piece else ""
        if name in wanted:
            # The first occurrence keeps its position; later duplicates are dropped so the
            # destination cannot end up with two competing utm_source values.
            if name not in placed:
                out.append(f"{name}={quote(str(wanted[name]), safe='')}")
                placed.add(name)
            continue
        out.append(piece)
    out.extend(
        f"{name}={quote(str(value), safe='')}"
        for name, value in wanted.items()
        if name not in placed
    )
    return f"{path}?{'&'.join(out)}{hashmark}{fragment}"
