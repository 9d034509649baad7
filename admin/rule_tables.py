"""Rule tables in the admin (R-RULE-1..6): checks that explain themselves, readable summaries,
ordered shipping cost rows and the use of each discount.

Each view base runs the pure checks of ``rules.rule_tables`` on the submitted data merged over
the stored row; a refusal is raised as ``ValueError`` with every reason in the person's
language, so sqladmin shows the form again with the reasons and saves nothing.

The summaries are written in the reader's language (gettext) and with the reader's numbers and
dates (``summary_formats``): a Persian reader sees Persian digits and separators and Solar Hijri
days, while codes and names inside a summary stay exactly as written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

import anyio
from babel import numbers
from markupsafe import Markup
from sqladmin import action, expose
from sqladmin.flash import flash
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.date_inputs import date_input_text
from admin.discount_preview import GRANT as PREVIEW_GRANT
from admin.discount_preview import DiscountPreview
from admin.form_display import amount_as_written, datetime_as_written
from admin.gateways import GatewayView
from admin.operations import require_actor, run_in_transaction, selected_ids
from admin.views import PostdeskView
from locales import (
    GREGORIAN,
    _digits,
    ascii_number,
    calendar_of,
    format_decimal,
    format_money,
    format_number,
    get_language,
    gettext,
    lazy_gettext,
)
from rules.rule_tables import (
    PLAIN,
    Formats,
    check_discount,
    check_gateway,
    check_payment_method,
    check_shipping_method,
    check_shipping_row,
    summarize_base_rule,
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
from services import shipping_rows
from services.errors import InvalidInput, Refused

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


@cache
def summary_formats(lang: str) -> Formats:
    """How the summaries write numbers and dates for a reader of ``lang``.

    A reader whose digits or calendar differ from the stored ones (Persian) gets amounts
    grouped in their digits and separators, every decimal kept (``۱۰۰٬۰۰۰``, ``۱۲٫۵``,
    ``locales.format_number``) and days in their calendar as the date inputs write them
    (``۱۴۰۵/۱۰/۱۰``, ``admin.date_inputs.date_input_text``). Other readers get ``PLAIN``: the
    amounts as typed in the forms (``100000``, ``12.5``) and ISO days (``2026-12-31``).
    """
    if calendar_of(lang) == GREGORIAN and _digits("0123456789", lang) == "0123456789":
        return PLAIN
    return Formats(number=lambda number: format_number(number, lang),
                   date=lambda moment: date_input_text(moment.date(), lang),
                   minute=lambda moment: datetime_as_written(moment, lang))


def reader_formats() -> Formats:
    """``summary_formats`` of the current request's reader."""
    return summary_formats(get_language())


def _with_summary(title: Any, summary: str) -> Markup:
    if not summary:
        return Markup("{}").format(title if title is not None else "")
    return Markup('{}<br><small class="text-secondary rule-summary">{}</small>').format(
        title if title is not None else "", summary)


class RuleTableView(PostdeskView):
    """A rule table: ``check`` decides whether the merged row may be saved; ``summary`` is the
    readable line shown under ``summary_column`` in the list and the detail page."""

    summary_column: ClassVar[str] = "name"
    # The forms load rule_tables.js (the date picker to the minute, the product picker).
    create_template = "postdesk/rule_create.html"
    edit_template = "postdesk/rule_edit.html"

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


DISCOUNT_STATES: dict[str, tuple[str, str]] = {
    # state -> (label, Tabler badge colour)
    "active": (N_("Active"), "bg-green-lt"),
    "scheduled": (N_("Scheduled"), "bg-azure-lt"),
    "expired": (N_("Expired"), "bg-red-lt"),
    "used_up": (N_("Used up"), "bg-orange-lt"),
    "inactive": (N_("Inactive"), "bg-secondary-lt"),
}

