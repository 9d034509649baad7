"""Cash collection from lockers (R-LOCK-7), on SQLite and PostgreSQL.

Through HTTP as a cash collector: a locker whose terminal took three cash payments (one with
change credited to the phone: the box holds what was tendered) and one card payment is due
with the cash expected; a count that differs without a note is refused and writes nothing;
with a note it is recorded; the exact count is recorded; the act's PDF prints since, expected,
counted, difference, note and the payments; the locker is then no longer due and a repeated act
is refused. The service: the days rule, one act per currency, and on PostgreSQL a second act
racing the first (two threads) is refused. The lockers report counts the terminals' cash and
the acts. A phone-sized browser (390 px, fa and en) fills the form with no sideways scroll.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from reports.queries import ReportParams
from reports.queries.delivery import lockers as lockers_report
from schema.base import utcnow
from schema.lockers import CashCollection, Parcel, ParcelPayment, PaymentMethodAtLocker
from schema.people import RoleCode, User
from services import terminal
from services.actor import Actor
from services.cash_collection import (
    CollectionRefused,
    act_payments,
    cash_in_lockers,
    due_lockers,
    record_collection,
)
from services.terminal import hash_pickup_code
from tests.conftest import Browser
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 (fixtures)
from tests.test_courier_phone import PHONE_WIDTH, _no_sideways_scroll
from tests.test_terminal import Site, add_parcel, build_site

D = Decimal
PAGE = "/admin/cash-to-collect"


def pay(factory: sessionmaker[Session], site: Site, barcode: str, method: str, due: str,
        tendered: str | None = None, ago: timedelta = timedelta(hours=1),
        currency: str = "BYN") -> None:
    """What the terminal's ``pay`` writes (services.terminal), at a chosen time."""
    tendered = tendered or due
    with factory() as session, session.begin():
        parcel = session.scalars(select(Parcel).where(Parcel.barcode == barcode)).one()
        session.add(ParcelPayment(
            parcel_id=parcel.id, merchant_id=site.merchant, locker_id=site.locker,
            method=PaymentMethodAtLocker(method), amount=D(due), tendered=D(tendered),
            change=D(tendered) - D(due), currency=currency, at=utcnow() - ago))


def locker_with_payments(factory: sessionmaker[Session]) -> tuple[Site, list[str]]:
    """3 cash payments (the last one over-paid: 190.00 for 180.25) and 1 card payment."""
    site = build_site(factory)
    parcels = [add_parcel(factory, site, cell, status="in_locker", declared=due)
               for cell, due in (("A1", "200.00"), ("A2", "150.50"), ("B1", "180.25"),
                                 ("C1", "300.00"))]
    pay(factory, site, parcels[0], "cash", "200.00", ago=timedelta(hours=5))
    pay(factory, site, parcels[1], "cash", "150.50", ago=timedelta(hours=4))
    pay(factory, site, parcels[2], "cash", "180.25", "190.00", ago=timedelta(hours=3))
    pay(factory, site, parcels[3], "card", "300.00", ago=timedelta(hours=2))
    return site, parcels


EXPECTED = D("540.50")  # 200.00 + 150.50 + 190.00 tendered; the card's 300.00 is no cash


def card(html: str, site: Site) -> str:
    start = html.find(f'id="cash-{site.locker}-BYN"')
    assert start != -1, "the locker has no card on the page"
    return html[start:html.find("</form>", start)]


def acts(factory: sessionmaker[Session], site: Site) -> list[CashCollection]:
    with factory() as session:
        return list(session.scalars(select(CashCollection).where(
            CashCollection.locker_id == site.locker).order_by(CashCollection.id)))


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def actor_for(factory: sessionmaker[Session], username: str) -> Actor:
    with factory() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return Actor(user.id, user.username, RoleCode.CASH_COLLECTOR.value)


# --- through HTTP -----------------------------------------------------------------------------


