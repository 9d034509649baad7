"""Named effects a workflow transition can run, in the same transaction as the change.

The registry is what administrators choose from when editing a transition; each effect is a
function of (session, actor, record, status label). Unknown or inapplicable effects are refused
rather than skipped, so a workflow never silently does less than it says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from locales import translations
from schema.base import N_
from schema.catalog import StockLevel
from schema.lockers import LedgerKind, LockerTariff, Parcel, ParcelEventKind
from schema.orders import MessageKind, Order
from services import ledger
from services.actor import Actor
from services.cells import free_cell
from services.errors import Refused
from services.outbox import queue_customer_message, queue_message
from services.parcel_events import emit
from services.points import award_points as award_order_points

EffectFn = Callable[[Session, Actor, Any, str], None]


@dataclass(frozen=True)
class Effect:
    code: str
    label: str
    run: EffectFn


def _customer_language(record: Any) -> str:
    if isinstance(record, Parcel):
        return record.recipient_language or "en"
    customer = getattr(record, "customer", None)
    return getattr(customer, "language", None) or "en"


def _status_text(record: Any, status_label: str) -> str:
    lang = _customer_language(record)
    template = translations(lang).gettext("%(record)s: the status is now \u201c%(status)s\u201d.")
    return template % {"record": str(record), "status": status_label}


def notify_customer_sms(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    body = _status_text(record, status_label)
    if isinstance(record, Order):
        queue_customer_message(session, record, MessageKind.SMS, body, operator_id=actor.user_id)
    elif isinstance(record, Parcel) and record.recipient_phone:
        queue_message(session, "sms", record.recipient_phone, body, related_table="parcels",
                      related_id=record.id)
    else:
        raise Refused("%(record)s has no phone number to send an SMS to.", record=str(record))


def notify_customer_email(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    if not isinstance(record, Order):
        raise Refused("Only orders can notify a customer by e-mail.")
    queue_customer_message(session, record, MessageKind.EMAIL, _status_text(record, status_label),
                           title=str(record), operator_id=actor.user_id)


def notify_courier(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    courier = getattr(record, "courier", None)
    if courier is None or not courier.mobile:
        raise Refused("%(record)s has no courier with a mobile number.", record=str(record))
    queue_message(session, "sms", courier.mobile, f"{record}: {status_label}",
                  related_table=record.__tablename__, related_id=record.id)


def release_locker_cell(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    if not isinstance(record, Parcel):
        raise Refused("Only parcels occupy locker cells.")
    free_cell(session, record)


def return_stock(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    if not isinstance(record, Order):
        raise Refused("Only orders hold goods to return to stock.")
    for line in record.lines:
        if line.warehouse_id is None:
            continue
        # An atomic increment: concurrent returns and sales never lose an update.
        session.execute(
            update(StockLevel)
            .where(StockLevel.product_id == line.product_id,
                   StockLevel.warehouse_id == line.warehouse_id,
                   StockLevel.variant_id.is_(None) if line.variant_id is None
                   else StockLevel.variant_id == line.variant_id)
            .values(quantity=StockLevel.quantity + line.quantity)
        )


def charge_fee(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    """Charge the merchant the storage price of the parcel's locker zone (R-RULE-8)."""
    if not isinstance(record, Parcel):
        raise Refused("Only parcels are charged locker fees.")
    zone_id = record.locker.zone_id
    tariffs = session.scalars(select(LockerTariff).where(LockerTariff.zone_id == zone_id)).all()
    tariff = next((t for t in tariffs if t.size == record.size), None) or next(
        (t for t in tariffs if t.size is None), None)
    if tariff is None:
        raise Refused("No locker tariff is set for zone %(zone)s.", zone=str(record.locker.zone))
    amount: Decimal = tariff.storage_price_3_days
    ledger.post(session, record.merchant_id, LedgerKind.CHARGE, -amount, tariff.currency,
                parcel_id=record.id, description=f"{record.barcode}: {status_label}")


# The journey's event of a parcel arriving in a state, whoever moves it there: the terminal and
# the sorting centre, or a manager or technician by hand on the parcel page.
PARCEL_STATE_EVENTS = {
    "at_sorting_center": ParcelEventKind.RECEIVED,
    "in_locker": ParcelEventKind.PLACED,
    "picked_up": ParcelEventKind.PICKED_UP,
    "storage_expired": ParcelEventKind.EXPIRED,
    "returned": ParcelEventKind.RETURNED,
}


def record_parcel_event(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    """Write the parcel's event for the state it has just reached (once per parcel and kind;
    the merchant's charges follow it, services.locker_charges)."""
    if not isinstance(record, Parcel):
        raise Refused("Only parcels have journey events.")
    kind = PARCEL_STATE_EVENTS.get(record.status)
    if kind is None:
        raise Refused("The state %(state)s of a parcel has no journey event.",
                      state=status_label)
    emit(session, record, kind)


def award_points(session: Session, actor: Actor, record: Any, status_label: str) -> None:
    """Credit the customer with the delivered order's points and regroup it (R-RULE-2)."""
    if not isinstance(record, Order):
        raise Refused("Only orders earn the customer points.")
    award_order_points(session, record)


EFFECTS: dict[str, Effect] = {
    e.code: e for e in (
        Effect("notify_customer_sms", N_("Notify the customer by SMS"), notify_customer_sms),
        Effect("notify_customer_email", N_("Notify the customer by e-mail"),
               notify_customer_email),
        Effect("notify_courier", N_("Notify the courier"), notify_courier),
        Effect("release_locker_cell", N_("Release the locker cell"), release_locker_cell),
        Effect("return_stock", N_("Return the goods to stock"), return_stock),
        Effect("charge_fee", N_("Charge the merchant the storage fee"), charge_fee),
        Effect("award_points", N_("Award the customer the order's points"), award_points),
        Effect("record_parcel_event", N_("Record the parcel's journey event (and its charges)"),
               record_parcel_event),
    )
}


def run_effects(session: Session, actor: Actor, record: Any, codes: tuple[str, ...],
                status_label: str) -> None:
    for code in codes:
        effect = EFFECTS.get(code)
        if effect is None:
            raise Refused("The workflow names an unknown effect: %(effect)s.", effect=code)
        effect.run(session, actor, record, status_label)
