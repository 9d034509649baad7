"""Delivery reports (R-REP-2): courier performance, and lockers — occupancy, expired parcels,
the cash the terminals took (cash ``ParcelPayment`` rows) and the collection acts that emptied
them (``CashCollection``: expected, counted, difference)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from reports.queries.common import (
    Report,
    ReportColumn,
    ReportParams,
    ReportTable,
    counted_orders,
    currency_totals,
    money_sum,
    scoped_merchant,
    seconds_between,
    value_of,
    with_values,
)
from schema.base import N_
from schema.couriers import Courier
from schema.invoices import Payment, PaymentMethodCode
from schema.lockers import (
    CashCollection,
    CellState,
    Locker,
    LockerCell,
    Parcel,
    ParcelPayment,
    PaymentMethodAtLocker,
)
from schema.orders import Order
from schema.workflows import StatusChange, Workflow

# Codes of the courier-task workflow (seed/data/workflows/courier_task.yaml).
COURIER_WORKFLOW = "courier_task"
ASSIGNED, DELIVERED = "assigned", "delivered"
NOT_DELIVERED = ("failed", "returned")
# Parcels whose storage time ran out and still wait in a cell (the parcel workflow).
EXPIRED_PARCEL = "storage_expired"

COURIER_COLUMNS = (
    ReportColumn("courier", N_("Courier")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("assigned", N_("Assigned"), "integer"),
    ReportColumn("delivered", N_("Delivered"), "integer"),
    ReportColumn("not_delivered", N_("Refused or returned"), "integer"),
    ReportColumn("delivered_share", N_("Delivered, %"), "percent"),
    ReportColumn("cash", N_("Cash collected"), "money"),
    ReportColumn("hours", N_("Average delivery time, h"), "number"),
)


def _hours(seconds: float | None) -> Decimal | None:
    if seconds is None:
        return None
    return (Decimal(str(seconds)) / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def courier_performance(session: Session, params: ReportParams) -> Report:
    """Per courier, for the orders of the interval handed to a courier: how many were
    assigned, delivered, refused or returned, the cash taken on them, and the average time
    from assignment to delivery read from the status history."""
    where = [*counted_orders(params), Order.courier_id.is_not(None)]
    counts = session.execute(
        select(Order.courier_id, Order.currency, func.count(Order.id),
               func.sum(case((Order.courier_status == DELIVERED, 1), else_=0)),
               func.sum(case((Order.courier_status.in_(NOT_DELIVERED), 1), else_=0)))
        .where(*where).group_by(Order.courier_id, Order.currency)
    ).all()
    cash = {(courier, currency): amount for courier, currency, amount in session.execute(
        select(Order.courier_id, Payment.currency, money_sum(Payment.amount))
        .join(Order, Order.id == Payment.order_id)
        .where(*where, Payment.method == PaymentMethodCode.CASH)
        .group_by(Order.courier_id, Payment.currency)
    )}
    # Per order: first assignment and last delivery in the courier-task history.
    history = (
        select(StatusChange.record_id.label("order_id"),
               func.min(case((StatusChange.to_state == ASSIGNED, StatusChange.at)))
               .label("assigned_at"),
               func.max(case((StatusChange.to_state == DELIVERED, StatusChange.at)))
               .label("delivered_at"))
        .join(Workflow, Workflow.id == StatusChange.workflow_id)
        .where(Workflow.code == COURIER_WORKFLOW, StatusChange.table_name == "orders",
               StatusChange.record_id.in_(select(Order.id).where(*where)))
        .group_by(StatusChange.record_id)
        .subquery()
    )
    timings = {(courier, currency): seconds for courier, currency, seconds in session.execute(
        select(Order.courier_id, Order.currency,
               func.avg(seconds_between(history.c.assigned_at, history.c.delivered_at)))
        .join(history, history.c.order_id == Order.id)
        .where(Order.courier_status == DELIVERED, history.c.assigned_at.is_not(None),
               history.c.delivered_at.is_not(None))
        .group_by(Order.courier_id, Order.currency)
    )}
    names = dict(session.execute(
        select(Courier.id, Courier.full_name)
        .where(Courier.id.in_(sorted({courier for courier, *_ in counts})))
    ).all())
    rows = sorted(
        ((names.get(courier, f"#{courier}"), currency, int(assigned), int(delivered or 0),
          int(failed or 0), _share(int(delivered or 0), int(assigned)),
          cash.get((courier, currency), Decimal(0)), _hours(timings.get((courier, currency))))
         for courier, currency, assigned, delivered, failed in counts),
        key=lambda r: (r[1], r[0]),
    )
    totals = currency_totals(COURIER_COLUMNS, rows,
                             ("assigned", "delivered", "not_delivered", "cash"))
    overall = dict(session.execute(
        select(Order.currency,
               func.avg(seconds_between(history.c.assigned_at, history.c.delivered_at)))
        .join(history, history.c.order_id == Order.id)
        .where(Order.courier_status == DELIVERED, history.c.assigned_at.is_not(None),
               history.c.delivered_at.is_not(None))
        .group_by(Order.currency)
    ).all())

    def share_and_hours(total: tuple[Any, ...]) -> tuple[Any, ...]:
        delivered, assigned, currency = (value_of(COURIER_COLUMNS, total, key)
                                         for key in ("delivered", "assigned", "currency"))
        return with_values(COURIER_COLUMNS, total, delivered_share=_share(delivered, assigned),
                           hours=_hours(overall.get(currency)))

    totals = [share_and_hours(t) for t in totals]
    return Report("courier_performance", N_("Courier performance"), params,
                  [ReportTable(N_("Courier performance"), COURIER_COLUMNS, rows, totals)])


LOCKER_COLUMNS = (
    ReportColumn("locker", N_("Parcel locker")),
    ReportColumn("city", N_("City")),
    ReportColumn("cells", N_("Cells"), "integer"),
    ReportColumn("free", N_("Free"), "integer"),
    ReportColumn("reserved", N_("Reserved"), "integer"),
    ReportColumn("occupied", N_("Occupied"), "integer"),
    ReportColumn("out_of_order", N_("Out of order"), "integer"),
    ReportColumn("occupancy", N_("Occupancy, %"), "percent"),
    ReportColumn("expired", N_("Expired parcels"), "integer"),
)
CASH_COLUMNS = (
    ReportColumn("locker", N_("Parcel locker")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("payments", N_("Cash payments"), "integer"),
    ReportColumn("taken", N_("Cash taken at the terminal"), "money"),
    ReportColumn("collections", N_("Collections"), "integer"),
    ReportColumn("expected", N_("Expected at collection"), "money"),
    ReportColumn("amount", N_("Cash counted at collection"), "money"),
    ReportColumn("difference", N_("Difference"), "money"),
)


def _cell_counts(state: CellState) -> Any:
    return func.sum(case((LockerCell.state == state, 1), else_=0))


def _locker_cash(session: Session, params: ReportParams) -> list[tuple[Any, ...]]:
    """Per locker and currency in the interval: the cash payments the terminals recorded (the
    sum tendered, which is what the cash box holds: change goes to the buyer's phone; card
    payments are not cash) and the collection acts (expected, counted, difference)."""
    taken = {(locker_id, currency): (int(count), amount)
             for locker_id, currency, count, amount in session.execute(
                 select(ParcelPayment.locker_id, ParcelPayment.currency,
                        func.count(ParcelPayment.id), money_sum(ParcelPayment.tendered))
                 .where(ParcelPayment.method == PaymentMethodAtLocker.CASH,
                        ParcelPayment.at >= params.start, ParcelPayment.at < params.end)
                 .group_by(ParcelPayment.locker_id, ParcelPayment.currency))}
    acts = {(locker_id, currency): (int(count), expected, amount, difference)
            for locker_id, currency, count, expected, amount, difference in session.execute(
                select(CashCollection.locker_id, CashCollection.currency,
                       func.count(CashCollection.id), money_sum(CashCollection.expected_amount),
                       money_sum(CashCollection.amount), money_sum(CashCollection.difference))
                .where(and_(CashCollection.collected_at >= params.start,
                            CashCollection.collected_at < params.end))
                .group_by(CashCollection.locker_id, CashCollection.currency))}
    keys = set(taken) | set(acts)
    if not keys:
        return []
    names = {locker_id: f"{code} {name}" for locker_id, code, name in session.execute(
        select(Locker.id, Locker.code, Locker.name)
        .where(Locker.id.in_({locker_id for locker_id, _ in keys})))}
    zero = Decimal(0)
    rows = []
    for locker_id, currency in keys:
        payments, cash = taken.get((locker_id, currency), (0, zero))
        collections, expected, amount, difference = acts.get(
            (locker_id, currency), (0, zero, zero, zero))
        rows.append((names[locker_id], currency, payments, cash, collections, expected, amount,
                     difference))
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def lockers(session: Session, params: ReportParams) -> Report:
    """Cells by state now (occupancy counts reserved and occupied cells), parcels whose
    storage expired, and per locker and currency in the interval the cash its terminal took
    and the cash collected from it (``_locker_cash``)."""
    cells = session.execute(
        select(Locker.id, Locker.code, Locker.name, Locker.city, func.count(LockerCell.id),
               *(_cell_counts(state) for state in CellState))
        .outerjoin(LockerCell, LockerCell.locker_id == Locker.id)
        .group_by(Locker.id, Locker.code, Locker.name, Locker.city)
        .order_by(Locker.code)
    ).all()
    expired_query = select(Parcel.locker_id, func.count(Parcel.id)).where(
        Parcel.status == EXPIRED_PARCEL)
    # Parcels are the merchants' rows: a merchant's figures hold only its own.
    merchant = scoped_merchant(params)
    if merchant is not None:
        expired_query = expired_query.where(Parcel.merchant_id == merchant)
    expired = dict(session.execute(expired_query.group_by(Parcel.locker_id)).all())
    rows = []
    for locker_id, code, name, city, total, *states in cells:
        by_state = {state: int(n or 0) for state, n in zip(CellState, states, strict=True)}
        busy = by_state[CellState.RESERVED] + by_state[CellState.OCCUPIED]
        usable = int(total) - by_state[CellState.OUT_OF_ORDER]
        rows.append((f"{code} {name}", city, int(total), by_state[CellState.FREE],
                     by_state[CellState.RESERVED], by_state[CellState.OCCUPIED],
                     by_state[CellState.OUT_OF_ORDER], _share(busy, usable),
                     int(expired.get(locker_id, 0))))
    sums = [sum(r[n] for r in rows) for n in range(2, 7)]
    occupancy_total = _share(sums[2] + sums[3], sums[0] - sums[4])
    occupancy = ReportTable(
        N_("Locker occupancy"), LOCKER_COLUMNS, rows,
        [(None, None, *sums, occupancy_total, sum(r[8] for r in rows))] if rows else [],
    )
    # The cash in a locker is the operator's, not one merchant's: a merchant sees none of it.
    collected = [] if merchant is not None else _locker_cash(session, params)
    cash = ReportTable(N_("Cash taken at lockers and collected from them"), CASH_COLUMNS,
                       collected, currency_totals(CASH_COLUMNS, collected, (
                           "payments", "taken", "collections", "expected", "amount",
                           "difference")))
    notes = [N_("Cells and expired parcels are as they are now; cash is for the interval.")]
    if params.warehouse_id is not None:
        notes.append(N_("Lockers do not belong to a warehouse: the warehouse filter does not "
                        "apply to this report."))
    return Report("lockers", N_("Lockers: occupancy, expired parcels, cash"), params,
                  [occupancy, cash], notes)
