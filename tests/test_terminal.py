"""The locker terminal through real HTTP (``/api/v1/terminal/…``), on SQLite and PostgreSQL.

Each test builds its own locker (zone, cells, a size-S tariff with 2 storage days, a device
key), courier (user, badge, PIN) and parcels inserted with a reserved cell, so it depends on no
other module's registration. Covered: the courier's placement and the buyer's SMS in ru and fa
read back from the outbox, whose code then pays and opens; idempotent retries; every refusal
of the issue (wrong device key, parcel of another locker, code of another parcel, replayed
placement, cell already closed, parcel scanned twice) writing nothing; the PIN lockout; the
per-parcel and per-terminal code limits; the overpayment credited to the phone; collecting an
expired parcel; a released reservation replaced at the scan.
"""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from locales import translations
from schema.base import utcnow
from schema.couriers import Courier
from schema.lockers import (
    CellSize,
    CellState,
    Locker,
    LockerCell,
    LockerTariff,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
    ParcelPayment,
    PhoneCredit,
    TerminalRequest,
    TerminalSession,
    Zone,
)
from schema.notifications import OutboxMessage
from schema.people import Merchant
from schema.workflows import StatusChange
from services.accounts import create_user
from services.terminal import (
    hash_pickup_code,
    issue_device_key,
    reset_pickup_code,
    set_courier_pin,
    verify_pickup_code,
)
from tests.conftest import PASSWORD, unique
from tests.locker_money import top_up

API = "/api/v1/terminal"
PIN = "4821"
_seq = itertools.count(1)


@dataclass
class Site:
    locker: int
    locker_code: str
    key: str
    courier: int
    badge: str
    merchant: int
    cells: dict[str, int]


def _zone(session: Session) -> Zone:
    zone = session.scalar(select(Zone).where(Zone.number == 10))
    if zone is None:
        zone = Zone(number=10, code="Z10", name="Zone 10")
        session.add(zone)
        session.flush()
    if session.scalar(select(LockerTariff).where(LockerTariff.zone_id == zone.id,
                                                 LockerTariff.size == CellSize.S)) is None:
        session.add(LockerTariff(zone_id=zone.id, size=CellSize.S, storage_days=2,
                                 storage_price_3_days=Decimal("1.00"), currency="BYN"))
    return zone


def build_site(factory: sessionmaker[Session], cells: tuple[tuple[str, str], ...] = (
        ("A1", "s"), ("A2", "s"), ("B1", "m"), ("C1", "l")), zoned: bool = True) -> Site:
    n = next(_seq)
    with factory() as session, session.begin():
        zone = _zone(session) if zoned else None
        tag = uuid.uuid4().hex[:8]
        locker = Locker(code=f"T{tag}", name=f"Locker {tag}", city="Minsk",
                        address=f"Lenina {n}", zone_id=zone.id if zone else None, active=True)
        session.add(locker)
        session.flush()
        cell_ids = {}
        for code, size in cells:
            cell = LockerCell(locker_id=locker.id, code=code, size=CellSize(size))
            session.add(cell)
            session.flush()
            cell_ids[code] = cell.id
        merchant = Merchant(name=f"Shop {tag}", currency="BYN")
        session.add(merchant)
        session.flush()
        top_up(session, merchant.id, "100.00")  # registering charges the store (issue 13)
        user = create_user(session, unique("courier"), PASSWORD, "courier", language="ru")
        courier = Courier(full_name=f"Courier {tag}", mobile="+375291112233",
                          badge_number=f"BD{tag}", user_id=user.id, active=True)
        session.add(courier)
        session.flush()
        set_courier_pin(session, courier.id, PIN)
        key = issue_device_key(session, locker.id)
        return Site(locker.id, locker.code, key, courier.id, courier.badge_number or "",
                    merchant.id, cell_ids)


