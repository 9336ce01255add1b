"""QR code images for short links: pure functions over segno, no I/O.

A link's QR code encodes ``<short url>?qr=1``. The redirect service reads that parameter, tags
the click ``trigger=qr`` and never forwards it to the destination (``linkhop.redirects``), so
analytics can tell scans from clicks.

Rendering rules:

- always a full QR code, never a Micro QR (phone cameras do not read Micro QR);
- the error-correction level is exactly the one asked for (segno's "boost" is off), so an image
  made with ``L`` is the ``L`` symbol a reader expects;
- modules are whole pixels (crisp edges in both formats): the image is the largest multiple of
  the symbol width that fits in ``size``, and never less than one pixel per module;
- dark modules must be darker than the background with a contrast ratio of at least 3:1, or
  many scanners fail; the background may be ``transparent``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Literal

import segno

from linkhop.errors import Invalid

QrFormat = Literal["svg", "png"]
ErrorLevel = Literal["L", "M", "Q", "H"]

FORMATS: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}
ERROR_LEVELS: tuple[ErrorLevel, ...] = ("L", "M", "Q", "H")
QR_PARAM = "qr"
DEFAULT_SIZE = 512
MIN_SIZE = 32
MAX_SIZE = 4096
DEFAULT_MARGIN = 4  # the quiet zone ISO/IEC 18004 asks for, in modules
MAX_MARGIN = 16
MIN_CONTRAST = 3.0
TRANSPARENT = "transparent"

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class QrImage:
    """A rendered QR code and what a response needs to serve it."""

    content: bytes
    media_type: str
    extension: str
    width: int
    """Pixels per side (the image is square)."""
    modules: int
    """Modules per side including the quiet zone."""
    version: int
    error: ErrorLevel
    data: str


def qr_url(short_url: str) -> str:
    """The URL a link's QR code encodes: the short URL plus ``qr=1``."""
    base, hashmark, fragment = short_url.partition("#")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}{QR_PARAM}=1{hashmark}{fragment}"


def parse_color(value: str, *, field: str, allow_transparent: bool = False) -> str | None:
    """A hex colour (``#rgb``, ``#rrggbb``, the ``#`` optional) as ``#rrggbb``; None for
    ``transparent`` where allowed. Anything else is a 422 naming ``field``."""
    cleaned = value.strip()
    if allow_transparent and cleaned.lower() == TRANSPARENT:
        return None
    match = _HEX.fullmatch(cleaned)
    if match is None:
        extra = " or 'transparent'" if allow_transparent else ""
        raise Invalid(
            f"'{value[:20]}' is not a hex colour: use #rrggbb or #rgb (the # is optional){extra}",
            field=field,
            code="invalid_color",
        )
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def _luminance(color: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    channels = []
    for i in (1, 3, 5):
        c = int(color[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(dark: str, light: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21); > 1 means ``dark`` is darker."""
    return (_luminance(light) + 0.05) / (_luminance(dark) + 0.05)


def parse_error_level(value: str) -> ErrorLevel:
    """``L``, ``M``, ``Q`` or ``H`` (any case)."""
    upper = value.strip().upper()
    for level in ERROR_LEVELS:
        if upper == level:
            return level
    raise Invalid(
        f"error correction must be one of L, M, Q, H, not '{value[:10]}'",
        field="ecc",
        code="invalid_ecc",
    )


def build_qr(data: str, *, ecc: str = "M") -> segno.QRCode:
    """The QR symbol for ``data`` at exactly error level ``ecc`` (never Micro QR)."""
    level = parse_error_level(ecc)
    try:
        return segno.make(data, error=level, micro=False, boost_error=False)
    except segno.DataOverflowError as exc:
        raise Invalid(
            f"{len(data)} characters do not fit in a QR code at error level {level}",
            field="data",
            code="qr_data_too_long",
        ) from exc


def render_qr(
    data: str,
    *,
    fmt: str = "svg",
    size: int = DEFAULT_SIZE,
    color: str = "#000000",
    background: str = "#ffffff",
    ecc: str = "M",
    margin: int = DEFAULT_MARGIN,
    title: str | None = None,
) -> QrImage:
    """Render ``data`` as an SVG or PNG QR code (see the module docstring for the rules).

    ``color`` is the dark modules, ``background`` the light ones (or ``transparent``); ``margin``
    is the quiet zone in modules; ``title`` becomes the SVG's ``<title>`` (accessibility).
    Every bad option is an :class:`~linkhop.errors.Invalid` naming its field.
    """
    if fmt not in FORMATS:
        raise Invalid(f"format must be svg or png, not '{fmt[:10]}'", field="format")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise Invalid(f"size must be {MIN_SIZE}–{MAX_SIZE} pixels", field="size")
    if not 0 <= margin <= MAX_MARGIN:
        raise Invalid(f"margin must be 0–{MAX_MARGIN} modules", field="margin")
    dark = parse_color(color, field="color")
    assert dark is not None  # transparent is not allowed for the dark modules
    light = parse_color(background, field="background", allow_transparent=True)
    if light is not None and contrast_ratio(dark, light) < MIN_CONTRAST:
        raise Invalid(
            f"color {dark} on background {light} has a contrast of "
            f"{contrast_ratio(dark, light):.2f}:1; scanners need dark modules on a lighter "
            f"background with at least {MIN_CONTRAST:.0f}:1",
            field="color",
            code="qr_low_contrast",
        )
    qr = build_qr(data, ecc=ecc)
    modules = int(qr.symbol_size(scale=1, border=margin)[0])
    scale = max(1, size // modules)
    out = io.BytesIO()
    if fmt == "svg":
        qr.save(
            out,
            kind="svg",
            scale=scale,
            border=margin,
            dark=dark,
            light=light,
            xmldecl=True,
            svgclass=None,
            lineclass=None,
            title=title,
        )
    else:
        qr.save(out, kind="png", scale=scale, border=margin, dark=dark, light=light)
    return QrImage(
        content=out.getvalue(),
        media_type=FORMATS[fmt],
        extension=fmt,
        width=modules * scale,
        modules=modules,
        version=int(qr.version),
        error=parse_error_level(str(qr.error)),
        data=data,
    )


def render_link_qr(
    short_url: str,
    *,
    fmt: str = "svg",
    size: int = DEFAULT_SIZE,
    color: str = "#000000",
    background: str = "#ffffff",
    ecc: str = "M",
    margin: int = DEFAULT_MARGIN,
) -> QrImage:
    """A link's QR code: encodes :func:`qr_url` of ``short_url``, titled with the short URL."""
    return render_qr(
        qr_url(short_url),
        fmt=fmt,
        size=size,
        color=color,
        background=background,
        ecc=ecc,
        margin=margin,
        title=short_url,
    )


def download_filename(key: str, extension: str) -> str:
    """A safe file name for a link's QR code, such as ``qr-launch.png``."""
    stem = _UNSAFE_FILENAME.sub("_", key).strip("._")[:80] or "link"
    return f"qr-{stem}.{extension}"
