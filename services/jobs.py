"""Background jobs: a group print of many documents runs off the web request, shows its progress
and is kept a day among the person's downloads (issue 11, "Long work shows progress").

Exact semantics:

- **Starting** (``start_print_job``, in the caller's transaction, as the person): the selected
  orders must all be visible to the person (scoping) or nothing is queued; the job row names the
  person (``user_id``), their merchant, what to print (document, layout, order ids, language) and
  ``total`` = the documents it will hold (one per order; a labels sheet is one document).
- **Running** happens in a runner: a thread of the web process (``runner_for(factory)``, woken
  when a job is queued, so ``postdesk demo`` needs nothing else) whose rendering is done in
  WeasyPrint worker processes (``reports.batch``, ``in_pool``), never on the event loop. A runner
  claims a due job — queued, or running with its lease run out — with a conditional update
  (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two runners never hold one job; the claim
  sets ``running``, a claim token in ``claimed_by``, ``lease_until`` = now + lease
  (``POSTDESK_JOB_LEASE`` seconds, default 60), ``done`` = 0 and counts an attempt.
- **The data is read as the person who started the job** (``acting_as`` the user as they are
  now: their current role and merchant), so scoping applies exactly as on the page: another
  merchant's order is never printed; an account deactivated meanwhile fails the job.
- **Progress**: documents are rendered in chunks (``reports.batch.CHUNK_SIZE``); after each chunk
  ``done`` and the lease are written in a short transaction of their own, only while the claim
  holds (``claimed_by`` = the token, state ``running``). A heartbeat renews the lease every third
  of it while the runner reads or renders; a job that has run longer than ``STALL`` stops being
  renewed. A runner that lost its claim stops and writes nothing more.
- **A dead runner** (process killed, machine gone) stops renewing; once ``lease_until`` passes
  the job is due again and the next runner takes it over from the start — up to
  ``MAX_ATTEMPTS`` attempts in all; a job whose lease runs out after its last attempt is marked
  failed. So no job stays ``running`` forever. The worker's periodic ``background_jobs`` job
  (and every web runner) also sweeps: it fails such jobs and deletes expired files.
- **Finishing**: the PDF is written to ``jobs_dir()`` under a name unknown to users, then the row
  becomes ``done`` with the file's name and size, ``finished_at`` and ``expires_at`` = finished
  + ``KEEP`` (one day). A refusal while reading (an order for a legal entity printed as a
  contract) or an unexpected error makes it ``failed`` with the English message id in ``error``
  and its parameters, translated for whoever reads it.
- **Expiry** (``sweep``): a finished job past ``expires_at`` loses its file and its row.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from postdesk.db import transaction
from rules.workflow import Message
from schema.base import N_, utcnow
from schema.jobs import BackgroundJob, JobKind, JobState
from schema.orders import Order
from schema.people import RoleCode, User
from services.actor import Actor, acting_as
from services.documents import DocumentNotFound, documents_dir
from services.errors import Refused
from services.worker import periodic

log = logging.getLogger(__name__)

KEEP = timedelta(days=1)
MAX_ATTEMPTS = 2
LEASE_ENV = "POSTDESK_JOB_LEASE"
DEFAULT_LEASE = timedelta(seconds=60)
STALL = timedelta(minutes=30)  # a job running longer than this is left to lose its lease
# Up to this many documents a group print still answers in the request itself.
DIRECT_LIMIT = 20
SWEEP_EVERY = 600.0  # seconds between a web runner's sweeps

DEAD_RUNNER = N_("The job stopped unexpectedly (the process running it ended). Start it again.")
UNEXPECTED = N_("The documents could not be made because of an unexpected error. Try again; "
                "if it happens again, tell an administrator.")
USER_GONE = N_("The account that started this job is no longer active.")


def lease_from_env() -> timedelta:
    seconds = float(os.environ.get(LEASE_ENV) or DEFAULT_LEASE.total_seconds())
    if seconds < 1:
        raise ValueError(f"{LEASE_ENV} must be at least 1 second")
    return timedelta(seconds=seconds)


def jobs_dir() -> Path:
    """Where jobs' files are kept: ``POSTDESK_JOBS_DIR``, default ``<documents dir>/jobs``."""
    return Path(os.environ.get("POSTDESK_JOBS_DIR") or documents_dir() / "jobs")


