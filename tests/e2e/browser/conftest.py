"""A real Chromium (Debian's, driven by Playwright) against a real ``linkhop serve`` process.

Playwright's own browser download is not used: ``executable_path`` points at the distribution's
Chromium, which `.ci/run` installs. Without it the tests fail on CI (``unavailable``) and skip
on a developer machine.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.conftest import unavailable
from tests.e2e.browser.flows import Console
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
PAGE_TIMEOUT_MS = 20_000
SERVER_START_TIMEOUT_S = 90.0
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
# Generous: the CI machine may be busy. A test that waits this long has failed anyway.
expect.set_options(timeout=PAGE_TIMEOUT_MS)


def chromium_path() -> str | None:
    """The distribution's Chromium binary, if installed."""
    for candidate in ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "chromium"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (each test gets its own context).

    Not per session: Playwright's sync API keeps an event loop running while it is open, and
    later test files on the same xdist worker call asyncio.run().
    """
    executable = chromium_path()
    if executable is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


class ServerPool:
    """Starts the next test's server while the current test runs.

    Every test still gets a fresh ``linkhop serve`` of its own with an empty data folder; only
    the start-up (mostly imports and migrations, several seconds) overlaps with the previous
    test's browser work. The next one is launched once the current one is ready, so two never
    start at the same time, and only as many are started as tests ask for.
    """

    def __init__(self, factory: pytest.TempPathFactory, wanted: int) -> None:
        self._factory = factory
        self._left = wanted
        self._spare: tuple[Server, threading.Thread, list[BaseException]] | None = None

    def _launch(self) -> None:
        srv = Server(data_dir=self._factory.mktemp("served") / "data")
        errors: list[BaseException] = []

        def start() -> None:
            try:
                srv.start()
            except Exception as exc:  # any failure is handed to the test that takes it
                errors.append(exc)

        thread = threading.Thread(target=start, name=f"linkhop-{srv.port}", daemon=True)
        thread.start()
        self._spare = (srv, thread, errors)

    def take(self) -> Server:
        """A started server for one test (the caller stops it)."""
        if self._spare is None:
            self._launch()
        assert self._spare is not None
        srv, thread, errors = self._spare
        self._spare = None
        self._left -= 1
        thread.join(timeout=SERVER_START_TIMEOUT_S)
        if self._left > 0:
            self._launch()
        if errors:
            raise errors[0]
        if thread.is_alive():
            raise TimeoutError(f"linkhop serve on port {srv.port} did not become ready")
        return srv

    def close(self) -> None:
        """Kill a spare nobody took (it holds no data anyone needs)."""
        if self._spare is None:
            return
        srv, thread, _ = self._spare
        self._spare = None
        deadline = time.monotonic() + 10
        while srv.process is None and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if srv.process is not None and srv.process.poll() is None:
            srv.kill()
        thread.join(timeout=SERVER_START_TIMEOUT_S)


@pytest.fixture(scope="session")
def server_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPool]:
    """One pool per session (per xdist worker), sized by the selected tests that use it."""
    wanted = sum(
        1
        for item in request.session.items
        if "served" in getattr(item, "fixturenames", ())
        and "served" not in vars(getattr(item, "module", None) or object())
    )
    pool = ServerPool(tmp_path_factory, wanted)
    yield pool
    pool.close()


@pytest.fixture
def served(server_pool: ServerPool) -> Iterator[Server]:
    """A fresh ``linkhop serve`` with an empty data folder, ready to take requests."""
    srv = server_pool.take()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.stop()


@pytest.fixture
def console() -> Console:
    """Console errors, uncaught exceptions and CSP violations of every page a test opens."""
    return Console()


@pytest.fixture
def new_page(browser: Browser, console: Console) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh context (own cookies: another person), watched by ``console``.

    Desktop-sized unless ``viewport`` says otherwise. The user agent is the real browser's
    without "Headless", which linkhop (rightly) counts as a bot: these clicks are a person's.
    """
    contexts: list[BrowserContext] = []
    user_agent = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{browser.version} Safari/537.36"
    )

    def open_page(viewport: ViewportSize | None = None, **options: object) -> Page:
        context = browser.new_context(
            viewport=viewport or ViewportSize(width=1280, height=800),
            user_agent=user_agent,
            accept_downloads=True,
            **options,  # type: ignore[arg-type]  # Playwright's keyword options, passed through
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        console.watch(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A fresh browser context and page (own cookies), desktop-sized."""
    return new_page()


class _Destination(BaseHTTPRequestHandler):
    """Where the test links point: a page that says which path and query it was asked for."""

    def do_GET(self) -> None:
        body = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Destination</title>"
            f"</head><body><h1 id=arrived>Arrived</h1><p id=path>{self.path}</p></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="session")
def destination() -> Iterator[str]:
    """Base URL of a local web site to shorten (no internet needed)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Destination)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
