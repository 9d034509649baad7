"""Checks and readable summaries of the rule tables' rows (R-RULE-1..6).

Pure: a mapping of a row's fields in (column name -> value, as the admin form or the table
holds them), a list of ``Message`` out; nothing here reads a database or a request. An empty
list means the row may be saved. Every message says what is wrong and what to do, as an
English template marked with ``N_`` and rendered in the reader's language by the caller
(``message.render(gettext)``).

The summaries are one short line a person reads at a glance ("cart ≥ 100000 → 3500"). Their
words go through the ``gettext`` given (the identity unless told), and their numbers and dates
through the ``formats`` given (``Formats``; ``PLAIN`` unless told: Latin digits as typed, ISO
dates), so the admin shows them in the reader's language, digits and calendar. Only the
numbers and dates a summary writes itself are formatted: a discount code (``WELCOME10``), a
group's or customer's name stays exactly as written.

Conventions (the same as ``rules.pricing``): a ``None`` or zero condition is ignored; a
discount's code is empty for an automatic discount; choices are compared by their stored codes
(``"percent"``, ``"amount"``, ``"customer"``, ``"group"``, ``"everyone"``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rules.workflow import N_, Message

Fields = Mapping[str, Any]
Translate = Callable[[str], str]

HUNDRED = Decimal(100)


def _same(text: str) -> str:
    return text


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _decimal(value)
    return None if number is None else int(number)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _code(value: Any) -> str:
    """A choice's stored code (an enum member or its value)."""
    return _text(getattr(value, "value", value))


def _set(value: Decimal | int | None) -> bool:
    return value is not None and value != 0


def plain_number(number: Decimal) -> str:
    """A number as typed, without trailing zeros: 100000.0000 -> "100000", 2.50 -> "2.5"."""
    text = f"{number.normalize():f}"
    return "0" if text in ("-0", "0.0") else text


def iso_date(moment: datetime) -> str:
    """The day of ``moment`` as stored (UTC), year-month-day: "2026-12-31"."""
    return moment.date().isoformat()


def iso_minute(moment: datetime) -> str:
    """``moment`` as stored (UTC) to the minute: "2026-12-31 10:00"."""
    return moment.strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Formats:
    """How a summary writes its numbers (amounts, percents, counts, grams, metres) and dates.

    ``number`` gets a ``Decimal`` (an integer count as one too) and returns its text;
    ``date`` gets an aware UTC moment and returns its day, ``minute`` the moment to the minute
    (the checks' messages name the times a person typed). The default, ``PLAIN``, is
    ``plain_number``, ``iso_date`` and ``iso_minute``: what was written before there were
    formats.
    """

    number: Callable[[Decimal], str] = plain_number
    date: Callable[[datetime], str] = iso_date
    minute: Callable[[datetime], str] = iso_minute


PLAIN = Formats()


def amount_text(value: Any, currency: str | None = None, formats: Formats = PLAIN) -> str:
    """An amount without trailing zeros: 100000.0000 -> "100000", 2.50 -> "2.5" (written by
    ``formats.number``), then the currency code as it is; "" for no amount."""
    number = _decimal(value)
    if number is None:
        return ""
    text = formats.number(number)
    return f"{text} {currency}" if currency else text


def _count(value: int | None, formats: Formats) -> str:
    """A count, weight or distance (a condition already known to be set)."""
    return formats.number(Decimal(value or 0))


def _msg(text: str, **params: Any) -> Message:
    return Message(text, {k: str(v) for k, v in params.items()})


def _not_negative(fields: Fields, checks: Iterable[tuple[str, str]]) -> list[Message]:
    found = []
    for name, text in checks:
        value = _decimal(fields.get(name))
        if value is not None and value < 0:
            found.append(_msg(text, value=amount_text(value)))
    return found


def _aware(when: datetime, like: datetime) -> datetime:
    """A naive datetime (as a form gives it) read in ``like``'s time zone."""
    if when.tzinfo is None and like.tzinfo is not None:
        return when.replace(tzinfo=like.tzinfo)
    if when.tzinfo is not None and like.tzinfo is None:
        return when.replace(tzinfo=None)
    return when


# --- checks -------------------------------------------------------------------------------


