"""Parcel registration throughput (a cell reserved per parcel) through HTTP:
``python -m bench.reservations --db postgresql://… [--clients 16] [--parcels N] [--lockers K]``.

Builds K lockers (default 1: every client competes for the same cells, the hard case) with
enough free cells for N registrations plus a few out-of-order ones, in the database given (a
fresh SQLite file without ``--db``; the issue's figure is on PostgreSQL), starts the real server
(uvicorn, one worker process) and sends ``POST /api/v1/parcels`` from the given number of
concurrent clients, each parcel to the next locker in turn, as store plugins registering at
checkout do. Then checks what the race must leave: every registration got its own cell, no
cell holds two parcels, no out-of-order cell was taken. Prints registrations/s and the
latency p50/p95/p99.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.quote_http import SECRET_KEY, free_port, run_clients, serve

SIZES = ("s", "m", "l")


def build(url: str, parcels: int, lockers: int) -> tuple[str, list[int], str]:
    """The merchant's API key, the lockers' ids and the run's tag (in their codes)."""
    from postdesk.db import make_engine, make_session_factory
    from postdesk.migrate import upgrade_head
    from schema.base import configure_encryption
    from schema.lockers import CellSize, CellState
    from seed.demo import factories as f
    from seed.loader import load_seed_data
    from services.api_keys import issue_api_key

    configure_encryption(SECRET_KEY)
    upgrade_head(url)
    factory = make_session_factory(make_engine(url))
    tag = secrets.token_hex(3).upper()  # a database may be reused: codes stay unique
    per_locker = parcels // lockers + 1
    with factory() as s, f.using_session(s):
        load_seed_data(s)
        merchant = f.MerchantFactory(currency="BYN", tax_id=f"BENCH{tag}",
                                     email=f"bench{tag.lower()}@example.com")
        ids = []
        for n in range(lockers):
            locker = f.LockerFactory(code=f"B{tag}-{n:03d}", city="Bench")
            for i in range(per_locker):
                # Every size in turn: a small parcel takes the smallest free fitting cell.
                f.LockerCellFactory(locker=locker, code=f"C{i:05d}", size=CellSize(SIZES[i % 3]))
            for i in range(3):
                f.LockerCellFactory(locker=locker, code=f"X{i}", size=CellSize.S,
                                    state=CellState.OUT_OF_ORDER)
            s.flush()
            ids.append(locker.id)
        key = issue_api_key(s, merchant.id)
        s.commit()
    return key, ids, tag


def check(url: str, tag: str) -> Counter[str]:
    """What the registrations left in the lockers of this run."""
    from sqlalchemy import func, select

    from postdesk.db import make_engine, make_session_factory
    from schema.lockers import CellState, Locker, LockerCell, Parcel

    with make_session_factory(make_engine(url))() as session:
        mine = select(Locker.id).where(Locker.code.like(f"B{tag}-%"))
        cells = list(session.scalars(select(Parcel.cell_id).where(Parcel.locker_id.in_(mine))))
        states = Counter(str(state) for state in session.scalars(
            select(LockerCell.state).where(LockerCell.locker_id.in_(mine))))
        taken_broken = session.scalar(
            select(func.count()).select_from(Parcel).join(LockerCell, LockerCell.id ==
                                                          Parcel.cell_id)
            .where(LockerCell.state == CellState.OUT_OF_ORDER, Parcel.locker_id.in_(mine)))
    return Counter({"parcels": len(cells), "distinct cells": len(set(cells) - {None}),
                    "reserved cells": states.get(str(CellState.RESERVED), 0),
                    "out-of-order cells taken": taken_broken or 0})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parcels", type=int, default=3200)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--lockers", type=int, default=1)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench-reservations.sqlite3"
        warm_up = 20
        key, lockers, tag = build(url, args.parcels + warm_up, args.lockers)
        port = free_port()
        server = serve(url, port, Path(tmp))
        latencies: list[float] = []
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        turn = iter(range(10**9))

        def client(count: int) -> None:
            headers = {"X-API-Key": key, "Accept-Language": "en"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers,
                              timeout=60) as http:
                mine, results = [], Counter[str]()
                for _ in range(count):
                    with lock:
                        n = next(turn)
                    body = {"locker_id": lockers[n % len(lockers)], "size": "s",
                            "recipient": {"name": "Bench", "phone": "+375291234567"},
                            "drop_mode": "self_drop"}
                    started = time.perf_counter()
                    answer = http.post("/api/v1/parcels", json=body)
                    mine.append(time.perf_counter() - started)
                    results[str(answer.status_code) if answer.status_code != 201
                            else "registered"] += 1
                    if answer.status_code >= 500:
                        raise SystemExit(f"registration failed: {answer.text}")
                with lock:
                    latencies.extend(mine)
                    outcomes.update(results)

        try:
            client(warm_up)  # imports, caches, connections
            latencies.clear()
            outcomes.clear()
            elapsed, server_cpu = run_clients(client, args.clients,
                                              args.parcels // args.clients, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=10)
        left = check(url, tag)

    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(f"POST /api/v1/parcels, {len(ms)} registrations, {args.clients} clients, "
          f"{args.lockers} locker(s), {url.split(':')[0]}: {dict(outcomes)}")
    print(f"  {outcomes['registered'] / elapsed:,.0f} registrations/s   p50 {q[49]:.1f} ms   "
          f"p95 {q[94]:.1f} ms   p99 {q[98]:.1f} ms   max {ms[-1]:.1f} ms")
    print(f"  server CPU per registration {server_cpu / len(ms) * 1000:.1f} ms")
    print(f"  after the run: {dict(left)}")
    if not (left["parcels"] == left["distinct cells"] == left["reserved cells"]
            and left["out-of-order cells taken"] == 0):
        raise SystemExit("a cell was double-booked or an out-of-order cell was taken")


if __name__ == "__main__":
    main()
