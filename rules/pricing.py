"""The pricing engine: a cart and the shop's rule tables in, a full breakdown out (R-RULE-1..6).

Pure: frozen dataclasses in, frozen dataclasses out; nothing here reads a database or a request.
The dataclasses mirror the admin's tables field by field (``schema.discounts``,
``schema.shipping``, ``schema.payments``) so a service maps rows to them one to one; the only
difference is that an automatic discount is one whose ``code`` is ``None``. Every reason for a
person is a ``Message`` to be rendered in that person's language.

Money
    Every amount is ``Decimal``. Amounts in the system currency are quantized to
    ``QuoteRequest.money_decimals`` places (2 unless told) with ``ROUND_HALF_UP``: line totals,
    each discount, the shipping cost, the payment discount and the tax are quantized as they are
    computed, so the breakdown adds up exactly. The gateway amount is quantized to the gateway's
    own ``decimals``.

Cart
    ``CartLine.weight_g`` is the weight of one unit; the cart weight is the sum of weight ×
    quantity and the item count the sum of the quantities.

Discount conditions (R-RULE-1)
    A ``None`` or zero condition (minimum price, minimum count, total uses, uses per customer)
    is ignored. A discount is in force from ``starts_at`` (included; empty: at once) until
    ``expires_at`` (excluded; empty: no end): it is skipped as scheduled while
    ``now < starts_at`` and as expired once ``now >= expires_at`` (give all three
    timezone-aware, in UTC).
    Code discounts take part only when their code equals the entered code (trimmed, case-folded);
    other codes are never listed, so a quote never reveals them; an entered code no discount has
    is listed as skipped with ``rule_id=None``. The per-customer limit counts only for a
    logged-in customer and never when the target is a single customer. Without products the
    minimum price and count apply to the whole cart; with products they apply to each product
    line, and the discount applies to the lines that meet them. Minimums are checked on the
    undiscounted amounts.

Stacking policy (Magento/Saleor-like, deterministic)
    1. Every eligible discount, automatic or by code, is ordered by ``priority`` ascending
       (lower is applied first), then by larger benefit on the undiscounted cart, then by id.
    2. Each one is computed on what is still left of the lines it applies to, after the
       discounts before it; so no discount exceeds what it applies to, and the total discount
       never exceeds the subtotal.
    3. A discount with ``combinable=False`` is skipped if any discount was already applied; once
       applied, it stops every discount after it.
    4. A percent discount takes that percent of what is left; a fixed amount is given once per
       order, capped at what is left.
    5. Every discount considered appears in ``Quote.applied`` or ``Quote.skipped`` with a reason.

After the cart discounts (R-RULE-3..6)
    The cart price the shipping rows and the percent rule see is the subtotal less the cart
    discounts. Rows are tried by ``position`` (then given order); the first whose every non-zero
    condition holds wins: its cost applies, or, if it is out of range, the method is not
    offered. A row with a minimum distance never matches when the distance is unknown. When no
    row matches the base rule applies: a fixed amount, ``base_cost`` per gram of cart weight, or
    ``base_cost`` percent of the cart price. A method limited to categories is offered only when
    every line's category is one of them; a cart heavier than a non-zero ``max_weight_g`` is
    refused.

    The payment-method discount applies to the subtotal less the cart discounts; the tax is
    ``tax_percent`` of what remains after that discount. ``payable`` = subtotal − discounts −
    payment discount + tax + shipping (postpaid shipping is shown but paid on delivery, so not
    included), never negative. ``balance`` = payable − wallet − paid, never negative; the
    gateway is sent the balance: converted by multiplying or dividing by the rate, rounded to
    ``rounding_digits`` (2 → to hundreds: 1223 → 1200, 1288 → 1300, half up; 0 → not rounded),
    raised by ``fee_percent`` and quantized to the gateway's ``decimals``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache
from typing import Literal

from rules.workflow import N_, Message

ZERO = Decimal(0)
HUNDRED = Decimal(100)

DiscountKind = Literal["percent", "amount"]
Channel = Literal["web", "app"]


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartLine:
    product_id: int
    category_id: int | None
    unit_price: Decimal
    quantity: int
    weight_g: int = 0  # of one unit


@dataclass(frozen=True)
class Customer:
    id: int | None = None
    group_id: int | None = None
    logged_in: bool = False
    uses: Mapping[int, int] = field(default_factory=dict)  # discount id -> times used


@dataclass(frozen=True)
class DiscountRule:
    id: int
    name: str
    kind: DiscountKind
    value: Decimal
    code: str | None = None  # None: automatic
    starts_at: datetime | None = None  # None: in force at once
    expires_at: datetime | None = None
    total_uses_allowed: int | None = None
    times_used: int = 0
    uses_per_customer: int | None = None
    min_cart_price: Decimal | None = None
    min_item_count: int | None = None
    target: Literal["everyone", "group", "customer"] = "everyone"
    customer_id: int | None = None
    customer_group_id: int | None = None
    channel: Literal["web", "app", "both"] = "both"
    product_ids: frozenset[int] = frozenset()  # empty: the whole cart
    priority: int = 0
    combinable: bool = False
    active: bool = True

    @property
    def automatic(self) -> bool:
        return self.code is None


@dataclass(frozen=True)
class ShippingRow:
    position: int
    cost: Decimal
    min_cart_price: Decimal = ZERO
    min_item_count: int = 0
    min_weight_g: int = 0
    min_distance_m: int = 0
    out_of_range: bool = False


@dataclass(frozen=True)
class ShippingMethod:
    id: int
    name: str
    cost_rule: Literal["fixed", "by_weight", "percent"]
    base_cost: Decimal
    active: bool = True
    max_weight_g: int | None = None
    category_ids: frozenset[int] = frozenset()  # empty: every category
    postpaid: bool = False
    rows: tuple[ShippingRow, ...] = ()


@dataclass(frozen=True)
class PaymentMethod:
    id: int
    name: str
    kind: str  # online, bank_slip, cash_on_delivery, cheque, deferred
    active: bool = True
    discount_kind: DiscountKind | None = None
    discount_value: Decimal = ZERO
    tax_percent: Decimal = ZERO


@dataclass(frozen=True)
class Gateway:
    currency: str
    conversion_rate: Decimal = Decimal(1)
    conversion_op: Literal["multiply", "divide"] = "multiply"
    rounding_digits: int = 0
    decimals: int = 0
    fee_percent: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.conversion_rate <= 0:
            raise ValueError("the gateway's conversion rate must be positive")
        if self.rounding_digits < 0 or self.decimals < 0:
            raise ValueError("the gateway's rounding digits and decimals cannot be negative")


@dataclass(frozen=True)
class QuoteRequest:
    lines: tuple[CartLine, ...]
    customer: Customer
    channel: Channel
    now: datetime
    currency: str
    shipping_method: ShippingMethod | None = None
    payment_method: PaymentMethod | None = None
    discount_code: str | None = None
    distance_m: int | None = None
    discounts: tuple[DiscountRule, ...] = ()
    gateway: Gateway | None = None
    wallet: Decimal = ZERO
    paid: Decimal = ZERO
    money_decimals: int = 2


# --- outputs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineQuote:
    product_id: int
    category_id: int | None
    unit_price: Decimal
    quantity: int
    weight_g: int
    total: Decimal  # unit price × quantity
    discount: Decimal  # this line's share of the cart discounts
    net: Decimal  # total − discount


@dataclass(frozen=True)
class AppliedDiscount:
    rule_id: int
    name: str
    source: Literal["automatic", "code"]
    amount: Decimal
    base: Decimal  # what was left of the lines it applies to, before it
    applies_to: tuple[int, ...]  # the product ids it was applied to; empty: the whole cart


@dataclass(frozen=True)
class SkippedDiscount:
    rule_id: int | None  # None: an entered code no discount has
    name: str
    reason: Message


@dataclass(frozen=True)
class ShippingQuote:
    method_id: int
    available: bool
    cost: Decimal  # 0 when not available
    row_position: int | None  # the row that decided; None for the base rule or a refusal
    postpaid: bool = False
    reason: Message | None = None


@dataclass(frozen=True)
class PaymentQuote:
    method_id: int
    available: bool
    discount: Decimal
    tax: Decimal
    reason: Message | None = None


@dataclass(frozen=True)
class GatewayQuote:
    currency: str
    converted: Decimal  # before rounding
    rounded: Decimal
    fee: Decimal
    amount: Decimal  # what the gateway is asked to charge


@dataclass(frozen=True)
class Quote:
    currency: str
    lines: tuple[LineQuote, ...]
    subtotal: Decimal
    applied: tuple[AppliedDiscount, ...]
    skipped: tuple[SkippedDiscount, ...]
    discount_total: Decimal
    shipping: ShippingQuote | None
    payment: PaymentQuote | None
    payment_discount: Decimal
    tax: Decimal
    payable: Decimal
    wallet: Decimal
    paid: Decimal
    balance: Decimal
    gateway: GatewayQuote | None

    @property
    def gateway_amount(self) -> Decimal | None:
        return None if self.gateway is None else self.gateway.amount


# --- helpers ------------------------------------------------------------------------------


@cache
def _grid(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def quantize(amount: Decimal, decimals: int) -> Decimal:
    """``amount`` to ``decimals`` places, half up."""
    return amount.quantize(_grid(decimals), rounding=ROUND_HALF_UP)


def round_to_digits(amount: Decimal, digits: int) -> Decimal:
    """Round to 10**digits, half up (2: 1223 -> 1200, 1288 -> 1300); 0 leaves it as it is."""
    if digits <= 0:
        return amount
    step = Decimal(1).scaleb(digits)
    return (amount / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step


def _set(value: int | Decimal | None) -> bool:
    """A condition counts only when it is neither None nor zero."""
    return value is not None and value != 0


def _allocate(amount: Decimal, caps: Sequence[Decimal], decimals: int) -> list[Decimal]:
    """Split ``amount`` (0 <= amount <= sum(caps)) over ``caps`` in proportion, every share on
    the money grid, ``0 <= share <= cap``, shares summing exactly to ``amount``."""
    total = sum(caps, ZERO)
    if total <= 0 or amount <= 0:
        return [ZERO for _ in caps]
    shares = [min(cap, quantize(amount * cap / total, decimals)) for cap in caps]
    diff = amount - sum(shares, ZERO)
    if diff > 0:
        for i, cap in enumerate(caps):
            add = min(diff, cap - shares[i])
            shares[i] += add
            diff -= add
    elif diff < 0:
        for i in reversed(range(len(shares))):
            take = min(-diff, shares[i])
            shares[i] -= take
            diff += take
    return shares


def _percent(base: Decimal, percent: Decimal, decimals: int) -> Decimal:
    return quantize(base * percent / HUNDRED, decimals)


def _benefit(kind: str, value: Decimal, base: Decimal, decimals: int) -> Decimal:
    """What a discount of ``kind`` and ``value`` takes off ``base``, never more than base."""
    if base <= 0 or value <= 0:
        return ZERO
    amount = _percent(base, value, decimals) if kind == "percent" else quantize(value, decimals)
    return min(amount, base)


# --- discounts ----------------------------------------------------------------------------


def _norm_code(code: str | None) -> str:
    return (code or "").strip().casefold()


def _skip(rule: DiscountRule, text: str, **params: object) -> SkippedDiscount:
    return _skip_record(rule.id, rule.name, text, tuple(params.items()))


@lru_cache(maxsize=4096)
def _skip_record(rule_id: int, name: str, text: str,
                 params: tuple[tuple[str, object], ...]) -> SkippedDiscount:
    """The same rules are skipped for the same reasons quote after quote (another channel,
    another group, scheduled, expired); the record is immutable, so it is built once. Building
    them was a third of a quote's time."""
    shown = {key: value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime)
             else str(value) for key, value in params}
    return SkippedDiscount(rule_id, name, Message(text, shown))


