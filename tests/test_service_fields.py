"""Money and state that a service owns are never form fields: order totals follow the pricing
engine when the order is edited, a merchant's balance is its ledger's sum, a parcel's payment,
deadline and cell are its journey's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.audit import ChangeLog
from schema.customers import Customer
from schema.lockers import LedgerKind, LockerCell, Parcel
from schema.orders import Order, OrderLine
from schema.people import Merchant
from services import ledger
from services.errors import Refused
from services.ordering import OrderInput, place_order
from services.pricing import CartItem, quote_cart
from tests.conftest import form_fields
from tests.test_pricing_services import Shop, build_shop

D = Decimal
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ORDER_MONEY = ("subtotal", "discount_total", "shipping_cost", "tax_total", "payable",
               "wallet_amount", "paid_amount", "balance_due", "total_weight_g", "currency")


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


def _placed(factory: sessionmaker[Session], shop: Shop) -> int:
    with factory() as session, session.begin():
        return place_order(session, shop.merchant, OrderInput(
            cart=[CartItem(shop.big, 2), CartItem(shop.small, 3)],
            shipping_method_id=shop.pishtaz, payment_method_id=shop.online,
            customer_id=shop.customer, discount_code=shop.code, recipient_name="Ann",
        ), now=NOW).id


def _expected(session: Session, shop: Shop, cart: list[CartItem], shipping: int) -> tuple:
    quote = quote_cart(session, shop.merchant, cart, customer_id=shop.customer,
                       shipping_method_id=shipping, payment_method_id=shop.online,
                       discount_code=shop.code, now=NOW)
    return (quote.subtotal, quote.discount_total + quote.payment_discount,
            quote.shipping.cost if quote.shipping else D(0), quote.payable, quote.balance)


def _totals(order: Order) -> tuple:
    return (order.subtotal, order.discount_total, order.shipping_cost, order.payable,
            order.balance_due)


def test_a_manager_cannot_type_a_total_and_a_new_method_reprices_the_order(  # type: ignore[no-untyped-def]
        signed_in, factory: sessionmaker[Session], shop: Shop) -> None:
    # The whole-record order form is gone: financial info is its own form on the order page.
    order_id = _placed(factory, shop)
    browser = signed_in("manager")
    page = browser.get(f"/admin/orders/details/{order_id}").text
    fields = form_fields(_financial_form(page))
    assert not set(ORDER_MONEY) & set(fields), set(ORDER_MONEY) & set(fields)
    assert "discount_code" not in fields and "discount" not in fields
    fields.update(shipping_method_id=str(shop.motor), payable="1.00", balance_due="0")
    response = browser.post(f"/admin/orders/{order_id}/financial", fields,
                            follow_redirects=False)
    assert response.status_code == 303, response.text[-2000:]
    with factory() as session:
        order = session.get(Order, order_id)
        expected = _expected(session, shop, [CartItem(shop.big, 2), CartItem(shop.small, 3)],
                             shop.motor)
        # 103000 − 300 (code) − 2054 (online 2 %) + 1000 (motor, fixed).
        assert _totals(order) == expected == (D("103000.00"), D("2354.00"), D("1000.00"),
                                              D("101646.00"), D("101646.00"))
        logged = session.scalars(select(ChangeLog).where(
            ChangeLog.table_name == "orders", ChangeLog.record_id == order_id)).all()
        assert any("payable" in entry.changes for entry in logged)


def _financial_form(page: str) -> str:
    return page.split('data-form="financial"', 1)[1].split("</form>", 1)[0].join(
        ("<form>", "</form>"))


def test_editing_a_line_reprices_its_order(  # type: ignore[no-untyped-def]
        signed_in, factory: sessionmaker[Session], shop: Shop) -> None:
    order_id = _placed(factory, shop)
    with factory() as session:
        big_line = session.scalars(select(OrderLine).where(
            OrderLine.order_id == order_id, OrderLine.product_id == shop.big)).one()
    browser = signed_in("manager")
    fields = form_fields(browser.get(f"/admin/order_lines/edit/{big_line.id}").text)
    assert not {"unit_price", "line_total", "discount_amount", "weight_g"} & set(fields)
    fields.update(quantity="1", unit_price="0.01", line_total="0.01")
    response = browser.post(f"/admin/order_lines/edit/{big_line.id}", fields,
                            follow_redirects=False)
    assert response.status_code == 302, response.text[-2000:]
    with factory() as session:
        order = session.get(Order, order_id)
        line = session.get(OrderLine, big_line.id)
        assert (line.quantity, line.unit_price, line.line_total) == (1, D(50000), D("50000.00"))
        # 53000 − 300 → goods 52700 < 100000: Pishtaz by weight, 200 × (700 + 75) g.
        assert _totals(order) == _expected(
            session, shop, [CartItem(shop.big, 1), CartItem(shop.small, 3)], shop.pishtaz)


def test_a_method_that_cannot_serve_the_edited_order_refuses_the_edit(  # type: ignore[no-untyped-def]
        signed_in, factory: sessionmaker[Session], shop: Shop) -> None:
    order_id = _placed(factory, shop)
    with factory() as session:
        before = _totals(session.get(Order, order_id))
    browser = signed_in("manager")
    fields = form_fields(_financial_form(browser.get(f"/admin/orders/details/{order_id}").text))
    fields.update(shipping_method_id=str(shop.bike))  # bike: carts under 5000 only
    response = browser.post(f"/admin/orders/{order_id}/financial", fields)
    assert "cannot deliver this order" in response.text
    with factory() as session:
        order = session.get(Order, order_id)
        assert (order.shipping_method_id, _totals(order)) == (shop.pishtaz, before)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(list(LedgerKind)),
                          st.decimals(min_value=-10**9, max_value=10**9, places=4)),
                max_size=12))
def test_a_balance_is_always_the_sum_of_its_ledger(factory: sessionmaker[Session],
                                                   history: list[tuple[LedgerKind, D]]) -> None:
    with factory() as session, session.begin():
        merchant = Merchant(name="ledger property", currency="BYN")
        session.add(merchant)
        session.flush()
        for kind, amount in history:
            ledger.post(session, merchant.id, kind, amount, "BYN")
        merchant_id = merchant.id
    with factory() as session:
        balance = session.scalar(select(Merchant.balance).where(Merchant.id == merchant_id))
        assert balance == ledger.ledger_sum(session, merchant_id) == sum(
            (amount for _, amount in history), D(0))


def test_a_balance_or_an_entry_cannot_be_edited(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    merchant = make("Merchant")
    with factory() as session, session.begin():
        entry_id = ledger.post(session, merchant.id, LedgerKind.DEPOSIT, D(100), "BYN").id
    for change in ("balance", "entry"):
        with factory() as session, pytest.raises(Refused):
            if change == "balance":
                session.get(Merchant, merchant.id).balance = D(1_000_000)
            else:
                from schema.lockers import LedgerEntry

                session.get(LedgerEntry, entry_id).amount = D(1_000_000)
            session.commit()
    page = signed_in("administrator").get(f"/admin/merchants/edit/{merchant.id}").text
    assert "balance" not in form_fields(page)
    with factory() as session:
        assert session.get(Merchant, merchant.id).balance == D(100)


def test_a_merchant_cannot_set_a_parcels_payment_deadline_or_cell(  # type: ignore[no-untyped-def]
        signed_in, make, factory: sessionmaker[Session]) -> None:
    mine, theirs = make("Merchant"), make("Merchant")
    occupied = make("Parcel", merchant=theirs)
    with factory() as session, session.begin():
        cell = session.scalars(select(LockerCell).where(
            LockerCell.locker_id == occupied.locker_id)).first()
        if cell is None:
            cell = LockerCell(locker_id=occupied.locker_id, code="A1", size="m")
            session.add(cell)
            session.flush()
        session.get(Parcel, occupied.id).cell_id = cell.id
        cell_id = cell.id
    browser = signed_in("merchant", merchant_id=mine.id)
    fields = form_fields(browser.get("/admin/parcels/create").text)
    assert not {"paid", "stored_until", "cell", "pickup_code_hash"} & set(fields)
    fields.update(barcode="SVC-FIELDS-1", locker=str(occupied.locker_id), size="m",
                  drop_mode="courier_pickup", currency="BYN", paid="y", cell=str(cell_id),
                  stored_until=(datetime.now(UTC) + timedelta(days=30)).strftime(
                      "%Y-%m-%d %H:%M:%S"))
    # The generic create form leads to "Register a parcel" (services.parcels registers with a
    # reserved cell): a post to it writes nothing, and the page's form sets no service field.
    response = browser.post("/admin/parcels/create", fields, follow_redirects=False)
    assert response.status_code == 303, response.text[-2000:]
    with factory() as session:
        assert session.scalars(select(Parcel).where(Parcel.barcode == "SVC-FIELDS-1")).first() \
            is None


def _edit_order(browser, order_id: int, **changes: str):  # type: ignore[no-untyped-def]
    """The order page's financial-info form (the whole-record form is gone), as submitted."""
    page = browser.get(f"/admin/orders/details/{order_id}").text
    fields = form_fields(_financial_form(page))
    fields.update(changes)
    return browser.post(f"/admin/orders/{order_id}/financial", fields)


