"""What a running process holds: settings, database, analytics store, link policy, hooks.

Built once by a composition root (``linkhop.apps``) and handed to the apps; nothing here reads
the environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from linkhop.links.service import Invalidation, LinkPolicy
from linkhop.ratelimit import FailureWindow
from linkhop.settings import Settings

if TYPE_CHECKING:
    from linkhop.clickhouse.client import ClickHouse


def link_policy(settings: Settings) -> LinkPolicy:
    """The link rules' settings."""
    return LinkPolicy(
        default_domain=settings.default_domain,
        default_case_sensitive=settings.keys_case_sensitive,
        key_length=settings.key_length,
        key_alphabet=settings.key_alphabet,
        max_key_length=settings.max_key_length,
        max_url_length=settings.max_url_length,
        reserved_keys=frozenset(k.casefold() for k in settings.reserved_keys),
        own_hosts=settings.short_domains,
    )


@dataclass
class Runtime:
    """The shared state of one process."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    policy: LinkPolicy
    secret_key: str
    clickhouse: ClickHouse | None = None
    invalidation_hooks: list[Callable[[Iterable[Invalidation]], None]] = field(default_factory=list)

    # Failed sign-ins per email and per client address (10 per 15 minutes), per process.
    login_failures: FailureWindow = field(
        default_factory=lambda: FailureWindow(limit=10, window=900.0)
    )

    def invalidate(self, entries: Iterable[Invalidation]) -> None:
        """Tell every cache that these links changed (called after commit)."""
        items = list(entries)
        for hook in self.invalidation_hooks:
            hook(items)

    def short_url(self, domain: str, key: str) -> str:
        """The printable short URL of a link."""
        from urllib.parse import quote  # noqa: PLC0415 — keeps module import cheap

        return f"{self.settings.short_scheme}://{domain}/{quote(key, safe='-._~')}"