def _eligibility(
    rule: DiscountRule, req: QuoteRequest, totals: Sequence[Decimal], subtotal: Decimal,
    items: int,
) -> SkippedDiscount | list[int]:
    """Why ``rule`` cannot apply, or the indexes of the cart lines it applies to."""
    if not rule.active:
        return _skip(rule, N_("The discount is not active."))
    if rule.starts_at is not None and req.now < rule.starts_at:
        return _skip(rule, N_("The discount starts on %(date)s."),
                     date=rule.starts_at)
    if rule.expires_at is not None and req.now >= rule.expires_at:
        return _skip(rule, N_("The discount expired on %(date)s."),
                     date=rule.expires_at)
    if rule.total_uses_allowed and rule.times_used >= rule.total_uses_allowed:
        return _skip(rule, N_("The discount is used up: all %(limit)s uses are taken."),
                     limit=str(rule.total_uses_allowed))
    if rule.channel == "web" and req.channel != "web":
        return _skip(rule, N_("The discount is only for orders placed on the website."))
    if rule.channel == "app" and req.channel != "app":
        return _skip(rule, N_("The discount is only for orders placed in the app."))
    customer = req.customer
    if rule.target == "customer" and (customer.id is None or customer.id != rule.customer_id):
        return _skip(rule, N_("The discount is for another customer."))
    if rule.target == "group" and (
        customer.group_id is None or customer.group_id != rule.customer_group_id
    ):
        return _skip(rule, N_("The discount is for another customer group."))
    if (
        rule.uses_per_customer
        and rule.target != "customer"
        and customer.logged_in
        and customer.uses.get(rule.id, 0) >= rule.uses_per_customer  # type: ignore[operator]
    ):
        return _skip(rule, N_("The customer has already used this discount the %(limit)s "
                              "times allowed per customer."),
                     limit=str(rule.uses_per_customer))

    min_price = rule.min_cart_price or None
    min_count = rule.min_item_count or None
    if not rule.product_ids:
        if min_price is not None and subtotal < min_price:
            return _skip(rule, N_("The discount needs a cart of at least %(min)s."),
                         min=str(min_price))
        if min_count is not None and items < min_count:
            return _skip(rule, N_("The discount needs at least %(count)s items in the cart."),
                         count=str(min_count))
        return list(range(len(totals)))

    candidates = [i for i, line in enumerate(req.lines) if line.product_id in rule.product_ids]
    if not candidates:
        return _skip(rule, N_("None of the discount's products is in the cart."))
    chosen = [
        i for i in candidates
        if (min_price is None or totals[i] >= min_price)
        and (min_count is None or req.lines[i].quantity >= min_count)
    ]
    if chosen:
        return chosen
    if min_price is not None and totals[candidates[0]] < min_price:
        return _skip(rule, N_("The discount needs a line of one of its products worth at "
                              "least %(min)s."), min=str(min_price))
    return _skip(rule, N_("The discount needs at least %(count)s of one of its products."),
                 count=str(min_count))


