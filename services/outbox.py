"""Queue SMS and e-mail in the caller's transaction (R-NOTE-1).

Nothing here commits: the message is written with the change that causes it, so a change that
rolls back sends nothing. ``services.worker`` delivers what was committed.
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schema.base import N_, utcnow
from schema.notifications import OutboxChannel, OutboxMessage, OutboxStatus
from schema.orders import MessageKind, Order, OrderMessage
from services.errors import Refused


class NoRecipient(Refused, ValueError):
    """The record has no phone number / e-mail address for the channel; nothing was queued."""


def _channel(channel: OutboxChannel | MessageKind | str) -> OutboxChannel:
    value = channel.value if isinstance(channel, Enum) else str(channel)
    return OutboxChannel(value)


def _by_key(session: Session, dedupe_key: str) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))


def _savepoints_work(session: Session) -> bool:
    # pysqlite opens its transaction lazily: a SAVEPOINT issued first would start (and its
    # RELEASE commit) a transaction of its own, outside the caller's. SQLite serialises writers
    # anyway, so there the unique constraint alone guards the rare race.
    return session.connection().dialect.name != "sqlite"


def queue_message(
    session: Session,
    channel: OutboxChannel | MessageKind | str,
    recipient: str,
    body: str,
    *,
    subject: str = "",
    related_table: str | None = None,
    related_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboxMessage:
    """Add a pending message to the outbox in the caller's transaction (flushed, not committed).

    With a ``dedupe_key`` the same event is queued once: an existing message with that key is
    returned instead of a new one. The check is backed by the unique constraint; on PostgreSQL a
    concurrent duplicate is caught in a savepoint and the committed message returned.
    """
    recipient = (recipient or "").strip()
    if not recipient:
        raise ValueError("an outbox message needs a recipient")
    if dedupe_key is not None:
        existing = _by_key(session, dedupe_key)
        if existing is not None:
            return existing
    message = OutboxMessage(
        channel=_channel(channel), recipient=recipient, subject=subject or None, body=body,
        status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
        related_table=related_table, related_id=related_id, dedupe_key=dedupe_key,
    )
    if dedupe_key is None or not _savepoints_work(session):
        session.add(message)
        session.flush()
        return message
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        existing = _by_key(session, dedupe_key)
        if existing is None:
            raise
        return existing
    return message


def customer_recipient(order: Order, channel: OutboxChannel | MessageKind | str) -> str:
    """The order's recipient phone for SMS, the customer's e-mail for e-mail; refused if none."""
    if _channel(channel) == OutboxChannel.SMS:
        phone = (order.recipient_phone or "").strip()
        if not phone:
            raise NoRecipient(N_("%(record)s has no phone number to send an SMS to."),
                              record=str(order))
        return phone
    email = ((order.customer.email if order.customer is not None else None) or "").strip()
    if not email:
        raise NoRecipient(N_("%(record)s has no customer e-mail address to write to."),
                          record=str(order))
    return email


def queue_customer_message(
    session: Session,
    order: Order,
    channel: OutboxChannel | MessageKind | str,
    body: str,
    *,
    title: str = "",
    operator_id: int | None = None,
) -> OrderMessage:
    """Queue a message to the order's customer and record it on the order's messages tab.

    Raises ``NoRecipient`` (a ``ValueError`` and a ``Refused``) when the order has no phone
    number (SMS) or customer e-mail (e-mail); nothing is queued then.
    """
    kind = MessageKind(_channel(channel).value)
    recipient = customer_recipient(order, kind)
    outbox = queue_message(
        session, kind.value, recipient, body, subject=title or str(order),
        related_table=Order.__tablename__, related_id=order.id,
    )
    message = OrderMessage(
        order_id=order.id, operator_id=operator_id, sent_at=utcnow(), kind=kind,
        title=title, recipient=recipient, body=body, outbox_id=outbox.id,
    )
    session.add(message)
    session.flush()
    return message
