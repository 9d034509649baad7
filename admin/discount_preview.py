""""Try on a cart": a marketer prices a cart through the engine to see which discounts apply
(R-RULE-1, issue 11) — without the right to place orders, and without placing anything.

The page is part of the discounts view (``/admin/discounts/preview``) and needs its own grant,
``action:preview`` on ``discounts`` (seed/data/access.yaml gives it to the marketer). It parses
the form (store, products and quantities, optionally a customer, channel, shipping and payment
method, a code, a distance) and calls ``services.pricing.quote_cart`` — the read-only quote the
manual entry page shows while an order is typed — then renders the same totals block
(``postdesk/_quote_totals.html``). Nothing is placed, reserved or counted: no order, no
discount use, no change of ``times_used``. Opened from a discount (``?discount=<id>``), the page
says whether that discount applied to the cart and, if not, why.

The product and customer look-ups are confined to the chosen store, like the cart: the engine
prices only that store's products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqladmin import expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.cart_lookups import find_customers, find_products, whole_number
from admin.operations import form_text, require_actor, run_in_transaction
from locales import ascii_number, get_language, gettext
from rules import pricing as rp
from schema.catalog import Product
from schema.discounts import Discount
from schema.payments import PaymentMethod
from schema.people import Merchant
from schema.shipping import ShippingMethod
from services.actor import Actor
from services.errors import InvalidInput, Refused
from services.pricing import CartItem, quote_cart

GRANT = "action:preview"
CHANNELS: tuple[tuple[str, str], ...] = (("web", "Website"), ("app", "App"))


@dataclass(frozen=True)
class PreviewInput:
    """What the marketer typed; ``lines`` keep the product labels to show them again."""

    merchant_id: int | None
    cart: tuple[CartItem, ...]
    labels: tuple[str, ...]
    customer_id: int | None
    customer_label: str
    channel: rp.Channel
    shipping_method_id: int | None
    payment_method_id: int | None
    discount_code: str | None
    distance_m: int | None


def preview_input(form: FormData | Any, actor: Actor) -> PreviewInput:
    """The form as the quote's arguments; rows without a product are blank and left out."""
    products, labels = form.getlist("product_id"), form.getlist("product_label")
    quantities = form.getlist("quantity")
    cart, shown = [], []
    for i, raw in enumerate(products):
        product = whole_number(raw, gettext("Product"))
        if product is None:
            continue
        quantity = whole_number(quantities[i] if i < len(quantities) else "1", gettext("Quantity"))
        cart.append(CartItem(product_id=product, quantity=1 if quantity is None else quantity))
        shown.append(str(labels[i]) if i < len(labels) else "")
    channel = form_text(form, "channel")
    return PreviewInput(
        merchant_id=actor.merchant_id if actor.merchant_id is not None
        else whole_number(form.get("merchant_id"), gettext("Store")),
        cart=tuple(cart), labels=tuple(shown),
        customer_id=whole_number(form.get("customer_id"), gettext("Customer")),
        customer_label=form_text(form, "customer_label") or "",
        channel="app" if channel == "app" else "web",
        shipping_method_id=whole_number(form.get("shipping_method_id"), gettext("Shipping method")),
        payment_method_id=whole_number(form.get("payment_method_id"), gettext("Payment method")),
        discount_code=form_text(form, "discount_code"),
        distance_m=whole_number(form.get("distance_m"), gettext("Distance, m")),
    )


def price_preview(session: Session, given: PreviewInput) -> tuple[rp.Quote, dict[int, str]]:
    """The engine's quote of the cart (read-only) and the names of its products."""
    if given.merchant_id is None:
        raise InvalidInput("Choose the store whose products make up the cart.")
    if not given.cart:
        raise InvalidInput("Add at least one product to see the totals.")
    quote = quote_cart(
        session, given.merchant_id, given.cart, customer_id=given.customer_id,
        channel=given.channel, shipping_method_id=given.shipping_method_id,
        payment_method_id=given.payment_method_id, discount_code=given.discount_code,
        distance_m=given.distance_m)
    names = {pid: name for pid, name in session.execute(select(Product.id, Product.name).where(
        Product.id.in_({line.product_id for line in quote.lines})))}
    return quote, names


