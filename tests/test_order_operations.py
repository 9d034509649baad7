"""Order operations through the admin, as people use them: status controls, assignments,
postal hand-over, bulk actions with their report, and the courier's own tasks."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from schema.notifications import OutboxMessage
from schema.orders import OperatorAssignment, Order
from schema.people import User
from schema.shipping import PostalSystem
from schema.workflows import StatusChange


def _user(factory: sessionmaker[Session], username: str) -> User:
    with factory() as session:
        return session.scalar(select(User).where(User.username == username))


def _offered(page: str, field: str) -> set[str]:
    block = page.split(f'data-status-panel="{field}"', 1)[1].split("</form>", 1)[0]
    return set(re.findall(r'<option value="([a-z_]+)"', block))


def test_detail_offers_only_the_transitions_of_the_users_role(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    manager = signed_in("manager")
    page = manager.get(f"/admin/orders/details/{order.id}").text
    assert _offered(page, "status") >= {"confirmed", "not_confirmed"}
    assert "delivered" not in _offered(page, "status")
    assert 'id="tab-status-history"' in page and 'id="tab-messages"' in page
    totals = page.split('id="order-totals"', 1)[1].split('id="order-tabs"', 1)[0]
    assert "Balance due" in totals and "Payable" in totals
    from locales import format_money

    assert format_money(order.payable, order.currency, "en") in totals


def test_status_change_from_the_detail_page(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    manager = signed_in("manager")
    response = manager.post(f"/admin/orders/{order.id}/status", {
        "field": "status", "to_state": "confirmed", "expected_state": "awaiting_confirmation",
    }, follow_redirects=False)
    assert response.status_code == 303
    with factory() as session:
        assert session.get(Order, order.id).status == "confirmed"
    page = manager.get(f"/admin/orders/details/{order.id}").text
    assert "The status was changed." in page


def test_refusal_is_shown_in_the_users_language_and_changes_nothing(  # type: ignore[no-untyped-def]
    signed_in, make, factory
) -> None:
    order = make("Order", lines=1)
    manager = signed_in("manager", language="ru")
    manager.get("/admin/?lang=ru")
    manager.post(f"/admin/orders/{order.id}/status", {"field": "status",
                                                      "to_state": "not_confirmed"})
    page = manager.get(f"/admin/orders/details/{order.id}?lang=ru").text
    assert "комментар" in page.lower()
    with factory() as session:
        assert session.get(Order, order.id).status == "awaiting_confirmation"


def test_status_control_needs_the_grant(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    accountant = signed_in("accountant")
    response = accountant.post(f"/admin/orders/{order.id}/status",
                               {"field": "status", "to_state": "confirmed"})
    assert response.status_code == 403


def test_assign_operator_keeps_history_with_comment(signed_in, make, make_user, factory) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    operator = _user(factory, make_user("operator"))
    manager = signed_in("manager")
    manager.post(f"/admin/orders/{order.id}/operator",
                 {"operator_id": str(operator.id), "comment": "VIP customer"})
    with factory() as session:
        assert session.get(Order, order.id).operator_id == operator.id
        assignment = session.scalar(select(OperatorAssignment).where(
            OperatorAssignment.order_id == order.id))
        assert assignment.comment == "VIP customer" and assignment.to_operator_id == operator.id
    assert "VIP customer" in manager.get(f"/admin/orders/details/{order.id}").text


def test_assign_courier_starts_its_task_and_texts_the_courier(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    courier = make("Courier", mobile="+375297777777")
    signed_in("manager").post(f"/admin/orders/{order.id}/courier",
                              {"courier_id": str(courier.id)})
    with factory() as session:
        stored = session.get(Order, order.id)
        assert stored.courier_id == courier.id and stored.courier_status == "assigned"
        sms = session.scalar(select(OutboxMessage).where(
            OutboxMessage.recipient == "+375297777777"))
        assert sms is not None and order.number in sms.body


def test_send_to_postal_system_only_when_active(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    active = make("PostalSystem", active=True)
    inactive = make("PostalSystem", active=False)
    manager = signed_in("manager")
    manager.post(f"/admin/orders/{order.id}/postal", {"postal_system_id": str(inactive.id)})
    with factory() as session:
        assert session.get(Order, order.id).postal_system_id is None
    manager.post(f"/admin/orders/{order.id}/postal", {"postal_system_id": str(active.id)})
    with factory() as session:
        stored = session.get(Order, order.id)
        assert stored.postal_system_id == active.id
        assert stored.shipping_status == "handed_to_postal"
        assert session.get(PostalSystem, active.id).active


def test_bulk_action_reports_each_order(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    movable = [make("Order", lines=1) for _ in range(2)]
    stuck = make("Order", lines=1, shipping_status="delivered_to_customer")
    ids = ",".join(str(o.id) for o in [*movable, stuck])
    manager = signed_in("manager")
    form = manager.post(f"/admin/orders/action/bulk-shipping-status?pks={ids}")
    assert form.status_code == 200 and 'name="confirm"' in form.text
    report = manager.post(f"/admin/orders/action/bulk-shipping-status?pks={ids}", {
        "confirm": "1", "to_state": "left_warehouse", "comment": "morning truck",
        "effective_date": "2026-11-23",
    })
    assert report.status_code == 200
    assert 'data-succeeded="2"' in report.text and 'data-refused="1"' in report.text
    assert stuck.number in report.text
    with factory() as session:
        assert [session.get(Order, o.id).shipping_status for o in movable] == [
            "left_warehouse", "left_warehouse"]
        assert session.get(Order, stuck.id).shipping_status == "delivered_to_customer"


def test_bulk_delete_moves_orders_to_the_bin(signed_in, make, factory) -> None:  # type: ignore[no-untyped-def]
    orders = [make("Order", lines=1) for _ in range(2)]
    ids = ",".join(str(o.id) for o in orders)
    report = signed_in("manager").post(f"/admin/orders/action/bulk-delete?pks={ids}",
                                       {"confirm": "1"})
    assert 'data-succeeded="2"' in report.text
    with factory() as session:
        assert all(session.get(Order, o.id).deleted_at is not None for o in orders)


def test_courier_sees_and_moves_only_its_own_tasks(make, make_user, browser, factory) -> None:  # type: ignore[no-untyped-def]
    username = make_user("courier")
    courier = make("Courier", user_id=_user(factory, username).id, mobile="+375291111111")
    mine = make("Order", courier_id=courier.id, courier_status="assigned", lines=1)
    other = make("Order", courier=make("Courier"), courier_status="assigned", lines=1)
    parcel = make("Parcel", courier_id=courier.id, status="with_courier")
    assert browser.login(username).status_code == 302
    page = browser.get("/admin/my-tasks").text
    assert mine.number in page and other.number not in page
    assert f'data-task="parcels-{parcel.id}"' in page
    browser.token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    moved = browser.post(f"/admin/my-tasks/orders/{mine.id}", {
        "to_state": "accepted", "expected_state": "assigned"}, follow_redirects=False)
    assert moved.status_code == 303
    browser.post(f"/admin/my-tasks/orders/{other.id}", {"to_state": "accepted"})
    with factory() as session:
        assert session.get(Order, mine.id).courier_status == "accepted"
        assert session.get(Order, other.id).courier_status == "assigned"
        assert session.scalar(select(StatusChange).where(
            StatusChange.table_name == "orders", StatusChange.record_id == mine.id)) is not None
    assert browser.get(f"/admin/orders/edit/{mine.id}").status_code == 403
    assert browser.get("/admin/customers/list").status_code == 403


def test_courier_row_lists_that_couriers_orders(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    courier = make("Courier")
    page = signed_in("manager").get("/admin/couriers/list?pageSize=200").text
    assert f"/admin/orders/list?courier_id={courier.id}" in page


def test_the_status_choice_starts_empty(signed_in, make) -> None:  # type: ignore[no-untyped-def]
    """One stray click on "Change status" must change nothing: no transition is preselected."""
    order = make("Order", lines=1)
    page = signed_in("manager").get(f"/admin/orders/details/{order.id}").text
    for choice in re.findall(r'<select name="to_state".*?</select>', page, re.S):
        first = re.search(r"<option[^>]*>", choice)
        assert first and 'value=""' in first.group(0) and "selected" in first.group(0)
        assert choice.count("selected") == 1
