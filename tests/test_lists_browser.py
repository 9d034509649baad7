"""The orders list in Chromium, in English, Russian and Persian, on a 1366 px screen and a
390 px phone: number, customer, status and payable are in view at 1366 px, the page never
scrolls sideways (the table scrolls inside its card), the list's tools speak the page's
language, and the column chooser, the related-row search and saved filters work by hand.

Screenshots go to ``$POSTDESK_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from seed.demo import factories as f
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 - fixtures
from tests.test_widget_strings import ENGLISH, SEEN_TEXT, _english

# The list's own words in English: none may show on a Russian or Persian page.
LIST_ENGLISH = ("Saved filters", "Columns", "More filters", "Filters", "Apply", "Reset",
                "Notes", "Order number", "Customer", "Payable", "Order status", "All",
                "Actions", "Export", "Move to deleted orders", "YYYY-MM-DD")
MUST_SEE = ("number", "customer", "status", "payable")


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("POSTDESK_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def shop_orders(factory: sessionmaker[Session]) -> tuple[int, str]:
    """A merchant with a few orders of named customers; (merchant id, a customer's name)."""
    with factory() as session, f.using_session(session):
        merchant = f.MerchantFactory()
        customer = f.CustomerFactory(merchant=merchant, name="Browserova Anna Petrovna")
        for payable in ("12.50", "990.00", "14487160.00"):
            f.OrderFactory(merchant=merchant, customer=customer, payable=Decimal(payable),
                           status="confirmed")
        session.commit()
        return merchant.id, customer.name


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_orders_list_fits_and_speaks_the_language(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, shop_orders, lang: str,  # noqa: F811
    width: int,
) -> None:
    merchant_id, _customer = shop_orders
    page = chromium.new_page(viewport={"width": width, "height": 900})
    try:
        _sign_in(page, live_server, make_user("superuser", language=lang))
        page.goto(f"{live_server}/admin/orders/list?lang={lang}&merchant_id={merchant_id}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        headers = page.locator("th[data-column]")
        shown = headers.evaluate_all("hs => hs.map(h => h.dataset.column)")
        assert {"number", "customer", "status", "payable"} <= set(shown), shown
        if width == 1366:
            # In view without scrolling the table: inside the viewport, left to right.
            for column in (*MUST_SEE, "payment_method"):
                box = page.locator(f'th[data-column="{column}"]').bounding_box()
                assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= width, (
                    column, box)
        else:
            # On a phone the table scrolls inside its card, not the page.
            scroller = page.locator(".postdesk-table-scroll")
            assert scroller.evaluate("s => getComputedStyle(s).overflowX") == "auto"
        assert page.locator("tbody tr").count() == 3
        if lang != "en":
            text = page.locator("body").evaluate(SEEN_TEXT)
            found = _english(text, LIST_ENGLISH + ENGLISH)
            assert not found, (lang, found)
        _shoot(page, f"orders-list-{lang}-{width}")
    finally:
        page.close()


def test_chooser_search_and_saved_filter_by_hand(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, shop_orders, monkeypatch  # noqa: F811
) -> None:
    import admin.views

    merchant_id, customer = shop_orders
    monkeypatch.setattr(admin.views, "RELATED_DROPDOWN_MAX", 0)  # customers: a search box
    page = chromium.new_page(viewport={"width": 1366, "height": 900})
    try:
        _sign_in(page, live_server, make_user("superuser"))
        page.goto(f"{live_server}/admin/orders/list?merchant_id={merchant_id}")
        # The column chooser: switch the tracking number on; it stays on for this person.
        page.click("[data-postdesk-columns] button.dropdown-toggle")
        page.check('input[name="columns"][value="tracking_number"]')
        page.click("[data-postdesk-columns] button[type=submit]:not([name])")
        page.wait_for_selector('th[data-column="tracking_number"]')
        page.goto(f"{live_server}/admin/orders/list")
        assert page.locator('th[data-column="tracking_number"]').count() == 1
        # The customer is searched as one types, and choosing it filters the list.
        page.goto(f"{live_server}/admin/orders/list?merchant_id={merchant_id}")
        page.locator('[data-filter="customer_id"] .select2-selection').click()
        page.locator(".select2-search__field").fill("Browserova")
        option = page.locator(".select2-results__option", has_text=customer)
        option.wait_for()
        with page.expect_navigation():
            option.click()
        assert re.search(r"customer_id=\d+", page.url)
        assert page.locator("tbody tr").count() == 3
        # Saved under a name, reapplied with one click from anywhere.
        page.click("[data-postdesk-saved-filters] button.dropdown-toggle")
        page.fill("[data-save-filter] input[name=name]", "Anna's orders")
        with page.expect_navigation():
            page.click("[data-save-filter] button[type=submit]")
        page.goto(f"{live_server}/admin/orders/list")
        page.click("[data-postdesk-saved-filters] button.dropdown-toggle")
        with page.expect_navigation():
            page.click('[data-saved-filter="Anna\'s orders"] a')
        assert re.search(r"customer_id=\d+", page.url) and f"merchant_id={merchant_id}" in page.url
        assert page.locator("tbody tr").count() == 3
        _shoot(page, "orders-list-saved-filter")
    finally:
        page.close()
