"""The parcel journey at the locker terminal (R-LOCK-4, R-LOCK-6): one function per step, each
one transaction step in the caller's session (the caller commits; ``api.terminal`` serves them).

The device. ``issue_device_key`` gives a locker a new key ``pdt_`` + 32 random bytes, shown once;
only its SHA-256 is stored (``Locker.device_key_hash``), as for a merchant's API key
(``services.api_keys``): a 256-bit random key needs no slow hash, and a digest is found with one
indexed lookup. A new key revokes the old one. ``locker_for_key`` is the lookup.

The courier. ``set_courier_pin`` stores a 4–8 digit PIN as an argon2 hash. ``sign_in_courier``
checks badge number and PIN at a terminal; wrong PINs are counted on the courier and after
``MAX_PIN_FAILURES`` (5) the PIN is refused for ``PIN_LOCK_FOR`` (5 minutes), as the admin's
sign-in does (``services.accounts``). A success opens a ``TerminalSession`` for that locker:
the token is given to the terminal once and only its SHA-256 is kept; it ends after
``SESSION_HOURS`` (12). ``courier_for_token`` finds the signed-in courier.

Placing. ``scan`` (courier, barcode) answers the cell to open. The parcel must be this
locker's, and in a state the parcel workflow lets a courier move to ``in_locker`` from
(``with_courier``, or ``registered`` for a store's self-drop). Its reserved cell is answered; a
parcel whose reservation was released (or whose cell went out of order) gets a newly reserved
one (``services.cells.reserve_cell``), or a refusal when none fits. Scanning a parcel that is
already in the locker is refused. ``cell_closed`` (courier, barcode, cell) confirms the
placement: the parcel moves to ``in_locker`` as the courier (``services.status.change_status``),
the cell becomes OCCUPIED, ``placed_at`` and ``stored_until`` (= now + the storage days: the
locker tariff's ``storage_days`` for the locker's zone and the cell's size, else the zone-wide
tariff's, else the setting ``locker_storage_days``) are set, the parcel is assigned to the
courier, and a 6-digit pickup code is drawn that no other live parcel of the locker (in locker
or storage expired) has. The code is stored only as a salted hash; the plain code exists only in
the SMS queued to the recipient (``services.outbox``) in the recipient's language, with the
locker's name and address, the deadline and the amount to pay when a declared amount is unpaid.
Event ``placed``. A second "cell closed" for a parcel already placed is refused.

Collecting for return. ``expired_parcels`` lists the locker's ``storage_expired`` parcels with
their cells; ``collect`` moves one to ``returned`` as the courier with the comment "collected
from locker X cell Y" (the workflow's effects free the cell), assigns it to the collecting
courier and emits ``returned``.

The buyer (role ``terminal``). ``enter_code`` finds the live parcel of this locker whose code
it is, by checking the salted hashes of the locker's live parcels (a locker holds few). The
buyer may also give the phone number (or its last digits): then only that recipient's parcels
are candidates and a wrong code counts against each of them. Limits:
- per parcel: ``Parcel.code_failures`` reaching the setting ``locker_code_attempts`` (5) makes
  the parcel refuse every code, the right one too, until staff reset it; a right code below the
  limit resets the count;
- per terminal: every wrong code counts on ``Locker.code_failures``; reaching
  ``locker_terminal_code_attempts`` (20) refuses all codes for ``TERMINAL_LOCK_FOR`` (15
  minutes). A right code does not reset this count (an attacker with one parcel of its own could
  otherwise clear it); the count starts again after each lock.
Failure counts are written even though the entry is refused (``CountedRefusal.keep``).
``reset_pickup_code`` (staff) replaces a blocked or lost code with a new one, sent by SMS.
A right code answers the amount due (declared and unpaid) or that the cell may open. ``pay``
records the payment (cash or card, exact Decimal, at least the amount due; less is refused and
nothing is written): ``ParcelPayment`` (due, tendered, change), ``Parcel.paid``, a
``PhoneCredit`` of the change for the recipient's phone when the buyer paid more, event ``paid``
(amount, currency). ``open_cell`` moves the parcel to ``picked_up`` as role ``terminal`` (the
workflow's ``release_locker_cell`` frees the cell), sets ``picked_up_at`` and emits
``picked_up``; an unpaid declared amount refuses it.

Every refusal is a ``TerminalRefused`` with a stable ``code`` and HTTP ``status`` for the API;
all but ``CountedRefusal`` leave nothing written (the caller rolls back).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, aliased, joinedload

from locales import format_datetime, format_money, translations
from schema.base import utcnow
from schema.couriers import Courier
from schema.lockers import (
    CellState,
    Locker,
    LockerCell,
    LockerTariff,
    Parcel,
    ParcelEventKind,
    ParcelPayment,
    PaymentMethodAtLocker,
    PhoneCredit,
    TerminalSession,
)
from schema.workflows import Workflow, WorkflowState, WorkflowTransition
from services.actor import Actor, acting_as
from services.api_keys import new_key, presented_digest
from services.cells import reserve_cell
from services.errors import Refused
from services.outbox import queue_message
from services.parcel_events import emit
from services.shop_settings import int_setting, shop_zone
from services.status import change_status, workflow_for

DEVICE_KEY_PREFIX = "pdt_"
SESSION_HOURS = 12
MAX_PIN_FAILURES = 5
PIN_LOCK_FOR = timedelta(minutes=5)
TERMINAL_LOCK_FOR = timedelta(minutes=15)
CODE_DIGITS = 6
PIN_PATTERN = re.compile(r"^[0-9]{4,8}$")
CODE_PATTERN = re.compile(r"^[0-9]{6}$")
# Live parcels hold a cell and a valid pickup code.
LIVE = ("in_locker", "storage_expired")
PLACED = "in_locker"
EXPIRED = "storage_expired"
RETURNED = "returned"
PICKED_UP = "picked_up"
DEFAULT_STORAGE_DAYS = 3
DEFAULT_RESERVATION_HOURS = 72

_hasher = PasswordHasher()
_DUMMY_PIN_HASH = _hasher.hash("0000-timing-equaliser")


# --- refusals -----------------------------------------------------------------------------


class TerminalRefused(Refused):
    """A terminal step refused; ``code`` and ``status`` are the API's answer."""

    code = "refused"
    status = 409
    keep = False  # True: what the refusal counted is written (the caller commits)


