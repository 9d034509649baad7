"""A person's list preferences: the columns they show and the filters they saved.

Every function takes the signed-in person's own ``user_id`` and touches only that user's row
of ``list_preferences`` (schema/preferences.py), one transaction each. The table is INTERNAL:
the scoping of a merchant's session reads it as nothing, so the callers run these functions
in a session without an acting person (``admin.list_preferences`` does, and passes the
person's id explicitly). What a list offers (its column names, its filter parameters) is the
caller's to check; these functions store what they are given, bounded:

- ``columns``: None (or empty) restores the view's default columns;
- a saved filter is ``{"name", "query"}``; saving under an existing name replaces it (the
  name compared without surrounding spaces), at most ``MAX_FILTERS`` per list, names at most
  ``MAX_NAME`` characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schema.preferences import ListPreference
from services.errors import Refused

MAX_FILTERS = 30
MAX_NAME = 100


@dataclass(frozen=True)
class Preferences:
    """One person's settings of one list; ``columns`` None means the view's defaults."""

    columns: list[str] | None = None
    filters: list[dict[str, Any]] = field(default_factory=list)


def _row(session: Session, user_id: int, view: str) -> ListPreference | None:
    return session.scalars(select(ListPreference).where(
        ListPreference.user_id == user_id, ListPreference.view == view)).first()


def _row_for_update(session: Session, user_id: int, view: str) -> ListPreference:
    row = _row(session, user_id, view)
    if row is None:
        row = ListPreference(user_id=user_id, view=view, columns=None, filters=[])
        session.add(row)
    return row


def read(session: Session, user_id: int, view: str) -> Preferences:
    row = _row(session, user_id, view)
    if row is None:
        return Preferences()
    return Preferences(list(row.columns) if row.columns else None,
                       [dict(f) for f in row.filters or []])


def set_columns(session: Session, user_id: int, view: str, columns: list[str] | None) -> None:
    row = _row_for_update(session, user_id, view)
    row.columns = list(columns) if columns else None


def save_filter(session: Session, user_id: int, view: str, name: str, query: str) -> None:
    name = " ".join(name.split())
    if not name:
        raise Refused("Give the filter a name.")
    if len(name) > MAX_NAME:
        raise Refused("The name is too long.")
    row = _row_for_update(session, user_id, view)
    kept = [f for f in row.filters or [] if f.get("name") != name]
    if len(kept) >= MAX_FILTERS:
        raise Refused("You have saved as many filters for this list as it keeps: delete one "
                      "first.")
    # A new list object: SQLAlchemy sees a JSON column change only when it is reassigned.
    row.filters = [*kept, {"name": name, "query": query}]


def delete_filter(session: Session, user_id: int, view: str, name: str) -> bool:
    """Delete the person's saved filter ``name``; False when they have none of that name."""
    row = _row(session, user_id, view)
    if row is None:
        return False
    kept = [f for f in row.filters or [] if f.get("name") != name]
    if len(kept) == len(row.filters or []):
        return False
    row.filters = kept
    return True
