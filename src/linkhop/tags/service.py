"""Tags: create, rename, delete, and resolve names for links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Select, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.audit import service as audit_service
from linkhop.errors import Conflict, Invalid, NotFound
from linkhop.ids import new_tag_id
from linkhop.principal import Principal, require
from linkhop.tags.models import LinkTag, Tag


def tag_key(name: str) -> str:
    """The case-insensitive identity of a tag name."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 50:
        raise Invalid("tag names must be 1–50 characters", field="tags")
    if any(not c.isprintable() for c in cleaned):
        raise Invalid("tag names must not contain control characters", field="tags")
    return cleaned.casefold()


async def list_tags(session: AsyncSession, *, principal: Principal) -> list[Tag]:
    """The org's tags by name."""
    require(principal, "tags:read")
    stmt = select(Tag).where(Tag.org_id == principal.org_id).order_by(Tag.name_key)
    return list((await session.execute(stmt)).scalars())


async def get_tag(session: AsyncSession, *, principal: Principal, tag_id: str) -> Tag:
    """One of the org's tags."""
    require(principal, "tags:read")
    tag = await session.get(Tag, tag_id)
    if tag is None or tag.org_id != principal.org_id:
        raise NotFound("tag not found")
    return tag


async def find_by_name(session: AsyncSession, *, principal: Principal, name: str) -> Tag | None:
    """The org's tag with this name (case-insensitive), if any."""
    require(principal, "tags:read")
    stmt = select(Tag).where(Tag.org_id == principal.org_id, Tag.name_key == tag_key(name))
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_tag(
    session: AsyncSession, *, principal: Principal, name: str, color: str = "gray"
) -> Tag:
    """Create a tag; the name must be new in the org."""
    require(principal, "tags:write")
    key = tag_key(name)
    if await find_by_name(session, principal=principal, name=name) is not None:
        raise Conflict(f"a tag named '{name.strip()}' already exists", field="name")
    tag = Tag(
        id=new_tag_id(),
        org_id=principal.org_id,
        name=" ".join(name.split()),
        name_key=key,
        color=color,
    )
    session.add(tag)
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="tag.created",
        target_type="tag",
        target_id=tag.id,
        data={"name": tag.name},
    )
    return tag


async def update_tag(
    session: AsyncSession,
    *,
    principal: Principal,
    tag_id: str,
    name: str | None,
    color: str | None,
) -> Tag:
    """Rename or recolour a tag."""
    require(principal, "tags:write")
    tag = await get_tag(session, principal=principal, tag_id=tag_id)
    if name is not None and tag_key(name) != tag.name_key:
        other = await find_by_name(session, principal=principal, name=name)
        if other is not None:
            raise Conflict(f"a tag named '{name.strip()}' already exists", field="name")
        tag.name, tag.name_key = " ".join(name.split()), tag_key(name)
    if color is not None:
        tag.color = color
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="tag.updated",
        target_type="tag",
        target_id=tag.id,
        data={"name": tag.name, "color": tag.color},
    )
    return tag


async def delete_tag(session: AsyncSession, *, principal: Principal, tag_id: str) -> None:
    """Delete a tag (links keep existing, without it)."""
    require(principal, "tags:write")
    tag = await get_tag(session, principal=principal, tag_id=tag_id)
    await session.delete(tag)
    await session.flush()
    audit_service.record(
        session,
        principal=principal,
        action="tag.deleted",
        target_type="tag",
        target_id=tag_id,
        data={"name": tag.name},
    )


async def ensure_tags(
    session: AsyncSession, *, principal: Principal, names: Sequence[str]
) -> list[Tag]:
    """The org's tags with these names, creating missing ones (needs links:write only)."""
    require(principal, "links:write")
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(tag_key(name), " ".join(name.split()))
    if not wanted:
        return []
    stmt = select(Tag).where(Tag.org_id == principal.org_id, Tag.name_key.in_(wanted))
    found = {t.name_key: t for t in (await session.execute(stmt)).scalars()}
    for key, name in wanted.items():
        if key not in found:
            tag = Tag(id=new_tag_id(), org_id=principal.org_id, name=name, name_key=key)
            session.add(tag)
            found[key] = tag
    await session.flush()
    return [found[k] for k in wanted]


async def set_link_tags(
    session: AsyncSession,
    *,
    principal: Principal,
    link_id: str,
    names: Sequence[str],
    replace: bool,
) -> list[Tag]:
    """Attach the named tags to a link (replacing its current ones when ``replace``)."""
    tags = await ensure_tags(session, principal=principal, names=names)
    if replace:
        await session.execute(delete(LinkTag).where(LinkTag.link_id == link_id))
    for tag in tags:
        session.add(LinkTag(link_id=link_id, tag_id=tag.id))
    await session.flush()
    return tags


async def attach_tags(
    session: AsyncSession, *, principal: Principal, link_tags: Mapping[str, Sequence[str]]
) -> dict[str, list[Tag]]:
    """Attach named tags to new links in one INSERT (missing tags are created); tags by link."""
    names = [name for wanted in link_tags.values() for name in wanted]
    by_key = {t.name_key: t for t in await ensure_tags(session, principal=principal, names=names)}
    attached: dict[str, list[Tag]] = {}
    rows: list[dict[str, str]] = []
    for link_id, wanted in link_tags.items():
        tags = list({tag_key(name): by_key[tag_key(name)] for name in wanted}.values())
        attached[link_id] = sorted(tags, key=lambda t: t.name_key)
        rows += [{"link_id": link_id, "tag_id": t.id} for t in tags]
    if rows:
        await session.execute(insert(LinkTag.metadata.tables["link_tags"]), rows)
    return attached


def link_ids_with_tag(tag_id: str) -> Select[str]:
    """A sub-select of the ids of links carrying ``tag_id`` (for list filters)."""
    return select(LinkTag.link_id).where(LinkTag.tag_id == tag_id)


async def tags_for_links(session: AsyncSession, *, link_ids: Sequence[str]) -> dict[str, list[Tag]]:
    """The tags of each link, by link id (one query for a whole page)."""
    result: dict[str, list[Tag]] = {i: [] for i in link_ids}
    if not link_ids:
        return result
    stmt = (
        select(LinkTag.link_id, Tag)
        .join(Tag, Tag.id == LinkTag.tag_id)
        .where(LinkTag.link_id.in_(link_ids))
        .order_by(Tag.name_key)
    )
    for link_id, tag in (await session.execute(stmt)).all():
        result[link_id].append(tag)
    return result


async def link_ids_for_tag(session: AsyncSession, *, tag_id: str) -> list[str]:
    """Ids of the links carrying a tag (the caller checked the tag belongs to its org)."""
    return list((await session.execute(link_ids_with_tag(tag_id))).scalars())