def verdict(quote: rp.Quote | None, discount: Discount | None) -> dict[str, Any] | None:
    """Whether the discount the page was opened from applied to the cart, and why not."""
    if quote is None or discount is None:
        return None
    for applied in quote.applied:
        if applied.rule_id == discount.id:
            return {"applied": True, "amount": applied.amount}
    for skipped in quote.skipped:
        if skipped.rule_id == discount.id:
            return {"applied": False, "reason": skipped.reason.render(gettext)}
    if not discount.active:
        reason = gettext("The discount is not active.")
    elif discount.code and not discount.automatic:
        reason = gettext("Enter its code, %(code)s, to try it.") % {"code": discount.code}
    else:
        reason = gettext("The engine did not consider it for this cart.")
    return {"applied": False, "reason": reason}


class DiscountPreview:
    """Mixed into the discounts view (``admin.rule_tables.DiscountView``)."""

    # Provided by the sqladmin view this is mixed into.
    session_maker: Any
    templates: Any
    has_permission: Any

    def _require_preview(self, request: Request) -> Actor:
        actor = require_actor()
        if not self.has_permission(request, GRANT):
            raise HTTPException(status_code=403)
        return actor

    async def _preview_page(self, request: Request, form: FormData | None) -> Response:
        actor = self._require_preview(request)
        discount_id = whole_number(request.query_params.get("discount"), "discount") \
            if (request.query_params.get("discount") or "").isdigit() else None
        given: PreviewInput | None = None
        error: str | None = None
        try:
            given = preview_input(form or FormData(), actor)
        except Refused as refusal:
            error = refusal.render(gettext)

        def load(session: Session) -> dict[str, Any]:
            discount = session.get(Discount, discount_id) if discount_id else None
            quote, names, problem = None, {}, error
            if form is not None and given is not None and problem is None:
                try:
                    quote, names = price_preview(session, given)
                except Refused as refusal:
                    problem = refusal.render(gettext)
            return {
                "merchants": session.scalars(
                    select(Merchant).where(Merchant.active.is_(True)).order_by(Merchant.name)
                ).all() if actor.merchant_id is None else [],
                "shipping_methods": session.scalars(
                    select(ShippingMethod).where(ShippingMethod.active.is_(True))
                    .order_by(ShippingMethod.name)).all(),
                "payment_methods": session.scalars(
                    select(PaymentMethod).where(PaymentMethod.active.is_(True))
                    .order_by(PaymentMethod.name)).all(),
                "discount": discount, "quote": quote, "names": names, "error": problem,
                "verdict": verdict(quote, discount),
            }

        context = await run_in_transaction(self.session_maker, load)
        values: Any = form
        if values is None:
            discount = context["discount"]
            code = discount.code if discount is not None and not discount.automatic else ""
            values = FormData({"discount_code": code or ""})
        lines = list(zip(values.getlist("product_id"), values.getlist("product_label"),
                         values.getlist("quantity"), strict=False)) or [("", "", "1")]
        return await self.templates.TemplateResponse(request, "postdesk/discount_preview.html", {
            **context, "values": values, "lines": lines, "channels": CHANNELS,
            "lang": get_language(), "title": gettext("Try discounts on a cart"),
            "model_view": self, "discount_id": discount_id,
        }, status_code=200 if context["error"] is None or form is None else 400)

    @expose("/preview", methods=["GET"])
    async def preview_discounts(self, request: Request) -> Response:
        return await self._preview_page(request, None)

    @expose("/preview", methods=["POST"])
    async def preview_cart(self, request: Request) -> Response:
        return await self._preview_page(request, await request.form())

    async def _look_up(self, request: Request, find: Any) -> Response:
        actor = self._require_preview(request)
        text = ascii_number(request.query_params.get("q") or "").strip()
        try:
            merchant = actor.merchant_id if actor.merchant_id is not None else whole_number(
                request.query_params.get("merchant_id"), gettext("Store"))
            if merchant is None:
                raise InvalidInput("Choose the store whose products make up the cart.")
        except Refused as refusal:
            return JSONResponse({"error": refusal.render(gettext)}, status_code=400)
        return JSONResponse(await run_in_transaction(
            self.session_maker, lambda session: find(session, merchant, f"%{text}%")))

    @expose("/preview/products", methods=["GET"])
    async def preview_products(self, request: Request) -> Response:
        """The chosen store's products whose name or SKU holds the text."""
        return await self._look_up(request, find_products)

    @expose("/preview/customers", methods=["GET"])
    async def preview_customers(self, request: Request) -> Response:
        """The chosen store's customers by name or phone."""
        return await self._look_up(request, find_customers)
