"""Every report's figures, exactly, from a shop whose numbers are known (tests/report_shop.py),
on SQLite and PostgreSQL: interval and warehouse filters, split orders, deleted orders, money
sums read back as exact decimals, and a merchant never seeing another merchant's figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from reports.queries import REPORTS, ReportParams, run_report
from reports.queries.common import Report, ReportTable, money_sum, utc_day
from schema.orders import Order
from schema.people import RoleCode
from seed.demo import factories as f
from services.actor import Actor, acting_as
from tests.report_shop import Shop, build_shop

D = Decimal


@pytest.fixture(scope="module")
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory, 2003)


def run(session: Session, shop: Shop, code: str, *, warehouse: int | None = None,
        merchant: int | None = None, date_from: date | None = None,
        date_to: date | None = None, language: str = "en") -> Report:
    start, end = shop.march
    params = ReportParams(date_from or start, date_to or end, warehouse_id=warehouse,
                          merchant_id=merchant, language=language)
    return run_report(session, code, params)


def rows_of(table: ReportTable, key: str, value: object) -> list[dict[str, object]]:
    return [row for row in table.as_dicts() if row[key] == value]


def as_merchant(merchant_id: int) -> Actor:
    return Actor(user_id=None, username="m", role=RoleCode.MERCHANT.value,
                 merchant_id=merchant_id)


def test_orders_by_status_in_total(session: Session, shop: Shop) -> None:
    report = run(session, shop, "orders_by_status")
    table = report.tables[0]
    byn = {row["status"]: row for row in table.as_dicts() if row["currency"] == "BYN"
           and row["status"] in ("Delivered", "Confirmed", "Returned")}
    assert (byn["Delivered"]["orders"], byn["Delivered"]["payable"]) == (2, D("52"))
    assert (byn["Delivered"]["subtotal"], byn["Delivered"]["discounts"],
            byn["Delivered"]["shipping"]) == (D("50"), D("3"), D("5"))
    # The split parent (payable 50) is not counted; its sub-order is.
    assert (byn["Confirmed"]["orders"], byn["Confirmed"]["payable"]) == (2, D("15"))
    assert (byn["Returned"]["orders"], byn["Returned"]["payable"]) == (1, D("15"))
    # Rows follow the workflow's order of states.
    statuses = [row["status"] for row in table.as_dicts() if row["currency"] == "BYN"]
    assert statuses.index("Confirmed") < statuses.index("Delivered") < statuses.index("Returned")


def test_orders_by_status_merchant_totals_and_currencies_apart(session: Session,
                                                               shop: Shop) -> None:
    mine = run(session, shop, "orders_by_status", merchant=shop.merchant_a.id).tables[0]
    assert {row["currency"] for row in mine.as_dicts()} == {"BYN"}
    assert mine.totals_by_currency()["BYN"]["orders"] == 5
    assert mine.totals_by_currency()["BYN"]["payable"] == D("82")
    theirs = run(session, shop, "orders_by_status", merchant=shop.merchant_b.id).tables[0]
    assert theirs.totals_by_currency() == {"RUB": {
        "status": None, "currency": "RUB", "orders": 2, "subtotal": D("400"),
        "discounts": D("0"), "shipping": D("0"), "payable": D("400")}}


def test_orders_by_status_per_warehouse(session: Session, shop: Shop) -> None:
    north = run(session, shop, "orders_by_status", warehouse=shop.wa1.id).tables[0]
    assert {(r["status"], r["orders"], r["payable"]) for r in north.as_dicts()} == {
        ("Delivered", 2, D("52")), ("Returned", 1, D("15"))}
    south = run(session, shop, "orders_by_status", warehouse=shop.wa2.id).tables[0]
    assert {(r["status"], r["orders"], r["payable"]) for r in south.as_dicts()} == {
        ("Confirmed", 2, D("15")), ("Returned", 1, D("15"))}
    assert south.totals_by_currency()["BYN"]["orders"] == 3


def test_interval_bounds_are_whole_utc_days(session: Session, shop: Shop) -> None:
    # a2 was placed at 23:30 UTC on the 2nd, a4 at 23:59 on the 31st, a-april at 00:00 on 1 April.
    second = run(session, shop, "orders_by_status", merchant=shop.merchant_a.id,
                 date_from=date(shop.year, 3, 2), date_to=date(shop.year, 3, 2)).tables[0]
    assert second.totals_by_currency()["BYN"]["orders"] == 2
    last = run(session, shop, "orders_by_status", merchant=shop.merchant_a.id,
               date_from=date(shop.year, 3, 31), date_to=date(shop.year, 4, 1)).tables[0]
    assert last.totals_by_currency()["BYN"]["orders"] == 2
    with pytest.raises(ValueError):
        ReportParams(date(shop.year, 3, 2), date(shop.year, 3, 1))


def test_orders_per_day_pivot(session: Session, shop: Shop) -> None:
    per_day = run(session, shop, "orders_by_status", merchant=shop.merchant_a.id).tables[1]
    assert len(per_day.rows) == 31 and per_day.chart is not None
    keys = [c.key for c in per_day.columns]
    assert keys == ["day", f"w{shop.wa1.id}", f"w{shop.wa2.id}", "total"]
    assert [c.label for c in per_day.columns[1:3]] == [shop.wa1.name, shop.wa2.name]
    days = {row["day"]: row for row in per_day.as_dicts()}
    assert days[date(shop.year, 3, 2)] == {"day": date(shop.year, 3, 2),
                                           f"w{shop.wa1.id}": 1, f"w{shop.wa2.id}": 1,
                                           "total": 2}
    # a3 ships from both warehouses: once in each column, once in the total.
    assert days[date(shop.year, 3, 5)]["total"] == 1
    assert days[date(shop.year, 3, 5)][f"w{shop.wa1.id}"] == 1
    assert days[date(shop.year, 3, 1)]["total"] == 0
    assert per_day.totals == [(None, 3, 3, 5)]
    everyone = run(session, shop, "orders_by_status").tables[1]
    assert everyone.totals[0][-1] == 7


def test_goods_sold(session: Session, shop: Shop) -> None:
    table = run(session, shop, "goods_sold").tables[0]
    phone, = rows_of(table, "sku", shop.pa1.sku)
    assert (phone["quantity"], phone["orders"], phone["revenue"]) == (5, 2, D("50"))
    assert phone["category"] == shop.pa1.category.name
    cheese, = rows_of(table, "sku", shop.pa2.sku)
    assert (cheese["quantity"], cheese["orders"], cheese["revenue"]) == (6, 2, D("15"))
    totals = table.totals_by_currency()
    assert (totals["BYN"]["quantity"], totals["BYN"]["orders"], totals["BYN"]["revenue"]) == (
        11, 4, D("65"))
    assert (totals["RUB"]["quantity"], totals["RUB"]["orders"], totals["RUB"]["revenue"]) == (
        4, 2, D("400"))
    # Within a currency the best seller comes first.
    assert table.column("sku").index(shop.pa1.sku) < table.column("sku").index(shop.pa2.sku)


def test_goods_sold_from_one_warehouse_counts_only_its_lines(session: Session,
                                                             shop: Shop) -> None:
    table = run(session, shop, "goods_sold", warehouse=shop.wa2.id).tables[0]
    assert [(r["sku"], r["quantity"], r["revenue"]) for r in table.as_dicts()] == [
        (shop.pa2.sku, 6, D("15"))]
    assert table.totals_by_currency()["BYN"]["orders"] == 2


def test_customers_and_their_preferences(session: Session, shop: Shop) -> None:
    table = run(session, shop, "customers").tables[0]
    alice, = rows_of(table, "customer", shop.ca1.name)
    assert (alice["orders"], alice["spend"], alice["average"]) == (2, D("33"), D("16.50"))
    # Shipping: always the courier; payment: one each, the tie goes to the first by name.
    assert (alice["shipping"], alice["payment"]) == (shop.ship_1.name, shop.cash.name)
    assert alice["category"] == shop.pa2.category.name  # 4 cheeses against 2 phones
    arash, = rows_of(table, "customer", shop.ca2.name)
    assert (arash["orders"], arash["spend"], arash["average"]) == (3, D("49"), D("16.33"))
    assert (arash["shipping"], arash["payment"]) == (shop.ship_2.name, shop.online.name)
    boris, = rows_of(table, "customer", shop.cb1.name)
    assert (boris["orders"], boris["spend"], boris["category"]) == (
        2, D("400"), shop.pb1.category.name)
    names = table.column("customer")
    assert names.index(shop.ca2.name) < names.index(shop.ca1.name)  # bigger spender first
    mine = run(session, shop, "customers", merchant=shop.merchant_a.id).tables[0]
    assert mine.totals_by_currency()["BYN"] == {
        "customer": None, "phone": None, "currency": "BYN", "orders": 5, "spend": D("82"),
        "average": D("16.40"), "shipping": None, "payment": None, "category": None}


def test_discount_usage(session: Session, shop: Shop) -> None:
    table = run(session, shop, "discount_usage").tables[0]
    spring, = rows_of(table, "code", shop.discount_1.code)
    assert (spring["uses"], spring["customers"], spring["given"], spring["payable"]) == (
        2, 2, D("3"), D("52"))
    vesna, = rows_of(table, "code", shop.discount_2.code)
    assert (vesna["currency"], vesna["uses"], vesna["given"], vesna["payable"]) == (
        "RUB", 1, D("30"), D("300"))
    north = run(session, shop, "discount_usage", warehouse=shop.wa1.id).tables[0]
    assert north.totals_by_currency()["BYN"]["given"] == D("3")


def test_courier_performance(session: Session, shop: Shop) -> None:
    table = run(session, shop, "courier_performance").tables[0]
    kurt = {row["currency"]: row for row in rows_of(table, "courier", shop.courier_1.full_name)}
    assert kurt["BYN"] == {
        "courier": shop.courier_1.full_name, "currency": "BYN", "assigned": 2, "delivered": 1,
        "not_delivered": 1, "delivered_share": D("50.0"), "cash": D("23"), "hours": D("3.0")}
    assert (kurt["RUB"]["assigned"], kurt["RUB"]["cash"], kurt["RUB"]["hours"]) == (
        1, D("300"), D("1.5"))
    kamran, = rows_of(table, "courier", shop.courier_2.full_name)
    assert (kamran["assigned"], kamran["delivered"], kamran["cash"], kamran["hours"]) == (
        1, 0, D("0"), None)
    totals = table.totals_by_currency()
    assert (totals["BYN"]["assigned"], totals["BYN"]["delivered_share"],
            totals["BYN"]["hours"]) == (3, D("33.3"), D("3.0"))


def test_gateway_reconciliation(session: Session, shop: Shop) -> None:
    summary, mismatches = run(session, shop, "gateway_reconciliation").tables
    byn, = [r for r in rows_of(summary, "gateway", shop.gateway.name) if r["currency"] == "BYN"]
    assert (byn["transactions"], byn["successful"], byn["amount"], byn["orders"],
            byn["mismatched"]) == (3, 2, D("25"), 3, 1)
    rub, = [r for r in rows_of(summary, "gateway", shop.gateway.name) if r["currency"] == "RUB"]
    assert (rub["transactions"], rub["amount"], rub["mismatched"]) == (1, D("90"), 1)
    found = {row["order"]: row for row in mismatches.as_dicts()}
    a3, b2 = found[shop.orders["a3"].number], found[shop.orders["b2"].number]
    assert (a3["payable"], a3["recorded"], a3["gateway_paid"], a3["difference"]) == (
        D("15"), D("0"), D("15"), D("15"))
    assert (b2["recorded"], b2["gateway_paid"], b2["difference"]) == (D("100"), D("90"),
                                                                      D("-10"))
    assert a3["date"] == date(shop.year, 3, 5)
    assert shop.orders["a2"].number not in found and shop.orders["a4"].number not in found


def test_merchant_balances_and_payouts(session: Session, shop: Shop) -> None:
    balances, payouts = run(session, shop, "merchant_balances",
                            merchant=shop.merchant_a.id).tables
    assert balances.as_dicts() == [{
        "merchant": shop.merchant_a.name, "currency": "BYN", "opening": D("100"),
        "deposit": D("0"), "charge": D("-7.50"), "cash_collected": D("23"), "fee": D("-0.35"),
        "payout": D("-15"), "adjustment": D("0"), "closing": D("100.15")}]
    assert payouts.as_dicts() == [{
        "merchant": shop.merchant_a.name, "period_start": date(shop.year, 3, 1),
        "period_end": date(shop.year, 3, 7), "currency": "BYN", "amount": D("15"),
        "fee": D("0.35"), "status": "Paid", "paid_at": date(shop.year, 3, 20)}]
    # A warehouse stands for its merchant here.
    by_warehouse = run(session, shop, "merchant_balances", warehouse=shop.wb.id).tables[0]
    assert [(r["merchant"], r["opening"], r["deposit"], r["closing"])
            for r in by_warehouse.as_dicts()] == [
        (shop.merchant_b.name, D("0"), D("1000"), D("1000"))]
    russian = run(session, shop, "merchant_balances", merchant=shop.merchant_a.id,
                  language="ru").tables[1]
    assert russian.as_dicts()[0]["status"] == "Оплачено"


def test_lockers(session: Session, shop: Shop) -> None:
    occupancy, cash = run(session, shop, "lockers").tables
    mine, = [r for r in occupancy.as_dicts() if r["locker"].startswith(shop.locker.code + " ")]
    assert (mine["cells"], mine["free"], mine["reserved"], mine["occupied"],
            mine["out_of_order"], mine["occupancy"], mine["expired"]) == (
        5, 2, 1, 1, 1, D("50.0"), 2)
    collected, = [r for r in cash.as_dicts() if r["locker"].startswith(shop.locker.code + " ")]
    assert (collected["collections"], collected["amount"]) == (1, D("40"))


def test_a_merchant_never_sees_another_merchants_figures(session: Session, shop: Shop) -> None:
    with acting_as(as_merchant(shop.merchant_a.id)):
        # Even when asked for merchant B's figures.
        reports = {code: run(session, shop, code, merchant=shop.merchant_b.id)
                   for code in REPORTS}
    for code, report in reports.items():
        for table in report.tables:
            text = repr(table.rows) + repr(table.totals)
            assert "RUB" not in text, code
            assert shop.merchant_b.name not in text and shop.cb1.name not in text, code
            assert shop.pb1.sku not in text, code
    status = reports["orders_by_status"].tables[0]
    assert status.totals_by_currency()["BYN"]["payable"] == D("82")
    occupancy, cash = reports["lockers"].tables
    mine, = [r for r in occupancy.as_dicts() if r["locker"].startswith(shop.locker.code + " ")]
    assert mine["expired"] == 1 and cash.rows == []
    balances = reports["merchant_balances"].tables[0]
    assert [r["merchant"] for r in balances.as_dicts()] == [shop.merchant_a.name]


def test_session_scoping_alone_confines_an_aggregate(session: Session, shop: Shop) -> None:
    """The explicit filter is a second fence: the session's scoping already confines an
    aggregate, including through a subquery."""
    march = (Order.ordered_at >= shop.at(3, 1, 0), Order.ordered_at < shop.at(4, 1, 0))
    everyone = session.scalar(select(func.count(Order.id)).where(*march))
    with acting_as(as_merchant(shop.merchant_b.id)):
        scoped = session.scalar(select(func.count(Order.id)).where(*march))
        inner = select(Order.id).where(*march).subquery()
        through_subquery = session.scalar(select(func.count()).select_from(inner))
    assert everyone == 9 and scoped == 2 and through_subquery == 2


def test_money_sums_are_exact_decimals_on_both_databases(factory: sessionmaker[Session]) -> None:
    at = datetime(2002, 6, 1, 12, tzinfo=UTC)
    with factory() as session, f.using_session(session):
        merchant = f.MerchantFactory(currency="IRR", locale="fa_IR")
        for payable in ("987654321012.3456", "0.0001", "12345678901.0001"):
            f.OrderFactory(merchant=merchant, ordered_at=at, payable=D(payable))
        session.commit()
        total = session.scalar(select(money_sum(Order.payable))
                               .where(Order.merchant_id == merchant.id))
        day = session.scalar(select(utc_day(Order.ordered_at))
                             .where(Order.merchant_id == merchant.id).limit(1))
    assert isinstance(total, Decimal) and total == D("999999999913.3458")
    assert day == "2002-06-01"
    with factory() as session:
        report = run_report(session, "orders_by_status",
                            ReportParams(date(2002, 6, 1), date(2002, 6, 1),
                                         merchant_id=merchant.id))
    assert report.tables[0].totals_by_currency()["IRR"]["payable"] == D("999999999913.3458")


def test_every_report_runs_in_every_language_with_no_data(session: Session) -> None:
    for language in ("en", "ru", "fa"):
        for code in REPORTS:
            report = run_report(session, code, ReportParams(date(1990, 1, 1),
                                                            date(1990, 1, 2),
                                                            language=language))
            assert report.code == code and report.tables
