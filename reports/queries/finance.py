"""Finance reports (R-REP-2): gateway transactions for reconciliation, merchant balances
and payouts."""

from __future__ import annotations

from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from reports.queries.common import (
    Report,
    ReportColumn,
    ReportParams,
    ReportTable,
    currency_totals,
    money_sum,
    order_scope,
    scoped_merchant,
    translator,
)
from schema.base import N_
from schema.catalog import Warehouse
from schema.invoices import GatewayTransaction
from schema.lockers import LedgerEntry, LedgerKind, Payout, PayoutStatus
from schema.orders import Order
from schema.payments import PaymentGateway
from schema.people import Merchant

# The status a gateway transaction ends in when the money was taken.
GATEWAY_PAID = "paid"

GATEWAY_COLUMNS = (
    ReportColumn("gateway", N_("Gateway")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("transactions", N_("Transactions"), "integer"),
    ReportColumn("successful", N_("Successful"), "integer"),
    ReportColumn("amount", N_("Amount received"), "money"),
    ReportColumn("orders", N_("Orders"), "integer"),
    ReportColumn("mismatched", N_("Orders that do not match"), "integer"),
)
MISMATCH_COLUMNS = (
    ReportColumn("order", N_("Order number")),
    ReportColumn("date", N_("Order date"), "date"),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("payable", N_("Payable"), "money"),
    ReportColumn("recorded", N_("Recorded as paid"), "money"),
    ReportColumn("gateway_paid", N_("Received by the gateway"), "money"),
    ReportColumn("difference", N_("Difference"), "money"),
)


def gateway_reconciliation(session: Session, params: ReportParams) -> Report:
    """Transactions that entered a gateway in the interval, per gateway; and every order whose
    money received by the gateway differs from what the order records as paid — the two
    sides an accountant reconciles. Deleted orders stay in: their money moved all the same."""
    where = [GatewayTransaction.entered_at >= params.start,
             GatewayTransaction.entered_at < params.end, *order_scope(params)]
    paid = GatewayTransaction.status == GATEWAY_PAID
    per_order = (
        select(GatewayTransaction.order_id.label("order_id"),
               money_sum(case((paid, GatewayTransaction.amount), else_=0)).label("received"))
        .join(Order, Order.id == GatewayTransaction.order_id)
        .where(*where)
        .group_by(GatewayTransaction.order_id)
        .subquery()
    )
    mismatched = select(per_order.c.order_id).join(Order, Order.id == per_order.c.order_id) \
        .where(per_order.c.received != Order.paid_amount)
    summary = [
        (name or "—", currency, count, int(successful or 0), amount, orders, bad)
        for _id, name, currency, count, successful, amount, orders, bad in session.execute(
            select(GatewayTransaction.gateway_id, PaymentGateway.name,
                   GatewayTransaction.currency, func.count(GatewayTransaction.id),
                   func.sum(case((paid, 1), else_=0)),
                   money_sum(case((paid, GatewayTransaction.amount), else_=0)),
                   func.count(distinct(GatewayTransaction.order_id)),
                   func.count(distinct(case((GatewayTransaction.order_id.in_(mismatched),
                                             GatewayTransaction.order_id)))))
            .outerjoin(PaymentGateway, PaymentGateway.id == GatewayTransaction.gateway_id)
            .join(Order, Order.id == GatewayTransaction.order_id)
            .where(*where)
            .group_by(GatewayTransaction.gateway_id, PaymentGateway.name,
                      GatewayTransaction.currency)
            .order_by(GatewayTransaction.currency, PaymentGateway.name))
    ]
    details = [
        (number, ordered_at.date(), currency, payable, recorded, received, received - recorded)
        for number, ordered_at, currency, payable, recorded, received in session.execute(
            select(Order.number, Order.ordered_at, Order.currency, Order.payable,
                   Order.paid_amount, per_order.c.received)
            .join(per_order, per_order.c.order_id == Order.id)
            .where(per_order.c.received != Order.paid_amount)
            .order_by(Order.currency, Order.ordered_at, Order.number))
    ]
    return Report("gateway_reconciliation", N_("Gateway transactions for reconciliation"),
                  params, [
                      ReportTable(N_("Transactions per gateway"), GATEWAY_COLUMNS, summary,
                                  currency_totals(GATEWAY_COLUMNS, summary, (
                                      "transactions", "successful", "amount", "orders",
                                      "mismatched"))),
                      ReportTable(N_("Orders that do not match"), MISMATCH_COLUMNS, details,
                                  currency_totals(MISMATCH_COLUMNS, details, (
                                      "payable", "recorded", "gateway_paid", "difference"))),
                  ])


LEDGER_KINDS = (LedgerKind.DEPOSIT, LedgerKind.CHARGE, LedgerKind.CASH_COLLECTED,
                LedgerKind.FEE, LedgerKind.PAYOUT, LedgerKind.ADJUSTMENT)
BALANCE_COLUMNS = (
    ReportColumn("merchant", N_("Merchant")),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("opening", N_("Opening balance"), "money"),
    *(ReportColumn(kind.value, kind.label, "money") for kind in LEDGER_KINDS),
    ReportColumn("closing", N_("Closing balance"), "money"),
)
PAYOUT_COLUMNS = (
    ReportColumn("merchant", N_("Merchant")),
    ReportColumn("period_start", N_("Period start"), "date"),
    ReportColumn("period_end", N_("Period end"), "date"),
    ReportColumn("currency", N_("Currency")),
    ReportColumn("amount", N_("Amount"), "money"),
    ReportColumn("fee", N_("Fee"), "money"),
    ReportColumn("status", N_("Status")),
    ReportColumn("paid_at", N_("Paid at"), "date"),
)


def merchant_balances(session: Session, params: ReportParams) -> Report:
    """Each merchant's prepaid ledger over the interval: the balance before it, the movements
    in it by kind, the balance after it; and the payouts whose period overlaps it. With a
    warehouse chosen, the figures are its merchant's."""
    merchant = scoped_merchant(params)
    conditions = []
    if merchant is not None:
        conditions.append(LedgerEntry.merchant_id == merchant)
    if params.warehouse_id is not None:
        conditions.append(LedgerEntry.merchant_id.in_(
            select(Warehouse.merchant_id).where(Warehouse.id == params.warehouse_id)))
    before = LedgerEntry.at < params.start
    balances = [tuple(r[1:]) for r in session.execute(
        select(Merchant.id, Merchant.name, LedgerEntry.currency,
               money_sum(case((before, LedgerEntry.amount), else_=0)),
               *(money_sum(case((and_(~before, LedgerEntry.kind == kind), LedgerEntry.amount),
                                else_=0)) for kind in LEDGER_KINDS),
               money_sum(LedgerEntry.amount))
        .join(Merchant, Merchant.id == LedgerEntry.merchant_id)
        .where(LedgerEntry.at < params.end, *conditions)
        .group_by(Merchant.id, Merchant.name, LedgerEntry.currency)
        .order_by(LedgerEntry.currency, Merchant.name)
    ).all()]
    summed = ("opening", *(kind.value for kind in LEDGER_KINDS), "closing")

    payout_conditions = [Payout.period_start <= params.date_to,
                         Payout.period_end >= params.date_from]
    if merchant is not None:
        payout_conditions.append(Payout.merchant_id == merchant)
    if params.warehouse_id is not None:
        payout_conditions.append(Payout.merchant_id.in_(
            select(Warehouse.merchant_id).where(Warehouse.id == params.warehouse_id)))
    _ = translator(params)
    payouts = [
        (name, start, end, currency, amount, fee, _(PayoutStatus(status).label),
         paid_at.date() if paid_at else None)
        for name, start, end, currency, amount, fee, status, paid_at in session.execute(
            select(Merchant.name, Payout.period_start, Payout.period_end, Payout.currency,
                   Payout.amount, Payout.fee, Payout.status, Payout.paid_at)
            .join(Merchant, Merchant.id == Payout.merchant_id)
            .where(*payout_conditions)
            .order_by(Payout.currency, Payout.period_start, Merchant.name))
    ]
    return Report("merchant_balances", N_("Merchant balances and payouts"), params, [
        ReportTable(N_("Merchant balances"), BALANCE_COLUMNS, balances,
                    currency_totals(BALANCE_COLUMNS, balances, summed)),
        ReportTable(N_("Payouts"), PAYOUT_COLUMNS, payouts,
                    currency_totals(PAYOUT_COLUMNS, payouts, ("amount", "fee"))),
    ])