def _discounts(
    req: QuoteRequest, totals: list[Decimal], subtotal: Decimal, items: int, dec: int,
) -> tuple[list[Decimal], list[AppliedDiscount], list[SkippedDiscount]]:
    """Apply the discounts by the stacking policy; return each line's discount and the
    applied and skipped discounts."""
    entered = _norm_code(req.discount_code)
    skipped: list[SkippedDiscount] = []
    eligible: list[tuple[tuple[int, Decimal, int], DiscountRule, list[int]]] = []
    code_known = False
    for rule in req.discounts:
        if rule.code is not None:
            if not entered or rule.code.strip().casefold() != entered:
                continue  # another code: never listed, so a quote does not reveal it
            code_known = True
        outcome = _eligibility(rule, req, totals, subtotal, items)
        if isinstance(outcome, SkippedDiscount):
            skipped.append(outcome)
            continue
        base = sum((totals[i] for i in outcome), ZERO) if rule.product_ids else subtotal
        benefit = _benefit(rule.kind, rule.value, base, dec)
        eligible.append(((rule.priority, -benefit, rule.id), rule, outcome))
    if entered and not code_known:
        skipped.append(SkippedDiscount(
            None, req.discount_code.strip(),  # type: ignore[union-attr]
            Message(N_("No discount has the code %(code)s."),
                    {"code": req.discount_code.strip()})))  # type: ignore[union-attr]

    remaining = list(totals)
    line_discount = [ZERO for _ in totals]
    applied: list[AppliedDiscount] = []
    stopper: DiscountRule | None = None
    for _key, rule, indexes in sorted(eligible, key=lambda e: e[0]):
        if stopper is not None:
            skipped.append(_skip(rule, N_("%(other)s was applied first and does not combine "
                                          "with other discounts."), other=stopper.name))
            continue
        if not rule.combinable and applied:
            skipped.append(_skip(rule, N_("The discount does not combine with others, and "
                                          "%(other)s was already applied."),
                                 other=applied[0].name))
            continue
        base = sum([remaining[i] for i in indexes], ZERO)
        amount = _benefit(rule.kind, rule.value, base, dec)
        if amount <= 0:
            skipped.append(_skip(rule, N_("The discount gives nothing here: its value is zero "
                                          "or nothing is left to discount.")))
            continue
        shares = _allocate(amount, [remaining[i] for i in indexes], dec)
        for i, share in zip(indexes, shares, strict=True):
            remaining[i] -= share
            line_discount[i] += share
        applied.append(AppliedDiscount(
            rule.id, rule.name, "automatic" if rule.automatic else "code", amount, base,
            tuple(sorted({req.lines[i].product_id for i in indexes})) if rule.product_ids
            else (),
        ))
        if not rule.combinable:
            stopper = rule
    return line_discount, applied, skipped


