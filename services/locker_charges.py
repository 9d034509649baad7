"""The merchant's charges that follow the parcel events (issue 13, R-RULE-8, R-LOCK-8).

``charge_event(session, event)`` is called by ``services.parcel_events.emit`` right after a new
event row is written, in the step's transaction, and posts what the event costs or brings
through ``services.ledger.post`` (the one writer of entries and balances), each entry with the
event's id. The amounts are ``rules.locker_tariffs.charges_for`` (the semantics are stated
there); this module finds the inputs:

- the tariff: the rows of the event's locker zone, chosen for the event's cell size (the cell
  the parcel held, else the parcel's size) by ``rules.locker_tariffs.choose_tariff``, at the
  prices in force when the event happens;
- the fee percent: the merchant's ``cash_fee_percent`` when above 0, else the setting
  ``locker_cash_fee_percent`` (1.5); the fee is rounded half-up to the currency's decimals
  (``currencies.decimals``, 2 when the currency has no row);
- the late days: the parcel's ``stored_until`` against the event's time.

Refusals (only at registration; the caller's transaction is rolled back, nothing written):
no tariff for the locker's zone and cell size (``NoTariff``); a tariff in another currency than
the merchant's (``NoTariff``); a charge the balance plus the merchant's ``credit_limit`` does not
cover (``RegistrationNotCovered``, an ``InsufficientBalance`` naming the amount missing; the
check and the move are one conditional UPDATE, so concurrent registrations never take the
balance below −credit_limit). Later events never refuse the step they follow (a buyer's pickup
is not stopped by a tariff edited since): without a tariff in the merchant's currency they
charge nothing, and the warning is logged.

Once: an event that already has entries is not charged again (and the ledger's unique
(event_id, kind) is the last word), so a repeated step never charges twice.

Low balance: after an event that took money, when the balance is at or below the merchant's
``low_balance_threshold`` and ``low_balance_notified_at`` is empty, one e-mail goes to the
merchant's address (in the language of the merchant's first active user, else English) and
``low_balance_notified_at`` is set — by a conditional UPDATE, so concurrent charges send one.
A top-up above the threshold empties it again (``services.topups``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from locales import format_money, translations
from rules import locker_tariffs as rt
from schema.base import N_, utcnow
from schema.lockers import (
    LedgerEntry,
    LedgerKind,
    Locker,
    LockerTariff,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
)
from schema.people import Merchant, User
from services import ledger
from services.errors import Refused
from services.outbox import queue_message
from services.shop_settings import currency_places, setting

log = logging.getLogger(__name__)

DEFAULT_FEE_PERCENT = "1.5"  # the default of the setting locker_cash_fee_percent
CHARGED = {ParcelEventKind.REGISTERED, ParcelEventKind.RELEASED, ParcelEventKind.PAID,
           ParcelEventKind.PICKED_UP, ParcelEventKind.RETURNED}

LOW_SUBJECT = N_("Your Postdesk balance is low")
LOW_BODY = N_("Hello, %(name)s.\n\nYour prepaid balance is %(balance)s, at or below the "
              "warning level of %(threshold)s. Parcels can be registered while the balance "
              "plus your credit limit (%(limit)s) covers their charges: top up the balance by "
              "bank transfer with your payment reference %(reference)s.\n\nPostdesk")


class NoTariff(Refused):
    """The locker's zone has no tariff for the cell size in the merchant's currency."""

    code = "no_tariff"


class RegistrationNotCovered(ledger.InsufficientBalance):
    """The registration charge is more than the balance plus the credit limit."""

    code = "insufficient_balance"


def tariff_row(t: LockerTariff) -> rt.Tariff:
    return rt.Tariff(zone_id=t.zone_id, size=t.size.value if t.size is not None else None,
                     pickup_price=Decimal(t.pickup_price), delivery_price=Decimal(t.delivery_price),
                     storage_price=Decimal(t.storage_price_3_days),
                     storage_days=int(t.storage_days or 0),
                     unused_price=Decimal(t.unused_price or 0),
                     extra_day_price=Decimal(t.extra_day_price or 0), currency=t.currency, id=t.id)


def tariff_for(session: Session, zone_id: int | None, size: str | None) -> rt.Tariff | None:
    """The tariff of a zone for a cell size (the size's row, else the zone-wide row)."""
    if zone_id is None:
        return None
    rows = session.scalars(select(LockerTariff).where(LockerTariff.zone_id == zone_id)).all()
    return rt.choose_tariff([tariff_row(t) for t in rows], zone_id, size)


def fee_percent(session: Session, merchant: Merchant) -> Decimal:
    try:
        default = Decimal(setting(session, "locker_cash_fee_percent", DEFAULT_FEE_PERCENT))
    except ArithmeticError:
        default = Decimal(DEFAULT_FEE_PERCENT)
    return rt.fee_percent(Decimal(merchant.cash_fee_percent or 0), default)


def _money(amount: Decimal, currency: str, decimals: int) -> str:
    return f"{amount.quantize(Decimal(1).scaleb(-decimals))} {currency}"


def _tariff(session: Session, event: ParcelEvent, locker: Locker | None,
            merchant: Merchant) -> rt.Tariff | None:
    size = event.cell_size.value if event.cell_size is not None else None
    zone_id = locker.zone_id if locker is not None else None
    tariff = tariff_for(session, zone_id, size)
    registering = event.kind is ParcelEventKind.REGISTERED
    if tariff is None:
        if registering:
            zone = locker.zone if locker is not None and locker.zone is not None else None
            if zone is None:
                raise NoTariff("The parcel locker %(locker)s has no tariff zone, so a parcel "
                               "cannot be charged for it; ask the administrator to set its "
                               "zone.", locker=str(locker) if locker else "—")
            raise NoTariff("No locker tariff is set for zone %(zone)s.", zone=str(zone))
        log.warning("no tariff for parcel %s's %s event: nothing charged", event.parcel_id,
                    event.kind)
        return None
    if tariff.currency != merchant.currency:
        if registering:
            raise NoTariff("The tariff of zone %(zone)s is in %(tariff)s, but the store pays in "
                           "%(currency)s; ask the administrator for a tariff in %(currency)s.",
                           zone=str(locker.zone if locker else "—"), tariff=tariff.currency,
                           currency=merchant.currency)
        log.warning("tariff %s is in %s, merchant %s in %s: nothing charged", tariff.id,
                    tariff.currency, merchant.id, merchant.currency)
        return None
    return tariff


def charge_event(session: Session, event: ParcelEvent) -> list[LedgerEntry]:
    """Post what ``event`` costs or brings the merchant (see the module's docstring)."""
    if event.kind not in CHARGED:
        return []
    done = session.scalars(select(LedgerEntry).where(LedgerEntry.event_id == event.id)).all()
    if done:
        return list(done)  # charged already: a repeated step changes nothing
    parcel = session.get(Parcel, event.parcel_id)
    merchant = session.get(Merchant, event.merchant_id)
    assert parcel is not None and merchant is not None
    locker = session.get(Locker, event.locker_id) if event.locker_id is not None else None
    tariff = (None if event.kind is ParcelEventKind.PAID
              else _tariff(session, event, locker, merchant))
    currency = merchant.currency
    decimals = currency_places(session, event.currency or currency)
    facts = rt.EventFacts(kind=event.kind.value, drop_mode=parcel.drop_mode.value,
                          amount=event.amount, currency=event.currency or currency,
                          stored_until=parcel.stored_until, at=event.at)
    charges = rt.charges_for(facts, tariff, fee_percent(session, merchant), decimals)
    entries = []
    for charge in charges:
        note = f"{parcel.barcode}: {event.kind.value}"
        if charge.days:
            note += f", {charge.days} extra day(s)"
        floor = None
        if event.kind is ParcelEventKind.REGISTERED:
            floor = -Decimal(merchant.credit_limit or 0)
        try:
            entries.append(ledger.post(
                session, merchant.id, LedgerKind(charge.kind), charge.amount, charge.currency,
                parcel_id=parcel.id, description=note, at=event.at, event_id=event.id,
                floor=floor))
        except ledger.InsufficientBalance as short:
            raise RegistrationNotCovered(
                "Registering this parcel costs %(charge)s; the balance is %(balance)s and the "
                "credit limit %(limit)s, so %(short)s is missing. Top up the balance, or ask "
                "for a higher credit limit.", missing=short.missing,
                short=_money(short.missing, currency, decimals),
                charge=_money(-charge.amount, charge.currency, decimals),
                balance=_money(Decimal(short.params.get("balance", 0)), currency, decimals),
                limit=_money(Decimal(merchant.credit_limit or 0), currency, decimals),
            ) from None
    if any(e.amount < 0 for e in entries):
        warn_low_balance(session, merchant.id, event.at)
    return entries


def warn_low_balance(session: Session, merchant_id: int, now: datetime | None = None) -> bool:
    """E-mail the merchant once when the balance is at or below its warning level."""
    row = session.execute(
        select(Merchant.balance, Merchant.low_balance_threshold, Merchant.low_balance_notified_at,
               Merchant.email).where(Merchant.id == merchant_id)).one()
    balance, threshold, notified, email = row
    if threshold is None or notified is not None or Decimal(balance) > Decimal(threshold):
        return False
    if not (email or "").strip():
        return False  # nobody to tell; the warning waits for an address
    claimed = session.execute(
        update(Merchant).where(Merchant.id == merchant_id,
                               Merchant.low_balance_notified_at.is_(None))
        .values(low_balance_notified_at=now or utcnow())
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False  # a concurrent charge has sent it
    merchant = session.get(Merchant, merchant_id)
    assert merchant is not None
    language = session.scalar(select(User.language).where(
        User.merchant_id == merchant_id, User.active.is_(True)).order_by(User.id).limit(1))
    lang = language if language in ("en", "ru", "fa") else "en"
    gettext = translations(lang).gettext
    body = gettext(LOW_BODY) % {
        "name": merchant.name,
        "balance": format_money(Decimal(balance), merchant.currency, lang),
        "threshold": format_money(Decimal(threshold), merchant.currency, lang),
        "limit": format_money(Decimal(merchant.credit_limit or 0), merchant.currency, lang),
        "reference": merchant.payment_reference or "—",
    }
    queue_message(session, "email", email, body, subject=gettext(LOW_SUBJECT),
                  related_table="merchants", related_id=merchant_id)
    return True
