"""QR codes in a real browser: options, PNG and SVG downloads, and a scan counted as one."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import Console, create_link, first_run, poll
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert data[:8] == PNG_MAGIC, data[:16]
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_download_a_qr_code_and_scan_it(
    served: Server, page: Page, console: Console, destination: str
) -> None:
    first_run(page, served)
    create_link(page, served.base, f"{destination}/menu?table=4", key="menu")
    page.locator("[data-testid=link-row][data-key=menu]").get_by_test_id("link-qr").click()
    page.wait_for_url(f"{served.base}/app/links/*/qr")
    preview = page.get_by_test_id("qr-preview")
    expect(preview).to_be_visible()
    assert preview.evaluate("img => img.complete && img.naturalWidth > 0")

    # Options update the preview in place (no Apply needed with JavaScript).
    page.locator("#size").fill("300")
    page.locator("#color").fill("#1e1b4b")
    page.locator("#ecc").select_option("H")
    expect(page.get_by_test_id("qr-facts")).to_contain_text("error correction H")
    expect(page.get_by_test_id("qr-download-png")).to_have_attribute(
        "href", re.compile(r"size=300&color=%231e1b4b&.*ecc=H")
    )

    with page.expect_download() as png_download:
        page.get_by_test_id("qr-download-png").click()
    png = Path(png_download.value.path()).read_bytes()
    assert png_download.value.suggested_filename.endswith(".png")
    width, height = png_size(png)
    assert width == height and 200 <= width <= 300, (width, height)

    with page.expect_download() as svg_download:
        page.get_by_test_id("qr-download-svg").click()
    svg = Path(svg_download.value.path()).read_text(encoding="utf-8")
    assert svg_download.value.suggested_filename.endswith(".svg")
    assert "<svg" in svg and "#1e1b4b" in svg.lower()

    # A bad colour (here in the URL, as the form sends it without JavaScript) is explained and
    # offers no download.
    qr_page = page.url.split("?")[0]
    response = page.goto(f"{qr_page}?size=300&color=not-a-colour&ecc=H")
    assert response is not None and response.status == 422
    expect(page.get_by_test_id("qr-error")).to_contain_text("colour")
    expect(page.get_by_test_id("qr-download-png")).to_have_count(0)
    page.goto(qr_page)

    # Scanning opens the encoded URL: the visitor lands on the destination (without the marker)
    # and analytics count a QR scan, apart from link clicks.
    encoded = page.get_by_test_id("qr-encoded").inner_text()
    assert encoded.startswith(f"{served.base}/menu")
    page.goto(encoded)
    assert parse_qs(urlsplit(page.url).query) == {"table": ["4"]}
    expect(page.locator("#arrived")).to_be_visible()
    page.goto(f"{served.base}/app/links")
    page.locator("[data-testid=link-row][data-key=menu]").get_by_test_id("link-analytics").click()
    scans = page.get_by_test_id("total-qr-scans")
    poll(page, lambda: scans.get_attribute("data-value", timeout=2000) == "1")
    expect(page.get_by_test_id("total-clicks")).to_have_attribute("data-value", "1")
    console.assert_clean()


def test_a_bad_qr_option_is_explained_as_you_type(served: Server, page: Page) -> None:
    first_run(page, served)
    create_link(page, served.base, "https://example.com/", key="qr-typing")
    page.locator("[data-testid=link-row][data-key=qr-typing]").get_by_test_id("link-qr").click()
    expect(page.get_by_test_id("qr-preview")).to_be_visible()
    page.locator("#color").fill("not-a-colour")
    expect(page.get_by_test_id("qr-error")).to_be_visible(timeout=5000)
    expect(page.get_by_test_id("qr-download-png")).to_have_count(0)