# --- shipping -----------------------------------------------------------------------------


def _row_matches(row: ShippingRow, price: Decimal, items: int, weight: int,
                 distance: int | None) -> bool:
    if _set(row.min_cart_price) and price < row.min_cart_price:
        return False
    if _set(row.min_item_count) and items < row.min_item_count:
        return False
    if _set(row.min_weight_g) and weight < row.min_weight_g:
        return False
    if _set(row.min_distance_m) and (distance is None or distance < row.min_distance_m):
        return False
    return True


def shipping_cost(
    method: ShippingMethod, lines: Sequence[CartLine], cart_price: Decimal,
    distance_m: int | None, decimals: int = 2,
) -> ShippingQuote:
    """What ``method`` charges for a cart worth ``cart_price``, or why it is not offered."""

    def refuse(text: str, row: int | None = None, **params: str) -> ShippingQuote:
        return ShippingQuote(method.id, False, ZERO, row, method.postpaid,
                             Message(text, params))

    if not method.active:
        return refuse(N_("The shipping method is not active."))
    if method.category_ids:
        for line in lines:
            if line.category_id not in method.category_ids:
                return refuse(N_("The shipping method is not offered for the category "
                                 "%(category)s."), category=str(line.category_id or "—"))
    weight = sum(line.weight_g * line.quantity for line in lines)
    items = sum(line.quantity for line in lines)
    if _set(method.max_weight_g) and weight > method.max_weight_g:  # type: ignore[operator]
        return refuse(N_("The cart weighs %(weight)s g, more than the %(max)s g this method "
                         "carries."), weight=str(weight), max=str(method.max_weight_g))
    for row in sorted(method.rows, key=lambda r: r.position):
        if _row_matches(row, cart_price, items, weight, distance_m):
            if row.out_of_range:
                return refuse(N_("The shipping method is not offered for this order: cost row "
                                 "%(position)s marks it out of range."),
                              row.position, position=str(row.position))
            return ShippingQuote(method.id, True, quantize(row.cost, decimals), row.position,
                                 method.postpaid)
    if method.cost_rule == "by_weight":
        cost = method.base_cost * weight
    elif method.cost_rule == "percent":
        cost = cart_price * method.base_cost / HUNDRED
    else:
        cost = method.base_cost
    return ShippingQuote(method.id, True, quantize(cost, decimals), None, method.postpaid)


