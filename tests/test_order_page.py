"""The order page as people use it (R-ORD-2, R-ORD-3): the items first, the tabs, and the small
edit forms (recipient, financial info, items, notes), each through real HTTP: success, a status
that forbids it, a stale version, another merchant's order, bad input; item edits re-price the
order exactly as the engine quotes the same cart."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.catalog import Product, StockLevel, Warehouse
from schema.invoices import GatewayTransaction
from schema.orders import Order, OrderLine, OrderNote
from services.ordering import OrderInput, place_order
from services.pricing import CartItem, quote_cart
from tests.test_pricing_services import Shop, build_shop

D = Decimal
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


def _placed(factory: sessionmaker[Session], shop: Shop, **extra: object) -> int:
    """2 × big + 3 × small, Pishtaz, online payment, the code: placed by the engine."""
    with factory() as session, session.begin():
        return place_order(session, shop.merchant, OrderInput(
            cart=[CartItem(shop.big, 2), CartItem(shop.small, 3)],
            shipping_method_id=shop.pishtaz, payment_method_id=shop.online,
            customer_id=shop.customer, discount_code=shop.code, recipient_name="Ann",
            recipient_phone="+375291234567", **extra), now=NOW).id  # type: ignore[arg-type]


def _order(factory: sessionmaker[Session], order_id: int) -> Order:
    with factory() as session:
        order = session.get(Order, order_id)
        assert order is not None
        _ = order.lines  # loaded before the session closes
        return order


def _expected(factory: sessionmaker[Session], shop: Shop, cart: list[CartItem],
              shipping: int) -> tuple:
    with factory() as session:
        q = quote_cart(session, shop.merchant, cart, customer_id=shop.customer,
                       shipping_method_id=shipping, payment_method_id=shop.online,
                       discount_code=shop.code, now=NOW)
    return (q.subtotal, q.discount_total + q.payment_discount,
            q.shipping.cost if q.shipping else D(0), q.payable, q.balance)


def _totals(order: Order) -> tuple:
    return (order.subtotal, order.discount_total, order.shipping_cost, order.payable,
            order.balance_due)


def _sku(factory: sessionmaker[Session], product_id: int) -> str:
    with factory() as session:
        return session.scalar(select(Product.sku).where(Product.id == product_id)) or ""


def _set(factory: sessionmaker[Session], order_id: int, **values: object) -> None:
    with factory() as session, session.begin():
        session.execute(update(Order).where(Order.id == order_id).values(**values))


def _flash(page: str) -> str:
    return " ".join(re.findall(r'class="toast-body">(.*?)</div>', page, re.DOTALL))


# --- the page --------------------------------------------------------------------------------
def test_the_page_puts_the_items_first_and_has_every_tab(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    earlier = _placed(factory, shop)
    with factory() as session, session.begin():
        warehouse = Warehouse(merchant_id=shop.merchant, name="Main store")
        session.add(warehouse)
        session.flush()
        session.add(StockLevel(product_id=shop.big, warehouse_id=warehouse.id, quantity=7,
                               min_quantity=2))
        session.add(GatewayTransaction(order_id=order_id, amount=D("101646.00"), currency="BYN",
                                       entered_at=NOW, tracking_code="TRK-778899",
                                       gateway_message="Paid", status="paid"))
        session.add(OrderNote(order_id=order_id, text="Call before noon"))
    order = _order(factory, order_id)
    page = signed_in("manager").get(f"/admin/orders/details/{order_id}").text
    positions = [page.index(f'id="{name}"') for name in (
        "order-header", "order-items", "order-totals", "order-operations", "order-tabs")]
    assert positions == sorted(positions)
    items = page.split('id="order-items"', 1)[1].split('id="order-totals"', 1)[0]
    for line in order.lines:
        row = items.split(f'data-line="{line.id}"', 1)[1].split("</tr>", 1)[0]
        assert f'data-quantity="{line.quantity}"' in row
        assert format_money(line.unit_price, "BYN", "en") in row
        assert format_money(line.line_total, "BYN", "en") in row
        assert _sku(factory, line.product_id) in row
    for tab in ("tab-status-history", "tab-notes", "tab-stock", "tab-previous",
                "tab-assignments", "tab-transactions", "tab-messages", "tab-changes"):
        assert f'id="{tab}"' in page, tab
    assert "Main store" in page.split('id="tab-stock"', 1)[1].split("</table>", 1)[0]
    previous = page.split('id="tab-previous"', 1)[1].split("</table>", 1)[0]
    assert f"/admin/orders/details/{earlier}" in previous
    assert "TRK-778899" in page.split('id="tab-transactions"', 1)[1].split("</table>", 1)[0]
    assert "Call before noon" in page.split('id="tab-notes"', 1)[1]
    # No whole-record form, no field dump, no ids.
    assert f"/admin/orders/edit/{order_id}" not in page
    assert "Id:" not in page and "<th class=\"w-1\">" not in page and "object at 0x" not in page


def test_the_edit_url_leads_to_the_order_page(signed_in, factory, shop) -> None:  # type: ignore[no-untyped-def]
    order_id = _placed(factory, shop)
    browser = signed_in("manager")
    response = browser.get(f"/admin/orders/edit/{order_id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/admin/orders/details/{order_id}")
    before = _totals(_order(factory, order_id))
    browser.post(f"/admin/orders/edit/{order_id}", {"payable": "1.00"}, follow_redirects=False)
    assert _totals(_order(factory, order_id)) == before


def test_a_persian_reader_sees_the_effective_date_in_solar_hijri(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    manager = signed_in("manager")
    answer = manager.post(f"/admin/orders/{order_id}/status", {
        "field": "status", "to_state": "confirmed", "expected_state": "awaiting_confirmation",
        "effective_date": "2026-03-21"}).text
    assert _order(factory, order_id).status == "confirmed", _flash(answer)
    page = manager.get(f"/admin/orders/details/{order_id}?lang=fa").text
    cells = [c.split("</td>", 1)[0] for c in page.split("data-effective-date")[1:]]
    dated = [c for c in cells if "<time" in c]
    assert len(dated) == 1, cells
    # Solar Hijri in Persian digits; the Gregorian day a hover away (the title).
    assert "۱۴۰۵" in dated[0] and "فروردین" in dated[0] and 'datetime="2026-03-21"' in dated[0]


# --- recipient ---------------------------------------------------------------------------------
def test_edit_recipient_saves_and_a_stale_form_changes_nothing(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    version = _order(factory, order_id).version
    manager = signed_in("manager")
    form = {"version": str(version), "recipient_name": "Bob Stone",
            "recipient_phone": "+375 (29) ۱۲۳-45-67", "recipient_address": "Lenina 1",
            "recipient_city": "Minsk", "recipient_postcode": "220000",
            "customer_comment": "Ring twice"}
    response = manager.post(f"/admin/orders/{order_id}/recipient", form,
                            follow_redirects=False)
    assert response.status_code == 303
    order = _order(factory, order_id)
    assert (order.recipient_name, order.recipient_phone, order.customer_comment) == (
        "Bob Stone", "+375 (29) 123-45-67", "Ring twice")
    assert order.version > version
    page = manager.get(f"/admin/orders/details/{order_id}").text
    assert "The recipient was saved." in page and "Bob Stone" in page
    # The change log tab names the field by its label, with the value before and after.
    changes = page.split('id="tab-changes"', 1)[1]
    assert "<strong>Recipient</strong>" in changes and "→ Bob Stone" in changes, changes[:3000]

    stale = manager.post(f"/admin/orders/{order_id}/recipient",
                         {**form, "recipient_name": "Carl"}).text  # the old version
    assert "Someone else changed order" in stale
    assert _order(factory, order_id).recipient_name == "Bob Stone"


def test_edit_recipient_bad_input_and_closed_status(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    manager = signed_in("manager")
    order = _order(factory, order_id)
    page = manager.post(f"/admin/orders/{order_id}/recipient", {
        "version": str(order.version), "recipient_name": "Dan",
        "recipient_phone": "call me"}).text
    assert "Enter the phone number with digits only" in page
    page = manager.post(f"/admin/orders/{order_id}/recipient", {
        "version": str(order.version), "recipient_name": " "}).text
    assert "Enter the recipient&#39;s name." in page or "Enter the recipient's name." in page
    _set(factory, order_id, status="delivered", version=order.version + 1)
    page = manager.post(f"/admin/orders/{order_id}/recipient", {
        "version": str(order.version + 1), "recipient_name": "Dan"}).text
    assert "the recipient can no longer change" in page
    assert _order(factory, order_id).recipient_name == "Ann"


# --- financial info ------------------------------------------------------------------------------
def _financial(order: Order, **changes: str) -> dict[str, str]:
    return {"version": str(order.version), "order_type": order.order_type.value,
            "payment_method_id": str(order.payment_method_id or ""),
            "shipping_method_id": str(order.shipping_method_id or ""), **changes}


def test_a_new_shipping_method_reprices_and_totals_are_never_typed(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    order = _order(factory, order_id)
    manager = signed_in("manager")
    page = manager.get(f"/admin/orders/details/{order_id}").text
    form = page.split('data-form="financial"', 1)[1].split("</form>", 1)[0]
    names = set(re.findall(r'name="([a-z_]+)"', form))
    assert not names & {"subtotal", "payable", "balance_due", "discount_total", "shipping_cost",
                        "discount_code", "paid_amount", "wallet_amount"}
    response = manager.post(f"/admin/orders/{order_id}/financial", _financial(
        order, shipping_method_id=str(shop.motor), bank_slip="SLIP-42",
        payment_date="۱۴۰۵/۰۱/۰۱ ۰۹:۰۵", payable="1.00"), follow_redirects=False)
    assert response.status_code == 303
    after = _order(factory, order_id)
    assert after.shipping_method_id == shop.motor and after.bank_slip == "SLIP-42"
    assert after.payment_date == datetime(2026, 3, 21, 9, 5, tzinfo=UTC)
    assert _totals(after) == _expected(
        factory, shop, [CartItem(shop.big, 2), CartItem(shop.small, 3)], shop.motor)


def test_financial_refusals_change_nothing(signed_in, factory, shop) -> None:  # type: ignore[no-untyped-def]
    order_id = _placed(factory, shop)
    order = _order(factory, order_id)
    manager = signed_in("manager", language="ru")
    manager.get("/admin/?lang=ru")
    page = manager.post(f"/admin/orders/{order_id}/financial",
                        _financial(order, shipping_method_id=str(shop.bike))).text
    assert "не может доставить этот заказ" in page  # the engine's reason, in Russian
    page = manager.post(f"/admin/orders/{order_id}/financial",
                        _financial(order, payment_date="soon")).text
    assert "Enter the payment date" in page or "дату" in page
    # Shipped: the methods are closed, the bank slip is not.
    _set(factory, order_id, status="shipped", version=order.version + 1)
    order = _order(factory, order_id)
    page = manager.post(f"/admin/orders/{order_id}/financial",
                        _financial(order, shipping_method_id=str(shop.motor))).text
    assert _order(factory, order_id).shipping_method_id == shop.pishtaz
    manager.post(f"/admin/orders/{order_id}/financial", _financial(order, bank_slip="S-1"))
    after = _order(factory, order_id)
    assert (after.shipping_method_id, after.bank_slip) == (shop.pishtaz, "S-1")
    assert _totals(after) == _totals(order)


# --- items --------------------------------------------------------------------------------
def test_adding_changing_and_removing_lines_reprices_like_the_engine(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    manager = signed_in("manager")
    order = _order(factory, order_id)
    response = manager.post(f"/admin/orders/{order_id}/lines", {
        "version": str(order.version), "sku": _sku(factory, shop.mid), "quantity": "۲"},
        follow_redirects=False)
    assert response.status_code == 303
    order = _order(factory, order_id)
    assert sorted((line.product_id, line.quantity) for line in order.lines) == sorted(
        [(shop.big, 2), (shop.small, 3), (shop.mid, 2)])
    assert _totals(order) == _expected(factory, shop, [
        CartItem(shop.big, 2), CartItem(shop.small, 3), CartItem(shop.mid, 2)], shop.pishtaz)
    page = manager.get(f"/admin/orders/details/{order_id}").text
    assert "The line was added and the order re-priced." in page
    assert format_money(order.payable, "BYN", "en") in page

    small = next(line for line in order.lines if line.product_id == shop.small)
    manager.post(f"/admin/orders/{order_id}/lines/{small.id}/quantity",
                 {"version": str(order.version), "quantity": "5"})
    order = _order(factory, order_id)
    assert _totals(order) == _expected(factory, shop, [
        CartItem(shop.big, 2), CartItem(shop.small, 5), CartItem(shop.mid, 2)], shop.pishtaz)

    big = next(line for line in order.lines if line.product_id == shop.big)
    manager.post(f"/admin/orders/{order_id}/lines/{big.id}/remove",
                 {"version": str(order.version)})
    order = _order(factory, order_id)
    assert {line.product_id for line in order.lines} == {shop.small, shop.mid}
    assert _totals(order) == _expected(factory, shop, [
        CartItem(shop.small, 5), CartItem(shop.mid, 2)], shop.pishtaz)


def test_item_edits_are_refused_when_stale_closed_or_wrong(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    order = _order(factory, order_id)
    before = _totals(order)
    line = order.lines[0]
    manager = signed_in("manager", language="ru")
    manager.get("/admin/?lang=ru")
    url = f"/admin/orders/{order_id}"
    page = manager.post(f"{url}/lines/{line.id}/quantity",
                        {"version": str(order.version), "quantity": "two"}).text
    assert "должно быть целым числом" in page  # "Quantity must be a whole number", in Russian
    page = manager.post(f"{url}/lines", {"version": str(order.version),
                                         "sku": _sku(factory, shop.foreign)}).text
    assert _sku(factory, shop.foreign) in _flash(page)  # another store's product: not found
    page = manager.post(f"{url}/lines/{line.id}/quantity",
                        {"version": str(order.version - 1), "quantity": "9"}).text
    assert _order(factory, order_id).lines[0].quantity == line.quantity
    _set(factory, order_id, status="shipped", version=order.version + 1)
    manager.post(f"{url}/lines/{line.id}/remove", {"version": str(order.version + 1)})
    manager.post(f"{url}/lines", {"version": str(order.version + 1),
                                  "sku": _sku(factory, shop.mid), "quantity": "1"})
    after = _order(factory, order_id)
    assert len(after.lines) == 2 and _totals(after) == before
    page = manager.get(f"/admin/orders/details/{order_id}?lang=en").text
    assert 'id="add-line"' not in page and "the items can no longer change" in page


def test_the_last_line_stays_and_the_refusal_says_why(signed_in, factory, shop) -> None:  # type: ignore[no-untyped-def]
    with factory() as session, session.begin():
        order_id = place_order(session, shop.merchant, OrderInput(
            cart=[CartItem(shop.big, 1)], shipping_method_id=shop.motor,
            payment_method_id=shop.online, recipient_name="Ann"), now=NOW).id
    order = _order(factory, order_id)
    page = signed_in("manager").post(f"/admin/orders/{order_id}/lines/{order.lines[0].id}/remove",
                                     {"version": str(order.version)}).text
    assert "An order keeps at least one line" in page
    assert len(_order(factory, order_id).lines) == 1


# --- notes --------------------------------------------------------------------------------
def test_notes_are_added_by_those_who_may(signed_in, factory, shop, make_user) -> None:  # type: ignore[no-untyped-def]
    order_id = _placed(factory, shop)
    manager = signed_in("manager")
    response = manager.post(f"/admin/orders/{order_id}/notes", {"text": "  Fragile  "},
                            follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("#tab-notes")
    page = manager.get(f"/admin/orders/details/{order_id}").text
    assert "The note was added." in page and "Fragile" in page
    assert "Write the note before saving it." in manager.post(
        f"/admin/orders/{order_id}/notes", {"text": " "}).text
    with factory() as session:
        assert session.scalars(select(OrderNote.text).where(
            OrderNote.order_id == order_id)).all() == ["Fragile"]
    accountant = signed_in("accountant")
    assert accountant.post(f"/admin/orders/{order_id}/notes", {"text": "x"}).status_code == 403
    assert 'id="add-note"' not in accountant.get(f"/admin/orders/details/{order_id}").text


# --- scoping -------------------------------------------------------------------------------------
def test_another_merchants_order_is_404_for_every_form(  # type: ignore[no-untyped-def]
        signed_in, factory, shop) -> None:
    order_id = _placed(factory, shop)
    order = _order(factory, order_id)
    line = order.lines[0]
    stranger = signed_in("merchant", merchant_id=shop.other_merchant)
    version = {"version": str(order.version)}
    for url, data in (
            ("recipient", {**version, "recipient_name": "Eve"}),
            ("financial", _financial(order, bank_slip="EVE")),
            ("lines", {**version, "sku": _sku(factory, shop.mid), "quantity": "1"}),
            (f"lines/{line.id}/quantity", {**version, "quantity": "9"}),
            (f"lines/{line.id}/remove", version)):
        response = stranger.post(f"/admin/orders/{order_id}/{url}", data,
                                 follow_redirects=False)
        assert response.status_code == 404, url
    assert stranger.get(f"/admin/orders/{order_id}/sellables?q=a").status_code == 404
    assert stranger.get(f"/admin/orders/edit/{order_id}").status_code == 404
    # A merchant writes no notes at all (403); an operator may, on its own orders only.
    assert stranger.post(f"/admin/orders/{order_id}/notes", {"text": "Eve"}).status_code == 403
    operator = signed_in("operator")
    assert operator.post(f"/admin/orders/{order_id}/notes", {"text": "Eve was here"},
                         follow_redirects=False).status_code == 404
    after = _order(factory, order_id)
    assert (after.recipient_name, after.bank_slip, after.version) == ("Ann", None, order.version)
    with factory() as session:
        assert not session.scalars(select(OrderNote).where(OrderNote.order_id == order_id)).all()
        assert session.scalar(select(OrderLine.quantity).where(OrderLine.id == line.id)) \
            == line.quantity


def test_the_owner_merchant_edits_its_own_order(signed_in, factory, shop) -> None:  # type: ignore[no-untyped-def]
    order_id = _placed(factory, shop)
    order = _order(factory, order_id)
    owner = signed_in("merchant", merchant_id=shop.merchant)
    found = owner.get(f"/admin/orders/{order_id}/sellables?q={_sku(factory, shop.mid)}").json()
    mid = _sku(factory, shop.mid)
    assert [row["sku"] for row in found] == [mid, f"{mid}-V{shop.variant}"] or (
        found[0]["sku"] == mid and all(row["sku"].startswith(mid) for row in found))
    owner.post(f"/admin/orders/{order_id}/recipient",
               {"version": str(order.version), "recipient_name": "Owner's pick"})
    assert _order(factory, order_id).recipient_name == "Owner's pick"
    assert owner.get(f"/admin/orders/details/{order_id}").status_code == 200


# --- speed ---------------------------------------------------------------------------------------
def test_the_page_queries_do_not_grow_with_lines(signed_in, make, engine) -> None:  # type: ignore[no-untyped-def]
    """Everything around the order loads with selectinload: one more line, stock row, note
    or previous order is never one more query."""
    from sqlalchemy import event

    browser = signed_in("manager")
    counts = []
    for lines in (1, 6):
        order = make("Order", lines=lines)
        for _ in range(lines):
            make("Order", merchant=order.merchant, customer=order.customer, lines=1)
        browser.get(f"/admin/orders/details/{order.id}")  # warm: per-process caches filled
        statements: list[str] = []

        def record(conn, cursor, statement, *args, seen=statements) -> None:  # type: ignore[no-untyped-def]
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            assert browser.get(f"/admin/orders/details/{order.id}").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        # The display settings (rial or toman) are re-read on a timer, not per row.
        counts.append(sum(1 for s in statements if s.lstrip().upper().startswith("SELECT")
                          and "FROM settings" not in s))
    assert counts[0] == counts[1] and counts[0] < 70, counts


# --- what may be edited is the workflow's, not code's (issue 11) ---------------------------------
def _flag(factory: sessionmaker[Session], workflow: str, state: str, **flags: bool) -> dict:
    """Set a seeded state's edit flags; returns what they were, to put back."""
    from schema.workflows import Workflow, WorkflowState

    with factory() as session, session.begin():
        row = session.scalars(select(WorkflowState).join(Workflow).where(
            Workflow.code == workflow, WorkflowState.code == state)).one()
        before = {name: getattr(row, name) for name in flags}
        for name, value in flags.items():
            setattr(row, name, value)
        return before


