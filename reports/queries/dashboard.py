"""The figures of the admin's start page: orders and revenue today and this month (per
currency), orders by status and per day over the last 30 days, lockers' occupancy.

Each is one GROUP BY over an indexed range (``orders.ordered_at``, ``locker_cells.locker_id,
state``), so the page stays fast with a million orders: it reads a month of orders at most,
never the whole table. Days are UTC days, as in the reports. The person's scoping applies
(a merchant's, an operator's or a courier's own orders).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from reports.queries.common import ReportParams, counted_orders, day_of, money_sum, utc_day
from schema.lockers import CellState, Locker, LockerCell
from schema.orders import Order
from services.records import status_labels

CHART_DAYS = 30


@dataclass(frozen=True)
class Takings:
    """Orders and what they are worth, in one currency."""

    currency: str
    today_orders: int
    today_revenue: Decimal
    month_orders: int
    month_revenue: Decimal


@dataclass(frozen=True)
class StatusCount:
    code: str
    label: str
    colour: str
    orders: int


@dataclass(frozen=True)
class DayCount:
    day: date
    orders: int


@dataclass(frozen=True)
class LockerLoad:
    code: str
    name: str
    cells: int
    free: int
    reserved: int
    occupied: int
    out_of_order: int

    @property
    def busy(self) -> int:
        return self.reserved + self.occupied

    @property
    def percent(self) -> int:
        usable = self.cells - self.out_of_order
        return round(self.busy * 100 / usable) if usable else 0


def today_of(now: datetime) -> date:
    return now.astimezone(UTC).date()


def takings(session: Session, now: datetime) -> list[Takings]:
    """Today's and this month's orders and revenue (payable), one row per currency."""
    today = today_of(now)
    month = ReportParams(today.replace(day=1), today)
    today_start = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    is_today = Order.ordered_at >= today_start
    rows = session.execute(
        select(Order.currency, func.sum(case((is_today, 1), else_=0)),
               money_sum(case((is_today, Order.payable), else_=0)),
               func.count(Order.id), money_sum(Order.payable))
        .where(*counted_orders(month))
        .group_by(Order.currency)
        .order_by(Order.currency)
    ).all()
    return [Takings(currency, int(today_n or 0), today_sum, int(month_n), month_sum)
            for currency, today_n, today_sum, month_n, month_sum in rows]


def _last_days(now: datetime) -> ReportParams:
    today = today_of(now)
    return ReportParams(today - timedelta(days=CHART_DAYS - 1), today)


def status_counts(session: Session, now: datetime, language: str) -> list[StatusCount]:
    """Orders of the last 30 days by their status now, in the workflow's order."""
    counts = dict(session.execute(
        select(Order.status, func.count(Order.id))
        .where(*counted_orders(_last_days(now))).group_by(Order.status)
    ).all())
    labels = {code: label for (table, column, code), label in
              status_labels(session, language).items() if (table, column) == ("orders", "status")}
    known = [StatusCount(code, label.text, label.colour, int(counts[code]))
             for code, label in labels.items() if code in counts]
    unknown = [StatusCount(code, code, "#6c757d", int(n)) for code, n in sorted(counts.items())
               if code not in labels]
    return known + unknown


def orders_per_day(session: Session, now: datetime) -> list[DayCount]:
    """Orders per day over the last 30 days, days without orders included."""
    params = _last_days(now)
    day = utc_day(Order.ordered_at)
    counts = {day_of(d): int(n) for d, n in session.execute(
        select(day, func.count(Order.id)).where(*counted_orders(params)).group_by(day))}
    return [DayCount(d, counts.get(d, 0)) for d in params.days()]


def locker_loads(session: Session) -> list[LockerLoad]:
    """Every active locker's cells by state (the index on locker_id, state covers it)."""
    states = [func.sum(case((LockerCell.state == state, 1), else_=0)) for state in CellState]
    rows = session.execute(
        select(Locker.code, Locker.name, func.count(LockerCell.id), *states)
        .join(LockerCell, LockerCell.locker_id == Locker.id)
        .where(Locker.active.is_(True))
        .group_by(Locker.id, Locker.code, Locker.name)
        .order_by(Locker.code)
    ).all()
    loads = []
    for code, name, cells, *by_state in rows:
        n = dict(zip(CellState, (int(v or 0) for v in by_state), strict=True))
        loads.append(LockerLoad(code, name, int(cells), n[CellState.FREE],
                                n[CellState.RESERVED], n[CellState.OCCUPIED],
                                n[CellState.OUT_OF_ORDER]))
    return loads
