""""Try on a cart" through the admin's HTTP (admin/discount_preview.py): the marketer's preview
prices a cart exactly as the engine does, writes nothing, is confined to the chosen store, and
gives no right to place orders."""

from __future__ import annotations

import html
import re
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.discounts import Discount, DiscountUsage
from schema.orders import Order
from services.pricing import CartItem, quote_cart
from tests.test_pricing_services import Shop, build_shop


def _quote_data(page: str) -> dict[str, str]:
    found = re.search(r'<div hidden id="preview-quote"([^>]*)>', page)
    assert found, page[-3000:]
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', found.group(1)))


def _counts(factory: sessionmaker[Session], shop: Shop) -> tuple[int, int, int]:
    with factory() as session:
        return (session.scalar(select(func.count()).select_from(Order)) or 0,
                session.scalar(select(func.count()).select_from(DiscountUsage)) or 0,
                session.scalar(select(Discount.times_used).where(Discount.id == shop.code_id)))


def _cart(shop: Shop, **more: str) -> dict[str, object]:
    return {"merchant_id": str(shop.merchant), "product_id": [str(shop.big), str(shop.small)],
            "product_label": ["big", "small"], "quantity": ["2", "3"],
            "shipping_method_id": str(shop.pishtaz), "payment_method_id": str(shop.online),
            "discount_code": shop.code, "channel": "web", **more}


def test_the_preview_is_the_engines_quote_and_writes_nothing(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    shop = build_shop(factory)
    browser = signed_in("marketer")
    before = _counts(factory, shop)
    response = browser.post(f"/admin/discounts/preview?discount={shop.code_id}", _cart(shop))
    assert response.status_code == 200, response.text[-3000:]
    page = html.unescape(response.text)
    with factory() as session:
        expected = quote_cart(session, shop.merchant, [CartItem(shop.big, 2),
                                                       CartItem(shop.small, 3)],
                              shipping_method_id=shop.pishtaz, payment_method_id=shop.online,
                              discount_code=shop.code)
    data = _quote_data(response.text)
    assert Decimal(data["payable"]) == expected.payable
    assert Decimal(data["subtotal"]) == expected.subtotal
    assert Decimal(data["discount-total"]) == expected.discount_total
    applied = dict(pair.split("=") for pair in data["applied"].split())
    assert {int(k): Decimal(v) for k, v in applied.items()} == {
        a.rule_id: a.amount for a in expected.applied}
    # The code discount takes 10 % off the small product's line only: 3 × 1000 × 10 %.
    assert Decimal(applied[str(shop.code_id)]) == 300
    assert 'id="preview-verdict" data-applied="yes"' in response.text
    assert "applies to this cart" in page
    assert _counts(factory, shop) == before  # no order, no use, no counter moved


def test_why_a_discount_does_not_apply(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    shop = build_shop(factory, min_cart_price=Decimal(10**6))
    browser = signed_in("marketer")
    opened = browser.get(f"/admin/discounts/preview?discount={shop.code_id}")
    assert opened.status_code == 200
    assert f'value="{shop.code}"' in opened.text  # the discount's code is filled in
    response = browser.post(f"/admin/discounts/preview?discount={shop.code_id}", _cart(shop))
    assert 'data-applied="no"' in response.text
    assert "does not apply to this cart" in html.unescape(response.text)

    # A refusal of the engine (another store's product) is shown; nothing is priced.
    refused = browser.post("/admin/discounts/preview", _cart(
        shop, product_id=[str(shop.foreign)], product_label=["x"], quantity=["1"]))
    assert refused.status_code == 400
    assert f"The product {shop.foreign} was not found in this store." in refused.text
    assert 'id="preview-quote"' not in refused.text


def test_look_ups_are_confined_to_the_chosen_store(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    shop = build_shop(factory)
    with factory() as session:
        from schema.catalog import Product
        foreign_sku = session.get(Product, shop.foreign).sku
        own_sku = session.get(Product, shop.big).sku
    browser = signed_in("marketer")
    found = browser.get(f"/admin/discounts/preview/products?q={own_sku}"
                        f"&merchant_id={shop.merchant}").json()
    assert found[0]["id"] == shop.big
    assert browser.get(f"/admin/discounts/preview/products?q={foreign_sku}"
                       f"&merchant_id={shop.merchant}").json() == []
    assert browser.get(f"/admin/discounts/preview/products?q={foreign_sku}"
                       f"&merchant_id={shop.other_merchant}").json()[0]["id"] == shop.foreign
    customers = browser.get(f"/admin/discounts/preview/customers?q="
                            f"&merchant_id={shop.merchant}").json()
    assert [c["id"] for c in customers] == [shop.customer]
    assert browser.get("/admin/discounts/preview/products?q=x").status_code == 400


def test_the_marketer_previews_but_cannot_place_orders(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    shop = build_shop(factory)
    browser = signed_in("marketer")
    assert browser.get("/admin/discounts/preview").status_code == 200
    details = browser.get(f"/admin/discounts/details/{shop.code_id}").text
    assert f"/admin/discounts/preview?discount={shop.code_id}" in details
    before = _counts(factory, shop)
    assert browser.get("/admin/orders/new").status_code == 403
    assert browser.post("/admin/orders/new", _cart(shop)).status_code == 403
    assert browser.post("/admin/orders/new/preview", _cart(shop)).status_code == 403
    assert _counts(factory, shop) == before


def test_the_preview_needs_its_grant(signed_in, factory: sessionmaker[Session]) -> None:  # type: ignore[no-untyped-def]
    shop = build_shop(factory)
    browser = signed_in("manager")  # may read discounts, not preview them
    assert browser.get(f"/admin/discounts/details/{shop.code_id}").status_code == 200
    assert "/admin/discounts/preview" not in browser.get(
        f"/admin/discounts/details/{shop.code_id}").text
    assert browser.get("/admin/discounts/preview").status_code == 403
    assert browser.post("/admin/discounts/preview", _cart(shop)).status_code == 403
    assert browser.get(f"/admin/discounts/preview/products?q=a"
                       f"&merchant_id={shop.merchant}").status_code == 403
