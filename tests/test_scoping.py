"""A merchant user never sees or changes another merchant's rows, whatever URL it types."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.catalog import Product
from schema.orders import Order
from schema.people import Merchant, Permission, Role, RoleCode, User
from services.actor import Actor, acting_as
from services.scoping import ScopeViolation


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


def test_operator_reads_only_the_customers_of_its_orders(make, make_user, browser,  # type: ignore[no-untyped-def]
                                                         factory: sessionmaker[Session]) -> None:
    username = make_user("operator")
    mine = make("Order", operator_id=_user_id(factory, username), lines=1)
    other = make("Order", lines=1)
    assert browser.login(username).status_code == 302
    listed = browser.get("/admin/customers/list?pageSize=200")
    assert listed.status_code == 200
    ids = {int(i) for i in re.findall(r'<input type="hidden" value="(\d+)">', listed.text)}
    assert ids == {mine.customer_id}
    assert browser.get(f"/admin/customers/details/{other.customer_id}").status_code == 404
    found = browser.get("/admin/orders/ajax/lookup?name=customer&term=%25").json()["results"]
    assert {int(item["id"]) for item in found} == {mine.customer_id}


def test_an_operator_cannot_hand_its_order_to_another_merchant(make, make_user,  # type: ignore[no-untyped-def]
                                                               browser,
                                                               factory: sessionmaker[Session]
                                                               ) -> None:
    username = make_user("operator")
    operator_id = _user_id(factory, username)
    order = make("Order", operator_id=operator_id, lines=1)
    other = make("Merchant")
    assert browser.login(username).status_code == 302
    assert 'name="merchant"' not in browser.get(f"/admin/orders/edit/{order.id}").text
    with factory() as session, acting_as(Actor(operator_id, username, "operator")), \
            pytest.raises(ScopeViolation):
        session.get(Order, order.id).merchant_id = other.id
        session.flush()
    with factory() as session:
        assert session.get(Order, order.id).merchant_id == order.merchant_id


def test_no_row_of_the_matrix_lets_a_merchant_out_of_its_merchant(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    """Grant the merchant role every action on its users, its merchant and its payouts: it
    still cannot make itself superuser, edit its contract or settle its payouts."""
    mine = make("Merchant")
    with factory() as session, session.begin():
        role = session.scalar(select(Role).where(Role.code == RoleCode.MERCHANT))
        added = [Permission(role_id=role.id, table_name=t, action=a)
                 for t in ("users", "merchants", "payouts")
                 for a in ("list", "details", "create", "edit", "delete")
                 if session.scalar(select(Permission.id).where(
                     Permission.role_id == role.id, Permission.table_name == t,
                     Permission.action == a)) is None]
        session.add_all(added)
        superuser_role = session.scalar(select(Role.id).where(Role.code == RoleCode.SUPERUSER))
    try:
        browser = signed_in("merchant", merchant_id=mine.id)
        me = session_user = _user_id(factory, _username(browser))
        page = browser.get(f"/admin/users/edit/{me}")
        assert page.status_code == 403
        response = browser.post(f"/admin/users/edit/{me}", {"role": str(superuser_role),
                                                            "username": "x"})
        assert response.status_code in (403, 404)
        assert browser.post(f"/admin/merchants/edit/{mine.id}", {
            "name": "mine", "cash_fee_percent": "0"}).status_code in (403, 404)
        with factory() as session, acting_as(Actor(me, "m", "merchant", mine.id)), \
                pytest.raises(ScopeViolation):
            session.get(User, session_user).role_id = superuser_role
            session.flush()
        with factory() as session:
            assert session.get(User, me).role.code is RoleCode.MERCHANT
    finally:
        with factory() as session, session.begin():
            for permission in added:
                session.delete(session.get(Permission, permission.id))


def _username(browser) -> str:  # type: ignore[no-untyped-def]
    page = browser.get("/admin/").text
    found = re.search(r"(merchant\d+x\d+)", page)
    assert found, "the page names the signed-in user"
    return found.group(1)


def test_writes_that_skip_the_flush_are_checked_too(make, factory: sessionmaker[Session],  # type: ignore[no-untyped-def]
                                                    ) -> None:
    """A foreign key set beside a loaded relationship, an ORM bulk UPDATE and a Core UPDATE
    cannot move a merchant's row under another's, nor touch another's."""
    from sqlalchemy import update

    from schema.catalog import ProductVariant

    mine, theirs = make("Merchant"), make("Merchant")
    my_variant = make("ProductVariant", product=make("Product", merchant=mine))
    their_variant = make("ProductVariant", product=make("Product", merchant=theirs))
    merchant = Actor(None, "api", "merchant", mine.id)
    with factory() as session, acting_as(merchant), pytest.raises(ScopeViolation):
        variant = session.get(ProductVariant, my_variant.id)
        assert variant.product is not None  # the relationship is loaded
        variant.product_id = their_variant.product_id
        session.flush()
    with factory() as session, acting_as(merchant), pytest.raises(ScopeViolation):
        session.execute(update(ProductVariant).where(ProductVariant.id == my_variant.id)
                        .values(product_id=their_variant.product_id))
    with factory() as session, acting_as(merchant), pytest.raises(ScopeViolation):
        session.execute(update(ProductVariant.__table__).values(sku="hijacked"))
    with factory() as session:
        assert session.get(ProductVariant, my_variant.id).product_id == my_variant.product_id
        assert session.get(ProductVariant, their_variant.id).sku == their_variant.sku
