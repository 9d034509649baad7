"""Dashboard and report speed at scale: ``python -m bench.dashboard [--orders N] [--db PATH]``.

Reuses bench.list_page's database of N orders (built once, shared with the other benchmarks),
whose orders run one a minute from 1 January 2024. "Now" is set to the last order, so today,
this month and the last 30 days are full (about 1,440 orders a day). Prints the median and
worst time of each dashboard query, of the whole start page through the real app (sign-in,
grants, scoping, template), and of reports over a month, a year and everything: the query
alone, then the XLSX and (for the month) the PDF.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from starlette.routing import Route
from starlette.testclient import TestClient

from bench.list_page import build, timed


def _signed_in_client(url: str, engine: Any, now: Any) -> TestClient:
    from admin.app import create_app
    from postdesk.settings import Settings

    app = create_app(Settings(url, "bench", "WARNING", 3600, False, False), engine)
    admin = app.state.admin
    for route in admin.admin.router.routes:
        if isinstance(route, Route) and route.name == "index":
            route.endpoint.__self__.clock = lambda: now
    client = TestClient(app)
    token = re.search(r'name="csrf-token" content="([^"]+)"',
                      client.get("/admin/login").text)[1]
    client.post("/admin/login", data={"username": "bench", "password": "bench",
                                      "csrf_token": token})
    return client


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

    import services.events  # noqa: F401 - scoping, as in the app
    from postdesk.db import make_engine, make_session_factory
    from reports.queries import ReportParams, run_report
    from reports.queries.dashboard import locker_loads, orders_per_day, status_counts, takings
    from reports.report_files import report_pdf, report_xlsx
    from schema.orders import Order
    from services.actor import Actor, acting_as

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        total = session.scalar(select(func.count(Order.id)))
        now = session.scalar(select(func.max(Order.ordered_at)))
    print(f"orders: {total:,}; now = {now:%Y-%m-%d %H:%M} UTC (the last order)")

    def dashboard_queries(session: Any) -> dict[str, Any]:
        return {
            "today and this month": lambda: takings(session, now),
            "by status, 30 days": lambda: status_counts(session, now, "en"),
            "per day, 30 days": lambda: orders_per_day(session, now),
            "locker occupancy": lambda: locker_loads(session),
        }

    print("dashboard queries")
    with factory() as session:
        for name, query in dashboard_queries(session).items():
            query()
            median, worst = timed(query, args.repeat)
            print(f"  {name:<36} median {median:7.1f} ms   max {worst:7.1f} ms")
        month = takings(session, now)[0].month_orders
        print(f"  (this month: {month:,} orders)")
    with factory() as session:
        merchant = session.scalar(select(func.min(Order.merchant_id)))
    actor = Actor(user_id=None, username="bench", role="merchant", merchant_id=merchant)
    with factory() as session, acting_as(actor):
        for name, query in dashboard_queries(session).items():
            if name == "locker occupancy":
                continue
            median, worst = timed(query, args.repeat)
            print(f"  {name + ', one merchant':<36} median {median:7.1f} ms"
                  f"   max {worst:7.1f} ms")

    client = _signed_in_client(url, engine, now)
    page = client.get("/admin/")
    assert page.status_code == 200 and 'data-dashboard="chart"' in page.text
    median, worst = timed(lambda: client.get("/admin/"), args.repeat)
    print(f"  {'start page (HTTP, superuser)':<36} median {median:7.1f} ms   max {worst:7.1f} ms")

    end = now.date()
    intervals = {
        "month": ReportParams(end.replace(day=1), end),
        "year": ReportParams(date(end.year, 1, 1), end),
        "everything": ReportParams(date(2024, 1, 1), end),
    }
    print("reports")
    for code in ("orders_by_status", "customers"):
        for label, params in intervals.items():
            with factory() as session:
                report = run_report(session, code, params)
                median, worst = timed(lambda p=params, c=code: run_report(session, c, p),
                                      max(3, args.repeat // 2))
            counted = sum(r[2] for r in report.tables[0].rows) if code == "orders_by_status" \
                else len(report.tables[0].rows)
            unit = "orders" if code == "orders_by_status" else "customers"
            print(f"  {code} / {label:<10} query median {median:7.1f} ms   max {worst:7.1f} ms"
                  f"   ({counted:,} {unit}, {(params.date_to - params.date_from).days + 1} days)")
            t = time.perf_counter()
            size = len(report_xlsx(report, "en"))
            print(f"  {'':<17}{label:<10} XLSX {(time.perf_counter() - t) * 1000:9.1f} ms"
                  f"   ({size / 1024:.0f} KiB)")
            if label == "month":
                t = time.perf_counter()
                size = len(report_pdf(report, "en"))
                print(f"  {'':<17}{label:<10} PDF  {(time.perf_counter() - t) * 1000:9.1f} ms"
                      f"   ({size / 1024:.0f} KiB)")
    query = (f"/admin/reports/download?report=orders_by_status&format=xlsx"
             f"&date_from={end.replace(day=1)}&date_to={end}")

    def report_file() -> None:
        """A report download is a background job: ask, follow it until done, fetch the file."""
        started = client.get(query, follow_redirects=False)
        assert started.status_code == 303, started.status_code
        status_url = started.headers["location"].rstrip("/") + "/status"
        while not (row := client.get(status_url).json())["finished"]:
            time.sleep(0.02)
        assert row["download_url"], row
        assert client.get(row["download_url"]).status_code == 200

    report_file()
    median, worst = timed(report_file, max(3, args.repeat // 2))
    print(f"  {'month XLSX job (HTTP)':<27} median {median:7.1f} ms   max {worst:7.1f} ms")


if __name__ == "__main__":
    main()
