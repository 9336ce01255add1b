"""The redirect cache's TTL: long where every edit reaches the cache, short where none does."""

from __future__ import annotations

from pathlib import Path

from linkhop.apps.redirect import RedirectApp
from linkhop.db.engine import make_engine, make_sessionmaker
from linkhop.queue.local import SpoolPublisher
from linkhop.settings import Settings


def test_default_ttl_depends_on_whether_invalidations_arrive(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.cache_ttl_seconds is None
    assert settings.link_cache_ttl(invalidated=True) == 300.0
    assert settings.link_cache_ttl(invalidated=False) == 5.0
    explicit = settings.model_copy(update={"cache_ttl_seconds": 42.0})
    assert explicit.link_cache_ttl(invalidated=True) == explicit.link_cache_ttl(invalidated=False)
    assert explicit.link_cache_ttl(invalidated=True) == 42.0


def test_redirect_app_uses_the_ttl_for_its_deployment(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    sessionmaker = make_sessionmaker(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    publisher = SpoolPublisher(tmp_path / "spool")

    def app(*, invalidated: bool) -> RedirectApp:
        return RedirectApp(
            settings=settings,
            sessionmaker=sessionmaker,
            publisher=publisher,
            secret_key="x" * 40,
            invalidated=invalidated,
        )

    assert app(invalidated=False).links.cache.ttl == 5.0  # `linkhop redirect` without Redis
    assert app(invalidated=True).links.cache.ttl == 300.0  # serve, or Redis pub/sub
