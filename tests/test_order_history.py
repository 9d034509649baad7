"""Placing an order writes its first status-history row in the same transaction (who placed it,
the channel, when), through the API and through manual entry by staff, and the order page
shows it."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from schema.base import utcnow
from schema.orders import Order
from schema.people import Merchant, User
from schema.workflows import StatusChange, Workflow
from services.actor import Actor
from services.api_keys import issue_api_key
from services.ordering import OrderInput, place_order
from services.pricing import CartItem
from tests.test_manual_order import _order_form
from tests.test_pricing_services import Shop, build_shop


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def _rows(session: Session, order_id: int) -> list[tuple[StatusChange, str | None]]:
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(StatusChange, Workflow.code)
        .outerjoin(Workflow, Workflow.id == StatusChange.workflow_id)
        .where(StatusChange.table_name == "orders", StatusChange.record_id == order_id)
        .order_by(StatusChange.id))]


def test_an_api_order_starts_its_history_with_the_merchant_and_the_channel(
    client: TestClient, factory: sessionmaker[Session], shop: Shop, signed_in  # type: ignore[no-untyped-def]
) -> None:
    with factory() as session, session.begin():
        key = issue_api_key(session, shop.merchant)
        store = session.get(Merchant, shop.merchant).name
    before = utcnow()
    response = client.post("/api/v1/orders", headers={"X-API-Key": key}, json={
        "lines": [{"product_id": shop.big, "quantity": 1}], "channel": "app",
        "shipping_method_id": shop.motor, "payment_method_id": shop.online,
        "recipient": {"name": "Ann", "phone": "+375291234567"},
    })
    assert response.status_code == 201, response.text
    with factory() as session:
        order = session.scalars(select(Order).where(Order.number == response.json()["number"])
                                ).one()
        ((row, workflow),) = _rows(session, order.id)
    assert (row.from_state, row.to_state, row.user_id) == (None, order.status, None)
    assert order.status == "awaiting_confirmation" and workflow is not None
    assert before <= row.at <= utcnow()
    assert row.comment == f"Order placed through the API by {store}; channel: App."

    page = signed_in("superuser").get(f"/admin/orders/details/{order.id}").text
    history = page.split('id="tab-status-history"', 1)[1].split('id="tab-assignments"', 1)[0]
    assert html.escape(row.comment, quote=True) in history
    assert "No changes recorded yet." in history  # the shipping status has no change yet


def test_a_manual_order_starts_its_history_with_the_staff_member(
    signed_in, shop: Shop, factory: sessionmaker[Session]  # type: ignore[no-untyped-def]
) -> None:
    manager = signed_in("manager")
    before = utcnow()
    response = manager.post("/admin/orders/new", _order_form(shop, ordered_at="2025-03-01T09:30"),
                            follow_redirects=False)
    assert response.status_code == 303, response.text
    order_id = int(response.headers["location"].rstrip("/").rsplit("/", 1)[1])
    with factory() as session:
        ((row, _workflow),) = _rows(session, order_id)
        user = session.get(User, row.user_id)
        status = session.get(Order, order_id).status
    assert user is not None and user.username.startswith("manager")
    assert (row.from_state, row.to_state) == (None, status)
    # When it was placed, not the order date entered on the form.
    assert before <= row.at <= utcnow()
    assert row.comment == "Order placed; channel: Entered by staff."
    page = manager.get(response.headers["location"]).text
    history = page.split('id="tab-status-history"', 1)[1].split('id="tab-assignments"', 1)[0]
    assert user.username in history and row.comment in history


def test_the_first_row_is_written_in_the_orders_transaction(
    factory: sessionmaker[Session], shop: Shop
) -> None:
    order_input = OrderInput(cart=[CartItem(shop.small, 1)], shipping_method_id=shop.motor)
    with factory() as session:
        order = place_order(session, shop.merchant, order_input,
                            actor=Actor(None, "api", "merchant", shop.merchant))
        order_id = order.id
        assert len(_rows(session, order_id)) == 1  # flushed with the order
        session.rollback()  # whatever undoes the order undoes its history
    with factory() as session:
        assert session.get(Order, order_id) is None and _rows(session, order_id) == []
