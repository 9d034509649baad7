"""Weekly payouts (issue 13, services/payouts.py, admin/payouts.py): a merchant's week of
top-ups, charges, cash and fees gives a draft whose figures follow the formula to the kopeck
(charges covered, and charges beyond the deposits kept back as uncovered); the worker's job run
twice makes one payout; approval and payment are one-way steps through the admin, payment posts
the PAYOUT entry; the statement PDF and the bank-transfer CSV show the same figures."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.lockers import LedgerEntry, LedgerKind, Payout, PayoutStatus
from schema.people import Merchant, User
from services import ledger, payouts
from services.actor import Actor
from services.errors import Refused

D = Decimal


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Week:
    merchant_id: int
    start: date
    end: date


def _week(make, factory: sessionmaker[Session], deposit: str, charges: list[str],  # type: ignore[no-untyped-def]
          cash: list[str], fees: list[str]) -> Week:
    """A BYN merchant whose payout day is today, with its entries over the last six days:
    the period runs from the first entry's day to yesterday."""
    today = _now().date()
    merchant = make("Merchant", locale="en_US")
    with factory() as session, session.begin():
        stored = session.get(Merchant, merchant.id)
        assert stored is not None
        stored.currency, stored.payout_weekday = "BYN", today.isoweekday()
        stored.bank_account = f"BY20 OLMP 3135 0000 0010 0000 {merchant.id:04d}"[:34]
        first = datetime.combine(today - timedelta(days=6), time(9), tzinfo=UTC)
        post = ledger.post
        post(session, merchant.id, LedgerKind.DEPOSIT, D(deposit), "BYN", at=first,
             reference=f"TOPUP-{merchant.id}", description="top-up")
        for i, amount in enumerate(charges):
            post(session, merchant.id, LedgerKind.CHARGE, -D(amount), "BYN",
                 at=first + timedelta(days=1, hours=i), description=f"charge {i}")
        for i, amount in enumerate(cash):
            post(session, merchant.id, LedgerKind.CASH_COLLECTED, D(amount), "BYN",
                 at=first + timedelta(days=2, hours=i), description=f"cash {i}")
        for i, amount in enumerate(fees):
            post(session, merchant.id, LedgerKind.FEE, -D(amount), "BYN",
                 at=first + timedelta(days=2, hours=i, minutes=1), description=f"fee {i}")
        # Late on the last day of the period: still in it (UTC days).
        post(session, merchant.id, LedgerKind.ADJUSTMENT, D("0.00"), "BYN",
             at=datetime.combine(today - timedelta(days=1), time(23, 59, 59), tzinfo=UTC),
             description="last-day adjustment")
    return Week(merchant.id, today - timedelta(days=6), today - timedelta(days=1))


def _payouts_of(factory: sessionmaker[Session], merchant_id: int) -> list[Payout]:
    with factory() as session:
        return list(session.scalars(select(Payout).where(Payout.merchant_id == merchant_id)))


def _actor(factory: sessionmaker[Session], make_user) -> Actor:  # type: ignore[no-untyped-def]
    username = make_user("accountant")
    with factory() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
    return Actor(user_id=user_id, username=username, role="accountant")


def _balance_is_the_ledger(factory: sessionmaker[Session], merchant_id: int) -> Decimal:
    with factory() as session:
        balance = session.scalar(select(Merchant.balance).where(Merchant.id == merchant_id))
        assert balance == ledger.ledger_sum(session, merchant_id)
        return Decimal(balance)


def test_covered_charges_the_job_twice_makes_one_payout(make, factory) -> None:  # type: ignore[no-untyped-def]
    week = _week(make, factory, "100.00", ["12.34", "5.01"], ["200.00", "55.55"],
                 ["3.00", "0.83"])
    assert payouts.create_due_payouts(factory, merchant_ids=[week.merchant_id]) == 1
    assert payouts.create_due_payouts(factory, merchant_ids=[week.merchant_id]) == 0
    [payout] = _payouts_of(factory, week.merchant_id)
    assert (payout.period_start, payout.period_end) == (week.start, week.end)
    assert payout.status is PayoutStatus.DRAFT and payout.currency == "BYN"
    # cash 255.55, fees 3.83; the balance at the end (334.37) covers every charge.
    assert (payout.cash_total, payout.fee, payout.uncovered, payout.amount) == (
        D("255.55"), D("3.83"), D("0.00"), D("251.72"))
    # The same period again: the same payout, nothing new.
    with factory() as session, session.begin():
        again = payouts.compute_payout(session, week.merchant_id, week.start, week.end)
        assert again.id == payout.id
    assert len(_payouts_of(factory, week.merchant_id)) == 1


