"""A real Chromium (Debian's, driven by Playwright) against a real ``linkhop serve`` process.

Playwright's own browser download is not used: ``executable_path`` points at the distribution's
Chromium, which `.ci/run` installs. Without it the tests fail on CI (``unavailable``) and skip
on a developer machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import unavailable
from tests.e2e.server import Server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def chromium_path() -> str | None:
    """The distribution's Chromium binary, if installed."""
    for candidate in ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "chromium"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session (each test gets its own context)."""
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    """A fresh ``linkhop serve`` with an empty data folder, ready to take requests."""
    srv = Server(data_dir=tmp_path / "data")
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page (own cookies), desktop-sized."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()
