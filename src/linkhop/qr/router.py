"""HTTP route for a link's QR code image."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from linkhop.deps import PrincipalDep, RuntimeDep, SessionDep
from linkhop.links import service as links_service
from linkhop.qr import service as qr_service

router = APIRouter(prefix="/links", tags=["qr codes"])

_IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The QR code image (`format=svg` or `format=png`).",
        "content": {
            "image/svg+xml": {"schema": {"type": "string"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.get(
    "/{link_id}/qr",
    response_class=Response,
    responses=_IMAGE_RESPONSE,
    summary="A link's QR code",
)
async def link_qr(
    link_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    fmt: Annotated[
        qr_service.QrFormat, Query(alias="format", description="`svg` (default) or `png`.")
    ] = "svg",
    size: Annotated[
        int,
        Query(
            ge=qr_service.MIN_SIZE,
            le=qr_service.MAX_SIZE,
            description=(
                "Largest width in pixels. The image is a whole number of pixels per module, so "
                "it can come out a little smaller (never below one pixel per module)."
            ),
        ),
    ] = qr_service.DEFAULT_SIZE,
    color: Annotated[
        str,
        Query(max_length=20, description="Dark modules: hex `#rrggbb` or `#rgb`, `#` optional."),
    ] = "#000000",
    background: Annotated[
        str,
        Query(max_length=20, description="Light modules: hex colour or `transparent`."),
    ] = "#ffffff",
    ecc: Annotated[
        str,
        Query(
            max_length=1,
            description=(
                "Error correction: `L` (7 %), `M` (15 %, default), `Q` (25 %) or `H` (30 %)."
            ),
        ),
    ] = "M",
    margin: Annotated[
        int,
        Query(
            ge=0,
            le=qr_service.MAX_MARGIN,
            description="Quiet zone in modules (4 is the standard; less may not scan).",
        ),
    ] = qr_service.DEFAULT_MARGIN,
    download: Annotated[
        bool,
        Query(description="`true`: Content-Disposition attachment; `false`: inline."),
    ] = True,
) -> Response:
    """The QR code of a short link. It encodes the short URL with `?qr=1`, so scans are
    recorded with `trigger=qr` (the parameter is never forwarded to the destination)."""
    link = await links_service.get_link(session, principal=principal, link_id=link_id)
    image = qr_service.render_link_qr(
        runtime.short_url(link.domain, link.key),
        fmt=fmt,
        size=size,
        color=color,
        background=background,
        ecc=ecc,
        margin=margin,
    )
    filename = qr_service.download_filename(link.key, image.extension)
    disposition = "attachment" if download else "inline"
    return Response(
        content=image.content,
        media_type=image.media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )
