"""The printable documents: what each is about, its layouts (templates) and its context builder.

``DOCUMENTS`` is the registry the admin's print menus are built from. A builder reads through the
schema in the caller's session — so the person's scoping applies — and returns one plain context
per document (``reports.data``); ``prepare`` checks and assembles a ``PrintJob`` and
``reports.batch.render_job`` turns it into one PDF.

Adding a document: a template in ``templates/documents/``, a builder here (or reuse
``_order_contexts``), one ``DocumentKind`` in ``DOCUMENTS`` (see the README, "Documents").

A locker parcel's stickers (R-LOCK-3) are three kinds about parcels: ``parcel_sticker`` (the
100 × 150 mm label, one per parcel), ``parcel_sheet`` (four to an A4 sheet, one context per
sheet) and ``parcel_dropoff`` (the sorting centre's); ``PARCEL_LAYOUTS`` maps the sticker
route's ``?layout=`` to them. ``reports.zpl`` prints the label for thermal printers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from reports.data import (
    Money,
    OrderData,
    courier_data,
    day_bounds,
    load_orders,
    merchant_party,
    order_data,
    parcel_cash_to_collect,
    totals_by_currency,
)
from schema.base import N_
from schema.couriers import Courier
from schema.lockers import CashCollection, LedgerEntry, LedgerKind, Parcel, Payout
from schema.people import Merchant
from schema.workflows import StatusChange, Workflow, WorkflowState
from services.cash_collection import act_payments
from services.documents import DocumentNotFound
from services.errors import Refused

Context = dict[str, Any]


class Subject(StrEnum):
    """What a document is about: decides the form that asks for it."""

    ORDER = "order"                      # one order (several: one document each, one PDF)
    ORDERS = "orders"                    # many orders in one document (a sheet of labels)
    COURIER_DAY = "courier_day"          # a courier's orders for a day
    CASH_COLLECTION = "cash_collection"  # one cash collection
    MERCHANT_PERIOD = "merchant_period"  # a merchant and a date interval
    PAYOUT = "payout"                    # one payout
    PARCEL = "parcel"                    # one locker parcel (several: one document each)
    PARCELS = "parcels"                  # many parcels on A4 sheets (one page per sheet)


@dataclass(frozen=True)
class PrintRequest:
    """What the person asked to print. ``ids`` are orders, or the one courier, cash collection
    or payout the document is about."""

    ids: tuple[int, ...] = ()
    day: date | None = None
    date_from: date | None = None
    date_to: date | None = None
    merchant_id: int | None = None
    reason: str | None = None


Builder = Callable[[Session, PrintRequest, str], list[Context]]


@dataclass(frozen=True)
class Layout:
    code: str
    label: str
    template: str


@dataclass(frozen=True)
class DocumentKind:
    code: str
    label: str
    subject: Subject
    layouts: tuple[Layout, ...]
    build: Builder
    # The table whose "details" (or "list") grant lets a person print it.
    table: str
    description: str = ""

    def layout(self, code: str | None) -> Layout:
        for layout in self.layouts:
            if layout.code == code:
                return layout
        return self.layouts[0]


@dataclass(frozen=True)
class PrintJob:
    template: str
    contexts: list[Context]
    lang: str
    filename: str
    pages_hint: int = field(default=0)


def _now() -> datetime:
    return datetime.now(UTC)


# --- orders ----------------------------------------------------------------------------------


# Orders are read this many at a time: a group print of thousands never holds them all as ORM
# objects at once, only as the plain data the templates need.
LOAD_BATCH = 200


def _orders(session: Session, request: PrintRequest, lang: str) -> list[OrderData]:
    if not request.ids:
        raise Refused("Select at least one order first.")
    wanted = list(dict.fromkeys(request.ids))
    found: dict[int, OrderData] = {}
    for start in range(0, len(wanted), LOAD_BATCH):
        orders = load_orders(session, wanted[start:start + LOAD_BATCH])
        found.update((data.id, data) for data in order_data(session, orders, lang))
        session.expunge_all()  # read-only: let the batch's objects go
    if len(found) != len(wanted):
        raise DocumentNotFound("The order was not found, or you may not see it.")
    return [found[i] for i in request.ids]


def _order_contexts(check: Callable[[OrderData], None] | None = None) -> Builder:
    def build(session: Session, request: PrintRequest, lang: str) -> list[Context]:
        printed_at = _now()
        result = []
        for order in _orders(session, request, lang):
            if check is not None:
                check(order)
            result.append({"order": order, "printed_at": printed_at,
                           "reason": request.reason or "", "refund": refund_amount(order)})
        return result

    return build


def _individual_only(order: OrderData) -> None:
    if order.is_legal:
        raise Refused("Order %(number)s is for a legal entity: print the invoice with price "
                      "agreement instead.", number=order.number)


def _legal_only(order: OrderData) -> None:
    if not order.is_legal:
        raise Refused("Order %(number)s is for an individual: print the order contract "
                      "instead.", number=order.number)
    if not order.buyer.tax_id:
        raise Refused("Order %(number)s has no buyer tax id: enter it on the order first.",
                      number=order.number)


def _labels_sheet(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    return [{"orders": _orders(session, request, lang), "printed_at": _now()}]


# --- courier route sheet ---------------------------------------------------------------------


def _route_sheet(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    """The courier's open tasks, and the tasks it closed that day (R-COUR-2)."""
    courier = session.get(Courier, request.ids[0]) if request.ids else None
    if courier is None:
        raise DocumentNotFound("The courier was not found, or you may not see it.")
    day = request.day or _now().date()
    start, end = day_bounds(day)
    from schema.orders import Order

    terminal = set(session.scalars(
        select(WorkflowState.code).join(Workflow, Workflow.id == WorkflowState.workflow_id)
        .where(Workflow.entity == "orders", Workflow.field == "courier_status",
               WorkflowState.is_terminal)))
    closed_that_day = (
        select(StatusChange.record_id)
        .where(StatusChange.table_name == "orders", StatusChange.at >= start,
               StatusChange.at < end, StatusChange.to_state.in_(terminal))
        .scalar_subquery()
    )
    ids = list(session.scalars(
        select(Order.id).where(
            Order.courier_id == courier.id, Order.deleted_at.is_(None),
            Order.ordered_at < end,
            or_(Order.courier_status.is_(None), Order.courier_status.not_in(terminal),
                Order.id.in_(closed_that_day)))
        .order_by(Order.recipient_city, Order.ordered_at)))
    orders = order_data(session, load_orders(session, ids), lang) if ids else []
    # Only cash the courier takes at the door: a bank-slip or online order owes it nothing.
    to_collect = totals_by_currency([(o.cash_to_collect, o.currency) for o in orders
                                     if o.cash_to_collect > 0])
    return [{"courier": courier_data(courier), "day": day, "orders": orders,
             "to_collect": to_collect, "printed_at": _now()}]


