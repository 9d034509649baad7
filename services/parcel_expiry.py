"""Storage expiry at the lockers (R-LOCK-5): the worker's periodic jobs.

``postdesk worker`` imports this module, which registers three jobs (``services.worker.periodic``):

- ``send_reminders`` (every 15 minutes): each parcel ``in_locker`` whose ``stored_until`` falls
  within the next 24 hours and that has no ``reminded_at`` gets the last-day SMS in its
  ``recipient_language``: the locker (name and address), the deadline, and the amount to pay when
  money is declared and not yet paid. The pickup code is not repeated: only its hash is stored.
  ``reminded_at`` is set with a conditional UPDATE (``WHERE reminded_at IS NULL``) in the same
  transaction as the SMS, so a parcel is reminded once, whatever runs twice.
- ``expire_parcels`` (every 5 minutes): each parcel ``in_locker`` whose ``stored_until`` has
  passed. When its merchant's ``storage_extension_days`` is above 0 and the parcel was not
  extended yet: ``stored_until`` += those days, ``extended`` = True (conditional UPDATE on
  ``extended = false``) and an SMS gives the buyer the new deadline. Otherwise the parcel moves
  ``in_locker`` → ``storage_expired`` through ``services.status.change_status`` as the workflow's
  role ``system`` (history row; the transition's effects, e.g. the status SMS in the buyer's
  language) and emits ``expired``. That is the return task: the parcel keeps ``courier_id`` (the
  courier who placed it), so it stays on that courier's "My tasks" with the move to "returned",
  and the locker terminal lists it for collection; the cell stays occupied until collected.
- ``release_reservations`` (every 10 minutes): ``services.parcels.release_stale_reservations``
  (the registration's own rule, imported when the job runs) in one transaction.

Every parcel is its own transaction: one that fails is logged and skipped, the rest go on, and
the next pass tries it again. Each step re-reads its parcel and changes it only from the state it
expects, so concurrent workers and repeated passes change nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money, translations
from schema.base import utcnow
from schema.lockers import Parcel, ParcelEventKind
from schema.people import Merchant
from services.actor import Actor
from services.errors import Conflict
from services.outbox import queue_message
from services.parcel_events import emit
from services.shop_settings import shop_zone
from services.status import change_status
from services.terminal import amount_due, deadline_text  # the placement SMS's wording
from services.worker import periodic

log = logging.getLogger(__name__)

IN_LOCKER, EXPIRED = "in_locker", "storage_expired"
LAST_DAY = timedelta(hours=24)
# The worker's rules act as the workflow's "system" role; no person is behind them.
SYSTEM = Actor(user_id=None, username="system", role="system")


def _each(factory: sessionmaker[Session], ids: list[int],
          step: Callable[[Session, int], bool], what: str) -> int:
    """Run ``step`` for every id in its own transaction; count the parcels it changed."""
    done = 0
    for parcel_id in ids:
        try:
            with factory() as session, session.begin():
                done += bool(step(session, parcel_id))
        except Conflict:
            # Another worker (or the terminal) moved the parcel first: nothing to do here.
            log.info("%s: parcel %s changed meanwhile; left as it is", what, parcel_id)
        except Exception:
            log.exception("%s: parcel %s failed; the next pass tries it again", what, parcel_id)
    return done


def _due_amount(parcel: Parcel) -> str | None:
    """The amount still to pay at the locker as the buyer's language writes it, or None."""
    due = amount_due(parcel)
    return format_money(due, parcel.currency, parcel.recipient_language) if due > 0 else None


def _place(parcel: Parcel) -> str:
    locker = parcel.locker
    return f"{locker.name}, {locker.address}" if locker.address else locker.name


# --- the last-day reminder -----------------------------------------------------------------

def reminder_text(parcel: Parcel, zone: tzinfo) -> str:
    lang = parcel.recipient_language or "en"
    t = translations(lang).gettext
    params = {"barcode": parcel.barcode, "locker": _place(parcel),
              "deadline": deadline_text(parcel, lang, zone)}
    text = t("Last day: parcel %(barcode)s waits for you at %(locker)s until %(deadline)s. "
             "Use the pickup code from our first message.") % params
    amount = _due_amount(parcel)
    if amount is not None:
        text += " " + t("To pay at the locker: %(amount)s.") % {"amount": amount}
    return text


