"""The ``linkhop`` command: servers (serve, redirect, api, worker), migrate, and admin commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.table import Table

from linkhop.errors import LinkhopError
from linkhop.logging import configure_logging
from linkhop.settings import Settings

app = typer.Typer(
    help="linkhop: short links, fast redirects, click analytics.",
    no_args_is_help=True,
    add_completion=False,
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
links_app = typer.Typer(help="Manage links.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(links_app, name="links")
err = Console(stderr=True)
T = TypeVar("T")


def load_settings() -> Settings:
    """Settings from the environment, or a readable error and exit code 2."""
    try:
        return Settings()
    except SettingsError as exc:  # a value the environment parser cannot read (e.g. bad JSON)
        err.print(f"[red]configuration error[/red] {exc}")
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        for e in exc.errors():
            name = "LINKHOP_" + "_".join(str(p) for p in e["loc"]).upper()
            err.print(f"[red]configuration error[/red] {name}: {e['msg']}")
        raise typer.Exit(2) from exc


def run_admin(fn: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run an admin coroutine; domain errors become one readable line and exit code 1."""
    settings = load_settings()
    # Admin output on stdout stays clean for scripts (`KEY=$(linkhop keys create … | tail -1)`).
    configure_logging(level="warning", fmt="console")
    try:
        return asyncio.run(fn(settings))
    except LinkhopError as exc:
        field = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]error{field}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (LINKHOP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LINKHOP_PORT).")] = None,
) -> None:
    """Run everything in one process: redirects, API, docs and the click worker."""
    from linkhop.apps.servers import run_serve  # noqa: PLC0415 — each command loads only its app

    run_serve(_with_bind(load_settings(), host, port))


@app.command()
def redirect(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run only the redirect service (the hot path)."""
    from linkhop.apps.servers import run_redirect  # noqa: PLC0415

    run_redirect(_with_bind(load_settings(), host, port))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Run only the management API and docs."""
    from linkhop.apps.servers import run_api  # noqa: PLC0415

    run_api(_with_bind(load_settings(), host, port))


@app.command()
def worker() -> None:
    """Run only the click ingestion worker."""
    from linkhop.apps.worker import run_worker_process  # noqa: PLC0415

    run_worker_process(load_settings())


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision; `base` empties.")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Migrate backwards to REVISION.")] = False,
) -> None:
    """Apply the database and ClickHouse migrations (with --down: reverse the database's)."""
    from linkhop.apps.admin import migrate_all  # noqa: PLC0415

    run_admin(lambda s: migrate_all(s, revision=revision, down=down))


def _with_bind(settings: Settings, host: str | None, port: int | None) -> Settings:
    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    return settings.model_copy(update=updates) if updates else settings


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[
        str,
        typer.Option(
            help="At least 10 characters.", prompt=True, hide_input=True, confirmation_prompt=True
        ),
    ],
    org: Annotated[
        str | None, typer.Option(help="Org to join; created (you as owner) if new.")
    ] = None,
    role: Annotated[str, typer.Option(help="Role when joining an existing org.")] = "member",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a user (and their org when it does not exist yet)."""
    from linkhop.apps.admin import create_user  # noqa: PLC0415

    user_id, org_id, created = run_admin(
        lambda s: create_user(s, email=email, password=password, org=org, role=role, name=name)
    )
    typer.echo(f"created user {user_id}")
    if org_id:
        typer.echo(f"{'created org' if created else 'joined org'} {org_id}")


@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="The user the key acts for.")],
    org: Annotated[str, typer.Option(help="The org the key belongs to.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated, e.g. links:read,links:write.")],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
    expires_in: Annotated[int | None, typer.Option(help="Days until it expires.")] = None,
) -> None:
    """Create an API key; the key is printed alone on the last line (shown only once)."""
    from linkhop.apps.admin import create_key  # noqa: PLC0415

    key_id, key = run_admin(
        lambda s: create_key(
            s, email=email, org=org, scopes=scopes.split(","), name=name, expires_in_days=expires_in
        )
    )
    typer.echo(f"created API key {key_id} (store it now: it is not shown again)")
    typer.echo(key)


@links_app.command("create")
def links_create(
    url: Annotated[str, typer.Argument(help="Destination URL.")],
    key: Annotated[str | None, typer.Option(help="Custom key (random if omitted).")] = None,
    org: Annotated[str | None, typer.Option(help="Org (needed when there are several).")] = None,
    title: Annotated[str | None, typer.Option(help="Title.")] = None,
) -> None:
    """Shorten a URL; prints the short link."""
    from linkhop.apps.admin import create_link  # noqa: PLC0415

    short_url = run_admin(lambda s: create_link(s, url=url, key=key, org=org, title=title))
    typer.echo(short_url)


@links_app.command("list")
def links_list(
    org: Annotated[str | None, typer.Option(help="Org (needed when there are several).")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Filter text.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 50,
) -> None:
    """List links, newest first."""
    from linkhop.apps.admin import list_links  # noqa: PLC0415

    rows = run_admin(lambda s: list_links(s, org=org, q=search, limit=limit))
    if not sys.stdout.isatty():  # piped: one tab-separated line per link, nothing cut short
        for short_url, url, clicks, created in rows:
            typer.echo(f"{short_url}\t{url}\t{clicks}\t{created.astimezone(UTC).isoformat()}")
        return
    table = Table("short link", "destination", "clicks", "created")
    for short_url, url, clicks, created in rows:
        table.add_row(short_url, url, str(clicks), created.astimezone(UTC).strftime("%Y-%m-%d"))
    Console().print(table)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="linkhop")


if __name__ == "__main__":
    main()
