"""Quote latency through HTTP: ``python -m bench.quote_http [--requests N] [--clients K]``.

Builds a shop with 50 discounts, 20 shipping methods (three cost rows each) and 5 payment
methods in a fresh SQLite database (or ``--db URL``, e.g. PostgreSQL), starts the real server
(uvicorn, one worker process) and sends ``POST /api/v1/quote`` for a 5-line cart with a code,
as a store plugin does at checkout: every answer holds all 20 shipping options and 5 payment
options. Prints p50/p95/p99 latency and the request rate. The issue's target: p95 under 20 ms.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx

DISCOUNTS = 50
SECRET_KEY = "bench-secret-key-bench-secret-key"
METHODS = 20


def build(url: str) -> tuple[str, list[int]]:
    """The shop; returns an API key of its merchant and its product ids."""
    import random

    from postdesk.db import make_engine, make_session_factory
    from postdesk.migrate import upgrade_head
    from schema.base import configure_encryption, utcnow
    from seed.demo import factories as f
    from seed.loader import load_seed_data
    from services.api_keys import issue_api_key

    configure_encryption(SECRET_KEY)  # the gateway's secrets, as the server will read them
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    rng = random.Random(42)
    with factory() as s, f.using_session(s):
        load_seed_data(s)
        merchant = f.MerchantFactory(currency="BYN")
        categories = [f.CategoryFactory() for _ in range(4)]
        products = [f.ProductFactory(merchant=merchant, category=categories[i % 4],
                                     price=Decimal(rng.randint(500, 90000)),
                                     weight_g=rng.randint(100, 3000)) for i in range(30)]
        group = f.CustomerGroupFactory()
        f.CustomerFactory(merchant=merchant, registered=True, group=group)
        for i in range(1, DISCOUNTS + 1):
            discount = f.DiscountFactory(
                code=f"BENCH{i}" if i % 4 == 0 else None, automatic=i % 4 != 0,
                kind="percent" if i % 3 else "amount",
                value=Decimal(rng.choice([5, 10, 15, 20, 500])),
                expires_at=utcnow() + timedelta(days=rng.randint(1, 60)),
                min_cart_price=Decimal(rng.choice([0, 1000, 50000])),
                min_item_count=rng.choice([0, 2, 5]),
                channel=rng.choice(["web", "app", "both"]),
                priority=rng.randint(0, 5), combinable=bool(i % 2))
            if i % 5 == 0:
                discount.products = rng.sample(products, 3)
        for i in range(METHODS):
            method = f.ShippingMethodFactory(
                cost_rule=rng.choice(["fixed", "by_weight", "percent"]),
                base_cost=Decimal(rng.choice([1000, 200, 5])), name=f"Bench method {i}")
            for position in range(1, 4):
                f.ShippingCostRowFactory(
                    shipping_method=method, position=position,
                    cost=Decimal(rng.choice([0, 3500, 65000])),
                    min_cart_price=Decimal(rng.choice([0, 5000, 100000])),
                    min_distance_m=rng.choice([0, 10000]), out_of_range=rng.random() < 0.1)
        gateway = f.PaymentGatewayFactory()
        for i in range(5):
            f.PaymentMethodFactory(gateway=gateway if i == 0 else None)
        s.flush()
        key = issue_api_key(s, merchant.id)
        ids = [p.id for p in products]
        s.commit()
    return key, ids


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(client: Callable[[int], None], clients: int, per_client: int,
                server_pid: int) -> tuple[float, float]:
    """Run ``client(per_client)`` in ``clients`` threads at once; the wall time they took and
    the server's CPU seconds meanwhile."""
    threads = [threading.Thread(target=client, args=(per_client,)) for _ in range(clients)]
    started, cpu = time.perf_counter(), cpu_seconds(server_pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, cpu_seconds(server_pid) - cpu


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "POSTDESK_DATABASE_URL": url, "POSTDESK_LOG_LEVEL": "WARNING",
           "POSTDESK_SECRET_KEY": SECRET_KEY}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "admin.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        env=env, cwd=Path(__file__).resolve().parent.parent)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=1, help="concurrent clients")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench-quote.sqlite3"
        key, products = build(url)
        port = free_port()
        server = serve(url, port, Path(tmp))
        try:
            body = {
                "lines": [{"product_id": p, "quantity": q}
                         for p, q in zip(products[:5], (1, 2, 3, 1, 2), strict=True)],
                "channel": "web", "discount_code": "BENCH4", "distance_m": 12000,
            }
            headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
            latencies: list[float] = []
            lock = threading.Lock()

            def client(count: int) -> None:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                    mine = []
                    for _ in range(count):
                        started = time.perf_counter()
                        answer = http.post("/api/v1/quote", json=body)
                        mine.append(time.perf_counter() - started)
                        if answer.status_code != 200:
                            raise SystemExit(f"quote failed: {answer.status_code} {answer.text}")
                    with lock:
                        latencies.extend(mine)

            client(50)  # warm-up: imports, caches, connections
            latencies.clear()
            elapsed, server_cpu = run_clients(client, args.clients,
                                              args.requests // args.clients, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)

    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(f"POST /api/v1/quote, {DISCOUNTS} discounts, {METHODS} shipping methods, 5 payment "
          f"methods, 5-line cart, {len(ms)} requests, {args.clients} client(s), "
          f"{url.split(':')[0]}:")
    print(f"  p50 {q[49]:.1f} ms   p95 {q[94]:.1f} ms   p99 {q[98]:.1f} ms   "
          f"max {ms[-1]:.1f} ms   {len(ms) / elapsed:,.0f} requests/s")
    print(f"  server CPU per request {server_cpu / len(ms) * 1000:.1f} ms "
          f"(the rest of the latency is the client, the network stack and waiting for a core)")


if __name__ == "__main__":
    main()
