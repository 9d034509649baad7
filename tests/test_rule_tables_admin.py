"""Rule tables through the admin's HTTP: refusals that explain themselves and save nothing,
readable summaries in the lists, the discount's use on its detail page, reordering cost rows."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from schema.discounts import Discount, DiscountUsage
from schema.payments import PaymentGateway
from schema.shipping import ShippingCostRow
from tests.conftest import unique


def _discount_form(**changes: str) -> dict[str, str]:
    return {"name": unique("disc"), "code": unique("CODE"), "kind": "percent", "value": "10",
            "currency": "BYN", "target": "everyone", "channel": "both", "priority": "0",
            "active": "y", **changes}


def _count(factory: sessionmaker[Session], name: str) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Discount)
                              .where(Discount.name == name)) or 0


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.text)


def test_percent_over_100_is_refused_with_the_reason_and_nothing_saved(  # type: ignore[no-untyped-def]
    signed_in, factory: sessionmaker[Session]
) -> None:
    browser = signed_in("marketer")
    form = _discount_form(value="150")
    response = browser.post("/admin/discounts/create", form, follow_redirects=False)
    assert response.status_code == 400
    assert "A percent discount cannot be more than 100% (150% was entered)" in _text(response)
    assert _count(factory, form["name"]) == 0


def test_per_customer_limit_with_a_single_customer_target_is_refused(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    customer = make("Customer")
    browser = signed_in("marketer")
    form = _discount_form(target="customer", customer=str(customer.id), uses_per_customer="2")
    response = browser.post("/admin/discounts/create", form, follow_redirects=False)
    assert response.status_code == 400
    assert "does not apply to a discount for a single customer" in _text(response)
    assert _count(factory, form["name"]) == 0

    both = _discount_form(automatic="y", expires_at="2020-01-01 10:00:00")
    response = browser.post("/admin/discounts/create", both, follow_redirects=False)
    assert response.status_code == 400
    page = _text(response)
    assert "either automatic or used with a code, not both" in page
    assert "2020-01-01 10:00 is already past" in page
    assert _count(factory, both["name"]) == 0


def test_a_valid_discount_is_saved_and_summarised_in_the_list(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    group = make("CustomerGroup", name=unique("100-200 "), min_points=100, max_points=200)
    browser = signed_in("marketer")
    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    form = _discount_form(code="", automatic="y", target="group",
                          customer_group=str(group.id), uses_per_customer="1",
                          expires_at=expires)
    response = browser.post("/admin/discounts/create", form, follow_redirects=False)
    assert response.status_code == 302, _text(response)[-3000:]
    with factory() as session:
        saved = session.scalar(select(Discount).where(Discount.name == form["name"]))
        assert saved is not None and saved.automatic and saved.code is None
        assert saved.customer_group_id == group.id and saved.expires_at is not None
    listing = _text(browser.get(f"/admin/discounts/list?search={form['name']}"))
    assert f"10% off, automatic, group {group.name}" in listing

    # A code that differs only in case from another discount's is refused.
    taken = make("Discount", code=unique("WELCOME"))
    again = _discount_form(code=taken.code.lower())
    response = browser.post("/admin/discounts/create", again, follow_redirects=False)
    assert response.status_code == 400
    assert f"is already used by the discount {taken.name}" in _text(response)


def test_discount_detail_shows_times_used_total_and_orders(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    discount = make("Discount", kind="amount", value=Decimal(5), times_used=2,
                    min_cart_price=Decimal(50))
    first, second = make("Order"), make("Order")
    with factory() as session, session.begin():
        for order, amount in ((first, Decimal("5")), (second, Decimal("3.25"))):
            session.add(DiscountUsage(discount_id=discount.id, order_id=order.id,
                                      customer_id=order.customer_id, amount=amount,
                                      currency="BYN"))
    browser = signed_in("marketer")
    page = _text(browser.get(f"/admin/discounts/details/{discount.id}"))
    assert "Use of this discount" in page and "Times used: 2" in page
    assert "8.25" in page  # 5 + 3.25
    assert first.number in page and second.number in page
    assert f"5 off with code {discount.code}, cart ≥ 50" in page

    unused = make("Discount")
    page = _text(browser.get(f"/admin/discounts/details/{unused.id}"))
    assert "No order has used this discount yet." in page


def test_shipping_summaries_and_move_up(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    method = make("ShippingMethod", name=unique("Pishtaz "), cost_rule="by_weight",
                  base_cost=Decimal(200))
    cheap = make("ShippingCostRow", shipping_method=method, position=1,
                 min_cart_price=Decimal(100000), cost=Decimal(3500))
    far = make("ShippingCostRow", shipping_method=method, position=2, min_distance_m=10000,
               cost=Decimal(65000))
    out = make("ShippingCostRow", shipping_method=method, position=3,
               min_cart_price=Decimal(5000), out_of_range=True)
    browser = signed_in("administrator")

    rows = _text(browser.get(f"/admin/shipping_cost_rows/list?shipping_method_id={method.id}"))
    assert rows.index("cart ≥ 100000 → 3500") < rows.index("≥ 10000 m → 65000") < rows.index(
        "cart ≥ 5000 → not offered")
    methods = _text(browser.get(f"/admin/shipping_methods/list?search={method.name}"))
    assert "cart ≥ 100000 → 3500; ≥ 10000 m → 65000; cart ≥ 5000 → not offered; " \
           "otherwise 200 per g" in methods

    moved = browser.post(f"/admin/shipping_cost_rows/action/move-up?pks={out.id}",
                         follow_redirects=False)
    assert moved.status_code == 303
    assert f"shipping_method_id={method.id}" in moved.headers["location"]
    with factory() as session:
        positions = {r.id: r.position for r in session.scalars(
            select(ShippingCostRow).where(ShippingCostRow.shipping_method_id == method.id))}
    assert positions == {cheap.id: 1, far.id: 3, out.id: 2}
    rows = _text(browser.get(f"/admin/shipping_cost_rows/list?shipping_method_id={method.id}"))
    assert rows.index("cart ≥ 5000 → not offered") < rows.index("≥ 10000 m → 65000")

    # The top row cannot move further up; moving down swaps it with the next one.
    browser.post(f"/admin/shipping_cost_rows/action/move-up?pks={cheap.id}")
    browser.post(f"/admin/shipping_cost_rows/action/move-down?pks={cheap.id}")
    with factory() as session:
        order = list(session.scalars(
            select(ShippingCostRow.id).where(ShippingCostRow.shipping_method_id == method.id)
            .order_by(ShippingCostRow.position)))
    assert order == [out.id, cheap.id, far.id]
    # Moving is a POST-only state change.
    assert browser.get(
        f"/admin/shipping_cost_rows/action/move-up?pks={far.id}").status_code == 405


def test_rows_with_equal_positions_are_numbered_then_moved(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    method = make("ShippingMethod")
    a = make("ShippingCostRow", shipping_method=method, position=0, cost=Decimal(1))
    b = make("ShippingCostRow", shipping_method=method, position=0, cost=Decimal(2))
    browser = signed_in("administrator")
    browser.post(f"/admin/shipping_cost_rows/action/move-up?pks={b.id}")
    with factory() as session:
        assert session.get(ShippingCostRow, b.id).position < session.get(
            ShippingCostRow, a.id).position


def test_shipping_row_refusal_and_new_row_goes_last(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    method = make("ShippingMethod")
    make("ShippingCostRow", shipping_method=method, position=7, cost=Decimal(1))
    browser = signed_in("administrator")
    base = {"shipping_method": str(method.id), "min_cart_price": "0", "min_item_count": "0",
            "min_weight_g": "0", "min_distance_m": "0", "cost": "-10"}
    refused = browser.post("/admin/shipping_cost_rows/create", base, follow_redirects=False)
    assert refused.status_code == 400
    assert "The cost cannot be negative (-10 was entered)" in _text(refused)
    ok = browser.post("/admin/shipping_cost_rows/create", {**base, "cost": "10"},
                      follow_redirects=False)
    assert ok.status_code == 302, _text(ok)[-3000:]
    with factory() as session:
        positions = sorted(session.scalars(select(ShippingCostRow.position).where(
            ShippingCostRow.shipping_method_id == method.id)))
    assert positions == [7, 8]


def test_payment_method_and_gateway_checks(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    browser = signed_in("administrator")
    name = unique("pm")
    form = {"kind": "online", "name": name, "active": "y", "discount_kind": "percent",
            "discount_value": "2", "currency": "BYN", "tax_percent": "120"}
    refused = browser.post("/admin/payment_methods/create", form, follow_redirects=False)
    assert refused.status_code == 400
    assert "The tax percent must be from 0 to 100 (120 was entered)." in _text(refused)
    ok = browser.post("/admin/payment_methods/create", {**form, "tax_percent": "0"},
                      follow_redirects=False)
    assert ok.status_code == 302, _text(ok)[-3000:]
    assert "2% off" in _text(browser.get(f"/admin/payment_methods/list?search={name}"))

    gateway_name = unique("gw")
    gateway = {"name": gateway_name, "kind": "mellat", "terminal_id": "T-1", "currency": "IRR",
               "conversion_rate": "0", "conversion_op": "multiply", "rounding_digits": "-1",
               "decimals": "0", "active": "y", "fee_percent": "0"}
    refused = browser.post("/admin/payment_gateways/create", gateway, follow_redirects=False)
    assert refused.status_code == 400
    page = _text(refused)
    assert "The conversion rate must be greater than zero" in page
    assert "The rounding digits cannot be negative" in page
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(PaymentGateway)
                              .where(PaymentGateway.name == gateway_name)) == 0
    ok = browser.post("/admin/payment_gateways/create",
                      {**gateway, "conversion_rate": "100000", "rounding_digits": "2"},
                      follow_redirects=False)
    assert ok.status_code == 302, _text(ok)[-3000:]


def test_an_expired_discount_can_still_be_edited(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    past = datetime.now(UTC) - timedelta(days=3, microseconds=123)
    discount = make("Discount", expires_at=past)
    browser = signed_in("marketer")
    page = browser.get(f"/admin/discounts/edit/{discount.id}").text

    def value(name: str) -> str:
        found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', page)
        assert found, name
        return found.group(1)

    form = _discount_form(name=discount.name, code=discount.code,
                          expires_at=value("expires_at"), version=value("version"))
    del form["active"]  # deactivate it
    response = browser.post(f"/admin/discounts/edit/{discount.id}", form, follow_redirects=False)
    assert response.status_code == 302, _text(response)[-3000:]
    with factory() as session:
        assert session.get(Discount, discount.id).active is False
    # Moving the expiry to another past date is refused.
    form = _discount_form(name=discount.name, code=discount.code,
                          expires_at="2020-05-05 10:00:00", version=str(int(value("version")) + 1))
    response = browser.post(f"/admin/discounts/edit/{discount.id}", form, follow_redirects=False)
    assert response.status_code == 400
    assert "2020-05-05 10:00 is already past" in _text(response)
