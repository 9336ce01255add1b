"""The few HTML pages the redirect service serves itself: not found, gone, password, inspect.

Self-contained on purpose: no JavaScript, no external assets (a redirect domain must not load
third-party resources, and a CSP of ``default-src 'none'; style-src 'unsafe-inline'`` fits), no
templates engine on the hot path. Every interpolated value goes through :func:`html.escape`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from linkhop.redirects.decision import GoneReason

_STYLE = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--err:#b42318}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--card:#161b22;--err:#ff7b72}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);
color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:34rem;width:100%;margin:1rem;padding:2rem;background:var(--card);
border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{margin:.5rem 0;color:var(--muted)}
code{font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere;
color:var(--fg)}
dl{margin:1rem 0 0}dt{font-weight:600;margin-top:.75rem}dd{margin:.25rem 0 0}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--muted);border-radius:8px}
button{margin-top:1rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;border:0;
border-radius:8px;background:#0969da;color:#fff;cursor:pointer}
.error{color:var(--err);font-weight:600}
""".strip()

_GONE_WORDING: dict[GoneReason, tuple[str, str]] = {
    "expired": (
        "This link has expired",
        "Its owner set it to stop working after a certain date.",
    ),
    "max_clicks": (
        "This link has reached its limit",
        "Its owner allowed it a limited number of visits, and they have all been used.",
    ),
    "archived": (
        "This link is no longer active",
        "Its owner has retired it, so it does not lead anywhere any more.",
    ),
}


def _page(title: str, body: str) -> str:
    """Wrap ``body`` (already escaped) in the shared document; ``title`` is escaped here."""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex">\n'
        # The pages show destinations; they should not hand our URL to anything they lead to.
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _short_url_line(short_url: str | None) -> str:
    return "" if not short_url else f"<p><code>{escape(short_url)}</code></p>\n"


def not_found_page(*, short_url: str | None = None) -> str:
    """404 page for a key that names no link on this domain."""
    body = (
        "<h1>Link not found</h1>\n"
        f"{_short_url_line(short_url)}"
        "<p>There is no short link here. Check that it was typed or copied in full.</p>"
    )
    return _page("Link not found", body)


def gone_page(*, reason: GoneReason, short_url: str | None = None) -> str:
    """410 page for a link that exists but no longer serves."""
    heading, explanation = _GONE_WORDING[reason]
    body = f"<h1>{escape(heading)}</h1>\n{_short_url_line(short_url)}<p>{escape(explanation)}</p>"
    return _page(heading, body)


def password_page(*, short_url: str, error: str | None = None) -> str:
    """Password form; it posts field ``password`` back to the same URL."""
    error_html = ""
    described = ""
    if error:
        error_html = f'<p class="error" id="password-error" role="alert">{escape(error)}</p>\n'
        described = ' aria-invalid="true" aria-describedby="password-error"'
    body = (
        "<h1>This link is password protected</h1>\n"
        f"{_short_url_line(short_url)}"
        "<p>Enter the password to continue.</p>\n"
        f"{error_html}"
        # No action attribute: the form posts to the document's own URL, query included.
        '<form method="post">\n'
        '<label for="password">Password</label>\n'
        '<input type="password" id="password" name="password" '
        f'autocomplete="current-password" required autofocus{described}>\n'
        '<button type="submit">Continue</button>\n'
        "</form>"
    )
    return _page("Password required", body)


def _format_created(created_at: datetime) -> tuple[str, str]:
    moment = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
    moment = moment.astimezone(UTC)
    return moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M UTC")


def inspect_page(
    *,
    short_url: str,
    destination: str,
    created_at: datetime | None,
    title: str | None = None,
) -> str:
    """The ``key+`` page: where a short link goes, shown as text and never followed."""
    rows = [f"<dt>Short link</dt><dd><code>{escape(short_url)}</code></dd>"]
    if title:
        rows.append(f"<dt>Title</dt><dd>{escape(title)}</dd>")
    # Text, not a link: the visitor copies it deliberately, and nothing here is clickable.
    rows.append(f"<dt>Goes to</dt><dd><code>{escape(destination)}</code></dd>")
    if created_at is not None:
        machine, human = _format_created(created_at)
        rows.append(
            f'<dt>Created</dt><dd><time datetime="{escape(machine)}">{escape(human)}</time></dd>'
        )
    body = (
        "<h1>Where this link goes</h1>\n"
        "<p>This page shows the destination of a short link without visiting it.</p>\n"
        f"<dl>\n{chr(10).join(rows)}\n</dl>"
    )
    return _page("Link preview", body)
