"""The browser harness itself works: Chromium renders a page that linkhop serves."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.server import Server

pytestmark = pytest.mark.slow


def test_chromium_renders_the_api_docs(served: Server, page: Page) -> None:
    page.goto(f"{served.base}/api/v1/docs")
    page.wait_for_selector(".swagger-ui .title")
    assert "linkhop API" in page.inner_text(".swagger-ui .title")