def check_discount(fields: Fields, now: datetime | None = None,
                   formats: Formats = PLAIN) -> list[Message]:
    """Why a discount row cannot be saved (R-RULE-1); empty when it can. Times in the messages
    are written by ``formats.minute`` (the reader's calendar and digits).

    ``now`` enables the expiry check: give it when the expiry is being set or changed, so an
    old, expired discount can still be edited (for instance to deactivate it). A start
    (``starts_at``) must be before the expiry when both are set; a start in the past is
    allowed (the discount is simply in force).
    """
    found: list[Message] = []
    kind = _code(fields.get("kind")) or "percent"
    value = _decimal(fields.get("value"))
    if value is not None and value < 0:
        found.append(_msg(N_("The discount value cannot be negative (%(value)s was entered): "
                             "enter the amount or percent to take off."),
                          value=amount_text(value)))
    elif kind == "percent" and value is not None and value > HUNDRED:
        found.append(_msg(N_("A percent discount cannot be more than 100%% (%(value)s%% was "
                             "entered): enter a percent from 0 to 100."),
                          value=amount_text(value)))
    elif kind == "amount" and not _set(value):
        found.append(_msg(N_("A fixed-amount discount needs a value: enter the amount to take "
                             "off the order.")))

    found += _not_negative(fields, (
        ("min_cart_price", N_("The minimum cart price cannot be negative (%(value)s was "
                              "entered): enter 0 or leave it empty for no minimum.")),
        ("min_item_count", N_("The minimum item count cannot be negative (%(value)s was "
                              "entered): enter 0 or leave it empty for no minimum.")),
        ("total_uses_allowed", N_("The total uses allowed cannot be negative (%(value)s was "
                                  "entered): leave it empty for no limit.")),
        ("uses_per_customer", N_("The uses per customer cannot be negative (%(value)s was "
                                 "entered): leave it empty for no limit.")),
    ))

    expires_at = fields.get("expires_at")
    starts_at = fields.get("starts_at")
    if isinstance(starts_at, datetime) and isinstance(expires_at, datetime) \
            and _aware(starts_at, expires_at) >= expires_at:
        found.append(_msg(N_("The discount would start (%(start)s) no earlier than it expires "
                             "(%(end)s): choose a start before the expiry, or leave the start "
                             "empty for a discount in force at once."),
                          start=formats.minute(starts_at), end=formats.minute(expires_at)))
    if now is not None and isinstance(expires_at, datetime) and _aware(expires_at, now) <= now:
        found.append(_msg(N_("The expiry date %(date)s is already past: choose a date in the "
                             "future, or leave it empty for a discount that does not expire."),
                          date=formats.minute(expires_at)))

    target = _code(fields.get("target")) or "everyone"
    if target == "customer":
        if fields.get("customer_id") in (None, ""):
            found.append(_msg(N_("The discount is for one customer, but no customer is chosen: "
                                 "choose the customer, or change the target.")))
        if _set(_int(fields.get("uses_per_customer"))):
            found.append(_msg(N_("A limit of uses per customer does not apply to a discount "
                                 "for a single customer: leave “Uses per customer” empty and "
                                 "set “Total uses allowed” instead.")))
    elif target == "group" and fields.get("customer_group_id") in (None, ""):
        found.append(_msg(N_("The discount is for a customer group, but no group is chosen: "
                             "choose the group, or change the target.")))

    code = _text(fields.get("code"))
    automatic = bool(fields.get("automatic"))
    if code and automatic:
        found.append(_msg(N_("A discount is either automatic or used with a code, not both: "
                             "clear the code or untick “Automatic”.")))
    elif not code and not automatic:
        found.append(_msg(N_("Enter the code customers type, or tick “Automatic” for a "
                             "discount applied without a code.")))
    return found


def check_shipping_method(fields: Fields) -> list[Message]:
    """Why a shipping method row cannot be saved (R-RULE-3); empty when it can."""
    found = _not_negative(fields, (
        ("base_cost", N_("The base cost cannot be negative (%(value)s was entered): enter the "
                         "amount per order, the price per gram or the percent of the cart.")),
        ("max_weight_g", N_("The maximum weight cannot be negative (%(value)s g was entered): "
                            "enter the weight in grams, or leave it empty for no limit.")),
    ))
    if _code(fields.get("cost_rule")) == "percent":
        base = _decimal(fields.get("base_cost"))
        if base is not None and base > HUNDRED:
            found.append(_msg(N_("A percent-of-the-cart cost cannot be more than 100%% "
                                 "(%(value)s%% was entered): enter a percent from 0 to 100."),
                              value=amount_text(base)))
    return found


