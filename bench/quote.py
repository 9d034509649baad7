"""Quotes per second: ``python -m bench.quote [--seconds N]``.

The pure pricing engine with 50 discounts and 20 shipping methods configured (the figure the
rule-tables issue names: at least 5,000 quotes/s on one core), for a 5-line cart. Two figures:
a quote of one shipping method (the cart and its 50 discounts priced every time), and a checkout
quote of all 20 methods, as a store plugin asking for its options gets it (the discounts priced
once, then each method).
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
    discount_cart,
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
    print("50 discounts, 20 shipping methods, 5-line cart, one core, "
          f"{args.seconds:.0f} CPU-s each:")

    # CPU time of this process: the figure is per core, and stays honest on a busy machine
    single, started = 0, time.process_time()
    while time.process_time() - started < args.seconds:
        for r in requests:
            quote(r)
        single += len(requests)
    rate = single / (time.process_time() - started)
    print(f"  {rate:,.0f} quotes/s, one method each (cart and discounts priced every time)")

    options, started = 0, time.process_time()
    while time.process_time() - started < args.seconds:
        cart = discount_cart(request)  # what services.pricing.delivery_options does
        for r in requests:
            quote(r, cart)
        options += 1
    rate = options / (time.process_time() - started)
    print(f"  {rate:,.0f} checkout quotes/s, all 20 methods each (discounts priced once)")


if __name__ == "__main__":
    main()
