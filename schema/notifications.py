"""The notification outbox: SMS and e-mail queued with the change that causes them and sent by
a worker with retries (R-NOTE-1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import (
    INTERNAL,
    N_,
    AdminHints,
    Base,
    Editable,
    LabelledEnum,
    UTCDateTime,
    enum_column,
    label,
    utcnow,
)


class OutboxChannel(LabelledEnum):
    SMS = "sms"
    EMAIL = "email"

    __labels__ = {"sms": N_("SMS"), "email": N_("E-mail")}


class OutboxStatus(LabelledEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"

    __labels__ = {
        "pending": N_("Pending"),
        "sending": N_("Sending"),
        "sent": N_("Sent"),
        "failed": N_("Failed"),
    }


class OutboxMessage(Editable, Base):
    """One message to send. A worker leases due rows (``services.worker``): status
    ``sending``, ``claimed_by`` its claim's token and ``next_attempt_at`` the end of the lease,
    which it renews while it sends; a lease that runs out makes the row due again for any
    worker. ``dedupe_key`` keeps the same event from being queued twice."""

    __tablename__ = "outbox"
    __owner__ = INTERNAL
    __table_args__ = (
        Index("ix_outbox_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_outbox_related", "related_table", "related_id"),
    )
    __admin__ = AdminHints(
        label=N_("Outgoing message"), plural=N_("Outbox"), menu=N_("Settings"), rank=8,
        icon="fa-solid fa-paper-plane",
        list=(
            "id", "created_at", "channel", "recipient", "subject", "status", "attempts",
            "next_attempt_at", "sent_at",
        ),
        search=("recipient", "subject", "dedupe_key"),
        filters=("channel", "status", "related_table", "created_at", "sent_at"),
        sort=("id", "created_at", "next_attempt_at", "sent_at", "attempts"),
        default_sort=(("id", True),), readonly=True,
    )

    channel: Mapped[OutboxChannel] = mapped_column(
        enum_column(OutboxChannel), index=True, info=label(N_("Channel"))
    )
    recipient: Mapped[str] = mapped_column(
        String(200), index=True, info=label(N_("Recipient"))
    )
    subject: Mapped[str | None] = mapped_column(String(300), info=label(N_("Subject")))
    body: Mapped[str] = mapped_column(Text, default="", info=label(N_("Text")))
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus), default=OutboxStatus.PENDING, index=True,
        info=label(N_("Status")),
    )
    attempts: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", info=label(N_("Attempts"))
    )
    next_attempt_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, info=label(N_("Next attempt at"))
    )
    last_error: Mapped[str | None] = mapped_column(Text, info=label(N_("Last error")))
    provider_answer: Mapped[str | None] = mapped_column(
        Text, info=label(N_("Provider's answer"))
    )
    sent_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Sent at"))
    )
    dedupe_key: Mapped[str | None] = mapped_column(
        String(200), unique=True, info=label(N_("Deduplication key"))
    )
    related_table: Mapped[str | None] = mapped_column(
        String(64), info=label(N_("Related table"))
    )
    related_id: Mapped[int | None] = mapped_column(Integer, info=label(N_("Related record")))
    claimed_by: Mapped[str | None] = mapped_column(
        String(40), info=label(N_("Claimed by"))
    )

    def __str__(self) -> str:
        return f"{self.channel} → {self.recipient}"