class DeviceUnknown(TerminalRefused):
    code = "unauthorized"
    status = 401


class CourierUnauthorized(TerminalRefused):
    code = "courier_unauthorized"
    status = 401


class ParcelNotFound(TerminalRefused):
    code = "parcel_not_found"
    status = 404


class WrongLocker(TerminalRefused):
    code = "wrong_locker"
    status = 409


class WrongState(TerminalRefused):
    code = "wrong_state"
    status = 409


class AlreadyPlaced(TerminalRefused):
    code = "already_placed"
    status = 409


class WrongCell(TerminalRefused):
    code = "wrong_cell"
    status = 409


class NoFreeCell(TerminalRefused):
    code = "no_free_cell"
    status = 409


class PaymentRequired(TerminalRefused):
    code = "payment_required"
    status = 402


class PaymentRefused(TerminalRefused):
    code = "payment_refused"
    status = 422


class InvalidValue(TerminalRefused):
    code = "invalid_request"
    status = 422


class CountedRefusal(TerminalRefused):
    """Refused, and the failure is counted: the caller commits what was counted."""

    keep = True


class SignInFailed(CountedRefusal):
    code = "sign_in_failed"
    status = 401


class PinLocked(CountedRefusal):
    code = "pin_locked"
    status = 429


class WrongCode(CountedRefusal):
    code = "wrong_code"
    status = 403


class CodeBlocked(CountedRefusal):
    code = "code_blocked"
    status = 423


class TerminalLocked(CountedRefusal):
    code = "terminal_locked"
    status = 429


# --- hashing ------------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_pickup_code(code: str) -> str:
    """``sha256$<salt>$<digest>``: a salted SHA-256 of the code.

    A 6-digit code has a million values, so no hash keeps it from someone who reads the
    database; what protects it is the per-parcel and per-terminal limits on wrong entries.
    A fast hash lets a code entry check every live parcel of the locker within the terminal's
    time budget (argon2 would cost ~50 ms per parcel); the salt keeps equal codes of different
    parcels from having equal hashes."""
    salt = secrets.token_hex(8)
    return f"sha256${salt}${_sha256(salt + code)}"


def verify_pickup_code(stored: str | None, code: str) -> bool:
    if not stored or stored.count("$") != 2:
        return False
    scheme, salt, digest = stored.split("$")
    return scheme == "sha256" and hmac.compare_digest(_sha256(salt + code), digest)


