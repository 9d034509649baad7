"""Sign-in, throttling, session cookie, CSRF and POST-only state changes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.people import Merchant
from services.accounts import MAX_FAILURES
from tests.conftest import PASSWORD, Browser, unique


def test_login_and_logout(browser: Browser, make_user) -> None:  # type: ignore[no-untyped-def]
    assert browser.get("/admin/orders/list", follow_redirects=False).status_code == 302
    username = make_user("manager")
    response = browser.login(username)
    assert response.status_code == 302
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=3600" in cookie
    assert browser.get("/admin/orders/list").status_code == 200
    # Logout is a state change: GET is refused, POST with the token works.
    assert browser.get("/admin/logout").status_code == 405
    browser.token = browser.get("/admin/").text.split('name="csrf-token" content="')[1][:43]
    assert browser.post("/admin/logout", follow_redirects=False).status_code == 302
    assert browser.get("/admin/orders/list", follow_redirects=False).status_code == 302


def test_wrong_password_is_refused_in_the_users_language(browser: Browser, make_user) -> None:  # type: ignore[no-untyped-def]
    username = make_user("manager")
    browser.get("/admin/login?lang=ru")
    response = browser.login(username, "wrong")
    assert response.status_code == 400
    assert "Неверное имя пользователя или пароль" in response.text


def test_repeated_failures_lock_the_account(browser: Browser, make_user) -> None:  # type: ignore[no-untyped-def]
    username = make_user("manager")
    for _ in range(MAX_FAILURES):
        assert browser.login(username, "wrong").status_code == 400
    locked = browser.login(username, PASSWORD)
    assert locked.status_code == 400
    assert "Too many failed attempts" in locked.text


def test_state_change_without_csrf_token_is_refused(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    browser = signed_in("superuser")
    name = unique("csrf")
    form = {"name": name, "currency": "BYN", "balance": "0", "cash_fee_percent": "0",
            "credit_limit": "0", "payout_weekday": "1",
            "active": "y"}
    refused = browser.client.post("/admin/merchants/create", data=form)
    assert refused.status_code == 403
    bad = browser.client.post("/admin/merchants/create", data={**form, "csrf_token": "x" * 43})
    assert bad.status_code == 403
    with factory() as session:
        assert session.scalar(select(Merchant).where(Merchant.name == name)) is None
    accepted = browser.post("/admin/merchants/create", form, follow_redirects=False)
    assert accepted.status_code == 302, accepted.text
    with factory() as session:
        assert session.scalar(select(Merchant).where(Merchant.name == name)) is not None


def test_custom_actions_are_post_only(signed_in) -> None:  # type: ignore[no-untyped-def]
    browser = signed_in("superuser")
    assert browser.get("/admin/deleted_orders/action/restore?pks=1").status_code == 405