# --- lockers and money -----------------------------------------------------------------------


def _cash_collection(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    collection = session.scalar(
        select(CashCollection).where(CashCollection.id == (request.ids or (0,))[0])
        .options(joinedload(CashCollection.locker), joinedload(CashCollection.collector)))
    if collection is None:
        raise DocumentNotFound("The cash collection was not found, or you may not see it.")
    locker = collection.locker
    # The act's figures as the service computed them (services.cash_collection); the payments
    # are its window re-read (since < at <= collected at), cash only.
    payments = act_payments(session, collection)
    return [{
        "collection": {
            "id": collection.id, "collected_at": collection.collected_at,
            "since": collection.since,
            "first_payment_at": payments[0].at if payments else None,
            "expected": collection.expected_amount, "amount": collection.amount,
            "difference": collection.difference, "currency": collection.currency,
            "note": collection.note or "",
            "collector": str(collection.collector),
        },
        "payments": payments,
        "tendered_total": sum((p.tendered for p in payments), Decimal(0)),
        "locker": {"code": locker.code, "name": locker.name,
                   "address": ", ".join(p for p in (locker.address, locker.city) if p)},
        "printed_at": _now(),
    }]


@dataclass(frozen=True)
class EntryData:
    at: datetime
    kind: str
    description: str
    parcel: str | None
    amount: Decimal
    currency: str


def _entries(rows: list[LedgerEntry]) -> list[EntryData]:
    return [EntryData(at=e.at, kind=e.kind.label, description=e.description or "",
                      parcel=e.parcel.barcode if e.parcel is not None else None,
                      amount=e.amount, currency=e.currency) for e in rows]


def _merchant_statement(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    merchant = session.get(Merchant, request.merchant_id or 0)
    if merchant is None:
        raise DocumentNotFound("The merchant was not found, or you may not see it.")
    date_from = request.date_from or _now().date().replace(day=1)
    date_to = request.date_to or _now().date()
    if date_to < date_from:
        raise Refused("The period ends before it starts.")
    start, _ = day_bounds(date_from)
    _, end = day_bounds(date_to)
    opening = session.execute(
        select(LedgerEntry.currency, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.merchant_id == merchant.id, LedgerEntry.at < start)
        .group_by(LedgerEntry.currency)).all()
    rows = list(session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.merchant_id == merchant.id, LedgerEntry.at >= start,
               LedgerEntry.at < end)
        .options(selectinload(LedgerEntry.parcel))
        .order_by(LedgerEntry.at, LedgerEntry.id)))
    entries = _entries(rows)
    currencies = sorted({c for c, _ in opening} | {e.currency for e in entries}
                        | {merchant.currency})
    opening_by = {c: Decimal(a or 0) for c, a in opening}
    summary = []
    for currency in currencies:
        own = [e for e in entries if e.currency == currency]
        credits = sum((e.amount for e in own if e.amount > 0), Decimal(0))
        debits = sum((e.amount for e in own if e.amount < 0), Decimal(0))
        start_balance = opening_by.get(currency, Decimal(0))
        summary.append({"currency": currency, "opening": start_balance, "credits": credits,
                        "debits": debits, "closing": start_balance + credits + debits})
    by_kind = [
        {"kind": kind.label, "totals": totals_by_currency(
            [(e.amount, e.currency) for e in entries if e.kind == kind.label])}
        for kind in LedgerKind if any(e.kind == kind.label for e in entries)
    ]
    return [{"merchant": merchant_party(merchant), "date_from": date_from, "date_to": date_to,
             "entries": entries, "summary": summary, "by_kind": by_kind,
             "printed_at": _now()}]


def _payout(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    """The payout statement (issue 13): the figures the payout was computed with
    (``services.payouts``: cash collected, fees, charges not covered, amount) and the period's
    ledger entries: the merchant's entries dated within the period's UTC days, plus the
    entries that name the payout (its PAYOUT entry, posted when it was paid, after the
    period). Entries are never edited, so the period's are found by date, not by a link."""
    payout = session.scalar(
        select(Payout).where(Payout.id == (request.ids or (0,))[0])
        .options(joinedload(Payout.merchant)))
    if payout is None:
        raise DocumentNotFound("The payout was not found, or you may not see it.")
    start, _ = day_bounds(payout.period_start)
    _, end = day_bounds(payout.period_end)
    rows = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.merchant_id == payout.merchant_id,
               or_(LedgerEntry.payout_id == payout.id,
                   (LedgerEntry.at >= start) & (LedgerEntry.at < end)))
        .options(selectinload(LedgerEntry.parcel))
        .order_by(LedgerEntry.at, LedgerEntry.id))
    return [{
        "payout": {
            "id": payout.id, "period_start": payout.period_start,
            "period_end": payout.period_end, "amount": payout.amount, "fee": payout.fee,
            "cash_total": payout.cash_total, "uncovered": payout.uncovered,
            "currency": payout.currency, "status": payout.status.label,
            "approved_at": payout.approved_at, "paid_at": payout.paid_at,
            "bank_reference": payout.bank_reference,
        },
        "merchant": merchant_party(payout.merchant),
        "entries": _entries(list(rows)),
        "printed_at": _now(),
    }]


# --- locker parcels (R-LOCK-3) ---------------------------------------------------------------


@dataclass(frozen=True)
class ParcelData:
    """What a parcel's stickers print. ``cash_to_collect`` is zero unless the buyer still owes
    the declared amount (``reports.data.parcel_cash_to_collect``): a prepaid or paid parcel
    shows no amount, or the buyer would be asked to pay twice."""

    id: int
    barcode: str
    merchant: str
    recipient_name: str
    recipient_phone: str | None
    locker_code: str
    locker_name: str
    locker_address: str
    cell_code: str | None
    size: str | None            # a CellSize label (English msgid; the template translates)
    drop_date: date | None
    weight_g: int | None
    cash_to_collect: Decimal
    currency: str


