"""The one way to change a workflow-governed status (orders, parcels, courier tasks).

``change_status`` checks the workflow for the acting role, enforces the required comment and
date, moves the status with a conditional UPDATE (so of two concurrent changes exactly one wins),
writes the history row and runs the transition's effects — all in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rules.workflow import WorkflowDef, check_transition
from schema import model_for
from schema.base import utcnow
from schema.people import Setting, User
from schema.workflows import StatusChange, Workflow, WorkflowState
from services.actor import Actor
from services.effects import run_effects
from services.errors import Conflict, Refused
from services.workflow_defs import load_definition


def workflow_for(session: Session, table: str, field: str, current: str | None,
                 target: str | None = None) -> str:
    """The workflow governing ``table.field`` for a record in ``current``.

    Several workflows may govern one column (the store's order statuses and Belpost's): the one
    whose states hold ``current`` (and ``target``) wins; a tie goes to the default named by the
    setting ``workflow.<table>.<field>``, then to the oldest.
    """
    rows = session.execute(
        select(Workflow.code, WorkflowState.code)
        .join(WorkflowState, WorkflowState.workflow_id == Workflow.id)
        .where(Workflow.entity == table, Workflow.field == field)
        .order_by(Workflow.id)
    ).all()
    if not rows:
        raise Refused("No workflow governs %(field)s.", field=field)
    states: dict[str, set[str]] = {}
    for code, state in rows:
        states.setdefault(code, set()).add(state)
    candidates = [c for c, held in states.items() if current is None or current in held]
    if target is not None:
        candidates = [c for c in candidates if target in states[c]] or candidates
    candidates = candidates or list(states)
    setting = f"workflow.{table}.{field}"
    default = session.scalar(select(Setting.value).where(Setting.key == setting))
    return default if default in candidates else candidates[0]


def state_labels(session: Session, workflow_code: str, language: str) -> dict[str, str]:
    column = getattr(WorkflowState, f"label_{language}", WorkflowState.label_en)
    return dict(session.execute(
        select(WorkflowState.code, func.coalesce(column, WorkflowState.label_en))
        .join(Workflow, Workflow.id == WorkflowState.workflow_id)
        .where(Workflow.code == workflow_code)
    ).all())


def change_status(
    session: Session,
    actor: Actor,
    *,
    table: str,
    record_id: int,
    field: str,
    to_state: str,
    comment: str | None = None,
    effective_date: date | None = None,
    expected_state: str | None = None,
    language: str = "en",
) -> StatusChange:
    model = model_for(table)
    record = session.get(model, record_id)  # scoped: another merchant's id reads as missing
    if record is None:
        raise Refused("The record was not found.")
    if getattr(record, "deleted_at", None) is not None:
        raise Refused("%(record)s is in the deleted list; restore it first.", record=str(record))
    current: str | None = getattr(record, field)
    code = workflow_for(session, table, field, current, to_state)
    definition: WorkflowDef = load_definition(session, code)
    labels = state_labels(session, code, language)
    if expected_state is not None and current != expected_state:
        raise Conflict(
            "Someone else changed the status of %(record)s meanwhile; it is now %(current)s. "
            "Nothing was changed: look at the new status and decide again.",
            record=str(record), current=labels.get(current or "", current or "—"),
        )
    comment = (comment or "").strip() or None
    decision = check_transition(definition, current, to_state, actor.role, comment,
                                effective_date, labels=labels)
    if not decision.allowed:
        assert decision.reason is not None
        raise Refused(decision.reason.text, **decision.reason.params)

    column = getattr(model, field)
    moved = session.execute(
        update(model)
        .where(model.id == record_id, column.is_(None) if current is None else column == current)
        .values({field: to_state, "version": model.version + 1, "updated_at": utcnow()})
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise Conflict(
            "Someone else changed the status of %(record)s at the same moment. Nothing was "
            "changed: reload the page and decide again.", record=str(record),
        )
    session.refresh(record)
    workflow_id = session.scalar(select(Workflow.id).where(Workflow.code == code))
    change = StatusChange(
        workflow_id=workflow_id, table_name=table, record_id=record_id, from_state=current,
        to_state=to_state, user_id=actor.user_id, comment=comment,
        effective_date=effective_date, at=utcnow(),
    )
    session.add(change)
    assert decision.transition is not None
    run_effects(session, actor, record, decision.transition.effects, labels.get(to_state, to_state))
    session.flush()
    return change


def history(session: Session, table: str, record_id: int) -> list[dict[str, Any]]:
    """Every status change of a record, newest first, grouped by workflow code."""
    rows = session.execute(
        select(StatusChange, Workflow.code, User.username)
        .outerjoin(Workflow, Workflow.id == StatusChange.workflow_id)
        .outerjoin(User, User.id == StatusChange.user_id)
        .where(StatusChange.table_name == table, StatusChange.record_id == record_id)
        .order_by(StatusChange.id.desc())
    ).all()
    return [{"change": c, "workflow": w, "username": u or "—"} for c, w, u in rows]


@dataclass(frozen=True)
class Option:
    to_state: str
    label: str
    colour: str
    requires_comment: bool
    requires_date: bool


@dataclass(frozen=True)
class StatusPanel:
    """What a person may do with one status of a record: its state and the allowed moves."""

    table: str
    field: str
    workflow: str
    current: str | None
    current_label: str
    colour: str
    options: list[Option]


def status_panel(session: Session, actor: Actor, table: str, record: Any, field: str,
                 language: str) -> StatusPanel | None:
    from rules.workflow import allowed_transitions

    current = getattr(record, field)
    try:
        code = workflow_for(session, table, field, current)
    except Refused:
        return None
    definition = load_definition(session, code)
    states = {s.code: s for s in session.scalars(
        select(WorkflowState).join(Workflow).where(Workflow.code == code))}
    options = [
        Option(t.to_state, states[t.to_state].label_for(language), states[t.to_state].colour,
               t.requires_comment, t.requires_date)
        for t in allowed_transitions(definition, current, actor.role) if t.to_state in states
    ]
    state = states.get(current or "")
    return StatusPanel(table, field, code, current,
                       state.label_for(language) if state else (current or "—"),
                       state.colour if state else "#6c757d", options)
