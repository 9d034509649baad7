"""A courier on the road, in a real browser (Debian's chromium) the size of a phone: My tasks
from "assigned" to "delivered" with the thumb, in Persian (right to left) and English."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from locales import format_money
from schema.orders import Order
from schema.payments import PaymentMethodKind
from schema.people import User
from schema.workflows import StatusChange
from tests.test_browser import _sign_in, chromium, live_server  # noqa: F401 (fixtures)

PHONE = "+375 (29) 606-58-74"
PHONE_WIDTH = 390
STEPS = ("accepted", "picked_up", "on_the_way", "delivered")

# Where the first and the last character of the phone number are drawn: read in the right
# order, the plus sign is left of the last digit whatever the page's direction.
PHONE_ENDS = """link => {
  const text = link.querySelector('bdi').firstChild;
  const range = document.createRange();
  const box = i => { range.setStart(text, i); range.setEnd(text, i + 1);
                     return range.getBoundingClientRect(); };
  return {first: box(0).left, last: box(text.length - 1).left, text: text.data};
}"""


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"


def _on_screen(element: Any) -> None:
    box = element.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, box
    assert box["height"] >= 44, f"a tap target of {box['height']} px"


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_courier_delivers_a_task_on_a_phone(  # type: ignore[no-untyped-def]
    live_server: str, chromium: Any, make_user, make,  # noqa: F811
    factory: sessionmaker[Session], lang: str
) -> None:
    username = make_user("courier", language=lang)
    with factory() as session:
        user_id = session.scalars(select(User.id).where(User.username == username)).one()
    courier = make("Courier", user_id=user_id)
    method = make("PaymentMethod", kind=PaymentMethodKind.CASH_ON_DELIVERY)
    order = make("Order", lines=1, courier_id=courier.id, courier_status="assigned",
                 recipient_phone=PHONE, recipient_address="Independence Avenue 4, Minsk")
    with factory() as session, session.begin():
        session.execute(update(Order).where(Order.id == order.id).values(
            payment_method_id=method.id, balance_due=Decimal("123.45")))

    context = chromium.new_context(viewport={"width": PHONE_WIDTH, "height": 844},
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        _sign_in(page, live_server, username)
        page.goto(f"{live_server}/admin/my-tasks")
        assert page.get_attribute("html", "dir") == ("rtl" if lang == "fa" else "ltr")
        card = page.locator(f'[data-task="orders-{order.id}"]')
        assert format_money(Decimal("123.45"), order.currency, lang) in card.inner_text()

        call = card.locator("a.task-call")
        assert call.get_attribute("href") == "tel:+375296065874"
        ends = call.evaluate(PHONE_ENDS)
        assert ends["text"] == PHONE and ends["first"] < ends["last"], ends
        assert card.locator("a.task-map").get_attribute("href").startswith(
            "https://www.google.com/maps/search/?api=1&query=Independence")

        for step in STEPS:
            _no_sideways_scroll(page)
            button = card.locator(f'button[name="to_state"][value="{step}"]')
            button.scroll_into_view_if_needed()
            _on_screen(button)
            with page.expect_navigation():
                button.click()
            assert page.locator(".toast.text-bg-success").count() == 1, page.content()
            if step != "delivered":
                assert card.get_attribute("data-state") == step
        # Delivered is the end of the task: off the open list, there among today's closed.
        assert card.count() == 0
        _no_sideways_scroll(page)
        with page.expect_navigation():
            page.click('label[for="show-closed"]')
        assert "closed=1" in page.url
        assert card.get_attribute("data-state") == "delivered"
        assert card.get_attribute("data-closed") == "1"
        _no_sideways_scroll(page)
    finally:
        context.close()
    with factory() as session:
        assert session.get(Order, order.id).courier_status == "delivered"
        assert session.scalar(select(func.count()).select_from(StatusChange).where(
            StatusChange.table_name == "orders", StatusChange.record_id == order.id)) == 4
