"""Rule tables in the admin (R-RULE-1..6): checks that explain themselves, readable summaries,
ordered shipping cost rows and the use of each discount.

Each view base runs the pure checks of ``rules.rule_tables`` on the submitted data merged over
the stored row; a refusal is raised as ``ValueError`` with every reason in the person's
language, so sqladmin shows the form again with the reasons and saves nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
from markupsafe import Markup
from sqladmin import action
from sqladmin.flash import flash
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import RedirectResponse

from admin.gateways import GatewayView
from admin.operations import run_in_transaction, selected_ids
from admin.views import PostdeskView
from locales import gettext, lazy_gettext
from rules.rule_tables import (
    check_discount,
    check_gateway,
    check_payment_method,
    check_shipping_method,
    check_shipping_row,
    summarize_discount,
    summarize_payment_method,
    summarize_shipping_method,
    summarize_shipping_row,
)
from rules.workflow import N_, Message
from schema.base import utcnow
from schema.customers import Customer
from schema.discounts import Discount, DiscountUsage
from schema.orders import Order
from schema.shipping import ShippingCostRow, ShippingMethod

USAGES_SHOWN = 200  # the discount detail lists the latest uses, newest first
MOVE_ACTIONS = ("action:move-up", "action:move-down")


def _ident(value: Any) -> int | None:
    """A to-one form field's value (the target's id as text, or the object) as an id."""
    if value in (None, ""):
        return None
    value = getattr(value, "id", value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _loaded(model: Any, key: str) -> Any:
    """A relationship's value when it is loaded, else None (never a lazy load on a detached
    row)."""
    if key in inspect(model).unloaded:
        return None
    return getattr(model, key)


def _row(model: Any) -> dict[str, Any]:
    return {key: getattr(model, key) for key in inspect(type(model)).columns.keys()}


def _with_summary(title: Any, summary: str) -> Markup:
    if not summary:
        return Markup("{}").format(title if title is not None else "")
    return Markup('{}<br><small class="text-secondary rule-summary">{}</small>').format(
        title if title is not None else "", summary)


class RuleTableView(PostdeskView):
    """A rule table: ``check`` decides whether the merged row may be saved; ``summary`` is the
    readable line shown under ``summary_column`` in the list and the detail page."""

    summary_column: ClassVar[str] = "name"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        column = cls.summary_column
        if not column:
            return

        def fmt(model: Any, _attr: Any) -> Markup:
            return _with_summary(getattr(model, column), cls.summary(model))

        cls.column_formatters = {**cls.column_formatters, column: fmt}
        cls.column_formatters_detail = {**cls.column_formatters_detail, column: fmt}

    @classmethod
    def summary(cls, model: Any) -> str:
        return ""

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return []

    async def more_problems(self, fields: dict[str, Any], model: Any) -> list[Message]:
        """Checks that need the database; run only when the pure checks pass."""
        return []

    def merged(self, data: dict, model: Any) -> dict[str, Any]:
        """The row as it would be saved: the stored columns, then the submitted values (a
        to-one relationship's value under its foreign key column)."""
        mapper = inspect(self.model)
        fields: dict[str, Any] = {}
        if model is not None:
            fields = {key: getattr(model, key, None) for key in mapper.columns.keys()}
        to_one = {r.key: next(iter(r.local_columns)).key for r in mapper.relationships
                  if r.direction.name == "MANYTOONE" and len(r.local_columns) == 1}
        for key, value in data.items():
            if key in to_one:
                fields[to_one[key]] = _ident(value)
            else:
                fields[key] = value
        return fields

    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        await super().on_model_change(data, model, is_created, request)
        fields = self.merged(data, model)
        problems = self.check(fields, model, is_created)
        if not problems:
            problems = await self.more_problems(fields, model)
        if problems:
            raise ValueError(" ".join(m.render(gettext) for m in problems))


# --- discounts ----------------------------------------------------------------------------


class DiscountView(RuleTableView):
    details_template = "postdesk/discount_details.html"

    @classmethod
    def summary(cls, model: Any) -> str:
        products = _loaded(model, "products")
        return summarize_discount(
            _row(model), group=str(_loaded(model, "customer_group") or "") or None,
            customer=str(_loaded(model, "customer") or "") or None,
            products=len(products or ()), gettext=gettext,
        )

    def list_query(self, request: Request) -> Select:
        return super().list_query(request).options(
            selectinload(Discount.customer_group), selectinload(Discount.customer),
            selectinload(Discount.products),
        )

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        # An expiry is checked when it is set or changed, so an expired discount can still be
        # edited (say, to deactivate it).
        stored = None if is_created or model is None else model.expires_at
        submitted = fields.get("expires_at")
        expiry_changed = submitted is not None and (  # the form drops microseconds
            stored is None or submitted.replace(microsecond=0) != stored.replace(microsecond=0))
        return check_discount(fields, utcnow() if expiry_changed else None)

    async def more_problems(self, fields: dict[str, Any], model: Any) -> list[Message]:
        code = str(fields.get("code") or "").strip()
        if not code:
            return []
        own_id = getattr(model, "id", None)

        def taken() -> str | None:
            with self.session_maker() as session:
                stmt = select(Discount.name).where(func.lower(Discount.code) == code.lower())
                if own_id is not None:
                    stmt = stmt.where(Discount.id != own_id)
                return session.scalars(stmt.limit(1)).first()

        other = await anyio.to_thread.run_sync(taken)
        if other is None:
            return []
        # Codes are matched regardless of case at checkout, so they must differ regardless
        # of case too.
        return [Message(N_("The code %(code)s is already used by the discount %(other)s: "
                           "choose another code."), {"code": code, "other": other})]

    async def details_context(self, request: Request) -> dict[str, Any]:
        context = await super().details_context(request)
        pk = request.path_params.get("pk", "")
        if pk.isdigit():
            context.update(await run_in_transaction(
                self.session_maker, lambda session: discount_use(session, int(pk))))
        return context


def discount_use(session: Session, discount_id: int) -> dict[str, Any]:
    """R-RULE-1's detail: times used, the total given per currency, the latest orders."""
    totals = session.execute(
        select(DiscountUsage.currency, func.count(), func.sum(DiscountUsage.amount))
        .where(DiscountUsage.discount_id == discount_id)
        .group_by(DiscountUsage.currency).order_by(DiscountUsage.currency)
    ).all()
    usages = session.execute(
        select(DiscountUsage.order_id, Order.number, Customer.name, DiscountUsage.amount,
               DiscountUsage.currency, DiscountUsage.used_at)
        .join(Order, Order.id == DiscountUsage.order_id)
        .outerjoin(Customer, Customer.id == DiscountUsage.customer_id)
        .where(DiscountUsage.discount_id == discount_id)
        .order_by(DiscountUsage.used_at.desc(), DiscountUsage.id.desc())
        .limit(USAGES_SHOWN)
    ).all()
    times_used = session.scalar(select(Discount.times_used).where(Discount.id == discount_id))
    return {
        "times_used": times_used or 0,
        "usage_count": sum(count for _c, count, _s in totals),
        "usage_totals": [(currency, total) for currency, _n, total in totals],
        "usages": usages,
        "usages_shown": USAGES_SHOWN,
    }


# --- shipping -----------------------------------------------------------------------------


class ShippingMethodView(RuleTableView):
    # The cost rows one per line (sqladmin's compact list runs them together in brackets).
    show_compact_lists = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.column_formatters_detail = {**cls.column_formatters_detail,
                                        "rows": cls.cost_rows}

    @classmethod
    def summary(cls, model: Any) -> str:
        rows = _loaded(model, "rows") or ()
        return summarize_shipping_method(_row(model), [_row(r) for r in rows], gettext=gettext)

    @staticmethod
    def cost_rows(model: Any, _attr: Any) -> list[Markup]:
        """The detail page's cost rows in the order they are tried, each as its position and
        what it says ("1. cart ≥ 100000 → 3500"); each links to the row. The list is in the
        relationship's order (position, id), the order sqladmin pairs links with. Amounts go
        without the currency, as in the method's summary: the page shows it once, and a code
        beside a number is reordered in a right-to-left line."""
        return [
            Markup("{}. {}").format(row.position,
                                    summarize_shipping_row(_row(row), gettext=gettext))
            for row in _loaded(model, "rows") or ()
        ]

    def list_query(self, request: Request) -> Select:
        return super().list_query(request).options(selectinload(ShippingMethod.rows))

    def details_query(self, request: Request) -> Select:
        return super().details_query(request).options(selectinload(ShippingMethod.rows))

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return check_shipping_method(fields)


def move_row(session: Session, row_id: int, step: int) -> int | None:
    """Swap a cost row with its neighbour within its method (``step`` -1: up, 1: down).

    Returns the method's id (None when the row does not exist). Rows sharing a position are
    first numbered 1, 2, 3... in their current order, so every move changes the order.
    """
    row = session.get(ShippingCostRow, row_id)
    if row is None:
        return None
    rows = list(session.scalars(
        select(ShippingCostRow).where(ShippingCostRow.shipping_method_id == row.shipping_method_id)
        .order_by(ShippingCostRow.position, ShippingCostRow.id)
    ))
    here = rows.index(row)
    there = here + step
    if 0 <= there < len(rows):
        other = rows[there]
        if other.position == row.position:
            for number, each in enumerate(rows, 1):
                if each.position != number:
                    each.position = number
        row.position, other.position = other.position, row.position
        session.flush()
    return row.shipping_method_id


class ShippingCostRowView(RuleTableView):
    summary_column = "position"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.column_default_sort = [("shipping_method_id", False), ("position", False),
                                   ("id", False)]

    @classmethod
    def summary(cls, model: Any) -> str:
        return summarize_shipping_row(_row(model), gettext=gettext)

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return check_shipping_row(fields)

    def has_permission(self, request: Request, action: str, obj: Any | None = None) -> bool:
        # Reordering is editing: whoever may edit the rows may move them.
        return super().has_permission(request, "edit" if action in MOVE_ACTIONS else action,
                                      obj)

    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        await super().on_model_change(data, model, is_created, request)
        method_id = _ident(data.get("shipping_method"))
        if is_created and not data.get("position") and method_id is not None:
            def last() -> int:
                with self.session_maker() as session:
                    return session.scalar(
                        select(func.max(ShippingCostRow.position))
                        .where(ShippingCostRow.shipping_method_id == method_id)) or 0

            data["position"] = await anyio.to_thread.run_sync(last) + 1  # a new row goes last

    @action(name="move-up", label=lazy_gettext("Move up"), add_in_detail=True,
            add_in_list=True)
    async def move_up(self, request: Request) -> RedirectResponse:
        return await self._move(request, -1)

    @action(name="move-down", label=lazy_gettext("Move down"), add_in_detail=True,
            add_in_list=True)
    async def move_down(self, request: Request) -> RedirectResponse:
        return await self._move(request, 1)

    async def _move(self, request: Request, step: int) -> RedirectResponse:
        ids = selected_ids(request, await request.form())

        def work(session: Session) -> int | None:
            method_id = None
            for pk in ids if step < 0 else reversed(ids):
                method_id = move_row(session, pk, step) or method_id
            return method_id

        url = request.url_for("admin:list", identity=self.identity)
        try:
            method_id = await run_in_transaction(self.session_maker, work)
        except StaleDataError:
            flash(request, self.conflict_message(), category="danger")
            return RedirectResponse(url, 303)
        if method_id is not None:
            url = url.include_query_params(shipping_method_id=method_id)
        return RedirectResponse(url, 303)


# --- payments -----------------------------------------------------------------------------


class PaymentMethodView(RuleTableView):
    @classmethod
    def summary(cls, model: Any) -> str:
        return summarize_payment_method(_row(model), gettext=gettext)

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return check_payment_method(fields)


class GatewayRulesView(RuleTableView, GatewayView):
    """The gateway's certificate handling (``GatewayView``) plus the rate and rounding
    checks."""

    summary_column = ""

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return check_gateway(fields)
