"""Status workflows as data: states, allowed transitions, and the history of every change
(R-WF)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    RECORD_OF,
    SHARED,
    AdminHints,
    Base,
    Editable,
    IdMixin,
    UTCDateTime,
    label,
    utcnow,
)

if TYPE_CHECKING:
    from schema.people import User


class Workflow(Editable, Base):
    """The states and transitions of one status column, e.g. ``orders.status``."""

    __tablename__ = "workflows"
    __owner__ = SHARED
    __admin__ = AdminHints(
        label=N_("Workflow"), plural=N_("Workflows"), menu=N_("Settings"), rank=3,
        icon="fa-solid fa-diagram-project", list=("id", "code", "name", "entity", "field"),
        search=("code", "name", "entity"), filters=("entity",), sort=("id", "code", "name"),
        form_exclude=("states", "transitions"),
    )

    code: Mapped[str] = mapped_column(String(64), unique=True, info=label(N_("Code")))
    name: Mapped[str] = mapped_column(String(200), info=label(N_("Name")))
    entity: Mapped[str] = mapped_column(String(64), index=True, info=label(N_("Table")))
    field: Mapped[str] = mapped_column(String(64), info=label(N_("Field")))
    description: Mapped[str | None] = mapped_column(Text, info=label(N_("Description")))

    states: Mapped[list[WorkflowState]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan",
        order_by="WorkflowState.position",
    )
    transitions: Mapped[list[WorkflowTransition]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan",
        order_by="WorkflowTransition.id",
    )

    def __str__(self) -> str:
        return self.name


class WorkflowState(Editable, Base):
    """One state of a workflow. Besides its labels and place in the flow, a state of an
    order's status or shipping status says what may still be edited on the order's page
    (``services.order_edits``), so a shop's own workflow decides that, not code:

    - ``items_editable``: the order's items and its shipping and payment methods may change
      while the order is in this state — they may when *both* its status state and its
      shipping status state allow it (the goods are still at the store and nothing was
      loaded). Off by default: a new state closes item edits until someone opens them.
    - ``recipient_editable``: the recipient may be corrected — unless *either* state forbids
      it (the order reached the customer). On by default.

    States of other workflows carry the flags unused."""

    __tablename__ = "workflow_states"
    __owner__ = SHARED
    __table_args__ = (UniqueConstraint("workflow_id", "code"),)
    __admin__ = AdminHints(
        label=N_("Workflow state"), plural=N_("Workflow states"), menu=N_("Settings"), rank=5,
        icon="fa-solid fa-circle-dot",
        list=(
            "id", "workflow", "code", "label_en", "label_ru", "label_fa", "colour",
            "is_initial", "is_terminal", "position",
        ),
        list_more=("items_editable", "recipient_editable"),
        search=("code", "label_en", "label_ru", "label_fa"),
        filters=("workflow_id", "is_initial", "is_terminal"),
        sort=("id", "code", "position"), default_sort=(("position", False),),
    )

    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True, info=label(N_("Workflow"))
    )
    code: Mapped[str] = mapped_column(String(32), info=label(N_("Code")))
    label_en: Mapped[str] = mapped_column(String(200), info=label(N_("Label (English)")))
    label_ru: Mapped[str | None] = mapped_column(String(200), info=label(N_("Label (Russian)")))
    label_fa: Mapped[str | None] = mapped_column(String(200), info=label(N_("Label (Persian)")))
    colour: Mapped[str] = mapped_column(
        String(7), default="#6c757d", info=label(N_("Colour"))
    )
    is_initial: Mapped[bool] = mapped_column(Boolean, default=False, info=label(N_("Initial")))
    is_terminal: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Terminal"))
    )
    position: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Position")))
    items_editable: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(),
        info=label(N_("Items and methods may change")),
    )
    recipient_editable: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true(), info=label(N_("Recipient may change")),
    )

    workflow: Mapped[Workflow] = relationship(back_populates="states")

    def label_for(self, language: str) -> str:
        """The label in ``language`` ("en", "ru", "fa"), falling back to English."""
        return getattr(self, f"label_{language[:2]}", None) or self.label_en

    def __str__(self) -> str:
        return self.label_en or self.code


class WorkflowTransition(Editable, Base):
    """An allowed move between two states: who may make it, what it requires, what follows.

    ``roles`` lists role codes (empty = every role); ``effects`` lists effect codes from the
    registry in services.effects, run after the change in the same transaction.
    """

    __tablename__ = "workflow_transitions"
    __owner__ = SHARED
    __table_args__ = (UniqueConstraint("workflow_id", "from_state_id", "to_state_id"),)
    __admin__ = AdminHints(
        label=N_("Workflow transition"), plural=N_("Workflow transitions"),
        menu=N_("Settings"), rank=4, icon="fa-solid fa-arrow-right-arrow-left",
        list=(
            "id", "workflow", "from_state", "to_state", "name", "roles", "requires_comment",
            "requires_date", "effects",
        ),
        search=("name",), filters=("workflow_id", "from_state_id", "to_state_id"),
        sort=("id", "name"),
    )

    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), index=True, info=label(N_("Workflow"))
    )
    from_state_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_states.id", ondelete="CASCADE"), index=True,
        info=label(N_("From state")),
    )
    to_state_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_states.id", ondelete="CASCADE"), index=True,
        info=label(N_("To state")),
    )
    name: Mapped[str] = mapped_column(String(200), default="", info=label(N_("Name")))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list, info=label(N_("Roles")))
    requires_comment: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Requires a comment"))
    )
    requires_date: Mapped[bool] = mapped_column(
        Boolean, default=False, info=label(N_("Requires a date"))
    )
    effects: Mapped[list[str]] = mapped_column(JSON, default=list, info=label(N_("Effects")))

    workflow: Mapped[Workflow] = relationship(back_populates="transitions")
    from_state: Mapped[WorkflowState] = relationship(foreign_keys=[from_state_id])
    to_state: Mapped[WorkflowState] = relationship(foreign_keys=[to_state_id])

    def __str__(self) -> str:
        return self.name or f"{self.from_state_id} → {self.to_state_id}"


class StatusChange(IdMixin, Base):
    """Append-only history of status changes: who, when, from, to, comment (R-WF-6)."""

    __tablename__ = "status_changes"
    __owner__ = RECORD_OF
    __table_args__ = (Index("ix_status_changes_record", "table_name", "record_id"),)
    __admin__ = AdminHints(
        label=N_("Status change"), plural=N_("Status changes"), menu=N_("Settings"), rank=10,
        icon="fa-solid fa-timeline",
        list=(
            "id", "at", "table_name", "record_id", "from_state", "to_state", "user",
            "comment", "effective_date",
        ),
        search=("comment",),
        filters=("workflow_id", "table_name", "to_state", "user_id", "at"),
        sort=("id", "at"), default_sort=(("id", True),), readonly=True,
    )

    workflow_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"), index=True,
        info=label(N_("Workflow")),
    )
    table_name: Mapped[str] = mapped_column(String(64), info=label(N_("Table")))
    record_id: Mapped[int] = mapped_column(Integer, info=label(N_("Record")))
    from_state: Mapped[str | None] = mapped_column(String(32), info=label(N_("From")))
    to_state: Mapped[str] = mapped_column(String(32), index=True, info=label(N_("To")))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label(N_("User"))
    )
    comment: Mapped[str | None] = mapped_column(Text, info=label(N_("Comment")))
    effective_date: Mapped[date | None] = mapped_column(
        Date, info=label(N_("Effective date"))
    )
    at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True, info=label(N_("Date"))
    )

    user: Mapped[User | None] = relationship()

    def __str__(self) -> str:
        return f"{self.from_state or '—'} → {self.to_state}"
