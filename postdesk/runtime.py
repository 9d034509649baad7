"""The process-wide engine and session factory for commands (the web app builds its own)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import services.audit
import services.events  # noqa: F401 - scoping, change log, workflow guard
from postdesk.db import make_engine, make_session_factory
from postdesk.settings import get_settings
from schema.base import configure_encryption


@cache
def engine() -> Engine:
    configure_encryption(get_settings().secret_key)
    return make_engine(get_settings().database_url)


@cache
def session_factory() -> sessionmaker[Session]:
    return make_session_factory(engine())
