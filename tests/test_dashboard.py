"""The start page's dashboard: exact figures for today, this month and the last 30 days (month
and day boundaries in UTC), each block only for the roles whose grants open it, each figure in
the person's own scope, the list of what the person may open still below it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from reports.queries.dashboard import locker_loads, orders_per_day, status_counts, takings
from schema.base import utcnow
from schema.lockers import CellState
from schema.people import RoleCode
from seed.demo import factories as f
from services.actor import Actor, acting_as

D = Decimal


def _orders(factory: sessionmaker[Session], merchant_currency: str,
            plan: list[tuple[datetime, str, str]], **extra: object) -> int:
    """A fresh merchant with orders (ordered_at, status, payable); returns its id."""
    with factory() as session, f.using_session(session):
        merchant = f.MerchantFactory(currency=merchant_currency, locale="en_US")
        for at, status, payable in plan:
            f.OrderFactory(merchant=merchant, ordered_at=at, status=status,
                           payable=D(payable), **extra)
        session.commit()
        return merchant.id


def _as(merchant_id: int) -> Actor:
    return Actor(user_id=None, username="m", role=RoleCode.MERCHANT.value,
                 merchant_id=merchant_id)


def test_figures_follow_utc_days_and_the_calendar_month(factory: sessionmaker[Session]) -> None:
    now = datetime(2007, 3, 15, 12, tzinfo=UTC)
    merchant = _orders(factory, "BYN", [
        (datetime(2007, 3, 15, 0, 0, tzinfo=UTC), "confirmed", "10.50"),   # today
        (datetime(2007, 3, 15, 11, 59, tzinfo=UTC), "delivered", "4.25"),  # today
        (datetime(2007, 3, 14, 23, 59, tzinfo=UTC), "delivered", "100"),   # this month
        (datetime(2007, 3, 1, 0, 0, tzinfo=UTC), "returned", "7"),         # this month
        (datetime(2007, 2, 28, 23, 59, tzinfo=UTC), "delivered", "1000"),  # last 30 days only
        (datetime(2007, 2, 13, 12, tzinfo=UTC), "confirmed", "5000"),      # 30 days ago: out
    ])
    with factory() as session, f.using_session(session):
        other = f.MerchantFactory(currency="RUB", locale="ru_RU")
        f.OrderFactory(merchant=other, ordered_at=now, payable=D("1"))
        mine = session.get(type(other), merchant)
        f.OrderFactory(merchant=mine, ordered_at=now, payable=D("999"), deleted_at=now)
        session.commit()
    with factory() as session, acting_as(_as(merchant)):
        figures = takings(session, now)
        statuses = {s.code: s.orders for s in status_counts(session, now, "en")}
        days = orders_per_day(session, now)
    assert len(figures) == 1
    byn = figures[0]
    assert (byn.currency, byn.today_orders, byn.today_revenue) == ("BYN", 2, D("14.75"))
    assert (byn.month_orders, byn.month_revenue) == (4, D("121.75"))
    assert statuses == {"confirmed": 1, "delivered": 3, "returned": 1}
    assert len(days) == 30 and days[0].day == date(2007, 2, 14) and days[-1].day == now.date()
    counts = {d.day: d.orders for d in days}
    assert counts[date(2007, 3, 15)] == 2 and counts[date(2007, 2, 28)] == 1
    assert sum(counts.values()) == 5


def test_locker_occupancy_counts_cells_by_state(factory: sessionmaker[Session]) -> None:
    with factory() as session, f.using_session(session):
        locker = f.LockerFactory()
        for state in (CellState.FREE, CellState.OCCUPIED, CellState.OCCUPIED,
                      CellState.RESERVED, CellState.OUT_OF_ORDER):
            f.LockerCellFactory(locker=locker, state=state)
        session.commit()
        code = locker.code
    with factory() as session:
        load, = [row for row in locker_loads(session) if row.code == code]
    assert (load.cells, load.free, load.reserved, load.occupied, load.out_of_order) == (
        5, 1, 1, 2, 1)
    assert load.percent == 75  # 3 of the 4 usable cells


def _figure(page: str, currency: str, name: str) -> str:
    row = page.split(f'data-currency="{currency}"', 1)[1].split("</tr>", 1)[0]
    found = re.search(rf'data-figure="{name}"(?: data-value="([^"]*)")?>([^<]*)<', row)
    assert found, name
    return found.group(1) if found.group(1) is not None else found.group(2)


def test_a_merchant_sees_its_own_figures_for_today(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    yesterday = now - timedelta(days=1)
    mine = _orders(factory, "BYN", [
        (now - timedelta(minutes=5), "confirmed", "12.30"),
        (now - timedelta(minutes=1), "delivered", "7.70"),
        (yesterday, "delivered", "100"),
    ])
    _orders(factory, "RUB", [(now, "confirmed", "555")])
    page = signed_in("merchant", merchant_id=mine).get("/admin/").text
    assert _figure(page, "BYN", "today-orders") == "2"
    assert _figure(page, "BYN", "today-revenue") == format_money(D("20.00"), "BYN", "en")
    same_month = yesterday.month == now.month
    assert _figure(page, "BYN", "month-orders") == ("3" if same_month else "2")
    assert 'data-currency="RUB"' not in page
    statuses = page.split('data-dashboard="statuses"', 1)[1].split('data-dashboard="chart"')[0]
    assert re.search(r'data-status="delivered">.*?data-figure="status-orders">2<', statuses,
                     re.S)
    chart = page.split('data-dashboard="chart"', 1)[1]
    assert 'data-points="30"' in chart
    bars = re.findall(r'data-value="([0-9.]+)"', chart.split("</svg>", 1)[0])
    assert bars[-1] == "2" and bars[-2] == "1"  # today, yesterday: time runs left to right
    # The list of what the person may open stays below the dashboard.
    assert page.index('data-dashboard="chart"') < page.index("data-postdesk-section")


def test_superuser_counts_grow_by_the_orders_placed_today(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in("superuser")

    def today_orders() -> int:
        page = browser.get("/admin/").text
        return int(_figure(page, "BYN", "today-orders")) if 'data-currency="BYN"' in page else 0

    before = today_orders()
    _orders(factory, "BYN", [(utcnow(), "confirmed", "1"), (utcnow(), "confirmed", "2")])
    assert today_orders() == before + 2


def test_blocks_follow_the_grants(signed_in, factory) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, f.using_session(session):
        f.LockerCellFactory()
        session.commit()
    blocks = {
        role: set(re.findall(r'data-dashboard="([a-z]+)"', signed_in(role).get("/admin/").text))
        for role in ("superuser", "accountant", "technician", "marketer", "courier")
    }
    assert blocks["superuser"] == {"takings", "statuses", "chart", "lockers"}
    assert blocks["accountant"] == {"takings", "statuses", "chart"}
    assert blocks["technician"] == {"lockers"}
    assert blocks["marketer"] == set()
    # A courier may read its own orders: it sees their figures, nobody else's.
    assert blocks["courier"] == {"takings", "statuses", "chart"}


def test_courier_figures_hold_only_its_own_orders(browser, make_user, make, factory) -> None:  # type: ignore[no-untyped-def]
    from schema.people import User

    username = make_user("courier")
    with factory() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
    courier = make("Courier", user_id=user_id)
    merchant = make("Merchant", currency="IRR", locale="fa_IR")
    make("Order", merchant=merchant, courier_id=courier.id, ordered_at=utcnow(),
         payable=D("30000"))
    make("Order", merchant=merchant, courier_id=make("Courier").id, ordered_at=utcnow(),
         payable=D("50000"))
    assert browser.login(username).status_code == 302
    page = browser.get("/admin/").text
    takings_block = page.split('data-dashboard="takings"', 1)[1].split("data-dashboard=", 1)[0]
    assert re.findall(r'data-currency="([A-Z]+)"', takings_block) == ["IRR"]
    assert _figure(page, "IRR", "today-orders") == "1"
    assert _figure(page, "IRR", "today-revenue") == format_money(D("30000"), "IRR", "en")


def test_persian_dashboard_is_right_to_left(signed_in) -> None:  # type: ignore[no-untyped-def]
    page = signed_in("superuser", language="fa").get("/admin/?lang=fa").text
    chart = page.split('data-dashboard="chart"', 1)[1].split("</svg>", 1)[0]
    assert 'direction="rtl"' in chart
    # The value axis is labelled in Persian digits.
    assert re.search(r">[۰-۹]+<", chart)


def test_dashboard_queries_read_a_range_of_the_order_date_index(backend, engine, factory) -> None:  # type: ignore[no-untyped-def]
    """At a million orders the page must never scan the orders table: every orders query of
    the dashboard is a range over ``ordered_at`` (checked on SQLite's plan)."""
    if backend != "sqlite":
        return
    from sqlalchemy import event

    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM orders" in statement:
            statements.append((statement, parameters))

    now = utcnow()
    merchant = _orders(factory, "BYN", [(now, "confirmed", "1")])
    event.listen(engine, "before_cursor_execute", record)
    try:
        for actor in (None, _as(merchant)):
            with factory() as session, acting_as(actor):
                takings(session, now)
                status_counts(session, now, "en")
                orders_per_day(session, now)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 6
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = " | ".join(row[3] for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters))
            assert re.search(r"SEARCH orders USING INDEX "
                             r"(ix_orders_ordered_at|ix_orders_merchant_ordered) \(", plan), plan
            assert "SCAN orders" not in plan, plan
            # Split orders are found in the small parent index, whoever asks.
            assert "USING COVERING INDEX ix_orders_parent_id" in plan, plan
