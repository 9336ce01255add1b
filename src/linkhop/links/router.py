"""HTTP routes for links (thin: parse, call the service, shape the response)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.deps import NowDep, PrincipalDep, RuntimeDep, SessionDep, after_commit
from linkhop.links import bulk, listing
from linkhop.links import service as links_service
from linkhop.links.models import Link
from linkhop.links.schemas import (
    BulkCreateResult,
    BulkItemResult,
    ItemFieldError,
    ItemProblem,
    LinkBulkCreate,
    LinkCreate,
    LinkOut,
    LinkPage,
    LinkSort,
    LinkUpdate,
    TagRef,
)
from linkhop.runtime import Runtime
from linkhop.tags import service as tags_service
from linkhop.tags.models import Tag

router = APIRouter(prefix="/links", tags=["links"])


async def render_links(
    session: AsyncSession, runtime: Runtime, links: Sequence[Link]
) -> list[LinkOut]:
    """API representations of links, with their tags loaded in one query."""
    tags = await tags_service.tags_for_links(session, link_ids=[link.id for link in links])
    return [link_out(runtime, link, tags[link.id]) for link in links]


def row_out(runtime: Runtime, row: Mapping[str, Any], tags: Sequence[Tag]) -> LinkOut:
    """The API representation of a link just inserted as ``row`` (no ORM object needed)."""
    return LinkOut(
        short_url=runtime.short_url(row["domain"], row["key"]),
        tags=[TagRef(id=t.id, name=t.name, color=t.color) for t in tags],
        password_protected=row["password_hash"] is not None,
        **{name: row[name] for name in _ROW_FIELDS},
    )


_ROW_FIELDS = tuple(
    name for name in LinkOut.model_fields if name not in {"short_url", "tags", "password_protected"}
)


def link_out(runtime: Runtime, link: Link, tags: Sequence[Tag]) -> LinkOut:
    """The API representation of one link carrying ``tags``."""
    return LinkOut(
        id=link.id,
        domain=link.domain,
        key=link.key,
        short_url=runtime.short_url(link.domain, link.key),
        url=link.url,
        title=link.title,
        comments=link.comments,
        tags=[TagRef(id=t.id, name=t.name, color=t.color) for t in tags],
        expires_at=link.expires_at,
        expired_url=link.expired_url,
        max_clicks=link.max_clicks,
        password_protected=link.password_hash is not None,
        archived=link.archived,
        redirect_status=link.redirect_status,
        forward_query=link.forward_query,
        external_id=link.external_id,
        utm_source=link.utm_source,
        utm_medium=link.utm_medium,
        utm_campaign=link.utm_campaign,
        utm_term=link.utm_term,
        utm_content=link.utm_content,
        clicks=link.clicks,
        last_clicked_at=link.last_clicked_at,
        created_by=link.created_by,
        created_at=link.created_at,
        updated_at=link.updated_at,
    )


@router.post("", status_code=201, response_model=LinkOut, summary="Create a link")
async def create_link(
    body: LinkCreate,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> LinkOut:
    """Shorten a URL. Omit `key` for a random one."""
    link = await links_service.create_link(
        session, principal=principal, data=body, policy=runtime.policy, now=now
    )
    invalidation = links_service.Invalidation(link.domain, link.key_lookup)
    # A negative cache entry for this key (someone tried it before it existed) must go.
    after_commit(session, lambda: runtime.invalidate([invalidation]))
    if not body.tags:  # a new link has no tags but those sent: skip the query
        return link_out(runtime, link, [])
    return (await render_links(session, runtime, [link]))[0]


@router.post("/bulk", response_model=BulkCreateResult, summary="Create many links")
async def create_links(
    body: LinkBulkCreate,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> BulkCreateResult:
    """Create up to 1000 links in one request; each item succeeds or fails on its own.

    `results` has one entry per item, in request order: `{"index", "ok": true, "link"}` or
    `{"index", "ok": false, "error"}` where `error` is the problem `POST /links` would answer.
    With `all_or_nothing`, any refusal creates nothing and answers 422 (409 when every
    refusal is a conflict) naming each refused item in `errors`.
    """
    outcome = await bulk.create_links(
        session,
        principal=principal,
        items=body.links,
        policy=runtime.policy,
        now=now,
        all_or_nothing=body.all_or_nothing,
    )
    fresh = [
        links_service.Invalidation(c.row["domain"], c.row["key_lookup"]) for c in outcome.created
    ]
    after_commit(session, lambda: runtime.invalidate(fresh))
    results = [
        BulkItemResult(index=c.index, ok=True, link=row_out(runtime, c.row, c.tags))
        for c in outcome.created
    ]
    results += [
        BulkItemResult(index=f.index, ok=False, error=_item_problem(f)) for f in outcome.failed
    ]
    results.sort(key=lambda r: r.index)
    return BulkCreateResult(
        created=len(outcome.created), failed=len(outcome.failed), results=results
    )


def _item_problem(failure: bulk.ItemError) -> ItemProblem:
    error = failure.error
    pairs = failure.fields or (((error.field, error.detail),) if error.field else ())
    return ItemProblem(
        type=f"urn:linkhop:problem:{error.code}",
        title=error.title,
        status=error.status,
        detail=error.detail,
        code=error.code,
        field=error.field,
        errors=[ItemFieldError(field=f, message=m) for f, m in pairs] or None,
    )


@router.put("/upsert", response_model=LinkOut, summary="Find a link to a URL, or create it")
async def upsert_link(
    body: LinkCreate,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> LinkOut:
    """Return the org's existing link to `url` on `domain` (200), else create one (201)."""
    existing = None
    if body.key is None:
        existing = await links_service.find_by_url(
            session, principal=principal, policy=runtime.policy, url=body.url, domain=body.domain
        )
    if existing is not None:
        return (await render_links(session, runtime, [existing]))[0]
    response.status_code = 201
    return await create_link(body, session, principal, runtime, now)


