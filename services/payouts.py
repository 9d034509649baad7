"""Weekly payouts (issue 13): what the network owes a merchant for a period, approved and paid.

**The period.** Dates are UTC calendar days, as in the merchant statement
(``reports.data.day_bounds``): a period ``[start, end]`` holds the ledger entries with
``start 00:00 UTC <= at < (end + 1 day) 00:00 UTC``. A merchant's periods follow each other
without gaps: a period starts the day after the previous payout's ``period_end`` (the first one
on the day of the merchant's first ledger entry) and ends the day before the merchant's payout
weekday (``Merchant.payout_weekday``, 1 = Monday ... 7 = Sunday), so with Monday it is Monday to
Sunday. The job (``create_due_payouts``) takes the most recent payout weekday on or before today:
run on the weekday it makes that week's payout; run later (the worker was down) it catches up
with one payout up to the day before that weekday; run again it finds the payout made and
creates nothing.

**The figures** (``compute_payout``), in the merchant's currency, from the ledger only:

- ``cash_total`` = sum of ``cash_collected`` entries in the period (the buyers' money the lockers
  took for the merchant);
- ``fee`` = minus the sum of ``fee`` entries in the period (a positive number);
- ``available`` = the balance at the period's end as if every earlier payout had been paid:
  the sum of all the merchant's entries before the period's end except ``payout`` entries,
  minus the amounts of all its earlier payouts (so it does not matter whether, or when, an
  earlier payout was marked paid: its PAYOUT entry may lie after this period's end);
- ``amount`` = max(0, min(cash_total - fee, available)) and
  ``uncovered`` = cash_total - fee - amount: the charges the prepaid money did not cover are
  kept back from the cash. After the payout is paid the balance is again deposits - charges
  when that is not negative, else 0 plus what later periods added.

A payout is one per (merchant, period) (the table's unique constraint): computing the same period
again returns the payout already there and writes nothing (also when two workers race: the loser's
insert is rolled back to a savepoint and the winner's row is returned); a period overlapping
another payout of the merchant, ending before it starts, or not over yet (ending today or later)
is refused. The figures are computed once, when the draft is created; entries posted later for
the period's days (a late event) count in the next period only through ``available``.

**The steps**, one transaction each, every one a conditional change of the status (the row's
version: a concurrent step makes the second one a ``Conflict``):

- ``approve`` (draft -> approved, ``approved_at``/``approved_by_id``). Approving a payout that is
  not a draft (approved twice, or paid) is refused. A payout with an amount needs the merchant's
  bank account (IBAN), or there is nowhere to send it. **A zero payout** (no cash, or all of it
  kept back for uncovered charges) needs no transfer: approving it settles it at once (status
  paid, ``paid_at`` now, no ledger entry, no bank reference), so it never appears in the
  bank-transfer file and the next period starts after it like after any other.
- ``mark_paid`` (approved -> paid, ``paid_at``, ``bank_reference``): posts the ledger entry
  PAYOUT ``-amount`` with the bank reference and ``payout_id``. Marking a draft or an already
  paid payout is refused, so is a bank reference another payout used (the ledger's unique
  ``(kind, reference)``).

``transfer_csv`` writes the bank-transfer file of approved payouts: merchant, IBAN, amount,
currency and the transfer's reference text (``payout_reference``).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from reports.data import day_bounds
from rules.workflow import Message
from schema.base import utcnow
from schema.lockers import LedgerEntry, LedgerKind, Payout, PayoutStatus
from schema.people import CurrencyRow, Merchant
from services import ledger
from services.actor import Actor
from services.errors import Conflict, Refused
from services.worker import periodic

log = logging.getLogger(__name__)

ZERO = Decimal(0)
REFERENCE_LIMIT = 100  # Payout.bank_reference and LedgerEntry.reference are String(100)


class PayoutRefused(Refused):
    """A payout step that may not be taken (wrong status, a period that overlaps, ...)."""


@dataclass(frozen=True)
class Figures:
    cash_total: Decimal
    fee: Decimal
    available: Decimal

    @property
    def amount(self) -> Decimal:
        return max(ZERO, min(self.cash_total - self.fee, self.available))

    @property
    def uncovered(self) -> Decimal:
        return self.cash_total - self.fee - self.amount


def period_window(period_start: date, period_end: date) -> tuple[datetime, datetime]:
    """The half-open UTC interval ``[start, end)`` of a period's days."""
    return day_bounds(period_start)[0], day_bounds(period_end)[1]


