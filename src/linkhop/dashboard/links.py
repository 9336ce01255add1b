"""Pages: the links table, create and edit forms, archive and delete.

Every handler calls the same services as ``linkhop.links.router`` (which check permissions and
write the audit trail) inside the request's transaction; a refused change runs in a SAVEPOINT
that is rolled back, so nothing of it is kept while the form is shown again with its errors.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.dashboard.deps import FormDep, SignedIn, SignedInDep, zone_named
from linkhop.dashboard.forms import (
    REDIRECT_STATUSES,
    UTM_FIELDS,
    FormState,
    blank_values,
    parse_create,
    parse_update,
    sentence,
    values_of,
)
from linkhop.dashboard.rendering import PREFIX, redirect, render
from linkhop.deps import NowDep, RuntimeDep, SessionDep, after_commit
from linkhop.errors import Conflict, Invalid
from linkhop.links import listing
from linkhop.links import service as links_service
from linkhop.links.models import Link
from linkhop.links.schemas import LinkUpdate
from linkhop.principal import require
from linkhop.runtime import Runtime
from linkhop.tags import service as tags_service

router = APIRouter(prefix="/links")
SORTS = (
    ("-created_at", "Newest first"),
    ("created_at", "Oldest first"),
    ("-clicks", "Most clicks"),
    ("clicks", "Fewest clicks"),
    ("key", "Key A–Z"),
    ("-key", "Key Z–A"),
)
STATUSES = (("", "Live"), ("archived", "Archived"), ("all", "All"))
PAGE_SIZE = 50
LIST = f"{PREFIX}/links"


def _page(me: SignedIn, runtime: Runtime, **context: Any) -> dict[str, Any]:
    return {"me": me, "nav": "links", "default_domain": runtime.policy.default_domain, **context}


@router.get("")
async def list_page(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=50)] = "",
    domain: Annotated[str, Query(max_length=260)] = "",
    sort: Annotated[str, Query(max_length=20)] = "-created_at",
    status: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """The org's links: search, tag/domain/status filters, sort, keyset pages."""
    archived = {"": False, "archived": True}.get(status)  # "all" → None (both)
    error = None
    try:
        rows, next_cursor = await listing.list_links(
            session,
            principal=me.principal,
            q=q or None,
            tag=tag or None,
            domain=domain or None,
            archived=archived,
            sort=sort,
            cursor=cursor or None,
            limit=PAGE_SIZE,
        )
    except Invalid as exc:
        rows, next_cursor, error = [], None, sentence(exc.detail)
    tags = await tags_service.tags_for_links(session, link_ids=[link.id for link in rows])
    filters = {"q": q, "tag": tag, "domain": domain, "status": status}
    if sort != "-created_at":
        filters["sort"] = sort
    context = _page(
        me,
        runtime,
        links=rows,
        tags=tags,
        short_urls={link.id: runtime.short_url(link.domain, link.key) for link in rows},
        filters=filters,
        sort=sort,
        next_cursor=next_cursor,
        first_page=not cursor,
        error=error,
        sorts=SORTS,
        statuses=STATUSES,
        all_tags=await tags_service.list_tags(session, principal=me.principal),
        domains=sorted({runtime.policy.default_domain, *(link.domain for link in rows)}),
    )
    # The filter form asks htmx to swap just the results: skip the page around them.
    partial = request.headers.get("HX-Target") == "links-results"
    template = "links/_results.html" if partial else "links/list.html"
    response = render(request, template, context, secret=runtime.secret_key)
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response


def _form_page(
    request: Request,
    me: SignedIn,
    runtime: Runtime,
    state: FormState,
    *,
    link: Link | None,
    status: int = 200,
    tz: ZoneInfo | None = None,
) -> Response:
    context = _page(
        me,
        runtime,
        state=state,
        link=link,
        short_url=runtime.short_url(link.domain, link.key) if link else None,
        final_url=links_service.final_destination(link) if link else None,
        redirect_statuses=REDIRECT_STATUSES,
        utm_fields=UTM_FIELDS,
        tz_name=(tz or me.tz).key,
    )
    template = "links/form.html" if me.can("links:write") else "links/view.html"
    return render(request, template, context, status=status, secret=runtime.secret_key)


@router.get("/new")
async def new_form(request: Request, runtime: RuntimeDep, me: SignedInDep) -> Response:
    """The create form (a viewer is told they cannot create links)."""
    require(me.principal, "links:write")
    state = FormState(values=blank_values(runtime.policy.default_domain))
    return _form_page(request, me, runtime, state, link=None)


