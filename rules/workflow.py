"""Workflow checks as pure decisions: is a workflow well formed, may this role make this move.

Plain frozen dataclasses in, plain dataclasses out; nothing here reads a database or a request.
Every message for a person is an English template with ``%(name)s`` placeholders, marked with
``N_`` so Babel extracts it and returned with its parameters, so the caller translates it into
the person's language (``message.render(gettext)``).

Conventions:

- ``TransitionDef.roles`` empty means every role may make the move; the role ``superuser`` may
  make every move the workflow has.
- A record without a status yet (``current`` is ``None``) enters the workflow at its initial
  state; any role may put it there (the service that creates the record decides who may).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

SUPERUSER = "superuser"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated later, by whoever shows it."""
    return message


@dataclass(frozen=True)
class StateDef:
    code: str
    is_initial: bool = False
    is_terminal: bool = False


@dataclass(frozen=True)
class TransitionDef:
    from_state: str
    to_state: str
    roles: tuple[str, ...] = ()
    requires_comment: bool = False
    requires_date: bool = False
    effects: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkflowDef:
    code: str
    states: tuple[StateDef, ...]
    transitions: tuple[TransitionDef, ...]

    def state(self, code: str | None) -> StateDef | None:
        return next((s for s in self.states if s.code == code), None)

    def transition(self, from_state: str | None, to_state: str) -> TransitionDef | None:
        return next((t for t in self.transitions
                     if t.from_state == from_state and t.to_state == to_state), None)


@dataclass(frozen=True)
class Message:
    """An English template and its parameters; ``render`` translates, then fills in."""

    text: str
    params: dict[str, str] = field(default_factory=dict)

    def render(self, gettext: Callable[[str], str]) -> str:
        return gettext(self.text) % self.params

    def __str__(self) -> str:
        return self.text % self.params


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    message: Message


@dataclass(frozen=True)
class Decision:
    allowed: bool
    transition: TransitionDef | None = None
    reason: Message | None = None


def _name(code: str | None, labels: Mapping[str, str] | None) -> str:
    if code is None:
        return "—"
    return (labels or {}).get(code) or code


def _error(text: str, **params: str) -> Problem:
    return Problem("error", Message(text, params))


