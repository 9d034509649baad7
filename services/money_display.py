"""The installation's way of writing rials (Setting ``rial_display``: ``rial`` or ``toman``).

Stored amounts, the API and exports stay in rials; only written amounts (``format_money`` in
pages, PDFs, reports) follow the setting. ``rial_display_reader`` gives a function that reads the
setting once, on a connection of its own, the first time a page writes an amount in rials —
pages without rials never ask.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from locales import RIAL, RIAL_DISPLAYS
from schema.people import Setting

SETTING = "rial_display"


def read_rial_display(session_or_engine: Session | Engine) -> str:
    """``rial`` or ``toman``; rials when the setting is missing or says anything else."""
    query = select(Setting.value).where(Setting.key == SETTING)
    if isinstance(session_or_engine, Engine):
        with session_or_engine.connect() as conn:
            value = conn.execute(query).scalar()
    else:
        value = session_or_engine.scalar(query)
    value = (value or "").strip().lower()
    return value if value in RIAL_DISPLAYS else RIAL


def rial_display_reader(engine: Engine) -> Callable[[], str]:
    """A function that reads the setting when called (once per request: ``locales`` keeps
    what it returned for the rest of the request)."""
    return lambda: read_rial_display(engine)
