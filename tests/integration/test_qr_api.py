"""QR codes through the REST API: the image encodes the short URL with ``?qr=1`` (checked module
by module against segno's own symbol), sizes, colours and error levels are honoured, bad options
are 422, and a scan of the encoded URL arrives in analytics as ``trigger=qr``."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib
from typing import Any

import httpx
import pytest
import segno

from linkhop.errors import Invalid
from linkhop.qr import service as qr_service
from tests.integration.harness import Harness

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SVG_NS = "{http://www.w3.org/2000/svg}"
Matrix = list[list[bool]]


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem+json response; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    if code is not None:
        assert body["code"] == code, body
    return body


def expected_symbol(url: str, ecc: str) -> segno.QRCode:
    """The reference symbol: segno's own full QR code for ``url`` at exactly level ``ecc``."""
    return segno.make(url, error=ecc, micro=False, boost_error=False)


def reference_matrix(qr: segno.QRCode) -> Matrix:
    """The symbol's modules without quiet zone, True = dark."""
    return [[bool(v) for v in row] for row in qr.matrix]


def _hex6(color: str) -> str:
    digits = color.lstrip("#").lower()
    return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)


# --- reading back what the API drew -----------------------------------------------------------


def svg_modules(root: ET.Element, *, border: int, size: int) -> tuple[Matrix, str]:
    """The dark modules drawn by the SVG's stroked path (segno draws rows of ``h`` segments),
    and the stroke colour."""
    paths = [p for p in root.iter(f"{SVG_NS}path") if p.get("stroke")]
    assert len(paths) == 1, ET.tostring(root)
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for op, args in re.findall(r"([MmhHvV])([^MmhHvV]*)", paths[0].get("d", "")):
        nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        elif op == "h":
            for col in range(int(x), int(x + nums[0])):
                grid[int(y) - border][col - border] = True
            x += nums[0]
        else:
            raise AssertionError(f"unexpected path command {op}")
    return grid, paths[0].get("stroke", "")


