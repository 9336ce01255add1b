"""Steps the browser tests share: first run, sign-in, creating links, watching the console.

Everything goes through the pages as a person would (fill the labelled fields, press the
buttons); the ids and ``data-testid`` hooks are the ones docs/dashboard.md documents.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playwright.sync_api import ConsoleMessage, Error, Page, Response, expect

from tests.e2e.server import Server

OWNER_EMAIL = "ada@example.com"
OWNER_PASSWORD = "correct horse battery"
ORG = "Acme"

# Reported by the page itself (see Console.watch): the browser's CSP report, as an error.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
    + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""
_FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of \d+")


@dataclass
class Console:
    """What went wrong in the pages: console errors, uncaught exceptions, CSP violations.

    A page answered with a 4xx status on purpose (wrong password → 401, a 403 page) makes
    Chromium log "Failed to load resource" for the document; those are expected and left out.
    A sub-resource (script, style, image) that fails to load is not.
    """

    messages: list[tuple[str, str]] = field(default_factory=list)
    error_documents: set[str] = field(default_factory=set)

    def watch(self, page: Page) -> None:
        """Listen to ``page`` (call before its first navigation)."""
        page.add_init_script(_CSP_LISTENER)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.messages.append(("", f"uncaught: {exc}")))
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append((message.location.get("url", ""), message.text))

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type == "document":
            self.error_documents.add(response.url)

    def problems(self) -> list[str]:
        """The errors that are not an expected error page's status.

        htmx's log of a request it aborted is NOT left out: the live forms queue their requests
        (``hx-sync="…:queue last"``) instead of aborting the one in flight, so none is aborted.
        """
        found = []
        for url, text in self.messages:
            if _FAILED_LOAD.match(text) and url in self.error_documents:
                continue
            found.append(f"{text} ({url})" if url else text)
        return found

    def assert_clean(self) -> None:
        """No console error, uncaught exception or CSP violation so far."""
        problems = self.problems()
        assert not problems, "\n".join(problems)


def log_path(served: Server) -> str:
    """The server's log file (tests/e2e/server.py writes it next to the data folder)."""
    return str(served.data_dir.parent / f"{served.command}-{served.port}.log")


def setup_url(served: Server, timeout: float = 30.0) -> str:
    """The setup URL the server logs at start-up while no user exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path(served), encoding="utf-8", errors="replace") as log:
            for line in log:
                if '"setup_required"' in line:
                    url: str = json.loads(line)["url"]
                    return url
        time.sleep(0.2)
    raise AssertionError(f"no setup_required line in {log_path(served)}")


def first_run(
    page: Page,
    served: Server,
    *,
    email: str = OWNER_EMAIL,
    password: str = OWNER_PASSWORD,
    org: str = ORG,
) -> None:
    """Create the first owner through the setup form opened from the logged URL."""
    page.goto(setup_url(served))
    page.locator("#name").fill("Ada Lovelace")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#password_confirm").fill(password)
    page.locator("#org").fill(org)
    page.locator("#create-account").click()
    page.wait_for_url(f"{served.base}/app/links")
    expect(page.get_by_test_id("user-email")).to_have_text(email)


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Sign in through the form and land on the links page."""
    page.goto(f"{base}/app/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("#sign-in").click()
    page.wait_for_url(f"{base}/app/links")


def sign_out(page: Page, base: str) -> None:
    """The *Sign out* button in the top bar."""
    page.locator("#sign-out").click()
    page.wait_for_url(re.compile(re.escape(f"{base}/app/login")))


def create_link(page: Page, base: str, url: str, **fields: str) -> str:
    """Fill the create form (``fields`` by input id) and save; returns the new short link."""
    page.goto(f"{base}/app/links/new")
    page.locator("#url").fill(url)
    for name, value in fields.items():
        element = page.locator(f"#{name}")
        tag = element.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if tag == "select:select-one":
            element.select_option(value)
        elif tag == "input:checkbox":
            element.set_checked(value == "on")
        else:
            element.fill(value)
    page.locator("#save-link").click()
    page.wait_for_url(f"{base}/app/links")
    flash = page.get_by_test_id("flash")
    expect(flash).to_contain_text("Created ")
    found = re.search(r"https?://\S+", flash.inner_text())
    assert found, flash.inner_text()
    return found.group(0).rstrip(".")


def poll(page: Page, check: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Reload ``page`` until ``check()`` holds (for data the worker fills in a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Error:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout:.0f} s on {page.url}")
        time.sleep(0.5)
        page.reload()


def csrf_token(page: Page) -> str:
    """The session's CSRF token as the current page's forms carry it."""
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value, "no csrf_token on the page"
    return value
