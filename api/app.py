"""The JSON API at /api/v1 for store plugins: quotes and orders.

Every endpoint but ``/status`` needs the merchant's API key (``api.auth``). A handler parses,
authenticates, runs one service as the merchant (``services.actor.acting_as``, so the central
scoping applies) and renders. Money is a decimal *string* in JSON, exact, never in exponent
notation. The request and response models and their bounds are in ``api.models``; every error,
the framework's own included, is ``{"error": {"code", "message"}}`` (``api.errors``), and each
operation declares the errors it can answer in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import PresentedKey, presented_key
from api.errors import error_responses, gettext_for, install_error_handlers, language_of
from api.models import (
    AppliedDiscountOut,
    BreakdownOut,
    GatewayOut,
    LineOut,
    OptionOut,
    OptionTotalsOut,
    OrderIn,
    OrderOut,
    PaymentOut,
    QuoteIn,
    QuoteOut,
    ShippingOut,
    SkippedDiscountOut,
    StatusOut,
)
from api.parcels import install as install_parcels
from api.terminal import install as install_terminal
from rules import pricing as rp
from rules.workflow import Message
from schema.workflows import Workflow
from services.actor import acting_as
from services.ordering import OrderInput, place_order_quoted
from services.pricing import Option, delivery_options

__all__ = ["breakdown", "create_api", "language_of"]  # language_of: admin.secret_errors

API_VERSION = "1"

# What each operation can answer besides its success (see api.errors for the codes).
QUOTE_ERRORS = error_responses(400, 401, 404, 405, 413, 422, 500, 503)
ORDER_ERRORS = error_responses(400, 401, 402, 404, 405, 409, 413, 422, 500, 503)
STATUS_ERRORS = error_responses(405, 500)


# --- rendering ----------------------------------------------------------------------------


def _m(amount: Decimal) -> str:
    # Fixed-point always: str() writes a gateway amount rounded to hundreds as 0E+2 or 12E+2
    # (format() is the fix, str() the fast path for every other amount).
    text = str(amount)
    return text if "E" not in text else format(amount, "f")


def _text(message: Message | None, gettext: Callable[[str], str]) -> str | None:
    return None if message is None else message.render(gettext)


def _methods_out(q: rp.Quote, gettext: Callable[[str], str]) -> dict[str, object]:
    """The part of a breakdown that depends on the shipping and payment methods."""
    return {
        "shipping": None if q.shipping is None else ShippingOut(
            method_id=q.shipping.method_id, available=q.shipping.available,
            cost=_m(q.shipping.cost), row_position=q.shipping.row_position,
            postpaid=q.shipping.postpaid, reason=_text(q.shipping.reason, gettext)),
        "payment": None if q.payment is None else PaymentOut(
            method_id=q.payment.method_id, available=q.payment.available,
            discount=_m(q.payment.discount), tax=_m(q.payment.tax),
            reason=_text(q.payment.reason, gettext)),
        "payment_discount": _m(q.payment_discount), "tax": _m(q.tax),
        "payable": _m(q.payable), "balance": _m(q.balance),
        "gateway": None if q.gateway is None else GatewayOut(
            currency=q.gateway.currency, converted=_m(q.gateway.converted),
            rounded=_m(q.gateway.rounded), fee=_m(q.gateway.fee), amount=_m(q.gateway.amount)),
    }


def breakdown(q: rp.Quote, gettext: Callable[[str], str]) -> BreakdownOut:
    return BreakdownOut(
        currency=q.currency,
        lines=[LineOut(product_id=x.product_id, category_id=x.category_id,
                       unit_price=_m(x.unit_price), quantity=x.quantity, weight_g=x.weight_g,
                       total=_m(x.total), discount=_m(x.discount), net=_m(x.net))
               for x in q.lines],
        subtotal=_m(q.subtotal),
        applied_discounts=[AppliedDiscountOut(rule_id=a.rule_id, name=a.name, source=a.source,
                                              amount=_m(a.amount), base=_m(a.base),
                                              applies_to=list(a.applies_to))
                           for a in q.applied],
        skipped_discounts=[SkippedDiscountOut(rule_id=s.rule_id, name=s.name,
                                              reason=s.reason.render(gettext))
                           for s in q.skipped],
        discount_total=_m(q.discount_total),
        wallet=_m(q.wallet), paid=_m(q.paid),
        **_methods_out(q, gettext),
    )


def _option(option: Option, part: Literal["shipping", "payment"],
            gettext: Callable[[str], str]) -> OptionOut:
    q = option.quote
    if part == "shipping":
        assert q.shipping is not None
        available, cost, reason = q.shipping.available, q.shipping.cost, q.shipping.reason
    else:
        assert q.payment is not None
        available, cost, reason = q.payment.available, q.payment.discount, q.payment.reason
    return OptionOut(method_id=option.method_id, name=option.name, kind=option.kind,
                     available=available, cost=_m(cost), reason=_text(reason, gettext),
                     payable=_m(q.payable),
                     totals=OptionTotalsOut(**_methods_out(q, gettext)))


# --- the app ------------------------------------------------------------------------------


def create_api(factory: sessionmaker[Session]) -> FastAPI:
    api = FastAPI(
        title="Postdesk API",
        version=API_VERSION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        description="The store plugins' API: what delivery and payment cost for a cart, and "
                    "order creation. Authenticate with the merchant's API key "
                    "(`Authorization: Bearer <key>` or `X-API-Key: <key>`). Amounts are exact "
                    "decimal strings. Every error, the framework's own included, is "
                    "`{\"error\": {\"code\", \"message\"}}` with the message in the "
                    "`Accept-Language` (en, ru, fa); each operation lists the errors it "
                    "answers.",
    )

    install_error_handlers(api)

    @api.get("/status", response_model=StatusOut, responses=STATUS_ERRORS,
             summary="Service status and schema summary")
    def status() -> StatusOut:
        with factory() as session:
            workflows = session.scalar(select(func.count()).select_from(Workflow))
        return StatusOut(status="ok", api_version=API_VERSION, workflows=workflows or 0)

    @api.post("/quote", response_model=QuoteOut, responses=QUOTE_ERRORS, tags=["checkout"],
              summary="What delivery and payment options cost for a cart")
    def quote(body: QuoteIn, request: Request,
              key: PresentedKey = Depends(presented_key)) -> QuoteOut:  # noqa: B008
        """Every active shipping method and payment method with its cost for this cart, and
        the full breakdown: lines, discounts applied and skipped (with the reason), shipping,
        payment discount, tax, payable, and the amount a gateway would be asked for."""
        gettext = gettext_for(request)
        with factory() as session:
            who = key.caller(session)
            with acting_as(who.actor):
                options = delivery_options(
                    session, who.merchant_id, body.cart(), customer_id=body.customer_id,
                    channel=body.channel, shipping_method_id=body.shipping_method_id,
                    payment_method_id=body.payment_method_id, discount_code=body.discount_code,
                    distance_m=body.distance_m,
                )
        out = QuoteOut(
            breakdown=breakdown(options.quote, gettext),
            shipping_options=[_option(o, "shipping", gettext) for o in options.shipping],
            payment_options=[_option(o, "payment", gettext) for o in options.payment],
        )
        # Already a QuoteOut: sent as it is, not validated a second time (the checkout path).
        return Response(out.model_dump_json(), media_type="application/json")  # type: ignore[return-value]

    @api.post("/orders", response_model=OrderOut, status_code=201, responses=ORDER_ERRORS,
              tags=["checkout"], summary="Create an order")
    def create_order(body: OrderIn, request: Request,
                     key: PresentedKey = Depends(presented_key)) -> OrderOut:  # noqa: B008
        """Prices the cart from the catalog and the rule tables, checks the shipping method,
        the payment method and the discount code (with its limits), and creates the order at
        the first status of the order workflow. Nothing is written when it is refused."""
        order_input = OrderInput(
            cart=body.cart(), shipping_method_id=body.shipping_method_id,
            payment_method_id=body.payment_method_id, customer_id=body.customer_id,
            channel=body.channel, discount_code=body.discount_code,
            distance_m=body.distance_m, delivery_kind=body.delivery_kind,
            locker_id=body.locker_id, parcel_size=body.parcel_size,
            recipient_name=body.recipient.name, recipient_phone=body.recipient.phone,
            recipient_address=body.recipient.address, recipient_city=body.recipient.city,
            recipient_postcode=body.recipient.postcode,
            customer_comment=body.customer_comment,
        )
        with factory() as session:
            who = key.caller(session)  # begins the transaction the order is written in
            with acting_as(who.actor):
                order, priced = place_order_quoted(session, who.merchant_id, order_input)
                session.commit()  # a refusal leaves it uncommitted: closing rolls it back
            return OrderOut(
                id=order.id, number=order.number, status=order.status,
                shipping_status=order.shipping_status, currency=order.currency,
                subtotal=_m(order.subtotal), discount_total=_m(order.discount_total),
                shipping_cost=_m(order.shipping_cost), tax_total=_m(order.tax_total),
                payable=_m(order.payable), balance_due=_m(order.balance_due),
                breakdown=breakdown(priced, gettext_for(request)),
            )

    install_parcels(api, factory)  # /parcels, /lockers (api.parcels)
    install_terminal(api, factory)  # /terminal/... (api.terminal)
    return api
