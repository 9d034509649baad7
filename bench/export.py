"""List export speed at scale: ``python -m bench.export [--orders N] [--db PATH] [--http]``.

Reuses bench.list_page's database of N orders (built once), then exports the whole orders list
through the code path of the admin's export route (admin.exports: the list's statement, scoping,
labels, relation names, reports.spreadsheet) as XLSX and as CSV, and prints the time, the file
size and the peak memory of each. Each format runs in a fresh process, so one cannot inherit the
other's memory; the peak is the resident set's high-water mark during the export alone (Linux
resets it through /proc/self/clear_refs), next to the process's baseline before it. ``--http``
also downloads both through the real app (sign-in, route, temporary file, streaming).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.list_page import build

TARGETS = {"xlsx": 30.0, "csv": 10.0, "read": 0.0}
MEMORY_TARGET_MB = 100.0


def _rss_mb(field: str) -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _app(url: str) -> Any:
    from admin.app import create_app
    from postdesk.db import make_engine
    from postdesk.settings import Settings

    return create_app(Settings(url, "bench", "WARNING", 3600, False, False), make_engine(url))


def _export_once(url: str, fmt: str, query: str, out: str) -> dict[str, float]:
    """In a child process: export the orders list to ``out``; time, size and memory.
    ``fmt="read"`` only reads the rows the export would write (the database's share)."""
    from starlette.requests import Request

    from admin.exports import export_job
    from locales import set_language
    from services.actor import Actor, acting_as

    app = _app(url)
    view = next(v for v in app.state.admin._views if getattr(v, "identity", "") == "orders")
    request = Request({"type": "http", "method": "GET", "path": f"/admin/orders/exports/{fmt}",
                       "query_string": query.encode(), "headers": [], "state": {},
                       "path_params": {"fmt": fmt}})
    set_language("en")
    import anyio

    baseline = _rss_mb("VmRSS")
    exact_peak = _reset_peak()
    started, cpu = time.perf_counter(), time.process_time()
    with acting_as(Actor(user_id=None, username="bench", role="superuser")):
        job = anyio.run(export_job, view, request)
        if fmt == "xlsx":
            rows = job.write_xlsx(out)
        elif fmt == "read":
            rows = sum(1 for _ in job.rows())
            Path(out).write_bytes(b"")
        else:
            rows = 0
            with open(out, "wb") as fp:
                for chunk in job.iter_csv():
                    fp.write(chunk)
                    rows += chunk.count(b"\n")
            rows -= 1  # the header line
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = _rss_mb("VmHWM")
    return {"seconds": elapsed, "cpu": cpu, "rows": rows, "bytes": os.path.getsize(out),
            "baseline_mb": baseline, "peak_mb": peak, "exact_peak": float(exact_peak)}


def _child(queue: Any, *args: Any) -> None:
    queue.put(_export_once(*args))


def run_isolated(url: str, fmt: str, query: str, out: str) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, url, fmt, query, out))
    process.start()
    result = queue.get()
    process.join()
    return dict(result)


def over_http(url: str, fmts: Sequence[str], query: str) -> dict[str, tuple[float, int]]:
    """Download through the real server (uvicorn, one worker process, as in production) from
    another process, as a browser would: seconds and bytes per format."""
    import httpx

    from bench.quote_http import free_port, serve
    from postdesk.db import make_engine, make_session_factory
    from schema.people import User
    from services.accounts import create_user

    with make_session_factory(make_engine(url))() as session, session.begin():
        if session.scalar(select(User.id).where(User.username == "bench")) is None:
            create_user(session, "bench", "bench", "superuser")
    port = free_port()
    server = serve(url, port, Path.cwd())
    found: dict[str, tuple[float, int]] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            token = re.search(r'name="csrf-token" content="([^"]+)"',
                              client.get("/admin/login").text)[1]  # type: ignore[index]
            client.post("/admin/login", data={"username": "bench", "password": "bench",
                                              "csrf_token": token})
            # In English, like the direct export (the user's own language could be another).
            params = "&".join(q for q in (query, "lang=en") if q)
            for fmt in fmts:
                started, size = time.perf_counter(), 0
                with client.stream("GET", f"/admin/orders/exports/{fmt}?{params}") as response:
                    assert response.status_code == 200, response.status_code
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                found[fmt] = (time.perf_counter() - started, size)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--db", default="bench-orders.sqlite3")
    parser.add_argument("--query", default="",
                        help="the list's query string, e.g. status=delivered")
    parser.add_argument("--out", default="/tmp", help="directory for the exported files")
    parser.add_argument("--http", action="store_true", help="also download through the app")
    args = parser.parse_args()
    url = f"sqlite:///{Path(args.db).resolve()}"

    started = time.perf_counter()
    build(url, args.orders)
    print(f"database ready in {time.perf_counter() - started:.1f} s ({args.db})")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print("wall time is what a person waits; CPU time is this process's own work, which a "
          "busy machine does not inflate")
    for fmt in ("xlsx", "csv", "read"):
        out = str(Path(args.out) / f"bench-export.{fmt}")
        found = run_isolated(url, fmt, args.query, out)
        growth = found["peak_mb"] - found["baseline_mb"]
        if fmt == "read":
            print(f"  of which reading the rows (query, scoping, labels, names): "
                  f"{found['seconds']:.1f} s wall, {found['cpu']:.1f} s CPU")
            continue
        verdict = "ok" if found["seconds"] < TARGETS[fmt] else "OVER TARGET"
        print(f"  {fmt:<5} {found['rows']:>10,.0f} rows  {found['seconds']:6.1f} s wall "
              f"({found['cpu']:.1f} s CPU; target < {TARGETS[fmt]:.0f} s: {verdict})  "
              f"{found['bytes'] / 1e6:6.1f} MB file  peak RSS {found['peak_mb']:.0f} MB "
              f"(baseline {found['baseline_mb']:.0f} MB, +{growth:.0f} MB during the export"
              f"{'' if found['exact_peak'] else ', process peak'}; target < "
              f"{MEMORY_TARGET_MB:.0f} MB)")
    if args.http:
        for fmt, (seconds, size) in over_http(url, ("xlsx", "csv"), args.query).items():
            print(f"  {fmt:<5} over HTTP (uvicorn, downloaded by another process): "
                  f"{seconds:6.1f} s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
