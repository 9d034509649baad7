"""The change log, written inside the same flush as the change it records.

Only changes made by a person (an actor is set) are logged; seeding and demo generation are not.
Secret columns are redacted before anything is stored.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from schema.audit import ChangeLog
from schema.base import Editable, utcnow
from services.actor import current_actor

REDACTED = "***"
SKIPPED = frozenset({"created_at", "updated_at", "version"})


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _diff(obj: Any, action: str) -> dict[str, list[Any]]:
    state = inspect(obj)
    changes: dict[str, list[Any]] = {}
    for column in state.mapper.column_attrs:
        key = column.key
        if key in SKIPPED:
            continue
        hist = state.attrs[key].history
        if action == "create":
            old, new = None, getattr(obj, key)
            if new is None:
                continue
        elif action == "delete":
            old, new = getattr(obj, key), None
        else:
            if not hist.has_changes():
                continue
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
        if column.columns[0].info.get("secret"):
            changes[key] = [REDACTED if old else None, REDACTED if new else None]
        else:
            changes[key] = [_plain(old), _plain(new)]
    return changes


@event.listens_for(Session, "after_flush")
def _record_changes(session: Session, _ctx: Any) -> None:
    actor = current_actor()
    if actor is None or actor.user_id is None:
        return
    rows = []
    for action, objs in (("create", session.new), ("update", session.dirty),
                         ("delete", session.deleted)):
        for obj in objs:
            if not isinstance(obj, Editable):
                continue
            changes = _diff(obj, action)
            if action == "update" and not changes:
                continue
            rows.append({
                "at": utcnow(), "user_id": actor.user_id, "action": action,
                "table_name": obj.__tablename__, "record_id": obj.id, "changes": changes,
            })
    if rows:
        session.connection().execute(insert(ChangeLog), rows)