def hash_token(token: str) -> str:
    return _sha256(token)


# --- the device key -----------------------------------------------------------------------


def issue_device_key(session: Session, locker_id: int) -> str:
    """A new device key for the locker's terminal, returned once (the old key stops working).
    The caller commits."""
    locker = session.get(Locker, locker_id)
    if locker is None:
        raise TerminalRefused("The parcel locker %(id)s was not found.", id=locker_id)
    key, locker.device_key_hash = new_key(DEVICE_KEY_PREFIX)
    session.flush()
    return key


_LOCKER_BY_KEY = select(Locker.id).where(Locker.device_key_hash == bindparam("digest"),
                                         Locker.active.is_(True))


def locker_for_key(session: Session, key: str | None) -> int | None:
    """The id of the active locker whose device key this is, or None."""
    digest = presented_digest(key)
    if digest is None:
        return None
    return session.connection().scalar(_LOCKER_BY_KEY, {"digest": digest})


# --- the courier --------------------------------------------------------------------------


def set_courier_pin(session: Session, courier_id: int, pin: str) -> None:
    """Store the courier's terminal PIN (4–8 digits) as an argon2 hash; unlocks the PIN."""
    if not PIN_PATTERN.match(pin or ""):
        raise InvalidValue("A PIN is 4 to 8 digits.")
    courier = session.get(Courier, courier_id)
    if courier is None:
        raise InvalidValue("The courier %(id)s was not found.", id=courier_id)
    courier.pin_hash = _hasher.hash(pin)
    courier.pin_failures = 0
    courier.pin_locked_until = None
    session.flush()


