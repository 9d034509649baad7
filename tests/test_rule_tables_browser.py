""""Try on a cart" in Chromium: a marketer previews a discount on a cart in English, Russian and
Persian, at 1366 px and on a 390 px phone — the engine's totals, the discount's verdict, no
sideways scroll, and no English left in the page's own words on ru/fa pages."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from schema.catalog import Product
from schema.discounts import Discount
from schema.people import Merchant
from services.pricing import CartItem, quote_cart
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 - fixtures
from tests.test_pricing_services import build_shop

# The page's own words: labels, headings, buttons, help, the totals' labels.
CHROME = ("label, h2, h3, button, th, summary, p, small, dt, .card-title, a.btn, "
          "#channel option, #preview-verdict")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_a_marketer_previews_a_discount_on_a_cart(  # type: ignore[no-untyped-def]
    lang: str, live_server: str, chromium: Any, make_user,  # noqa: F811
    factory: sessionmaker[Session],
) -> None:
    shop = build_shop(factory)
    with factory() as session:
        big, small = session.get(Product, shop.big), session.get(Product, shop.small)
        names = [session.get(Discount, shop.code_id).name, big.name, small.name, big.sku,
                 small.sku, session.get(Merchant, shop.merchant).name]
        expected = quote_cart(session, shop.merchant, [CartItem(shop.small, 3)],
                              discount_code=shop.code)
    applied = {a.rule_id: a.amount for a in expected.applied}
    assert applied[shop.code_id] == Decimal(300)  # 10 % of 3 × 1000
    username = make_user("marketer")
    for width in (1366, 390):
        page = chromium.new_page(viewport={"width": width, "height": 900})
        try:
            _sign_in(page, live_server, username)
            page.goto(f"{live_server}/admin/discounts/details/{shop.code_id}?lang={lang}")
            page.click("#try-on-cart")
            page.wait_for_url("**/admin/discounts/preview?discount=*")
            assert page.input_value("#discount_code") == shop.code
            page.select_option("#merchant_id", str(shop.merchant))
            # Typing the exact SKU chooses the product (no click on a suggestion needed).
            page.fill('input[name="product_label"]', small.sku)
            page.wait_for_function(
                "id => document.querySelector('input[name=\"product_id\"]').value === "
                "String(id)", arg=shop.small)
            page.fill('input[name="quantity"]', "3")
            page.click("#preview-submit")
            page.wait_for_selector("#preview-quote", state="attached")
            data = page.eval_on_selector("#preview-quote", "e => ({...e.dataset})")
            assert Decimal(data["payable"]) == expected.payable
            assert Decimal(data["discountTotal"]) == expected.discount_total
            assert page.get_attribute("#preview-verdict", "data-applied") == "yes"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (
                f"{lang} {width}px scrolls sideways")
            if lang != "en":
                words = " ".join(page.eval_on_selector_all(
                    CHROME, "els => els.map(e => e.innerText)"))
                for name in names:
                    words = words.replace(name, "")
                english = set(LATIN_WORD.findall(words)) - {"BYN", "Postdesk"}
                assert not english, f"English on the {lang} page: {sorted(english)}"
            if lang == "fa":
                assert page.get_attribute("html", "dir") == "rtl"
                payable = page.inner_html('[data-total="payable"]')
                assert "۰" in payable or "۱" in payable  # Persian digits, isolated LTR
        finally:
            page.close()