def test_a_collector_collects_a_locker_through_the_page(
        signed_in: Any, factory: sessionmaker[Session]) -> None:
    site, parcels = locker_with_payments(factory)
    browser: Browser = signed_in(RoleCode.CASH_COLLECTOR)
    page = browser.get(PAGE)
    assert page.status_code == 200, page.text
    mine = card(page.text, site)
    assert 'data-due="1"' in mine and f'data-expected="{EXPECTED}"' in mine
    assert 'data-payments="3"' in mine and "never collected" in mine

    form = {"locker_id": str(site.locker), "currency": "BYN", "counted": "530.50"}
    refused = browser.post(PAGE, form)
    assert refused.status_code == 400
    assert "write a note" in refused.text and "-10.00 BYN" in refused.text
    assert 'value="530.50"' in card(refused.text, site)  # what was typed stays
    assert acts(factory, site) == []                     # nothing written

    done = browser.post(PAGE, {**form, "note": "  a 10 BYN note was torn and kept apart "},
                        follow_redirects=False)
    assert done.status_code == 303, done.text
    act, = acts(factory, site)
    assert (act.expected_amount, act.amount, act.difference, act.currency, act.since) == (
        EXPECTED, D("530.50"), D("-10.00"), "BYN", None)
    assert act.note == "a 10 BYN note was torn and kept apart"

    shown = browser.get(done.headers["location"])
    assert f'data-act="{act.id}"' in shown.text
    assert f"/admin/print/cash-collection/{act.id}" in shown.text
    assert f'id="cash-{site.locker}-BYN"' not in shown.text  # no longer due: no cash left

    pdf = browser.get(f"/admin/print/cash-collection/{act.id}?language=en")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:300]
    text = pdf_text(pdf.content)
    for figure in ("540.50", "530.50", "-BYN10.00", "a 10 BYN note was torn", "no earlier",
                   "180.25", "190.00", "9.75", *parcels[:3]):
        assert figure in text, (figure, text)
    assert parcels[3] not in text  # the card payment is no cash

    again = browser.post(PAGE, {**form, "counted": "0", "note": "double submit"})
    assert again.status_code == 400 and "nothing to collect" in again.text
    assert len(acts(factory, site)) == 1


def test_an_exact_count_needs_no_note_and_the_next_act_starts_after_it(
        signed_in: Any, factory: sessionmaker[Session]) -> None:
    site, _ = locker_with_payments(factory)
    browser: Browser = signed_in(RoleCode.CASH_COLLECTOR)
    done = browser.post(PAGE, {"locker_id": str(site.locker), "counted": "540.5"},
                        follow_redirects=False)
    assert done.status_code == 303, done.text
    first, = acts(factory, site)
    assert (first.expected_amount, first.amount, first.difference, first.note) == (
        EXPECTED, EXPECTED, D("0"), None)

    later = add_parcel(factory, site, None, status="in_locker", declared="12.30")
    pay(factory, site, later, "cash", "12.30", ago=timedelta(0))
    page = browser.get(PAGE)
    mine = card(page.text, site)
    assert 'data-due="0"' in mine and 'data-expected="12.30"' in mine  # below the threshold
    assert 'data-payments="1"' in mine and "last collection" in mine
    assert browser.post(PAGE, {"locker_id": str(site.locker), "counted": "12.30"},
                        follow_redirects=False).status_code == 303
    second = acts(factory, site)[1]
    assert second.since == first.collected_at and second.expected_amount == D("12.30")
    with factory() as session:
        assert [p.barcode for p in act_payments(session, second)] == [later]


def test_only_a_cash_collector_records_and_the_generic_form_leads_to_the_page(
        signed_in: Any, factory: sessionmaker[Session]) -> None:
    site, _ = locker_with_payments(factory)
    courier: Browser = signed_in(RoleCode.COURIER)
    assert courier.get(PAGE).status_code in (403, 404)
    assert courier.post(PAGE, {"locker_id": str(site.locker), "counted": "540.50"}
                        ).status_code in (403, 404)
    assert acts(factory, site) == []
    collector: Browser = signed_in(RoleCode.CASH_COLLECTOR)
    new = collector.get("/admin/cash_collections/create", follow_redirects=False)
    assert new.status_code == 303 and new.headers["location"].endswith(PAGE)