def _verify_pin(pin_hash: str | None, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash or _DUMMY_PIN_HASH, pin) and pin_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _minutes_left(until: datetime, now: datetime) -> int:
    return max(1, -(-int((until - now).total_seconds()) // 60))


@dataclass(frozen=True)
class CourierSignIn:
    token: str
    expires_at: datetime
    courier_id: int
    courier_name: str


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_token_for(device_key: str, request_key: str) -> str:
    """The courier-session token of a sign-in request: an HMAC of the request's idempotency key
    under the terminal's device key. A retried sign-in (same key) answers the same token
    without the token ever being stored; nobody without the device key can compute it."""
    digest = hmac.new(device_key.encode("utf-8"), f"courier-session:{request_key}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_in_courier(session: Session, locker_id: int, badge_number: str, pin: str, *,
                    token: str | None = None, now: datetime | None = None) -> CourierSignIn:
    """Badge and PIN → a terminal session (``token`` shown once). ``token`` may be given by
    the caller (the API derives it so that a retried sign-in answers the same token)."""
    now = now or utcnow()
    courier = session.scalar(select(Courier).where(
        Courier.badge_number == (badge_number or "").strip()))
    if courier is None or not courier.active:
        _verify_pin(None, pin)  # the same time as a real check: badges cannot be probed
        raise SignInFailed("Wrong badge number or PIN.")
    if courier.pin_locked_until is not None and courier.pin_locked_until > now:
        raise PinLocked("Too many wrong PINs: try again in %(minutes)s minutes.",
                        minutes=_minutes_left(courier.pin_locked_until, now))
    if not _verify_pin(courier.pin_hash, pin):
        courier.pin_failures = (courier.pin_failures or 0) + 1
        if courier.pin_failures >= MAX_PIN_FAILURES:
            courier.pin_failures = 0
            courier.pin_locked_until = now + PIN_LOCK_FOR
            session.flush()
            raise PinLocked("Too many wrong PINs: try again in %(minutes)s minutes.",
                            minutes=_minutes_left(courier.pin_locked_until, now))
        session.flush()
        raise SignInFailed("Wrong badge number or PIN.")
    courier.pin_failures = 0
    courier.pin_locked_until = None
    token = token or new_session_token()
    expires_at = now + timedelta(hours=SESSION_HOURS)
    existing = session.scalar(select(TerminalSession).where(
        TerminalSession.token_hash == hash_token(token)))
    if existing is None:
        session.add(TerminalSession(locker_id=locker_id, courier_id=courier.id,
                                    token_hash=hash_token(token), started_at=now,
                                    expires_at=expires_at))
    session.flush()
    return CourierSignIn(token, expires_at, courier.id, courier.full_name)


def courier_for_token(session: Session, locker_id: int, token: str | None,
                      now: datetime | None = None) -> Courier:
    """The courier signed in at this locker with this token; refused otherwise."""
    token = (token or "").strip()
    courier = None
    if token and len(token) <= 200:
        courier = session.scalar(
            select(Courier).join(TerminalSession, TerminalSession.courier_id == Courier.id)
            .where(TerminalSession.token_hash == hash_token(token),
                   TerminalSession.locker_id == locker_id,
                   TerminalSession.expires_at > (now or utcnow()),
                   Courier.active.is_(True)))
    if courier is None:
        raise CourierUnauthorized("Sign in as a courier first (badge number and PIN); a "
                                  "session ends after %(hours)s hours.", hours=SESSION_HOURS)
    return courier


def _courier_actor(courier: Courier) -> Actor:
    username = courier.user.username if courier.user is not None else f"courier {courier.id}"
    return Actor(user_id=courier.user_id, username=username, role="courier")


def _terminal_actor(locker: Locker) -> Actor:
    return Actor(user_id=None, username=f"terminal {locker.code}", role="terminal")


def _as(actor: Actor) -> AbstractContextManager[None]:
    # Scoping confines a courier to its own parcels (by its user); a courier without a login
    # has no user to confine by, and the steps below only touch the parcel they were given.
    return acting_as(actor if actor.user_id is not None else None)


# --- reading a parcel ---------------------------------------------------------------------


def _locker(session: Session, locker_id: int) -> Locker:
    locker = session.get(Locker, locker_id)
    if locker is None:
        raise DeviceUnknown("This terminal's device key is not valid.")
    return locker


def _parcel(session: Session, locker_id: int, barcode: str) -> Parcel:
    parcel = session.scalar(select(Parcel).options(joinedload(Parcel.cell))
                            .where(Parcel.barcode == (barcode or "").strip()))
    if parcel is None:
        raise ParcelNotFound("No parcel has the barcode %(barcode)s.", barcode=barcode)
    if parcel.locker_id != locker_id:
        other = parcel.locker
        raise WrongLocker("The parcel %(barcode)s goes to the locker %(locker)s (%(address)s), "
                          "not to this one.", barcode=parcel.barcode, locker=str(other),
                          address=other.address or "—")
    return parcel


def _label(session: Session, state: str, language: str) -> str:
    from services.status import state_labels

    code = workflow_for(session, "parcels", "status", state)
    return state_labels(session, code, language).get(state, state)


_FROM, _TO = aliased(WorkflowState), aliased(WorkflowState)
# The roles of every move from a state into the locker, in the workflows governing parcels.
_MOVES_INTO_LOCKER = (
    select(WorkflowTransition.roles)
    .join(Workflow, Workflow.id == WorkflowTransition.workflow_id)
    .join(_FROM, _FROM.id == WorkflowTransition.from_state_id)
    .join(_TO, _TO.id == WorkflowTransition.to_state_id)
    .where(Workflow.entity == "parcels", Workflow.field == "status",
           _FROM.code == bindparam("current"), _TO.code == PLACED))


def _placeable(session: Session, parcel: Parcel) -> bool:
    """The workflow lets a courier move the parcel into the locker from where it is. One
    query (the scan is the courier's hot path); ``change_status`` at "cell closed" decides
    with the whole workflow again."""
    return any(not roles or "courier" in roles for roles in session.scalars(
        _MOVES_INTO_LOCKER, {"current": parcel.status}))


def _check_placeable(session: Session, parcel: Parcel, language: str) -> None:
    if parcel.status in LIVE or parcel.status in (PICKED_UP, RETURNED):
        placed = (format_datetime(parcel.placed_at.astimezone(UTC), language) + " UTC"
                  if parcel.placed_at else "—")
        raise AlreadyPlaced("The parcel %(barcode)s was already placed (%(placed)s); it is "
                            "%(status)s.", barcode=parcel.barcode, placed=placed,
                            status=_label(session, parcel.status, language))
    if not _placeable(session, parcel):
        raise WrongState("The parcel %(barcode)s cannot be placed in a locker while it is "
                         "%(status)s.", barcode=parcel.barcode,
                         status=_label(session, parcel.status, language))


# --- placing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellToOpen:
    barcode: str
    cell: str
    size: str
    status: str
    stored_until: datetime | None = None


def scan(session: Session, locker_id: int, courier: Courier, barcode: str,
         language: str = "en") -> CellToOpen:
    """The cell to open for a parcel the courier scanned (reserving one if it has none).
    ``language``: the one status names in refusals are written in."""
    parcel = _parcel(session, locker_id, barcode)
    _check_placeable(session, parcel, language)
    cell = parcel.cell
    if cell is not None and cell.state != CellState.RESERVED:
        # Put out of order (or otherwise taken) since the reservation: let it go, take another.
        parcel.cell_id = None
        session.flush()
        cell = None
    if cell is None:
        cell = reserve_cell(session, locker_id, parcel.size)
        if cell is None:
            size = parcel.size.value.upper() if parcel.size is not None else "—"
            raise NoFreeCell("No free cell of size %(size)s or larger is left in this locker "
                             "for %(barcode)s; take the parcel back to the sorting center.",
                             size=size, barcode=parcel.barcode)
        parcel.cell_id = cell.id
        parcel.reserved_until = utcnow() + timedelta(hours=int_setting(
            session, "locker_reservation_hours", DEFAULT_RESERVATION_HOURS))
        session.flush()
        emit(session, parcel, ParcelEventKind.RESERVED)
    return CellToOpen(parcel.barcode, cell.code, cell.size.value, parcel.status)


def storage_days(session: Session, locker: Locker, cell: LockerCell) -> int:
    """The tariff's storage days for the locker's zone and the cell's size (the zone-wide
    tariff otherwise), else the setting ``locker_storage_days``."""
    if locker.zone_id is not None:
        tariffs = session.scalars(select(LockerTariff).where(
            LockerTariff.zone_id == locker.zone_id,
            (LockerTariff.size == cell.size) | LockerTariff.size.is_(None))).all()
        chosen = next((t for t in tariffs if t.size == cell.size), None) or next(
            (t for t in tariffs if t.size is None), None)
        if chosen is not None and chosen.storage_days and chosen.storage_days > 0:
            return int(chosen.storage_days)
    return int_setting(session, "locker_storage_days", DEFAULT_STORAGE_DAYS)


def _live_hashes(session: Session, locker_id: int, exclude: int | None = None) -> list[str]:
    query = select(Parcel.pickup_code_hash).where(Parcel.locker_id == locker_id,
                                                  Parcel.status.in_(LIVE),
                                                  Parcel.pickup_code_hash.is_not(None))
    if exclude is not None:
        query = query.where(Parcel.id != exclude)
    return [h for h in session.scalars(query) if h]


def new_pickup_code(session: Session, locker_id: int, exclude: int | None = None) -> str:
    """Six random digits that no other live parcel of the locker has as its code."""
    taken = _live_hashes(session, locker_id, exclude)
    for _ in range(1000):
        code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
        if not any(verify_pickup_code(h, code) for h in taken):
            return code
    raise NoFreeCell("No unused pickup code could be drawn for this locker.")


def deadline_text(parcel: Parcel, lang: str, zone: tzinfo = UTC) -> str:
    """The storage deadline as the recipient's language writes a date and time (Solar Hijri in
    Persian), in the shop's time zone (``shop_settings.shop_zone``); UTC is said so."""
    assert parcel.stored_until is not None
    text = format_datetime(parcel.stored_until.astimezone(zone), lang, "short")
    return text + " UTC" if zone is UTC else text


def amount_due(parcel: Parcel) -> Decimal:
    """What the buyer still has to pay: the declared amount until it is paid."""
    if parcel.paid or parcel.declared_price is None:
        return Decimal(0)
    return Decimal(parcel.declared_price)


def placement_sms(parcel: Parcel, locker: Locker, code: str, zone: tzinfo = UTC) -> str:
    """The buyer's SMS, in the parcel's recipient language."""
    lang = parcel.recipient_language if parcel.recipient_language in ("en", "ru", "fa") else "en"
    gettext = translations(lang).gettext
    text = gettext("Your parcel %(barcode)s is in the parcel locker %(locker)s, %(address)s. "
                   "Pickup code: %(code)s. Collect it by %(deadline)s.") % {
        "barcode": parcel.barcode, "locker": locker.name, "address": locker.address or "",
        "code": code, "deadline": deadline_text(parcel, lang, zone)}
    due = amount_due(parcel)
    if due > 0:
        text += " " + gettext("To pay at the locker: %(amount)s.") % {
            "amount": format_money(due, parcel.currency, lang)}
    return text


def cell_closed(session: Session, locker_id: int, courier: Courier, barcode: str,
                cell_code: str, now: datetime | None = None,
                language: str = "en") -> CellToOpen:
    """The courier closed the cell with the parcel in it: the parcel is in the locker."""
    now = now or utcnow()
    locker = _locker(session, locker_id)
    parcel = _parcel(session, locker.id, barcode)
    _check_placeable(session, parcel, language)
    cell = parcel.cell
    if cell is None or cell.code != (cell_code or "").strip():
        named = session.scalar(select(LockerCell).where(LockerCell.locker_id == locker.id,
                                                        LockerCell.code == cell_code))
        if named is not None and named.state == CellState.OCCUPIED:
            raise WrongCell("The cell %(cell)s is already closed with another parcel in it.",
                            cell=cell_code)
        raise WrongCell("The parcel %(barcode)s belongs in the cell %(expected)s, not "
                        "%(cell)s; scan it again.", barcode=parcel.barcode,
                        expected=cell.code if cell is not None else "—", cell=cell_code)
    if not (parcel.recipient_phone or "").strip():
        raise WrongState("The parcel %(barcode)s has no recipient phone to send the pickup "
                         "code to.", barcode=parcel.barcode)
    taken = session.execute(
        update(LockerCell).where(LockerCell.id == cell.id, LockerCell.state == CellState.RESERVED)
        .values(state=CellState.OCCUPIED, version=LockerCell.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        raise WrongCell("The cell %(cell)s is already closed with another parcel in it.",
                        cell=cell.code)
    session.refresh(cell)
    code = new_pickup_code(session, locker.id, exclude=parcel.id)
    parcel.courier_id = courier.id
    parcel.placed_at = now
    parcel.stored_until = now + timedelta(days=storage_days(session, locker, cell))
    parcel.reserved_until = None
    parcel.pickup_code_hash = hash_pickup_code(code)
    parcel.code_failures = 0
    session.flush()
    actor = _courier_actor(courier)
    with _as(actor):
        change_status(session, actor, table="parcels", record_id=parcel.id,
                      field="status", to_state=PLACED, expected_state=parcel.status)
    queue_message(session, "sms", parcel.recipient_phone or "",
                  placement_sms(parcel, locker, code, shop_zone(session)),
                  related_table="parcels", related_id=parcel.id,
                  dedupe_key=f"parcel:{parcel.id}:placed")
    emit(session, parcel, ParcelEventKind.PLACED, at=now)
    return CellToOpen(parcel.barcode, cell.code, cell.size.value, parcel.status,
                      parcel.stored_until)


def reset_pickup_code(session: Session, parcel_id: int) -> None:
    """Staff unlock a parcel that refuses codes (or whose SMS was lost): a new code replaces
    the old one, the parcel's wrong-code count starts again, and the SMS is queued again with
    the new code. Only for a parcel in the locker (in locker or storage expired)."""
    parcel = session.get(Parcel, parcel_id)
    if parcel is None:
        raise ParcelNotFound("The parcel %(id)s was not found.", id=parcel_id)
    if parcel.status not in LIVE:
        raise WrongState("Only a parcel in a locker has a pickup code to reset.")
    if not (parcel.recipient_phone or "").strip():
        raise WrongState("The parcel %(barcode)s has no recipient phone to send the pickup "
                         "code to.", barcode=parcel.barcode)
    code = new_pickup_code(session, parcel.locker_id, exclude=parcel.id)
    parcel.pickup_code_hash = hash_pickup_code(code)
    parcel.code_failures = 0
    session.flush()
    queue_message(session, "sms", parcel.recipient_phone or "",
                  placement_sms(parcel, parcel.locker, code, shop_zone(session)),
                  related_table="parcels",
                  related_id=parcel.id)


# --- collecting expired parcels ---------------------------------------------------------


@dataclass(frozen=True)
class ExpiredParcel:
    barcode: str
    cell: str | None
    stored_until: datetime | None
    merchant: str


def expired_parcels(session: Session, locker_id: int) -> list[ExpiredParcel]:
    rows = session.execute(
        select(Parcel, LockerCell.code).outerjoin(LockerCell, LockerCell.id == Parcel.cell_id)
        .where(Parcel.locker_id == locker_id, Parcel.status == EXPIRED)
        .order_by(LockerCell.code, Parcel.id)).all()
    return [ExpiredParcel(p.barcode, cell, p.stored_until, p.merchant.name) for p, cell in rows]


def collect(session: Session, locker_id: int, courier: Courier, barcode: str,
            language: str = "en") -> CellToOpen:
    """Take an expired parcel out for return to its merchant; answers the cell to open."""
    locker = _locker(session, locker_id)
    parcel = _parcel(session, locker.id, barcode)
    if parcel.status != EXPIRED:
        raise WrongState("Only parcels whose storage expired are collected for return; "
                         "%(barcode)s is %(status)s.", barcode=parcel.barcode,
                         status=_label(session, parcel.status, language))
    cell = parcel.cell
    cell_code, size = (cell.code, cell.size.value) if cell is not None else ("—", "")
    lang = courier.user.language if courier.user is not None else "en"
    comment = translations(lang).gettext("Collected from locker %(locker)s, cell %(cell)s.") % {
        "locker": locker.code, "cell": cell_code}
    parcel.courier_id = courier.id
    session.flush()
    actor = _courier_actor(courier)
    with _as(actor):
        change_status(session, actor, table="parcels", record_id=parcel.id, field="status",
                      to_state=RETURNED, comment=comment, expected_state=EXPIRED)
    emit(session, parcel, ParcelEventKind.RETURNED)
    return CellToOpen(parcel.barcode, cell_code, size, parcel.status)


# --- the buyer ----------------------------------------------------------------------------


def _amount(amount: Decimal, currency: str) -> str:
    # Language-neutral (digits and the currency code): a refusal's parameters are not
    # translated with its text.
    return f"{format(amount, 'f')} {currency}"


def _digits(text: str | None) -> str:
    return "".join(ch for ch in (text or "") if ch.isdigit())


def mask_phone(phone: str | None) -> str:
    """A phone number with all but its last four digits hidden."""
    digits = _digits(phone)
    return "•" * max(0, len(digits) - 4) + digits[-4:]


def _find_by_code(session: Session, locker: Locker, code: str, phone: str | None,
                  now: datetime) -> Parcel:
    """The live parcel of this locker whose pickup code this is, counting wrong codes."""
    if locker.code_locked_until is not None and locker.code_locked_until > now:
        raise TerminalLocked("Too many wrong codes at this terminal: try again in %(minutes)s "
                             "minutes.", minutes=_minutes_left(locker.code_locked_until, now))
    code = (code or "").strip()
    if not CODE_PATTERN.match(code):
        raise InvalidValue("A pickup code is 6 digits.")
    candidates: Sequence[Parcel] = session.scalars(
        select(Parcel).where(Parcel.locker_id == locker.id, Parcel.status.in_(LIVE),
                             Parcel.pickup_code_hash.is_not(None))).all()
    typed_phone = _digits(phone)
    if typed_phone:
        if len(typed_phone) < 4:
            raise InvalidValue("Type at least the last 4 digits of the phone number.")
        candidates = [p for p in candidates if _digits(p.recipient_phone).endswith(typed_phone)]
    found = next((p for p in candidates if verify_pickup_code(p.pickup_code_hash, code)), None)
    limit = int_setting(session, "locker_code_attempts", 5)
    if found is None:
        # Wrong: count on the terminal and, when the buyer named its phone, on its parcels.
        terminal_limit = int_setting(session, "locker_terminal_code_attempts", 20)
        locker.code_failures = (locker.code_failures or 0) + 1
        if locker.code_failures >= terminal_limit:
            locker.code_failures = 0
            locker.code_locked_until = now + TERMINAL_LOCK_FOR
        if typed_phone:
            for parcel in candidates:
                parcel.code_failures = (parcel.code_failures or 0) + 1
        session.flush()
        if locker.code_locked_until is not None and locker.code_locked_until > now:
            raise TerminalLocked("Too many wrong codes at this terminal: try again in "
                                 "%(minutes)s minutes.",
                                 minutes=_minutes_left(locker.code_locked_until, now))
        raise WrongCode("This code opens no parcel in this locker. Check the code in the SMS.")
    if (found.code_failures or 0) >= limit:
        raise CodeBlocked("Too many wrong codes were typed for this parcel; it no longer opens "
                          "with a code. Call the support line on the locker.")
    if found.code_failures:
        found.code_failures = 0
        session.flush()
    return found


@dataclass(frozen=True)
class CodeAnswer:
    barcode: str
    amount_due: Decimal
    currency: str
    can_open: bool


def enter_code(session: Session, locker_id: int, code: str, phone: str | None = None,
               now: datetime | None = None) -> CodeAnswer:
    """The buyer typed a code: what happens next (pay the amount due, or open)."""
    locker = _locker(session, locker_id)
    parcel = _find_by_code(session, locker, code, phone, now or utcnow())
    due = amount_due(parcel)
    return CodeAnswer(parcel.barcode, due, parcel.currency, due == 0)


@dataclass(frozen=True)
class PaymentAnswer:
    barcode: str
    amount: Decimal
    tendered: Decimal
    change: Decimal
    currency: str
    credited_phone: str | None


def parse_amount(text: str | Decimal) -> Decimal:
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidValue("The amount %(amount)s is not a number.", amount=str(text)) from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidValue("The amount %(amount)s is not a positive number.", amount=str(text))
    return amount


def pay(session: Session, locker_id: int, code: str, method: PaymentMethodAtLocker | str,
        tendered: Decimal | str, phone: str | None = None,
        now: datetime | None = None) -> PaymentAnswer:
    """The terminal took the buyer's money for the parcel this code opens."""
    amount_paid = parse_amount(tendered)
    try:
        method = PaymentMethodAtLocker(method)
    except ValueError:
        raise InvalidValue("Pay by cash or card.") from None
    locker = _locker(session, locker_id)
    # A cash-collection act locks the locker's row too (services.cash_collection): dated after
    # the lock, a payment falls either inside the act being recorded or after it, never between.
    session.execute(select(Locker.id).where(Locker.id == locker.id).with_for_update())
    now = now or utcnow()
    parcel = _find_by_code(session, locker, code, phone, now)
    due = amount_due(parcel)
    if due <= 0:
        raise PaymentRefused("The parcel %(barcode)s has nothing to pay: open the cell.",
                             barcode=parcel.barcode)
    if amount_paid < due:
        raise PaymentRefused("%(paid)s is less than the %(due)s due; nothing was taken.",
                             paid=_amount(amount_paid, parcel.currency),
                             due=_amount(due, parcel.currency))
    change = amount_paid - due
    payment = ParcelPayment(parcel_id=parcel.id, merchant_id=parcel.merchant_id,
                            locker_id=locker.id, method=method, amount=due,
                            tendered=amount_paid, change=change, currency=parcel.currency, at=now)
    session.add(payment)
    parcel.paid = True
    session.flush()
    credited = None
    if change > 0:
        phone_number = (parcel.recipient_phone or "").strip()
        session.add(PhoneCredit(phone=phone_number, amount=change, currency=parcel.currency,
                                payment_id=payment.id, at=now))
        credited = mask_phone(phone_number)
        session.flush()
    emit(session, parcel, ParcelEventKind.PAID, amount=due, currency=parcel.currency, at=now)
    return PaymentAnswer(parcel.barcode, due, amount_paid, change, parcel.currency, credited)


def open_cell(session: Session, locker_id: int, code: str, phone: str | None = None,
              now: datetime | None = None) -> CellToOpen:
    """The buyer takes the parcel: the cell opens, the parcel is picked up, the cell is free."""
    now = now or utcnow()
    locker = _locker(session, locker_id)
    parcel = _find_by_code(session, locker, code, phone, now)
    due = amount_due(parcel)
    if due > 0:
        raise PaymentRequired("Pay %(amount)s first; then the cell opens.",
                              amount=_amount(due, parcel.currency))
    cell = parcel.cell
    cell_code, size = (cell.code, cell.size.value) if cell is not None else ("—", "")
    actor = _terminal_actor(locker)
    change_status(session, actor, table="parcels", record_id=parcel.id, field="status",
                  to_state=PICKED_UP, expected_state=parcel.status)
    parcel.picked_up_at = now
    parcel.pickup_code_hash = None  # the code has done its work: it opens nothing again
    session.flush()
    emit(session, parcel, ParcelEventKind.PICKED_UP, at=now)
    return CellToOpen(parcel.barcode, cell_code, size, parcel.status)
