"""The merchant's cabinet (admin/merchant_cabinet.py, services/merchant_stats.py): a merchant
user's start page shows its own balance, parcels by status, this month's ledger by kind and the
next payout — another merchant's parcels, events and entries never counted, even when asked
for by id — and its statistics for an interval come back as an XLSX read with openpyxl."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import openpyxl
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.lockers import LedgerKind, ParcelEvent, ParcelEventKind, Payout, PayoutStatus
from services import ledger

D = Decimal


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


def _books(make, factory: sessionmaker[Session], today: date,  # type: ignore[no-untyped-def]
           *, scale: int) -> int:
    """A merchant with parcels (2 registered, 1 in the locker, 1 picked up), their events and
    ledger entries; ``scale`` multiplies everything, so two merchants' figures differ."""
    merchant = make("Merchant", currency="BYN", payout_weekday=today.isoweekday(),
                    credit_limit=D(50) * scale)
    statuses = ["registered"] * 2 * scale + ["in_locker"] * scale + ["picked_up"] * scale
    parcels = [make("Parcel", merchant=merchant, status=s) for s in statuses]
    now = _noon(today)
    last_month = _noon(today.replace(day=1) - timedelta(days=1))
    with factory() as session, session.begin():
        events = [ParcelEvent(parcel_id=p.id, merchant_id=merchant.id,
                              kind=ParcelEventKind.REGISTERED, at=now) for p in parcels[:2 * scale]]
        for p in parcels[2 * scale:]:
            events.append(ParcelEvent(parcel_id=p.id, merchant_id=merchant.id,
                                      kind=ParcelEventKind.PLACED, at=now))
        for p in parcels[3 * scale:]:
            events.append(ParcelEvent(parcel_id=p.id, merchant_id=merchant.id,
                                      kind=ParcelEventKind.PICKED_UP, at=now))
        session.add_all(events)

        def post(kind: LedgerKind, amount: str, at: datetime = now) -> None:
            ledger.post(session, merchant.id, kind, D(amount) * scale, "BYN", at=at)

        post(LedgerKind.DEPOSIT, "500")
        post(LedgerKind.CHARGE, "-7.25")
        post(LedgerKind.CHARGE, "-7.25")
        post(LedgerKind.CASH_COLLECTED, "100")
        post(LedgerKind.FEE, "-1.50")
        post(LedgerKind.CHARGE, "-3", last_month)  # last month: not this month's figure
    return int(merchant.id)


def _figure(html: str, name: str, after: str = "") -> str:
    part = html.split(after, 1)[1] if after else html
    found = re.search(rf'data-figure="{name}"[^>]*>(.*?)</', part, re.S)
    assert found, name
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_start_page_is_the_merchants_own_cabinet(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    today = date.today()
    mine = _books(make, factory, today, scale=1)
    theirs = _books(make, factory, today, scale=3)
    browser = signed_in("merchant", merchant_id=mine)
    for url in ("/admin/", "/admin/cabinet", f"/admin/cabinet?merchant={theirs}"):
        page = browser.get(url)
        assert page.status_code == 200, url
        html = page.text
        assert "data-cabinet" in html
        # 500 − 7.25 − 7.25 + 100 − 1.50 − 3 (last month's charge is in the balance)
        assert _figure(html, "balance") == format_money(D("581.00"), "BYN", "en")
        assert _figure(html, "credit-limit") == format_money(D("50.00"), "BYN", "en")
        assert _figure(html, "available") == format_money(D("631.00"), "BYN", "en")
        states = {code: _figure(html, "state-parcels", f'data-state="{code}"')
                  for code in ("registered", "in_locker", "picked_up")}
        assert states == {"registered": "2", "in_locker": "1", "picked_up": "1"}
        month = {kind.value: _figure(html, "month-amount", f'data-kind="{kind.value}"')
                 for kind in LedgerKind}
        expected = {"deposit": "500", "charge": "-14.50", "cash_collected": "100",
                    "fee": "-1.50", "payout": "0", "adjustment": "0"}
        assert month == {k: format_money(D(v), "BYN", "en") for k, v in expected.items()}
        # No payout under way: the next one is computed today, the merchant's payout weekday.
        assert "next-payout-day" in html
        assert "/admin/parcels/list?status=registered" in html
        assert f"merchant_id={theirs}" not in html
    with factory() as session, session.begin():
        session.add(Payout(merchant_id=mine, period_start=today - timedelta(days=7),
                           period_end=today - timedelta(days=1), amount=D("98.50"),
                           fee=D("1.50"), currency="BYN", status=PayoutStatus.DRAFT))
    html = browser.get("/admin/").text
    assert _figure(html, "next-payout") == format_money(D("98.50"), "BYN", "en")


def test_other_people_do_not_get_the_cabinet_on_their_start_page(  # type: ignore[no-untyped-def]
        signed_in) -> None:
    browser = signed_in("accountant")
    assert "data-cabinet" not in browser.get("/admin/").text
    assert browser.get("/admin/cabinet").status_code == 403


def _sheet_values(sheet) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {str(row[0]): row[1] for row in sheet.iter_rows(values_only=True)
            if row and row[0] is not None and len(row) > 1}


def test_the_statistics_of_an_interval_as_xlsx(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    today = date.today()
    mine = _books(make, factory, today, scale=1)
    theirs = _books(make, factory, today, scale=3)
    since = today.replace(day=1) - timedelta(days=1)
    browser = signed_in("merchant", merchant_id=mine)
    response = browser.get(f"/admin/cabinet/statistics.xlsx?since={since.isoformat()}"
                           f"&until={today.isoformat()}&merchant={theirs}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    summary, per_day = book.worksheets
    figures = _sheet_values(summary)
    assert figures["Parcels registered"] == 2 and figures["Parcels placed"] == 2
    assert figures["Parcels picked up"] == 1 and figures["Parcels returned"] == 0
    assert D(str(figures["Ledger: Charge"])) == D("-17.50")
    assert D(str(figures["Ledger: Deposit"])) == D("500")
    assert D(str(figures["Cash collected"])) == D("100")
    assert D(str(figures["Fees"])) == D("1.5") and D(str(figures["Payouts"])) == D("0")
    rows = [r for r in per_day.iter_rows(values_only=True)
            if r and isinstance(r[0], datetime)]
    assert len(rows) == (today - since).days + 1
    assert rows[0][0].date() == since and rows[-1][0].date() == today
    assert sum(r[1] for r in rows) == 2  # registered, per day, adds up to the total
    bad = browser.get("/admin/cabinet/statistics.xlsx?since=2026-12-05&until=2026-12-01")
    assert bad.status_code == 400


def test_persian_statistics_are_right_to_left(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    mine = _books(make, factory, date.today(), scale=1)
    browser = signed_in("merchant", merchant_id=mine, language="fa")
    page = browser.get("/admin/")
    assert 'dir="rtl"' in page.text and "data-cabinet" in page.text
    response = browser.get("/admin/cabinet/statistics.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.worksheets[0].sheet_view.rightToLeft
