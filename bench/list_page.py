"""List-page speed at scale: ``python -m bench.list_page [--orders N] [--db PATH]``.

Builds (once, then reuses) a SQLite database with N orders spread over merchants, statuses and
dates, signs in through the real app and times the orders list page: first page, a deep page,
a status filter, a search. It also times the row count the page needs, ours against the stock
sqladmin form (count over the sorted all-columns subquery), to show where the time goes.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from starlette.testclient import TestClient

STATUSES = ["awaiting_confirmation", "confirmed", "preparing", "shipped", "delivered", "returned"]


def build(url: str, orders: int) -> None:
    from postdesk.db import make_engine, make_session_factory
    from postdesk.migrate import upgrade_head
    from schema.customers import Customer
    from schema.orders import Order
    from schema.people import Merchant
    from seed.loader import load_seed_data
    from services.accounts import create_user

    upgrade_head(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        if session.scalar(select(func.count()).select_from(Order)):
            return
        load_seed_data(session)
        create_user(session, "bench", "bench", "superuser")
        merchants = [Merchant(name=f"Bench store {i}") for i in range(3)]
        session.add_all(merchants)
        session.flush()
        customers = [Customer(name=f"Customer {i}", merchant_id=merchants[i % 3].id)
                     for i in range(5000)]
        session.add_all(customers)
        session.flush()
        customer_ids = [(c.id, c.merchant_id) for c in customers]
    rng = random.Random(7)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    batch = 20000
    with engine.begin() as conn:
        for offset in range(0, orders, batch):
            rows = []
            for n in range(offset, min(offset + batch, orders)):
                customer_id, merchant_id = customer_ids[rng.randrange(len(customer_ids))]
                amount = rng.randrange(1000, 10_000_000)  # minor units of 1/10000
                rows.append({
                    "number": f"B-{n:08d}", "merchant_id": merchant_id, "customer_id": customer_id,
                    "ordered_at": start + timedelta(minutes=n),
                    "status": STATUSES[n % len(STATUSES)], "shipping_status": "not_loaded",
                    "order_type": "regular", "customer_kind": "individual", "channel": "web",
                    "delivery_kind": "address", "currency": "BYN", "subtotal": amount,
                    "discount_total": 0, "shipping_cost": 0, "tax_total": 0, "payable": amount,
                    "wallet_amount": 0, "paid_amount": 0, "balance_due": amount,
                    "total_weight_g": 0, "postpaid_shipping": False, "version": 1,
                    "recipient_name": f"Recipient {n}",
                })
            conn.execute(insert(Order.__table__), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def timed(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", default="bench-orders.sqlite3")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    url = f"sqlite:///{Path(args.db).resolve()}"

    t = time.perf_counter()
    build(url, args.orders)
    print(f"database ready in {time.perf_counter() - t:.1f} s ({args.db})")

    from admin.app import create_app
    from postdesk.db import make_engine
    from postdesk.settings import Settings
    from schema.orders import Order

    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Order)).scalar_one()
    app = create_app(Settings(url, "bench", "WARNING", 3600, False, False), engine)
    client = TestClient(app)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/admin/login").text)[1]
    client.post("/admin/login", data={"username": "bench", "password": "bench",
                                      "csrf_token": token})
    print(f"orders: {total:,}")
    pages = {
        "first page": "/admin/orders/list",
        "page 2000": "/admin/orders/list?page=2000",
        "status filter": "/admin/orders/list?status=delivered",
        "search by number": "/admin/orders/list?search=B-00500000",
        "sorted by payable": "/admin/orders/list?sortBy=payable&sort=desc",
    }
    for name, path in pages.items():
        assert client.get(path).status_code == 200, path
        median, worst = timed(lambda p=path: client.get(p), args.repeat)
        print(f"  {name:<20} median {median:7.1f} ms   max {worst:7.1f} ms")

    ours = select(func.count()).select_from(select(Order.id).subquery())
    stock = select(func.count()).select_from(
        select(Order).order_by(Order.ordered_at.desc()).subquery())
    with engine.connect() as conn:
        for name, stmt in (("count, ours", ours), ("count, stock sqladmin", stock)):
            median, _ = timed(lambda s=stmt: conn.execute(s).scalar_one(), 3)
            print(f"  {name:<20} median {median:7.1f} ms")


if __name__ == "__main__":
    main()
