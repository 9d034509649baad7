"""The tariff choice and the charge of every event (rules.locker_tariffs): worked examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rules.locker_tariffs import (
    CASH_COLLECTED,
    CHARGE,
    FEE,
    Charge,
    EventFacts,
    Tariff,
    cash_fee,
    charges_for,
    choose_tariff,
    extra_days,
    fee_percent,
    registration_price,
)

D = Decimal
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def tariff(zone: int = 1, size: str | None = None, **kw: object) -> Tariff:
    base: dict[str, object] = dict(
        zone_id=zone, size=size, pickup_price=D("3.00"), delivery_price=D("4.00"),
        storage_price=D("2.00"), storage_days=3, unused_price=D("1.50"),
        extra_day_price=D("0.70"), currency="BYN")
    return Tariff(**{**base, **kw})  # type: ignore[arg-type]


def test_registration_by_courier_pays_pickup_delivery_and_storage() -> None:
    t = tariff()
    assert registration_price(t, "courier_pickup") == D("9.00")
    assert charges_for(EventFacts("registered", "courier_pickup"), t, D("1.5"), 2) == [
        Charge(CHARGE, D("-9.00"), "BYN")]


def test_a_self_drop_pays_storage_only() -> None:
    assert charges_for(EventFacts("registered", "self_drop"), tariff(), D("1.5"), 2) == [
        Charge(CHARGE, D("-2.00"), "BYN")]


def test_an_unused_reservation_pays_the_unused_price() -> None:
    assert charges_for(EventFacts("released"), tariff(), D("1.5"), 2) == [
        Charge(CHARGE, D("-1.50"), "BYN")]
    assert charges_for(EventFacts("released"), tariff(unused_price=D(0)), D("1.5"), 2) == []


def test_the_cash_fee_is_rounded_half_up_to_the_minor_unit() -> None:
    assert cash_fee(D("33.35"), D("1.5"), 2) == D("0.50")  # 0.50025
    assert cash_fee(D("33.70"), D("1.5"), 2) == D("0.51")  # 0.5055
    assert cash_fee(D("31.00"), D("1.5"), 2) == D("0.47")  # 0.465: half-up, not half-even
    assert cash_fee(D("1000"), D("1.5"), 0) == D("15")
    assert cash_fee(D("333"), D("1.5"), 0) == D("5")  # 4.995


def test_a_payment_brings_the_cash_and_takes_the_fee() -> None:
    paid = EventFacts("paid", amount=D("33.70"), currency="BYN")
    assert charges_for(paid, None, D("1.5"), 2) == [
        Charge(CASH_COLLECTED, D("33.70"), "BYN"), Charge(FEE, D("-0.51"), "BYN")]


def test_the_contract_percent_overrides_the_setting_when_above_zero() -> None:
    assert fee_percent(D("2.5"), D("1.5")) == D("2.5")
    assert fee_percent(D("0"), D("1.5")) == D("1.5")
    assert fee_percent(None, D("1.5")) == D("1.5")


def test_extra_days_are_whole_days_started_after_the_deadline() -> None:
    assert extra_days(T0, T0) == 0
    assert extra_days(T0, T0 - timedelta(hours=5)) == 0
    assert extra_days(None, T0) == 0
    assert extra_days(T0, T0 + timedelta(seconds=1)) == 1
    assert extra_days(T0, T0 + timedelta(hours=24)) == 1
    assert extra_days(T0, T0 + timedelta(hours=24, seconds=1)) == 2


def test_late_pickup_and_return_pay_the_extra_days() -> None:
    t = tariff()
    on_time = EventFacts("picked_up", stored_until=T0, at=T0 - timedelta(minutes=1))
    assert charges_for(on_time, t, D("1.5"), 2) == []
    late = EventFacts("picked_up", stored_until=T0, at=T0 + timedelta(hours=24, seconds=1))
    assert charges_for(late, t, D("1.5"), 2) == [Charge(CHARGE, D("-1.40"), "BYN", 2)]
    back = EventFacts("returned", stored_until=T0, at=T0 + timedelta(seconds=1))
    assert charges_for(back, t, D("1.5"), 2) == [Charge(CHARGE, D("-0.70"), "BYN", 1)]


def test_other_events_cost_nothing() -> None:
    for kind in ("reserved", "received", "placed", "expired"):
        assert charges_for(EventFacts(kind), tariff(), D("1.5"), 2) == []


def test_the_size_row_wins_then_the_zone_row_then_none() -> None:
    zone_wide, medium = tariff(1), tariff(1, "m", pickup_price=D("5.00"))
    other_zone = tariff(2, "s")
    rows = [zone_wide, medium, other_zone]
    assert choose_tariff(rows, 1, "m") is medium
    assert choose_tariff(rows, 1, "s") is zone_wide  # no S row in zone 1: the zone's row
    assert choose_tariff(rows, 2, "s") is other_zone
    assert choose_tariff(rows, 2, "m") is None  # zone 2 has no row for M and none for all
    assert choose_tariff(rows, 3, "s") is None
    assert choose_tariff(rows, None, "s") is None