# Help under each field of the discount form: what the condition or the benefit means.
DISCOUNT_HELP: dict[str, str] = {
    "name": N_("Shown to the customer and on the invoice when the discount applies."),
    "code": N_("What the customer types at checkout, in any case. Leave it empty for an "
               "automatic discount."),
    "automatic": N_("Applied without a code to every cart that meets the conditions below."),
    "kind": N_("Percent: a share of the price (enter 10 for ten percent). Fixed amount: a sum "
               "taken off, in the currency below."),
    "value": N_("How much is taken off: the percent, or the amount in the currency below."),
    "currency": N_("The currency of the fixed amount and of the minimum cart price."),
    "starts_at": N_("The first moment the discount applies (UTC), as year-month-day "
                    "hours:minutes; before it the discount is scheduled. Leave it empty for a "
                    "discount in force at once."),
    "expires_at": N_("The last moment the discount applies (UTC), as year-month-day "
                     "hours:minutes. Leave it empty for no end."),
    "total_uses_allowed": N_("How many orders may use it in all; it is used up after that. "
                             "Empty: no limit."),
    "uses_per_customer": N_("How many orders of one registered customer may use it. Not for a "
                            "discount aimed at one customer. Empty: no limit."),
    "min_cart_price": N_("The cart must cost at least this much. With products chosen below, "
                         "each chosen product's line must. Empty or 0: no minimum."),
    "min_item_count": N_("The cart must hold at least this many items. With products chosen "
                         "below, each chosen product's line must. Empty or 0: no minimum."),
    "target": N_("Who gets it: everyone, the members of one customer group, or one "
                 "customer."),
    "customer": N_("The customer, when the target is one customer."),
    "customer_group": N_("The group, when the target is a customer group."),
    "channel": N_("Where the order is placed: the website, the app, or both."),
    "priority": N_("Discounts are tried from the lowest priority number up."),
    "combinable": N_("Whether other discounts may apply to the same order as well."),
    "active": N_("Untick to stop the discount without deleting it."),
    "products": N_("Search by name or SKU. The discount applies only to these products' "
                   "lines; none chosen: the whole cart."),
}


def discount_state(model: Any, now: datetime) -> str:
    """``inactive``, ``expired`` (its expiry is past), ``scheduled`` (its start is still
    ahead), ``used_up`` (the total uses are reached) or ``active`` — the first that holds, in
    that order; the same moments as the engine's (``rules.pricing``: in force from
    ``starts_at`` included until ``expires_at`` excluded)."""
    if not model.active:
        return "inactive"
    if model.expires_at is not None and model.expires_at <= now:
        return "expired"
    if model.starts_at is not None and now < model.starts_at:
        return "scheduled"
    limit = model.total_uses_allowed
    if limit is not None and limit > 0 and (model.times_used or 0) >= limit:
        return "used_up"
    return "active"


def _same_minute(first: datetime, second: datetime) -> bool:
    """Whether two moments fall in the same minute (a naive one is read as UTC)."""
    def minute(moment: datetime) -> datetime:
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return aware.astimezone(UTC).replace(second=0, microsecond=0)

    return minute(first) == minute(second)


def _ltr(text: str) -> Markup:
    return Markup('<bdi dir="ltr">{}</bdi>').format(text)


def percent_text(value: Decimal, lang: str) -> str:
    """``10`` -> "10%" (en), "10 %" (ru), "۱۰٪" (fa)."""
    text = numbers.format_percent(value / 100, format="#,##0.####%", locale=lang,
                                  numbering_system="default")
    if lang == "ru":
        text = text.replace("%", "\u00a0%")
    elif lang == "fa":
        text = text.replace("%", "٪")  # the Arabic percent sign, as Persian writes it
    return _digits(text, lang)


def discount_value(model: Any, _attr: Any = None) -> Markup:
    """A percent as "10%", an amount with its currency ("BYN 5.00")."""
    value = model.value or Decimal(0)
    kind = getattr(model.kind, "value", model.kind)
    if kind == "percent":
        return _ltr(percent_text(value, get_language()))
    return _ltr(format_money(value, model.currency))


def discount_uses(model: Any, _attr: Any = None) -> Markup:
    """Times used and the limit: "3 / 100", or "3 / ∞" with no limit."""
    limit = model.total_uses_allowed
    shown = str(limit) if limit else "∞"
    lang = get_language()
    return Markup('<bdi dir="ltr" class="text-nowrap" title="{}">{} / {}</bdi>').format(
        gettext("Times used / total uses allowed"), _digits(str(model.times_used or 0), lang),
        _digits(shown, lang))


def discount_badge(model: Any, _attr: Any = None) -> Markup:
    state = discount_state(model, utcnow())  # once: both uses must name the same state
    label, colour = DISCOUNT_STATES[state]
    return Markup('<span class="badge {} discount-state" data-state="{}">{}</span>').format(
        colour, state, gettext(label))


