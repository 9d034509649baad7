"""A merchant user never sees or changes another merchant's rows, whatever URL it types."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.catalog import Product
from schema.orders import Order
from schema.people import Merchant


def _two_merchants(make):  # type: ignore[no-untyped-def]
    mine, theirs = make("Merchant"), make("Merchant")
    return mine, theirs, make("Order", merchant=mine, lines=2), make("Order", merchant=theirs,
                                                                    lines=2)


def test_lists_and_exports_hold_only_own_rows(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    mine, theirs, my_order, their_order = _two_merchants(make)
    browser = signed_in("merchant", merchant_id=mine.id)
    page = browser.get("/admin/orders/list?pageSize=200").text
    assert my_order.number in page and their_order.number not in page
    export = browser.get("/admin/orders/exports/csv").text
    assert my_order.number in export and their_order.number not in export
    merchants = browser.get("/admin/merchants/list").text
    assert mine.name in merchants and theirs.name not in merchants


def test_other_merchants_record_urls_give_404_and_no_data(signed_in, make,  # type: ignore[no-untyped-def]
                                                          factory: sessionmaker[Session]) -> None:
    mine, theirs, _, their_order = _two_merchants(make)
    browser = signed_in("merchant", merchant_id=mine.id)
    for url in (f"/admin/orders/details/{their_order.id}", f"/admin/orders/edit/{their_order.id}",
                f"/admin/merchants/details/{theirs.id}",
                f"/admin/customers/details/{their_order.customer_id}"):
        response = browser.get(url)
        assert response.status_code == 404, url
        assert their_order.number not in response.text
    response = browser.post(f"/admin/orders/edit/{their_order.id}", {"note": "hijacked"})
    assert response.status_code == 404
    browser.delete(f"/admin/orders/delete?pks={their_order.id}")
    with factory() as session:
        stored = session.get(Order, their_order.id)
        assert stored.note != "hijacked" and stored.deleted_at is None


def test_lookups_offer_only_own_rows(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    mine, theirs, _, _ = _two_merchants(make)
    my_customer = make("Customer", merchant=mine, name="Lookup Shared Mine")
    their_customer = make("Customer", merchant=theirs, name="Lookup Shared Theirs")
    browser = signed_in("merchant", merchant_id=mine.id)
    found = browser.get("/admin/orders/ajax/lookup?name=customer&term=Lookup Shared").json()
    ids = {int(item["id"]) for item in found["results"]}
    assert my_customer.id in ids and their_customer.id not in ids


def test_created_rows_belong_to_the_signed_in_merchant(signed_in, make,  # type: ignore[no-untyped-def]
                                                       factory: sessionmaker[Session]) -> None:
    mine, theirs, _, _ = _two_merchants(make)
    browser = signed_in("merchant", merchant_id=mine.id)
    form = browser.get("/admin/products/create").text
    assert 'name="merchant"' not in form
    response = browser.post("/admin/products/create", {
        "sku": "SKU-SCOPE-1", "name": "Scoped", "price": "10", "currency": "BYN",
        "sale_mode": "direct", "weight_g": "100", "merchant": str(theirs.id),
    }, follow_redirects=False)
    assert response.status_code == 302, response.text[-3000:]
    with factory() as session:
        product = session.scalar(select(Product).where(Product.sku == "SKU-SCOPE-1"))
        assert product is not None and product.merchant_id == mine.id
        assert session.get(Merchant, theirs.id) is not None


def _user_id(factory: sessionmaker[Session], username: str) -> int:
    from schema.people import User

    with factory() as session:
        return session.scalar(select(User.id).where(User.username == username))


def test_operator_sees_only_orders_assigned_to_it(make, make_user, browser,  # type: ignore[no-untyped-def]
                                                  factory: sessionmaker[Session]) -> None:
    username = make_user("operator")
    mine = make("Order", operator_id=_user_id(factory, username), lines=1)
    other = make("Order", lines=1)
    operator = browser
    assert operator.login(username).status_code == 302
    listed = operator.get("/admin/orders/list?pageSize=200").text
    assert mine.number in listed and other.number not in listed
    assert operator.get(f"/admin/orders/details/{mine.id}").status_code == 200
    assert operator.get(f"/admin/orders/details/{other.id}").status_code == 404


def test_courier_sees_only_its_own_tasks(make, make_user, browser,  # type: ignore[no-untyped-def]
                                         factory: sessionmaker[Session]) -> None:
    username = make_user("courier")
    courier = make("Courier", user_id=_user_id(factory, username))
    mine = make("Order", courier_id=courier.id, lines=1)
    other = make("Order", courier=make("Courier"), lines=1)
    assert browser.login(username).status_code == 302
    listed = browser.get("/admin/orders/list?pageSize=200").text
    assert mine.number in listed and other.number not in listed
    assert browser.get(f"/admin/orders/details/{other.id}").status_code == 404
