"""rules.workflow as pure decisions: validation problems and transition checks."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from rules import workflow as wf
from rules.workflow import (
    Decision,
    Message,
    StateDef,
    TransitionDef,
    WorkflowDef,
    allowed_transitions,
    check_transition,
    initial_state,
    validate,
)

EFFECTS = frozenset({"notify_customer_sms", "return_stock"})
ROLES = frozenset({"superuser", "manager", "operator", "courier"})


def states(*codes: str, initial: str = "new", terminal: tuple[str, ...] = ("done",)
           ) -> tuple[StateDef, ...]:
    return tuple(StateDef(c, c == initial, c in terminal) for c in codes)


def move(frm: str, to: str, roles: tuple[str, ...] = ("manager",), **kw: object) -> TransitionDef:
    return TransitionDef(frm, to, roles, **kw)  # type: ignore[arg-type]


GOOD = WorkflowDef(
    "good",
    states("new", "open", "done", "lost"),
    (
        move("new", "open", ("manager", "operator"), effects=("notify_customer_sms",)),
        move("open", "done", requires_comment=True),
        move("open", "lost", (), requires_date=True),
        move("new", "lost", ("manager",), requires_comment=True, requires_date=True),
    ),
)


def texts(problems: list[wf.Problem], level: str = "error") -> list[str]:
    return [str(p.message) for p in problems if p.level == level]


def with_(defn: WorkflowDef, *, states_: tuple[StateDef, ...] | None = None,
          transitions: tuple[TransitionDef, ...] | None = None) -> WorkflowDef:
    return WorkflowDef(defn.code, defn.states if states_ is None else states_,
                       defn.transitions if transitions is None else transitions)


# ---- validate -------------------------------------------------------------------------------

def test_a_good_workflow_has_no_problems() -> None:
    assert validate(GOOD, EFFECTS, ROLES) == []


def test_no_initial_state() -> None:
    defn = with_(GOOD, states_=states("new", "open", "done", "lost", initial="none"))
    [error] = texts(validate(defn, EFFECTS, ROLES))
    assert "has no initial state" in error and "good" in error
    # without an initial state nothing is "unreachable": the error says what to fix
    assert texts(validate(defn, EFFECTS, ROLES), "warning") == []


def test_two_initial_states() -> None:
    defn = with_(GOOD, states_=(StateDef("new", True), StateDef("open", True),
                                StateDef("done", False, True), StateDef("lost", False, True)))
    [error] = texts(validate(defn, EFFECTS, ROLES, labels={"new": "New", "open": "Open"}))
    assert "has 2 initial states (New, Open)" in error
    assert "exactly one" in error


def test_duplicate_state_code() -> None:
    defn = with_(GOOD, states_=(*GOOD.states, StateDef("open")))
    [error] = texts(validate(defn, EFFECTS, ROLES))
    assert "state code open more than once" in error


@pytest.mark.parametrize("frm, to", [("ghost", "open"), ("open", "ghost")])
def test_transition_from_or_to_an_unknown_state(frm: str, to: str) -> None:
    defn = with_(GOOD, transitions=(*GOOD.transitions, move(frm, to)))
    errors = texts(validate(defn, EFFECTS, ROLES))
    assert errors == [f"The transition from {frm} to {to} uses the state ghost, which the "
                      "workflow does not have."]


def test_transition_out_of_a_terminal_state() -> None:
    defn = with_(GOOD, transitions=(*GOOD.transitions, move("done", "open")))
    [error] = texts(validate(defn, EFFECTS, ROLES, labels={"done": "Done", "open": "Open"}))
    assert "from Done to Open leaves a terminal state" in error


def test_transition_to_the_same_state() -> None:
    defn = with_(GOOD, transitions=(*GOOD.transitions, move("open", "open")))
    [error] = texts(validate(defn, EFFECTS, ROLES))
    assert "leads nowhere" in error


def test_unknown_effect() -> None:
    defn = with_(GOOD, transitions=(*GOOD.transitions,
                                    move("open", "new", effects=("notify_customer_sms", "fly"))))
    [error] = texts(validate(defn, EFFECTS, ROLES))
    assert "runs the unknown effect fly" in error


def test_unknown_role() -> None:
    defn = with_(GOOD, transitions=(*GOOD.transitions, move("open", "new", ("manager", "king"))))
    [error] = texts(validate(defn, EFFECTS, ROLES))
    assert "names the unknown role king" in error


def test_duplicate_transition_is_reported_once() -> None:
    extra = move("new", "open", ("courier",))
    defn = with_(GOOD, transitions=(*GOOD.transitions, extra, extra))
    errors = texts(validate(defn, EFFECTS, ROLES))
    assert errors == ["The transition from new to open is declared more than once: keep one."]


def test_unreachable_state_is_a_warning_not_an_error() -> None:
    defn = with_(GOOD, states_=(*GOOD.states, StateDef("limbo"), StateDef("beyond")),
                 transitions=(*GOOD.transitions, move("limbo", "beyond")))
    problems = validate(defn, EFFECTS, ROLES, labels={"limbo": "Limbo"})
    assert texts(problems) == []
    assert texts(problems, "warning") == [
        "The state Limbo of the workflow good cannot be reached from the initial state.",
        "The state beyond of the workflow good cannot be reached from the initial state.",
    ]


def test_several_errors_are_all_reported() -> None:
    defn = WorkflowDef("bad", (StateDef("a", False, True),),
                       (move("a", "b", ("nobody",), effects=("boom",)),))
    errors = texts(validate(defn, EFFECTS, ROLES))
    assert len(errors) == 5  # no initial, unknown state, out of terminal, effect, role


def test_problem_messages_are_translated_then_filled() -> None:
    defn = with_(GOOD, transitions=(*GOOD.transitions, move("open", "new", ("king",))))
    [problem] = validate(defn, EFFECTS, ROLES)
    catalog = {problem.message.text: "ROLE %(role)s IN %(from)s→%(to)s"}
    assert problem.message.render(lambda s: catalog.get(s, s)) == "ROLE king IN open→new"


# ---- check_transition -----------------------------------------------------------------------

def test_allowed_transition_returns_it() -> None:
    decision = check_transition(GOOD, "new", "open", "operator", None, None)
    assert decision == Decision(True, GOOD.transitions[0], None)
    assert decision.transition is not None
    assert decision.transition.effects == ("notify_customer_sms",)


def test_already_in_that_state() -> None:
    decision = check_transition(GOOD, "open", "open", "manager", "x", date(2026, 1, 1),
                                labels={"open": "Open"})
    assert not decision.allowed and decision.transition is None
    assert str(decision.reason) == "The status is already Open: nothing to change."


def test_not_in_the_workflow() -> None:
    decision = check_transition(GOOD, "new", "done", "superuser", "x", date(2026, 1, 1),
                                labels={"new": "New", "done": "Done"})
    assert not decision.allowed
    assert decision.reason == Message(
        "Cannot change status from %(from)s to %(to)s: the workflow does not allow it.",
        {"from": "New", "to": "Done"})
    assert str(decision.reason) == (
        "Cannot change status from New to Done: the workflow does not allow it.")


def test_unknown_target_or_current_is_refused_as_not_allowed() -> None:
    for current, target in (("new", "ghost"), ("ghost", "open")):
        decision = check_transition(GOOD, current, target, "manager", "x", date(2026, 1, 1))
        assert not decision.allowed and "does not allow" in str(decision.reason)


def test_role_not_allowed() -> None:
    decision = check_transition(GOOD, "new", "open", "courier", None, None)
    assert not decision.allowed
    assert str(decision.reason) == "Your role may not change status from new to open."


def test_superuser_may_make_every_existing_move() -> None:
    for t in GOOD.transitions:
        assert check_transition(GOOD, t.from_state, t.to_state, "superuser", "why",
                                date(2026, 1, 1)).allowed


def test_empty_roles_means_every_role() -> None:
    for role in ("courier", "manager", "anyone"):
        assert check_transition(GOOD, "open", "lost", role, None, date(2026, 1, 1)).allowed


@pytest.mark.parametrize("comment", [None, "", "   \n"])
def test_comment_required(comment: str | None) -> None:
    decision = check_transition(GOOD, "open", "done", "manager", comment, None)
    assert not decision.allowed
    assert str(decision.reason) == "Changing status from open to done needs a comment: say why."
    assert check_transition(GOOD, "open", "done", "manager", "counted twice", None).allowed


def test_date_required() -> None:
    decision = check_transition(GOOD, "open", "lost", "manager", None, None)
    assert not decision.allowed
    assert str(decision.reason) == (
        "Changing status from open to lost needs a date: enter when it happened.")
    assert check_transition(GOOD, "open", "lost", "manager", None, date(2026, 5, 1)).allowed


def test_refusals_come_in_order_role_then_comment_then_date() -> None:
    assert "role" in str(check_transition(GOOD, "new", "lost", "courier", None, None).reason)
    assert "comment" in str(check_transition(GOOD, "new", "lost", "manager", None, None).reason)
    assert "date" in str(check_transition(GOOD, "new", "lost", "manager", "x", None).reason)
    assert check_transition(GOOD, "new", "lost", "manager", "x", date(2026, 1, 1)).allowed


def test_a_record_without_status_enters_at_the_initial_state() -> None:
    decision = check_transition(GOOD, None, "new", "courier", None, None)
    assert decision.allowed and decision.transition is not None
    assert decision.transition.to_state == "new" and decision.transition.effects == ()
    refused = check_transition(GOOD, None, "open", "manager", None, None, labels={"new": "New"})
    assert not refused.allowed
    assert str(refused.reason) == "A record without a status can only start in New, not in open."


def test_reason_renders_through_gettext() -> None:
    decision = check_transition(GOOD, "new", "open", "courier", None, None)
    assert decision.reason is not None
    catalog = {"Your role may not change status from %(from)s to %(to)s.":
               "Ваша роль не может менять статус с %(from)s на %(to)s."}
    assert decision.reason.render(lambda s: catalog.get(s, s)) == (
        "Ваша роль не может менять статус с new на open.")


# ---- allowed_transitions / initial_state ----------------------------------------------------

def test_allowed_transitions_offer_only_what_the_role_may_do() -> None:
    assert [t.to_state for t in allowed_transitions(GOOD, "new", "manager")] == ["open", "lost"]
    assert [t.to_state for t in allowed_transitions(GOOD, "new", "operator")] == ["open"]
    assert allowed_transitions(GOOD, "new", "courier") == []
    assert [t.to_state for t in allowed_transitions(GOOD, "open", "courier")] == ["lost"]
    assert [t.to_state for t in allowed_transitions(GOOD, "open", "superuser")] == [
        "done", "lost"]
    assert allowed_transitions(GOOD, "done", "superuser") == []
    assert allowed_transitions(GOOD, None, "superuser") == []


def test_initial_state() -> None:
    assert initial_state(GOOD) == "new"
    with pytest.raises(LookupError):
        initial_state(with_(GOOD, states_=states("a", "b", initial="none")))


# ---- purity and extraction ------------------------------------------------------------------

def test_rules_import_nothing_of_the_project() -> None:
    tree = ast.parse(Path(wf.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    project = {"schema", "services", "admin", "api", "reports", "seed", "postdesk", "locales"}
    assert not {m.split(".")[0] for m in imported} & project


def test_every_message_is_marked_for_extraction() -> None:
    source = Path(wf.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    marked = {
        node.args[0].value for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "N_"
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(marked) >= 13
    from babel.messages.pofile import read_po

    from locales.catalogs import POT

    with POT.open("rb") as fp:
        template = {m.id for m in read_po(fp) if m.id}
    assert marked <= template, "run: postdesk i18n extract && postdesk i18n update"
