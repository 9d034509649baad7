"""The lists as people work in them (issue 11): the column chooser and saved filters remembered
per person, the compact filter bar with a scoped related-row search instead of a list of every
row, the latest notes in the orders list in one query, dashboard figures that open the orders
they count, menus in the order the job needs them, destructive bulk actions that say what they
do. Everything through real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from schema.base import utcnow
from schema.preferences import ListPreference
from seed.demo import factories as f
from tests.conftest import unique

COUNT = re.compile(r"of ([\d,]+) items")
COLUMN = re.compile(r'<th data-column="([\w.]+)"')


def _count(html: str) -> int:
    found = COUNT.search(html)
    assert found, "no item count on the page"
    return int(found.group(1).replace(",", ""))


def _columns(html: str) -> list[str]:
    return COLUMN.findall(html)


def _merchant_with_orders(factory: sessionmaker[Session], plan: list[tuple[Any, str, str]],
                          currency: str = "BYN") -> int:
    with factory() as session, f.using_session(session):
        merchant = f.MerchantFactory(currency=currency)
        for at, status, payable in plan:
            f.OrderFactory(merchant=merchant, ordered_at=at, status=status,
                           payable=Decimal(payable), currency=currency)
        session.commit()
        return merchant.id


# --- the column chooser ------------------------------------------------------------------------
def test_orders_list_shows_the_important_columns_by_default(signed_in) -> None:  # type: ignore[no-untyped-def]
    page = signed_in("superuser").get("/admin/orders/list").text
    shown = _columns(page)
    assert shown[:7] == ["number", "ordered_at", "customer", "status", "shipping_status",
                         "payable", "payment_method"]
    assert "tracking_number" not in shown and "operator" not in shown
    # The rest is offered by the chooser, unticked.
    assert re.search(r'name="columns" value="tracking_number"\s*>', page)
    assert re.search(r'name="columns" value="number" checked>', page)


def test_chosen_columns_are_kept_per_person(signed_in, browser, make_user, factory) -> None:  # type: ignore[no-untyped-def]
    first = signed_in("superuser")
    saved = first.post("/admin/orders/preferences/columns",
                       data={"columns": ["tracking_number", "number", "payable"],
                             "query": "search=PD"}, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("/admin/orders/list?search=PD")
    # In the view's own order, whatever the order they were ticked in.
    assert _columns(first.get("/admin/orders/list").text) == [
        "number", "payable", "tracking_number"]
    # Another person keeps the defaults.
    browser.client.cookies.clear()
    other = signed_in("superuser")
    assert "tracking_number" not in _columns(other.get("/admin/orders/list").text)
    # "Default columns" forgets the choice.
    other.post("/admin/orders/preferences/columns", data={"columns": ["courier"]})
    assert _columns(other.get("/admin/orders/list").text) == ["courier"]
    other.post("/admin/orders/preferences/columns", data={"reset": "1"})
    assert _columns(other.get("/admin/orders/list").text)[0] == "number"


def test_an_unknown_column_is_refused_and_nothing_saved(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    person = signed_in("superuser")
    refused = person.post("/admin/orders/preferences/columns",
                          data={"columns": ["number", "password_hash"]})
    assert refused.status_code == 400
    refused = person.post("/admin/users/preferences/columns", data={"columns": ["password_hash"]})
    assert refused.status_code == 400
    assert _columns(person.get("/admin/orders/list").text)[0] == "number"


def test_the_chooser_needs_the_lists_grant(signed_in) -> None:  # type: ignore[no-untyped-def]
    manager = signed_in("manager")
    assert manager.post("/admin/payment_gateways/preferences/columns",
                        data={"columns": ["name"]}).status_code == 403
    assert manager.get("/admin/payment_gateways/filter-lookup?name=x&term=a").status_code == 403


# --- saved filters ------------------------------------------------------------------------------
def _saved(html: str) -> dict[str, str]:
    """name → the link's query, as the saved-filters menu lists them."""
    found = re.findall(r'data-saved-filter="([^"]*)">\s*<a class="dropdown-item[^"]*"\s*'
                       r'href="[^"?]*\??([^"]*)"', html)
    return {unescape(name): unescape(query) for name, query in found}