def add_parcel(factory: sessionmaker[Session], site: Site, cell: str | None, *,
               status: str = "with_courier", size: str = "s", declared: str | None = None,
               language: str = "ru", phone: str = "+375 29 555-01-02") -> str:
    barcode = f"PT{uuid.uuid4().hex[:12].upper()}"
    with factory() as session, session.begin():
        cell_id = site.cells[cell] if cell else None
        if cell_id is not None:
            session.execute(update(LockerCell).where(LockerCell.id == cell_id)
                            .values(state=CellState.RESERVED))
        session.add(Parcel(merchant_id=site.merchant, barcode=barcode, locker_id=site.locker,
                           cell_id=cell_id, size=CellSize(size), status=status,
                           declared_price=Decimal(declared) if declared else None,
                           currency="BYN", recipient_name="Anna", recipient_phone=phone,
                           recipient_language=language,
                           reserved_until=utcnow() + timedelta(hours=72)))
    return barcode


class Terminal:
    """A locker terminal talking HTTP: its device key, its courier token, fresh keys."""

    def __init__(self, client: TestClient, site: Site, lang: str = "en") -> None:
        self.client, self.site, self.lang = client, site, lang
        self.token = ""

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {"X-Device-Key": self.site.key, "X-Courier-Token": self.token,
                "Idempotency-Key": key or uuid.uuid4().hex, "Accept-Language": self.lang,
                **extra}

    def post(self, path: str, body: dict[str, Any], key: str | None = None,
             **headers: str) -> Any:
        return self.client.post(f"{API}{path}", json=body,
                                headers={**self.headers(key), **headers})

    def sign_in(self, pin: str = PIN, key: str | None = None) -> Any:
        response = self.post("/courier/sign-in", {"badge_number": self.site.badge, "pin": pin},
                             key)
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response

    def place(self, barcode: str) -> Any:
        scanned = self.post("/courier/scan", {"barcode": barcode})
        assert scanned.status_code == 200, scanned.text
        return self.post("/courier/cell-closed",
                         {"barcode": barcode, "cell": scanned.json()["cell"]})


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


def _sms(session: Session, barcode: str) -> list[OutboxMessage]:
    parcel_id = session.scalar(select(Parcel.id).where(Parcel.barcode == barcode))
    return list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.related_table == "parcels", OutboxMessage.related_id == parcel_id)
        .order_by(OutboxMessage.id)))


def _code_of(session: Session, barcode: str) -> str:
    messages = _sms(session, barcode)
    assert len(messages) == 1, [m.body for m in messages]
    return _code_in(session, messages[0].body, barcode)


def _code_in(session: Session, body: str, barcode: str) -> str:
    """The pickup code in an SMS: the one run of six digits once the barcode and the locker's
    name and address (which may hold such runs) are taken out."""
    locker = _parcel(session, barcode).locker
    for known in (barcode, locker.name, locker.address or ""):
        body = body.replace(known, "")
    found = re.findall(r"(?<![0-9])[0-9]{6}(?![0-9])", body)
    assert len(found) == 1, body
    return str(found[0])


def _footprint(session: Session) -> tuple[int, ...]:
    """Everything a journey step writes, counted."""
    return tuple(session.scalar(select(func.count()).select_from(model)) or 0 for model in (
        OutboxMessage, ParcelEvent, ParcelPayment, PhoneCredit, StatusChange, TerminalRequest))


def _parcel(session: Session, barcode: str) -> Parcel:
    parcel = session.scalar(select(Parcel).where(Parcel.barcode == barcode))
    assert parcel is not None
    return parcel


def _events(session: Session, barcode: str) -> list[str]:
    parcel = _parcel(session, barcode)
    return sorted(str(k) for k in session.scalars(
        select(ParcelEvent.kind).where(ParcelEvent.parcel_id == parcel.id)))


# --- the journey --------------------------------------------------------------------------