def figures(session: Session, merchant_id: int, currency: str, period_start: date,
            period_end: date) -> Figures:
    """Cash, fees and the money available for the payout of a period (module docstring)."""
    start, end = period_window(period_start, period_end)
    in_period = dict(session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.currency == currency,
               LedgerEntry.kind.in_((LedgerKind.CASH_COLLECTED, LedgerKind.FEE)),
               LedgerEntry.at >= start, LedgerEntry.at < end)
        .group_by(LedgerEntry.kind)).all())
    before_end = session.scalar(
        select(func.sum(LedgerEntry.amount))
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.currency == currency,
               LedgerEntry.kind != LedgerKind.PAYOUT, LedgerEntry.at < end))
    paid_out = session.scalar(
        select(func.sum(Payout.amount))
        .where(Payout.merchant_id == merchant_id, Payout.currency == currency,
               Payout.period_end < period_start))
    return Figures(
        cash_total=Decimal(in_period.get(LedgerKind.CASH_COLLECTED) or 0),
        fee=-Decimal(in_period.get(LedgerKind.FEE) or 0),
        available=Decimal(before_end or 0) - Decimal(paid_out or 0),
    )


def compute_payout(session: Session, merchant_id: int, period_start: date,
                   period_end: date, today: date | None = None) -> Payout:
    """The draft payout of the merchant for ``[period_start, period_end]``; the existing one
    when this period was computed before (nothing is written then). ``today`` (default: the
    UTC date now) must be after the period: a period still running is refused."""
    existing = _existing(session, merchant_id, period_start, period_end)
    if existing is not None:
        return existing
    if period_end < period_start:
        raise PayoutRefused("The period ends before it starts.")
    if period_end >= (today or utcnow().date()):
        raise PayoutRefused("The period %(start)s – %(end)s is not over yet.",
                            start=period_start.isoformat(), end=period_end.isoformat())
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise PayoutRefused("The merchant %(id)s was not found.", id=merchant_id)
    overlapping = session.scalar(
        select(Payout).where(Payout.merchant_id == merchant_id,
                             Payout.period_start <= period_end,
                             Payout.period_end >= period_start).limit(1))
    if overlapping is not None:
        raise PayoutRefused(
            "The period overlaps payout No. %(id)s (%(start)s – %(end)s).", id=overlapping.id,
            start=overlapping.period_start.isoformat(), end=overlapping.period_end.isoformat())
    found = figures(session, merchant_id, merchant.currency, period_start, period_end)
    payout = Payout(merchant_id=merchant_id, period_start=period_start, period_end=period_end,
                    currency=merchant.currency, status=PayoutStatus.DRAFT,
                    cash_total=found.cash_total, fee=found.fee, uncovered=found.uncovered,
                    amount=found.amount)
    try:
        with session.begin_nested():  # another worker may have inserted it meanwhile
            session.add(payout)
    except IntegrityError:
        raced = _existing(session, merchant_id, period_start, period_end)
        if raced is None:
            raise
        return raced
    return payout


def _existing(session: Session, merchant_id: int, period_start: date,
              period_end: date) -> Payout | None:
    return session.scalar(select(Payout).where(
        Payout.merchant_id == merchant_id, Payout.period_start == period_start,
        Payout.period_end == period_end))


def due_period_end(weekday: int, today: date) -> date:
    """The day before the most recent ``weekday`` (1 = Monday ... 7) on or before ``today``."""
    weekday = weekday if 1 <= weekday <= 7 else 1
    back = (today.isoweekday() - weekday) % 7
    return today - timedelta(days=back + 1)


def due_periods(session: Session, today: date,
                merchant_ids: Collection[int] | None = None) -> list[tuple[int, date, date]]:
    """``(merchant_id, start, end)`` of every active merchant's payout due by ``today`` and
    not made yet (only of ``merchant_ids`` when given): three queries for all of them."""
    last_end = dict(session.execute(
        select(Payout.merchant_id, func.max(Payout.period_end))
        .group_by(Payout.merchant_id)).all())
    first_at = dict(session.execute(
        select(LedgerEntry.merchant_id, func.min(LedgerEntry.at))
        .group_by(LedgerEntry.merchant_id)).all())
    merchants = (select(Merchant.id, Merchant.payout_weekday)
                 .where(Merchant.active.is_(True)).order_by(Merchant.id))
    if merchant_ids is not None:
        merchants = merchants.where(Merchant.id.in_(list(merchant_ids)))
    due = []
    for merchant_id, weekday in session.execute(merchants):
        end = due_period_end(int(weekday or 1), today)
        if merchant_id in last_end:
            start = last_end[merchant_id] + timedelta(days=1)
        elif merchant_id in first_at:
            start = first_at[merchant_id].date()
        else:
            continue  # nothing ever happened on its ledger
        if start <= end:
            due.append((merchant_id, start, end))
    return due


def create_due_payouts(factory: sessionmaker[Session], now: datetime | None = None,
                       merchant_ids: Collection[int] | None = None) -> int:
    """The worker's job: each due payout as a draft, one transaction per merchant (one that
    fails is logged and retried on the next run; the others go on). Returns how many were
    created or found. ``merchant_ids`` limits it (tests, the bench)."""
    today = (now or utcnow()).date()
    with factory() as session:
        due = due_periods(session, today, merchant_ids)
    made = 0
    for merchant_id, start, end in due:
        try:
            with factory() as session, session.begin():
                compute_payout(session, merchant_id, start, end, today)
            made += 1
        except Exception:
            log.exception("payout of merchant %s for %s – %s failed", merchant_id, start, end)
    return made


