"""The change log: every create/edit/delete made by a person, field by field (R-ORD-3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import (
    N_,
    RECORD_OF,
    AdminHints,
    Base,
    IdMixin,
    UTCDateTime,
    label,
    utcnow,
)


class ChangeLog(IdMixin, Base):
    __tablename__ = "change_log"
    __owner__ = RECORD_OF
    __table_args__ = (Index("ix_change_log_record", "table_name", "record_id"),)
    __admin__ = AdminHints(
        label=N_("Change"), plural=N_("Change log"), menu=N_("Settings"), rank=9,
        icon="fa-solid fa-clock-rotate-left",
        list=("id", "at", "user_id", "action", "table_name", "record_id"),
        filters=("table_name", "action", "user_id"), sort=("id", "at"),
        default_sort=(("id", True),), readonly=True,
    )

    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, info=label(N_("Date")))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label(N_("User"))
    )
    action: Mapped[str] = mapped_column(String(16), info=label(N_("Action")))
    table_name: Mapped[str] = mapped_column(String(64), info=label(N_("Table")))
    record_id: Mapped[int | None] = mapped_column(Integer, info=label(N_("Record")))
    # {"field": [old, new]}; secret fields hold "***" on both sides.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, info=label(N_("Changes")))

    def __str__(self) -> str:
        return f"{self.action} {self.table_name} #{self.record_id}"