def test_saved_filters_save_apply_and_delete(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    merchant = _merchant_with_orders(factory, [(utcnow(), "delivered", "5"),
                                               (utcnow(), "confirmed", "7")])
    person = signed_in("superuser")
    query = (f"merchant_id={merchant}&status=delivered&sortBy=payable&sort=desc&page=3"
             "&ordered_at_from=&unknown=1")
    saved = person.post("/admin/orders/preferences/filters",
                        data={"name": "  Delivered   here ", "query": query},
                        follow_redirects=False)
    assert saved.status_code == 303
    listed = _saved(person.get("/admin/orders/list").text)
    assert set(listed) == {"Delivered here"}
    # Filters, search and sort are kept; the page number and anything unknown are not.
    assert dict(parse_qsl(listed["Delivered here"])) == {
        "merchant_id": str(merchant), "status": "delivered", "sortBy": "payable", "sort": "desc"}
    applied = person.get(f"/admin/orders/list?{listed['Delivered here']}").text
    assert _count(applied) == 1
    # Saving under the same name replaces it.
    person.post("/admin/orders/preferences/filters",
                data={"name": "Delivered here", "query": f"merchant_id={merchant}"})
    listed = _saved(person.get("/admin/orders/list").text)
    assert listed == {"Delivered here": f"merchant_id={merchant}"}
    assert _count(person.get(f"/admin/orders/list?{listed['Delivered here']}").text) == 2
    # A nameless filter is refused with a message.
    page = person.post("/admin/orders/preferences/filters", data={"name": " ", "query": ""})
    assert "Give the filter a name." in page.text
    deleted = person.post("/admin/orders/preferences/filters/delete",
                          data={"name": "Delivered here"}, follow_redirects=False)
    assert deleted.status_code == 303
    assert _saved(person.get("/admin/orders/list").text) == {}


def test_another_persons_saved_filters_are_neither_read_nor_deleted(  # type: ignore[no-untyped-def]
        signed_in, browser, factory) -> None:
    owner = signed_in("manager")
    owner.post("/admin/orders/preferences/filters", data={"name": "Mine", "query": "status=new"})
    assert "Mine" in _saved(owner.get("/admin/orders/list").text)
    browser.client.cookies.clear()
    other = signed_in("manager")
    assert "Mine" not in _saved(other.get("/admin/orders/list").text)
    refused = other.post("/admin/orders/preferences/filters/delete", data={"name": "Mine"})
    assert refused.status_code == 404
    with factory() as session:
        rows = session.scalars(select(ListPreference).where(ListPreference.view == "orders")).all()
        assert any(f["name"] == "Mine" for row in rows for f in row.filters)


# --- the filter bar -----------------------------------------------------------------------------
def test_related_filters_search_instead_of_listing_every_row(  # type: ignore[no-untyped-def]
        signed_in, factory, monkeypatch) -> None:
    import admin.views

    with factory() as session, f.using_session(session):
        names = [f.CustomerFactory(name=f"Listless customer {i}").name for i in range(3)]
        session.commit()
    monkeypatch.setattr(admin.views, "RELATED_DROPDOWN_MAX", 2)
    person = signed_in("superuser")
    page = person.get("/admin/discounts/list").text
    assert 'data-filter-name="customer_id"' in page  # a search box, not the customers
    assert not any(name in page for name in names)
    found = person.get("/admin/discounts/filter-lookup?name=customer_id&term=Listless customer")
    assert {r["text"] for r in found.json()["results"]} >= set(names)
    assert person.get("/admin/discounts/filter-lookup?name=nope&term=a").status_code == 400
    # The chosen customer is shown by name, and filters the list.
    with factory() as session:
        from schema.customers import Customer

        chosen = session.scalars(select(Customer).where(Customer.name == names[0])).one()
    page = person.get(f"/admin/discounts/list?customer_id={chosen.id}").text
    assert f'<option value="{chosen.id}" selected>{names[0]}</option>' in page
    # Anything but an id filters nothing instead of failing.
    assert person.get("/admin/discounts/list?customer_id=abc").status_code == 200


def test_operators_are_offered_by_name(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    from services.accounts import create_user

    with factory() as session, session.begin():
        create_user(session, f"op{utcnow().timestamp():.0f}", "x" * 12, "operator",
                    full_name="Operator Shirin Farahani")
    page = signed_in("superuser").get("/admin/orders/filter-lookup?name=operator_id&term=Shirin")
    assert [r["text"] for r in page.json()["results"]] == ["Operator Shirin Farahani"]


def test_the_operator_filter_offers_only_who_can_be_an_operator(  # type: ignore[no-untyped-def]
        signed_in, factory, make) -> None:
    """Operators and managers are offered, and whoever already is an order's operator; a
    courier (or an accountant) never operating an order is not — neither in the search, nor as
    a chosen value, nor in the drop-down."""
    from services.accounts import create_user

    tag = unique("Offered")
    with factory() as session, session.begin():
        people = {role: create_user(session, unique(role), "x" * 12, role,
                                    full_name=f"{tag} {role}").id
                  for role in ("operator", "manager", "courier", "accountant")}
        former = create_user(session, unique("former"), "x" * 12, "accountant",
                             full_name=f"{tag} former operator").id
    make("Order", operator_id=former)  # was an operator, then moved to the accounts
    person = signed_in("superuser")
    found = person.get(f"/admin/orders/filter-lookup?name=operator_id&term={tag}")
    assert sorted(r["text"] for r in found.json()["results"]) == [
        f"{tag} former operator", f"{tag} manager", f"{tag} operator"]
    page = person.get(f"/admin/orders/list?operator_id={people['courier']}").text
    assert f"{tag} courier" not in page
    page = person.get(f"/admin/orders/list?operator_id={people['operator']}").text
    assert f'<option value="{people["operator"]}" selected>{tag} operator</option>' in page


def test_the_related_search_stays_in_the_merchants_scope(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, f.using_session(session):
        mine, theirs = f.MerchantFactory(), f.MerchantFactory()
        f.CustomerFactory(merchant=mine, name="Scoped Zoya mine")
        f.CustomerFactory(merchant=theirs, name="Scoped Zoya theirs")
        session.commit()
        mine_id = mine.id
    person = signed_in("merchant", merchant_id=mine_id)
    found = person.get("/admin/orders/filter-lookup?name=customer_id&term=Scoped Zoya")
    assert found.status_code == 200
    assert [r["text"] for r in found.json()["results"]] == ["Scoped Zoya mine"]


def test_date_range_includes_both_days(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    today = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    merchant = _merchant_with_orders(factory, [
        (today - timedelta(days=2), "new", "1"), (today - timedelta(days=1), "new", "1"),
        (today, "new", "1")])
    person = signed_in("superuser")
    day = (today - timedelta(days=1)).date().isoformat()
    page = person.get(f"/admin/orders/list?merchant_id={merchant}&ordered_at_from={day}"
                      f"&ordered_at_to={day}").text
    assert _count(page) == 1
    page = person.get(f"/admin/orders/list?merchant_id={merchant}&ordered_at_from={day}").text
    assert _count(page) == 2
    # The bar shows what it filters by; a Persian reader reads and types Solar Hijri dates.
    assert f'name="ordered_at_from" value="{day}"' in page
    from locales import format_date

    jalali = format_date(today.date() - timedelta(days=1), "fa", "yyyy/MM/dd")
    page = person.get(f"/admin/orders/list?lang=fa&merchant_id={merchant}"
                      f"&ordered_at_from={day}").text
    assert f'name="ordered_at_from" value="{jalali}"' in page
    page = person.get(f"/admin/orders/list?lang=en&merchant_id={merchant}&ordered_at_from={jalali}"
                      f"&ordered_at_to={jalali}").text
    assert _count(page) == 1


# --- notes in the orders list ---------------------------------------------------------------------
def test_the_latest_note_shows_in_the_list_in_one_query(signed_in, factory, engine) -> None:  # type: ignore[no-untyped-def]
    from schema.orders import OrderNote

    with factory() as session, f.using_session(session):
        merchant = f.MerchantFactory()
        for i in range(3):
            order = f.OrderFactory(merchant=merchant)
            session.add(OrderNote(order=order, text=f"First note {i}"))
            session.flush()
            session.add(OrderNote(order=order, text=f"Call before noon, order {i} " + "x" * 80))
        session.commit()
        merchant_id = merchant.id
    person = signed_in("superuser")
    statements: list[str] = []

    def seen(_conn, _cursor, sql, *_args) -> None:  # type: ignore[no-untyped-def]
        if "order_notes" in sql:
            statements.append(sql)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = person.get(f"/admin/orders/list?merchant_id={merchant_id}").text
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1, statements
    for i in range(3):
        assert f"Call before noon, order {i}" in page  # the latest, clipped, whole in the title
        assert f"First note {i}" not in page
    assert page.count('class="postdesk-note-count">2<') == 3


# --- dashboard links -----------------------------------------------------------------------------
def test_dashboard_figures_open_the_orders_they_count(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    merchant = _merchant_with_orders(factory, [
        (now, "delivered", "10"), (now, "confirmed", "4"),
        (now - timedelta(days=3), "delivered", "6"),
        (now - timedelta(days=45), "delivered", "1000"),
        (now + timedelta(days=2), "confirmed", "1"),
    ])
    with factory() as session, f.using_session(session):
        from schema.people import Merchant

        owner = session.get(Merchant, merchant)
        f.OrderFactory(merchant=owner, ordered_at=now, status="delivered", deleted_at=now,
                       currency="BYN")
        parent = f.OrderFactory(merchant=owner, ordered_at=now, status="delivered",
                                currency="BYN")
        f.OrderFactory(merchant=owner, ordered_at=now, status="delivered", parent=parent,
                       currency="BYN")
        session.commit()
    person = signed_in("merchant", merchant_id=merchant)
    board = person.get("/admin/").text
    links = re.findall(r'<a class="postdesk-figure" (?:data-orders-link )?href="([^"]+)"'
                       r'(?: data-orders-link)? data-figure="([\w-]+)"(?: data-value="(\d+)")?>'
                       r'([^<]*)<', board)
    figures = {name: (unescape(url), int(value or text)) for url, name, value, text in links
               if name in ("today-orders", "month-orders", "status-orders")}
    assert {"today-orders", "month-orders", "status-orders"} <= set(figures)
    checked = 0
    for url, name, value, text in links:
        if name not in ("today-orders", "month-orders", "status-orders"):
            continue
        expected = int(value or text.replace(",", ""))
        listed = person.get(unescape(url).replace("http://testserver", ""))
        assert listed.status_code == 200
        assert _count(listed.text) == expected, (name, url)
        checked += 1
    assert checked >= 4  # today, month, and two statuses
    assert figures["today-orders"][1] == 3  # two orders and one sub-order


# --- menus and bulk actions ---------------------------------------------------------------------
def test_orders_come_first_in_sales() -> None:
    from admin.app import generated_views

    sales = [v.identity for v in generated_views()
             if v.is_model and str(getattr(v, "category", "")) == "Sales"]
    assert sales[:2] == ["orders", "customers"]
    catalog = [v.identity for v in generated_views()
               if v.is_model and str(getattr(v, "category", "")) == "Catalog"]
    assert catalog[0] == "products"


def test_destructive_bulk_actions_say_what_they_do(signed_in) -> None:  # type: ignore[no-untyped-def]
    person = signed_in("superuser")
    orders = person.get("/admin/orders/list").text
    assert "Move to deleted orders" in orders
    assert "Delete selected items" not in orders and 'id="action-delete"' not in orders
    customers = person.get("/admin/customers/list").text
    assert re.search(r'id="action-delete"[^>]*>Delete permanently<', customers)
    assert "Delete selected items" not in customers


@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_the_list_tools_speak_the_language(signed_in, lang: str) -> None:  # type: ignore[no-untyped-def]
    page = signed_in("superuser").get(f"/admin/orders/list?lang={lang}").text
    # What a person reads: text between tags and the placeholders, titles and labels.
    seen = re.sub(r"<script.*?</script>|<[^>]+>", " ", page, flags=re.S) + " ".join(
        re.findall(r'(?:placeholder|title|aria-label|data-confirm)="([^"]*)"', page))
    english = [w for w in ("Saved filters", "Columns", "Show these columns", "Default columns",
                           "Name of this filter", "Apply", "Reset", "Notes",
                           "Move to deleted orders", "YYYY-MM-DD", "Nothing matches")
               if re.search(rf"\b{w}\b", seen)]
    assert not english, english


def test_a_date_column_filters_by_days_too(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    """A plain date column (a payout's period) gets the same from/to bar as a moment."""
    from datetime import date

    from schema.lockers import Payout

    merchant = make("Merchant")
    with factory() as session, session.begin():
        for start in (date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)):
            session.add(Payout(merchant_id=merchant.id, period_start=start,
                               period_end=start + timedelta(days=6), currency="BYN"))
    person = signed_in("superuser")
    base = f"/admin/payouts/list?merchant_id={merchant.id}"
    page = person.get(f"{base}&period_start_from=2026-11-09&period_start_to=2026-11-09").text
    assert _count(page) == 1
    page = person.get(f"{base}&period_start_from=2026-11-09").text
    assert _count(page) == 2 and 'name="period_start_from" value="2026-11-09"' in page
