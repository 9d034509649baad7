"""The merchant's own figures: the cabinet's start page and statistics for any interval.

Every query names the merchant (``merchant_id = :id``): another merchant's parcels, events or
ledger entries are never counted, whoever asks. Days are UTC calendar days, both ends of an
interval included (``at >= since 00:00 UTC`` and ``at < until + 1 day 00:00 UTC``), as the
merchant statement counts them.

- ``cabinet``: the balance and the credit limit (available = balance + limit: what parcel
  registration may still charge), the merchant's parcels by their status now (in the parcel
  workflow's order, with the state's label), this month's ledger sums by kind (signed, as the
  ledger holds them: charges and fees negative), and the next payout: the latest payout still
  draft or approved, else the next date (today included) that is the merchant's payout weekday.
- ``interval_stats``: parcels registered, placed, picked up and returned (counted from their
  parcel events, once each), the ledger's sums by kind, cash collected, fees and payouts (the
  last two as positive numbers) — in total and per day; ``write_stats_xlsx`` writes them with
  the project's streaming spreadsheet writer (a summary sheet and a per-day sheet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.queries.common import day_of, utc_day
from reports.spreadsheet import Column, Sheet, write_xlsx
from schema.lockers import (
    LedgerEntry,
    LedgerKind,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
    Payout,
    PayoutStatus,
)
from schema.people import Merchant
from services.records import status_labels

# The events the statistics count, in the order they are shown.
COUNTED_EVENTS = (ParcelEventKind.REGISTERED, ParcelEventKind.PLACED, ParcelEventKind.PICKED_UP,
                  ParcelEventKind.RETURNED)
MAX_DAYS = 3660  # an interval of at most about ten years: one row per day


@dataclass(frozen=True)
class StateCount:
    code: str
    label: str
    colour: str
    parcels: int


@dataclass(frozen=True)
class NextPayout:
    """The payout under way (``payout`` set) or the date the next one is computed."""

    payout: Payout | None
    day: date | None


@dataclass
class Cabinet:
    merchant: Merchant
    balance: Decimal
    month_start: date
    today: date
    states: list[StateCount]
    month_by_kind: dict[LedgerKind, Decimal]
    next_payout: NextPayout

    @property
    def available(self) -> Decimal:
        return self.balance + Decimal(self.merchant.credit_limit or 0)

    @property
    def parcels(self) -> int:
        return sum(s.parcels for s in self.states)


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    return (datetime.combine(since, time.min, tzinfo=UTC),
            datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC))


def ledger_by_kind(session: Session, merchant_id: int, since: date,
                   until: date) -> dict[LedgerKind, Decimal]:
    start, end = _bounds(since, until)
    sums = dict(session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.at >= start,
               LedgerEntry.at < end)
        .group_by(LedgerEntry.kind)).tuples().all())
    return {kind: Decimal(sums.get(kind) or 0) for kind in LedgerKind}


def next_payout(session: Session, merchant: Merchant, today: date) -> NextPayout:
    payout = session.scalar(
        select(Payout).where(Payout.merchant_id == merchant.id,
                             Payout.status.in_((PayoutStatus.DRAFT, PayoutStatus.APPROVED)))
        .order_by(Payout.period_end.desc(), Payout.id.desc()).limit(1))
    if payout is not None:
        return NextPayout(payout, None)
    weekday = merchant.payout_weekday if 1 <= (merchant.payout_weekday or 0) <= 7 else 1
    return NextPayout(None, today + timedelta(days=(weekday - today.isoweekday()) % 7))


def cabinet(session: Session, merchant_id: int, today: date, language: str) -> Cabinet:
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise LookupError(merchant_id)
    counts = dict(session.execute(
        select(Parcel.status, func.count(Parcel.id)).where(Parcel.merchant_id == merchant_id)
        .group_by(Parcel.status)).tuples().all())
    labels = {code: label for (table, column, code), label in
              status_labels(session, language).items() if (table, column) == ("parcels", "status")}
    states = [StateCount(code, label.text, label.colour, int(counts[code]))
              for code, label in labels.items() if code in counts]
    states += [StateCount(code, code, "#6c757d", int(n)) for code, n in sorted(counts.items())
               if code not in labels]
    month_start = today.replace(day=1)
    # The balance as the ledger holds it now (the column is the ledger's sum, kept by post).
    balance = Decimal(session.scalar(select(Merchant.balance)
                                     .where(Merchant.id == merchant_id)) or 0)
    return Cabinet(merchant, balance, month_start, today, states,
                   ledger_by_kind(session, merchant_id, month_start, today),
                   next_payout(session, merchant, today))


# --- statistics for an interval --------------------------------------------------------------
@dataclass
class DayFigures:
    day: date
    events: dict[ParcelEventKind, int] = field(default_factory=dict)
    ledger: dict[LedgerKind, Decimal] = field(default_factory=dict)


@dataclass
class Stats:
    merchant_name: str
    currency: str
    since: date
    until: date
    events: dict[ParcelEventKind, int]
    ledger: dict[LedgerKind, Decimal]
    days: list[DayFigures]

    @property
    def cash_collected(self) -> Decimal:
        return self.ledger[LedgerKind.CASH_COLLECTED]

    @property
    def fees(self) -> Decimal:
        return -self.ledger[LedgerKind.FEE]

    @property
    def payouts(self) -> Decimal:
        return -self.ledger[LedgerKind.PAYOUT]


class IntervalRefused(ValueError):
    """The interval is backwards or too long."""


def interval_stats(session: Session, merchant_id: int, since: date, until: date) -> Stats:
    if until < since:
        raise IntervalRefused("until before since")
    if (until - since).days > MAX_DAYS:
        raise IntervalRefused("interval too long")
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise LookupError(merchant_id)
    start, end = _bounds(since, until)
    days = {since + timedelta(days=n): DayFigures(since + timedelta(days=n))
            for n in range((until - since).days + 1)}
    event_day = utc_day(ParcelEvent.at)
    for day, kind, n in session.execute(
            select(event_day, ParcelEvent.kind, func.count(ParcelEvent.id))
            .where(ParcelEvent.merchant_id == merchant_id, ParcelEvent.at >= start,
                   ParcelEvent.at < end, ParcelEvent.kind.in_(COUNTED_EVENTS))
            .group_by(event_day, ParcelEvent.kind)):
        figures = days.get(day_of(day))  # type: ignore[arg-type]
        if figures is not None:
            figures.events[kind] = int(n)
    entry_day = utc_day(LedgerEntry.at)
    for day, kind, total in session.execute(
            select(entry_day, LedgerEntry.kind, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.merchant_id == merchant_id, LedgerEntry.at >= start,
                   LedgerEntry.at < end)
            .group_by(entry_day, LedgerEntry.kind)):
        figures = days.get(day_of(day))  # type: ignore[arg-type]
        if figures is not None:
            figures.ledger[kind] = Decimal(total or 0)
    ordered = [days[d] for d in sorted(days)]
    events = {k: sum(d.events.get(k, 0) for d in ordered) for k in COUNTED_EVENTS}
    ledger = {k: sum((d.ledger.get(k, Decimal(0)) for d in ordered), Decimal(0))
              for k in LedgerKind}
    return Stats(merchant.name, merchant.currency, since, until, events, ledger, ordered)


def write_stats_xlsx(target: str | Path | IO[bytes], stats: Stats,
                     gettext: Callable[[str], str], *, rtl: bool = False) -> None:
    """Two sheets: the interval's figures, and the same per day (headers in the reader's
    language; amounts as numbers in the merchant's currency)."""
    caption = (f"{stats.merchant_name} · {stats.since.isoformat()} – {stats.until.isoformat()}"
               f" · {stats.currency}",)
    event_names = {
        ParcelEventKind.REGISTERED: gettext("Parcels registered"),
        ParcelEventKind.PLACED: gettext("Parcels placed"),
        ParcelEventKind.PICKED_UP: gettext("Parcels picked up"),
        ParcelEventKind.RETURNED: gettext("Parcels returned"),
    }
    summary: list[tuple[str, Decimal | int]] = [
        (event_names[k], stats.events[k]) for k in COUNTED_EVENTS]
    summary += [(gettext("Ledger: %(kind)s") % {"kind": gettext(k.label)}, stats.ledger[k])
                for k in LedgerKind]
    summary += [(gettext("Cash collected"), stats.cash_collected),
                (gettext("Fees"), stats.fees), (gettext("Payouts"), stats.payouts)]
    day_columns = [Column(gettext("Day"), "date"),
                   *(Column(event_names[k], "integer") for k in COUNTED_EVENTS),
                   *(Column(gettext(k.label), "money") for k in LedgerKind)]
    day_rows = ([d.day, *(d.events.get(k, 0) for k in COUNTED_EVENTS),
                 *(d.ledger.get(k, Decimal(0)) for k in LedgerKind)] for d in stats.days)
    write_xlsx(target, [
        Sheet(gettext("Summary"), [Column(gettext("Figure"), width=40),
                                   Column(gettext("Value"), "number")],
              summary, caption=caption),
        Sheet(gettext("Per day"), day_columns, day_rows, caption=caption),
    ], rtl=rtl)