class DiscountView(DiscountPreview, RuleTableView):
    details_template = "postdesk/discount_details.html"
    form_args: ClassVar[dict[str, dict[str, Any]]] = {
        name: {"description": lazy_gettext(text)} for name, text in DISCOUNT_HELP.items()}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        shown = {"value": discount_value, "times_used": discount_uses, "active": discount_badge}
        cls.column_formatters = {**cls.column_formatters, **shown}
        cls.column_formatters_detail = {**cls.column_formatters_detail, **shown}
        # What a marketer reads first, within 1366 px: the kind, the value as written, the
        # state and the uses; the rest stays in the column chooser (admin/list_preferences).
        first = ["name", "code", "kind", "value", "active", "times_used", "expires_at"]
        offered = [c for c in first if c in cls.column_list]
        cls.default_columns = offered
        cls.column_list = [*offered, *(c for c in cls.column_list if c not in offered)]
        # Products are found by name or SKU as the person types, not picked from a list of
        # every product; the look-up runs in the person's (scoped) session.
        cls.form_ajax_refs = {**cls.form_ajax_refs, "products": {
            "fields": ["name", "sku"], "order_by": "name", "limit": 20}}

    @classmethod
    def summary(cls, model: Any) -> str:
        products = _loaded(model, "products")
        return summarize_discount(
            _row(model), group=str(_loaded(model, "customer_group") or "") or None,
            customer=str(_loaded(model, "customer") or "") or None,
            products=len(products or ()), gettext=gettext, formats=reader_formats(),
        )

    def list_query(self, request: Request) -> Select:
        return super().list_query(request).options(
            selectinload(Discount.customer_group), selectinload(Discount.customer),
            selectinload(Discount.products),
        )

    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        # The form shows the start and the expiry to the minute: the same minute sent back is
        # the stored moment unchanged (its seconds are kept, and an expired one is not
        # re-checked).
        for name in ("starts_at", "expires_at"):
            stored = None if is_created or model is None else getattr(model, name)
            submitted = data.get(name)
            if stored is not None and isinstance(submitted, datetime) and _same_minute(
                    submitted, stored):
                data[name] = stored
        await super().on_model_change(data, model, is_created, request)

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        # An expiry is checked when it is set or changed, so an expired discount can still be
        # edited (say, to deactivate it).
        stored = None if is_created or model is None else model.expires_at
        submitted = fields.get("expires_at")
        expiry_changed = submitted is not None and (
            stored is None or not _same_minute(submitted, stored))
        return check_discount(fields, utcnow() if expiry_changed else None,
                              formats=reader_formats())

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
        context["can_preview"] = self.has_permission(request, PREVIEW_GRANT)
        context["times_used_shown"] = format_decimal(context.get("times_used") or 0)
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


ROW_OPERATIONS = ("add", "update", "remove", "up", "down")


def _typed(value: Any) -> str:
    return ascii_number(str(value or "")).strip()


def row_values(form: Any) -> shipping_rows.RowValues:
    """A cost row's inputs; empty conditions are 0 (ignored), as the engine reads them."""
    def amount(name: str, label: str) -> Decimal:
        text = _typed(form.get(name)).replace(",", ".").replace("٫", ".")
        try:
            return Decimal(text) if text else Decimal(0)
        except ArithmeticError:
            raise InvalidInput("%(field)s must be a number.", field=gettext(label)) from None

    def whole(name: str, label: str) -> int:
        text = _typed(form.get(name))
        try:
            return int(text) if text else 0
        except ValueError:
            raise InvalidInput("%(field)s must be a whole number.",
                               field=gettext(label)) from None

    return shipping_rows.RowValues(
        min_cart_price=amount("min_cart_price", "Minimum cart price"),
        min_item_count=whole("min_item_count", "Minimum item count"),
        min_weight_g=whole("min_weight_g", "Minimum weight, g"),
        min_distance_m=whole("min_distance_m", "Minimum distance, m"),
        out_of_range=bool(form.get("out_of_range")),
        cost=amount("cost", "Cost"),
    )


ROW_DONE = {
    "add": N_("The cost row was added."),
    "update": N_("The cost row was saved."),
    "remove": N_("The cost row was removed."),
    "up": N_("The cost row was moved up."),
    "down": N_("The cost row was moved down."),
}