def validate(
    defn: WorkflowDef,
    known_effects: frozenset[str],
    known_roles: frozenset[str],
    labels: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Everything wrong with a workflow: errors refuse it, warnings only flag it."""
    problems: list[Problem] = []
    wf = defn.code
    codes = [s.code for s in defn.states]
    known = set(codes)

    for code, count in sorted(Counter(codes).items()):
        if count > 1:
            problems.append(_error(
                N_("The workflow %(workflow)s has the state code %(state)s more than once: "
                   "every state needs its own code."),
                workflow=wf, state=code))

    initials = [s.code for s in defn.states if s.is_initial]
    if not initials:
        problems.append(_error(
            N_("The workflow %(workflow)s has no initial state: mark the state new records "
               "start in as initial."), workflow=wf))
    elif len(initials) > 1:
        problems.append(_error(
            N_("The workflow %(workflow)s has %(count)s initial states (%(states)s): mark "
               "exactly one state as initial."),
            workflow=wf, count=str(len(initials)),
            states=", ".join(_name(c, labels) for c in initials)))

    terminal = {s.code for s in defn.states if s.is_terminal}
    seen: set[tuple[str, str]] = set()
    reported_duplicates: set[tuple[str, str]] = set()
    for t in defn.transitions:
        pair = (t.from_state, t.to_state)
        names = {"from": _name(t.from_state, labels), "to": _name(t.to_state, labels)}
        if pair in seen:
            if pair not in reported_duplicates:
                problems.append(_error(
                    N_("The transition from %(from)s to %(to)s is declared more than once: "
                       "keep one."), **names))
                reported_duplicates.add(pair)
            continue
        seen.add(pair)
        for end in (t.from_state, t.to_state):
            if end not in known:
                problems.append(_error(
                    N_("The transition from %(from)s to %(to)s uses the state %(state)s, "
                       "which the workflow does not have."), state=end, **names))
        if t.from_state == t.to_state:
            problems.append(_error(
                N_("The transition from %(from)s to %(to)s leads nowhere: a transition must "
                   "change the state."), **names))
        if t.from_state in terminal:
            problems.append(_error(
                N_("The transition from %(from)s to %(to)s leaves a terminal state: nothing "
                   "may follow %(from)s, or unmark it as terminal."), **names))
        for effect in t.effects:
            if effect not in known_effects:
                problems.append(_error(
                    N_("The transition from %(from)s to %(to)s runs the unknown effect "
                       "%(effect)s."), effect=effect, **names))
        for role in t.roles:
            if role not in known_roles:
                problems.append(_error(
                    N_("The transition from %(from)s to %(to)s names the unknown role "
                       "%(role)s."), role=role, **names))

    if initials:
        reachable = _reachable(set(initials), defn.transitions)
        for code in dict.fromkeys(codes):
            if code not in reachable:
                problems.append(Problem("warning", Message(
                    N_("The state %(state)s of the workflow %(workflow)s cannot be reached "
                       "from the initial state."),
                    {"state": _name(code, labels), "workflow": wf})))
    return problems


def _reachable(start: set[str], transitions: tuple[TransitionDef, ...]) -> set[str]:
    out: dict[str, list[str]] = {}
    for t in transitions:
        out.setdefault(t.from_state, []).append(t.to_state)
    seen = set(start)
    queue = deque(start)
    while queue:
        for nxt in out.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def initial_state(defn: WorkflowDef) -> str:
    """The code of the state new records start in; LookupError when there is not exactly one."""
    initials = [s.code for s in defn.states if s.is_initial]
    if len(initials) != 1:
        raise LookupError(f"workflow {defn.code} has {len(initials)} initial states")
    return initials[0]


def role_may(transition: TransitionDef, role: str) -> bool:
    return role == SUPERUSER or not transition.roles or role in transition.roles


def _refuse(text: str, **params: str) -> Decision:
    return Decision(False, None, Message(text, params))


def check_transition(
    defn: WorkflowDef,
    current: str | None,
    target: str,
    role: str,
    comment: str | None,
    effective_date: object | None,
    labels: Mapping[str, str] | None = None,
) -> Decision:
    """May ``role`` move a record from ``current`` to ``target``, with this comment and date?

    ``labels`` (state code -> label in the person's language) fills the message placeholders;
    state codes are used where it has no label.
    """
    names = {"from": _name(current, labels), "to": _name(target, labels)}
    if current is not None and current == target:
        return _refuse(N_("The status is already %(to)s: nothing to change."), **names)
    if current is None:
        try:
            start = initial_state(defn)
        except LookupError:
            start = None
        if start is None or target != start:
            return _refuse(
                N_("A record without a status can only start in %(initial)s, not in %(to)s."),
                initial=_name(start, labels), to=names["to"])
        # Entering the workflow: nothing required, nothing run.
        return Decision(True, TransitionDef("", target), None)
    transition = defn.transition(current, target)
    if transition is None:
        return _refuse(
            N_("Cannot change status from %(from)s to %(to)s: the workflow does not allow it."),
            **names)
    if not role_may(transition, role):
        return _refuse(N_("Your role may not change status from %(from)s to %(to)s."), **names)
    if transition.requires_comment and not (comment or "").strip():
        return _refuse(
            N_("Changing status from %(from)s to %(to)s needs a comment: say why."), **names)
    if transition.requires_date and effective_date is None:
        return _refuse(
            N_("Changing status from %(from)s to %(to)s needs a date: enter when it happened."),
            **names)
    return Decision(True, transition, None)


def allowed_transitions(defn: WorkflowDef, current: str | None, role: str) -> list[TransitionDef]:
    """The moves to offer ``role`` from ``current``, in the workflow's order.

    A record without a status is offered nothing: it enters the workflow through the service
    that creates or assigns it.
    """
    if current is None:
        return []
    return [t for t in defn.transitions if t.from_state == current and role_may(t, role)]
