"""The rule tables' checks and readable summaries, as pure functions (R-RULE-1..6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from rules.rule_tables import (
    PLAIN,
    amount_text,
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
from rules.workflow import Message

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GOOD_DISCOUNT = {"name": "Welcome", "kind": "percent", "value": D(10), "code": "WELCOME10",
                 "automatic": False, "target": "everyone"}


def texts(messages: list[Message]) -> list[str]:
    return [str(m) for m in messages]


def one(messages: list[Message], needle: str) -> str:
    found = [t for t in texts(messages) if needle in t]
    assert len(found) == 1, texts(messages)
    return found[0]


# --- discounts ----------------------------------------------------------------------------


def test_a_valid_discount_passes() -> None:
    assert check_discount(GOOD_DISCOUNT, NOW) == []
    automatic = {**GOOD_DISCOUNT, "code": None, "automatic": True, "target": "group",
                 "customer_group_id": 3, "uses_per_customer": 1,
                 "expires_at": NOW + timedelta(days=1)}
    assert check_discount(automatic, NOW) == []
    assert check_discount({**GOOD_DISCOUNT, "kind": "percent", "value": D(100)}) == []


@pytest.mark.parametrize(("changes", "needle"), [
    ({"value": D(150)}, "more than 100% (150% was entered)"),
    ({"value": D(-5)}, "cannot be negative (-5 was entered)"),
    ({"kind": "amount", "value": D(-5)}, "cannot be negative"),
    ({"kind": "amount", "value": None}, "A fixed-amount discount needs a value"),
    ({"kind": "amount", "value": D(0)}, "A fixed-amount discount needs a value"),
    ({"min_cart_price": D(-1)}, "minimum cart price cannot be negative"),
    ({"min_item_count": -2}, "minimum item count cannot be negative"),
    ({"total_uses_allowed": -1}, "total uses allowed cannot be negative"),
    ({"uses_per_customer": -1}, "uses per customer cannot be negative"),
    ({"expires_at": NOW - timedelta(hours=1)}, "is already past"),
    ({"target": "customer", "customer_id": 7, "uses_per_customer": 2},
     "does not apply to a discount for a single customer"),
    ({"target": "customer", "customer_id": None}, "no customer is chosen"),
    ({"target": "group", "customer_group_id": ""}, "no group is chosen"),
    ({"automatic": True}, "either automatic or used with a code, not both"),
    ({"code": "  ", "automatic": False}, "tick “Automatic”"),
])
def test_discount_refusals_explain_themselves(changes: dict, needle: str) -> None:
    one(check_discount({**GOOD_DISCOUNT, **changes}, NOW), needle)


def test_percent_over_100_reads_well_and_translates() -> None:
    [message] = check_discount({**GOOD_DISCOUNT, "value": D("150.0000")})
    assert message.render(lambda s: s) == (
        "A percent discount cannot be more than 100% (150% was entered): enter a percent "
        "from 0 to 100.")
    assert message.render(lambda s: "«" + s + "»").startswith("«A percent")


def test_expiry_is_checked_only_when_now_is_given_and_naive_reads_as_utc() -> None:
    past = {**GOOD_DISCOUNT, "expires_at": NOW - timedelta(days=3)}
    assert check_discount(past) == []  # editing an old discount: not checked
    naive = {**GOOD_DISCOUNT, "expires_at": datetime(2026, 11, 20, 11, 0)}
    one(check_discount(naive, NOW), "2026-11-20 11:00 is already past")
    assert check_discount({**naive, "expires_at": datetime(2026, 11, 21)}, NOW) == []


def test_a_single_customer_target_with_a_customer_and_no_per_customer_limit_passes() -> None:
    ok = {**GOOD_DISCOUNT, "target": "customer", "customer_id": 7, "total_uses_allowed": 1,
          "uses_per_customer": None}
    assert check_discount(ok, NOW) == []
    assert check_discount({**ok, "uses_per_customer": 0}, NOW) == []  # zero = no limit


def test_every_problem_is_reported_at_once() -> None:
    bad = {"kind": "percent", "value": D(150), "target": "customer", "uses_per_customer": 2,
           "code": "", "automatic": False}
    assert len(check_discount(bad, NOW)) == 4


# --- shipping, payment, gateway -----------------------------------------------------------


def test_shipping_method_checks() -> None:
    assert check_shipping_method({"cost_rule": "by_weight", "base_cost": D(200),
                                  "max_weight_g": 30000}) == []
    one(check_shipping_method({"cost_rule": "fixed", "base_cost": D(-1)}),
        "base cost cannot be negative")
    one(check_shipping_method({"cost_rule": "fixed", "base_cost": D(1), "max_weight_g": -5}),
        "maximum weight cannot be negative (-5 g was entered)")
    one(check_shipping_method({"cost_rule": "percent", "base_cost": D(120)}),
        "cannot be more than 100% (120% was entered)")


@pytest.mark.parametrize("field", ["min_cart_price", "min_item_count", "min_weight_g",
                                   "min_distance_m", "cost", "position"])
def test_shipping_row_refuses_negatives(field: str) -> None:
    row = {"position": 1, "min_cart_price": D(0), "cost": D(3500)}
    assert check_shipping_row(row) == []
    [message] = check_shipping_row({**row, field: -1})
    assert "cannot be negative" in str(message)


def test_payment_method_checks() -> None:
    online = {"kind": "online", "discount_kind": "percent", "discount_value": D(2),
              "tax_percent": D(9)}
    assert check_payment_method(online) == []
    assert check_payment_method({**online, "discount_kind": "amount",
                                 "discount_value": D(500)}) == []
    one(check_payment_method({**online, "discount_value": D(101)}), "more than 100%")
    one(check_payment_method({**online, "discount_value": D(-1)}), "cannot be negative")
    one(check_payment_method({**online, "tax_percent": D(-1)}), "tax percent must be from 0")
    one(check_payment_method({**online, "tax_percent": D(101)}), "(101 was entered)")


def test_gateway_checks() -> None:
    gateway = {"conversion_rate": D(100000), "conversion_op": "multiply",
               "rounding_digits": 2, "decimals": 0, "fee_percent": D(1)}
    assert check_gateway(gateway) == []
    one(check_gateway({**gateway, "conversion_rate": D(0)}), "must be greater than zero")
    one(check_gateway({**gateway, "conversion_rate": D(-3)}), "(-3 was entered)")
    one(check_gateway({**gateway, "conversion_rate": None}), "(— was entered)")
    one(check_gateway({**gateway, "rounding_digits": -1}), "rounding digits cannot be negative")
    one(check_gateway({**gateway, "decimals": -2}), "decimals cannot be negative")
    one(check_gateway({**gateway, "fee_percent": D(-1)}), "fee percent must be from 0 to 100")


# --- summaries ----------------------------------------------------------------------------


def test_r_rule_4_rows_read_as_written() -> None:
    pishtaz = {"min_cart_price": D("100000.0000"), "min_item_count": 0, "min_weight_g": 0,
               "min_distance_m": 0, "out_of_range": False, "cost": D("3500.0000")}
    assert summarize_shipping_row(pishtaz) == "cart ≥ 100000 → 3500"
    far = {"min_distance_m": 10000, "cost": D(65000)}
    assert summarize_shipping_row(far) == "≥ 10000 m → 65000"
    out = {"min_cart_price": D(5000), "out_of_range": True, "cost": D(0)}
    assert summarize_shipping_row(out) == "cart ≥ 5000 → not offered"


def test_row_conditions_combine_with_and_and_currency_is_optional() -> None:
    row = {"min_cart_price": D(50), "min_item_count": 3, "min_weight_g": 500,
           "min_distance_m": 0, "cost": D("12.50")}
    assert summarize_shipping_row(row) == "cart ≥ 50 and ≥ 3 items and ≥ 500 g → 12.5"
    assert summarize_shipping_row(row, "BYN") == (
        "cart ≥ 50 BYN and ≥ 3 items and ≥ 500 g → 12.5 BYN")
    assert summarize_shipping_row({"cost": D(0)}) == "any order → 0"


def test_summaries_translate_their_words() -> None:
    shouty = {"cart ≥ %(amount)s": "КОРЗИНА ≥ %(amount)s", "not offered": "НЕ ПРЕДЛАГАЕТСЯ"}
    row = {"min_cart_price": D(5000), "out_of_range": True}
    assert summarize_shipping_row(row, gettext=lambda s: shouty.get(s, s)) == (
        "КОРЗИНА ≥ 5000 → НЕ ПРЕДЛАГАЕТСЯ")


def test_shipping_method_reads_rows_in_order_then_the_base_rule() -> None:
    pishtaz = {"cost_rule": "by_weight", "base_cost": D(200)}
    rows = [{"position": 2, "min_distance_m": 10000, "cost": D(65000)},
            {"position": 1, "min_cart_price": D(100000), "cost": D(3500)}]
    assert summarize_shipping_method(pishtaz, rows) == (
        "cart ≥ 100000 → 3500; ≥ 10000 m → 65000; otherwise 200 per g")
    assert summarize_shipping_method({"cost_rule": "fixed", "base_cost": D(1000)}) == "1000"
    assert summarize_shipping_method({"cost_rule": "percent", "base_cost": D(5)}) == (
        "5% of the cart")


def test_discount_summaries() -> None:
    group = {"kind": "percent", "value": D("10.0000"), "code": None, "automatic": True,
             "target": "group", "customer_group_id": 4}
    assert summarize_discount(group, group="100-200") == "10% off, automatic, group 100-200"
    welcome = {"kind": "amount", "value": D(5), "code": "WELCOME10", "target": "everyone",
               "min_cart_price": D(50)}
    assert summarize_discount(welcome) == "5 off with code WELCOME10, cart ≥ 50"
    full = {**welcome, "channel": "app", "min_item_count": 2, "total_uses_allowed": 100,
            "uses_per_customer": 1, "expires_at": datetime(2026, 12, 31, tzinfo=UTC)}
    assert summarize_discount(full, "BYN", products=3) == (
        "5 BYN off with code WELCOME10, app only, on 3 products, cart ≥ 50 BYN, ≥ 2 items, "
        "at most 100 uses, 1 per customer, until 2026-12-31")
    assert summarize_discount({**group, "target": "customer", "customer_id": 9},
                              customer="Anna") == "10% off, automatic, customer Anna"


def test_payment_method_summary_and_amounts() -> None:
    assert summarize_payment_method({"discount_kind": "percent", "discount_value": D(2)}) == (
        "2% off")
    assert summarize_payment_method({"discount_kind": "amount", "discount_value": D(5),
                                     "tax_percent": D(9)}, "BYN") == "5 BYN off, tax 9%"
    assert summarize_payment_method({"discount_value": D(0)}) == ""
    assert amount_text(D("100000.0000")) == "100000"
    assert amount_text(D("0.0000")) == "0"
    assert amount_text(None) == ""


# --- scheduled discounts and the reader's numbers (issue 11) --------------------------------


def test_a_start_at_or_after_the_expiry_is_refused() -> None:
    base = {"kind": "percent", "value": D(10), "code": "SPRING"}
    start = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    for end in (start, start - timedelta(minutes=1)):
        found = [m.render(lambda s: s) for m in check_discount(
            {**base, "starts_at": start, "expires_at": end})]
        assert found == [
            f"The discount would start (2026-12-10 09:00) no earlier than it expires "
            f"({end:%Y-%m-%d %H:%M}): choose a start before the expiry, or leave the start "
            f"empty for a discount in force at once."]
    assert check_discount({**base, "starts_at": start,
                           "expires_at": start + timedelta(minutes=1)}) == []
    # A start without an expiry, or one in the past, is fine; a naive form value is read in
    # the stored value's zone.
    assert check_discount({**base, "starts_at": datetime(2020, 1, 1)}) == []
    assert check_discount({**base, "starts_at": datetime(2026, 12, 10, 9, 0),
                           "expires_at": start}) != []


def test_a_scheduled_discount_summary_says_from_and_until() -> None:
    fields = {"kind": "amount", "value": D(5), "code": "WELCOME10",
              "starts_at": datetime(2026, 12, 1, 8, tzinfo=UTC),
              "expires_at": datetime(2026, 12, 31, tzinfo=UTC)}
    assert summarize_discount(fields) == (
        "5 off with code WELCOME10, from 2026-12-01, until 2026-12-31")


def test_a_persian_summary_has_persian_numbers_and_jalali_dates_but_codes_as_written() -> None:
    """The admin's formats for a Persian reader: amounts and counts in Persian digits and
    separators, days in the Solar Hijri calendar; the code WELCOME10 and the names keep their
    Latin digits (no digit conversion of the whole line)."""
    from admin.rule_tables import summary_formats
    from locales import translations

    fa = summary_formats("fa")
    gettext = translations("fa").gettext
    fields = {"kind": "amount", "value": D("12500.5000"), "code": "WELCOME10",
              "target": "group", "min_cart_price": D(100000), "total_uses_allowed": 1500,
              "starts_at": datetime(2026, 12, 1, 8, tzinfo=UTC),
              "expires_at": datetime(2026, 12, 31, tzinfo=UTC)}
    text = summarize_discount(fields, group="Group 100-200", gettext=gettext, formats=fa)
    assert "WELCOME10" in text and "Group 100-200" in text
    assert "۱۲٬۵۰۰٫۵" in text and "۱۰۰٬۰۰۰" in text and "۱٬۵۰۰" in text
    assert "۱۴۰۵/۰۹/۱۰" in text and "۱۴۰۵/۱۰/۱۰" in text  # 1 and 31 December 2026
    assert "2026" not in text and "100000" not in text
    row = {"min_cart_price": D(100000), "min_distance_m": 10000, "cost": D("3500.0000")}
    assert summarize_shipping_row(row, gettext=gettext, formats=fa) == (
        "سبد ≥ ۱۰۰٬۰۰۰ و ≥ ۱۰٬۰۰۰ متر → ۳٬۵۰۰")
    # Everyone else reads the amounts as typed and ISO days (the default formats).
    assert summary_formats("en") is summary_formats("ru") is PLAIN