def test_bad_counts_are_refused_and_write_nothing(
        signed_in: Any, factory: sessionmaker[Session]) -> None:
    site, _ = locker_with_payments(factory)
    browser: Browser = signed_in(RoleCode.CASH_COLLECTOR)
    for counted, reason in (("", "Enter the amount"), ("five", "not a number"),
                            ("-1", "cannot be negative"), ("540.505", "decimal places")):
        answer = browser.post(PAGE, {"locker_id": str(site.locker), "counted": counted,
                                     "note": "n"})
        assert answer.status_code == 400 and reason in answer.text, (counted, answer.text)
    assert acts(factory, site) == []


# --- the service ------------------------------------------------------------------------------


def test_a_locker_with_little_cash_is_due_after_the_days(
        factory: sessionmaker[Session], make_user: Any) -> None:
    site = build_site(factory)
    parcel = add_parcel(factory, site, "A1", status="in_locker", declared="5.00")
    pay(factory, site, parcel, "cash", "5.00", ago=timedelta(days=3))
    with factory() as session:
        now = utcnow()
        mine = [c for c in cash_in_lockers(session, now) if c.locker_id == site.locker]
        assert [(c.expected, c.payments, c.due) for c in mine] == [(D("5.00"), 1, False)]
        later = now + timedelta(days=4, minutes=1)  # 7 days and a minute after the payment
        assert [c.locker_id for c in due_lockers(session, later)].count(site.locker) == 1
        # Before the payment there was nothing.
        assert site.locker not in {c.locker_id for c in
                                   cash_in_lockers(session, now - timedelta(days=4))}


def test_one_act_per_currency(factory: sessionmaker[Session], make_user: Any) -> None:
    site = build_site(factory)
    byn = add_parcel(factory, site, "A1", status="in_locker", declared="10.00")
    rub = add_parcel(factory, site, "A2", status="in_locker", declared="300.00")
    pay(factory, site, byn, "cash", "10.00")
    pay(factory, site, rub, "cash", "300.00", currency="RUB")
    actor = actor_for(factory, make_user(RoleCode.CASH_COLLECTOR))
    with factory() as session, session.begin():
        with pytest.raises(CollectionRefused, match="one act per currency"):
            record_collection(session, actor, site.locker, "10.00")
        act = record_collection(session, actor, site.locker, "300", currency="RUB")
        assert (act.currency, act.expected_amount, act.difference) == ("RUB", D("300"), D(0))
    with factory() as session:
        left = [(c.currency, c.expected) for c in cash_in_lockers(session)
                if c.locker_id == site.locker]
    assert left == [("BYN", D("10.00"))]


def test_a_second_act_racing_the_first_is_refused(
        factory: sessionmaker[Session], make_user: Any, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (POSTDESK_TEST_DATABASE_URL)")
    site, _ = locker_with_payments(factory)
    first_actor = actor_for(factory, make_user(RoleCode.CASH_COLLECTOR))
    second_actor = actor_for(factory, make_user(RoleCode.CASH_COLLECTOR))
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with factory() as session, session.begin():
                record_collection(session, second_actor, site.locker, "540.50")
            outcome["second"] = "recorded"
        except CollectionRefused as refused:
            outcome["second"] = str(refused)

    with factory() as session, session.begin():
        record_collection(session, first_actor, site.locker, "540.50")
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.5)
        # The second collector waits on the locker's row while the first act is open.
        assert worker.is_alive() and "second" not in outcome
    worker.join(timeout=30)
    assert "nothing to collect" in str(outcome.get("second")), outcome
    assert len(acts(factory, site)) == 1


