"""HTTP routes for tags."""

from __future__ import annotations

from fastapi import APIRouter, Response

from linkhop.deps import PrincipalDep, SessionDep
from linkhop.tags import service as tags_service
from linkhop.tags.models import Tag
from linkhop.tags.schemas import TagCreate, TagOut, TagUpdate

router = APIRouter(prefix="/tags", tags=["tags"])


def _out(tag: Tag) -> TagOut:
    return TagOut(id=tag.id, name=tag.name, color=tag.color, created_at=tag.created_at)


@router.get("", response_model=list[TagOut], summary="List tags")
async def list_tags(session: SessionDep, principal: PrincipalDep) -> list[TagOut]:
    """The org's tags, by name."""
    return [_out(t) for t in await tags_service.list_tags(session, principal=principal)]


@router.post("", status_code=201, response_model=TagOut, summary="Create a tag")
async def create_tag(body: TagCreate, session: SessionDep, principal: PrincipalDep) -> TagOut:
    """Create a tag (names are unique per org, ignoring case)."""
    tag = await tags_service.create_tag(
        session, principal=principal, name=body.name, color=body.color
    )
    return _out(tag)


@router.get("/{tag_id}", response_model=TagOut, summary="Get a tag")
async def get_tag(tag_id: str, session: SessionDep, principal: PrincipalDep) -> TagOut:
    """One tag."""
    return _out(await tags_service.get_tag(session, principal=principal, tag_id=tag_id))


@router.patch("/{tag_id}", response_model=TagOut, summary="Update a tag")
async def update_tag(
    tag_id: str, body: TagUpdate, session: SessionDep, principal: PrincipalDep
) -> TagOut:
    """Rename or recolour a tag."""
    tag = await tags_service.update_tag(
        session, principal=principal, tag_id=tag_id, name=body.name, color=body.color
    )
    return _out(tag)


@router.delete("/{tag_id}", status_code=204, summary="Delete a tag")
async def delete_tag(tag_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Delete a tag; links keep existing without it."""
    await tags_service.delete_tag(session, principal=principal, tag_id=tag_id)
    return Response(status_code=204)