class ShippingMethodView(RuleTableView):
    # The cost rows one per line (sqladmin's compact list runs them together in brackets).
    show_compact_lists = False
    details_template = "postdesk/shipping_method_details.html"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.column_formatters_detail = {**cls.column_formatters_detail,
                                        "rows": cls.cost_rows}
        # The rows have their own card on the page, where they are edited.
        cls.column_details_list = [c for c in cls.column_details_list if c != "rows"]

    async def details_context(self, request: Request) -> dict[str, Any]:
        context = await super().details_context(request)
        context["can_edit_rows"] = self.has_permission(request, "edit")
        lang = get_language()
        formats = summary_formats(lang)  # the summaries' numbers as the reader writes them
        context["row_summary"] = lambda row: summarize_shipping_row(
            _row(row), gettext=gettext, formats=formats)
        context["local_digits"] = lambda number: _digits(str(number), lang)  # a position
        context["base_summary_of"] = lambda method: summarize_base_rule(
            _row(method), gettext=gettext, formats=formats)
        context["amount_text"] = amount_as_written
        return context

    @expose("/rows/{pk:int}", methods=["POST"])
    async def edit_rows(self, request: Request) -> Response:
        """One change to the method's cost rows (add, update, remove, up, down), through
        ``services.shipping_rows`` in one transaction with the method's version checked."""
        require_actor()
        if not self.has_permission(request, "edit"):
            raise HTTPException(status_code=403)
        method_id = int(request.path_params["pk"])
        form = await request.form()
        operation = str(form.get("operation") or "")
        if operation not in ROW_OPERATIONS:
            raise HTTPException(status_code=400)
        url = str(request.url_for("admin:details", identity=self.identity, pk=method_id))
        try:
            version = int(_typed(form.get("version")))
            row_id = int(_typed(form.get("row_id")) or 0)
        except ValueError as exc:
            raise HTTPException(status_code=400) from exc
        try:
            values = row_values(form) if operation in ("add", "update") else None

            def work(session: Session) -> None:
                if operation == "add":
                    shipping_rows.add_row(session, method_id, version, values)  # type: ignore[arg-type]
                elif operation == "update":
                    shipping_rows.update_row(session, method_id, version, row_id, values)  # type: ignore[arg-type]
                elif operation == "remove":
                    shipping_rows.remove_row(session, method_id, version, row_id)
                else:
                    shipping_rows.move_row(session, method_id, version, row_id, operation)  # type: ignore[arg-type]

            await run_in_transaction(self.session_maker, work)
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
            return RedirectResponse(url + "#cost-rows", status_code=303)
        except StaleDataError:
            flash(request, self.conflict_message(), category="danger")
            return RedirectResponse(url + "#cost-rows", status_code=303)
        flash(request, gettext(ROW_DONE[operation]), category="success")
        return RedirectResponse(url + "#cost-rows", status_code=303)

    @classmethod
    def summary(cls, model: Any) -> str:
        rows = _loaded(model, "rows") or ()
        return summarize_shipping_method(_row(model), [_row(r) for r in rows], gettext=gettext,
                                         formats=reader_formats())

    @staticmethod
    def cost_rows(model: Any, _attr: Any) -> list[Markup]:
        """The detail page's cost rows in the order they are tried, each as its position and
        what it says ("1. cart ≥ 100000 → 3500"); each links to the row. The list is in the
        relationship's order (position, id), the order sqladmin pairs links with. Amounts go
        without the currency, as in the method's summary: the page shows it once, and a code
        beside a number is reordered in a right-to-left line."""
        formats = reader_formats()
        return [
            Markup("{}. {}").format(formats.number(Decimal(row.position or 0)),
                                    summarize_shipping_row(_row(row), gettext=gettext,
                                                           formats=formats))
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
        return summarize_shipping_row(_row(model), gettext=gettext, formats=reader_formats())

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
        return summarize_payment_method(_row(model), gettext=gettext, formats=reader_formats())

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return check_payment_method(fields)


class GatewayRulesView(RuleTableView, GatewayView):
    """The gateway's certificate handling (``GatewayView``) plus the rate and rounding
    checks."""

    summary_column = ""

    def check(self, fields: dict[str, Any], model: Any, is_created: bool) -> list[Message]:
        return check_gateway(fields)