def test_a_payment_during_an_act_falls_in_the_next_act(
        factory: sessionmaker[Session], make_user: Any, backend: str) -> None:
    """The terminal's ``pay`` waits for the act's lock and is dated after it: the next act
    counts it (none falls between two acts)."""
    if backend != "postgresql":
        pytest.skip("row locks need PostgreSQL (POSTDESK_TEST_DATABASE_URL)")
    site, _ = locker_with_payments(factory)
    late = add_parcel(factory, site, None, status="in_locker", declared="7.00")
    with factory() as session, session.begin():
        session.execute(update(Parcel).where(Parcel.barcode == late).values(
            pickup_code_hash=hash_pickup_code("246810")))
    actor = actor_for(factory, make_user(RoleCode.CASH_COLLECTOR))
    outcome: dict[str, object] = {}

    def buyer_pays() -> None:
        try:
            with factory() as session, session.begin():
                outcome["paid"] = terminal.pay(session, site.locker, "246810", "cash", "7.00")
        except Exception as exc:  # reported in the assertion
            outcome["paid"] = exc

    with factory() as session, session.begin():
        act = record_collection(session, actor, site.locker, "540.50")
        first_at = act.collected_at
        worker = threading.Thread(target=buyer_pays)
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive() and "paid" not in outcome  # waits on the locker's row
    worker.join(timeout=30)
    assert not isinstance(outcome.get("paid"), Exception), outcome
    with factory() as session:
        paid_at = session.scalars(select(ParcelPayment.at).join(Parcel).where(
            Parcel.barcode == late)).one()
        assert paid_at > first_at
        left = [(c.expected, c.payments) for c in cash_in_lockers(session)
                if c.locker_id == site.locker]
    assert left == [(D("7.00"), 1)]


# --- the lockers report -----------------------------------------------------------------------


def test_the_lockers_report_counts_the_terminals_cash_and_the_acts(
        factory: sessionmaker[Session], make_user: Any) -> None:
    site, _ = locker_with_payments(factory)
    actor = actor_for(factory, make_user(RoleCode.CASH_COLLECTOR))
    with factory() as session, session.begin():
        record_collection(session, actor, site.locker, "540.00", "50 kopecks short")
    with factory() as session:
        now = utcnow()
        params = ReportParams(date_from=(now - timedelta(days=1)).date(),
                              date_to=(now + timedelta(days=1)).date())
        _, cash = lockers_report(session, params).tables
        row, = [r for r in cash.as_dicts() if r["locker"].startswith(site.locker_code + " ")]
    assert (row["payments"], row["taken"], row["collections"], row["expected"], row["amount"],
            row["difference"]) == (3, EXPECTED, 1, EXPECTED, D("540.00"), D("-0.50"))


def test_a_locker_never_paid_in_cash_holds_nothing(factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    parcel = add_parcel(factory, site, "A1", status="in_locker", declared="99.00")
    pay(factory, site, parcel, "card", "99.00")
    with factory() as session:
        assert site.locker not in {c.locker_id for c in cash_in_lockers(session)}
        assert session.scalar(select(func.count()).select_from(CashCollection).where(
            CashCollection.locker_id == site.locker)) == 0


# --- on a phone -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_a_collector_records_an_act_on_a_phone(  # type: ignore[no-untyped-def]
        live_server: str, chromium: Any, make_user, factory: sessionmaker[Session],  # noqa: F811
        lang: str) -> None:
    site, _ = locker_with_payments(factory)
    username = make_user(RoleCode.CASH_COLLECTOR, language=lang)
    context = chromium.new_context(viewport={"width": PHONE_WIDTH, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        _sign_in(page, live_server, username)
        page.goto(f"{live_server}{PAGE}")
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "fa" else "ltr")
        locker = page.locator(f"#cash-{site.locker}-BYN")
        assert format_money(EXPECTED, "BYN", lang) in locker.inner_text()
        _no_sideways_scroll(page)
        for target in (locker.locator(".cash-counted"), locker.locator(".cash-submit")):
            box = target.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH
            assert box["height"] >= 44, box
        locker.locator(".cash-counted").fill("۵۴۰٫۵۰" if lang == "fa" else "540.50")
        locker.locator(".cash-submit").click()
        page.wait_for_selector("#cash-act")
        assert format_money(EXPECTED, "BYN", lang) in page.locator(".act-counted").inner_text()
        _no_sideways_scroll(page)
        assert page.locator(".act-pdf").get_attribute("href").endswith(
            f"/admin/print/cash-collection/{acts(factory, site)[0].id}")
    finally:
        context.close()
