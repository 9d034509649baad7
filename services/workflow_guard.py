"""Keeps workflows that people edit valid: checked inside the flush that changes them.

Every edit of a workflow, state or transition made by a person is validated against the whole
workflow as it will be after the edit; a broken result (no initial state, two initial states,
a transition to an unknown state, ...) rolls the edit back with a message saying what is wrong.
A state that records are in cannot be deleted. Seeding (no actor) loads files as they are and
is checked by the tests instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, event, func, select, table
from sqlalchemy.orm import Session

from locales import gettext
from rules.workflow import Problem, validate
from schema.people import RoleCode
from schema.workflows import Workflow, WorkflowState, WorkflowTransition
from services.actor import current_actor
from services.effects import EFFECTS
from services.workflow_defs import load_definition

KNOWN_ROLES = frozenset(r.value for r in RoleCode)


class WorkflowInvalid(ValueError):
    """Raised inside a flush; the message is already in the person's language."""


def problems(session: Session, code: str) -> list[Problem]:
    return validate(load_definition(session, code), frozenset(EFFECTS), KNOWN_ROLES)


def _workflow_code(session: Session, obj: Any) -> str | None:
    if isinstance(obj, Workflow):
        return obj.code
    workflow_id = getattr(obj, "workflow_id", None)
    if workflow_id is None:
        return None
    return session.scalar(select(Workflow.code).where(Workflow.id == workflow_id))


@event.listens_for(Session, "before_flush")
def _refuse_deleting_used_states(session: Session, _ctx: Any, _instances: Any) -> None:
    if current_actor() is None:
        return
    for obj in session.deleted:
        if not isinstance(obj, WorkflowState):
            continue
        workflow = session.get(Workflow, obj.workflow_id)
        if workflow is None:
            continue
        records = table(workflow.entity, column(workflow.field))
        used = session.scalar(select(func.count()).select_from(records)
                              .where(records.c[workflow.field] == obj.code))
        if used:
            raise WorkflowInvalid(gettext(
                "The state %(state)s cannot be deleted: %(count)s records are in it. Move them "
                "to another state first.") % {"state": obj.label_en, "count": used})


@event.listens_for(Session, "after_flush")
def _validate_edited_workflows(session: Session, _ctx: Any) -> None:
    if current_actor() is None:
        return
    touched = {
        _workflow_code(session, obj)
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, Workflow | WorkflowState | WorkflowTransition)
    }
    for code in filter(None, touched):
        errors = [p for p in problems(session, code) if p.level == "error"]
        if errors:
            raise WorkflowInvalid(" ".join(p.message.render(gettext) for p in errors))
