"""Issue 11's smaller items as people meet them in Chromium, in Russian and Persian at 1366 and
390 px: manual entry (an exact SKU selects its product, Persian digits in quantities, totals that
never push the page sideways), Solar Hijri date inputs on the status form and the reports page,
and the variants list on a phone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from admin.date_inputs import date_input_text
from locales import format_money
from schema.catalog import Product
from tests.test_browser import (  # noqa: F401 (fixtures)
    _sign_in,
    chromium,
    live_server,
)
from tests.test_pricing_services import build_shop

WIDTHS = (1366, 390)
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(autouse=True)
def _one_backend(backend: str) -> None:
    # What is checked here is drawn by the browser; the HTTP tests of the same features run
    # on both databases, so the layouts are looked at once, on SQLite, to keep the suite fast.
    if backend != "sqlite":
        pytest.skip("layout checks run once, on SQLite")


@pytest.fixture(scope="module")
def shop(factory: sessionmaker[Session]) -> Any:
    return build_shop(factory)


@pytest.fixture(scope="module")
def people(factory: sessionmaker[Session]) -> dict[str, str]:
    """A manager and an accountant per language, made once for the module."""
    from schema.people import RoleCode
    from services.accounts import create_user
    from tests.conftest import PASSWORD, unique

    made = {}
    with factory() as session, session.begin():
        for role in (RoleCode.MANAGER, RoleCode.ACCOUNTANT):
            for lang in ("ru", "fa"):
                name = unique(f"polish-{role.value}-{lang}-")
                create_user(session, name, PASSWORD, role, language=lang)
                made[f"{role.value}-{lang}"] = name
    return made


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_manual_entry_selects_a_typed_sku_and_reads_persian_digits(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, factory, shop, people, lang: str, width: int  # noqa: F811
) -> None:
    with factory() as session:
        sku = session.get(Product, shop.big).sku
    page = chromium.new_page(viewport={"width": width, "height": 900})
    try:
        _sign_in(page, live_server, people[f"manager-{lang}"])
        page.goto(f"{live_server}/admin/orders/new")
        page.select_option('select[name="merchant_id"]', str(shop.merchant))
        page.fill('input[name="product_label"]', sku.lower())  # no suggestion clicked
        page.wait_for_function(
            "id => document.querySelector('input[name=\"product_id\"]').value === String(id)",
            arg=shop.big)
        assert page.input_value('input[name="product_label"]') == sku.lower()  # kept as typed
        assert sku in page.text_content(".product-chosen")
        # ۲۰۰ × 50000: amounts long enough to have overflowed the totals card in Russian.
        page.fill('input[name="quantity"]', "۲۰۰")
        payable = format_money(Decimal("10000000"), "BYN", lang)
        page.wait_for_function(
            "text => (document.querySelector('[data-total=\"payable\"]') || {}).textContent"
            " === text", arg=payable)
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        card = page.evaluate("""() => {
            const card = document.getElementById('order-totals');
            return [card.scrollWidth <= card.clientWidth,
                    // One line each (a bidi run may draw as several boxes on that line).
                    [...card.querySelectorAll('[data-total], [data-line-total]')].every(el =>
                      new Set([...el.getClientRects()].map(r => Math.round(r.top))).size === 1)];
        }""")
        assert card == [True, True], card  # nothing sticks out, no amount breaks in two
    finally:
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_persian_status_forms_date_is_solar_hijri(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make, people, width: int  # noqa: F811
) -> None:
    order = make("Order", lines=1)
    page = chromium.new_page(viewport={"width": width, "height": 900})
    try:
        _sign_in(page, live_server, people["manager-fa"])
        page.goto(f"{live_server}/admin/orders/details/{order.id}")
        field = page.locator('[name="effective_date"]').first
        assert field.get_attribute("type") == "text"
        from schema.base import utcnow

        assert field.get_attribute("placeholder") == date_input_text(utcnow().date(), "fa")
        field.fill("۱۴۰۵/۰۱/۰۱")  # a browser date picker would refuse this text
        assert field.input_value() == "۱۴۰۵/۰۱/۰۱"
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
    finally:
        page.close()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_the_reports_interval_in_the_readers_calendar(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, people, lang: str, width: int  # noqa: F811
) -> None:
    page = chromium.new_page(viewport={"width": width, "height": 900})
    try:
        _sign_in(page, live_server, people[f"accountant-{lang}"])
        page.goto(f"{live_server}/admin/reports?report=goods_sold"
                  "&date_from=2026-03-21&date_to=2026-03-31")
        start, end = page.locator("#report-from"), page.locator("#report-to")
        if lang == "fa":
            assert start.get_attribute("type") == "text"
            assert start.input_value() == "۱۴۰۵/۰۱/۰۱" and end.input_value() == "۱۴۰۵/۰۱/۱۱"
            start.fill("۱۴۰۵/۰۱/۰۵")
            page.click('#report-form button[type="submit"]')
            page.wait_for_url("**date_from=*")
            assert page.locator("#report-from").input_value() == "۱۴۰۵/۰۱/۰۵"
        else:
            assert start.get_attribute("type") == "date"
            assert start.input_value() == "2026-03-21"
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
    finally:
        page.close()


@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_the_variants_list_fits_a_phone(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, shop, people, lang: str  # noqa: F811
) -> None:
    page = chromium.new_page(viewport={"width": 390, "height": 900})
    try:
        _sign_in(page, live_server, people[f"manager-{lang}"])
        page.goto(f"{live_server}/admin/product_variants/list")
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        # The id and the product's words are never broken letter by letter to squeeze in.
        broken = page.evaluate("""() => [...document.querySelectorAll(
            '.postdesk-list-table tbody td')].filter(td => {
              const text = td.textContent.trim();
              if (!text || text.includes(' ')) { return false; }
              const range = document.createRange(); range.selectNodeContents(td);
              return range.getClientRects().length > 1 &&
                     new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
            }).map(td => td.textContent.trim())""")
        assert broken == [], broken
    finally:
        page.close()
