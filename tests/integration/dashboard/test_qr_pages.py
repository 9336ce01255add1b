"""A link's QR code page: preview, SVG/PNG downloads honouring size, colours and error level
(byte for byte what GET /api/v1/links/{id}/qr draws), messages for bad options, htmx partials,
viewers allowed, other organisations refused, and a scan counted as trigger=qr."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import segno

from tests.integration.dashboard.web import Browser, add_member, field_errors, sign_in, text_of
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


async def _owner_with_link(h: Harness) -> tuple[Account, Browser, dict[str, Any]]:
    ada = await h.account("ada@example.com")
    link = await h.create_link(ada, url="https://example.com/menu", key="menu")
    return ada, await sign_in(h, ada.email), link


def _href(html: str, testid: str) -> str:
    found = re.search(rf'href="([^"]+)" id="[^"]*" data-testid="{testid}"', html)
    assert found, testid
    return unescape(found.group(1))


def _png_size(content: bytes) -> tuple[int, int]:
    assert content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


async def test_page_preview_and_downloads(harness: Harness) -> None:
    ada, b, link = await _owner_with_link(harness)
    page = await b.get(f"/app/links/{link['id']}/qr")
    assert page.status_code == 200
    assert text_of(page.text, "qr-encoded") == "http://lh.test/menu?qr=1"
    preview = re.search(r'<img id="qr-preview"[^>]* src="([^"]+)"', page.text)
    assert preview, "no preview image"
    shown = await b.get(unescape(preview.group(1)))
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "image/svg+xml"
    assert shown.headers["content-disposition"].startswith("inline")

    svg = await b.get(_href(page.text, "qr-download-svg"))
    png = await b.get(_href(page.text, "qr-download-png"))
    assert svg.headers["content-type"] == "image/svg+xml"
    assert png.headers["content-type"] == "image/png"
    assert svg.headers["content-disposition"] == 'attachment; filename="qr-menu.svg"'
    assert png.headers["content-disposition"] == 'attachment; filename="qr-menu.png"'
    assert ET.fromstring(svg.content).tag == "{http://www.w3.org/2000/svg}svg"
    # Version 2 at level M: 25 modules + 2 × 4 quiet zone = 33; 512 // 33 = 15 px per module.
    symbol = segno.make("http://lh.test/menu?qr=1", error="M", micro=False, boost_error=False)
    modules = symbol.symbol_size(scale=1, border=4)[0]
    assert _png_size(png.content) == (modules * (512 // modules),) * 2
    facts = text_of(page.text, "qr-facts") or ""
    assert f"{modules * (512 // modules)} × {modules * (512 // modules)} pixels" in facts

    # The same options through the API give the same bytes.
    for fmt, body in (("svg", svg.content), ("png", png.content)):
        api = await harness.client.get(
            f"/api/v1/links/{link['id']}/qr", params={"format": fmt}, headers=ada.auth
        )
        assert api.content == body, fmt


async def test_options_reach_the_image(harness: Harness) -> None:
    ada, b, link = await _owner_with_link(harness)
    options = {"size": "200", "color": "#1e1b4b", "background": "fff8e7", "ecc": "h", "margin": "2"}
    page = await b.get(f"/app/links/{link['id']}/qr", params=options)
    assert page.status_code == 200, field_errors(page.text)
    assert '<option value="H" selected>' in page.text  # "h" is read as H
    png_url = _href(page.text, "qr-download-png")
    params = dict(parse_qsl(urlsplit(png_url).query))
    assert params == {
        "size": "200",
        "color": "#1e1b4b",
        "background": "fff8e7",
        "ecc": "H",
        "margin": "2",
        "format": "png",
    }
    png = await b.get(png_url)
    symbol = segno.make("http://lh.test/menu?qr=1", error="H", micro=False, boost_error=False)
    modules = symbol.symbol_size(scale=1, border=2)[0]
    assert _png_size(png.content) == (modules * (200 // modules),) * 2
    svg = await b.get(_href(page.text, "qr-download-svg"))
    assert b'stroke="#1e1b4b"' in svg.content and b'fill="#fff8e7"' in svg.content
    api = await harness.client.get(
        f"/api/v1/links/{link['id']}/qr",
        params={**options, "ecc": "H", "format": "png"},
        headers=ada.auth,
    )
    assert api.content == png.content
    transparent = await b.get(f"/app/links/{link['id']}/qr?background=transparent")
    assert transparent.status_code == 200 and "qr-checker" in transparent.text


async def test_bad_options_get_messages(harness: Harness) -> None:
    _, b, link = await _owner_with_link(harness)
    url = f"/app/links/{link['id']}/qr"
    for params, field, words in (
        ({"color": "#12345z"}, "color", "is not a hex colour"),
        ({"background": "blue"}, "background", "is not a hex colour"),
        ({"color": "#eeeeee"}, "color", "contrast"),
        ({"size": "10"}, "size", "from 32 to 4096"),
        ({"size": "big"}, "size", "whole number"),
        ({"margin": "99"}, "margin", "from 0 to 16"),
        ({"ecc": "Z"}, "ecc", "L, M, Q, H"),
    ):
        r = await b.get(url, params=params)
        assert r.status_code == 422, params
        assert words in field_errors(r.text).get(field, ""), (params, field_errors(r.text))
        assert words in (text_of(r.text, "qr-error") or ""), params
        assert 'data-testid="qr-download-png"' not in r.text
        assert 'id="qr-preview"' not in r.text
    # The image address refuses them too, with a page in the app's style.
    image = await b.get(f"{url}/image", params={"color": "nope", "format": "png"})
    assert image.status_code == 422 and "is not a hex colour" in image.text
    assert (await b.get(f"{url}/image", params={"format": "gif"})).status_code == 422


async def test_htmx_refreshes_only_the_preview(harness: Harness) -> None:
    _, b, link = await _owner_with_link(harness)
    url = f"/app/links/{link['id']}/qr"
    r = await b.get(
        url, params={"color": "#000080"}, headers={"HX-Request": "true", "HX-Target": "qr-result"}
    )
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="qr-result"')
    assert "<html" not in r.text and "color=%23000080" in r.text
    bad = await b.get(
        url, params={"color": "x"}, headers={"HX-Request": "true", "HX-Target": "qr-result"}
    )
    # 200: htmx swaps only successful answers; the part shows the message itself.
    assert bad.status_code == 200 and 'data-testid="qr-error"' in bad.text
    assert 'data-testid="qr-download-png"' not in bad.text
    assert "HX-Target" in r.headers["vary"]


async def test_viewers_may_download_and_other_orgs_get_404(harness: Harness) -> None:
    ada, _, link = await _owner_with_link(harness)
    await add_member(harness, "vic@example.com", org_id=ada.org_id, role="viewer")
    vic = await sign_in(harness, "vic@example.com")
    page = await vic.get(f"/app/links/{link['id']}/qr")
    assert page.status_code == 200
    png = await vic.get(_href(page.text, "qr-download-png"))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"

    bob = await harness.account("bob@beta.example", org="Beta")
    other = await sign_in(harness, bob.email)
    for path in (f"/app/links/{link['id']}/qr", f"/app/links/{link['id']}/qr/image?format=png"):
        r = await other.get(path)
        assert r.status_code == 404, path
        assert text_of(r.text, "error-page") is not None and "menu" not in r.text


async def test_links_pages_lead_to_analytics_and_qr(harness: Harness) -> None:
    _, b, link = await _owner_with_link(harness)
    listed = await b.get("/app/links")
    assert f'href="/app/links/{link["id"]}/analytics" data-testid="link-analytics"' in listed.text
    assert f'href="/app/links/{link["id"]}/qr" data-testid="link-qr"' in listed.text
    edit = await b.get(f"/app/links/{link['id']}")
    assert f'href="/app/links/{link["id"]}/qr" data-testid="link-qr"' in edit.text
    assert f'href="/app/links/{link["id"]}/analytics" data-testid="link-analytics"' in edit.text


async def test_a_scan_of_the_code_counts_as_a_qr_scan(harness: Harness) -> None:
    _, b, link = await _owner_with_link(harness)
    page = await b.get(f"/app/links/{link['id']}/qr")
    encoded = text_of(page.text, "qr-encoded") or ""
    scan = await harness.client.get(
        encoded.removeprefix("http://lh.test"), headers={"user-agent": CHROME}
    )
    assert scan.status_code == 302 and scan.headers["location"] == "https://example.com/menu"
    await harness.client.get("/menu", headers={"user-agent": CHROME})
    assert await harness.ingest() == 2
    stats = await b.get(f"/app/links/{link['id']}/analytics?interval=24h")
    found = re.search(r'id="total-qr-scans"[^>]*data-value="(\d+)"', stats.text)
    assert found and found.group(1) == "1"
    assert re.search(r'id="total-clicks"[^>]*data-value="2"', stats.text)
