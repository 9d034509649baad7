"""A group print as a background job: ``python -m bench.print_job [--orders N] [--db PATH]``.

Queues a job of N invoices (500 by default, the issue's figure) as a manager would from the
orders list (``services.jobs.start_print_job``), runs it with a runner the way the web process
does (``run_pending``: the data read in one session as the user, then chunks rendered by the
WeasyPrint worker processes, ``done`` written after each chunk), and reads the job's row every
half second from another connection, as the job page's progress poll does. Prints when the
first progress appeared, the progress over time, the total wall time and the file's size and
pages. Uses the database of ``bench.documents`` (built once with the demo factories).
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--db", default="bench-documents.sqlite3")
    args = parser.parse_args()

    import services.audit
    import services.events  # noqa: F401 - scoping, as in the app
    from bench.documents import build
    from postdesk.db import make_engine, make_session_factory
    from schema.base import configure_encryption
    from schema.jobs import BackgroundJob
    from schema.people import RoleCode
    from services import jobs
    from services.accounts import create_user
    from services.actor import Actor

    configure_encryption("bench")
    os.environ.setdefault("POSTDESK_JOBS_DIR", tempfile.mkdtemp(prefix="bench-jobs-"))
    url = f"sqlite:///{Path(args.db).resolve()}"
    ids = build(url, args.orders)
    factory = make_session_factory(make_engine(url))
    with factory() as session, session.begin():
        user = create_user(session, f"bench-jobs-{os.getpid()}-{time.time_ns()}", "bench-pass",
                           RoleCode.MANAGER)
        actor = Actor(user_id=user.id, username=user.username, role=RoleCode.MANAGER.value)
        job_id = jobs.start_print_job(session, actor, document="invoice", layout="a4",
                                      ids=ids, lang="ru", title="bench").id
    print(f"{len(ids)} invoices queued as job {job_id}; cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    started = time.perf_counter()
    runner = threading.Thread(target=jobs.run_pending, args=(factory, "bench"))
    runner.start()
    samples: list[tuple[float, int]] = []
    while runner.is_alive():
        with factory() as session:
            done = session.scalar(select(BackgroundJob.done).where(BackgroundJob.id == job_id))
        at = time.perf_counter() - started
        if not samples or samples[-1][1] != done:
            samples.append((at, int(done or 0)))
        runner.join(0.5)
    elapsed = time.perf_counter() - started
    with factory() as session:
        job = session.get(BackgroundJob, job_id)
        assert job is not None
        print(f"state {job.state.value}, {job.done} of {job.total} documents in {elapsed:.1f} s "
              f"wall ({len(ids) / elapsed:.1f} invoices/s)")
        first = next((t for t, d in samples if d > 0), None)
        print(f"  first progress after {first:.1f} s" if first is not None else "  no progress")
        print("  progress: " + ", ".join(f"{d}@{t:.0f}s" for t, d in samples))
        if job.file_path:
            from pypdf import PdfReader

            content = (jobs.jobs_dir() / job.file_path).read_bytes()
            print(f"  file {job.file_name}: {len(content) // 1024} KB, "
                  f"{len(PdfReader(io.BytesIO(content)).pages)} pages")


if __name__ == "__main__":
    main()