def test_courier_places_and_buyer_pays_too_much_and_picks_up_in_russian(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = add_parcel(factory, site, "A2", declared="25.50", language="ru")
    terminal = Terminal(client, site)
    signed = terminal.sign_in()
    assert signed.status_code == 200, signed.text
    assert signed.json()["courier"]["id"] == site.courier

    scanned = terminal.post("/courier/scan", {"barcode": barcode})
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["cell"] == "A2"  # the reserved cell
    before = utcnow()
    closed = terminal.post("/courier/cell-closed", {"barcode": barcode, "cell": "A2"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "in_locker"
    assert "code" not in closed.text.lower().replace("barcode", "")

    with factory() as session:
        parcel = _parcel(session, barcode)
        assert parcel.status == "in_locker" and parcel.courier_id == site.courier
        assert parcel.cell is not None and parcel.cell.state == CellState.OCCUPIED
        assert parcel.placed_at is not None and parcel.placed_at >= before - timedelta(1)
        # The zone's size-S tariff keeps parcels 2 days.
        assert parcel.stored_until == parcel.placed_at + timedelta(days=2)
        code = _code_of(session, barcode)
        assert parcel.pickup_code_hash and code not in parcel.pickup_code_hash
        assert verify_pickup_code(parcel.pickup_code_hash, code)
        sms = _sms(session, barcode)[0]
        assert sms.recipient == "+375 29 555-01-02"
        ru = translations("ru").gettext
        template = ("Your parcel %(barcode)s is in the parcel locker %(locker)s, %(address)s. "
                    "Pickup code: %(code)s. Collect it by %(deadline)s.")
        assert sms.body.startswith(ru(template).split("%(barcode)s")[0])
        locker = session.get(Locker, site.locker)
        assert locker is not None
        assert locker.name in sms.body and (locker.address or "") in sms.body
        assert "25,50" in sms.body  # the amount to pay, written the Russian way
        assert _events(session, barcode) == ["placed"]
        history = session.scalars(select(StatusChange).where(
            StatusChange.table_name == "parcels", StatusChange.record_id == parcel.id)).all()
        assert [(h.from_state, h.to_state) for h in history] == [("with_courier", "in_locker")]

    # The buyer: the code asks for the money first.
    entered = terminal.post("/code", {"code": code})
    assert entered.status_code == 200, entered.text
    assert entered.json() == {"barcode": barcode, "amount_due": "25.50", "currency": "BYN",
                              "next": "pay"}
    _error(terminal.post("/open", {"code": code}), 402, "payment_required")
    with factory() as session:
        before_low = _footprint(session)
    _error(terminal.post("/payment", {"code": code, "method": "cash", "amount": "25.49"}),
           422, "payment_refused")
    with factory() as session:
        assert _footprint(session) == before_low
        assert not _parcel(session, barcode).paid
    paid = terminal.post("/payment", {"code": code, "method": "cash", "amount": "30"})
    assert paid.status_code == 200, paid.text
    assert paid.json() == {"barcode": barcode, "amount_due": "25.50", "paid": "30.00",
                           "change": "4.50", "currency": "BYN",
                           "credit": {"phone": "••••••••0102", "amount": "4.50",
                                      "currency": "BYN"}}
    opened = terminal.post("/open", {"code": code})
    assert opened.status_code == 200, opened.text
    assert opened.json()["cell"] == "A2" and opened.json()["status"] == "picked_up"

    with factory() as session:
        parcel = _parcel(session, barcode)
        assert parcel.status == "picked_up" and parcel.paid and parcel.picked_up_at
        assert parcel.cell_id is None
        cell = session.get(LockerCell, site.cells["A2"])
        assert cell is not None and cell.state == CellState.FREE
        payment = session.scalar(select(ParcelPayment).where(ParcelPayment.parcel_id == parcel.id))
        assert payment is not None
        assert (payment.amount, payment.tendered, payment.change, payment.method.value) == (
            Decimal("25.50"), Decimal("30"), Decimal("4.50"), "cash")
        credit = session.scalar(select(PhoneCredit).where(PhoneCredit.payment_id == payment.id))
        assert credit is not None and credit.amount == Decimal("4.50")
        assert credit.phone == "+375 29 555-01-02"
        paid_event = session.scalar(select(ParcelEvent).where(
            ParcelEvent.parcel_id == parcel.id, ParcelEvent.kind == ParcelEventKind.PAID))
        assert paid_event is not None and paid_event.amount == Decimal("25.50")
        assert _events(session, barcode) == ["paid", "picked_up", "placed"]
    # The code has done its work.
    _error(terminal.post("/code", {"code": code}), 403, "wrong_code")


def test_a_prepaid_parcel_in_persian_opens_with_the_code_from_the_sms(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = add_parcel(factory, site, "B1", size="m", language="fa", status="registered")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    placed = terminal.place(barcode)  # a store's self-drop: registered → in locker
    assert placed.status_code == 200, placed.text
    with factory() as session:
        body = _sms(session, barcode)[0].body
        fa = translations("fa").gettext
        assert body.startswith(fa("Your parcel %(barcode)s is in the parcel locker %(locker)s, "
                                  "%(address)s. Pickup code: %(code)s. Collect it by "
                                  "%(deadline)s.").split("%(barcode)s")[0])
        assert fa("To pay at the locker: %(amount)s.").split("%(amount)s")[0] not in body
        code = _code_of(session, barcode)
    entered = terminal.post("/code", {"code": code, "phone": "0102"})
    assert entered.status_code == 200 and entered.json()["next"] == "open", entered.text
    opened = terminal.post("/open", {"code": code, "phone": "+375295550102"})
    assert opened.status_code == 200 and opened.json()["cell"] == "B1", opened.text
    with factory() as session:
        assert _parcel(session, barcode).status == "picked_up"
        assert _events(session, barcode) == ["picked_up", "placed"]


def test_pickup_codes_are_unique_among_the_lockers_live_parcels(
        factory: sessionmaker[Session]) -> None:
    from services.terminal import new_pickup_code

    site = build_site(factory)
    barcode = add_parcel(factory, site, "A1")
    with factory() as session, session.begin():
        session.execute(update(Parcel).where(Parcel.barcode == barcode).values(
            status="in_locker", pickup_code_hash=hash_pickup_code("123456")))
    import services.terminal as terminal

    draws = iter(["123456", "123456", "654321"])
    original = terminal.secrets.randbelow
    terminal.secrets.randbelow = lambda _n: int(next(draws))  # type: ignore[assignment]
    try:
        with factory() as session:
            assert new_pickup_code(session, site.locker) == "654321"
    finally:
        terminal.secrets.randbelow = original  # type: ignore[assignment]


# --- idempotency --------------------------------------------------------------------------


def test_a_retried_request_gets_the_same_answer_and_changes_nothing_twice(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = add_parcel(factory, site, "A1", declared="10")
    terminal = Terminal(client, site)
    first_sign_in = terminal.sign_in(key="sign-in-1")
    again = terminal.sign_in(key="sign-in-1")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first_sign_in.json()  # the same token, never stored
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(TerminalSession).where(
            TerminalSession.locker_id == site.locker)) == 1
        stored = session.scalar(select(TerminalRequest.response).where(
            TerminalRequest.locker_id == site.locker, TerminalRequest.key == "sign-in-1"))
        assert stored is not None and terminal.token not in stored

    terminal.post("/courier/scan", {"barcode": barcode})
    body = {"barcode": barcode, "cell": "A1"}
    first = terminal.post("/courier/cell-closed", body, key="close-1")
    assert first.status_code == 200, first.text
    with factory() as session:
        after_first = _footprint(session)
    retry = terminal.post("/courier/cell-closed", body, key="close-1")
    assert retry.status_code == 200 and retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    with factory() as session:
        assert _footprint(session) == after_first
        assert len(_sms(session, barcode)) == 1
        code = _code_of(session, barcode)
    # The same key for another request is refused.
    message = _error(terminal.post("/courier/scan", {"barcode": barcode}, key="close-1"),
                     422, "idempotency_key_reused")
    assert "Idempotency-Key" in message

    pay = {"code": code, "method": "card", "amount": "12"}
    paid = terminal.post("/payment", pay, key="pay-1")
    assert paid.status_code == 200, paid.text
    assert terminal.post("/payment", pay, key="pay-1").json() == paid.json()
    opened = terminal.post("/open", {"code": code}, key="open-1")
    assert terminal.post("/open", {"code": code}, key="open-1").json() == opened.json()
    with factory() as session:
        parcel = _parcel(session, barcode)
        assert session.scalar(select(func.count()).select_from(ParcelPayment).where(
            ParcelPayment.parcel_id == parcel.id)) == 1
        assert session.scalar(select(func.count()).select_from(StatusChange).where(
            StatusChange.table_name == "parcels", StatusChange.record_id == parcel.id)) == 2

    # A wrong code retried with its key is counted once.
    wrong = "000000" if code != "000000" else "000001"
    _error(terminal.post("/code", {"code": wrong}, key="wrong-1"), 403, "wrong_code")
    _error(terminal.post("/code", {"code": wrong}, key="wrong-1"), 403, "wrong_code")
    with factory() as session:
        locker = session.get(Locker, site.locker)
        assert locker is not None and locker.code_failures == 1


# --- refusals -----------------------------------------------------------------------------


def test_each_refusal_is_clear_and_writes_nothing(client: TestClient,
                                                 factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    other = build_site(factory)
    mine = add_parcel(factory, site, "A1")
    second = add_parcel(factory, site, "A2")
    theirs = add_parcel(factory, other, "A1")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    assert terminal.place(mine).status_code == 200
    elsewhere = Terminal(client, other)
    assert elsewhere.sign_in().status_code == 200
    assert elsewhere.place(theirs).status_code == 200
    with factory() as session:
        their_code = _code_of(session, theirs)
        my_code = _code_of(session, mine)
        before = _footprint(session)

    def refused(response: Any, status: int, code: str) -> str:
        message = _error(response, status, code)
        with factory() as session:
            assert _footprint(session) == before, code
        return message

    # A wrong device key, or none.
    for key in ("pdt_wrong", None):
        headers = terminal.headers()
        if key is None:
            headers.pop("X-Device-Key")
        else:
            headers["X-Device-Key"] = key
        refused(client.post(f"{API}/courier/scan", json={"barcode": mine}, headers=headers),
                401, "unauthorized")
    # No courier signed in.
    refused(terminal.post("/courier/scan", {"barcode": second}, **{"X-Courier-Token": "x"}),
            401, "courier_unauthorized")
    # A parcel of another locker.
    message = refused(terminal.post("/courier/scan", {"barcode": theirs}), 409, "wrong_locker")
    assert theirs in message
    # An unknown barcode.
    refused(terminal.post("/courier/scan", {"barcode": "NOPE"}), 404, "parcel_not_found")
    # A parcel scanned twice (it is already in the locker), a replayed placement.
    refused(terminal.post("/courier/scan", {"barcode": mine}), 409, "already_placed")
    refused(terminal.post("/courier/cell-closed", {"barcode": mine, "cell": "A1"}), 409,
            "already_placed")
    # A cell already closed (another parcel is in it), a cell that is not the parcel's.
    refused(terminal.post("/courier/cell-closed", {"barcode": second, "cell": "A1"}), 409,
            "wrong_cell")
    refused(terminal.post("/courier/cell-closed", {"barcode": second, "cell": "C1"}), 409,
            "wrong_cell")
    # A parcel not yet with a courier.
    fresh = add_parcel(factory, site, None, status="pickup_requested")
    with factory() as session:
        before = _footprint(session)
    refused(terminal.post("/courier/scan", {"barcode": fresh}), 409, "wrong_state")
    # The code of another locker's parcel opens nothing here (counted on this terminal only).
    _error(terminal.post("/code", {"code": their_code}), 403, "wrong_code")
    with factory() as session:
        theirs_row = _parcel(session, theirs)
        assert theirs_row.status == "in_locker" and theirs_row.code_failures == 0
    # Bad input is a 422 in the error shape; Russian on request.
    terminal.lang = "ru"
    message = _error(terminal.post("/payment", {"code": my_code, "method": "gold",
                                                "amount": "1"}), 422, "invalid_request")
    assert message
    _error(terminal.post("/code", {"code": "12345"}), 422, "invalid_request")


def test_the_pin_is_locked_after_five_wrong_entries(client: TestClient,
                                                    factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    terminal = Terminal(client, site)
    for _ in range(4):
        _error(terminal.sign_in("0000"), 401, "sign_in_failed")
    message = _error(terminal.sign_in("0000"), 429, "pin_locked")
    assert "5" in message
    _error(terminal.sign_in(PIN), 429, "pin_locked")  # even the right PIN, while locked
    unknown = terminal.post("/courier/sign-in", {"badge_number": "NO-SUCH", "pin": PIN})
    _error(unknown, 401, "sign_in_failed")
    with factory() as session, session.begin():
        session.execute(update(Courier).where(Courier.id == site.courier)
                        .values(pin_locked_until=utcnow() - timedelta(seconds=1)))
    assert terminal.sign_in().status_code == 200
    with factory() as session:
        courier = session.get(Courier, site.courier)
        assert courier is not None and courier.pin_failures == 0
        assert courier.pin_hash and PIN not in courier.pin_hash


def test_wrong_codes_block_the_parcel_then_the_terminal(client: TestClient,
                                                        factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = add_parcel(factory, site, "A1", phone="+375291234567")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    assert terminal.place(barcode).status_code == 200
    with factory() as session:
        code = _code_of(session, barcode)
    wrong = [f"{n:06d}" for n in range(100, 200) if f"{n:06d}" != code]
    # Per parcel: the buyer names the phone; 5 wrong codes block it, the right one too.
    for attempt in wrong[:5]:
        _error(terminal.post("/code", {"code": attempt, "phone": "4567"}), 403, "wrong_code")
    _error(terminal.post("/code", {"code": code, "phone": "4567"}), 423, "code_blocked")
    _error(terminal.post("/open", {"code": code}), 423, "code_blocked")
    with factory() as session:
        assert _parcel(session, barcode).status == "in_locker"
        locker = session.get(Locker, site.locker)
        assert locker is not None and locker.code_failures == 5
    # Per terminal: 20 wrong codes in all lock every code for 15 minutes.
    for attempt in wrong[5:19]:
        _error(terminal.post("/code", {"code": attempt}), 403, "wrong_code")
    message = _error(terminal.post("/code", {"code": wrong[19]}), 429, "terminal_locked")
    assert "15" in message
    _error(terminal.post("/code", {"code": code}), 429, "terminal_locked")
    with factory() as session:
        locker = session.get(Locker, site.locker)
        assert locker is not None and locker.code_locked_until is not None
    # Staff reset the parcel's code: a new SMS, the old code dead, the new one opens.
    with factory() as session, session.begin():
        reset_pickup_code(session, _parcel(session, barcode).id)
        session.execute(update(Locker).where(Locker.id == site.locker)
                        .values(code_locked_until=None))
    with factory() as session:
        messages = _sms(session, barcode)
        assert len(messages) == 2 and _parcel(session, barcode).code_failures == 0
        new_code = _code_in(session, messages[-1].body, barcode)
    if new_code != code:
        _error(terminal.post("/code", {"code": code}), 403, "wrong_code")
    assert terminal.post("/open", {"code": new_code}).status_code == 200


# --- collecting expired parcels, a released reservation -----------------------------------


def test_the_courier_collects_an_expired_parcel_for_return(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = add_parcel(factory, site, "A1")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    assert terminal.place(barcode).status_code == 200
    with factory() as session, session.begin():
        session.execute(update(Parcel).where(Parcel.barcode == barcode)
                        .values(status="storage_expired"))
    listed = client.get(f"{API}/courier/expired", headers=terminal.headers())
    assert listed.status_code == 200, listed.text
    assert [(p["barcode"], p["cell"]) for p in listed.json()["parcels"]] == [(barcode, "A1")]
    _error(client.get(f"{API}/courier/expired", headers={"X-Device-Key": site.key}), 401,
           "courier_unauthorized")
    collected = terminal.post("/courier/collect", {"barcode": barcode})
    assert collected.status_code == 200, collected.text
    assert collected.json()["cell"] == "A1" and collected.json()["status"] == "returned"
    with factory() as session:
        parcel = _parcel(session, barcode)
        assert parcel.status == "returned" and parcel.cell_id is None
        cell = session.get(LockerCell, site.cells["A1"])
        assert cell is not None and cell.state == CellState.FREE
        comment = session.scalar(select(StatusChange.comment).where(
            StatusChange.record_id == parcel.id, StatusChange.to_state == "returned"))
        assert comment is not None and site.locker_code in comment and "A1" in comment
        assert _events(session, barcode) == ["placed", "returned"]
    _error(terminal.post("/courier/collect", {"barcode": barcode}), 409, "wrong_state")
    assert client.get(f"{API}/courier/expired", headers=terminal.headers()).json() == {
        "parcels": []}


def test_a_buyer_may_still_pick_up_a_parcel_whose_storage_expired(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    site = build_site(factory)
    barcode = add_parcel(factory, site, "A2")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    assert terminal.place(barcode).status_code == 200
    with factory() as session, session.begin():
        session.execute(update(Parcel).where(Parcel.barcode == barcode)
                        .values(status="storage_expired"))
    with factory() as session:
        code = _code_of(session, barcode)
    opened = terminal.post("/open", {"code": code})
    assert opened.status_code == 200 and opened.json()["status"] == "picked_up", opened.text
    with factory() as session:
        parcel = _parcel(session, barcode)
        assert parcel.cell_id is None and parcel.picked_up_at is not None
        change = session.scalar(select(StatusChange).where(
            StatusChange.record_id == parcel.id, StatusChange.to_state == "picked_up"))
        assert change is not None and change.from_state == "storage_expired"


def test_a_released_reservation_gets_a_new_cell_or_a_clear_refusal(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    site = build_site(factory, cells=(("A1", "s"), ("B1", "m")), zoned=False)
    first = add_parcel(factory, site, None, size="m")
    second = add_parcel(factory, site, None, size="m")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    scanned = terminal.post("/courier/scan", {"barcode": first})
    assert scanned.status_code == 200 and scanned.json()["cell"] == "B1", scanned.text
    closed = terminal.post("/courier/cell-closed", {"barcode": first, "cell": "B1"})
    assert closed.status_code == 200, closed.text
    with factory() as session:
        parcel = _parcel(session, first)
        # No zone tariff: the setting's 3 days.
        assert parcel.stored_until == parcel.placed_at + timedelta(days=3)  # type: ignore[operator]
        before = _footprint(session)
    message = _error(terminal.post("/courier/scan", {"barcode": second}), 409, "no_free_cell")
    assert second in message
    with factory() as session:
        assert _footprint(session) == before
        assert _parcel(session, second).cell_id is None


def test_the_document_lists_the_terminal_operations(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    for path, method in (("/terminal/courier/sign-in", "post"), ("/terminal/courier/scan", "post"),
                         ("/terminal/courier/cell-closed", "post"),
                         ("/terminal/courier/expired", "get"),
                         ("/terminal/courier/collect", "post"), ("/terminal/code", "post"),
                         ("/terminal/payment", "post"), ("/terminal/open", "post")):
        operation = spec["paths"][path][method]
        assert operation["description"] and "401" in operation["responses"], path
        names = {p["name"] for p in operation.get("parameters", [])}
        assert method == "get" or "Idempotency-Key" in names, path
    schemes = spec["components"]["securitySchemes"]
    assert schemes["DeviceKey"]["name"] == "X-Device-Key"


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4"])
def test_a_pin_is_four_to_eight_digits(factory: sessionmaker[Session], pin: str) -> None:
    from services.terminal import InvalidValue

    site = build_site(factory)
    with factory() as session, pytest.raises(InvalidValue):
        set_courier_pin(session, site.courier, pin)


def test_two_terminals_racing_to_place_one_parcel_place_it_once(
        client: TestClient, factory: sessionmaker[Session]) -> None:
    """Two "cell closed" for one parcel at the same moment (new keys each, and one key twice):
    one placement, one SMS, one event; the others are refused or replay the winner."""
    from concurrent.futures import ThreadPoolExecutor

    site = build_site(factory)
    barcode = add_parcel(factory, site, "A1")
    terminal = Terminal(client, site)
    assert terminal.sign_in().status_code == 200
    assert terminal.post("/courier/scan", {"barcode": barcode}).status_code == 200
    body = {"barcode": barcode, "cell": "A1"}
    keys = ["race-a", "race-b", "race-c", "race-c"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda k: terminal.post("/courier/cell-closed", body, key=k),
                                keys))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409}, [a.text for a in answers]
    winners = {a.json()["stored_until"] for a in answers if a.status_code == 200}
    assert len(winners) == 1  # every 200 is the one placement (a replay of its key)
    with factory() as session:
        assert len(_sms(session, barcode)) == 1
        assert _events(session, barcode) == ["placed"]
        parcel = _parcel(session, barcode)
        assert session.scalar(select(func.count()).select_from(StatusChange).where(
            StatusChange.table_name == "parcels", StatusChange.record_id == parcel.id)) == 1
