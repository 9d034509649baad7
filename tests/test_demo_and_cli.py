"""The newcomer's path: the command line and the demo shop, on a database of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from admin.app import create_app, generated_views
from postdesk.db import make_engine, make_session_factory
from postdesk.migrate import upgrade_head
from postdesk.settings import Settings
from schema.orders import Order
from schema.people import Merchant, Permission, User
from schema.shipping import ShippingMethod
from seed.demo.shop import build_demo_shop
from seed.loader import load_seed_data
from services.accounts import verify_password
from services.api_keys import merchant_for_key
from tests.conftest import ROOT, SECRET_KEY, Browser

ROLE_LOGINS = {"superuser", "manager", "marketer", "administrator", "accountant", "operator",
               "courier", "pickup_operator", "cash_collector", "technician", "merchant",
               "sorting_center"}


def _postdesk(tmp_path: Path, *args: str, stdin: str | None = None) -> str:
    """Run a command from a directory of its own, with no POSTDESK_* variable but the URL."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")},
           "POSTDESK_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
           "POSTDESK_LOG_LEVEL": "WARNING"}
    cwd = tmp_path / "work"
    cwd.mkdir(exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "postdesk.cli", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120, input=stdin)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_migrate_seed_createuser(tmp_path: Path) -> None:
    assert "latest migration" in _postdesk(tmp_path, "migrate")
    first = _postdesk(tmp_path, "seed")
    assert "roles +14" in first
    # The generated key is the database's, beside it; the working directory holds nothing.
    assert (tmp_path / "cli.sqlite3.secret").exists()
    assert not list((tmp_path / "work").iterdir())
    engine = make_engine(f"sqlite:///{tmp_path}/cli.sqlite3")
    with make_session_factory(engine)() as session, session.begin():
        revoked = session.scalars(select(Permission).limit(1)).one()
        revoked_key = (revoked.role_id, revoked.table_name, revoked.action)
        session.delete(revoked)  # an administrator takes a default right away
    again = _postdesk(tmp_path, "seed")
    assert "roles +0" in again and "permissions +0" in again
    with make_session_factory(engine)() as session:
        assert session.scalar(select(Permission).where(
            Permission.role_id == revoked_key[0], Permission.table_name == revoked_key[1],
            Permission.action == revoked_key[2])) is None
    out = _postdesk(tmp_path, "createuser", "boss", "--role", "administrator", "--password", "pw")
    assert "boss" in out
    with make_session_factory(engine)() as session, session.begin():
        session.add(Merchant(name="CLI store"))
    with make_session_factory(engine)() as session:
        store_id = session.scalar(select(Merchant.id).where(Merchant.name == "CLI store"))
    key = _postdesk(tmp_path, "apikey", "--merchant", str(store_id)).strip().splitlines()[-1]
    with make_session_factory(engine)() as session:
        assert merchant_for_key(session, key) == store_id
    with make_session_factory(engine)() as session:
        user = session.scalar(select(User).where(User.username == "boss"))
        assert user is not None and verify_password(user.password_hash, "pw")
        assert session.scalar(select(func.count()).select_from(Permission)) > 100


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo')}/demo.sqlite3"
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    with factory() as session, session.begin():
        load_seed_data(session)
    with factory() as session, session.begin():
        build_demo_shop(session, password="demo")
    return url


def test_every_demo_login_works_and_every_page_opens(demo_url: str) -> None:
    engine = make_engine(demo_url)
    app = create_app(Settings(demo_url, SECRET_KEY, "WARNING", 3600, False, False), engine)
    for role in sorted(ROLE_LOGINS):
        with TestClient(app) as client:
            browser = Browser(client)
            assert browser.login(role, "demo").status_code == 302, role
            assert client.get("/admin/").status_code == 200, role
    with TestClient(app) as client:
        browser = Browser(client)
        browser.login("superuser", "demo")
        with make_session_factory(engine)() as session:
            for view in (v for v in generated_views() if v.is_model):
                page = client.get(f"/admin/{view.identity}/list")
                assert page.status_code == 200, view.identity
                first = session.scalar(select(view.pk_columns[0]).limit(1))
                if first is not None and view.identity != "deleted_orders":
                    detail = client.get(f"/admin/{view.identity}/details/{first}?lang=fa")
                    assert detail.status_code == 200, (view.identity, detail.text[-2000:])


def test_demo_shop_is_believable_and_safe_to_build_twice(demo_url: str) -> None:
    url = demo_url
    factory = make_session_factory(make_engine(url))
    with factory() as session, session.begin():
        logins = build_demo_shop(session, password="demo")  # the second build adds nothing
    assert ROLE_LOGINS <= {name for name, _ in logins}
    with factory() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        assert 1900 <= orders <= 2100
        statuses = set(session.scalars(select(Order.status).distinct()))
        assert len(statuses) >= 8
        for order in session.scalars(select(Order).limit(200)):
            assert order.subtotal == sum(line.line_total for line in order.lines)
            assert order.payable == order.subtotal - order.discount_total + order.shipping_cost
            assert order.number == f"PD-{order.id:06d}"  # the scheme of every channel
        motor = session.scalar(select(ShippingMethod).where(ShippingMethod.name == "Motor courier"))
        assert motor is not None and motor.base_cost == Decimal(1000)
        merchant = session.scalar(select(User).where(User.username == "merchant"))
        assert merchant.merchant_id is not None and verify_password(merchant.password_hash, "demo")


def test_app_starts_from_the_command_line_module() -> None:
    result = subprocess.run([sys.executable, "-m", "postdesk.cli", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "demo" in result.stdout
