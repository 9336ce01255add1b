"""Listing links: filters, sorting and keyset (cursor) pagination."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.errors import Invalid
from linkhop.links.models import Link
from linkhop.links.search import search_pattern, search_text
from linkhop.principal import Principal, require
from linkhop.tags import service as tags_service

MAX_PAGE = 100
_SORT_COLUMNS: dict[str, Any] = {
    "created_at": Link.created_at,
    "clicks": Link.clicks,
    "key": Link.key,
}


def encode_cursor(sort: str, value: object, link_id: str) -> str:
    """An opaque cursor: the sort key and id of the last row of a page."""
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = orjson.dumps([sort, value, link_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[object, str]:
    """The (sort value, id) inside a cursor made for the same sort, else Invalid."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, link_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise Invalid("malformed cursor", field="cursor") from exc
    if made_for != sort or not isinstance(link_id, str):
        raise Invalid("this cursor belongs to another sort order", field="cursor")
    if sort.lstrip("-") == "created_at":
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise Invalid("malformed cursor", field="cursor") from exc
    return value, link_id


async def list_links(
    session: AsyncSession,
    *,
    principal: Principal,
    q: str | None = None,
    tag: str | None = None,
    domain: str | None = None,
    archived: bool | None = False,
    sort: str = "-created_at",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Link], str | None]:
    """A page of the org's links and the next cursor (None on the last page)."""
    require(principal, "links:read")
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be 1–{MAX_PAGE}", field="limit")
    column_name = sort.lstrip("-")
    if column_name not in _SORT_COLUMNS:
        raise Invalid(f"unknown sort '{sort}'", field="sort")
    descending = sort.startswith("-")
    column = _SORT_COLUMNS[column_name]
    stmt: Select[Link] = select(Link).where(Link.org_id == principal.org_id)
    if archived is not None:
        stmt = stmt.where(Link.archived.is_(archived))
    if domain:
        stmt = stmt.where(Link.domain == domain.strip().lower())
    if q:
        pattern = search_pattern(q)
        if session.get_bind().dialect.name == "postgresql":
            # One expression, the trigram index's own (migration 0004): a bitmap index scan
            # instead of reading every link of the org.
            stmt = stmt.where(search_text().like(pattern, escape="\\"))
        else:
            # SQLite scans; three LIKEs measured faster than one over the joined text.
            stmt = stmt.where(
                or_(
                    func.lower(Link.key).like(pattern, escape="\\"),
                    func.lower(Link.url).like(pattern, escape="\\"),
                    func.lower(func.coalesce(Link.title, "")).like(pattern, escape="\\"),
                )
            )
    if tag:
        found = await tags_service.find_by_name(session, principal=principal, name=tag)
        if found is None:
            return [], None
        stmt = stmt.where(Link.id.in_(tags_service.link_ids_with_tag(found.id)))
    if cursor:
        value, last_id = decode_cursor(cursor, sort)
        # A row-value comparison, not "a < x OR (a = x AND id < y)": both databases turn it
        # into a range of the (org_id, column, id) index, so page 2000 is as fast as page 2
        # (the OR form filtered every earlier row: 200-325 ms deep into 100 k links).
        after = tuple_(column, Link.id)
        bound = tuple_(literal(value, column.type), literal(last_id, Link.id.type))
        stmt = stmt.where(after < bound if descending else after > bound)
    order = (column.desc(), Link.id.desc()) if descending else (column.asc(), Link.id.asc())
    rows = list((await session.execute(stmt.order_by(*order).limit(limit + 1))).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(sort, getattr(last, column_name), last.id)
