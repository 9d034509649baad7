"""Manual order entry in the admin (R-ORD-7): the live totals preview and saving, through HTTP
as people use it, with the rules' exact amounts and refusals that change nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.discounts import DiscountUsage
from schema.orders import Channel, Order
from tests.test_pricing_services import Shop, build_shop


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


@pytest.fixture
def warehouses(factory: sessionmaker[Session], shop: Shop) -> tuple[int, int]:
    """One warehouse of the shop's merchant and one of the other merchant."""
    from schema.people import Merchant
    from seed.demo import factories as f

    with factory() as session, f.using_session(session):
        own = f.WarehouseFactory(merchant=session.get(Merchant, shop.merchant))
        other = f.WarehouseFactory(merchant=session.get(Merchant, shop.other_merchant))
        session.commit()
        return own.id, other.id


def _order_form(shop: Shop, warehouse: int | None = None, **extra: object) -> dict[str, object]:
    """Two of the big product (50000) and one small (1000) = 101000: Pishtaz's row 1 costs
    3500, online payment takes 2 % = 2020, so payable = 101000 − 2020 + 3500 = 102480."""
    return {
        "merchant_id": str(shop.merchant),
        "product_id": [str(shop.big), str(shop.small)],
        "product_label": ["big", "small"],
        "variant_id": ["", ""],
        "warehouse_id": [str(warehouse or ""), ""],
        "quantity": ["2", "1"],
        "shipping_method_id": str(shop.pishtaz),
        "payment_method_id": str(shop.online),
        "customer_id": str(shop.customer),
        "recipient_name": "Анна Петрова",
        "recipient_phone": "+375291234567",
        "recipient_address": "ул. Ленина, 1",
        "delivery_kind": "address",
        "order_type": "regular",
        "customer_kind": "individual",
        **extra,
    }


def _orders(factory: sessionmaker[Session], merchant: int) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Order)
                              .where(Order.merchant_id == merchant)) or 0