def test_the_states_flags_decide_what_may_be_edited(signed_in, factory, shop) -> None:  # type: ignore[no-untyped-def]
    from services.order_edits import items_editable, recipient_editable

    order_id = _placed(factory, shop)
    order = _order(factory, order_id)

    def editable() -> tuple[bool, bool]:
        with factory() as session:
            found = session.get(Order, order_id)
            return items_editable(found), recipient_editable(found, session)

    # The seeded flags say what the codes said before them.
    assert editable() == (True, True)
    _set(factory, order_id, status="shipped", version=order.version + 1)
    assert editable() == (False, True)
    _set(factory, order_id, status="delivered", version=order.version + 2)
    assert editable() == (False, False)
    _set(factory, order_id, status="confirmed", shipping_status="left_warehouse",
         version=order.version + 3)
    assert editable() == (False, True)  # both states must allow item edits
    _set(factory, order_id, shipping_status="delivered_to_customer", version=order.version + 4)
    assert editable() == (False, False)  # either state may close the recipient
    # A Belpost status is read in Belpost's workflow: items closed, recipient open until
    # delivered.
    _set(factory, order_id, status="passed_to_processing", shipping_status="not_loaded",
         version=order.version + 5)
    assert editable() == (False, True)
    _set(factory, order_id, status="no_such_status", version=order.version + 6)
    assert editable() == (False, True)  # a state no workflow has: the flags' defaults

    # A shop that lets shipped orders change items ticks the flag: no code changes.
    _set(factory, order_id, status="shipped", version=order.version + 7)
    before = _flag(factory, "order_status", "shipped", items_editable=True,
                   recipient_editable=False)
    try:
        assert editable() == (True, False)
        manager = signed_in("manager")
        line = _order(factory, order_id).lines[0]
        manager.post(f"/admin/orders/{order_id}/lines/{line.id}/quantity",
                     {"version": str(order.version + 7), "quantity": str(line.quantity + 1)})
        assert _order(factory, order_id).lines[0].quantity == line.quantity + 1
        page = manager.post(f"/admin/orders/{order_id}/recipient", {
            "version": str(_order(factory, order_id).version), "recipient_name": "Dan"}).text
        assert "the recipient can no longer change" in page
    finally:
        _flag(factory, "order_status", "shipped", **before)
    assert editable() == (False, True)
