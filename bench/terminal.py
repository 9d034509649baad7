"""Locker terminal latency through HTTP: ``python -m bench.terminal [--requests N] [--db URL]``.

Builds one locker with 60 cells in a fresh SQLite database (or ``--db URL``, e.g. a PostgreSQL
database of its own: it is migrated and seeded, and the bench's rows are added to it), with 40
parcels already in the locker (each with its pickup code, so a code entry checks 40 hashes, a
full locker's worth) and 20 parcels with the courier waiting to be placed. It starts the real
server (uvicorn, one worker process), signs a courier in, then times, one request at a time:

- ``POST /api/v1/terminal/courier/scan``: a courier scans a parcel (its reserved cell answered);
- ``POST /api/v1/terminal/code``: a buyer types a right code (the amount due answered).

Each request carries a new Idempotency-Key, so each also stores its answer, as a terminal's
would. Prints a table of p50/p95/p99 per call. The issue's target: p95 under 30 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx

from bench.quote_http import SECRET_KEY, free_port, serve

IN_LOCKER = 40
WITH_COURIER = 20
PIN = "2468"


@dataclass
class Site:
    key: str
    badge: str
    to_scan: list[str]
    codes: list[str]


def build(url: str) -> Site:
    from datetime import timedelta

    from sqlalchemy import update

    from postdesk.db import make_engine, make_session_factory
    from postdesk.migrate import upgrade_head
    from schema.base import configure_encryption, utcnow
    from schema.couriers import Courier
    from schema.lockers import CellSize, CellState, Locker, LockerCell, Parcel
    from schema.people import Merchant
    from seed.loader import load_seed_data
    from services.terminal import hash_pickup_code, issue_device_key, set_courier_pin

    configure_encryption(SECRET_KEY)
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    tag = uuid.uuid4().hex[:8]
    with factory() as s:
        load_seed_data(s)
        locker = Locker(code=f"B{tag}", name=f"Bench locker {tag}", city="Minsk",
                        address="Nezavisimosti 1", active=True)
        merchant = Merchant(name=f"Bench shop {tag}", currency="BYN")
        s.add_all([locker, merchant])
        s.flush()
        sizes = (CellSize.S, CellSize.M, CellSize.L)
        cells = [LockerCell(locker_id=locker.id, code=f"{i:03d}", size=sizes[i % 3])
                 for i in range(IN_LOCKER + WITH_COURIER)]
        s.add_all(cells)
        courier = Courier(full_name="Bench courier", mobile="+375290000000",
                          badge_number=f"BB{tag}", active=True)
        s.add(courier)
        s.flush()
        set_courier_pin(s, courier.id, PIN)
        codes, to_scan = [], []
        for i, cell in enumerate(cells):
            placed = i < IN_LOCKER
            code = f"{100000 + i * 7919 % 900000:06d}"
            barcode = f"BP{tag}{i:04d}"
            s.add(Parcel(merchant_id=merchant.id, barcode=barcode, locker_id=locker.id,
                         cell_id=cell.id, size=cell.size,
                         status="in_locker" if placed else "with_courier",
                         declared_price=Decimal("19.90"), currency="BYN",
                         recipient_name="Bench", recipient_phone=f"+37529{i:07d}",
                         recipient_language="ru",
                         pickup_code_hash=hash_pickup_code(code) if placed else None,
                         stored_until=utcnow() + timedelta(days=3) if placed else None))
            if placed:
                codes.append(code)
            else:
                to_scan.append(barcode)
            s.execute(update(LockerCell).where(LockerCell.id == cell.id).values(
                state=CellState.OCCUPIED if placed else CellState.RESERVED))
        key = issue_device_key(s, locker.id)
        badge = courier.badge_number or ""
        s.commit()
    return Site(key, badge, to_scan, codes)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500, help="requests per call")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench-terminal.sqlite3"
        site = build(url)
        port = free_port()
        server = serve(url, port, Path(tmp))
        try:
            base = {"X-Device-Key": site.key, "Accept-Language": "ru"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1/terminal",
                              headers=base) as http:
                signed = http.post("/courier/sign-in", json={"badge_number": site.badge,
                                                             "pin": PIN},
                                   headers={"Idempotency-Key": uuid.uuid4().hex})
                if signed.status_code != 200:
                    raise SystemExit(f"sign-in failed: {signed.status_code} {signed.text}")
                token = signed.json()["token"]
                calls = {
                    "scan": lambda i: http.post(
                        "/courier/scan", json={"barcode": site.to_scan[i % len(site.to_scan)]},
                        headers={"X-Courier-Token": token, "Idempotency-Key": uuid.uuid4().hex}),
                    "code": lambda i: http.post(
                        "/code", json={"code": site.codes[i % len(site.codes)]},
                        headers={"Idempotency-Key": uuid.uuid4().hex}),
                }
                results: dict[str, list[float]] = {}
                for name, call in calls.items():
                    for i in range(20):  # warm-up
                        call(i)
                    timings = []
                    for i in range(args.requests):
                        started = time.perf_counter()
                        answer = call(i)
                        timings.append((time.perf_counter() - started) * 1000)
                        if answer.status_code != 200:
                            raise SystemExit(f"{name} failed: {answer.status_code} "
                                             f"{answer.text}")
                    results[name] = timings
        finally:
            server.terminate()
            server.wait(timeout=30)

    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"locker terminal over HTTP, {database}, {IN_LOCKER} parcels in the locker, "
          f"{args.requests} requests per call")
    print(f"{'call':<8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}  target p95 < 30")
    for name, timings in results.items():
        p95 = percentile(timings, 0.95)
        print(f"{name:<8}{percentile(timings, 0.50):>9.1f}{p95:>9.1f}"
              f"{percentile(timings, 0.99):>9.1f}{statistics.fmean(timings):>9.1f}  "
              f"{'ok' if p95 < 30 else 'OVER'}")


if __name__ == "__main__":
    main()
