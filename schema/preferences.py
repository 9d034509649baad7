"""A person's own settings of a list page: the columns they show and the filters they saved.

One row per user and list view (``view`` is the admin view's identity, e.g. ``orders``):

- ``columns``: the list columns the person chose to see, in the view's own order; NULL means
  the view's default columns (``AdminHints.list``). Only names the view offers are stored.
- ``filters``: the saved filters, a JSON list of ``{"name": str, "query": str}`` where
  ``query`` is the list page's query string (filters, search and sort, never the page
  number), reapplied as it was saved.

Owner: INTERNAL. These rows are nobody's business but their user's, not even their merchant's:
no tenant reads them through scoping, and the only code that touches them
(``admin.list_preferences``) reads and writes them by the signed-in person's own user id, so
another user's preferences can neither be read nor deleted. They have no admin page of their
own (no ``__admin__`` hints).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from schema.base import INTERNAL, N_, Base, IdMixin, UTCDateTime, label, utcnow


class ListPreference(IdMixin, Base):
    __tablename__ = "list_preferences"
    __owner__ = INTERNAL
    __table_args__ = (UniqueConstraint("user_id", "view"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, info=label(N_("User"))
    )
    view: Mapped[str] = mapped_column(String(64), info=label(N_("List")))
    columns: Mapped[list[str] | None] = mapped_column(JSON, info=label(N_("Columns")))
    filters: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, info=label(N_("Saved filters"))
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp(),
        info=label(N_("Updated at")),
    )

    def __str__(self) -> str:
        return self.view