class JobLost(Exception):
    """The runner no longer holds the job (its lease ran out and another took it over)."""


# --- starting ---------------------------------------------------------------------------------


def start_print_job(session: Session, actor: Actor, *, document: str, layout: str | None,
                    ids: list[int], lang: str, title: str, single_document: bool = False
                    ) -> BackgroundJob:
    """Queue a group print of ``ids`` for ``actor`` (the caller's transaction, run as the
    actor). ``single_document``: the document holds every order (a labels sheet)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        raise Refused("Select at least one order first.")
    with acting_as(actor):
        visible = session.scalar(select(func.count(Order.id)).where(Order.id.in_(wanted)))
    if visible != len(wanted):
        raise DocumentNotFound("The order was not found, or you may not see it.")
    if actor.user_id is None:
        raise Refused(USER_GONE)
    job = BackgroundJob(
        user_id=actor.user_id, merchant_id=actor.merchant_id, kind=JobKind.PRINT,
        title=title[:200], state=JobState.QUEUED, total=1 if single_document else len(ids),
        params={"document": document, "layout": layout, "ids": list(ids), "lang": lang},
    )
    # The row is the platform's bookkeeping about the person, written without their filters
    # (the visibility check above is what they may print).
    with acting_as(None):
        session.add(job)
        session.flush()
    return job


# --- reading (always by the owner) --------------------------------------------------------------


def own_jobs(session: Session, user_id: int, now: datetime | None = None) -> list[BackgroundJob]:
    """The user's jobs not yet expired, newest first."""
    now = now or utcnow()
    return list(session.scalars(
        select(BackgroundJob)
        .where(BackgroundJob.user_id == user_id,
               or_(BackgroundJob.expires_at.is_(None), BackgroundJob.expires_at > now))
        .order_by(BackgroundJob.id.desc())))


def own_job(session: Session, user_id: int, job_id: int) -> BackgroundJob | None:
    """The job if it is the user's (another user's id reads as missing)."""
    return session.scalar(select(BackgroundJob).where(BackgroundJob.id == job_id,
                                                      BackgroundJob.user_id == user_id))


def job_file(job: BackgroundJob, now: datetime | None = None) -> Path | None:
    """The finished job's file while it is kept."""
    now = now or utcnow()
    if job.state is not JobState.DONE or not job.file_path or (
            job.expires_at is not None and job.expires_at <= now):
        return None
    path = jobs_dir() / job.file_path
    return path if path.is_file() else None


# --- claiming ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    job_id: int
    claimer: str
    user_id: int
    params: dict[str, Any]
    total: int


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(BackgroundJob.state == JobState.QUEUED,
               and_(BackgroundJob.state == JobState.RUNNING, BackgroundJob.lease_until < now))