def test_charges_beyond_the_deposits_are_kept_back(make, factory, make_user) -> None:  # type: ignore[no-untyped-def]
    week = _week(make, factory, "10.00", ["30.40", "7.15"], ["100.00"], ["1.50"])
    payouts.create_due_payouts(factory, merchant_ids=[week.merchant_id])
    [payout] = _payouts_of(factory, week.merchant_id)
    # cash - fees = 98.50; the balance at the end is 10 - 37.55 + 98.50 = 70.95.
    assert (payout.cash_total, payout.fee, payout.amount, payout.uncovered) == (
        D("100.00"), D("1.50"), D("70.95"), D("27.55"))
    actor = _actor(factory, make_user)
    with factory() as session, session.begin():
        payouts.approve(session, actor, payout.id)
        payouts.mark_paid(session, actor, payout.id, "BANK-UNC-1")
    # Paid out: what the deposits did not cover was kept back, the balance is zero.
    assert _balance_is_the_ledger(factory, week.merchant_id) == D("0.00")


def test_approve_and_mark_paid_are_one_way(make, factory, make_user) -> None:  # type: ignore[no-untyped-def]
    week = _week(make, factory, "100.00", ["12.34", "5.01"], ["200.00", "55.55"],
                 ["3.00", "0.83"])
    payouts.create_due_payouts(factory, merchant_ids=[week.merchant_id])
    [payout] = _payouts_of(factory, week.merchant_id)
    actor = _actor(factory, make_user)
    with factory() as session, session.begin():
        with pytest.raises(Refused, match="only an approved payout"):
            payouts.mark_paid(session, actor, payout.id, "BANK-1")
        done = payouts.approve(session, actor, payout.id)
        assert done.status is PayoutStatus.APPROVED and done.approved_by_id == actor.user_id
    with factory() as session, session.begin(), pytest.raises(Refused, match="only a draft"):
        payouts.approve(session, actor, payout.id)
    with factory() as session, session.begin(), pytest.raises(Refused, match="bank reference"):
        payouts.mark_paid(session, actor, payout.id, "  ")
    with factory() as session, session.begin():
        payouts.mark_paid(session, actor, payout.id, f"BANK-{payout.id}")
    for step in (lambda s: payouts.approve(s, actor, payout.id),
                 lambda s: payouts.mark_paid(s, actor, payout.id, "BANK-AGAIN")):
        with factory() as session, session.begin(), pytest.raises(Refused):
            step(session)
    with factory() as session:
        entries = list(session.scalars(select(LedgerEntry).where(
            LedgerEntry.merchant_id == week.merchant_id,
            LedgerEntry.kind == LedgerKind.PAYOUT)))
        stored = session.get(Payout, payout.id)
        assert stored is not None and stored.status is PayoutStatus.PAID
        assert stored.bank_reference == f"BANK-{payout.id}" and stored.paid_at is not None
    assert [(e.amount, e.payout_id, e.reference) for e in entries] == [
        (D("-251.72"), payout.id, f"BANK-{payout.id}")]
    # 100 - 17.35: after the payout the balance is again deposits - charges.
    assert _balance_is_the_ledger(factory, week.merchant_id) == D("82.65")


def test_zero_payout_settles_on_approval_next_week_follows(make, factory, make_user) -> None:  # type: ignore[no-untyped-def]
    week = _week(make, factory, "5.00", ["9.00"], [], [])
    payouts.create_due_payouts(factory, merchant_ids=[week.merchant_id])
    [payout] = _payouts_of(factory, week.merchant_id)
    assert (payout.amount, payout.uncovered, payout.cash_total) == (D(0), D(0), D(0))
    actor = _actor(factory, make_user)
    with factory() as session, session.begin():
        settled = payouts.approve(session, actor, payout.id)
        assert settled.status is PayoutStatus.PAID and settled.paid_at is not None
        assert settled.bank_reference is None
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.payout_id == payout.id)) == 0
        assert payouts.approved_payouts(session, [payout.id]) == []
        # Overlapping, backwards and unfinished periods are refused.
        for start, end, text in (
                (week.start - timedelta(days=3), week.start + timedelta(days=1), "overlaps"),
                (week.end, week.start, "ends before"),
                (week.end + timedelta(days=1), _now().date(), "not over")):
            with pytest.raises(Refused, match=text):
                payouts.compute_payout(session, week.merchant_id, start, end)
    # The next period starts the day after; cash there pays the -4.00 of last week first.
    with factory() as session, session.begin():
        ledger.post(session, week.merchant_id, LedgerKind.CASH_COLLECTED, D("50.00"), "BYN",
                    at=datetime.combine(week.end + timedelta(days=1), time(10), tzinfo=UTC))
        ledger.post(session, week.merchant_id, LedgerKind.FEE, D("-0.75"), "BYN",
                    at=datetime.combine(week.end + timedelta(days=1), time(10), tzinfo=UTC))
    later = _now() + timedelta(days=7)
    with factory() as session:
        due = payouts.due_periods(session, later.date(), [week.merchant_id])
    assert due == [(week.merchant_id, week.end + timedelta(days=1),
                    week.end + timedelta(days=7))]


