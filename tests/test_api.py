"""The store plugins' API through real HTTP: keys, quote, order creation, errors, OpenAPI."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from schema.orders import Order
from schema.people import Merchant
from services.api_keys import hash_api_key, issue_api_key
from tests.test_pricing_services import Shop, build_shop


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)



def test_key_is_stored_only_as_its_digest(factory: sessionmaker[Session], shop: Shop,
                                          key: str) -> None:
    with factory() as session:
        merchant = session.get(Merchant, shop.merchant)
        assert merchant is not None
        assert merchant.api_key_hash == hash_api_key(key) != key
        assert len(merchant.api_key_hash) == 64


def test_unauthorized_without_or_with_a_wrong_key(client: TestClient, shop: Shop,
                                                   key: str) -> None:
    body = {"lines": [{"product_id": shop.small, "quantity": 1}]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": key + "x"},
                    {"Authorization": f"Basic {key}"}):
        response = client.post("/api/v1/quote", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert "API key" in response.json()["error"]["message"]
    assert client.post("/api/v1/quote", json=body, headers={"X-API-Key": key}).status_code == 200


def test_quote_returns_options_and_the_breakdown(client: TestClient, shop: Shop,
                                                 key: str) -> None:
    response = client.post("/api/v1/quote", headers={"Authorization": f"Bearer {key}"}, json={
        "lines": [{"product_id": shop.big, "quantity": 2}, {"product_id": shop.small,
                                                            "quantity": 1}],
        "customer_id": shop.customer, "discount_code": "NO-SUCH-CODE",
        "payment_method_id": shop.online,
    })
    assert response.status_code == 200, response.text
    data = response.json()
    shipping = {o["method_id"]: o for o in data["shipping_options"]}
    payment = {o["method_id"]: o for o in data["payment_options"]}
    # 101000 goods >= 100000: Pishtaz row 1, 3500; online 2 % off 101000 = 2020.
    assert shipping[shop.pishtaz]["cost"] == "3500.00"
    assert shipping[shop.pishtaz]["payable"] == "102480.00"
    assert shipping[shop.motor]["available"] is True
    assert shipping[shop.bike]["available"] is False
    assert "out of range" in shipping[shop.bike]["reason"]
    assert payment[shop.online]["cost"] == "2020.00"
    assert payment[shop.cash]["totals"]["tax"] == "9090.00"
    assert "lines" not in payment[shop.cash]["totals"]  # the cart part is said once
    breakdown = data["breakdown"]
    assert breakdown["subtotal"] == "101000.00" and breakdown["currency"] == "BYN"
    assert breakdown["skipped_discounts"] == [
        {"rule_id": None, "name": "NO-SUCH-CODE",
         "reason": "No discount has the code NO-SUCH-CODE."}]


def test_quote_lists_applied_discounts(client: TestClient, shop: Shop, key: str) -> None:
    response = client.post("/api/v1/quote", headers={"X-API-Key": key}, json={
        "lines": [{"product_id": shop.small, "quantity": 2}], "discount_code": shop.code})
    applied = response.json()["breakdown"]["applied_discounts"]
    assert [(a["rule_id"], a["amount"], a["applies_to"], a["source"]) for a in applied] == [
        (shop.code_id, "200.00", [shop.small], "code")]


def test_order_creation(client: TestClient, factory: sessionmaker[Session], shop: Shop,
                        key: str) -> None:
    response = client.post("/api/v1/orders", headers={"X-API-Key": key}, json={
        "lines": [{"product_id": shop.big, "quantity": 2}],
        "shipping_method_id": shop.motor, "payment_method_id": shop.online,
        "customer_id": shop.customer, "recipient": {"name": "Ann", "phone": "+375291234567"},
    })
    assert response.status_code == 201, response.text
    data = response.json()
    assert (data["subtotal"], data["discount_total"], data["shipping_cost"], data["payable"]) == (
        "100000.00", "2000.00", "1000.00", "99000.00")
    assert data["status"] == "awaiting_confirmation"
    with factory() as session:
        order = session.scalars(select(Order).where(Order.number == data["number"])).one()
        assert (order.merchant_id, order.recipient_name, order.payable) == (
            shop.merchant, "Ann", Decimal("99000.00"))
        assert [line.product_id for line in order.lines] == [shop.big]


def test_another_merchants_product_is_a_stable_404(client: TestClient, shop: Shop,
                                                   key: str) -> None:
    for url in ("/api/v1/quote", "/api/v1/orders"):
        response = client.post(url, headers={"X-API-Key": key}, json={
            "lines": [{"product_id": shop.foreign, "quantity": 1}]})
        assert response.status_code == 404
        assert response.json() == {"error": {
            "code": "product_not_found",
            "message": f"The product {shop.foreign} was not found in this store."}}


def test_messages_in_the_accept_language(client: TestClient, shop: Shop, key: str) -> None:
    ru = {"X-API-Key": key, "Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
    body = {"lines": [{"product_id": shop.small, "quantity": 1}], "discount_code": "NOPE-1"}
    quote = client.post("/api/v1/quote", json=body, headers=ru).json()
    assert quote["breakdown"]["skipped_discounts"][0]["reason"] == (
        "Нет скидки с промокодом NOPE-1.")
    error = client.post("/api/v1/orders", json=body, headers=ru)
    assert error.status_code == 422
    assert error.json()["error"]["code"] == "discount_not_applicable"
    assert "Нет скидки с промокодом NOPE-1." in error.json()["error"]["message"]
    english = client.post("/api/v1/orders", json=body, headers={"X-API-Key": key})
    assert english.json()["error"]["message"] == (
        "The discount code NOPE-1 cannot be used: No discount has the code NOPE-1.")
    invalid = client.post("/api/v1/quote", json={"lines": []}, headers=ru)
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"
    assert "lines" in invalid.json()["error"]["message"]


def test_shipping_unavailable_and_exhausted_codes(client: TestClient,
                                                  factory: sessionmaker[Session]) -> None:
    shop = build_shop(factory, total_uses_allowed=1, times_used=1)
    with factory() as session, session.begin():
        key = issue_api_key(session, shop.merchant)
    response = client.post("/api/v1/orders", headers={"X-API-Key": key}, json={
        "lines": [{"product_id": shop.big, "quantity": 1}], "shipping_method_id": shop.bike})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "shipping_unavailable"
    response = client.post("/api/v1/orders", headers={"X-API-Key": key}, json={
        "lines": [{"product_id": shop.small, "quantity": 1}], "discount_code": shop.code})
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "discount_exhausted",
        "message": f"The discount code {shop.code} has no uses left."}


def test_openapi_lists_both_endpoints(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert "post" in spec["paths"]["/quote"] and "post" in spec["paths"]["/orders"]
    assert "201" in spec["paths"]["/orders"]["post"]["responses"]
    schemes = spec["components"]["securitySchemes"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schemes)
    assert "ErrorOut" in spec["components"]["schemas"]
