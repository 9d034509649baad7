"""The newcomer's path: the command line and the demo shop, on a database of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from postdesk.db import make_engine, make_session_factory
from postdesk.migrate import upgrade_head
from schema.orders import Order
from schema.people import Permission, User
from schema.shipping import ShippingMethod
from seed.demo.shop import build_demo_shop
from seed.loader import load_seed_data
from services.accounts import verify_password
from tests.conftest import ROOT

ROLE_LOGINS = {"superuser", "manager", "marketer", "administrator", "accountant", "operator",
               "courier", "pickup_operator", "cash_collector", "technician", "merchant"}


def _postdesk(tmp_path: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "POSTDESK_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
           "POSTDESK_LOG_LEVEL": "WARNING"}
    result = subprocess.run([sys.executable, "-m", "postdesk.cli", *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, input=stdin)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_migrate_seed_createuser(tmp_path: Path) -> None:
    assert "latest migration" in _postdesk(tmp_path, "migrate")
    first = _postdesk(tmp_path, "seed")
    assert "roles +11" in first
    again = _postdesk(tmp_path, "seed")
    assert "roles +0" in again and "permissions +0" in again
    out = _postdesk(tmp_path, "createuser", "boss", "--role", "administrator", "--password", "pw")
    assert "boss" in out
    engine = make_engine(f"sqlite:///{tmp_path}/cli.sqlite3")
    with make_session_factory(engine)() as session:
        user = session.scalar(select(User).where(User.username == "boss"))
        assert user is not None and verify_password(user.password_hash, "pw")
        assert session.scalar(select(func.count()).select_from(Permission)) > 100


def test_demo_shop_is_believable_and_safe_to_build_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.sqlite3"
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session, session.begin():
        load_seed_data(session)
    with factory() as session, session.begin():
        logins = build_demo_shop(session, password="demo")
    assert ROLE_LOGINS <= {name for name, _ in logins}
    with factory() as session, session.begin():
        assert {n for n, _ in build_demo_shop(session, password="demo")} == {n for n, _ in logins}
    with factory() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        assert 1900 <= orders <= 2100
        statuses = set(session.scalars(select(Order.status).distinct()))
        assert len(statuses) >= 8
        for order in session.scalars(select(Order).limit(200)):
            assert order.subtotal == sum(line.line_total for line in order.lines)
            assert order.payable == order.subtotal - order.discount_total + order.shipping_cost
        motor = session.scalar(select(ShippingMethod).where(ShippingMethod.name == "Motor courier"))
        assert motor is not None and motor.base_cost == Decimal(1000)
        merchant = session.scalar(select(User).where(User.username == "merchant"))
        assert merchant.merchant_id is not None and verify_password(merchant.password_hash, "demo")


def test_app_starts_from_the_command_line_module() -> None:
    result = subprocess.run([sys.executable, "-m", "postdesk.cli", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "demo" in result.stdout