def _pdf_text(content: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return re.sub(r"\s+", "", text)


def _money(amount: str) -> str:
    return re.sub(r"\s+", "", format_money(D(amount), "BYN", "en"))


def test_accountant_approves_pays_prints_and_exports(make, factory, signed_in) -> None:  # type: ignore[no-untyped-def]
    week = _week(make, factory, "10.00", ["30.40", "7.15"], ["100.00"], ["1.50"])
    payouts.create_due_payouts(factory, merchant_ids=[week.merchant_id])
    [payout] = _payouts_of(factory, week.merchant_id)
    accountant = signed_in("accountant")
    listing = accountant.get("/admin/payouts/list")
    assert "/admin/payouts/transfers.csv" in listing.text
    page = accountant.get(f"/admin/payouts/details/{payout.id}")
    assert page.status_code == 200 and 'id="approve-form"' in page.text
    assert "The payout is approved." in accountant.post(
        f"/admin/payouts/{payout.id}/approve").text
    with factory() as session:
        assert session.get(Payout, payout.id).status is PayoutStatus.APPROVED  # type: ignore[union-attr]
    again = accountant.post(f"/admin/payouts/{payout.id}/approve")
    assert "only a draft can be approved" in again.text
    # The bank-transfer file lists it (and only approved payouts).
    response = accountant.get("/admin/payouts/transfers.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(payouts.CSV_HEADER)
    ours = [row for row in rows[1:] if row[4].startswith(f"PAYOUT {payout.id} ")]
    with factory() as session:
        merchant = session.get(Merchant, week.merchant_id)
        assert merchant is not None
        iban = (merchant.bank_account or "").replace(" ", "")
        name = merchant.legal_name or merchant.name
    assert ours == [[name, iban, "70.95", "BYN",
                     f"PAYOUT {payout.id} {week.start.isoformat()}/{week.end.isoformat()}"]]
    # Mark paid with the bank's reference; the PAYOUT entry follows.
    accountant.post(f"/admin/payouts/{payout.id}/mark-paid",
                    data={"bank_reference": f"TRF-{payout.id}"})
    with factory() as session:
        assert session.get(Payout, payout.id).status is PayoutStatus.PAID  # type: ignore[union-attr]
    assert _balance_is_the_ledger(factory, week.merchant_id) == D("0.00")
    rows = list(csv.reader(io.StringIO(
        accountant.get("/admin/payouts/transfers.csv").content.decode("utf-8-sig"))))
    assert not [row for row in rows[1:] if row[4].startswith(f"PAYOUT {payout.id} ")]
    # The statement prints the same figures and the period's entries with the payout.
    pdf = accountant.get(f"/admin/print/payout/{payout.id}")
    assert pdf.headers["content-type"] == "application/pdf"
    text = _pdf_text(pdf.content)
    for amount in ("100.00", "1.50", "27.55", "70.95", "10.00", "30.40", "7.15"):
        assert _money(amount) in text, (amount, text)
    for word in ("top-up", "charge0", "cash0", "fee0", "last-dayadjustment", f"TRF-{payout.id}"):
        assert word in text, (word, text)
    # A merchant sees its payouts but has no steps; a manager no CSV.
    merchant_user = signed_in("merchant", merchant_id=week.merchant_id)
    assert merchant_user.post(f"/admin/payouts/{payout.id}/approve").status_code == 403
    assert merchant_user.get("/admin/payouts/transfers.csv").status_code == 403
