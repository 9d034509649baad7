"""Manual order entry (R-ORD-7): a person at the admin types in an order taken by phone or at
the counter, sees the totals the rules give while typing, and saves it.

The page parses the form into ``services.ordering.OrderInput`` and nothing more: the preview is
``services.pricing.quote_cart`` (read-only), saving is ``services.ordering.place_order`` in one
transaction. A refusal (an unknown product, a method that cannot deliver, a used-up code, a
legal entity without a tax id) is shown in the person's language and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqladmin import expose
from sqladmin.flash import flash
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from admin.cart_lookups import find_customers, find_products, whole_number
from admin.date_inputs import datetime_input_example
from admin.operations import form_text, require_actor, run_in_transaction
from locales import format_decimal, get_language, gettext, gregorian_text
from schema.catalog import Product, Warehouse
from schema.customers import CustomerKind
from schema.orders import DeliveryKind, OrderType
from schema.payments import PaymentMethod
from schema.people import Merchant
from schema.shipping import ShippingMethod
from services.actor import Actor
from services.errors import InvalidInput, Refused
from services.ordering import OrderInput, place_order
from services.pricing import CartItem, quote_cart


def _when(value: str | None) -> datetime | None:
    """The form's date-time is UTC, like every date-time the admin's forms take; the date part
    in either calendar and any digits."""
    if not value:
        return None
    try:
        # A Persian reader types the date in Solar Hijri (``۱۴۰۵/۰۱/۰۱ ۰۹:۰۵``).
        moment = datetime.fromisoformat(gregorian_text(value))
    except ValueError:
        raise InvalidInput("Enter the order date as YYYY-MM-DD HH:MM.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def typed_skus(form: FormData) -> set[str]:
    """What was typed in rows the page has not matched to a product yet (lower case): an
    exact SKU there is the product (``sku_products``), also when the form is sent before the
    page's look-up answered."""
    labels = form.getlist("product_label")
    return {str(labels[i]).strip().lower() for i, raw in enumerate(form.getlist("product_id"))
            if not str(raw).strip() and i < len(labels) and str(labels[i]).strip()}


def sku_products(session: Session, merchant: int, skus: set[str]) -> dict[str, int]:
    """The store's products on sale whose SKU is exactly one of ``skus`` (any case)."""
    if not skus:
        return {}
    rows = session.execute(select(func.lower(Product.sku), Product.id).where(
        Product.merchant_id == merchant, Product.on_sale.is_(True),
        func.lower(Product.sku).in_(skus)))
    return {str(sku): int(pid) for sku, pid in rows}


def cart_from_form(form: FormData, by_sku: dict[str, int] | None = None) -> list[CartItem]:
    """The lines typed in: rows without a product are blank rows and are left out, unless
    their text is a SKU of ``by_sku``."""
    products, variants = form.getlist("product_id"), form.getlist("variant_id")
    warehouses, quantities = form.getlist("warehouse_id"), form.getlist("quantity")
    labels = form.getlist("product_label")
    cart = []
    for i, raw in enumerate(products):
        product = whole_number(raw, gettext("Product"))
        if product is None and by_sku and i < len(labels):
            product = by_sku.get(str(labels[i]).strip().lower())
        if product is None:
            continue
        quantity = whole_number(quantities[i] if i < len(quantities) else "1", gettext("Quantity"))
        cart.append(CartItem(
            product_id=product, quantity=1 if quantity is None else quantity,
            variant_id=whole_number(variants[i] if i < len(variants) else "", gettext("Variant")),
            warehouse_id=whole_number(warehouses[i] if i < len(warehouses) else "",
                              gettext("Warehouse")),
        ))
    return cart


def order_input_from_form(form: FormData, by_sku: dict[str, int] | None = None) -> OrderInput:
    return OrderInput(
        cart=cart_from_form(form, by_sku),
        shipping_method_id=whole_number(form.get("shipping_method_id"), gettext("Shipping method")),
        payment_method_id=whole_number(form.get("payment_method_id"), gettext("Payment method")),
        customer_id=whole_number(form.get("customer_id"), gettext("Customer")),
        channel="admin",
        discount_code=form_text(form, "discount_code"),
        distance_m=whole_number(form.get("distance_m"), gettext("Distance, m")),
        delivery_kind=form_text(form, "delivery_kind") or DeliveryKind.ADDRESS.value,
        order_type=form_text(form, "order_type") or OrderType.REGULAR.value,
        customer_kind=form_text(form, "customer_kind") or CustomerKind.INDIVIDUAL.value,
        buyer_tax_id=form_text(form, "buyer_tax_id"),
        recipient_name=form_text(form, "recipient_name"),
        recipient_phone=form_text(form, "recipient_phone"),
        recipient_address=form_text(form, "recipient_address"),
        recipient_city=form_text(form, "recipient_city"),
        recipient_postcode=form_text(form, "recipient_postcode"),
        customer_comment=form_text(form, "customer_comment"),
        note=form_text(form, "note"),
        ordered_at=_when(form_text(form, "ordered_at")),
    )


def merchant_for(actor: Actor, form_or_query: Any) -> int:
    """A merchant's staff enter orders for their own store; others choose the store."""
    if actor.merchant_id is not None:
        return actor.merchant_id
    merchant = whole_number(form_or_query.get("merchant_id"), gettext("Store"))
    if merchant is None:
        raise InvalidInput("Choose the store the order is for.")
    return merchant


