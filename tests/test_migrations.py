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


def test_workflow_states_get_the_edit_flags_their_codes_had(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Migration 0009: an upgraded database's order and shipping states allow the edits the
    status codes in services.order_edits allowed before; other workflows' states keep the
    defaults (items closed, recipient open)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from postdesk.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'flags.sqlite3'}"
    command.upgrade(alembic_config(url), "0008")
    engine = create_engine(url)
    states = {
        (1, "orders", "status"): ("confirmed", "shipped", "delivered", "returned"),
        (2, "orders", "shipping_status"): ("not_loaded", "left_warehouse",
                                           "delivered_to_customer"),
        (3, "orders", "courier_status"): ("delivered",),
        (4, "parcels", "status"): ("returned",),
    }
    with engine.begin() as conn:
        for (workflow_id, entity, field), codes in states.items():
            conn.execute(text("INSERT INTO workflows (id, code, name, entity, field, version) "
                              "VALUES (:id, :code, 'w', :entity, :field, 1)"),
                         {"id": workflow_id, "code": f"w{workflow_id}", "entity": entity,
                          "field": field})
            for code in codes:
                conn.execute(text("INSERT INTO workflow_states (workflow_id, code, label_en, "
                                  "colour, is_initial, is_terminal, position, version) VALUES "
                                  "(:w, :code, 'x', '#000000', 0, 0, 0, 1)"),
                             {"w": workflow_id, "code": code})
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as conn:
        found = {(w, code): (bool(items), bool(recipient)) for w, code, items, recipient in
                 conn.execute(text("SELECT workflow_id, code, items_editable, "
                                   "recipient_editable FROM workflow_states"))}
    engine.dispose()
    assert found == {
        (1, "confirmed"): (True, True), (1, "shipped"): (False, True),
        (1, "delivered"): (False, False), (1, "returned"): (False, False),
        (2, "not_loaded"): (True, True), (2, "left_warehouse"): (False, True),
        (2, "delivered_to_customer"): (False, False),
        (3, "delivered"): (False, True), (4, "returned"): (False, True),
    }
