"""Document rendering speed: ``python -m bench.documents [--orders N] [--workers W] [--db PATH]``.

1. One invoice, warm: the renderer's fonts, stylesheets and templates are built, then one A4
   invoice (3 lines, read from the database) is rendered again and again. Reported as CPU
   time of this process per invoice (the per-core figure; it stays honest on a shared machine)
   and wall time. Target: at most 110 ms per core.
2. Group print of N invoices (1,000 by default) through the production path — ``prepare`` in one
   session, then ``reports.batch.render_many`` in chunks over W worker processes. The timed
   pass reads only cheap counters (each process's CPU time and peak RSS); a second, identical
   pass samples the PSS of the parent, the fork server and the workers together every 250 ms
   (reading PSS slows the workers, so it is not timed). ``getrusage`` sees only the parent:
   the workers are the fork server's children. Targets: under 60 s on 2 cores, under 400 MB.

The database (``bench-documents.sqlite3``) is built once with the demo factories and reused.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from reports import batch, render
from reports.documents import PrintRequest, prepare

TEMPLATE_INVOICE = "documents/invoice_a4.html"


def build(url: str, orders: int) -> list[int]:
    from postdesk.db import make_engine, make_session_factory
    from postdesk.migrate import upgrade_head
    from schema.orders import Order
    from seed.demo import factories
    from seed.loader import load_seed_data

    upgrade_head(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        have = session.scalar(select(func.count()).select_from(Order)) or 0
    if have < orders:
        with factory() as session, session.begin(), factories.using_session(session):
            if not have:
                load_seed_data(session)
            factories.reseed(11)
            merchant = factories.MerchantFactory(locale="ru_RU")
            for _ in range(orders - have):
                factories.OrderFactory(merchant=merchant, lines=3)
    with factory() as session:
        ids = list(session.scalars(select(Order.id).order_by(Order.id).limit(orders)))
    engine.dispose()
    return ids


def _pss_kb(pid: int) -> int:
    """The proportional set size: pages a worker shares with the fork server are split between
    them, so the sum over processes is the memory really used. Reading it walks the process's
    page tables under its memory lock, which slows a busy process down: the timed pass does not
    read it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return 0  # the process ended between listing and reading it
    return 0


def _status_kb(pid: int, field: str) -> int:
    """A counter of /proc/<pid>/status (VmRSS, VmHWM = the peak RSS): cheap to read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0  # the process ended between listing and reading it
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # the process has just ended
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProcessTree:
    """Watches this process and all its descendants: the summed RSS, each one's peak RSS and
    CPU time (the workers are the fork server's children, which ``getrusage`` cannot see) and,
    with ``pss=True``, the summed PSS."""

    def __init__(self, pss: bool = False, every: float = 0.25) -> None:
        self.pss, self.every, self._stop = pss, every, threading.Event()
        self.peak_rss_kb = self.peak_pss_kb = 0
        self.cpu: dict[int, float] = {}
        self.hwm: dict[int, int] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[int]:
        pids, todo = [], [os.getpid()]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += _children(pid)
        return pids

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = self._tree()
            for pid in tree:
                self.hwm[pid] = max(self.hwm.get(pid, 0), _status_kb(pid, "VmHWM"))
                if pid != tree[0]:
                    self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_seconds(pid))
            self.peak_rss_kb = max(self.peak_rss_kb,
                                   sum(_status_kb(pid, "VmRSS") for pid in tree))
            if self.pss:
                self.peak_pss_kb = max(self.peak_pss_kb, sum(_pss_kb(pid) for pid in tree))
            self._stop.wait(self.every)

    def __enter__(self) -> ProcessTree:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def one_invoice(factory: object, order_id: int, rounds: int) -> None:
    with factory() as session:  # type: ignore[operator]
        job = prepare(session, "invoice", "a4", PrintRequest(ids=(order_id,)), "ru")
    context = job.contexts[0]
    start = time.perf_counter()
    render.warm_up()
    render.render_pdf(TEMPLATE_INVOICE, context, "ru")
    print(f"cold start (fonts, stylesheets, templates, first invoice): "
          f"{(time.perf_counter() - start) * 1000:.0f} ms")
    for _ in range(3):
        render.render_pdf(TEMPLATE_INVOICE, context, "ru")
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        render.render_pdf(TEMPLATE_INVOICE, context, "ru")
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    print(f"one invoice, warm ({rounds} rounds): CPU median {statistics.median(cpu):.0f} ms, "
          f"best {min(cpu):.0f} ms; wall median {statistics.median(wall):.0f} ms "
          f"(target <= 110 ms per core)")


def _group_print(factory: object, ids: list[int], workers: int, watch: ProcessTree
                 ) -> tuple[float, float, int]:
    start = time.perf_counter()
    with watch:
        with factory() as session:  # type: ignore[operator]
            job = prepare(session, "invoice", "a4", PrintRequest(ids=tuple(ids)), "ru")
        prepared = time.perf_counter() - start
        pdf = batch.render_many(job.template, job.contexts, job.lang, workers=workers)
    return time.perf_counter() - start, prepared, len(pdf)


def group_print(factory: object, ids: list[int], workers: int) -> None:
    cpu_start = time.process_time()
    timed = ProcessTree()
    elapsed, prepared, size = _group_print(factory, ids, workers, timed)
    parent_cpu = time.process_time() - cpu_start
    workers_cpu = sum(timed.cpu.values())
    print(f"group print of {len(ids)} invoices on {workers} workers: {elapsed:.1f} s wall "
          f"(data {prepared:.1f} s), {size // 1024} KB, {len(ids) / elapsed:.1f} invoices/s "
          f"(target < 60 s)")
    print(f"  CPU: fork server + workers {workers_cpu:.1f} s "
          f"({workers_cpu / len(ids) * 1000:.0f} ms per invoice), parent {parent_cpu:.1f} s")
    parent = os.getpid()
    children = sorted((kb // 1024 for pid, kb in timed.hwm.items() if pid != parent),
                      reverse=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"  peak RSS: parent {timed.hwm.get(parent, 0) // 1024} MB (getrusage {own} MB), "
          f"each child {children} MB; sum of RSS at its peak {timed.peak_rss_kb // 1024} MB "
          f"(counts shared pages once per process)")
    measured = ProcessTree(pss=True)
    again, _, _ = _group_print(factory, ids, workers, measured)
    print(f"memory pass (the same group print, PSS read every 250 ms, {again:.0f} s): peak PSS "
          f"of the parent, the fork server and the workers together "
          f"{measured.peak_pss_kb // 1024} MB (target < 400 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--db", default="bench-documents.sqlite3")
    args = parser.parse_args()

    import services.audit
    import services.events  # noqa: F401 - scoping, as in the app
    from postdesk.db import make_engine, make_session_factory
    from schema.base import configure_encryption

    configure_encryption("bench")
    url = f"sqlite:///{Path(args.db).resolve()}"
    started = time.perf_counter()
    ids = build(url, args.orders)
    print(f"database: {len(ids)} orders ({time.perf_counter() - started:.1f} s to open/build); "
          f"HarfBuzz subsetting: {'yes' if render.harfbuzz_subset_available() else 'MISSING'}; "
          f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    factory = make_session_factory(make_engine(url))
    # The group print first: its parent (a web process) only reads data and joins the parts.
    group_print(factory, ids, args.workers)
    one_invoice(factory, ids[0], args.rounds)


if __name__ == "__main__":
    main()