def load_parcels(session: Session, ids: tuple[int, ...]) -> list[ParcelData]:
    """The parcels of ``ids`` the session may see (scoping applies), in the order asked; one
    missing or hidden id refuses the whole print, so a merchant never learns another's."""
    if not ids:
        raise Refused("Select at least one parcel first.")
    wanted = list(dict.fromkeys(ids))
    found: dict[int, ParcelData] = {}
    for start in range(0, len(wanted), LOAD_BATCH):
        rows = session.scalars(
            select(Parcel).where(Parcel.id.in_(wanted[start:start + LOAD_BATCH]))
            .options(joinedload(Parcel.merchant), joinedload(Parcel.locker),
                     joinedload(Parcel.cell))).unique().all()
        for parcel in rows:
            locker, cell = parcel.locker, parcel.cell
            found[parcel.id] = ParcelData(
                id=parcel.id, barcode=parcel.barcode, merchant=parcel.merchant.name,
                recipient_name=parcel.recipient_name or "",
                recipient_phone=parcel.recipient_phone,
                locker_code=locker.code, locker_name=locker.name,
                locker_address=", ".join(p for p in (locker.address, locker.city) if p),
                cell_code=cell.code if cell is not None else None,
                size=(cell.size if cell is not None else parcel.size).label
                if (cell is not None or parcel.size is not None) else None,
                drop_date=parcel.drop_date, weight_g=parcel.weight_g,
                cash_to_collect=parcel_cash_to_collect(parcel.declared_price, parcel.paid),
                currency=parcel.currency)
        session.expunge_all()  # read-only: let the batch's objects go
    if len(found) != len(wanted):
        raise DocumentNotFound("The parcel was not found, or you may not see it.")
    return [found[i] for i in ids]