def remind(session: Session, parcel_id: int, now: datetime) -> bool:
    parcel = session.get(Parcel, parcel_id)
    if parcel is None or parcel.status != IN_LOCKER or parcel.reminded_at is not None \
            or parcel.stored_until is None or not now < parcel.stored_until <= now + LAST_DAY:
        return False
    claimed = session.execute(
        update(Parcel).where(Parcel.id == parcel_id, Parcel.reminded_at.is_(None),
                             Parcel.status == IN_LOCKER)
        .values(reminded_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return False  # another worker reminded it first
    if parcel.recipient_phone:
        queue_message(session, "sms", parcel.recipient_phone,
                      reminder_text(parcel, shop_zone(session)),
                      related_table="parcels", related_id=parcel.id,
                      dedupe_key=f"parcel-{parcel.id}-last-day")
    return True


def send_reminders(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    now = now or utcnow()
    with factory() as session:
        ids = list(session.scalars(
            select(Parcel.id).where(Parcel.status == IN_LOCKER, Parcel.reminded_at.is_(None),
                                    Parcel.stored_until > now,
                                    Parcel.stored_until <= now + LAST_DAY)
            .order_by(Parcel.stored_until)))
    return _each(factory, ids, lambda s, pid: remind(s, pid, now), "last-day reminder")


# --- expiry ----------------------------------------------------------------------------------

def extension_text(parcel: Parcel, zone: tzinfo) -> str:
    lang = parcel.recipient_language or "en"
    t = translations(lang).gettext
    text = t("Storage of parcel %(barcode)s at %(locker)s is extended until %(deadline)s. "
             "Use the pickup code from our first message.") % {
        "barcode": parcel.barcode, "locker": _place(parcel),
        "deadline": deadline_text(parcel, lang, zone)}
    amount = _due_amount(parcel)
    if amount is not None:
        text += " " + t("To pay at the locker: %(amount)s.") % {"amount": amount}
    return text


def expire(session: Session, parcel_id: int, now: datetime) -> bool:
    parcel = session.get(Parcel, parcel_id)
    if parcel is None or parcel.status != IN_LOCKER or parcel.stored_until is None \
            or parcel.stored_until > now:
        return False
    days = session.scalar(select(Merchant.storage_extension_days)
                          .where(Merchant.id == parcel.merchant_id)) or 0
    if days > 0 and not parcel.extended:
        until = parcel.stored_until + timedelta(days=days)
        extended = session.execute(
            update(Parcel).where(Parcel.id == parcel_id, Parcel.extended.is_(False),
                                 Parcel.status == IN_LOCKER)
            .values(stored_until=until, extended=True, version=Parcel.version + 1,
                    updated_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if extended != 1:
            return False
        session.refresh(parcel)
        if parcel.recipient_phone:
            queue_message(session, "sms", parcel.recipient_phone,
                          extension_text(parcel, shop_zone(session)),
                          related_table="parcels", related_id=parcel.id,
                          dedupe_key=f"parcel-{parcel.id}-extended")
        return True
    change_status(session, SYSTEM, table="parcels", record_id=parcel_id, field="status",
                  to_state=EXPIRED, expected_state=IN_LOCKER,
                  language=parcel.recipient_language or "en")
    emit(session, parcel, ParcelEventKind.EXPIRED, at=now)
    return True


def expire_parcels(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    now = now or utcnow()
    with factory() as session:
        ids = list(session.scalars(
            select(Parcel.id).where(Parcel.status == IN_LOCKER, Parcel.stored_until <= now)
            .order_by(Parcel.stored_until)))
    return _each(factory, ids, lambda s, pid: expire(s, pid, now), "storage expiry")


# --- stale reservations ----------------------------------------------------------------------

def release_reservations(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    # Imported here: the registration's service owns the rule (services.parcels).
    from services.parcels import release_stale_reservations

    with factory() as session, session.begin():
        return int(release_stale_reservations(session, now or utcnow()))


@periodic("parcel_last_day_reminders", 900)
def _remind_in_worker(factory: sessionmaker[Session], now: datetime) -> None:
    send_reminders(factory, now)


@periodic("parcel_storage_expiry", 300)
def _expire_in_worker(factory: sessionmaker[Session], now: datetime) -> None:
    expire_parcels(factory, now)


@periodic("parcel_stale_reservations", 600)
def _release_in_worker(factory: sessionmaker[Session], now: datetime) -> None:
    release_reservations(factory, now)