# --- payment and gateway ------------------------------------------------------------------


def payment_adjustment(method: PaymentMethod, goods: Decimal, decimals: int = 2) -> PaymentQuote:
    """The payment method's discount on ``goods`` and the tax on what remains."""
    if not method.active:
        return PaymentQuote(method.id, False, ZERO, ZERO,
                            Message(N_("The payment method is not active."), {}))
    discount = ZERO
    if method.discount_kind is not None:
        discount = _benefit(method.discount_kind, method.discount_value, goods, decimals)
    tax = ZERO
    if method.tax_percent > 0:
        tax = _percent(goods - discount, method.tax_percent, decimals)
    return PaymentQuote(method.id, True, discount, tax)


def gateway_amount(gateway: Gateway, amount: Decimal) -> GatewayQuote:
    """Convert ``amount`` into the gateway's currency, round it, add the fee (R-RULE-6)."""
    if gateway.conversion_op == "divide":
        converted = amount / gateway.conversion_rate
    else:
        converted = amount * gateway.conversion_rate
    rounded = round_to_digits(converted, gateway.rounding_digits)
    fee = quantize(rounded * gateway.fee_percent / HUNDRED, gateway.decimals)
    total = quantize(rounded, gateway.decimals) + fee
    return GatewayQuote(gateway.currency, converted, rounded, fee, total)


