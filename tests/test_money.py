"""Money round-trips exactly on both databases and never silently loses precision."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from schema.people import Merchant
from tests.conftest import unique

AMOUNTS = ["0", "0.01", "1223.5", "99999999999.9999", "-12345678901.2345", "100000"]


@pytest.mark.parametrize("amount", AMOUNTS)
def test_round_trip_is_exact(session: Session, amount: str) -> None:
    merchant = Merchant(name=unique("m"), cash_fee_percent=Decimal(amount), currency="IRR")
    session.add(merchant)
    session.commit()
    session.expire_all()
    stored = session.scalar(select(Merchant.cash_fee_percent).where(Merchant.id == merchant.id))
    assert stored == Decimal(amount)
    assert isinstance(stored, Decimal)


def test_sums_and_order_in_sql_are_exact(session: Session) -> None:
    tag = unique("sum")
    for amount in ("0.1", "0.2", "0.3"):
        session.add(Merchant(name=f"{tag}-{amount}", cash_fee_percent=Decimal(amount)))
    session.commit()
    rows = session.scalars(
        select(Merchant.cash_fee_percent).where(Merchant.name.like(f"{tag}-%")).order_by(Merchant.cash_fee_percent)
    ).all()
    assert rows == [Decimal("0.1"), Decimal("0.2"), Decimal("0.3")]
    assert sum(rows) == Decimal("0.6")


def test_more_precision_than_stored_is_refused(session: Session) -> None:
    session.add(Merchant(name=unique("m"), cash_fee_percent=Decimal("0.00001")))
    with pytest.raises(StatementError, match="decimal places"):
        session.commit()
    session.rollback()


@pytest.mark.parametrize(("typed", "amount"), [
    ("1500.50", Decimal("1500.50")), ("۱۵۰۰٫۵۰", Decimal("1500.50")),
    ("1 500,50", Decimal("1500.50")), ("-3", Decimal("-3")), ("", None), (None, None)])
def test_an_amount_as_typed(typed: str | None, amount: Decimal | None) -> None:
    from locales import parse_amount

    assert parse_amount(typed) == amount


@pytest.mark.parametrize("typed", ["1,500.50", "1e3", "NaN", "12 BYN", "1.2.3"])
def test_what_is_not_an_amount(typed: str) -> None:
    from locales import parse_amount

    with pytest.raises(ValueError):
        parse_amount(typed)
