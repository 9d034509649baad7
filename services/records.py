"""Read-side helpers the admin shows beside a record: its change history, status labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.audit import ChangeLog
from schema.base import N_
from schema.people import User
from schema.workflows import Workflow, WorkflowState

ACTION_LABELS = {"create": N_("Created"), "update": N_("Edited"), "delete": N_("Deleted")}


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    username: str
    action: str
    changes: dict[str, list[object]]

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)


def change_history(session: Session, table: str, record_id: int, limit: int = 200
                   ) -> list[HistoryEntry]:
    rows = session.execute(
        select(ChangeLog, User.username)
        .outerjoin(User, User.id == ChangeLog.user_id)
        .where(ChangeLog.table_name == table, ChangeLog.record_id == record_id)
        .order_by(ChangeLog.id.desc())
        .limit(limit)
    ).all()
    return [HistoryEntry(c.at, name or "—", c.action, c.changes or {}) for c, name in rows]


@dataclass(frozen=True)
class StatusLabel:
    text: str
    colour: str


StatusLabels = dict[tuple[str, str, str], StatusLabel]


def status_labels(session: Session, language: str) -> StatusLabels:
    """(table, column, state code) -> label in ``language`` and colour, for every workflow."""
    rows = session.execute(
        select(Workflow.entity, Workflow.field, WorkflowState)
        .join(WorkflowState, WorkflowState.workflow_id == Workflow.id)
        .order_by(Workflow.id, WorkflowState.position)
    ).all()
    labels: StatusLabels = {}
    for entity, field, state in rows:
        labels.setdefault((entity, field, state.code),
                          StatusLabel(state.label_for(language), state.colour))
    return labels
