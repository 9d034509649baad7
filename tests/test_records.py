"""Optimistic locking, soft delete with restore, and the change history of a record."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from schema.audit import ChangeLog
from schema.orders import Order
from schema.people import Merchant
from schema.shipping import PostalSystem


def _merchant_form(page: str, **changes: str) -> dict[str, str]:
    version = re.search(r'name="version"[^>]*value="(\d+)"', page) or re.search(
        r'value="(\d+)"[^>]*name="version"', page)
    assert version, "the edit form carries the record's version"
    name = re.search(r'name="name"[^>]*value="([^"]*)"', page)
    assert name
    return {"name": name.group(1), "currency": "BYN", "balance": "0", "cash_fee_percent": "0",
            "credit_limit": "0", "payout_weekday": "1",
            "active": "y", "version": version.group(1), **changes}


def test_stale_form_is_refused_and_nothing_is_overwritten(
    signed_in, make, factory: sessionmaker[Session]  # type: ignore[no-untyped-def]
) -> None:
    merchant = make("Merchant")
    browser = signed_in("superuser")
    page = browser.get(f"/admin/merchants/edit/{merchant.id}").text
    form = _merchant_form(page, phone="+375 29 000-00-01")
    with factory() as session, session.begin():  # someone else saves meanwhile
        session.get(Merchant, merchant.id).phone = "+375 29 111-11-11"
    response = browser.post(f"/admin/merchants/edit/{merchant.id}", form)
    assert response.status_code == 400
    assert "Someone else changed this record" in response.text
    with factory() as session:
        assert session.get(Merchant, merchant.id).phone == "+375 29 111-11-11"
    fresh = _merchant_form(browser.get(f"/admin/merchants/edit/{merchant.id}").text,
                           phone="+375 29 000-00-01")
    ok = browser.post(f"/admin/merchants/edit/{merchant.id}", fresh, follow_redirects=False)
    assert ok.status_code == 302, ok.text[-2000:]
    with factory() as session:
        stored = session.get(Merchant, merchant.id)
        assert stored.phone == "+375 29 000-00-01" and stored.version == 3


def test_concurrent_saves_of_one_row_never_both_win(make, factory: sessionmaker[Session]) -> None:
    """Real concurrent sessions (PostgreSQL in CI): exactly one wins, the other is refused."""
    merchant = make("Merchant")
    loaded = threading.Barrier(2)
    outcomes: list[str] = []

    def save(phone: str) -> None:
        with factory() as session:
            row = session.get(Merchant, merchant.id)
            loaded.wait()
            row.phone = phone
            try:
                session.commit()
                outcomes.append("saved")
            except StaleDataError:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(p,)) for p in ("1", "2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "saved"]


def test_delete_moves_an_order_to_the_bin_and_restore_brings_it_back(
    signed_in, make, factory: sessionmaker[Session]  # type: ignore[no-untyped-def]
) -> None:
    order = make("Order", lines=1)
    browser = signed_in("manager")
    browser.delete(f"/admin/orders/delete?pks={order.id}")
    with factory() as session:
        assert session.get(Order, order.id).deleted_at is not None
    assert browser.get(f"/admin/orders/details/{order.id}").status_code == 404
    listed = browser.get("/admin/orders/list?search=" + order.number).text
    assert f"/admin/orders/details/{order.id}\"" not in listed
    binned = browser.get("/admin/deleted_orders/list?search=" + order.number).text
    assert order.number in binned
    assert browser.get(f"/admin/deleted_orders/details/{order.id}").status_code == 200
    restored = browser.post(f"/admin/deleted_orders/action/restore?pks={order.id}",
                            follow_redirects=False)
    assert restored.status_code == 303
    with factory() as session:
        assert session.get(Order, order.id).deleted_at is None
    assert browser.get(f"/admin/orders/details/{order.id}").status_code == 200


def test_edits_are_recorded_and_shown_as_history(
    signed_in, make, factory: sessionmaker[Session]  # type: ignore[no-untyped-def]
) -> None:
    merchant = make("Merchant", phone="+375 29 222-22-22")
    browser = signed_in("superuser")
    form = _merchant_form(browser.get(f"/admin/merchants/edit/{merchant.id}").text,
                          phone="+375 29 333-33-33")
    assert browser.post(f"/admin/merchants/edit/{merchant.id}", form,
                        follow_redirects=False).status_code == 302
    with factory() as session:
        entry = session.scalars(select(ChangeLog).where(
            ChangeLog.table_name == "merchants", ChangeLog.record_id == merchant.id)).one()
    assert entry.action == "update" and entry.user_id is not None
    assert entry.changes["phone"] == ["+375 29 222-22-22", "+375 29 333-33-33"]
    page = browser.get(f"/admin/merchants/details/{merchant.id}").text
    assert "Change history" in page and "+375 29 333-33-33" in page


def test_secrets_are_never_logged_or_rendered(signed_in, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in("superuser")
    response = browser.post("/admin/postal_systems/create", {
        "kind": "belpost", "name": "Belpost test", "active": "y", "username": "shop",
        "password": "s3cret-pass", "api_key": "k3y-value",
    }, follow_redirects=False)
    assert response.status_code == 302, response.text[-2000:]
    with factory() as session:
        system = session.scalar(select(PostalSystem).where(PostalSystem.name == "Belpost test"))
        entry = session.scalars(select(ChangeLog).where(
            ChangeLog.table_name == "postal_systems", ChangeLog.record_id == system.id)).one()
    assert "s3cret-pass" not in str(entry.changes) and entry.changes["password"][1] == "***"
    for url in (f"/admin/postal_systems/edit/{system.id}",
                f"/admin/postal_systems/details/{system.id}",
                "/admin/postal_systems/exports/csv"):
        assert "s3cret-pass" not in browser.get(url).text, url


@pytest.mark.parametrize("rows", [5, 40])
def test_list_page_queries_do_not_grow_with_rows(signed_in, make, engine, rows: int) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    merchant = make("Merchant")
    for _ in range(rows):
        make("Order", merchant=merchant, lines=1)
    browser = signed_in("superuser")
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        page = browser.get(f"/admin/orders/list?merchant_id={merchant.id}&pageSize=50")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert page.status_code == 200
    # The rial/toman setting is read once, and only when the page shows an amount in rials
    # (admin/money_display.py): whether a factory order is in IRR is chance, not row count.
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")
               and "FROM settings" not in s]
    # user, grants, status labels, the person's list preferences, the filter bar's look-ups
    # (one per drop-down, each capped: admin/list_preferences.py), count, rows, the notes and
    # one query per shown list relation — a constant, whatever the number of rows
    assert len(selects) <= 24, "\n\n".join(selects)
    counts = [s for s in selects if "count(" in s.lower()]
    assert counts and all("ORDER BY" not in s.upper() for s in counts)
    seen = test_list_page_queries_do_not_grow_with_rows.seen.setdefault(  # type: ignore[attr-defined]
        engine.dialect.name, {})
    seen[rows] = len(selects)
    if len(seen) == 2:
        assert len(set(seen.values())) == 1, seen


test_list_page_queries_do_not_grow_with_rows.seen = {}  # type: ignore[attr-defined]
