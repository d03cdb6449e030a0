"""The resource library: brand assets, pitch decks and links the program gives partners to
sell with, for every partner or for some groups' partners. Files (PDF, PNG, JPEG, checked by
their content, at most `PORTAL_RESOURCE_MAX_MB`) are kept in the database, so every replica
serves them; each download is counted. Managers add and remove; partners browse and download
those of their group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.core import audit
from portal.core.access import Actor, refresh, require_manager
from portal.core.config import get_settings
from portal.core.errors import NotFound
from portal.core.models import Resource
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_text, clean_website
from portal.partners import groups

MAX_TITLE = 120
# What a file is, by its first bytes (never by its name or what the browser said).
KINDS = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


@dataclass(frozen=True)
class ResourceView:
    id: int
    title: str
    description: str
    audience: tuple[str, ...]  # group names; empty: every partner
    url: str | None  # a link, or else a file:
    file_name: str | None
    content_type: str | None
    size_bytes: int | None
    downloads: int
    created_at: datetime


def _view(resource: Resource, names: Mapping[int, str]) -> ResourceView:
    return ResourceView(
        id=resource.id,
        title=resource.title,
        description=resource.description,
        audience=groups.audience_names(resource.audience or [], names),
        url=resource.url,
        file_name=resource.file_name,
        content_type=resource.content_type,
        size_bytes=resource.size_bytes,
        downloads=resource.downloads,
        created_at=resource.created_at,
    )


def _kind_of(errors: FieldErrors, content: bytes) -> str | None:
    limit = int(get_settings().resource_max_mb * 1024 * 1024)
    if not content:
        errors.add("file", "The file is empty.")
        return None
    if len(content) > limit:
        errors.add(
            "file",
            f"The file is {len(content) / 1048576:.1f} MB; the limit is {limit / 1048576:g} MB.",
        )
        return None
    kind = next((kind for magic, kind in KINDS.items() if content.startswith(magic)), None)
    if kind is None:
        errors.add("file", "The file is not a PDF, PNG or JPEG image.")
    return kind


def add_resource(
    session: Session,
    *,
    actor: Actor,
    title: str,
    description: str = "",
    audience: Sequence[int] = (),
    url: str | None = None,
    file_name: str | None = None,
    content: bytes | None = None,
) -> ResourceView:
    """Add a link (`url`) or a file (`file_name`, `content`) for the partners of `audience`
    (group ids, 0 for the default group; empty: every partner); managers only, audited."""
    manager = require_manager(session, actor)
    errors = FieldErrors()
    clean_title = clean_text(
        errors, "title", title, label="Title", max_length=MAX_TITLE, required=True
    )
    words = clean_text(
        errors, "description", description, label="Description", max_length=1000, multiline=True
    )
    chosen = groups.clean_audience(session, errors, audience)
    link = clean_website(errors, "url", url, label="Link") if url else None
    name, kind = None, None
    if content is None and link is None and not errors.errors.get("url"):
        errors.add("file", "Add a file or a link.")
    elif content is not None and url:
        errors.add("url", "Add a file or a link, not both.")
    elif content is not None:
        base = PureWindowsPath(PurePosixPath(file_name or "").name).name
        name = clean_text(errors, "file", base, label="File name", max_length=200) or "resource"
        kind = _kind_of(errors, content)
    errors.raise_if_any()
    assert clean_title is not None
    resource = Resource(
        title=clean_title,
        description=words or "",
        audience=chosen,
        url=link,
        file_name=name.replace('"', "'") if name else None,
        content_type=kind,
        size_bytes=len(content) if content is not None else None,
        sha256=hashlib.sha256(content).hexdigest() if content is not None else None,
        content=content,
        downloads=0,
        created_by_user_id=manager.user_id,
        created_at=utc_now(),
    )
    session.add(resource)
    session.flush()
    audit.record_by(
        session,
        manager,
        "resource.added",
        "resource",
        resource.id,
        after={"title": clean_title, "file": name, "url": link, "size": resource.size_bytes},
    )
    return _view(resource, groups.group_names(session))


def remove_resource(session: Session, *, actor: Actor, resource_id: int) -> None:
    """Take a resource out of the library; managers only, audited."""
    manager = require_manager(session, actor)
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise NotFound("Resource not found.")
    audit.record_by(
        session,
        manager,
        "resource.removed",
        "resource",
        resource.id,
        before={"title": resource.title},
    )
    session.delete(resource)


def list_resources(session: Session, *, actor: Actor) -> list[ResourceView]:
    """A manager: every resource; a partner's user: those for its group. Newest first."""
    actor = refresh(session, actor)
    found = list(session.scalars(select(Resource).order_by(Resource.id.desc())))
    if actor.is_partner:
        mine = groups.membership(session, actor.partner_id)
        found = [resource for resource in found if groups.reaches(resource.audience or [], mine)]
    names = groups.group_names(session)
    return [_view(resource, names) for resource in found]


def download(session: Session, *, actor: Actor, resource_id: int) -> tuple[ResourceView, bytes]:
    """A file resource's content, counted as one download; a partner only gets one for its
    group (another's answers as missing)."""
    actor = refresh(session, actor)
    resource = session.get(Resource, resource_id)
    if resource is None or resource.content is None:
        raise NotFound("Resource not found.")
    if actor.is_partner and not groups.reaches(
        resource.audience or [], groups.membership(session, actor.partner_id)
    ):
        raise NotFound("Resource not found.")
    session.execute(
        update(Resource)
        .where(Resource.id == resource.id)
        .values(downloads=Resource.downloads + 1)
        .execution_options(synchronize_session=False)
    )
    content = resource.content
    session.refresh(resource)
    return _view(resource, groups.group_names(session)), content