def test_new_order_button_opens_the_manual_entry_page(signed_in, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    manager = signed_in("manager")
    response = manager.get("/admin/orders/create", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/admin/orders/new")
    page = manager.get("/admin/orders/new").text
    for field in ('name="product_id"', 'name="warehouse_id"', 'name="variant_id"',
                  'name="quantity"', 'name="shipping_method_id"', 'name="payment_method_id"',
                  'name="discount_code"', 'name="recipient_name"', 'name="ordered_at"',
                  'id="order-totals"', "manual_order.js"):
        assert field in page, field


def test_preview_gives_the_rules_totals_and_writes_nothing(  # type: ignore[no-untyped-def]
    signed_in, shop: Shop, factory
) -> None:
    manager = signed_in("manager")
    before = _orders(factory, shop.merchant)
    fragment = manager.post("/admin/orders/new/preview", _order_form(shop)).text
    assert 'data-preview="totals"' in fragment
    from schema.catalog import Product

    with factory() as session:
        assert session.get(Product, shop.big).name in fragment  # lines by name, not by id
    assert format_money(Decimal("101000"), "BYN", "en") in fragment  # subtotal
    assert format_money(Decimal("3500"), "BYN", "en") in fragment  # Pishtaz row 1
    payable = fragment.split('data-total="payable">', 1)[1].split("<", 1)[0]
    assert payable == format_money(Decimal("102480"), "BYN", "en")
    assert _orders(factory, shop.merchant) == before


def test_preview_explains_a_code_that_does_not_apply(signed_in, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    manager = signed_in("manager")
    fragment = manager.post("/admin/orders/new/preview",
                            _order_form(shop, discount_code="NO-SUCH")).text
    assert "No discount has the code NO-SUCH." in fragment
    empty = manager.post("/admin/orders/new/preview", {
        "merchant_id": str(shop.merchant), "product_id": [""], "quantity": ["1"]}).text
    assert "Add at least one product to see the totals." in empty


def test_saving_places_the_order_with_its_date_warehouse_and_code(  # type: ignore[no-untyped-def]
    signed_in, shop: Shop, factory, warehouses
) -> None:
    manager = signed_in("manager")
    form = _order_form(shop, warehouses[0], discount_code=shop.code,
                       ordered_at="2025-03-01T09:30")
    response = manager.post("/admin/orders/new", form, follow_redirects=False)
    assert response.status_code == 303, response.text
    order_id = int(response.headers["location"].rstrip("/").rsplit("/", 1)[1])
    with factory() as session:
        order = session.get(Order, order_id)
        assert order.channel == Channel.ADMIN
        assert order.ordered_at.isoformat() == "2025-03-01T09:30:00+00:00"
        # 10 % off the small product (1000) = 100; goods 100900; online 2 % = 2018.
        assert order.subtotal == Decimal("101000")
        assert order.discount_total == Decimal("100") + Decimal("2018")
        assert order.shipping_cost == Decimal("3500")
        assert order.payable == Decimal("102382")
        assert order.discount_code == shop.code
        assert order.recipient_name == "Анна Петрова"
        assert [line.warehouse_id for line in order.lines] == [warehouses[0], None]
        assert session.scalar(select(func.count()).select_from(DiscountUsage).where(
            DiscountUsage.order_id == order_id)) == 1
    page = manager.get(response.headers["location"]).text
    assert "The order was created." in page


@pytest.mark.parametrize(("change", "message"), [
    ({"customer_kind": "legal"}, "An order of a legal entity needs the buyer&#39;s tax id."),
    ({"quantity": ["2", "many"]}, "Quantity must be a whole number."),
    ({"shipping_method_id": "__bike__"}, "marks it out of range"),
    ({"discount_code": "NO-SUCH"}, "No discount has the code NO-SUCH."),
    ({"ordered_at": "yesterday"}, "Enter the order date as YYYY-MM-DD HH:MM."),
])
def test_a_refused_order_keeps_the_form_and_writes_nothing(  # type: ignore[no-untyped-def]
    signed_in, shop: Shop, factory, change, message
) -> None:
    manager = signed_in("manager")
    if change.get("shipping_method_id") == "__bike__":
        change = {"shipping_method_id": str(shop.bike)}
    before = _orders(factory, shop.merchant)
    response = manager.post("/admin/orders/new", _order_form(shop, **change))
    assert response.status_code == 400
    assert message in response.text
    assert 'value="Анна Петрова"' in response.text  # what was typed is still there
    assert _orders(factory, shop.merchant) == before


def test_another_merchants_warehouse_or_product_is_refused(  # type: ignore[no-untyped-def]
    signed_in, shop: Shop, factory, warehouses
) -> None:
    manager = signed_in("manager")
    before = _orders(factory, shop.merchant)
    response = manager.post("/admin/orders/new", _order_form(shop, warehouses[1]))
    assert response.status_code == 400
    assert f"The warehouse {warehouses[1]} was not found in this store." in response.text
    response = manager.post("/admin/orders/new", _order_form(
        shop, product_id=[str(shop.foreign), str(shop.small)]))
    assert f"The product {shop.foreign} was not found in this store." in response.text
    assert _orders(factory, shop.merchant) == before


def test_a_merchant_enters_orders_only_for_its_own_store(  # type: ignore[no-untyped-def]
    signed_in, shop: Shop, factory
) -> None:
    before = _orders(factory, shop.merchant), _orders(factory, shop.other_merchant)
    merchant = signed_in("merchant", merchant_id=shop.other_merchant)
    page = merchant.get("/admin/orders/new").text
    assert 'name="merchant_id"' not in page  # no store to choose: its own
    found = merchant.get("/admin/orders/new/products?q=").json()
    assert shop.big not in {p["id"] for p in found}
    # The form's merchant_id is ignored: the shop's products are not the merchant's.
    response = merchant.post("/admin/orders/new", _order_form(shop))
    assert response.status_code == 400
    assert "was not found in this store" in response.text
    assert (_orders(factory, shop.merchant), _orders(factory, shop.other_merchant)) == before


def test_product_and_customer_search(signed_in, shop: Shop, factory) -> None:  # type: ignore[no-untyped-def]
    from schema.catalog import Product
    from schema.customers import Customer

    with factory() as session:
        mid = session.get(Product, shop.mid)
        customer = session.get(Customer, shop.customer)
    manager = signed_in("manager")
    found = manager.get(f"/admin/orders/new/products?q={mid.sku}&merchant_id={shop.merchant}")
    product = next(p for p in found.json() if p["id"] == shop.mid)
    assert [v["id"] for v in product["variants"]] == [shop.variant]
    assert shop.foreign not in {p["id"] for p in found.json()}
    people = manager.get(f"/admin/orders/new/customers?q={customer.name[:4]}"
                         f"&merchant_id={shop.merchant}").json()
    assert shop.customer in {c["id"] for c in people}
    no_store = manager.get("/admin/orders/new/products?q=x")
    assert no_store.status_code == 400


def test_people_without_the_create_grant_cannot_enter_orders(signed_in) -> None:  # type: ignore[no-untyped-def]
    courier = signed_in("courier")
    assert courier.get("/admin/orders/new").status_code == 403
    assert courier.post("/admin/orders/new/preview", {"product_id": ["1"]}).status_code == 403


def test_the_page_and_its_messages_in_russian_and_persian(signed_in, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    for lang, title in (("ru", "Новый заказ"), ("fa", "سفارش جدید")):
        manager = signed_in("manager", language=lang)
        page = manager.get(f"/admin/orders/new?lang={lang}").text
        assert title in page
        if lang == "fa":
            assert 'dir="rtl"' in page


def test_an_exact_sku_typed_is_the_product(signed_in, shop: Shop, factory) -> None:  # type: ignore[no-untyped-def]
    """Sent before the page's look-up matched the row (no product id): the SKU, in any case,
    is the product — in the preview and when saving."""
    from schema.catalog import Product

    with factory() as session:
        sku = session.get(Product, shop.big).sku
    manager = signed_in("manager")
    form = {**_order_form(shop), "product_id": ["", str(shop.small)],
            "product_label": [f"  {sku.lower()} ", "small"]}
    fragment = manager.post("/admin/orders/new/preview", form).text
    payable = fragment.split('data-total="payable">', 1)[1].split("<", 1)[0]
    assert payable == format_money(Decimal("102480"), "BYN", "en")
    saved = manager.post("/admin/orders/new", {**form, "recipient_name": "SKU Typist"},
                         follow_redirects=False)
    assert saved.status_code == 303
    with factory() as session:
        order = session.scalar(select(Order).where(Order.recipient_name == "SKU Typist"))
        assert order is not None and order.payable == Decimal("102480")
        assert sorted((line.product_id, line.quantity) for line in order.lines) == sorted(
            [(shop.big, 2), (shop.small, 1)])
    # Text that is no SKU stays no product: the row is left out, as a blank row is.
    other = {**form, "product_label": ["not-a-sku", "small"]}
    fragment = manager.post("/admin/orders/new/preview", other).text
    assert format_money(Decimal("1000"), "BYN", "en") in fragment  # the small line only


def test_the_search_puts_the_exact_sku_first(signed_in, shop: Shop, factory) -> None:  # type: ignore[no-untyped-def]
    from schema.catalog import Product
    from schema.people import Merchant
    from seed.demo import factories as f

    with factory() as session, f.using_session(session):
        merchant = session.get(Merchant, shop.merchant)
        # 25 products whose names hold the SKU sort before it: the exact SKU must still come.
        sku = f"ZQ{shop.big}X"
        for i in range(25):
            f.ProductFactory(merchant=merchant, name=f"A {sku} lookalike {i:02d}",
                             sku=f"{sku}-{i:02d}")
        f.ProductFactory(merchant=merchant, name="Zebra", sku=sku)
        session.commit()
        assert session.scalar(select(func.count()).select_from(Product).where(
            Product.sku.ilike(f"%{sku}%"))) == 26
    manager = signed_in("manager")
    found = manager.get(f"/admin/orders/new/products?q={sku.lower()}"
                        f"&merchant_id={shop.merchant}").json()
    assert found[0]["sku"] == sku and found[0]["label"] == f"{sku} — Zebra"


def test_persian_and_arabic_digits_in_the_quantities(signed_in, shop: Shop, factory) -> None:  # type: ignore[no-untyped-def]
    manager = signed_in("manager")
    page = manager.get("/admin/orders/new?lang=fa").text
    # A text input: the browser's number input would drop the digits ۲ and ٢.
    assert 'type="text" inputmode="numeric" dir="ltr" name="quantity"' in page
    form = {**_order_form(shop), "quantity": ["۲", "١"], "recipient_name": "Digits"}
    fragment = manager.post("/admin/orders/new/preview", form).text  # the page's language
    payable = fragment.split('data-total="payable">', 1)[1].split("<", 1)[0]
    assert payable == format_money(Decimal("102480"), "BYN", "fa")
    assert manager.post("/admin/orders/new", form, follow_redirects=False).status_code == 303
    with factory() as session:
        order = session.scalar(select(Order).where(Order.recipient_name == "Digits"))
        assert order is not None
        assert sorted(line.quantity for line in order.lines) == [1, 2]


def test_a_persian_reader_types_the_order_date_in_solar_hijri(  # type: ignore[no-untyped-def]
        signed_in, shop: Shop, factory) -> None:
    from datetime import UTC, datetime

    manager = signed_in("manager", language="fa")
    page = manager.get("/admin/orders/new?lang=fa").text
    field = page.split('name="ordered_at"', 1)[1].split(">", 1)[0]
    assert 'data-calendar="persian"' in field and 'placeholder="۱۴' in field
    assert 'type="datetime-local"' not in page
    form = {**_order_form(shop), "ordered_at": "۱۴۰۵/۰۱/۰۱ ۰۹:۰۵", "recipient_name": "Nowruz"}
    assert manager.post("/admin/orders/new", form, follow_redirects=False).status_code == 303
    with factory() as session:
        order = session.scalar(select(Order).where(Order.recipient_name == "Nowruz"))
        assert order is not None and order.ordered_at == datetime(2026, 3, 21, 9, 5, tzinfo=UTC)
    assert 'type="datetime-local"' in signed_in("manager").get("/admin/orders/new?lang=en").text