def check_shipping_row(fields: Fields) -> list[Message]:
    """Why a variable-cost row cannot be saved (R-RULE-3); empty when it can."""
    return _not_negative(fields, (
        ("position", N_("The position cannot be negative (%(value)s was entered): rows are "
                        "tried from the smallest position up.")),
        ("min_cart_price", N_("The minimum cart price cannot be negative (%(value)s was "
                              "entered): enter 0 to ignore the cart price.")),
        ("min_item_count", N_("The minimum item count cannot be negative (%(value)s was "
                              "entered): enter 0 to ignore the item count.")),
        ("min_weight_g", N_("The minimum weight cannot be negative (%(value)s g was entered): "
                            "enter 0 to ignore the weight.")),
        ("min_distance_m", N_("The minimum distance cannot be negative (%(value)s m was "
                              "entered): enter 0 to ignore the distance.")),
        ("cost", N_("The cost cannot be negative (%(value)s was entered): enter what the "
                    "customer pays for delivery, or 0 for free delivery.")),
    ))


def _tax_percent(fields: Fields) -> list[Message]:
    tax = _decimal(fields.get("tax_percent"))
    if tax is not None and not (0 <= tax <= HUNDRED):
        return [_msg(N_("The tax percent must be from 0 to 100 (%(value)s was entered)."),
                     value=amount_text(tax))]
    return []


def check_payment_method(fields: Fields) -> list[Message]:
    """Why a payment method row cannot be saved (R-RULE-5); empty when it can."""
    found: list[Message] = []
    value = _decimal(fields.get("discount_value"))
    if value is not None and value < 0:
        found.append(_msg(N_("The payment discount cannot be negative (%(value)s was "
                             "entered): enter 0 for no discount."), value=amount_text(value)))
    elif (_code(fields.get("discount_kind")) or "percent") == "percent" and value is not None \
            and value > HUNDRED:
        found.append(_msg(N_("A percent payment discount cannot be more than 100%% "
                             "(%(value)s%% was entered): enter a percent from 0 to 100."),
                          value=amount_text(value)))
    return found + _tax_percent(fields)


def check_gateway(fields: Fields) -> list[Message]:
    """Why a payment gateway row cannot be saved (R-RULE-6); empty when it can."""
    found: list[Message] = []
    rate = _decimal(fields.get("conversion_rate"))
    if rate is None or rate <= 0:
        found.append(_msg(N_("The conversion rate must be greater than zero (%(value)s was "
                             "entered): enter how many gateway currency units one system "
                             "currency unit is, e.g. 100000 to multiply dollars into rials."),
                          value=amount_text(rate) or "—"))
    found += _not_negative(fields, (
        ("rounding_digits", N_("The rounding digits cannot be negative (%(value)s was entered): "
                               "enter 0 for no rounding, 2 to round to hundreds.")),
        ("decimals", N_("The decimals cannot be negative (%(value)s was entered): enter 0 for "
                        "whole amounts, 2 for cents.")),
    ))
    fee = _decimal(fields.get("fee_percent"))
    if fee is not None and not (0 <= fee <= HUNDRED):
        found.append(_msg(N_("The gateway fee percent must be from 0 to 100 (%(value)s was "
                             "entered)."), value=amount_text(fee)))
    return found


# --- summaries ----------------------------------------------------------------------------


def _conditions(row: Fields, currency: str | None, _: Translate,
                formats: Formats) -> list[str]:
    parts = []
    price = _decimal(row.get("min_cart_price"))
    if _set(price):
        parts.append(_("cart ≥ %(amount)s") % {"amount": amount_text(price, currency, formats)})
    count = _int(row.get("min_item_count"))
    if _set(count):
        parts.append(_("≥ %(count)s items") % {"count": _count(count, formats)})
    weight = _int(row.get("min_weight_g"))
    if _set(weight):
        parts.append(_("≥ %(weight)s g") % {"weight": _count(weight, formats)})
    distance = _int(row.get("min_distance_m"))
    if _set(distance):
        parts.append(_("≥ %(distance)s m") % {"distance": _count(distance, formats)})
    return parts


def summarize_shipping_row(row: Fields, currency: str | None = None,
                           gettext: Translate = _same, formats: Formats = PLAIN) -> str:
    """One cost row as "cart ≥ 100000 → 3500", "≥ 10000 m → 65000",
    "cart ≥ 5000 → not offered"; conditions joined with " and "."""
    _ = gettext
    conditions = _conditions(row, currency, _, formats)
    when = _(" and ").join(conditions) if conditions else _("any order")
    if row.get("out_of_range"):
        outcome = _("not offered")
    else:
        outcome = amount_text(row.get("cost") or 0, currency, formats)
    return f"{when} → {outcome}"


