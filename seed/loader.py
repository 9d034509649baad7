"""Load seed/data into a database. Idempotent: adds what is missing, never overwrites edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.people import CurrencyRow, Permission, Role, RoleCode, SeedMark, Setting
from schema.workflows import Workflow, WorkflowState, WorkflowTransition

DATA = Path(__file__).parent / "data"


def read(name: str) -> Any:
    with (DATA / name).open(encoding="utf-8") as fp:
        return yaml.safe_load(fp)


def expand_actions(actions: list[str], shorthands: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for action in actions:
        for expanded in shorthands.get(action, [action]):
            if expanded not in out:
                out.append(expanded)
    return out


def access_matrix() -> dict[str, set[tuple[str, str]]]:
    """role code -> {(table, action)} as the seed file describes it."""
    data = read("access.yaml")
    shorthands = data["shorthands"]
    return {
        role: {(table, a) for table, acts in tables.items()
               for a in expand_actions(acts, shorthands)}
        for role, tables in data["roles"].items()
    }


class Marks:
    """The defaults seeding has put in once. A marked row that is missing was removed by a
    person, and stays removed; a row that exists is marked so a later removal is respected."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.keys = set(session.scalars(select(SeedMark.key)))

    def should_add(self, key: str, exists: bool) -> bool:
        if key in self.keys:
            return False
        self.keys.add(key)
        self.session.add(SeedMark(key=key))
        return not exists


def _load_roles(session: Session) -> int:
    existing = {r.code.value: r for r in session.scalars(select(Role))}
    added = 0
    for row in read("roles.yaml"):
        if row["code"] not in existing:
            session.add(Role(code=RoleCode(row["code"]), name=row["name"]))
            added += 1
    session.flush()
    return added


def _load_permissions(session: Session, marks: Marks) -> int:
    roles = {r.code.value: r for r in session.scalars(select(Role))}
    have = set(session.execute(
        select(Role.code, Permission.table_name, Permission.action).join(Permission.role)
    ).all())
    have = {(code.value, t, a) for code, t, a in have}
    added = 0
    for role_code, grants in access_matrix().items():
        for table, action in sorted(grants):
            exists = (role_code, table, action) in have
            if marks.should_add(f"permission:{role_code}:{table}:{action}", exists):
                session.add(Permission(role=roles[role_code], table_name=table, action=action))
                added += 1
    return added


def _load_simple(session: Session, marks: Marks, model: type, key: str,
                 rows: list[dict[str, Any]]) -> int:
    have = set(session.scalars(select(getattr(model, key))))
    new = [model(**row) for row in rows
           if marks.should_add(f"{model.__tablename__}:{row[key]}", row[key] in have)]
    session.add_all(new)
    return len(new)


def workflow_files() -> list[dict[str, Any]]:
    """Every seeded workflow, one file each in data/workflows/, in ``load_order`` (then file
    name) order: when two workflows govern one column, the first loaded is its default."""
    rows = [yaml.safe_load(path.read_text(encoding="utf-8"))
            for path in sorted((DATA / "workflows").glob("*.yaml"))]
    return sorted(rows, key=lambda row: row.get("load_order", 1000))


def _load_workflows(session: Session, marks: Marks) -> tuple[int, int, int]:
    """Add missing workflows, states and transitions; existing rows stay as edited.

    A state is matched by (workflow, code), a transition by (workflow, from code, to code). A
    state added to an existing workflow never becomes a second initial state. A state's keys
    are its columns, the edit flags included (``items_editable``, ``recipient_editable``:
    what an order's page may still change in that state); a key the file leaves out takes the
    column's default. An existing state keeps its flags as edited (a database from before the
    flags got the seeded values from its migration).
    """
    workflows = {w.code: w for w in session.scalars(select(Workflow))}
    added_workflows = added_states = added_transitions = 0
    for row in workflow_files():
        fields = {k: v for k, v in row.items()
                  if k not in ("states", "transitions", "load_order")}
        workflow = workflows.get(row["code"])
        if marks.should_add(f"workflow:{row['code']}", workflow is not None):
            workflow = Workflow(**fields)
            session.add(workflow)
            workflows[row["code"]] = workflow
            added_workflows += 1
        if workflow is None:
            continue  # a person deleted this workflow
        states = {s.code: s for s in workflow.states}
        has_initial = any(s.is_initial for s in states.values())
        for state in row["states"]:
            key = f"state:{row['code']}:{state['code']}"
            if not marks.should_add(key, state["code"] in states):
                continue
            initial = bool(state.get("is_initial", False)) and not has_initial
            states[state["code"]] = WorkflowState(
                workflow=workflow, **{**state, "is_initial": initial})
            has_initial = has_initial or initial
            added_states += 1
        have = {(t.from_state.code, t.to_state.code) for t in workflow.transitions}
        for item in row.get("transitions") or []:
            pair = (item["from"], item["to"])
            if item["from"] not in states or item["to"] not in states:
                continue
            key = f"transition:{row['code']}:{item['from']}:{item['to']}"
            if not marks.should_add(key, pair in have):
                continue
            session.add(WorkflowTransition(
                workflow=workflow, from_state=states[item["from"]],
                to_state=states[item["to"]],
                name=item.get("name") or f"{item['from']} → {item['to']}",
                roles=list(item.get("roles") or []), effects=list(item.get("effects") or []),
                requires_comment=bool(item.get("requires_comment", False)),
                requires_date=bool(item.get("requires_date", False)),
            ))
            have.add(pair)
            added_transitions += 1
        session.flush()
    return added_workflows, added_states, added_transitions


def load_seed_data(session: Session) -> dict[str, int]:
    """Put in the defaults of seed/data that are missing. Idempotent; edits stay as they are and
    a default a person deleted is not put back (roles, which code relies on, always are)."""
    marks = Marks(session)
    counts = {
        "roles": _load_roles(session),
        "currencies": _load_simple(session, marks, CurrencyRow, "code",
                                   read("currencies.yaml")),
        "settings": _load_simple(session, marks, Setting, "key", read("settings.yaml")),
    }
    counts["permissions"] = _load_permissions(session, marks)
    (counts["workflows"], counts["workflow_states"],
     counts["workflow_transitions"]) = _load_workflows(session, marks)
    session.flush()
    return counts