def _fail_values(now: datetime, error: str, params: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    return {"state": JobState.FAILED, "error": error, "error_params": params or None,
            "finished_at": now, "expires_at": now + KEEP, "claimed_by": None,
            "lease_until": None, "updated_at": now, "version": BackgroundJob.version + 1}


def fail_dead(session: Session, now: datetime) -> list[int]:
    """Fail the jobs whose lease ran out after their last attempt (the caller's transaction)."""
    ids = list(session.scalars(select(BackgroundJob.id).where(
        BackgroundJob.state == JobState.RUNNING, BackgroundJob.lease_until < now,
        BackgroundJob.attempts >= MAX_ATTEMPTS)))
    failed = []
    for job_id in ids:
        result = session.execute(
            update(BackgroundJob).where(
                BackgroundJob.id == job_id, BackgroundJob.state == JobState.RUNNING,
                BackgroundJob.lease_until < now, BackgroundJob.attempts >= MAX_ATTEMPTS)
            .values(**_fail_values(now, DEAD_RUNNER))
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            failed.append(job_id)
    if failed:
        log.warning("jobs %s failed: their runner died on the last attempt", failed)
    return failed


def claim(session: Session, now: datetime, runner: str = "",
          lease: timedelta = DEFAULT_LEASE, only: int | None = None) -> Claimed | None:
    """Take the oldest due job (``only``: that job, if due) under a new lease and commit; None
    when nothing is due."""
    fail_dead(session, now)
    claimer = f"{runner[:24]}#{secrets.token_hex(4)}"
    candidates = (select(BackgroundJob.id, BackgroundJob.state).where(_due(now))
                  .order_by(BackgroundJob.id).limit(5))
    if only is not None:
        candidates = candidates.where(BackgroundJob.id == only)
    if session.connection().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    for row in session.execute(candidates).all():
        taken = session.execute(
            update(BackgroundJob).where(BackgroundJob.id == row.id, _due(now))
            .values(state=JobState.RUNNING, claimed_by=claimer, lease_until=now + lease,
                    attempts=BackgroundJob.attempts + 1, done=0, updated_at=now,
                    version=BackgroundJob.version + 1)
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another runner was first (SQLite: no row locks)
        job = session.execute(select(BackgroundJob.user_id, BackgroundJob.params,
                                     BackgroundJob.total)
                              .where(BackgroundJob.id == row.id)).one()
        session.commit()
        if row.state == JobState.RUNNING:
            log.warning("job %s taken over by %s: its runner stopped renewing its lease",
                        row.id, claimer)
        return Claimed(row.id, claimer, job.user_id, dict(job.params), job.total)
    session.commit()
    return None


def _held(session: Session, claimed: Claimed, **values: Any) -> bool:
    """Write ``values`` if the claim still holds the job."""
    return session.execute(
        update(BackgroundJob).where(BackgroundJob.id == claimed.job_id,
                                    BackgroundJob.claimed_by == claimed.claimer,
                                    BackgroundJob.state == JobState.RUNNING)
        .values(version=BackgroundJob.version + 1, **values)
        .execution_options(synchronize_session=False)).rowcount == 1  # type: ignore[attr-defined]


@contextmanager
def _heartbeat(factory: sessionmaker[Session], claimed: Claimed, lease: timedelta
               ) -> Iterator[threading.Event]:
    """Renew the lease every third of it while the block runs; the event it yields is set when
    the claim was lost, so the work stops at its next progress report."""
    stop, lost = threading.Event(), threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(lease.total_seconds() / 3):
            if time.monotonic() - started > STALL.total_seconds():
                log.warning("job %s has run over %s; its lease is left to run out",
                            claimed.job_id, STALL)
                return
            try:
                with transaction(factory) as session:
                    if not _held(session, claimed, lease_until=utcnow() + lease):
                        lost.set()
                        return
            except Exception:  # the next beat tries again
                log.warning("job %s: could not renew its lease", claimed.job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"job lease {claimed.job_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


# --- running ----------------------------------------------------------------------------------


def _actor(session: Session, user_id: int) -> Actor | None:
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return Actor(user_id=user.id, username=user.username, role=user.role.code.value,
                 merchant_id=user.merchant_id if user.role.code is RoleCode.MERCHANT else None)


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.render(str) if isinstance(v, Message) else
            v if isinstance(v, str | int | float) else str(v) for k, v in params.items()}


def run_claimed(factory: sessionmaker[Session], claimed: Claimed,
                lease: timedelta = DEFAULT_LEASE) -> JobState | None:
    """Do a claimed job to the end; the state it ended in (None: the claim was lost)."""
    from reports.batch import render_job
    from reports.documents import PrintRequest, prepare

    params = claimed.params
    try:
        with _heartbeat(factory, claimed, lease) as lost:
            with factory() as session, session.begin():
                actor = _actor(session, claimed.user_id)
                if actor is None:
                    raise Refused(USER_GONE)
                with acting_as(actor):
                    print_job = prepare(session, params["document"], params.get("layout"),
                                        PrintRequest(ids=tuple(params["ids"])), params["lang"])
            total = len(print_job.contexts)
            with transaction(factory) as session:
                if not _held(session, claimed, total=total, done=0):
                    raise JobLost

            def progress(done: int) -> None:
                if lost.is_set():
                    raise JobLost
                with transaction(factory) as session:
                    if not _held(session, claimed, done=done, lease_until=utcnow() + lease):
                        raise JobLost

            pdf = render_job(print_job, progress=progress, in_pool=True)
        folder = jobs_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stored = f"{claimed.job_id}-{secrets.token_hex(8)}.pdf"
        partial = folder / (stored + ".part")
        partial.write_bytes(pdf)
        partial.replace(folder / stored)
        now = utcnow()
        with transaction(factory) as session:
            finished = _held(session, claimed, state=JobState.DONE, done=total,
                             file_path=stored, file_name=print_job.filename,
                             file_size=len(pdf), finished_at=now, expires_at=now + KEEP,
                             claimed_by=None, lease_until=None, updated_at=now)
        if not finished:
            (folder / stored).unlink(missing_ok=True)
            raise JobLost
        log.info("job %s done: %d documents, %d bytes", claimed.job_id, total, len(pdf))
        return JobState.DONE
    except JobLost:
        log.warning("job %s: the runner lost its claim and stopped", claimed.job_id)
        return None
    except Refused as refusal:
        error, error_params = refusal.text, _plain(refusal.params)
    except Exception:
        log.exception("job %s failed", claimed.job_id)
        error, error_params = UNEXPECTED, {}
    with transaction(factory) as session:
        if not _held(session, claimed, **{k: v for k, v in _fail_values(
                utcnow(), error, error_params).items() if k != "version"}):
            return None
    return JobState.FAILED


def run_pending(factory: sessionmaker[Session], runner: str = "",
                lease: timedelta | None = None, limit: int = 100) -> int:
    """Claim and run due jobs one after another until none is due; how many were run."""
    lease = lease_from_env() if lease is None else lease
    count = 0
    while count < limit:
        with factory() as session:
            claimed = claim(session, utcnow(), runner, lease)
        if claimed is None:
            break
        run_claimed(factory, claimed, lease)
        count += 1
    return count


def sweep(factory: sessionmaker[Session], now: datetime | None = None) -> int:
    """Fail dead jobs past their last attempt; delete expired jobs' files and rows. Returns
    how many expired jobs were removed."""
    now = now or utcnow()
    with transaction(factory) as session:
        fail_dead(session, now)
        expired = session.execute(select(BackgroundJob.id, BackgroundJob.file_path).where(
            BackgroundJob.expires_at <= now)).all()
        for row in expired:
            if row.file_path:
                (jobs_dir() / row.file_path).unlink(missing_ok=True)
        if expired:
            session.execute(
                BackgroundJob.__table__.delete().where(
                    BackgroundJob.id.in_([row.id for row in expired]),
                    BackgroundJob.expires_at <= now))
    if expired:
        log.info("removed %d expired jobs and their files", len(expired))
    return len(expired)


@periodic("background_jobs", 300)
def _sweep_in_worker(factory: sessionmaker[Session], now: datetime) -> None:
    sweep(factory, now)


# --- the web process's runner -------------------------------------------------------------------


class JobRunner:
    """A daemon thread that runs due jobs for one database when woken (``wake``: a job was
    queued, or someone opened a page of their jobs) and sweeps every ``SWEEP_EVERY``."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.name = f"web-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"jobs {self.name}",
                                        daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        last_sweep = 0.0
        while True:
            self._wake.clear()
            try:
                if time.monotonic() - last_sweep > SWEEP_EVERY:
                    sweep(self.factory)
                    last_sweep = time.monotonic()
                run_pending(self.factory, self.name)
            except Exception:  # the database was away: try again after the pause
                log.exception("job runner %s: a pass failed", self.name)
            # Woken by a new job or by someone looking at their jobs (a dead runner's job is
            # then taken over); otherwise only the sweep is due now and then.
            self._wake.wait(SWEEP_EVERY)


_runners: dict[int, JobRunner] = {}
_runners_lock = threading.Lock()


def runner_for(factory: sessionmaker[Session]) -> JobRunner:
    """This process's runner for ``factory``'s database, started on first use. Pages that show
    jobs call it too, so after a restart a dead runner's job is taken over as soon as someone
    looks at it."""
    with _runners_lock:
        runner = _runners.get(id(factory))
        if runner is None:
            runner = _runners[id(factory)] = JobRunner(factory)
        return runner