def test_repricing_keeps_the_discount_the_order_was_placed_with(  # type: ignore[no-untyped-def]
        signed_in, factory: sessionmaker[Session], shop: Shop) -> None:
    """Deactivating the campaign afterwards does not take the discount away from placed
    orders; moving the order to another customer moves its use with it."""
    order_id = _placed(factory, shop)
    with factory() as session, session.begin():
        from schema.discounts import Discount

        session.get(Discount, shop.code_id).active = False
        other = Customer(merchant_id=shop.merchant, name="Another buyer", registered=True)
        session.add(other)
    # No page moves an order to another customer any more; a person's edit of the order
    # (acting, so the flush re-prices) does it here.
    from services.actor import Actor, acting_as

    with factory() as session, session.begin(), acting_as(Actor(None, "manager", "manager")):
        order = session.get(Order, order_id)
        order.shipping_method_id = shop.motor
        order.customer_id = other.id
        session.flush()  # while acting: the commit comes after acting_as has ended
    with factory() as session:
        from schema.discounts import Discount, DiscountUsage

        order = session.get(Order, order_id)
        usage = session.scalars(select(DiscountUsage).where(
            DiscountUsage.order_id == order_id)).one()
        assert order.discount_total == D("300.00") + D("2054.00")
        assert (usage.customer_id, usage.amount) == (other.id, D("300.00"))
        assert session.get(Discount, shop.code_id).times_used == 1


def test_an_edit_cannot_bring_the_total_under_what_was_paid(  # type: ignore[no-untyped-def]
        signed_in, factory: sessionmaker[Session], shop: Shop) -> None:
    with factory() as session, session.begin():
        order_id = place_order(session, shop.merchant, OrderInput(
            cart=[CartItem(shop.big, 2), CartItem(shop.small, 3)],
            shipping_method_id=shop.pishtaz, payment_method_id=shop.online,
            customer_id=shop.customer, discount_code=shop.code, paid=D("104000"),
        ), now=NOW).id
    browser = signed_in("manager")
    response = _edit_order(browser, order_id, shipping_method_id=str(shop.motor))
    assert "already paid" in response.text
    with factory() as session:
        assert session.get(Order, order_id).shipping_method_id == shop.pishtaz
