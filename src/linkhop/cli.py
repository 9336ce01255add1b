"""The ``linkhop`` command: servers (serve, redirect, api, worker), migrate, and admin commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC
from pathlib import Path
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
analytics_app = typer.Typer(
    help="The analytics store: backfill, cluster DDL.", no_args_is_help=True
)
app.add_typer(analytics_app, name="analytics")
queue_app = typer.Typer(
    help="The click queue: status, dead letters, redrive (docs/operations.md).",
    no_args_is_help=True,
)
app.add_typer(queue_app, name="queue")
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
    configure_logging(level="warning", fmt="console", cache=False)
    try:
        return asyncio.run(fn(settings))
    except LinkhopError as exc:
        field = f" ({exc.field})" if exc.field else ""
        err.print(f"[red]error{field}:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    except Exception as exc:
        from linkhop.db.engine import is_unavailable  # noqa: PLC0415 — only on this path

        if not is_unavailable(exc):
            raise
        # The database is down or unreachable: one line, no traceback (URLs are not printed).
        err.print(f"[red]error:[/red] the database cannot be reached: {type(exc).__name__}: {exc}")
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


@links_app.command("import")
def links_import(
    file: Annotated[str, typer.Argument(help="CSV file, or '-' for standard input.")],
    org: Annotated[str | None, typer.Option(help="Org (needed when there are several).")] = None,
    all_or_nothing: Annotated[
        bool, typer.Option("--all-or-nothing", help="Create nothing if any row is refused.")
    ] = False,
) -> None:
    """Create links from CSV: a header row (url, key, title, tags, …; tags split by '|').

    Prints one line per created link (line, short link, destination); refused rows go to
    stderr with the reason, and the exit code is 1 when any row was refused.
    """
    from linkhop.apps.admin import import_links  # noqa: PLC0415

    if file != "-" and not Path(file).is_file():
        err.print(f"[red]error:[/red] no such file: {file}")
        raise typer.Exit(2)
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8-sig")
    result = run_admin(lambda s: import_links(s, text=text, org=org, all_or_nothing=all_or_nothing))
    for line, short_url, url in result.created:
        typer.echo(f"{line}\t{short_url}\t{url}")
    for line, why in result.refused:
        err.print(f"line {line}: {why}", markup=False, highlight=False)
    err.print(f"{len(result.created)} created, {len(result.refused)} refused")
    if result.refused:
        raise typer.Exit(1)


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


@analytics_app.command("backfill")
def analytics_backfill(
    file: Annotated[str, typer.Argument(help="CSV or JSON-lines file, or '-' for standard input.")],
    *,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv or jsonl (default: from the file extension)."),
    ] = None,
    org: Annotated[
        str | None, typer.Option(help="Org name or id every row belongs to (rows may omit it).")
    ] = None,
    stop_on_error: Annotated[
        bool, typer.Option("--stop-on-error", help="Stop at the first bad line.")
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Write the bad lines to this file, to fix and re-import.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="Lines per insert.")] = (
        10_000
    ),
) -> None:
    """Import historical click events, enriched like the worker's; safe to run twice.

    Bad lines go to stderr with their line number and reason; the good ones are imported.
    Exit code 1 when any line was refused. Columns: docs/analytics.md ("Backfill").
    """
    from linkhop.apps.analytics_admin import run_backfill  # noqa: PLC0415
    from linkhop.ingest.backfill import BackfillOptions, LineError  # noqa: PLC0415

    chosen = fmt or ("jsonl" if file.endswith((".jsonl", ".ndjson", ".json")) else "csv")
    if chosen not in ("csv", "jsonl"):
        err.print(f"[red]error:[/red] --format must be csv or jsonl, not {chosen}")
        raise typer.Exit(2)
    if file != "-" and not Path(file).is_file():
        err.print(f"[red]error:[/red] no such file: {file}")
        raise typer.Exit(2)

    def show(error: LineError) -> None:
        err.print(f"line {error.line}: {error.reason}", markup=False, highlight=False)

    options = BackfillOptions(
        fmt="jsonl" if chosen == "jsonl" else "csv",
        chunk_size=chunk_size,
        stop_on_error=stop_on_error,
        source=file,
    )
    report = run_admin(
        lambda s: run_backfill(
            s, path=file, options=options, org=org, rejects=rejects, on_error=show
        )
    )
    typer.echo(
        f"{report.lines} lines: {report.stored} clicks imported, {report.already} already "
        f"imported before ({report.skipped_chunks} of {report.chunks} chunks skipped), "
        f"{report.rejected} refused"
    )
    if report.stopped_at is not None:
        err.print(f"stopped at line {report.stopped_at} (--stop-on-error); nothing after it ran")
    if report.rejected:
        raise typer.Exit(1)


@analytics_app.command("cluster-ddl")
def analytics_cluster_ddl(
    cluster: Annotated[str, typer.Option(help="Cluster name from the servers' remote_servers.")],
    from_version: Annotated[
        int, typer.Option(min=0, help="Schema version the cluster is at (0: a new cluster).")
    ] = 0,
    down: Annotated[bool, typer.Option("--down", help="Reverse down to --from-version.")] = False,
    sharding_key: Annotated[
        str | None, typer.Option(help="Distributed sharding key (default cityHash64(org_id)).")
    ] = None,
    retention: Annotated[
        bool, typer.Option(help="Append the TTLs of the configured retention policy.")
    ] = True,
) -> None:
    """Print the ClickHouse cluster schema (ReplicatedMergeTree + Distributed) as SQL.

    Generated from the same migrations `linkhop migrate` applies; see docs/cluster.md.
    """
    from linkhop.apps.analytics_admin import cluster_ddl  # noqa: PLC0415

    try:
        script = cluster_ddl(
            load_settings(),
            cluster=cluster,
            from_version=from_version,
            down=down,
            sharding_key=sharding_key,
            with_retention=retention,
        )
    except ValueError as exc:  # a bad cluster name or version
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    typer.echo(script, nl=False)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@queue_app.command("status")
def queue_status(as_json: JsonOption = False) -> None:
    """Stream length, pending, lag, consumers and dead letters (or the embedded spool's depth)."""
    from linkhop.apps.queue_admin import queue_status, show_status  # noqa: PLC0415

    show_status(run_admin(queue_status), as_json=as_json)


@queue_app.command("dead-letters")
def queue_dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most entries shown.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List dead-lettered entries, oldest first: reason, deliveries, events, payload head."""
    from linkhop.apps.queue_admin import dead_letters, show_dead_letters  # noqa: PLC0415

    show_dead_letters(run_admin(lambda s: dead_letters(s, limit=limit)), as_json=as_json)


@queue_app.command("redrive")
def queue_redrive(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead-letter entry ids.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every well-formed dead letter.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, move nothing.")] = False,
) -> None:
    """Put dead letters back on the click stream for the worker to retry, atomically."""
    from linkhop.apps.queue_admin import redrive_dead_letters, show_redrive  # noqa: PLC0415
    from linkhop.queue.redis_admin import check_ids  # noqa: PLC0415

    wanted = ids or []
    if bool(wanted) == every:
        raise typer.BadParameter("give entry ids or --all, not both or neither")
    if bad := check_ids(wanted):
        raise typer.BadParameter(f"not stream ids (<ms>-<seq>): {', '.join(bad)}")
    report = run_admin(lambda s: redrive_dead_letters(s, ids=wanted, every=every, dry_run=dry_run))
    show_redrive(report)


@queue_app.command("purge-dead-letters")
def queue_purge(
    before: Annotated[str | None, typer.Option(help="Delete entries with ids below this.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Delete every dead letter.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: deleted entries are gone.")] = False,
) -> None:
    """Delete dead letters for good (`--before ID` or `--all`, with `--yes`)."""
    from linkhop.apps.queue_admin import purge  # noqa: PLC0415
    from linkhop.queue.redis_admin import check_ids  # noqa: PLC0415

    if (before is None) != every or not yes:
        raise typer.BadParameter("give --before ID or --all, and --yes")
    if before is not None and check_ids([before]):
        raise typer.BadParameter(f"not a stream id (<ms>-<seq>): {before}")
    gone = run_admin(lambda s: purge(s, before=before))
    typer.echo(f"deleted {gone} dead letters")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="linkhop")


if __name__ == "__main__":
    main()
