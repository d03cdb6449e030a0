"""Conversations between a partner's users and the program's managers: one thread per partner
(about anything) and one per lead (opened from the lead). A partner's users see their own
company's threads; managers see every thread, and which wait for an answer.

A message from a manager is told to the partner's users as a notification, e-mailed per the
profile's event-mail choice (a digest respected); every message reaches the partner's webhooks
as `message.created`. Bodies are stored as written and shown as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.orm import Session

from portal.core import audit, db
from portal.core.access import Actor, refresh
from portal.core.errors import NotFound, ValidationError
from portal.core.models import (
    Conversation,
    ConversationRead,
    Lead,
    Message,
    NotificationKind,
    Partner,
)
from portal.core.types import utc_now
from portal.core.validation import FieldErrors, clean_text
from portal.messaging import webhooks
from portal.messaging.notifications import notify_partner

MAX_BODY = 4000
PARTNER_TOPIC = "partner"
PREVIEW = 140


def lead_topic(lead_id: int) -> str:
    return f"lead:{lead_id}"


@dataclass(frozen=True)
class ConversationView:
    id: int
    partner_id: int
    partner_name: str
    lead_id: int | None
    lead_name: str | None
    last_message_at: datetime
    answered: bool
    unread: int
    title: str  # "The program", or "Lead #12 · Dana Reyes"


@dataclass(frozen=True)
class MessageView:
    id: int
    conversation_id: int
    author_name: str
    from_manager: bool
    mine: bool
    body: str
    created_at: datetime


def _visible(actor: Actor) -> ColumnElement[bool]:
    return Conversation.partner_id == actor.partner_id if actor.is_partner else true()


def _conversation(session: Session, actor: Actor, conversation_id: int) -> Conversation:
    found = session.get(Conversation, conversation_id)
    if found is None or (actor.is_partner and found.partner_id != actor.partner_id):
        raise NotFound("Conversation not found.")
    return found


def _thread_for(
    session: Session, actor: Actor, partner_id: int | None, lead_id: int | None
) -> tuple[int, str, int | None]:
    """(partner, topic, lead) of the thread a new message goes to; refuses what the actor may
    not see (another partner's lead or thread answers as missing)."""
    if lead_id is not None:
        lead_partner = session.scalar(select(Lead.partner_id).where(Lead.id == lead_id))
        if lead_partner is None or (actor.is_partner and lead_partner != actor.partner_id):
            raise NotFound("Lead not found.")
        return lead_partner, lead_topic(lead_id), lead_id
    if actor.is_partner:
        if partner_id not in (None, actor.partner_id):
            raise NotFound("Partner not found.")
        assert actor.partner_id is not None
        return actor.partner_id, PARTNER_TOPIC, None
    if partner_id is None:
        raise ValidationError({"partner_id": "Choose the partner to write to."})
    if session.get(Partner, partner_id) is None:
        raise NotFound("Partner not found.")
    return partner_id, PARTNER_TOPIC, None


def post(
    session: Session,
    *,
    actor: Actor,
    body: str,
    partner_id: int | None = None,
    lead_id: int | None = None,
) -> MessageView:
    """Write to the program (a partner's user: its company's thread, or a lead's) or to a
    partner (a manager: the partner's thread, or a lead's). The thread is opened by its first
    message."""
    actor = refresh(session, actor)
    errors = FieldErrors()
    text = clean_text(
        errors, "body", body, label="Message", max_length=MAX_BODY, required=True, multiline=True
    )
    errors.raise_if_any()
    assert text is not None
    partner, topic, lead = _thread_for(session, actor, partner_id, lead_id)
    now = utc_now()
    # Two first messages at once open one thread.
    session.execute(
        db.upsert_into(session, Conversation)
        .values(partner_id=partner, topic=topic, lead_id=lead, created_at=now, answered=False)
        .on_conflict_do_nothing(index_elements=["partner_id", "topic"])
    )
    conversation = session.scalars(
        select(Conversation)
        .where(Conversation.partner_id == partner, Conversation.topic == topic)
        .with_for_update()
    ).one()
    message = Message(
        conversation_id=conversation.id,
        author_user_id=actor.user_id,
        author_name=actor.display_name or actor.username,
        from_manager=actor.is_manager,
        body=text,
        created_at=now,
    )
    session.add(message)
    conversation.last_message_at = now
    conversation.answered = actor.is_manager
    session.flush()
    _read_up_to(session, actor, [(conversation.id, message.id)])
    webhook_data = {
        "conversation_id": conversation.id,
        "message_id": message.id,
        "from_manager": actor.is_manager,
        "body": text,
    }
    if actor.is_manager:
        notify_partner(
            session,
            caused_by=actor,
            partner_id=partner,
            kind=NotificationKind.MESSAGE,
            message=f"New message from the program: {_preview(text)}",
            lead_id=lead,
            data=webhook_data,
        )
    else:
        webhooks.queue_event(
            session,
            endpoints=webhooks.live_endpoints(session, partner),
            partner_id=partner,
            kind=NotificationKind.MESSAGE,
            data={
                "lead_id": lead,
                "message": f"New message from {message.author_name}: {_preview(text)}",
                **webhook_data,
            },
        )
    audit.record_by(
        session,
        actor,
        "message.posted",
        "conversation",
        conversation.id,
        after={"message_id": message.id, "partner_id": partner, "lead_id": lead},
    )
    return _message_view(message, actor)


def _preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW else line[: PREVIEW - 1] + "…"


def _message_view(message: Message, actor: Actor) -> MessageView:
    return MessageView(
        id=message.id,
        conversation_id=message.conversation_id,
        author_name=message.author_name,
        from_manager=message.from_manager,
        mine=message.author_user_id == actor.user_id,
        body=message.body,
        created_at=message.created_at,
    )


def _read_up_to(session: Session, actor: Actor, read: Sequence[tuple[int, int]]) -> None:
    """This user has read each (conversation, up to message) given, in one statement."""
    if not read:
        return
    statement = db.upsert_into(session, ConversationRead)
    already = ConversationRead.last_read_message_id
    now_read = statement.excluded.last_read_message_id
    session.execute(
        statement.on_conflict_do_update(  # never back: a later message may have been read
            index_elements=["user_id", "conversation_id"],
            set_={"last_read_message_id": case((now_read > already, now_read), else_=already)},
        ),
        [
            {"user_id": actor.user_id, "conversation_id": thread, "last_read_message_id": last}
            for thread, last in read
        ],
    )


def _unread_messages(actor: Actor) -> ColumnElement[bool]:
    """Messages this user has not read yet: a manager, the partners' messages; a partner's
    user, the program's and its colleagues'."""
    conditions = [
        Message.author_user_id.is_distinct_from(actor.user_id),
        Message.id > func.coalesce(ConversationRead.last_read_message_id, 0),
    ]
    if actor.is_manager:
        conditions.append(Message.from_manager.is_(False))
    return and_(*conditions)


def conversations(
    session: Session,
    *,
    actor: Actor,
    unanswered: bool = False,
    partner_id: int | None = None,
    limit: int = 200,
) -> list[ConversationView]:
    """The threads the actor may see, newest message first, with this user's unread count;
    `unanswered`: those whose last word is the partner's (for managers)."""
    actor = refresh(session, actor)
    condition = _visible(actor)
    if unanswered:
        condition = and_(condition, Conversation.answered.is_(False))
    if partner_id is not None and actor.is_manager:
        condition = and_(condition, Conversation.partner_id == partner_id)
    return _views(session, actor, condition, limit)


def _views(
    session: Session, actor: Actor, condition: ColumnElement[bool], limit: int
) -> list[ConversationView]:
    unread = (
        select(func.count())
        .select_from(Message)
        .outerjoin(
            ConversationRead,
            and_(
                ConversationRead.conversation_id == Message.conversation_id,
                ConversationRead.user_id == actor.user_id,
            ),
        )
        .where(Message.conversation_id == Conversation.id, _unread_messages(actor))
        .scalar_subquery()
    )
    query = (
        select(Conversation, Partner.company_name, Lead.client_name, unread)
        .join(Partner, Partner.id == Conversation.partner_id)
        .outerjoin(Lead, Lead.id == Conversation.lead_id)
        .where(condition)
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return [
        ConversationView(
            id=conversation.id,
            partner_id=conversation.partner_id,
            partner_name=company,
            lead_id=conversation.lead_id,
            lead_name=client,
            last_message_at=conversation.last_message_at,
            answered=conversation.answered,
            unread=count,
            title=f"Lead #{conversation.lead_id} · {client}"
            if conversation.lead_id
            else "The program",
        )
        for conversation, company, client, count in session.execute(query)
    ]


def read_conversation(
    session: Session, *, actor: Actor, conversation_id: int
) -> tuple[ConversationView, list[MessageView]]:
    """A thread's messages, oldest first; the user has read them from now on."""
    actor = refresh(session, actor)
    conversation = _conversation(session, actor, conversation_id)
    messages = list(
        session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    if messages:
        _read_up_to(session, actor, [(conversation.id, messages[-1].id)])
    (view,) = _views(session, actor, Conversation.id == conversation.id, 1)
    return view, [_message_view(message, actor) for message in messages]


def thread_of_lead(session: Session, *, actor: Actor, lead_id: int) -> int | None:
    """The id of a lead's thread, if one was opened (the lead must be the actor's to see)."""
    actor = refresh(session, actor)
    partner, topic, _ = _thread_for(session, actor, None, lead_id)
    return session.scalar(
        select(Conversation.id).where(
            Conversation.partner_id == partner, Conversation.topic == topic
        )
    )


def unread_count(session: Session, *, actor: Actor) -> int:
    """Messages this user has not read, in every thread it may see (the sidebar's count;
    `actor` as the page run read it)."""
    actor = refresh(session, actor)
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .outerjoin(
                ConversationRead,
                and_(
                    ConversationRead.conversation_id == Message.conversation_id,
                    ConversationRead.user_id == actor.user_id,
                ),
            )
            .where(_visible(actor), _unread_messages(actor))
        )
        or 0
    )


def mark_all_read(session: Session, *, actor: Actor) -> int:
    """Every thread the user may see read up to its last message; how many threads."""
    actor = refresh(session, actor)
    latest = session.execute(
        select(Message.conversation_id, func.max(Message.id))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(_visible(actor))
        .group_by(Message.conversation_id)
    ).all()
    _read_up_to(session, actor, [(thread, last) for thread, last in latest])
    return len(latest)