class ManualOrderEntry:
    """The "new order" page of the orders view; the person needs the orders' create grant."""

    # Provided by the sqladmin view this is mixed into (``OrderView``).
    session_maker: Any
    templates: Any
    has_permission: Any

    def _require_create(self, request: Request) -> Actor:
        if not self.has_permission(request, "create"):
            raise HTTPException(status_code=403)
        return require_actor()

    async def _page(self, request: Request, form: FormData | None, error: str | None,
                    status_code: int = 200) -> Response:
        actor = self._require_create(request)

        def load(session: Session) -> dict[str, Any]:
            merchants = session.scalars(select(Merchant).where(Merchant.active.is_(True))
                                        .order_by(Merchant.name)).all()
            return {
                "merchants": merchants if actor.merchant_id is None else [],
                "warehouses": session.scalars(select(Warehouse).where(Warehouse.active.is_(True))
                                              .order_by(Warehouse.name)).all(),
                "shipping_methods": session.scalars(
                    select(ShippingMethod).where(ShippingMethod.active.is_(True))
                    .order_by(ShippingMethod.name)).all(),
                "payment_methods": session.scalars(
                    select(PaymentMethod).where(PaymentMethod.active.is_(True))
                    .order_by(PaymentMethod.name)).all(),
            }

        context = await run_in_transaction(self.session_maker, load)
        values = form or FormData()
        lines = list(zip(values.getlist("product_id"), values.getlist("product_label"),
                         values.getlist("variant_id"), values.getlist("warehouse_id"),
                         values.getlist("quantity"), strict=False)) or [("", "", "", "", "1")]
        return await self.templates.TemplateResponse(request, "postdesk/new_order.html", {
            **context, "values": values, "lines": lines, "error": error,
            "delivery_kinds": list(DeliveryKind), "order_types": list(OrderType),
            "customer_kinds": list(CustomerKind), "title": gettext("New order"),
            "date_input_example": datetime_input_example(),
            "model_view": self,
        }, status_code=status_code)

    @expose("/new", methods=["GET"])
    async def new_order(self, request: Request) -> Response:
        return await self._page(request, None, None)

    @expose("/new", methods=["POST"])
    async def create_order(self, request: Request) -> Response:
        actor = self._require_create(request)
        form = await request.form()
        try:
            merchant = merchant_for(actor, form)

            def place(session: Session) -> int:
                by_sku = sku_products(session, merchant, typed_skus(form))
                order_input = order_input_from_form(form, by_sku)
                return place_order(session, merchant, order_input, actor=actor).id

            order_id = await run_in_transaction(self.session_maker, place)
        except Refused as refusal:
            return await self._page(request, form, refusal.render(gettext), status_code=400)
        flash(request, gettext("The order was created."), category="success")
        return RedirectResponse(
            str(request.url_for("admin:details", identity="orders", pk=order_id)),
            status_code=303)

    @expose("/new/preview", methods=["POST"])
    async def preview_order(self, request: Request) -> Response:
        """The totals block for what is typed so far (the page asks on every change)."""
        actor = self._require_create(request)
        form = await request.form()
        lang = get_language()
        try:
            # What is wrong with the form comes before the store is asked for.
            if not order_input_from_form(form).cart and not typed_skus(form):
                raise InvalidInput("Add at least one product to see the totals.")
            merchant = merchant_for(actor, form)

            def price(session: Session) -> tuple[Any, dict[int, str]]:
                order_input = order_input_from_form(
                    form, sku_products(session, merchant, typed_skus(form)))
                if not order_input.cart:
                    raise InvalidInput("Add at least one product to see the totals.")
                quote = quote_cart(
                    session, merchant, order_input.cart, customer_id=order_input.customer_id,
                    shipping_method_id=order_input.shipping_method_id,
                    payment_method_id=order_input.payment_method_id,
                    discount_code=order_input.discount_code,
                    distance_m=order_input.distance_m)
                names = {pid: name for pid, name in session.execute(
                    select(Product.id, Product.name).where(
                        Product.id.in_({line.product_id for line in quote.lines})))}
                return quote, names

            quote, names = await run_in_transaction(self.session_maker, price)
        except Refused as refusal:
            return await self.templates.TemplateResponse(
                request, "postdesk/_quote_totals.html",
                {"quote": None, "error": refusal.render(gettext), "lang": lang})
        return await self.templates.TemplateResponse(
            request, "postdesk/_quote_totals.html",
            {"quote": quote, "names": names, "error": None, "lang": lang,
             "format_decimal": format_decimal})

    async def _search(self, request: Request,
                      find: Callable[[Session, int, str], list[dict[str, Any]]]) -> Response:
        """A look-up in the chosen store (``find(session, merchant, pattern)``) as JSON."""
        actor = self._require_create(request)
        pattern = f"%{(request.query_params.get('q') or '').strip()}%"
        try:
            merchant = merchant_for(actor, request.query_params)
        except Refused as refusal:
            return JSONResponse({"error": refusal.render(gettext)}, status_code=400)
        return JSONResponse(await run_in_transaction(
            self.session_maker, lambda session: find(session, merchant, pattern)))

    @expose("/new/products", methods=["GET"])
    async def search_products(self, request: Request) -> Response:
        """The store's products whose name or SKU holds the text, with their variants."""
        return await self._search(request, find_products)

    @expose("/new/customers", methods=["GET"])
    async def search_customers(self, request: Request) -> Response:
        """The store's customers by name or phone, with what fills the recipient fields."""
        return await self._search(request, find_customers)
