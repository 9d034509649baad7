"""The JSON API at /api/v1 for store plugins: quotes and orders.

Every endpoint but ``/status`` needs the merchant's API key (``api.auth``). A handler parses,
authenticates, runs one service as the merchant (``services.actor.acting_as``, so the central
scoping applies) and renders. Money is a decimal *string* in JSON, exact. Errors are
``{"error": {"code": <stable code>, "message": <readable, in the Accept-Language>}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from babel import negotiate_locale
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import PresentedKey, Unauthorized, presented_key
from locales import DEFAULT_LANGUAGE, LANGUAGES, translations
from rules import pricing as rp
from rules.workflow import Message
from schema.workflows import Workflow
from services.actor import acting_as
from services.errors import Refused
from services.ordering import OrderInput, place_order_quoted
from services.pricing import CartItem, Option, delivery_options

API_VERSION = "1"

# HTTP status of each stable error code; anything else refused by a service is 400 "refused".
STATUS_BY_CODE = {
    "unauthorized": 401,
    "invalid_request": 422,
    "product_not_found": 404,
    "customer_not_found": 404,
    "shipping_unavailable": 422,
    "payment_unavailable": 422,
    "discount_not_applicable": 422,
    "discount_exhausted": 409,
    "refused": 400,
}

MoneyStr = Annotated[str, Field(description="An exact decimal amount as a string.",
                                examples=["103500.00"])]


# --- request models -----------------------------------------------------------------------


class CartLineIn(BaseModel):
    product_id: int = Field(description="The product's id in this store's catalog.")
    variant_id: int | None = Field(None, description="A variant of the product (its price "
                                   "difference is added).")
    quantity: int = Field(ge=1, le=100_000)


class QuoteIn(BaseModel):
    lines: list[CartLineIn] = Field(min_length=1, max_length=500)
    customer_id: int | None = Field(None, description="A customer of this store; none: a guest.")
    channel: Literal["web", "app"] = "web"
    discount_code: str | None = Field(None, max_length=64)
    distance_m: int | None = Field(None, ge=0, description="Distance to the customer, metres.")
    shipping_method_id: int | None = Field(None, description="The chosen shipping method; "
                                           "payment options are quoted with it.")
    payment_method_id: int | None = Field(None, description="The chosen payment method; "
                                          "shipping options are quoted with it.")

    def cart(self) -> list[CartItem]:
        return [CartItem(line.product_id, line.quantity, line.variant_id) for line in self.lines]


class RecipientIn(BaseModel):
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=32)
    address: str | None = Field(None, max_length=2000)
    city: str | None = Field(None, max_length=100)
    postcode: str | None = Field(None, max_length=16)


class OrderIn(QuoteIn):
    shipping_method_id: int | None = Field(None, description="How the order travels.")
    payment_method_id: int | None = Field(None, description="How the order is paid.")
    delivery_kind: Literal["address", "pickup_point", "locker"] = "address"
    recipient: RecipientIn = Field(default_factory=RecipientIn)
    customer_comment: str | None = Field(None, max_length=2000)


# --- response models ----------------------------------------------------------------------


class LineOut(BaseModel):
    product_id: int
    category_id: int | None
    unit_price: MoneyStr
    quantity: int
    weight_g: int
    total: MoneyStr
    discount: MoneyStr
    net: MoneyStr


class AppliedDiscountOut(BaseModel):
    rule_id: int
    name: str
    source: Literal["automatic", "code"]
    amount: MoneyStr
    base: MoneyStr
    applies_to: list[int] = Field(description="Product ids; empty: the whole cart.")


class SkippedDiscountOut(BaseModel):
    rule_id: int | None = Field(description="None: no discount has the entered code.")
    name: str
    reason: str


class ShippingOut(BaseModel):
    method_id: int
    available: bool
    cost: MoneyStr
    row_position: int | None = Field(description="The cost row that decided; none: the base "
                                     "rule or a refusal.")
    postpaid: bool
    reason: str | None


class PaymentOut(BaseModel):
    method_id: int
    available: bool
    discount: MoneyStr
    tax: MoneyStr
    reason: str | None


class GatewayOut(BaseModel):
    currency: str
    converted: MoneyStr
    rounded: MoneyStr
    fee: MoneyStr
    amount: MoneyStr


class BreakdownOut(BaseModel):
    currency: str
    lines: list[LineOut]
    subtotal: MoneyStr
    applied_discounts: list[AppliedDiscountOut]
    skipped_discounts: list[SkippedDiscountOut]
    discount_total: MoneyStr
    shipping: ShippingOut | None
    payment: PaymentOut | None
    payment_discount: MoneyStr
    tax: MoneyStr
    payable: MoneyStr
    wallet: MoneyStr
    paid: MoneyStr
    balance: MoneyStr
    gateway: GatewayOut | None


class OptionTotalsOut(BaseModel):
    """What an option changes; its lines and discounts are the quote's own breakdown's."""

    shipping: ShippingOut | None
    payment: PaymentOut | None
    payment_discount: MoneyStr
    tax: MoneyStr
    payable: MoneyStr
    balance: MoneyStr
    gateway: GatewayOut | None


class OptionOut(BaseModel):
    method_id: int
    name: str
    kind: str
    available: bool
    cost: MoneyStr = Field(description="Shipping: its cost; payment: its discount.")
    reason: str | None
    payable: MoneyStr
    totals: OptionTotalsOut = Field(description="The totals with this option chosen (and the "
                                    "other chosen method, if any); the lines and discounts "
                                    "are the same as in the quote's breakdown.")


class QuoteOut(BaseModel):
    breakdown: BreakdownOut = Field(description="The cart with the chosen methods, if any.")
    shipping_options: list[OptionOut]
    payment_options: list[OptionOut]


class OrderOut(BaseModel):
    id: int
    number: str
    status: str
    shipping_status: str
    currency: str
    subtotal: MoneyStr
    discount_total: MoneyStr
    shipping_cost: MoneyStr
    tax_total: MoneyStr
    payable: MoneyStr
    balance_due: MoneyStr
    breakdown: BreakdownOut


class ErrorBody(BaseModel):
    code: str = Field(description="A stable code, e.g. unauthorized, invalid_request, "
                      "product_not_found, shipping_unavailable, discount_exhausted, refused.")
    message: str = Field(description="What was wrong, in the Accept-Language (en, ru, fa).")


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 404, 409, 422)
}


# --- rendering ----------------------------------------------------------------------------


def _m(amount: Decimal) -> str:
    return str(amount)


def _text(message: Message | None, gettext: Callable[[str], str]) -> str | None:
    return None if message is None else message.render(gettext)


def _methods_out(q: rp.Quote, gettext: Callable[[str], str]) -> dict[str, Any]:
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


def language_of(request: Request) -> str:
    header = request.headers.get("accept-language", "")
    preferred = [p.split(";")[0].strip() for p in header.split(",") if p.strip()]
    return negotiate_locale(preferred, list(LANGUAGES), sep="-") or DEFAULT_LANGUAGE


def _gettext(request: Request) -> Callable[[str], str]:
    return translations(language_of(request)).gettext


def error_response(request: Request, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}},
                        status_code=STATUS_BY_CODE.get(code, 400), headers=headers)


def _validation_details(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", "")))
    return "; ".join(parts)


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
                    "decimal strings. Errors: `{\"error\": {\"code\", \"message\"}}`.",
    )

    @api.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        message = _gettext(request)("Send a valid API key as \"Authorization: Bearer <key>\" "
                                    "or in the X-API-Key header.")
        return error_response(request, "unauthorized", message,
                              headers={"WWW-Authenticate": "Bearer"})

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = _gettext(request)("The request is not valid: %(details)s") % {
            "details": _validation_details(exc)}
        return error_response(request, "invalid_request", message)

    @api.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return error_response(request, getattr(exc, "code", "refused"),
                              exc.render(_gettext(request)))

    @api.get("/status", summary="Service status and schema summary")
    def status() -> dict[str, object]:
        with factory() as session:
            workflows = session.scalar(select(func.count()).select_from(Workflow))
        return {"status": "ok", "api_version": API_VERSION, "workflows": workflows or 0}

    @api.post("/quote", response_model=QuoteOut, responses=ERRORS, tags=["checkout"],
              summary="What delivery and payment options cost for a cart")
    def quote(body: QuoteIn, request: Request,
              key: PresentedKey = Depends(presented_key)) -> QuoteOut:  # noqa: B008
        """Every active shipping method and payment method with its cost for this cart, and
        the full breakdown: lines, discounts applied and skipped (with the reason), shipping,
        payment discount, tax, payable, and the amount a gateway would be asked for."""
        gettext = _gettext(request)
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

    @api.post("/orders", response_model=OrderOut, status_code=201, responses=ERRORS,
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
                breakdown=breakdown(priced, _gettext(request)),
            )

    return api
