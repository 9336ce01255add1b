"""Pages: a link's QR code (``/app/links/{link_id}/qr``): options form, preview, downloads.

The form is a GET form, so it works without JavaScript: submitting it shows the preview and the
download links for those options (or the options' errors). With htmx the preview part
(``#qr-result``) is refreshed as the options change. Images come from
``/app/links/{link_id}/qr/image`` and are drawn by ``linkhop.qr.service`` exactly as
``GET /api/v1/links/{link_id}/qr`` draws them. A QR code encodes the short URL with ``?qr=1``,
so scans are recorded with ``trigger=qr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.dashboard.deps import SignedIn, SignedInDep
from linkhop.dashboard.forms import FormState
from linkhop.dashboard.rendering import PREFIX, query_string, render
from linkhop.deps import RuntimeDep, SessionDep
from linkhop.errors import Invalid
from linkhop.links import service as links_service
from linkhop.links.models import Link
from linkhop.principal import require
from linkhop.qr import service as qr_service
from linkhop.runtime import Runtime

router = APIRouter(prefix="/links")

PERMISSION = "links:read"
FIELDS = frozenset({"size", "color", "background", "ecc", "margin"})
DEFAULTS = {
    "size": str(qr_service.DEFAULT_SIZE),
    "color": "#000000",
    "background": "#ffffff",
    "ecc": "M",
    "margin": str(qr_service.DEFAULT_MARGIN),
}
ECC_CHOICES = (
    ("L", "L: 7 % can be damaged (smallest code)"),
    ("M", "M: 15 % (default)"),
    ("Q", "Q: 25 %"),
    ("H", "H: 30 % (room for a logo over the centre)"),
)
RESULT_ID = "qr-result"
PREVIEW_SIZE = 320


@dataclass(frozen=True, slots=True)
class QrOptions:
    """Validated drawing options (``linkhop.qr.service.render_link_qr`` keywords)."""

    size: int
    color: str
    background: str
    ecc: str
    margin: int

    def params(self, **extra: object) -> dict[str, object]:
        """The options as query parameters of the image route."""
        return {
            "size": self.size,
            "color": self.color,
            "background": self.background,
            "ecc": self.ecc,
            "margin": self.margin,
            **extra,
        }


def _whole(
    raw: str, name: str, *, bounds: tuple[int, int], unit: str, state: FormState
) -> int | None:
    low, high = bounds
    text = raw.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        state.errors[name] = f"Enter a whole number of {unit} from {low} to {high}."
        return None
    return int(text)


def parse_options(values: dict[str, str]) -> tuple[QrOptions | None, FormState]:
    """Options from the form's strings; each problem becomes a message next to its field.

    Colours, contrast and the error level are checked by the QR service itself (its messages
    are the API's), so the form never accepts what ``GET /api/v1/links/{id}/qr`` would refuse.
    """
    shown = {name: values.get(name) or DEFAULTS[name] for name in DEFAULTS}
    state = FormState(values=shown, fields=FIELDS)
    size = _whole(
        shown["size"],
        "size",
        bounds=(qr_service.MIN_SIZE, qr_service.MAX_SIZE),
        unit="pixels",
        state=state,
    )
    margin = _whole(
        shown["margin"], "margin", bounds=(0, qr_service.MAX_MARGIN), unit="modules", state=state
    )
    for name, transparent in (("color", False), ("background", True)):
        try:
            qr_service.parse_color(shown[name], field=name, allow_transparent=transparent)
        except Invalid as exc:
            state.add(exc)
    try:
        ecc = qr_service.parse_error_level(shown["ecc"])
        shown["ecc"] = ecc
    except Invalid as exc:
        state.add(exc)
        ecc = "M"
    if size is None or margin is None or state.errors:
        return None, state
    options = QrOptions(
        size=size,
        color=shown["color"].strip(),
        background=shown["background"].strip(),
        ecc=ecc,
        margin=margin,
    )
    return options, state


def render_image(runtime: Runtime, link: Link, options: QrOptions, fmt: str) -> qr_service.QrImage:
    """The link's QR code drawn with ``options`` (``Invalid`` for a low contrast and the like)."""
    return qr_service.render_link_qr(
        runtime.short_url(link.domain, link.key),
        fmt=fmt,
        size=options.size,
        color=options.color,
        background=options.background,
        ecc=options.ecc,
        margin=options.margin,
    )


async def _link(session: AsyncSession, me: SignedIn, link_id: str) -> Link:
    require(me.principal, PERMISSION)
    return await links_service.get_link(session, principal=me.principal, link_id=link_id)


OptionParam = Annotated[str, Query(max_length=20)]


@router.get("/{link_id}/qr")
async def qr_page(
    link_id: str,
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    size: OptionParam = "",
    color: OptionParam = "",
    background: OptionParam = "",
    ecc: OptionParam = "",
    margin: OptionParam = "",
) -> Response:
    """The QR code page: options, a preview and SVG/PNG downloads (viewers included)."""
    link = await _link(session, me, link_id)
    raw = {"size": size, "color": color, "background": background, "ecc": ecc, "margin": margin}
    options, state = parse_options(raw)
    image = None
    if options is not None:
        try:
            # Drawn once here to check the options (contrast…) and to tell the image's size.
            image = render_image(runtime, link, options, "svg")
        except Invalid as exc:  # e.g. too little contrast between the two colours
            state.add(exc)
            options = None
    short_url = runtime.short_url(link.domain, link.key)
    base = f"{PREFIX}/links/{link.id}/qr/image"
    context: dict[str, Any] = {
        "me": me,
        "nav": "links",
        "link": link,
        "short_url": short_url,
        "encoded": qr_service.qr_url(short_url),
        "state": state,
        "options": options,
        "image": image,
        "ecc_choices": ECC_CHOICES,
        "result_id": RESULT_ID,
        "preview_url": (
            f"{base}{query_string(options.params(format='svg', download='0'))}" if options else None
        ),
        "svg_url": f"{base}{query_string(options.params(format='svg'))}" if options else None,
        "png_url": f"{base}{query_string(options.params(format='png'))}" if options else None,
        "preview_size": PREVIEW_SIZE,
    }
    partial = request.headers.get("HX-Target") == RESULT_ID
    template = "qr/_result.html" if partial else "qr/page.html"
    # htmx swaps only 2xx answers: the partial carries its own error message, so it is a 200.
    status = 422 if state.errors and not partial else 200
    response = render(request, template, context, status=status, secret=runtime.secret_key)
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


@router.get("/{link_id}/qr/image")
async def qr_image(
    link_id: str,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    format: Annotated[str, Query(max_length=5)] = "svg",
    size: OptionParam = "",
    color: OptionParam = "",
    background: OptionParam = "",
    ecc: OptionParam = "",
    margin: OptionParam = "",
    download: Annotated[str, Query(max_length=5)] = "1",
) -> Response:
    """The QR code image: SVG or PNG, as a download (``download=1``) or inline (``0``)."""
    link = await _link(session, me, link_id)
    raw = {"size": size, "color": color, "background": background, "ecc": ecc, "margin": margin}
    options, state = parse_options(raw)
    if options is None:
        message = state.message or " ".join(state.errors.values())
        raise Invalid(message or "these QR code options are not valid")
    if format not in qr_service.FORMATS:
        raise Invalid("the format must be svg or png", field="format")
    image = render_image(runtime, link, options, format)
    filename = qr_service.download_filename(link.key, image.extension)
    disposition = "inline" if download in ("0", "false") else "attachment"
    return Response(
        content=image.content,
        media_type=image.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )
