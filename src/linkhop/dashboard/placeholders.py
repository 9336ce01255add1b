"""Pages still to come (team, API keys, account): the nav works and says so.

Each page's real module replaces its entry here (see docs/dashboard.md, "Adding a page").
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from linkhop.dashboard.deps import SignedInDep
from linkhop.dashboard.rendering import render
from linkhop.deps import RuntimeDep

router = APIRouter()
# Every section is built now; a new sidebar entry may start here until its page exists.
PENDING: dict[str, tuple[str, str]] = {}


def _add(key: str, title: str, blurb: str) -> None:
    async def page(request: Request, runtime: RuntimeDep, me: SignedInDep) -> Response:
        context = {"me": me, "nav": key, "title": title, "blurb": blurb}
        return render(request, "placeholder.html", context, secret=runtime.secret_key)

    page.__doc__ = f"{title} (not built yet)."
    router.add_api_route(f"/{key}", page, methods=["GET"], name=f"{key}_placeholder")


for _key, (_title, _blurb) in PENDING.items():
    _add(_key, _title, _blurb)