@router.post("/new")
async def create(
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Create a link from the form; errors are shown next to their fields."""
    require(me.principal, "links:write")
    tz = zone_named(form.get("tz")) or me.tz
    data, state = parse_create(form, tz)
    if data is not None:
        try:
            async with session.begin_nested():
                link = await links_service.create_link(
                    session, principal=me.principal, data=data, policy=runtime.policy, now=now
                )
        except (Invalid, Conflict) as exc:
            state.add(exc)
        else:
            entry = links_service.Invalidation(link.domain, link.key_lookup)
            after_commit(session, lambda: runtime.invalidate([entry]))
            short = runtime.short_url(link.domain, link.key)
            return redirect(LIST, secret=runtime.secret_key, flash=("success", f"Created {short}"))
    return _form_page(request, me, runtime, state, link=None, status=422, tz=tz)


async def _tag_names(session: AsyncSession, link: Link) -> list[str]:
    tags = await tags_service.tags_for_links(session, link_ids=[link.id])
    return [t.name for t in tags[link.id]]


@router.get("/{link_id}")
async def edit_form(
    link_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep
) -> Response:
    """A link's settings: an edit form, or a read-only view for roles that cannot edit."""
    link = await links_service.get_link(session, principal=me.principal, link_id=link_id)
    state = FormState(values=values_of(link, await _tag_names(session, link), me.tz))
    return _form_page(request, me, runtime, state, link=link)


@router.post("/{link_id}")
async def update(
    link_id: str,
    request: Request,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Save the edit form: only changed fields are sent to the service."""
    require(me.principal, "links:write")
    link = await links_service.get_link(session, principal=me.principal, link_id=link_id)
    tz = zone_named(form.get("tz")) or me.tz
    data, state = parse_update(form, link, await _tag_names(session, link), tz)
    if data is not None and not data.model_fields_set:
        return redirect(LIST, secret=runtime.secret_key, flash=("info", "Nothing changed."))
    if data is not None:
        try:
            async with session.begin_nested():
                saved, stale = await links_service.update_link(
                    session,
                    principal=me.principal,
                    link_id=link_id,
                    data=data,
                    policy=runtime.policy,
                    now=now,
                )
        except (Invalid, Conflict) as exc:
            state.add(exc)
            await session.refresh(link)  # the rolled-back SAVEPOINT expired it
        else:
            after_commit(session, lambda: runtime.invalidate(stale))
            short = runtime.short_url(saved.domain, saved.key)
            return redirect(LIST, secret=runtime.secret_key, flash=("success", f"Saved {short}"))
    return _form_page(request, me, runtime, state, link=link, status=422, tz=tz)


@router.post("/{link_id}/archive")
async def archive(
    link_id: str,
    *,
    session: SessionDep,
    runtime: RuntimeDep,
    me: SignedInDep,
    form: FormDep,
    now: NowDep,
) -> Response:
    """Archive (or, with ``archived=0``, restore) a link."""
    archived = form.get("archived", "1") != "0"
    saved, stale = await links_service.update_link(
        session,
        principal=me.principal,
        link_id=link_id,
        data=LinkUpdate(archived=archived),
        policy=runtime.policy,
        now=now,
    )
    after_commit(session, lambda: runtime.invalidate(stale))
    short = runtime.short_url(saved.domain, saved.key)
    done = f"Archived {short}. It no longer redirects." if archived else f"Restored {short}."
    return redirect(LIST, secret=runtime.secret_key, flash=("success", done))


@router.get("/{link_id}/delete")
async def delete_form(
    link_id: str, request: Request, session: SessionDep, runtime: RuntimeDep, me: SignedInDep
) -> Response:
    """Ask before deleting (works without JavaScript)."""
    require(me.principal, "links:write")
    link = await links_service.get_link(session, principal=me.principal, link_id=link_id)
    context = _page(me, runtime, link=link, short_url=runtime.short_url(link.domain, link.key))
    return render(request, "links/delete.html", context, secret=runtime.secret_key)


@router.post("/{link_id}/delete")
async def delete(
    link_id: str, session: SessionDep, runtime: RuntimeDep, me: SignedInDep, form: FormDep
) -> Response:
    """Delete a link for good (its clicks stay in analytics)."""
    link = await links_service.get_link(session, principal=me.principal, link_id=link_id)
    short = runtime.short_url(link.domain, link.key)
    gone = await links_service.delete_link(session, principal=me.principal, link_id=link_id)
    after_commit(session, lambda: runtime.invalidate([gone]))
    return redirect(LIST, secret=runtime.secret_key, flash=("success", f"Deleted {short}."))
