"""The API never answers 5xx to bad input, and answers every error in its own shape.

Bounds (ids past int4, past int8), the framework's own errors (a body that is not JSON or not
UTF-8, an unknown path, a wrong method) through real HTTP, the same bounds in
``services.pricing`` for callers that skip the API's models, and a schemathesis run of the
whole OpenAPI document against the live app: no 5xx, every response as documented.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
import schemathesis.engine
from schemathesis.engine import events
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from schema.base import MONEY_SCALE
from schema.catalog import Product
from services.ordering import OrderInput, place_order
from services.pricing import (
    CartItem,
    CustomerNotFound,
    InvalidCart,
    PricingRefused,
    ProductNotFound,
    delivery_options,
    load_inputs,
    quote_cart,
)
from services.rule_snapshot import rule_snapshot
from tests.test_pricing_services import Shop, build_shop

INT4_PAST = 2**31
INT8_PAST = 2**63


@pytest.fixture
def shop(factory: sessionmaker[Session]) -> Shop:
    return build_shop(factory)




def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


# --- bounds -------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [INT4_PAST, INT8_PAST])
def test_ids_and_numbers_past_the_columns_are_422_not_500(client: TestClient, shop: Shop,
                                                          key: str, big: int) -> None:
    line = {"product_id": shop.small, "quantity": 1}
    bodies = [
        {"lines": [{"product_id": big, "quantity": 1}]},
        {"lines": [{"product_id": shop.mid, "variant_id": big, "quantity": 1}]},
        {"lines": [line], "customer_id": big},
        {"lines": [line], "distance_m": big},
        {"lines": [line], "shipping_method_id": big},
        {"lines": [line], "payment_method_id": big},
        {"lines": [{"product_id": shop.small, "quantity": big}]},
    ]
    for body in bodies:
        for url in ("/api/v1/quote", "/api/v1/orders"):
            response = client.post(url, json=body, headers={"X-API-Key": key})
            assert "less than or equal to" in _error(response, 422, "invalid_request"), body


def test_strings_a_database_cannot_hold_are_422(client: TestClient, shop: Shop,
                                                key: str) -> None:
    line = {"product_id": shop.small, "quantity": 1}
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    for raw in (b'"a\\u0000b"', b'"\\ud800"'):  # NUL: PostgreSQL refuses; a lone surrogate
        for field in (b'"discount_code"', b'"customer_comment"'):
            body = b'{"lines": [{"product_id": %d, "quantity": 1}], %s: %s}' % (
                shop.small, field, raw)
            response = client.post("/api/v1/orders", content=body, headers=headers)
            _error(response, 422, "invalid_request")
    recipient = {"lines": [line], "recipient": {"name": "Ann\nBob"}}
    _error(client.post("/api/v1/orders", json=recipient, headers=headers), 422,
           "invalid_request")
    typed = {"lines": [{"product_id": str(shop.small), "quantity": 1}]}  # strict: no "5" for 5
    _error(client.post("/api/v1/quote", json=typed, headers=headers), 422, "invalid_request")


def test_services_refuse_what_no_order_can_hold(factory: sessionmaker[Session],
                                                shop: Shop) -> None:
    """The same bounds hold for a caller that skips the API's models (the admin's form)."""
    with factory() as session:
        for big in (INT4_PAST, INT8_PAST):
            for cart, refusal in (
                ([CartItem(big, 1)], ProductNotFound),
                ([CartItem(shop.mid, 1, variant_id=big)], ProductNotFound),
                ([CartItem(shop.small, 1, warehouse_id=big)], ProductNotFound),
                ([CartItem(shop.small, big)], InvalidCart),
            ):
                with pytest.raises(refusal):
                    quote_cart(session, shop.merchant, cart)
            with pytest.raises(CustomerNotFound):
                delivery_options(session, shop.merchant, [CartItem(shop.small, 1)],
                                 customer_id=big)
            for call in (quote_cart, delivery_options):
                with pytest.raises(InvalidCart, match="distance"):
                    call(session, shop.merchant, [CartItem(shop.small, 1)], distance_m=big)
        with pytest.raises(InvalidCart, match="distance"):
            place_order(session, shop.merchant, OrderInput(cart=[CartItem(shop.small, 1)],
                                                           distance_m=INT4_PAST))
        session.rollback()
        # A code no text column can hold is a code no discount has, not a database error.
        quote = quote_cart(session, shop.merchant, [CartItem(shop.small, 1)],
                           discount_code="NO\x00PE")
        assert [s.rule_id for s in quote.skipped if s.name == "NO\x00PE"] == [None]


def test_amounts_past_what_money_stores_are_refused(factory: sessionmaker[Session],
                                                    shop: Shop) -> None:
    with factory() as session, session.begin():
        product = session.get(Product, shop.big)
        assert product is not None
        product.price = Decimal("900000000000000")  # fits Money; 2 of them do not
    with factory() as session:
        assert quote_cart(session, shop.merchant, [CartItem(shop.big, 1)]).subtotal
        with pytest.raises(InvalidCart, match="amounts"):
            quote_cart(session, shop.merchant, [CartItem(shop.big, 2)])
        with pytest.raises(InvalidCart, match="amounts"):
            delivery_options(session, shop.merchant, [CartItem(shop.big, 2)])
        # A currency with more places than Money keeps could not be stored either.
        finer = replace(rule_snapshot(session), money_decimals=MONEY_SCALE + 1)
        with pytest.raises(PricingRefused, match="decimal places"):
            load_inputs(session, shop.merchant, [CartItem(shop.small, 1)], rules=finer)


# --- the framework's own errors, in the API's shape ---------------------------------------


def test_a_body_that_is_not_json_or_not_utf8_is_400(client: TestClient, key: str) -> None:
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    message = _error(client.post("/api/v1/quote", content=b'{"lines": [', headers=headers),
                     400, "invalid_body")
    assert "not valid JSON (at character 11)" in message
    latin1 = '{"lines": [], "discount_code": "Café"}'.encode("latin-1")
    message = _error(client.post("/api/v1/quote", content=latin1, headers=headers), 400,
                     "invalid_body")
    assert "UTF-8" in message


def test_unknown_paths_anywhere_under_api_are_404(client: TestClient) -> None:
    for path in ("/api/v1/nope", "/api/v1/", "/api/v2/quote", "/api/anything"):
        message = _error(client.get(path), 404, "not_found")
        assert path in message and "/api/v1/docs" in message
    assert client.get("/healthz").status_code == 200  # the rest of the site is not the API


def test_a_wrong_method_is_405_with_allow(client: TestClient) -> None:
    for method, path, allowed in (("GET", "/api/v1/quote", "POST"),
                                  ("DELETE", "/api/v1/orders", "POST"),
                                  ("POST", "/api/v1/status", "GET")):
        response = client.request(method, path)
        message = _error(response, 405, "method_not_allowed")
        assert allowed in response.headers["allow"] and method in message


def test_framework_errors_speak_the_accept_language(client: TestClient, key: str) -> None:
    """Each catalog has the message (the English one is the msgid itself)."""
    english = _error(client.get("/api/v1/nope"), 404, "not_found")
    for lang in ("ru", "fa"):
        translated = _error(client.get("/api/v1/nope", headers={"Accept-Language": lang}),
                            404, "not_found")
        assert translated != english and "/api/v1/nope" in translated, lang


def test_the_document_states_the_bounds_and_the_errors(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]
    line = schemas["CartLineIn"]["properties"]
    assert (line["product_id"]["minimum"], line["product_id"]["maximum"]) == (1, 2**31 - 1)
    assert line["quantity"]["maximum"] == 100_000
    assert schemas["QuoteIn"]["properties"]["distance_m"]["anyOf"][0]["maximum"] == 40_075_000
    assert schemas["LineOut"]["properties"]["total"]["pattern"] == (
        r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$")
    for path, method, statuses in (("/quote", "post", {"400", "401", "405", "413", "422"}),
                                   ("/orders", "post", {"400", "401", "405", "409", "413",
                                                        "422"}),
                                   ("/status", "get", {"405"})):
        responses = spec["paths"][path][method]["responses"]
        assert statuses <= set(responses), (path, set(responses))
        for status in statuses:
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/ErrorOut"
        assert responses["405"]["headers"]["Allow"]["required"] is True
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 shape is not what we send


# --- schemathesis -------------------------------------------------------------------------


def api_schema(app: Any, shop: Shop, key: str) -> Any:
    """The live app's OpenAPI document with the key, and real ids to draw from half the time,
    so the run reaches the priced answers (and the orders written) as well as the refusals."""
    ids = {"products": [shop.small, shop.mid, shop.big], "customers": [shop.customer],
           "shipping": [shop.motor, shop.pishtaz, shop.bike],
           "payment": [shop.online, shop.cash]}
    config = schemathesis.Config.from_dict({
        # A fixed seed: every run (and CI) tries the same cases, so a failure reproduces.
        "seed": 20261201,
        # Each phase once: examples, coverage (every bound and its neighbours, every
        # undocumented method), then this many fuzzed cases per operation (the store's, the
        # parcels' and the locker terminal's: about 25 s per database). ("max-time" would
        # repeat the fuzzing until it ran out.)
        "generation": {"max-examples": 100, "database": "none"},
        "auth": {"openapi": {"APIKeyHeader": {"api_key": key}}},
        "dictionaries": {name: {"values": values} for name, values in ids.items()},
        "parameters": {
            "body.lines[*].product_id": {"dictionary": "products", "probability": 0.5},
            "body.customer_id": {"dictionary": "customers", "probability": 0.5},
            "body.shipping_method_id": {"dictionary": "shipping", "probability": 0.5},
            "body.payment_method_id": {"dictionary": "payment", "probability": 0.5},
        },
        "checks": {
            # A well-formed cart may still be refused by the shop's rules: 422 when the chosen
            # method cannot take it, 400 when a service refuses. Every other check keeps its
            # default: no 5xx, status codes, content types, headers and bodies as documented,
            # invalid input rejected, undocumented methods 405 with Allow, the key enforced.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "404", "409", "422"]},
        },
    })
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, config=config)


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
        app: Any, shop: Shop, key: str) -> None:
    """Every phase of a schemathesis run (examples, coverage of each bound, fuzzing) with every
    check on; the engine is the one its command line runs (its pytest plugin does not run
    under pytest 9)."""
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for event in schemathesis.engine.from_schema(api_schema(app, shop, key)).execute():
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    status = interaction.response.status_code
                    statuses[status] = statuses.get(status, 0) + 1
            for checks in event.recorder.checks.values():
                failures += [f"{event.recorder.label}: {check.name}: "
                             f"{check.failure_info.failure.title}\n"
                             f"{check.failure_info.failure.message}\n"
                             f"{check.failure_info.code_sample}"
                             for check in checks if check.failure_info is not None]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{type(event).__name__}: {getattr(event, 'info', event)}")
        elif isinstance(event, events.EngineFinished):
            assert event.stop_reason.name == "COMPLETED", event.stop_reason
            failures += [f"{failure.title}\n{failure.message}" for failure in event.failures]
    assert not failures, "\n\n".join(sorted(set(failures))[:10])
    # The run reached the success answers and the refusals, not only one kind.
    assert statuses.get(200) and statuses.get(201) and statuses.get(401) and statuses.get(422), (
        statuses)
    assert sum(statuses.values()) >= 200, statuses
