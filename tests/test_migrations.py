"""`alembic upgrade head` on an empty database equals the metadata, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import schema


def test_upgrade_head_matches_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, schema.Base.metadata)
    assert diff == []


def test_every_table_exists(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(schema.Base.metadata.tables) <= tables