def summarize_base_rule(method: Fields, currency: str | None = None,
                        gettext: Translate = _same, formats: Formats = PLAIN) -> str:
    """A shipping method's base rule: "1000", "200 per g", "5% of the cart"."""
    _ = gettext
    rule = _code(method.get("cost_rule")) or "fixed"
    base = method.get("base_cost") or 0
    if rule == "by_weight":
        return _("%(amount)s per g") % {"amount": amount_text(base, currency, formats)}
    if rule == "percent":
        return _("%(percent)s%% of the cart") % {"percent": amount_text(base, None, formats)}
    return amount_text(base, currency, formats)


def summarize_shipping_method(method: Fields, rows: Iterable[Fields] = (),
                              currency: str | None = None, gettext: Translate = _same,
                              formats: Formats = PLAIN) -> str:
    """The rows in order, then the base rule: "cart ≥ 100000 → 3500; otherwise 200 per g"."""
    _ = gettext
    ordered = sorted(rows, key=lambda r: (_int(r.get("position")) or 0, _int(r.get("id")) or 0))
    base = summarize_base_rule(method, currency, gettext, formats)
    if not ordered:
        return base
    parts = [summarize_shipping_row(r, currency, gettext, formats) for r in ordered]
    return "; ".join([*parts, _("otherwise %(rule)s") % {"rule": base}])


def summarize_discount(fields: Fields, currency: str | None = None, *,
                       group: str | None = None, customer: str | None = None,
                       products: int = 0, gettext: Translate = _same,
                       formats: Formats = PLAIN) -> str:
    """A discount as "10% off, automatic, group 100-200" or "5 off with code WELCOME10,
    cart ≥ 50, from 2026-12-01 until 2026-12-31". ``group`` and ``customer`` are the names of
    the target, ``products`` how many products it is limited to. The code and the names are
    written as they are; a customer or group shown by its id is an id, not a number to
    format."""
    _ = gettext
    value = fields.get("value") or 0
    if (_code(fields.get("kind")) or "percent") == "percent":
        head = _("%(percent)s%% off") % {"percent": amount_text(value, None, formats)}
    else:
        head = _("%(amount)s off") % {"amount": amount_text(value, currency, formats)}
    code = _text(fields.get("code"))
    if code:
        head += " " + _("with code %(code)s") % {"code": code}
    parts = [head]
    if not code:
        parts.append(_("automatic"))
    target = _code(fields.get("target")) or "everyone"
    if target == "group":
        parts.append(_("group %(group)s") % {"group": group or fields.get("customer_group_id")
                                             or "—"})
    elif target == "customer":
        parts.append(_("customer %(customer)s") % {"customer": customer
                                                   or fields.get("customer_id") or "—"})
    channel = _code(fields.get("channel"))
    if channel == "web":
        parts.append(_("website only"))
    elif channel == "app":
        parts.append(_("app only"))
    if products:
        parts.append(_("on %(count)s products") % {"count": _count(products, formats)})
    parts += _conditions(fields, currency, _, formats)
    uses = _int(fields.get("total_uses_allowed"))
    if _set(uses):
        parts.append(_("at most %(count)s uses") % {"count": _count(uses, formats)})
    per_customer = _int(fields.get("uses_per_customer"))
    if _set(per_customer):
        parts.append(_("%(count)s per customer") % {"count": _count(per_customer, formats)})
    starts_at = fields.get("starts_at")
    if isinstance(starts_at, datetime):
        parts.append(_("from %(date)s") % {"date": formats.date(starts_at)})
    expires_at = fields.get("expires_at")
    if isinstance(expires_at, datetime):
        parts.append(_("until %(date)s") % {"date": formats.date(expires_at)})
    return ", ".join(parts)


def summarize_payment_method(fields: Fields, currency: str | None = None,
                             gettext: Translate = _same, formats: Formats = PLAIN) -> str:
    """A payment method's adjustment: "2% off", "5 off, tax 9%", or "" when none."""
    _ = gettext
    parts = []
    value = _decimal(fields.get("discount_value"))
    if _set(value):
        if (_code(fields.get("discount_kind")) or "percent") == "percent":
            parts.append(_("%(percent)s%% off") % {"percent": amount_text(value, None, formats)})
        else:
            parts.append(_("%(amount)s off") % {"amount": amount_text(value, currency,
                                                                        formats)})
    tax = _decimal(fields.get("tax_percent"))
    if _set(tax):
        parts.append(_("tax %(percent)s%%") % {"percent": amount_text(tax, None, formats)})
    return ", ".join(parts)