def png_chunks(data: bytes) -> dict[str, bytes]:
    """The chunks of a PNG (IDAT concatenated), after checking the signature and every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[str, bytes] = {}
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        name = kind.decode("ascii")
        chunks[name] = chunks.get(name, b"") + body
        pos += 12 + length
    assert "IEND" in chunks
    return chunks


def png_pixels(chunks: dict[str, bytes]) -> list[list[tuple[int, int, int, int]]]:
    """RGBA pixels of a greyscale or palette PNG (any filter, bit depth ≤ 8), decoded by hand."""
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks["IHDR"])
    assert color_type in (0, 3) and depth in (1, 2, 4, 8) and interlace == 0
    raw = zlib.decompress(chunks["IDAT"])
    stride = (width * depth + 7) // 8
    palette = [tuple(chunks["PLTE"][i : i + 3]) for i in range(0, len(chunks.get("PLTE", b"")), 3)]
    alpha = list(chunks.get("tRNS", b""))
    rows: list[list[tuple[int, int, int, int]]] = []
    prev = bytearray(stride)
    for r in range(height):
        start = r * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - 1] if i else 0
            b, c = prev[i], prev[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        out = []
        for col in range(width):
            bit = col * depth
            value = (line[bit // 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
            if color_type == 3:
                rgb = palette[value]
                out.append((*rgb, alpha[value] if value < len(alpha) else 255))
            else:
                # Greyscale tRNS names the one sample value that is fully transparent.
                see_through = len(alpha) == 2 and value == (alpha[0] << 8 | alpha[1])
                grey = value * 255 // ((1 << depth) - 1)
                out.append((grey, grey, grey, 0 if see_through else 255))
        rows.append(out)
    return rows


def png_modules(
    pixels: list[list[tuple[int, int, int, int]]], *, border: int, scale: int, size: int
) -> tuple[Matrix, set[tuple[int, int, int, int]]]:
    """Each module read from the centre pixel of its square (dark = the darker colour), and
    every colour the image uses."""
    colors = {px for row in pixels for px in row}
    darkest = min((px for px in colors if px[3]), key=lambda px: sum(px[:3]))
    half = scale // 2
    grid = [
        [
            pixels[(border + r) * scale + half][(border + c) * scale + half] == darkest
            for c in range(size)
        ]
        for r in range(size)
    ]
    return grid, colors


# --- the API ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_svg_by_default_encodes_the_short_link_with_qr_param(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/menu", key="Menu-2026")
    r = await harness.client.get(f"/api/v1/links/{link['id']}/qr", headers=ada.auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.headers["content-disposition"] == 'attachment; filename="qr-Menu-2026.svg"'
    assert r.headers["x-content-type-options"] == "nosniff"

    url = link["short_url"] + "?qr=1"
    assert url == "http://lh.test/Menu-2026?qr=1"
    expected = expected_symbol(url, "M")
    modules = expected.symbol_size(border=4)[0]
    scale = 512 // modules
    root = ET.fromstring(r.content)  # well-formed XML, or this raises
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("width") == root.get("height") == str(modules * scale)
    assert root.findtext(f"{SVG_NS}title") == link["short_url"]
    grid, stroke = svg_modules(root, border=4, size=len(expected.matrix))
    assert grid == reference_matrix(expected)
    assert _hex6(stroke) == "#000000"
    background = [p for p in root.iter(f"{SVG_NS}path") if p.get("fill")]
    assert [_hex6(p.get("fill", "")) for p in background] == ["#ffffff"]
    # The same symbol as the service's own builder, by segno's equality (same matrix).
    assert qr_service.build_qr(url, ecc="M") == expected
    assert qr_service.build_qr(url, ecc="M") != expected_symbol(link["short_url"], "M")

    inline = await harness.client.get(
        f"/api/v1/links/{link['id']}/qr", params={"download": "false"}, headers=ada.auth
    )
    assert inline.headers["content-disposition"].startswith("inline;")
    assert inline.content == r.content


@pytest.mark.asyncio
@pytest.mark.parametrize("ecc", ["L", "q", "H"])
async def test_png_honours_size_colours_error_level_and_margin(harness: Harness, ecc: str) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/a", key="poster")
    params = {
        "format": "png",
        "size": "300",
        "color": "112233",
        "background": "#FaFaF0",
        "ecc": ecc,
        "margin": "2",
    }
    r = await harness.client.get(f"/api/v1/links/{link['id']}/qr", params=params, headers=ada.auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == 'attachment; filename="qr-poster.png"'

    expected = expected_symbol(link["short_url"] + "?qr=1", ecc.upper())
    size = len(expected.matrix)
    scale = 300 // (size + 4)
    chunks = png_chunks(r.content)
    width, height = struct.unpack(">II", chunks["IHDR"][:8])
    assert width == height == (size + 4) * scale <= 300
    grid, colors = png_modules(png_pixels(chunks), border=2, scale=scale, size=size)
    assert grid == reference_matrix(expected)
    assert colors == {(0x11, 0x22, 0x33, 255), (0xFA, 0xFA, 0xF0, 255)}


@pytest.mark.asyncio
async def test_transparent_background(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/a")
    base = f"/api/v1/links/{link['id']}/qr"
    params = {"background": "transparent", "size": "64"}
    png = await harness.client.get(base, params={**params, "format": "png"}, headers=ada.auth)
    assert png.status_code == 200, png.text
    chunks = png_chunks(png.content)
    colors = {px for row in png_pixels(chunks) for px in row}
    assert {px[3] for px in colors} == {0, 255}
    # 64 px holds one pixel per module of this symbol, so the image is the symbol's width.
    expected = expected_symbol(link["short_url"] + "?qr=1", "M")
    assert struct.unpack(">I", chunks["IHDR"][:4])[0] == expected.symbol_size(border=4)[0]

    svg = await harness.client.get(base, params=params, headers=ada.auth)
    root = ET.fromstring(svg.content)
    assert [p for p in root.iter(f"{SVG_NS}path") if p.get("fill")] == []


@pytest.mark.asyncio
async def test_bad_parameters_are_422_naming_the_field(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/a")
    for params, field, code in (
        ({"format": "gif"}, "format", "validation_failed"),
        ({"size": "8"}, "size", "validation_failed"),
        ({"size": "5000"}, "size", "validation_failed"),
        ({"size": "big"}, "size", "validation_failed"),
        ({"margin": "17"}, "margin", "validation_failed"),
        ({"color": "red"}, "color", "invalid_color"),
        ({"color": "#12345"}, "color", "invalid_color"),
        ({"color": "transparent"}, "color", "invalid_color"),
        ({"background": "#ggg"}, "background", "invalid_color"),
        ({"ecc": "X"}, "ecc", "invalid_ecc"),
        ({"color": "#ffffff", "background": "#000000"}, "color", "qr_low_contrast"),
        ({"color": "#777777", "background": "#888888"}, "color", "qr_low_contrast"),
    ):
        r = await harness.client.get(
            f"/api/v1/links/{link['id']}/qr", params=params, headers=ada.auth
        )
        problem = assert_problem(r, 422, code)
        assert field in {e["field"] for e in problem["errors"]}, (params, problem)


@pytest.mark.asyncio
async def test_needs_links_read_and_a_link_of_your_org(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    bob = await harness.account("bob@example.com", org="Beta")
    link = await harness.create_link(ada, url="https://example.com/a")
    url = f"/api/v1/links/{link['id']}/qr"
    assert_problem(await harness.client.get(url), 401, "unauthenticated")
    assert_problem(await harness.client.get(url, headers=bob.auth), 404, "not_found")
    assert_problem(
        await harness.client.get("/api/v1/links/link_nope/qr", headers=ada.auth), 404, "not_found"
    )
    r = await harness.client.post(
        "/api/v1/api-keys", json={"name": "stats", "scopes": ["analytics:read"]}, headers=ada.auth
    )
    stats = {"Authorization": f"Bearer {r.json()['key']}"}
    assert (
        "links:read" in assert_problem(await harness.client.get(url, headers=stats), 403)["detail"]
    )


@pytest.mark.asyncio
async def test_a_scan_of_the_encoded_url_arrives_as_trigger_qr(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(
        ada, url="https://example.com/menu?table=1", key="menu", utm_source="poster"
    )
    r = await harness.client.get(
        f"/api/v1/links/{link['id']}/qr", params={"format": "png"}, headers=ada.auth
    )
    # What the image encodes, read back from its pixels: exactly the short URL plus ?qr=1.
    encoded = qr_service.qr_url(link["short_url"])
    expected = expected_symbol(encoded, "M")
    size = len(expected.matrix)
    scale = 512 // (size + 8)
    grid, _ = png_modules(png_pixels(png_chunks(r.content)), border=4, scale=scale, size=size)
    assert grid == reference_matrix(expected)

    # A phone opens that URL: redirected without our parameter, recorded as a QR scan.
    scan = await harness.client.get(encoded, headers={"user-agent": CHROME})
    assert scan.status_code == 302, scan.text
    assert scan.headers["location"] == "https://example.com/menu?table=1&utm_source=poster"
    click = await harness.client.get(link["short_url"], headers={"user-agent": CHROME})
    assert click.headers["location"] == scan.headers["location"]
    assert await harness.ingest() == 2
    rows = harness.store.ch.query(
        f"SELECT trigger, count() FROM {harness.store.database}.clicks "
        "WHERE link_id = {link:String} GROUP BY trigger ORDER BY trigger",
        {"link": link["id"]},
    )
    assert rows == [("link", 1), ("qr", 1)]


# --- the service the dashboard calls -------------------------------------------------------------


def test_colours_are_parsed_strictly() -> None:
    assert qr_service.parse_color("#ABC", field="color") == "#aabbcc"
    assert qr_service.parse_color(" 0a0B0c ", field="color") == "#0a0b0c"
    assert qr_service.parse_color("Transparent", field="bg", allow_transparent=True) is None
    for bad in ("", "#", "abcd", "#12345g", "rgb(0,0,0)", "transparent", "#1234567"):
        with pytest.raises(Invalid) as caught:
            qr_service.parse_color(bad, field="color")
        assert caught.value.field == "color" and caught.value.code == "invalid_color"


def test_contrast_and_qr_url() -> None:
    assert qr_service.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert qr_service.contrast_ratio("#ffffff", "#000000") < 1
    assert qr_service.qr_url("https://sho.rt/a") == "https://sho.rt/a?qr=1"
    assert qr_service.qr_url("https://sho.rt/a?x=1#f") == "https://sho.rt/a?x=1&qr=1#f"
    assert qr_service.download_filename("../../etc/pass wd", "png") == "qr-etc_pass_wd.png"
    assert qr_service.download_filename("日本", "svg") == "qr-link.svg"


def test_render_reports_what_it_made() -> None:
    image = qr_service.render_link_qr("https://sho.rt/abc", fmt="png", size=200, ecc="h")
    assert image.media_type == "image/png" and image.extension == "png"
    assert image.error == "H" and image.data == "https://sho.rt/abc?qr=1"
    assert image.width == image.modules * (200 // image.modules)
    assert struct.unpack(">II", png_chunks(image.content)["IHDR"][:8]) == (image.width,) * 2
    with pytest.raises(Invalid) as caught:
        qr_service.render_qr("x" * 3000, ecc="H")
    assert caught.value.code == "qr_data_too_long"
    with pytest.raises(Invalid):
        qr_service.render_qr("x", fmt="gif")