@router.get("", response_model=LinkPage, summary="List links")
async def list_links(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    q: Annotated[str | None, Query(max_length=200, description="Search key, URL, title")] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Tag name")] = None,
    domain: Annotated[str | None, Query(max_length=260)] = None,
    archived: Annotated[bool | None, Query(description="true: only archived; false: live")] = False,
    sort: LinkSort = "-created_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_PAGE)] = 50,
) -> LinkPage:
    """A page of links, newest first by default; pass `next_cursor` back as `cursor`."""
    links, next_cursor = await listing.list_links(
        session,
        principal=principal,
        q=q,
        tag=tag,
        domain=domain,
        archived=archived,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return LinkPage(data=await render_links(session, runtime, links), next_cursor=next_cursor)


@router.get("/info", response_model=LinkOut, summary="Find a link by domain and key")
async def link_info(
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    key: Annotated[str, Query(min_length=1, max_length=300)],
    domain: Annotated[str | None, Query(max_length=260)] = None,
) -> LinkOut:
    """Look a link up by its short domain and key."""
    link = await links_service.find_link(
        session, principal=principal, policy=runtime.policy, domain=domain, key=key
    )
    return (await render_links(session, runtime, [link]))[0]


@router.get("/{link_id}", response_model=LinkOut, summary="Get a link")
async def get_link(
    link_id: str, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> LinkOut:
    """One link by id."""
    link = await links_service.get_link(session, principal=principal, link_id=link_id)
    return (await render_links(session, runtime, [link]))[0]


@router.patch("/{link_id}", response_model=LinkOut, summary="Update a link")
async def update_link(
    link_id: str,
    body: LinkUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    now: NowDep,
) -> LinkOut:
    """Change the fields sent; `null` clears an optional field. `archived: true` archives."""
    link, stale = await links_service.update_link(
        session, principal=principal, link_id=link_id, data=body, policy=runtime.policy, now=now
    )
    after_commit(session, lambda: runtime.invalidate(stale))
    return (await render_links(session, runtime, [link]))[0]


@router.delete("/{link_id}", status_code=204, summary="Delete a link")
async def delete_link(
    link_id: str, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> Response:
    """Delete a link for good. Its clicks stay in analytics."""
    gone = await links_service.delete_link(session, principal=principal, link_id=link_id)
    after_commit(session, lambda: runtime.invalidate([gone]))
    return Response(status_code=204)
