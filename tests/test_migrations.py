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


def test_balances_are_set_to_their_ledger_sums(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0006: a balance typed by hand before the ledger owned it is corrected."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from postdesk.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'drift.sqlite3'}"
    command.upgrade(alembic_config(url), "0005")
    engine = create_engine(url)
    with engine.begin() as conn:
        for merchant_id, balance in ((1, 999_0000), (2, 5_0000)):
            conn.execute(text("INSERT INTO merchants (id, name, currency, balance, "
                              "cash_fee_percent, active, version) VALUES (:id, 'm', 'BYN', :b, "
                              "0, 1, 1)"), {"id": merchant_id, "b": balance})
        conn.execute(text("INSERT INTO ledger_entries (merchant_id, kind, amount, currency, at, "
                          "version) VALUES (1, 'deposit', 100000, 'BYN', '2026-01-01', 1), "
                          "(1, 'charge', -25000, 'BYN', '2026-01-02', 1)"))
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT id, balance FROM merchants")).all()) == {
            1: 75000, 2: 0}
    engine.dispose()
