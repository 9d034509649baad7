"""Quotes per second: ``python -m bench.quote [--seconds N]``.

The pure pricing engine with 50 discounts and 20 shipping methods configured (the figure the
rule-tables issue names: at least 5,000 quotes/s on one core), for a 5-line cart: every
shipping method is quoted once per "quote", as a store plugin asking for its options does.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rules.pricing import (
    CartLine,
    Customer,
    DiscountRule,
    Gateway,
    PaymentMethod,
    QuoteRequest,
    ShippingMethod,
    ShippingRow,
    quote,
)


def configuration(rng: random.Random) -> tuple[tuple[DiscountRule, ...], list[ShippingMethod]]:
    now = datetime.now(UTC)
    discounts = tuple(
        DiscountRule(
            id=i, name=f"D{i}", kind="percent" if i % 3 else "amount",
            value=Decimal(rng.choice([5, 10, 15, 20, 500])),
            code=None if i % 4 else f"CODE{i}",
            expires_at=now + timedelta(days=rng.randint(-5, 60)),
            min_cart_price=Decimal(rng.choice([0, 1000, 50000])),
            min_item_count=rng.choice([0, 2, 5]),
            target=rng.choice(["everyone", "group"]), customer_group_id=rng.choice([1, 2]),
            channel=rng.choice(["web", "app", "both"]),
            product_ids=frozenset(rng.sample(range(1, 40), 3)) if i % 5 == 0 else frozenset(),
            priority=rng.randint(0, 5), combinable=bool(i % 2),
        )
        for i in range(1, 51)
    )
    methods = [
        ShippingMethod(
            id=i, name=f"S{i}", cost_rule=rng.choice(["fixed", "by_weight", "percent"]),
            base_cost=Decimal(rng.choice([1000, 200, 5])), max_weight_g=rng.choice([None, 30000]),
            rows=tuple(ShippingRow(position=p, cost=Decimal(rng.choice([0, 3500, 65000])),
                                   min_cart_price=Decimal(rng.choice([0, 5000, 100000])),
                                   min_distance_m=rng.choice([0, 10000]),
                                   out_of_range=rng.random() < 0.1) for p in range(1, 4)),
        )
        for i in range(1, 21)
    ]
    return discounts, methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rng = random.Random(42)
    discounts, methods = configuration(rng)
    lines = tuple(CartLine(product_id=p, category_id=p % 4,
                           unit_price=Decimal(rng.randint(500, 90000)),
                           quantity=rng.randint(1, 3), weight_g=rng.randint(100, 3000))
                  for p in range(1, 6))
    request = QuoteRequest(
        lines=lines, customer=Customer(id=7, group_id=1, logged_in=True), channel="web",
        now=datetime.now(UTC), currency="IRR", discounts=discounts, discount_code="CODE4",
        distance_m=12000,
        payment_method=PaymentMethod(id=1, name="Online", kind="online", discount_kind="percent",
                                     discount_value=Decimal(2)),
        gateway=Gateway(currency="IRR", conversion_rate=Decimal(100000), rounding_digits=2),
    )
    from dataclasses import replace

    requests = [replace(request, shipping_method=m) for m in methods]
    quotes, started = 0, time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        for r in requests:
            quote(r)
        quotes += 1
    elapsed = time.perf_counter() - started
    print(f"50 discounts, 20 shipping methods, 5-line cart, one core, {elapsed:.1f} s:")
    print(f"  {quotes / elapsed:,.0f} full quotes/s (all 20 methods each)")
    print(f"  {quotes * len(requests) / elapsed:,.0f} single-method quotes/s")


if __name__ == "__main__":
    main()
