"""The order page in Chromium, in English, Russian and Persian, at 1366 px and on a 390 px
phone: every line's product, quantity and prices are on the page, nothing scrolls the page
sideways (the items table scrolls inside its card), a Russian or Persian reader meets none of
the page's English words, a Persian reader sees Solar Hijri dates and amounts isolated
left-to-right; and by hand, the small forms work in the browser (edit the recipient, add a
note from its tab)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.catalog import StockLevel, Warehouse
from schema.orders import Order
from services.ordering import OrderInput, place_order
from services.pricing import CartItem
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 (fixtures)
from tests.test_pricing_services import build_shop
from tests.test_widget_strings import ENGLISH, SEEN_TEXT, _english

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # 1403/12/11 in the Solar Hijri calendar
# The page's own words in English: none may show on a Russian or Persian page.
PAGE_ENGLISH = (
    "Ordered items", "Customer", "Recipient", "Financial info", "Edit recipient",
    "Edit financial info", "Quantity", "Unit price", "Line total", "Warehouse", "Weight",
    "Totals", "Status and handling", "Status history", "Notes", "Stock supply",
    "Previous orders", "Assignment history", "Gateway transactions", "Messages", "Changes",
    "More details", "Add a product", "Order type",  # (method names are data: "Payment method 3")
    "Go Back", "Delete", "Add", "Remove the line", "Change the quantity",
)


def _offline(page: Any, server: str) -> Any:
    """Only the test server answers: the products' pictures (picsum links) fail at once and
    the page shows its placeholders, as it does when a picture link is dead."""
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        server) else route.abort())
    return page


@pytest.fixture(scope="module")
def placed(factory: sessionmaker[Session]) -> dict[str, Any]:
    """An engine-priced order of three lines (one of a variant, one from a warehouse)."""
    shop = build_shop(factory)
    with factory() as session, session.begin():
        warehouse = Warehouse(merchant_id=shop.merchant, name="Central")
        session.add(warehouse)
        session.flush()
        session.add(StockLevel(product_id=shop.big, warehouse_id=warehouse.id, quantity=12))
        order = place_order(session, shop.merchant, OrderInput(
            cart=[CartItem(shop.big, 2, warehouse_id=warehouse.id), CartItem(shop.small, 3),
                  CartItem(shop.mid, 1, variant_id=shop.variant)],
            shipping_method_id=shop.pishtaz, payment_method_id=shop.online,
            customer_id=shop.customer, recipient_name="Anna Petrova",
            recipient_phone="+375 (29) 606-58-74", recipient_address="Lenina 1"), now=NOW)
        lines = [(line.id, line.product.name, line.quantity, line.unit_price, line.line_total)
                 for line in order.lines]
        return {"id": order.id, "currency": order.currency, "lines": lines}


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_order_page_shows_every_line_fits_and_speaks_the_language(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, placed, lang: str, width: int,  # noqa: F811
) -> None:
    page = _offline(chromium.new_page(viewport={"width": width, "height": 900}), live_server)
    try:
        _sign_in(page, live_server, make_user("manager", language=lang))
        page.goto(f"{live_server}/admin/orders/details/{placed['id']}?lang={lang}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("#order-items img.order-thumb").count() == 0  # dead: placeholders
        scroller = page.locator("#order-items .table-responsive")
        assert scroller.evaluate("s => getComputedStyle(s).overflowX") == "auto"
        for line_id, name, quantity, unit_price, total in placed["lines"]:
            row = page.locator(f'#order-items tr[data-line="{line_id}"]')
            assert name in row.locator("[data-product]").inner_text()
            assert row.locator('input[name="quantity"]').input_value() == str(quantity)
            assert row.locator("[data-unit-price]").inner_text() == format_money(
                unit_price, placed["currency"], lang)
            assert row.locator("[data-line-total]").inner_text() == format_money(
                total, placed["currency"], lang)
            if lang == "fa":  # amounts keep their left-to-right order inside the RTL page
                assert row.locator("[data-line-total] bdi").get_attribute("dir") == "ltr"
        if lang != "en":
            found = _english(page.locator("body").evaluate(SEEN_TEXT), PAGE_ENGLISH + ENGLISH)
            assert not found, (lang, found)
        stamp = page.locator("#order-date time")
        if lang == "fa":
            assert page.get_attribute("html", "dir") == "rtl"
            assert stamp.inner_text().startswith("۱۴۰۳/۱۲/۱۱"), stamp.inner_text()
            assert "مارس ۲۰۲۵" in (stamp.get_attribute("title") or "")  # Gregorian, a hover away
        else:
            assert "25" in stamp.inner_text()
    finally:
        page.close()


def test_recipient_and_note_forms_work_in_the_browser(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, placed, factory,  # noqa: F811
) -> None:
    page = _offline(chromium.new_page(viewport={"width": 390, "height": 844}), live_server)
    try:
        _sign_in(page, live_server, make_user("manager", language="en"))
        page.goto(f"{live_server}/admin/orders/details/{placed['id']}")
        page.click("#edit-recipient summary")
        page.fill('#edit-recipient input[name="recipient_name"]', "Boris Ivanov")
        page.click('#edit-recipient button[type="submit"]')
        page.wait_for_load_state()
        assert page.locator("[data-recipient-name]").inner_text() == "Boris Ivanov"
        assert "The recipient was saved." in page.locator(".toast-body").first.inner_text()

        page.click('#order-tabs a[href="#tab-notes"]')
        page.fill('#add-note textarea[name="text"]', "Leave at the door")
        page.click('#add-note button[type="submit"]')
        page.wait_for_load_state()
        # Back on the page with the notes tab open (the redirect's #tab-notes).
        assert page.locator("#tab-notes").is_visible()
        assert "Leave at the door" in page.locator("#tab-notes .order-note-text").first.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.close()
    with factory() as session:
        assert session.get(Order, placed["id"]).recipient_name == "Boris Ivanov"