def _parcel_contexts(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    printed_at = _now()
    return [{"parcel": parcel, "printed_at": printed_at}
            for parcel in load_parcels(session, request.ids)]


# An A4 sheet holds four 105 x 148 mm labels (2 x 2, the common "4 per sheet" stock).
PARCELS_PER_SHEET = 4


def _parcel_sheets(session: Session, request: PrintRequest, lang: str) -> list[Context]:
    """One context per A4 sheet, so a group print is split and counted by pages."""
    parcels = load_parcels(session, request.ids)
    printed_at = _now()
    return [{"parcels": parcels[start:start + PARCELS_PER_SHEET], "printed_at": printed_at}
            for start in range(0, len(parcels), PARCELS_PER_SHEET)]


# --- the registry ----------------------------------------------------------------------------

A4 = N_("A4")
LABEL = N_("Label 100 × 150 mm")


def _one(code: str, template: str, label: str = A4) -> tuple[Layout, ...]:
    return (Layout(code, label, f"documents/{template}"),)


DOCUMENTS: dict[str, DocumentKind] = {d.code: d for d in (
    DocumentKind("invoice", N_("Invoice"), Subject.ORDER, (
        Layout("a4", A4, "documents/invoice_a4.html"),
        Layout("receipt", N_("80 mm receipt"), "documents/invoice_receipt.html"),
    ), _order_contexts(), "orders"),
    DocumentKind("contract", N_("Order contract (individual)"), Subject.ORDER,
                 _one("a4", "contract.html"), _order_contexts(_individual_only), "orders"),
    DocumentKind("price_agreement", N_("Invoice with price agreement (legal entity)"),
                 Subject.ORDER, _one("a4", "price_agreement.html"),
                 _order_contexts(_legal_only), "orders"),
    DocumentKind("waybill", N_("Waybill (three copies)"), Subject.ORDER,
                 _one("a4", "waybill.html"), _order_contexts(), "orders"),
    DocumentKind("sticker", N_("Parcel sticker"), Subject.ORDER,
                 _one("label", "sticker.html", LABEL),
                 _order_contexts(), "orders"),
    DocumentKind("refusal", N_("Refusal statement"), Subject.ORDER,
                 _one("a4", "refusal.html"), _order_contexts(), "orders"),
    DocumentKind("summary", N_("Order summary for the buyer"), Subject.ORDER,
                 _one("a4", "order_summary.html"), _order_contexts(), "orders"),
    DocumentKind("labels", N_("Barcode labels sheet"), Subject.ORDERS,
                 _one("a4", "labels_sheet.html", N_("A4, 3 × 8 labels")), _labels_sheet,
                 "orders"),
    DocumentKind("route_sheet", N_("Courier route sheet"), Subject.COURIER_DAY,
                 _one("a4", "route_sheet.html"), _route_sheet, "couriers"),
    DocumentKind("cash_collection", N_("Cash-collection act"), Subject.CASH_COLLECTION,
                 _one("a4", "cash_collection.html"), _cash_collection, "cash_collections"),
    DocumentKind("merchant_statement", N_("Merchant statement"), Subject.MERCHANT_PERIOD,
                 _one("a4", "merchant_statement.html"), _merchant_statement,
                 "ledger_entries"),
    DocumentKind("payout", N_("Payout statement"), Subject.PAYOUT,
                 _one("a4", "payout.html"), _payout, "payouts"),
    DocumentKind("parcel_sticker", N_("Parcel sticker"), Subject.PARCEL,
                 _one("label", "parcel_sticker.html", LABEL), _parcel_contexts, "parcels"),
    DocumentKind("parcel_sheet", N_("Parcel stickers on A4 sheets"), Subject.PARCELS,
                 _one("a4", "parcel_sheet.html", N_("A4, 2 × 2 labels")), _parcel_sheets,
                 "parcels"),
    DocumentKind("parcel_dropoff", N_("Drop-off sticker (sorting centre)"), Subject.PARCEL,
                 _one("label", "parcel_dropoff.html", LABEL), _parcel_contexts, "parcels"),
)}

ORDER_DOCUMENTS = tuple(d for d in DOCUMENTS.values() if d.subject == Subject.ORDER)
GROUP_DOCUMENTS = tuple(d for d in DOCUMENTS.values()
                        if d.subject in (Subject.ORDER, Subject.ORDERS))
PARCEL_DOCUMENTS = tuple(d for d in DOCUMENTS.values()
                         if d.subject in (Subject.PARCEL, Subject.PARCELS))
# ``?layout=`` of a parcel's sticker route: which document each layout is.
PARCEL_LAYOUTS = {"label": "parcel_sticker", "a4": "parcel_sheet", "dropoff": "parcel_dropoff"}


def document(code: str) -> DocumentKind:
    found = DOCUMENTS.get(code)
    if found is None:
        raise DocumentNotFound("There is no document %(code)s.", code=code)
    return found


def _filename(kind: DocumentKind, contexts: list[Context], request: PrintRequest) -> str:
    if kind.subject == Subject.ORDER and len(contexts) == 1:
        return f"{kind.code}-{contexts[0]['order'].number}.pdf"
    if kind.subject in (Subject.ORDER, Subject.ORDERS):
        return f"{kind.code}-{len(request.ids)}-orders.pdf"
    if kind.subject in (Subject.PARCEL, Subject.PARCELS):
        if len(request.ids) == 1:
            first = contexts[0].get("parcel") or contexts[0]["parcels"][0]
            return f"{kind.code}-{first.barcode}.pdf"
        return f"{kind.code}-{len(request.ids)}-parcels.pdf"
    if kind.subject == Subject.COURIER_DAY:
        return f"{kind.code}-{request.ids[0]}-{contexts[0]['day'].isoformat()}.pdf"
    if kind.subject == Subject.MERCHANT_PERIOD:
        ctx = contexts[0]
        return f"{kind.code}-{request.merchant_id}-{ctx['date_from']}-{ctx['date_to']}.pdf"
    return f"{kind.code}-{request.ids[0]}.pdf"


def prepare(session: Session, code: str, layout: str | None, request: PrintRequest,
            lang: str) -> PrintJob:
    """Check and assemble what to print, in the caller's session (scoping applies)."""
    kind = document(code)
    contexts = kind.build(session, request, lang)
    return PrintJob(template=kind.layout(layout).template, contexts=contexts, lang=lang,
                    filename=_filename(kind, contexts, request))


def refund_amount(order: OrderData) -> Decimal:
    """A refusal refunds the goods' price, not the delivery (R-ORD-13)."""
    shipping = Decimal(0) if order.postpaid_shipping else order.shipping_cost
    return order.payable - shipping


__all__ = [
    "DOCUMENTS", "GROUP_DOCUMENTS", "ORDER_DOCUMENTS", "PARCEL_DOCUMENTS", "PARCEL_LAYOUTS",
    "DocumentKind", "DocumentNotFound", "Layout", "Money", "ParcelData", "PrintJob",
    "PrintRequest", "Subject", "document", "load_parcels", "prepare", "refund_amount",
]