@periodic("weekly_payouts", 3600)
def _payouts_in_worker(factory: sessionmaker[Session], now: datetime) -> None:
    create_due_payouts(factory, now)


# --- approval and payment ------------------------------------------------------------------


def _load(session: Session, payout_id: int) -> Payout:
    payout = session.scalar(select(Payout).where(Payout.id == payout_id)
                            .options(joinedload(Payout.merchant)))
    if payout is None:
        raise PayoutRefused("The payout was not found.")
    return payout


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as error:
        raise Conflict("Someone else changed this payout first; open it again.") from error


def approve(session: Session, actor: Actor, payout_id: int) -> Payout:
    """Draft -> approved; a zero payout is settled at once (module docstring)."""
    payout = _load(session, payout_id)
    if payout.status is not PayoutStatus.DRAFT:
        raise PayoutRefused("Payout No. %(id)s is %(status)s: only a draft can be approved.",
                            id=payout.id, status=Message(payout.status.label))
    if payout.amount > 0 and not (payout.merchant.bank_account or "").strip():
        raise PayoutRefused(
            "%(merchant)s has no bank account (IBAN): enter it on the merchant, then approve.",
            merchant=payout.merchant.name)
    now = utcnow()
    payout.approved_at, payout.approved_by_id = now, actor.user_id
    if payout.amount > 0:
        payout.status = PayoutStatus.APPROVED
    else:
        payout.status, payout.paid_at = PayoutStatus.PAID, now  # nothing to transfer
    _flush(session)
    return payout


def mark_paid(session: Session, actor: Actor, payout_id: int, bank_reference: str | None,
              at: datetime | None = None) -> Payout:
    """Approved -> paid: the PAYOUT ledger entry ``-amount`` with the bank's reference."""
    reference = (bank_reference or "").strip()
    if not reference:
        raise PayoutRefused("Enter the bank reference of the transfer.")
    if len(reference) > REFERENCE_LIMIT:
        raise PayoutRefused("The bank reference is longer than %(limit)s characters.",
                            limit=REFERENCE_LIMIT)
    payout = _load(session, payout_id)
    if payout.status is not PayoutStatus.APPROVED:
        raise PayoutRefused(
            "Payout No. %(id)s is %(status)s: only an approved payout can be marked paid.",
            id=payout.id, status=Message(payout.status.label))
    used = session.scalar(select(LedgerEntry.payout_id).where(
        LedgerEntry.kind == LedgerKind.PAYOUT, LedgerEntry.reference == reference).limit(1))
    if used is not None:
        raise PayoutRefused("The bank reference %(reference)s is already recorded for payout "
                            "No. %(id)s.", reference=reference, id=used)
    now = at or utcnow()
    payout.status, payout.paid_at, payout.bank_reference = PayoutStatus.PAID, now, reference
    _flush(session)  # the status first: a concurrent mark loses here, before any entry
    ledger.post(session, payout.merchant_id, LedgerKind.PAYOUT, -payout.amount, payout.currency,
                payout_id=payout.id, reference=reference, at=now,
                description=f"payout {payout.period_start.isoformat()} – "
                            f"{payout.period_end.isoformat()}")
    return payout


# --- the bank-transfer file ------------------------------------------------------------------

CSV_HEADER = ("merchant", "iban", "amount", "currency", "reference")


def payout_reference(payout: Payout) -> str:
    """The transfer's reference text: ASCII, so every bank takes it."""
    return (f"PAYOUT {payout.id} {payout.period_start.isoformat()}/"
            f"{payout.period_end.isoformat()}")


def approved_payouts(session: Session, ids: Iterable[int] | None = None) -> list[Payout]:
    """The approved payouts (of ``ids`` when given), oldest first."""
    query = (select(Payout).where(Payout.status == PayoutStatus.APPROVED)
             .options(joinedload(Payout.merchant)).order_by(Payout.period_end, Payout.id))
    if ids is not None:
        query = query.where(Payout.id.in_(list(ids)))
    return list(session.scalars(query))


def transfer_csv(session: Session, payouts: Iterable[Payout]) -> str:
    """One line per payout: the merchant's legal name (else name), IBAN without spaces, the
    amount with a decimal point and the currency's decimal places, currency code, reference
    text."""
    places = {code: int(decimals) for code, decimals in
              session.execute(select(CurrencyRow.code, CurrencyRow.decimals))}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for payout in payouts:
        merchant = payout.merchant
        writer.writerow((merchant.legal_name or merchant.name,
                         (merchant.bank_account or "").replace(" ", ""),
                         f"{payout.amount:.{places.get(payout.currency, 2)}f}",
                         payout.currency, payout_reference(payout)))
    return out.getvalue()
