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
from tests.conftest import form_fields, unique


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


# --- issue 11: rule tables that read like rules -------------------------------------------


def _list_row(page: str, name: str) -> str:
    """The list's table row that holds ``name``."""
    for row in re.findall(r"<tr[^>]*>.*?</tr>", page, re.S):
        if name in row:
            return row
    raise AssertionError(f"{name} is not listed")


def test_discount_list_shows_kind_value_state_and_uses(  # type: ignore[no-untyped-def]
    signed_in, make
) -> None:
    tag = unique("list")
    now = datetime.now(UTC)
    percent = make("Discount", name=f"{tag} percent", kind="percent", value=Decimal(10),
                   times_used=3, total_uses_allowed=100, expires_at=now + timedelta(days=9))
    amount = make("Discount", name=f"{tag} amount", kind="amount", value=Decimal(5),
                  currency="BYN")
    expired = make("Discount", name=f"{tag} expired", expires_at=now - timedelta(days=1))
    used_up = make("Discount", name=f"{tag} used-up", times_used=50, total_uses_allowed=50)
    stopped = make("Discount", name=f"{tag} stopped", active=False)
    browser = signed_in("marketer")
    page = html.unescape(browser.get(f"/admin/discounts/list?search={tag}").text)

    row = _list_row(page, percent.name)
    assert "Percent" in row and '<bdi dir="ltr">10%</bdi>' in row and "BYN" not in row.split(
        "10%")[0].rsplit("<td", 1)[-1]
    assert 'data-state="active"' in row and "3 / 100" in row
    row = _list_row(page, amount.name)
    assert "Fixed amount" in row and "BYN5.00" in row.replace("\xa0", "") and "0 / ∞" in row
    assert 'data-state="expired">Expired<' in _list_row(page, expired.name)
    row = _list_row(page, used_up.name)
    assert 'data-state="used_up">Used up<' in row and "50 / 50" in row
    assert 'data-state="inactive">Inactive<' in _list_row(page, stopped.name)

    # In Russian and Persian: translated states, the percent as each writes it.
    ru = html.unescape(browser.get(f"/admin/discounts/list?search={tag}&lang=ru").text)
    assert "10\xa0%" in _list_row(ru, percent.name)
    fa = html.unescape(browser.get(f"/admin/discounts/list?search={tag}&lang=fa").text)
    row = _list_row(fa, percent.name)
    assert "۱۰٪" in row and "۳ / ۱۰۰" in row and "Active" not in row


