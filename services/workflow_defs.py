"""Workflow rows read into the plain definitions that ``rules.workflow`` decides on.

Read-only: nothing here writes. A transition that points at a state of another workflow (an
edit gone wrong) keeps a code that this workflow does not have, so ``validate`` reports it
instead of silently matching a state that merely shares the code.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from rules.workflow import StateDef, TransitionDef, WorkflowDef
from schema.workflows import Workflow, WorkflowState, WorkflowTransition


def _end_code(transition: WorkflowTransition, end: str, own: dict[int, str],
              own_objects: dict[int, str]) -> str:
    state_id: int | None = getattr(transition, f"{end}_state_id")
    if state_id is not None:
        if state_id in own:
            return own[state_id]
        # Another workflow's state: name it so that it can never match one of ours.
        session = object_session(transition)
        other = session.get(WorkflowState, state_id) if session is not None else None
        return f"{other.code} (#{state_id})" if other is not None else f"#{state_id}"
    state: WorkflowState | None = getattr(transition, f"{end}_state")  # not flushed yet
    if state is None:
        return "#?"
    return own_objects.get(id(state)) or f"{state.code} (#{state.id})"


def definition_from_rows(
    workflow: Workflow,
    states: Iterable[WorkflowState],
    transitions: Iterable[WorkflowTransition],
) -> WorkflowDef:
    """The plain definition of ``workflow`` given its state and transition rows."""
    states = list(states)
    own = {s.id: s.code for s in states if s.id is not None}
    own_objects = {id(s): s.code for s in states}
    return WorkflowDef(
        code=workflow.code,
        states=tuple(StateDef(s.code, bool(s.is_initial), bool(s.is_terminal)) for s in states),
        transitions=tuple(
            TransitionDef(
                _end_code(t, "from", own, own_objects),
                _end_code(t, "to", own, own_objects),
                tuple(t.roles or ()), bool(t.requires_comment), bool(t.requires_date),
                tuple(t.effects or ()),
            )
            for t in transitions
        ),
    )


def _definition(session: Session, workflow: Workflow) -> WorkflowDef:
    states = session.scalars(
        select(WorkflowState).where(WorkflowState.workflow_id == workflow.id)
        .order_by(WorkflowState.position, WorkflowState.id)
    ).all()
    transitions = session.scalars(
        select(WorkflowTransition).where(WorkflowTransition.workflow_id == workflow.id)
        .order_by(WorkflowTransition.id)
    ).all()
    return definition_from_rows(workflow, states, transitions)


def load_definition(session: Session, code: str) -> WorkflowDef:
    """The workflow ``code`` as stored now; LookupError when there is none."""
    workflow = session.scalar(select(Workflow).where(Workflow.code == code))
    if workflow is None:
        raise LookupError(f"no workflow {code!r}")
    return _definition(session, workflow)


def load_definition_for(session: Session, table: str, field: str) -> list[WorkflowDef]:
    """Every workflow governing ``table.field``, oldest first (orders.status has two)."""
    workflows = session.scalars(
        select(Workflow).where(Workflow.entity == table, Workflow.field == field)
        .order_by(Workflow.id)
    ).all()
    return [_definition(session, w) for w in workflows]