# --- the quote ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscountedCart:
    """The cart after its discounts: the same whatever shipping and payment method is chosen,
    so a quote of many methods computes it once (``quote(req, cart)``)."""

    lines: tuple[LineQuote, ...]
    subtotal: Decimal
    applied: tuple[AppliedDiscount, ...]
    skipped: tuple[SkippedDiscount, ...]
    discount_total: Decimal


def discount_cart(req: QuoteRequest) -> DiscountedCart:
    """The cart lines, subtotal and discounts of ``req``; its methods play no part."""
    dec = req.money_decimals
    totals = [quantize(line.unit_price * line.quantity, dec) for line in req.lines]
    subtotal = sum(totals, ZERO)
    items = sum(line.quantity for line in req.lines)
    line_discount, applied, skipped = _discounts(req, totals, subtotal, items, dec)
    lines = tuple(
        LineQuote(line.product_id, line.category_id, line.unit_price, line.quantity,
                  line.weight_g, total, disc, total - disc)
        for line, total, disc in zip(req.lines, totals, line_discount, strict=True)
    )
    return DiscountedCart(lines, subtotal, tuple(applied), tuple(skipped),
                          sum((a.amount for a in applied), ZERO))


def quote(req: QuoteRequest, cart: DiscountedCart | None = None) -> Quote:
    """The full breakdown of what ``req``'s cart costs; see the module docstring.

    ``cart`` is ``discount_cart`` of a request that differs from ``req`` at most in its
    shipping method, payment method, gateway, wallet and paid amounts; without it, it is
    computed here.
    """
    dec = req.money_decimals
    if cart is None:
        cart = discount_cart(req)
    goods = cart.subtotal - cart.discount_total

    shipping = None
    if req.shipping_method is not None:
        shipping = shipping_cost(req.shipping_method, req.lines, goods, req.distance_m, dec)
    payment = None
    if req.payment_method is not None:
        payment = payment_adjustment(req.payment_method, goods, dec)
    payment_discount = payment.discount if payment else ZERO
    tax = payment.tax if payment else ZERO
    freight = shipping.cost if shipping and shipping.available and not shipping.postpaid else ZERO

    payable = max(goods - payment_discount + tax + freight, ZERO)
    wallet = quantize(req.wallet, dec)
    paid = quantize(req.paid, dec)
    balance = max(payable - wallet - paid, ZERO)
    return Quote(
        currency=req.currency, lines=cart.lines, subtotal=cart.subtotal, applied=cart.applied,
        skipped=cart.skipped, discount_total=cart.discount_total, shipping=shipping,
        payment=payment, payment_discount=payment_discount, tax=tax, payable=payable,
        wallet=wallet, paid=paid, balance=balance,
        gateway=gateway_amount(req.gateway, balance) if req.gateway is not None else None,
    )
