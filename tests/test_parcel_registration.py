"""Registering a parcel with a reserved cell (R-LOCK-2): services.parcels, the API
(POST /api/v1/parcels, GET /api/v1/parcels/{barcode}, GET /api/v1/lockers), the admin's
"Register a parcel" page, orders to a locker, stale reservations, and the PostgreSQL race
(120 concurrent registrations against 30 free cells)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from schema.lockers import (
    CellSize,
    CellState,
    Locker,
    LockerCell,
    Parcel,
    ParcelEvent,
    ParcelEventKind,
)
from schema.people import Merchant, RoleCode, Setting
from schema.workflows import StatusChange
from seed.demo import factories as f
from services.actor import Actor
from services.api_keys import issue_api_key
from services.errors import Refused
from services.ordering import OrderInput, place_order
from services.parcels import (
    NoFreeCell,
    ParcelInput,
    ParcelRefused,
    check_digit,
    register_parcel,
    release_stale_reservations,
    valid_barcode,
)
from services.pricing import CartItem
from tests.conftest import unique
from tests.locker_money import fund
from tests.races import race

D = Decimal


@dataclass(frozen=True)
class Lockers:
    merchant: int
    other: int
    locker: int  # S1 out of order, S2 free, M1 free, L1 free
    code: str
    full: int  # one M cell, reserved
    near: int  # same city, 0.5 km from full (locker: 5.5 km), a free L cell
    far: int  # same city, 50 km away, a free XL cell
    inactive: int
    city: str


def build_lockers(factory: sessionmaker[Session]) -> Lockers:
    with factory() as s, f.using_session(s):
        merchant = f.MerchantFactory(currency="BYN")
        other = f.MerchantFactory(currency="BYN")
        city = unique("Город")
        locker = f.LockerFactory(city=city, latitude=53.90, longitude=27.56)
        for code, size, state in (("S1", CellSize.S, CellState.OUT_OF_ORDER),
                                  ("S2", CellSize.S, CellState.FREE),
                                  ("M1", CellSize.M, CellState.FREE),
                                  ("L1", CellSize.L, CellState.FREE)):
            f.LockerCellFactory(locker=locker, code=code, size=size, state=state)
        full = f.LockerFactory(city=city.upper(), latitude=53.95, longitude=27.56)
        f.LockerCellFactory(locker=full, code="M1", size=CellSize.M, state=CellState.RESERVED)
        near = f.LockerFactory(city=city, latitude=53.955, longitude=27.56)
        f.LockerCellFactory(locker=near, code="L1", size=CellSize.L)
        far = f.LockerFactory(city=city, latitude=54.35, longitude=27.56)
        f.LockerCellFactory(locker=far, code="X1", size=CellSize.XL)
        inactive = f.LockerFactory(city=city, active=False)
        f.LockerCellFactory(locker=inactive, code="M1", size=CellSize.M)
        s.flush()
        # Registering charges the store (issue 13): its zones' tariffs and a prepaid balance.
        fund(s, (merchant.id, other.id), (locker, full, near, far, inactive))
        built = Lockers(merchant.id, other.id, locker.id, locker.code, full.id, near.id, far.id,
                        inactive.id, city)
        s.commit()
        return built


@pytest.fixture
def lockers(factory: sessionmaker[Session]) -> Lockers:
    return build_lockers(factory)


def merchant_actor(merchant: int) -> Actor:
    return Actor(user_id=None, username="api", role="merchant", merchant_id=merchant)


def parcel_input(locker: int, **kw: object) -> ParcelInput:
    base: dict[str, object] = {"locker_id": locker, "size": "s", "recipient_name": "Анна",
                               "recipient_phone": "+375 (29) 123-45-67",
                               "recipient_language": "ru"}
    return ParcelInput(**{**base, **kw})  # type: ignore[arg-type]


def register(factory: sessionmaker[Session], merchant: int, data: ParcelInput,
             **kw: object) -> Parcel:
    with factory() as session, session.begin():
        return register_parcel(session, merchant_actor(merchant), data, **kw)  # type: ignore[arg-type]


def _written(session: Session, locker: int) -> tuple[int, int, int, dict[str, str]]:
    parcels = session.scalar(select(func.count()).select_from(Parcel)
                             .where(Parcel.locker_id == locker))
    events = session.scalar(select(func.count()).select_from(ParcelEvent)
                            .where(ParcelEvent.locker_id == locker))
    history = session.scalar(select(func.count()).select_from(StatusChange).where(
        StatusChange.table_name == "parcels",
        StatusChange.record_id.in_(select(Parcel.id).where(Parcel.locker_id == locker))))
    cells = dict(session.execute(select(LockerCell.code, LockerCell.state)
                                 .where(LockerCell.locker_id == locker)).all())
    return parcels or 0, events or 0, history or 0, {k: str(v) for k, v in cells.items()}


def _set(factory: sessionmaker[Session], key: str, value: str) -> None:
    with factory() as session, session.begin():
        row = session.scalar(select(Setting).where(Setting.key == key))
        if row is None:
            session.add(Setting(key=key, value=value))
        else:
            row.value = value


# --- the service --------------------------------------------------------------------------


def test_barcodes_carry_a_check_digit() -> None:
    assert check_digit("629104150021") == "3"  # an EAN-13's digits
    assert valid_barcode("PD" + "1234567890" + check_digit("1234567890"))
    assert not valid_barcode("PD" + "1234567890" + str((int(check_digit("1234567890")) + 1)
                                                        % 10))


def test_registration_reserves_the_smallest_fitting_cell(factory: sessionmaker[Session],
                                                          lockers: Lockers) -> None:
    now = datetime.now(UTC)
    parcel = register(factory, lockers.merchant, parcel_input(
        lockers.locker, declared_price=D("1500.50"), drop_date=now.date() + timedelta(days=1)),
        now=now)
    with factory() as session:
        parcel = session.get(Parcel, parcel.id)
        assert parcel is not None and valid_barcode(parcel.barcode)
        assert parcel.cell is not None and parcel.cell.code == "S2"  # S1 is out of order
        assert parcel.cell.state == CellState.RESERVED
        assert parcel.status == "pickup_requested"  # courier pickup: the courier's task
        assert parcel.recipient_phone == "+375291234567"
        assert parcel.declared_price == D("1500.50") and parcel.currency == "BYN"
        # Dropped off tomorrow: the 72 hours count from the start of that day.
        tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
        assert parcel.reserved_until == tomorrow + timedelta(hours=72)
        moves = session.scalars(select(StatusChange.to_state).where(
            StatusChange.table_name == "parcels", StatusChange.record_id == parcel.id)
            .order_by(StatusChange.id)).all()
        assert moves == ["registered", "pickup_requested"]
        kinds = set(session.scalars(select(ParcelEvent.kind)
                                    .where(ParcelEvent.parcel_id == parcel.id)))
        assert kinds == {ParcelEventKind.REGISTERED, ParcelEventKind.RESERVED}
    # S is gone: the next small parcel takes M, a self-drop stays registered.
    second = register(factory, lockers.merchant, parcel_input(lockers.locker,
                                                              drop_mode="self_drop"))
    third = register(factory, lockers.merchant, parcel_input(lockers.locker, size="l"))
    with factory() as session:
        assert [session.get(Parcel, p.id).cell.code for p in (second, third)] == ["M1", "L1"]  # type: ignore[union-attr]
        assert session.get(Parcel, second.id).status == "registered"  # type: ignore[union-attr]


@pytest.mark.parametrize("change,message", [
    ({"size": "xl"}, "has no free cell for a parcel of size XL"),
    ({"locker_id": -1}, "no parcel locker"),
    ({"recipient_phone": "12-34"}, "must have 7 to 15 digits"),
    ({"recipient_phone": "call me"}, "may hold only digits"),
    ({"recipient_phone": ""}, "phone number"),
    ({"recipient_name": " "}, "recipient's name"),
    ({"recipient_language": "de"}, "must be one of en, ru, fa"),
    ({"declared_price": D("-1")}, "cannot be negative"),
    ({"declared_price": D("10.005")}, "more than 2 decimal places"),
    ({"declared_price": D("1"), "currency": "USD"}, "store's currency, BYN"),
    ({"drop_date": date(2020, 1, 1)}, "in the past"),
    ({"drop_mode": "teleport"}, "how the parcel reaches"),
    ({"size": "huge"}, "Choose the parcel's size"),
])
def test_refusals_write_nothing(factory: sessionmaker[Session], lockers: Lockers,
                                change: dict[str, object], message: str) -> None:
    with factory() as session:
        before = _written(session, lockers.locker)
    with pytest.raises(Refused, match=message):
        register(factory, lockers.merchant, parcel_input(lockers.locker, **change))
    with factory() as session:
        assert _written(session, lockers.locker) == before


def test_an_inactive_locker_and_a_full_one_are_refused(factory: sessionmaker[Session],
                                                       lockers: Lockers) -> None:
    with pytest.raises(ParcelRefused, match="not in service"):
        register(factory, lockers.merchant, parcel_input(lockers.inactive, size="m"))
    with pytest.raises(NoFreeCell, match="Choose another locker"):
        register(factory, lockers.merchant, parcel_input(lockers.full, size="m"))
    with factory() as session:
        assert _written(session, lockers.inactive)[:3] == (0, 0, 0)
        assert _written(session, lockers.full) == (0, 0, 0, {"M1": "reserved"})


def test_the_nearest_locker_with_space_is_offered_by_setting(factory: sessionmaker[Session],
                                                             lockers: Lockers) -> None:
    _set(factory, "locker_offer_nearest", "yes")
    try:
        with pytest.raises(NoFreeCell) as refused:
            register(factory, lockers.merchant, parcel_input(lockers.full, size="m"))
        with factory() as session:
            near = session.get(Locker, lockers.near)
            assert near is not None
            # Both fit an M parcel; the one 1 km away is named, not the one 50 km away.
            assert f"The nearest locker with space is {near}" in str(refused.value)
            far = session.get(Locker, lockers.far)
            assert far is not None
        with pytest.raises(NoFreeCell, match=f"The nearest locker with space is {far}"):
            register(factory, lockers.merchant, parcel_input(lockers.full, size="xl"))
        register(factory, lockers.merchant, parcel_input(lockers.far, size="xl"))
        with pytest.raises(NoFreeCell, match="no other locker in its city"):
            register(factory, lockers.merchant, parcel_input(lockers.full, size="xl"))
    finally:
        _set(factory, "locker_offer_nearest", "no")


def test_stale_reservations_are_released(factory: sessionmaker[Session],
                                         lockers: Lockers) -> None:
    then = datetime.now(UTC) - timedelta(hours=80)
    stale = register(factory, lockers.merchant, parcel_input(lockers.locker), now=then)
    fresh = register(factory, lockers.merchant, parcel_input(lockers.locker))
    with factory() as session, session.begin():
        assert release_stale_reservations(session, datetime.now(UTC)) >= 1
    with factory() as session, session.begin():
        assert release_stale_reservations(session, datetime.now(UTC)) == 0  # idempotent
        old, new = session.get(Parcel, stale.id), session.get(Parcel, fresh.id)
        assert old is not None and new is not None
        assert old.cell_id is None and old.reserved_until is None
        assert old.status == "pickup_requested"  # it gets a new cell when it is placed
        assert new.cell_id is not None
        cells = _written(session, lockers.locker)[3]
        assert cells["S2"] == "free" and cells["S1"] == "out_of_order"
        assert session.scalar(select(ParcelEvent.kind).where(
            ParcelEvent.parcel_id == stale.id, ParcelEvent.kind == ParcelEventKind.RELEASED))


def test_an_order_to_a_locker_registers_its_parcel(factory: sessionmaker[Session],
                                                   lockers: Lockers) -> None:
    with factory() as s, f.using_session(s):
        product = f.ProductFactory(merchant=s.get(Merchant, lockers.merchant), price=D(1000),
                                   weight_g=25)
        cod = f.PaymentMethodFactory(kind="cash_on_delivery", discount_value=D(0),
                                     tax_percent=D(0))
        s.flush()
        product_id, cod_id = product.id, cod.id
        s.commit()
    order_input = OrderInput(cart=[CartItem(product_id, 2)], delivery_kind="locker",
                             locker_id=lockers.locker, parcel_size="m",
                             payment_method_id=cod_id, recipient_name="Ali",
                             recipient_phone="+989121234567")
    with factory() as session, session.begin():
        order = place_order(session, lockers.merchant, order_input)
    with factory() as session:
        parcel = session.scalar(select(Parcel).where(Parcel.order_id == order.id))
        assert parcel is not None and parcel.cell is not None and parcel.cell.code == "M1"
        assert parcel.declared_price == order.balance_due == D(2000)
        assert parcel.merchant_id == lockers.merchant
    # No cell left: the order is refused with the parcel, nothing written.
    with factory() as session:
        orders_before = session.scalar(select(func.count(Parcel.id)))
    with pytest.raises(NoFreeCell):
        with factory() as session, session.begin():
            place_order(session, lockers.merchant,
                        replace(order_input, locker_id=lockers.full))
    with pytest.raises(Refused, match="only for delivery to a parcel locker"):
        with factory() as session, session.begin():
            place_order(session, lockers.merchant,
                        replace(order_input, delivery_kind="address"))
    with factory() as session:
        assert session.scalar(select(func.count(Parcel.id))) == orders_before


# --- the API ------------------------------------------------------------------------------


def _key(factory: sessionmaker[Session], merchant: int) -> dict[str, str]:
    with factory() as session, session.begin():
        return {"X-API-Key": issue_api_key(session, merchant)}


def test_api_registers_reads_and_lists(client: TestClient, factory: sessionmaker[Session],
                                       lockers: Lockers) -> None:
    headers = _key(factory, lockers.merchant)
    listed = client.get("/api/v1/lockers", params={"city": lockers.city.upper()},
                        headers=headers)
    assert listed.status_code == 200, listed.text
    by_id = {x["id"]: x for x in listed.json()["lockers"]}
    assert lockers.inactive not in by_id
    assert by_id[lockers.locker]["free_cells"] == {"s": 1, "m": 1, "l": 1, "xl": 0}

    body = {"locker_id": lockers.locker, "size": "m", "declared_price": "25.50",
            "recipient": {"name": "Sara", "phone": "+98 912 123 4567", "language": "fa"},
            "drop_mode": "self_drop", "drop_date": date.today().isoformat()}
    created = client.post("/api/v1/parcels", json=body, headers=headers)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["status"] == "registered" and out["locker_code"] == lockers.code
    assert out["cell"] == {"code": "M1", "size": "m"} and out["reserved_until"]
    assert out["declared_price"] == "25.5000" or D(out["declared_price"]) == D("25.50")

    read = client.get(f"/api/v1/parcels/{out['barcode']}", headers=headers)
    assert read.status_code == 200, read.text
    assert [h["to_state"] for h in read.json()["history"]] == ["registered"]
    # Another store's key reads it as missing, exactly like a barcode nobody has.
    other = _key(factory, lockers.other)
    for barcode, key in ((out["barcode"], other), ("PD00000000000", headers)):
        missing = client.get(f"/api/v1/parcels/{barcode}", headers=key)
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"]["code"] == "parcel_not_found"
    assert client.get("/api/v1/lockers", params={"city": lockers.city},
                      headers=headers).json()["lockers"][0]["free_cells"]["m"] in (0, 1)


def test_api_refusals_are_in_the_error_shape_and_write_nothing(
        client: TestClient, factory: sessionmaker[Session], lockers: Lockers) -> None:
    headers = {**_key(factory, lockers.merchant), "Accept-Language": "ru"}
    with factory() as session:
        before = _written(session, lockers.full)
    body = {"locker_id": lockers.full, "size": "m",
            "recipient": {"name": "Sara", "phone": "+375291234567"}}
    full = client.post("/api/v1/parcels", json=body, headers=headers)
    assert full.status_code == 400 and full.json()["error"]["code"] == "no_free_cell"
    bad_phone = client.post("/api/v1/parcels", headers=headers, json={
        **body, "locker_id": lockers.locker, "recipient": {"name": "S", "phone": "12"}})
    assert bad_phone.status_code == 422, bad_phone.text
    assert bad_phone.json()["error"]["code"] == "invalid_request"
    bad_amount = client.post("/api/v1/parcels", headers=headers,
                             json={**body, "locker_id": lockers.locker, "declared_price": "1e3"})
    assert bad_amount.status_code == 422
    assert client.post("/api/v1/parcels", json=body).status_code == 401
    with factory() as session:
        assert _written(session, lockers.full) == before
        assert _written(session, lockers.locker)[:3] == (0, 0, 0)


# --- the admin page -----------------------------------------------------------------------


def test_the_admin_page_registers_for_a_merchant_user(signed_in, factory: sessionmaker[Session],  # type: ignore[no-untyped-def]
                                                      lockers: Lockers) -> None:
    browser = signed_in(RoleCode.MERCHANT, merchant_id=lockers.merchant)
    page = browser.get("/admin/parcel-registration")
    assert page.status_code == 200, page.text
    assert lockers.code in page.text
    sent = browser.post("/admin/parcel-registration", data={
        "locker_id": str(lockers.locker), "size": "s", "recipient_name": "Анна",
        "recipient_phone": "+375291234567", "recipient_language": "ru",
        "declared_price": "10", "drop_mode": "courier_pickup",
        "drop_date": date.today().isoformat()}, follow_redirects=True)
    assert sent.status_code == 200, sent.text
    with factory() as session:
        parcel = session.scalar(select(Parcel).where(Parcel.locker_id == lockers.locker))
        assert parcel is not None and parcel.merchant_id == lockers.merchant
        assert parcel.cell is not None and parcel.cell.code == "S2"
        assert parcel.barcode in sent.text and "S2" in sent.text
    # A refusal stays on the page with the reason; nothing more is written.
    refused = browser.post("/admin/parcel-registration", data={
        "locker_id": str(lockers.full), "size": "m", "recipient_name": "Анна",
        "recipient_phone": "+375291234567", "recipient_language": "ru",
        "drop_mode": "self_drop"})
    assert refused.status_code == 400 and "no free cell" in refused.text
    # The generic create form of parcels leads to this page.
    assert browser.get("/admin/parcels/create", follow_redirects=False).headers[
        "location"].endswith("/admin/parcel-registration")


def test_a_manager_chooses_the_store(signed_in, factory: sessionmaker[Session],  # type: ignore[no-untyped-def]
                                     lockers: Lockers) -> None:
    browser = signed_in(RoleCode.MANAGER)
    data = {"locker_id": str(lockers.locker), "size": "l", "recipient_name": "Ali",
            "recipient_phone": "09121234567", "recipient_language": "fa",
            "drop_mode": "self_drop"}
    missing = browser.post("/admin/parcel-registration", data=data)
    assert missing.status_code == 400 and "Choose the store" in missing.text
    sent = browser.post("/admin/parcel-registration",
                        data={**data, "merchant_id": str(lockers.merchant)},
                        follow_redirects=True)
    assert sent.status_code == 200, sent.text
    with factory() as session:
        parcel = session.scalar(select(Parcel).where(Parcel.locker_id == lockers.locker))
        assert parcel is not None and parcel.merchant_id == lockers.merchant


def test_couriers_may_not_register(signed_in) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in(RoleCode.COURIER)
    assert browser.get("/admin/parcel-registration").status_code in (403, 404)


# --- PostgreSQL: the race -----------------------------------------------------------------


def test_120_concurrent_registrations_against_30_free_cells(factory: sessionmaker[Session],
                                                             backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (POSTDESK_TEST_DATABASE_URL); SQLite "
                    "serialises writers and the conditional UPDATE decides, tested above")
    with factory() as s, f.using_session(s):
        merchant = f.MerchantFactory(currency="BYN")
        locker = f.LockerFactory(city=unique("Race"))
        for i in range(30):
            f.LockerCellFactory(locker=locker, code=f"R{i:02d}", size=CellSize.M)
        f.LockerCellFactory(locker=locker, code="R99", size=CellSize.M,
                            state=CellState.OUT_OF_ORDER)
        s.flush()
        fund(s, (merchant.id,), (locker,), "100000.00")  # money for every attempt
        merchant_id, locker_id = merchant.id, locker.id
        s.commit()

    def attempt() -> str:
        register(factory, merchant_id, parcel_input(locker_id, size="s"))
        return "ok"

    outcomes = race(120, attempt, expected=(NoFreeCell, "no free cell"))
    assert outcomes == Counter({"ok": 30, "no free cell": 90}), outcomes
    with factory() as session:
        cells = session.scalars(select(Parcel.cell_id).where(Parcel.locker_id == locker_id))
        taken = list(cells)
        assert len(taken) == len(set(taken)) == 30 and None not in taken
        states = Counter(session.scalars(select(LockerCell.state)
                                         .where(LockerCell.locker_id == locker_id)))
        assert states == {CellState.RESERVED: 30, CellState.OUT_OF_ORDER: 1}
        assert session.scalar(select(func.count()).select_from(ParcelEvent).where(
            ParcelEvent.locker_id == locker_id, ParcelEvent.kind == ParcelEventKind.RESERVED)) == 30
