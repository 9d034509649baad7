"""The seeded workflows: each file is valid, allows what it declares (to the roles it names,
with the comment and date it requires) and refuses the rest; loading is idempotent and keeps an
administrator's edits."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from postdesk.db import make_engine, make_session_factory
from postdesk.migrate import upgrade_head
from rules.workflow import (
    StateDef,
    TransitionDef,
    WorkflowDef,
    allowed_transitions,
    check_transition,
    initial_state,
    validate,
)
from schema.people import RoleCode
from schema.workflows import Workflow, WorkflowState, WorkflowTransition
from seed.loader import DATA, load_seed_data, workflow_files
from services.effects import EFFECTS
from services.workflow_defs import load_definition, load_definition_for

ROLES = frozenset(r.value for r in RoleCode)
KNOWN_EFFECTS = frozenset(EFFECTS)
FILES = {row["code"]: row for row in workflow_files()}
CODES = sorted(FILES)
WHEN = date(2026, 11, 20)


def file_definition(row: dict[str, Any]) -> WorkflowDef:
    return WorkflowDef(
        row["code"],
        tuple(StateDef(s["code"], s.get("is_initial", False), s.get("is_terminal", False))
              for s in row["states"]),
        tuple(TransitionDef(t["from"], t["to"], tuple(t.get("roles") or ()),
                            t.get("requires_comment", False), t.get("requires_date", False),
                            tuple(t.get("effects") or ()))
              for t in row.get("transitions") or ()),
    )


DEFS = {code: file_definition(row) for code, row in FILES.items()}


def roles_of(t: TransitionDef) -> list[str]:
    return list(t.roles) or sorted(ROLES)


def test_one_file_per_workflow() -> None:
    assert sorted(p.stem for p in (DATA / "workflows").glob("*.yaml")) == CODES
    assert CODES == ["belpost_order", "courier_task", "order_status", "parcel",
                     "shipping_status"]
    assert not (DATA / "workflows.yaml").exists()
    for code, row in FILES.items():
        assert row["code"] == code
        assert {"name", "entity", "field", "states", "transitions"} <= set(row)
        for s in row["states"]:
            assert s["label_en"] and s["label_ru"] and s["label_fa"], (code, s["code"])
            assert s["colour"].startswith("#") and len(s["colour"]) == 7
        for t in row["transitions"]:
            assert t.get("name"), (code, t)


@pytest.mark.parametrize("code", CODES)
def test_seeded_workflow_is_valid_without_warnings(code: str) -> None:
    assert validate(DEFS[code], KNOWN_EFFECTS, ROLES) == []


@pytest.mark.parametrize("code", CODES)
def test_every_state_but_a_terminal_one_has_a_way_out(code: str) -> None:
    defn = DEFS[code]
    sources = {t.from_state for t in defn.transitions}
    for state in defn.states:
        assert (state.code in sources) is not state.is_terminal, state.code


@pytest.mark.parametrize("code", CODES)
def test_every_declared_transition_is_allowed_to_its_roles_only(code: str) -> None:
    defn = DEFS[code]
    for t in defn.transitions:
        for role in [*roles_of(t), RoleCode.SUPERUSER.value]:
            decision = check_transition(defn, t.from_state, t.to_state, role, "checked", WHEN)
            assert decision.allowed and decision.transition == t, (t, role, decision.reason)
            assert t in allowed_transitions(defn, t.from_state, role)
        outsiders = sorted(ROLES - set(t.roles) - {RoleCode.SUPERUSER.value})
        assert t.roles and outsiders, f"{t} should name its roles"
        for role in outsiders:
            decision = check_transition(defn, t.from_state, t.to_state, role, "checked", WHEN)
            assert not decision.allowed and "Your role may not" in str(decision.reason)
            assert t not in allowed_transitions(defn, t.from_state, role)


@pytest.mark.parametrize("code", CODES)
def test_required_comment_and_date_are_enforced(code: str) -> None:
    defn = DEFS[code]
    for t in defn.transitions:
        role = roles_of(t)[0]
        no_comment = check_transition(defn, t.from_state, t.to_state, role, "  ", WHEN)
        no_date = check_transition(defn, t.from_state, t.to_state, role, "checked", None)
        assert no_comment.allowed is not t.requires_comment, t
        assert no_date.allowed is not t.requires_date, t
        if t.requires_comment:
            assert "needs a comment" in str(no_comment.reason)
        if t.requires_date:
            assert "needs a date" in str(no_date.reason)


@pytest.mark.parametrize("code", CODES)
def test_undeclared_moves_are_refused(code: str) -> None:
    defn = DEFS[code]
    declared = {(t.from_state, t.to_state) for t in defn.transitions}
    codes = [s.code for s in defn.states]
    refused = 0
    for frm, to in itertools.permutations(codes, 2):
        if (frm, to) in declared:
            continue
        decision = check_transition(defn, frm, to, RoleCode.SUPERUSER.value, "x", WHEN)
        assert not decision.allowed and "does not allow" in str(decision.reason), (frm, to)
        refused += 1
    assert refused > len(declared)
    for c in codes:
        assert "already" in str(check_transition(defn, c, c, "superuser", "x", WHEN).reason)


def test_guidance_of_the_requirements() -> None:
    order, shipping = DEFS["order_status"], DEFS["shipping_status"]
    confirm = order.transition("awaiting_confirmation", "confirmed")
    assert confirm is not None and "notify_customer_sms" in confirm.effects
    reject = order.transition("awaiting_confirmation", "not_confirmed")
    assert reject is not None and reject.requires_comment
    back = order.transition("delivered", "returned")
    assert back is not None and back.requires_comment and "return_stock" in back.effects
    assert order.transition("awaiting_confirmation", "preparing") is None  # R-WF-2
    assert all(t.requires_comment and t.requires_date for t in shipping.transitions)  # R-WF-3
    parcel = DEFS["parcel"]
    assert "release_locker_cell" in parcel.transition("in_locker", "picked_up").effects  # type: ignore[union-attr]
    expired = parcel.transition("storage_expired", "returned")
    # The move writes the journey's event, whoever makes it; the merchant's charges follow the
    # events (services.locker_charges), not a fee effect.
    assert expired is not None and expired.effects == (
        "record_parcel_event", "release_locker_cell")
    belpost = DEFS["belpost_order"]
    cancels = [t for t in belpost.transitions if t.to_state == "cancelled"]
    assert {t.from_state for t in cancels} == {
        "passed_to_processing", "accepted_for_execution", "passed_to_delivery"}
    assert all(t.requires_comment and "return_stock" in t.effects for t in cancels)
    courier = DEFS["courier_task"]
    courier_moves = [t for t in courier.transitions if "courier" in t.roles]
    assert {(t.from_state, t.to_state) for t in courier_moves} >= {
        ("assigned", "accepted"), ("accepted", "picked_up"), ("picked_up", "on_the_way"),
        ("on_the_way", "delivered"), ("on_the_way", "failed")}
    for code in ("order_status", "shipping_status", "belpost_order"):
        assert all("courier" not in t.roles for t in DEFS[code].transitions), code


# ---- the seeded database (SQLite, and PostgreSQL when configured) -----------------------------

@pytest.mark.parametrize("code", CODES)
def test_the_database_holds_each_file(session: Session, code: str) -> None:
    stored = load_definition(session, code)
    assert [p for p in validate(stored, KNOWN_EFFECTS, ROLES) if p.level == "error"] == []
    assert {s.code for s in stored.states} >= {s.code for s in DEFS[code].states}
    assert set(stored.transitions) >= set(DEFS[code].transitions)
    assert initial_state(stored) == initial_state(DEFS[code])


def test_definitions_by_column(session: Session) -> None:
    # orders.status has two workflows; the order status loads first and is the default
    assert [d.code for d in load_definition_for(session, "orders", "status")] == [
        "order_status", "belpost_order"]
    assert [d.code for d in load_definition_for(session, "parcels", "status")] == ["parcel"]
    assert load_definition_for(session, "orders", "nothing") == []
    with pytest.raises(LookupError):
        load_definition(session, "no_such_workflow")


def test_loading_again_adds_nothing(session: Session) -> None:
    try:
        counts = load_seed_data(session)
        assert counts["workflow_transitions"] == 0
        assert set(counts.values()) == {0}, counts
    finally:
        session.rollback()


# ---- loading into a database of its own (destructive) ---------------------------------------

@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'seed.sqlite3'}"
    upgrade_head(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _transition(session: Session, workflow: str, frm: str, to: str) -> WorkflowTransition | None:
    for t in session.scalars(select(WorkflowTransition).join(Workflow)
                             .where(Workflow.code == workflow)):
        if (t.from_state.code, t.to_state.code) == (frm, to):
            return t
    return None


def test_first_load_adds_every_file_then_nothing(fresh: sessionmaker[Session]) -> None:
    with fresh() as session, session.begin():
        counts = load_seed_data(session)
    assert counts["workflows"] == len(FILES)
    assert counts["workflow_states"] == sum(len(r["states"]) for r in FILES.values())
    assert counts["workflow_transitions"] == sum(len(r["transitions"]) for r in FILES.values())
    with fresh() as session:
        for code in CODES:  # stored exactly as the file says, in the file's order
            assert load_definition(session, code) == DEFS[code]
        sizes = (_count(session, Workflow), _count(session, WorkflowState),
                 _count(session, WorkflowTransition))
        name = session.scalar(select(WorkflowTransition.name).join(Workflow)
                              .where(Workflow.code == "order_status")
                              .order_by(WorkflowTransition.id))
        assert name == FILES["order_status"]["transitions"][0]["name"]
    with fresh() as session, session.begin():
        again = load_seed_data(session)
    assert set(again.values()) == {0}, again
    with fresh() as session:
        assert (_count(session, Workflow), _count(session, WorkflowState),
                _count(session, WorkflowTransition)) == sizes


def test_reload_keeps_edits_and_respects_deletions(fresh: sessionmaker[Session]) -> None:
    with fresh() as session, session.begin():
        load_seed_data(session)
    with fresh() as session, session.begin():
        state = session.scalar(select(WorkflowState).join(Workflow).where(
            Workflow.code == "order_status", WorkflowState.code == "confirmed"))
        assert state is not None
        state.label_en, state.colour = "Paid and confirmed", "#000000"
        confirm = _transition(session, "order_status", "awaiting_confirmation", "confirmed")
        assert confirm is not None
        confirm.roles, confirm.effects, confirm.requires_comment = ["manager"], [], True
        workflow = session.scalar(select(Workflow).where(Workflow.code == "parcel"))
        assert workflow is not None
        workflow.name = "Locker parcel"
        gone = _transition(session, "courier_task", "on_the_way", "failed")
        assert gone is not None
        session.delete(gone)
    with fresh() as session:
        assert _transition(session, "courier_task", "on_the_way", "failed") is None
    with fresh() as session, session.begin():
        counts = load_seed_data(session)
    assert counts["workflow_transitions"] == 0
    assert counts["workflows"] == counts["workflow_states"] == 0
    with fresh() as session:
        state = session.scalar(select(WorkflowState).join(Workflow).where(
            Workflow.code == "order_status", WorkflowState.code == "confirmed"))
        assert state is not None and (state.label_en, state.colour) == (
            "Paid and confirmed", "#000000")
        confirm = _transition(session, "order_status", "awaiting_confirmation", "confirmed")
        assert confirm is not None
        assert (confirm.roles, confirm.effects, confirm.requires_comment) == (
            ["manager"], [], True)
        assert session.scalar(select(Workflow.name).where(Workflow.code == "parcel")) == (
            "Locker parcel")
        # A seeded default a person deleted is not put back by the next seeding.
        assert _transition(session, "courier_task", "on_the_way", "failed") is None


def test_a_deleted_state_is_not_put_back(fresh: sessionmaker[Session]) -> None:
    with fresh() as session, session.begin():
        load_seed_data(session)
    with fresh() as session, session.begin():
        rows = {s.code: s for s in session.scalars(
            select(WorkflowState).join(Workflow).where(Workflow.code == "shipping_status"))}
        rows["partial_delivery"].workflow.transitions = [
            t for t in rows["partial_delivery"].workflow.transitions
            if "partial_delivery" not in (t.from_state.code, t.to_state.code)]
        session.flush()
        session.delete(rows["partial_delivery"])
    with fresh() as session, session.begin():
        counts = load_seed_data(session)
    assert counts["workflow_states"] == counts["workflow_transitions"] == 0
    with fresh() as session:
        assert load_definition(session, "shipping_status").state("partial_delivery") is None


def test_a_transition_to_another_workflows_state_is_reported(
    fresh: sessionmaker[Session],
) -> None:
    with fresh() as session, session.begin():
        load_seed_data(session)
    with fresh() as session:
        stray = session.scalar(select(WorkflowState).join(Workflow).where(
            Workflow.code == "belpost_order", WorkflowState.code == "paid"))
        confirm = _transition(session, "order_status", "awaiting_confirmation", "confirmed")
        assert stray is not None and confirm is not None
        confirm.to_state_id = stray.id
        session.flush()
        errors = [str(p.message) for p in validate(
            load_definition(session, "order_status"), KNOWN_EFFECTS, ROLES)
            if p.level == "error"]
        assert len(errors) == 1 and f"the state paid (#{stray.id})" in errors[0]
        session.rollback()