def test_discount_form_shows_values_as_written_with_help(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    expires = datetime(2031, 11, 1, 7, 0, tzinfo=UTC)
    discount = make("Discount", kind="amount", value=Decimal(5), min_cart_price=Decimal("2.5"),
                    expires_at=expires)
    browser = signed_in("marketer")
    page = browser.get(f"/admin/discounts/edit/{discount.id}").text
    fields = form_fields(page)
    assert fields["value"] == "5" and fields["min_cart_price"] == "2.5"
    assert fields["expires_at"] == "2031-11-01 07:00"
    assert 'data-role="datetimepicker-minutes"' in page
    text = html.unescape(page)
    assert "What the customer types at checkout" in text
    assert "Search by name or SKU." in text
    # Products are looked up as the person types (an ajax select), not listed.
    assert 'name="products"' in page and 'data-role="select2-ajax"' in page.split(
        'name="products"')[0].rsplit("<select", 1)[-1] + page.split('name="products"')[1][:300]

    # Persian readers see and type the Solar Hijri date; it is stored as the same UTC moment.
    fa = browser.get(f"/admin/discounts/edit/{discount.id}?lang=fa").text
    fa_fields = form_fields(fa)
    assert fa_fields["expires_at"] == "۱۴۱۰/۰۸/۱۰ ۰۷:۰۰"
    assert 'data-role="datetimepicker-minutes"' not in fa
    fa_fields["expires_at"] = "۱۴۱۰/۰۸/۱۱ ۰۸:۳۰"
    if not fa_fields.get("products"):  # an empty multiple select sends nothing
        fa_fields.pop("products", None)
    saved = browser.post(f"/admin/discounts/edit/{discount.id}", fa_fields,
                         follow_redirects=False)
    assert saved.status_code == 302, _text(saved)[-3000:]
    with factory() as session:
        stored = session.get(Discount, discount.id)
        assert stored.expires_at == datetime(2031, 11, 2, 8, 30, tzinfo=UTC)
        assert stored.value == Decimal(5) and stored.min_cart_price == Decimal("2.5")


def test_product_picker_searches_by_name_and_sku(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    tag = unique("pick")
    wanted = make("Product", name=f"{tag} kettle", sku=f"{tag}-K1")
    make("Product", name=f"{tag} toaster", sku=f"{tag}-T1")
    browser = signed_in("marketer")
    by_sku = browser.get(f"/admin/discounts/ajax/lookup?name=products&term={tag}-K1").json()
    assert [r["id"] for r in by_sku["results"]] == [str(wanted.id)]
    by_name = browser.get(f"/admin/discounts/ajax/lookup?name=products&term={tag}").json()
    assert len(by_name["results"]) == 2

    form = _discount_form(products=str(wanted.id))
    saved = browser.post("/admin/discounts/create", form, follow_redirects=False)
    assert saved.status_code == 302, _text(saved)[-3000:]
    with factory() as session:
        discount = session.scalar(select(Discount).where(Discount.name == form["name"]))
        assert [p.id for p in discount.products] == [wanted.id]
    # A merchant's staff have no discounts (a shared table): no look-up either.
    merchant = make("Merchant")
    other = signed_in("merchant", merchant_id=merchant.id)
    assert other.get(f"/admin/discounts/ajax/lookup?name=products&term={tag}").status_code \
        in (403, 404)


def _method_rows(factory: sessionmaker[Session], method_id: int) -> list[tuple]:
    with factory() as session:
        return [(r.position, r.min_cart_price, r.min_distance_m, r.out_of_range, r.cost)
                for r in session.scalars(select(ShippingCostRow).where(
                    ShippingCostRow.shipping_method_id == method_id)
                    .order_by(ShippingCostRow.position))]


def _version(factory: sessionmaker[Session], method_id: int) -> str:
    from schema.shipping import ShippingMethod
    with factory() as session:
        return str(session.get(ShippingMethod, method_id).version)


def test_cost_rows_are_edited_in_place_on_the_method_page(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    method = make("ShippingMethod", name=unique("Pishtaz "), cost_rule="by_weight",
                  base_cost=Decimal(200))
    cheap = make("ShippingCostRow", shipping_method=method, position=1,
                 min_cart_price=Decimal(100000), cost=Decimal(3500))
    browser = signed_in("administrator")
    url = f"/admin/shipping_methods/rows/{method.id}"
    page = _text(browser.get(f"/admin/shipping_methods/details/{method.id}"))
    assert 'id="cost-rows"' in page and "cart ≥ 100000 → 3500" in page
    assert "Otherwise: <bdi>200 per g</bdi>" in page and "object at 0x" not in page
    assert f'name="version" value="{_version(factory, method.id)}"' in page

    # Add: the new row goes last, with the success message on the page it returns to.
    added = browser.post(url, {"operation": "add", "version": _version(factory, method.id),
                               "min_distance_m": "۱۰۰۰۰", "cost": "65000",
                               "min_cart_price": "", "min_item_count": "0"})
    assert added.status_code == 200 and "The cost row was added." in added.text
    assert "≥ 10000 m → 65000" in _text(added)
    assert _method_rows(factory, method.id) == [
        (1, Decimal(100000), 0, False, Decimal(3500)), (2, Decimal(0), 10000, False,
                                                        Decimal(65000))]
    with factory() as session:
        far = session.scalar(select(ShippingCostRow.id).where(
            ShippingCostRow.shipping_method_id == method.id, ShippingCostRow.position == 2))

    # Edit a row's conditions: out of range for carts of 5000 or more.
    edited = browser.post(url, {"operation": "update", "row_id": str(far),
                                "version": _version(factory, method.id),
                                "min_cart_price": "5000", "out_of_range": "y", "cost": "0"})
    assert "The cost row was saved." in edited.text
    assert "cart ≥ 5000 → not offered" in _text(edited)
    # Move it up: it is now tried first.
    browser.post(url, {"operation": "up", "row_id": str(far),
                       "version": _version(factory, method.id)})
    assert _method_rows(factory, method.id) == [
        (1, Decimal(5000), 0, True, Decimal(0)), (2, Decimal(100000), 0, False, Decimal(3500))]

    # A form opened before these changes is refused, and changes nothing.
    stale = browser.post(url, {"operation": "remove", "row_id": str(cheap.id),
                               "version": "1"})
    assert "Someone else changed this record" in stale.text
    assert len(_method_rows(factory, method.id)) == 2
    # A negative cost is refused with the reason.
    refused = browser.post(url, {"operation": "update", "row_id": str(cheap.id),
                                 "version": _version(factory, method.id), "cost": "-1"})
    assert "The cost cannot be negative (-1 was entered)" in _text(refused)
    assert _method_rows(factory, method.id)[1][4] == Decimal(3500)

    # Remove: the rest are numbered again from 1.
    removed = browser.post(url, {"operation": "remove", "row_id": str(far),
                                 "version": _version(factory, method.id)})
    assert "The cost row was removed." in removed.text
    assert _method_rows(factory, method.id) == [(1, Decimal(100000), 0, False, Decimal(3500))]

    # Editing rows is editing the method: a marketer may not, and it is a POST.
    marketer = signed_in("marketer")
    assert marketer.post(url, {"operation": "remove", "row_id": str(cheap.id),
                               "version": _version(factory, method.id)}).status_code == 403
    assert browser.get(url).status_code == 405


# --- issue 11: scheduled discounts, the reader's numbers in summaries -----------------------


def test_a_scheduled_discount_is_badged_and_its_start_is_a_minute_field(  # type: ignore[no-untyped-def]
    signed_in, make, factory: sessionmaker[Session]
) -> None:
    tag = unique("sched")
    start = datetime(2031, 11, 1, 7, 0, tzinfo=UTC)
    scheduled = make("Discount", name=f"{tag} later", starts_at=start,
                     expires_at=start + timedelta(days=30))
    started = make("Discount", name=f"{tag} started",
                   starts_at=datetime.now(UTC) - timedelta(days=1))
    browser = signed_in("marketer")
    page = html.unescape(browser.get(f"/admin/discounts/list?search={tag}").text)
    assert 'data-state="scheduled">Scheduled<' in _list_row(page, scheduled.name)
    assert "from 2031-11-01, until 2031-12-01" in _list_row(page, scheduled.name)
    assert 'data-state="active">Active<' in _list_row(page, started.name)

    # The start sits beside the expiry, to the minute, in the reader's calendar.
    form = browser.get(f"/admin/discounts/edit/{scheduled.id}").text
    assert form_fields(form)["starts_at"] == "2031-11-01 07:00"
    assert form.index('name="starts_at"') < form.index('name="expires_at"')
    fa = form_fields(browser.get(f"/admin/discounts/edit/{scheduled.id}?lang=fa").text)
    assert fa["starts_at"] == "۱۴۱۰/۰۸/۱۰ ۰۷:۰۰"

    # A start at or after the expiry is refused with the reason; nothing is saved.
    refused = _discount_form(starts_at="2031-12-01 10:00", expires_at="2031-12-01 10:00")
    response = browser.post("/admin/discounts/create", refused, follow_redirects=False)
    assert response.status_code == 400
    # The reader is Persian now (the last page asked for it): the times in its calendar.
    assert "(۱۴۱۰/۰۹/۱۰ ۱۰:۰۰)" in _text(response)
    browser.get("/admin/discounts/list?lang=en")
    response = browser.post("/admin/discounts/create", refused, follow_redirects=False)
    assert response.status_code == 400
    assert "no earlier than it expires (2031-12-01 10:00)" in _text(response)
    assert _count(factory, refused["name"]) == 0
    # Before the expiry it is saved, and the list says it is scheduled.
    fine = _discount_form(starts_at="2031-12-01 09:59", expires_at="2031-12-01 10:00")
    response = browser.post("/admin/discounts/create", fine, follow_redirects=False)
    assert response.status_code == 302, _text(response)[-3000:]
    with factory() as session:
        saved = session.scalar(select(Discount).where(Discount.name == fine["name"]))
        assert saved.starts_at == datetime(2031, 12, 1, 9, 59, tzinfo=UTC)


def test_a_persian_readers_summaries_have_persian_digits_but_codes_as_written(  # type: ignore[no-untyped-def]
    signed_in, make
) -> None:
    code = unique("WELCOME10")
    discount = make("Discount", kind="amount", value=Decimal(5), code=code,
                    min_cart_price=Decimal(100000),
                    expires_at=datetime(2031, 11, 1, 7, 0, tzinfo=UTC))
    browser = signed_in("marketer")
    page = html.unescape(browser.get(f"/admin/discounts/list?search={code}&lang=fa").text)
    row = _list_row(page, f">{discount.name}<")  # the discount's row, not the search box
    found = re.search(r'rule-summary">([^<]*)<', row)
    assert found, row
    summary = found.group(1)
    assert code in summary  # its Latin digits unchanged
    assert "۱۰۰٬۰۰۰" in summary and "۱۴۱۰/۰۸/۱۰" in summary
    assert "100000" not in summary and "2031" not in summary
