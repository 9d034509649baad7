"""In a real browser (Debian's chromium, driven by Playwright): the pages whose behaviour lives
in JavaScript — the manual order entry's look-ups and live totals, the print forms' layouts."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.catalog import Product
from schema.orders import Order
from tests.conftest import PASSWORD
from tests.test_pricing_services import build_shop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def fill_worked_cart(page: Any, shop: Any, label: str, lang: str) -> None:
    """On the manual-entry form: the worked example's cart (2 × the big product, Pishtaz,
    online payment), waiting until the totals panel shows its payable in ``lang``."""
    page.select_option('select[name="merchant_id"]', str(shop.merchant))
    page.fill('input[name="product_label"]', label)
    page.wait_for_function(
        "id => document.querySelector('input[name=\"product_id\"]').value === String(id)",
        arg=shop.big)
    page.fill('input[name="quantity"]', "2")
    page.select_option('select[name="shipping_method_id"]', str(shop.pishtaz))
    page.select_option('select[name="payment_method_id"]', str(shop.online))
    # 2 × 50000 = 100000 ≥ 100000: Pishtaz row 1 = 3500; online 2 % = 2000.
    payable = format_money(Decimal("101500"), "BYN", lang)
    page.wait_for_function(
        "text => (document.querySelector('[data-total=\"payable\"]') || {}).textContent"
        " === text", arg=payable)


@pytest.fixture(scope="module")
def live_server(app: Any) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.fail("Browser tests need Debian's chromium package: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def _sign_in(page: Any, live_server: str, username: str) -> None:
    page.goto(f"{live_server}/admin/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server}/admin/**")


def test_manual_order_entry_shows_live_totals_and_saves(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, factory: sessionmaker[Session]
) -> None:
    shop = build_shop(factory)
    with factory() as session:
        big = session.get(Product, shop.big)
        label = f"{big.sku} — {big.name}"
    username = make_user("manager")
    page = chromium.new_page()
    try:
        _sign_in(page, live_server, username)
        page.goto(f"{live_server}/admin/orders/create")  # the list's "New" button
        assert page.url.endswith("/admin/orders/new")
        fill_worked_cart(page, shop, label, "en")
        page.fill('input[name="recipient_name"]', "Browser Buyer")
        page.click('button[type="submit"].btn-primary')
        page.wait_for_url("**/admin/orders/details/**")
        assert "The order was created." in page.content()
    finally:
        page.close()
    with factory() as session:
        order = session.scalar(select(Order).where(Order.recipient_name == "Browser Buyer"))
        assert order is not None and order.payable == Decimal("101500")


def test_print_card_offers_only_the_chosen_documents_layouts(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, make
) -> None:
    order = make("Order", lines=1)
    page = chromium.new_page()
    layouts = '#print-order-form select[name="layout"]'
    offered = "els => els.filter(o => !o.disabled && !o.hidden).map(o => o.value)"
    try:
        _sign_in(page, live_server, make_user("manager"))
        page.goto(f"{live_server}/admin/orders/details/{order.id}")
        page.select_option('#print-order-form select[name="document"]', "sticker")
        assert page.eval_on_selector_all(f"{layouts} option", offered) == ["label"]
        page.select_option('#print-order-form select[name="document"]', "invoice")
        assert page.eval_on_selector_all(f"{layouts} option", offered) == ["a4", "receipt"]
        assert page.eval_on_selector(layouts, "s => s.selectedOptions[0].dataset.document"
                                     ) == "invoice"
    finally:
        page.close()
