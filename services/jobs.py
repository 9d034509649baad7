"""Background jobs: long work — a group print of many documents, a large list export, a report
file — runs off the web request, shows its progress and is kept a day among the person's
downloads (issue 11, "Long work shows progress").

Exact semantics:

- **Kinds.** What a job makes is decided by its ``kind``, through the maker registered for it
  (``register_maker``): ``print`` here (one PDF of many documents; progress = documents),
  ``export`` by ``admin.exports`` (a list as XLSX/CSV; progress = rows written) and ``report``
  by ``admin.reports_page`` (a report as XLSX/PDF; progress = steps). A maker gets a ``Work``
  (the actor, the plain-JSON params, ``set_total`` and ``progress``) and a path to write; it
  returns the file's name for people. A kind without a maker fails with ``UNEXPECTED``.
- **Starting** (``start_print_job`` / ``start_job``, in the caller's transaction, as the
  person): for a print the selected orders must all be visible to the person (scoping) or
  nothing is queued; the job row names the person (``user_id``), their merchant, what to make
  (plain JSON, so another runner can take it over) and ``total`` as far as it is known (a
  print: one per order, a labels sheet is one document); the maker sets the real total when it
  runs.
- **Running** happens in a runner: a thread of the web process (``runner_for(factory)``, woken
  when a job is queued, so ``postdesk demo`` needs nothing else) whose rendering is done in
  WeasyPrint worker processes (``reports.batch``, ``in_pool``), never on the event loop. A runner
  claims a due job — queued, or running with its lease run out — with a conditional update
  (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two runners never hold one job; the claim
  sets ``running``, a claim token in ``claimed_by``, ``lease_until`` = now + lease
  (``POSTDESK_JOB_LEASE`` seconds, default 60), ``done`` = 0 and counts an attempt.
- **The data is read as the person who started the job** (``acting_as`` the user as they are
  now: their current role and merchant), so scoping applies exactly as on the page: another
  merchant's order is never printed nor exported; an account deactivated meanwhile fails the
  job. (Grants were checked when the job was queued; the job needs none of its own.)
- **Progress**: a maker reports ``done`` as it goes (a print after each chunk of
  ``reports.batch.CHUNK_SIZE`` documents); each report writes ``done`` and the lease in a
  short transaction of its own, only while the claim holds (``claimed_by`` = the token, state
  ``running``). A heartbeat renews the lease every third
  of it while the runner reads or renders; a job that has run longer than ``STALL`` stops being
  renewed. A runner that lost its claim stops and writes nothing more.
- **A dead runner** (process killed, machine gone) stops renewing; once ``lease_until`` passes
  the job is due again and the next runner takes it over from the start — up to
  ``MAX_ATTEMPTS`` attempts in all; a job whose lease runs out after its last attempt is marked
  failed. So no job stays ``running`` forever. The worker's periodic ``background_jobs`` job
  (and every web runner) also sweeps: it fails such jobs and deletes expired files.
- **Finishing**: the maker writes the file to ``jobs_dir()`` under a name unknown to users
  (``<id>-<random>.part``, renamed with its extension when complete), then the row becomes
  ``done`` with ``done`` = ``total``, the file's name for people and its size, ``finished_at``
  and ``expires_at`` = finished + ``KEEP`` (one day). A file half-written by a failure is
  deleted. A refusal while reading (an order for a legal entity printed as a
  contract) or an unexpected error makes it ``failed`` with the English message id in ``error``
  and its parameters, translated for whoever reads it.
- **File names** (``file_name``) are in the starter's language — what it is, then the day in
  their calendar with ASCII digits, e.g. ``Счета 2026-12-01.pdf`` — and filesystem-safe: no
  path separators, reserved or control characters (bidi marks included), at most
  ``NAME_BYTES`` bytes of UTF-8 before the extension.
- **Expiry** (``sweep``): a finished job past ``expires_at`` loses its file and its row.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from locales import SOLAR_HIJRI, calendar_of, translations
from locales.jalali import to_jalali
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


# --- file names -------------------------------------------------------------------------------

# A file name's part before the extension is cut to this many bytes of UTF-8 (filesystems allow
# 255; Cyrillic and Persian letters take two bytes each).
NAME_BYTES = 150
# Path separators, characters Windows refuses, control characters and bidi controls (a name
# that reads backwards in a file manager).
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]')

# What a group print's file is called (its documents, plural), by document code.
PRINT_FILE_NAMES = {
    "invoice": N_("Invoices"),
    "contract": N_("Order contracts"),
    "price_agreement": N_("Invoices with price agreement"),
    "waybill": N_("Waybills"),
    "sticker": N_("Parcel stickers"),
    "refusal": N_("Refusal statements"),
    "summary": N_("Order summaries"),
    "labels": N_("Barcode labels sheet"),
}


def day_text(day: date, lang: str) -> str:
    """A day for a file name: ``YYYY-MM-DD`` in the reader's calendar (Solar Hijri for Persian),
    ASCII digits so that names sort and travel everywhere."""
    if calendar_of(lang) == SOLAR_HIJRI:
        jalali = to_jalali(day)
        return f"{jalali.year:04d}-{jalali.month:02d}-{jalali.day:02d}"
    return day.isoformat()


def safe_file_name(stem: str, extension: str) -> str:
    """``stem.extension`` safe on every filesystem: unsafe characters become spaces, runs of
    spaces one, no leading or trailing dots or spaces, at most ``NAME_BYTES`` bytes."""
    cleaned = " ".join(_UNSAFE.sub(" ", stem).split()).strip(" .")
    encoded = cleaned.encode()[:NAME_BYTES]
    cleaned = encoded.decode(errors="ignore").strip(" .") or "file"
    return f"{cleaned}.{extension}"


def file_name(what: str, extension: str, lang: str, day: date | None = None) -> str:
    """``<what> <day>.<extension>``: ``what`` already in the reader's language."""
    return safe_file_name(f"{what} {day_text(day or utcnow().date(), lang)}", extension)


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
    # The row is the platform's bookkeeping about the person, written without their filters
    # (the visibility check above is what they may print).
    return start_job(session, actor, kind=JobKind.PRINT, title=title,
                     total=1 if single_document else len(ids),
                     params={"document": document, "layout": layout, "ids": list(ids),
                             "lang": lang})


def start_job(session: Session, actor: Actor, *, kind: JobKind, title: str, total: int,
              params: dict[str, Any]) -> BackgroundJob:
    """Queue a job of ``kind`` for ``actor`` (the caller's transaction). ``params`` are plain
    JSON: what the kind's maker needs, read again as the actor when it runs. The caller checks
    what the person may do (grants, visibility) before."""
    if actor.user_id is None:
        raise Refused(USER_GONE)
    job = BackgroundJob(user_id=actor.user_id, merchant_id=actor.merchant_id, kind=kind,
                        title=title[:200], state=JobState.QUEUED, total=total, params=params)
    with acting_as(None):  # the platform's bookkeeping about the person (see above)
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
    kind: JobKind = JobKind.PRINT


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
                                     BackgroundJob.total, BackgroundJob.kind)
                              .where(BackgroundJob.id == row.id)).one()
        session.commit()
        if row.state == JobState.RUNNING:
            log.warning("job %s taken over by %s: its runner stopped renewing its lease",
                        row.id, claimer)
        return Claimed(row.id, claimer, job.user_id, dict(job.params), job.total, job.kind)
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


@dataclass
class Work:
    """What a maker is given: the job's params, the person it runs as (as they are now), the
    language of the file, and how to report. ``set_total`` and ``progress`` raise ``JobLost``
    once the claim is gone, which stops the maker."""

    factory: sessionmaker[Session]
    actor: Actor
    params: dict[str, Any]
    lang: str
    set_total: Callable[[int], None]
    progress: Callable[[int], None]


Maker = Callable[[Work, Path], str]
"""Makes the job's file at the path given and returns its name for people (``file_name``)."""

MAKERS: dict[JobKind, Maker] = {}


def register_maker(kind: JobKind, maker: Maker) -> None:
    """Say how jobs of ``kind`` are made (at import of the module that owns the kind)."""
    MAKERS[kind] = maker


def _make_print(work: Work, path: Path) -> str:
    """A group print: the documents read as the person, laid out in worker processes."""
    from reports.batch import render_job
    from reports.documents import PrintRequest, prepare

    params = work.params
    with work.factory() as session, session.begin(), acting_as(work.actor):
        print_job = prepare(session, params["document"], params.get("layout"),
                            PrintRequest(ids=tuple(params["ids"])), work.lang)
    work.set_total(len(print_job.contexts))
    path.write_bytes(render_job(print_job, progress=work.progress, in_pool=True))
    label = PRINT_FILE_NAMES.get(str(params["document"]))
    what = translations(work.lang).gettext(label) if label else print_job.filename.rsplit(
        ".", 1)[0]
    return file_name(what, "pdf", work.lang)


register_maker(JobKind.PRINT, _make_print)


def run_claimed(factory: sessionmaker[Session], claimed: Claimed,
                lease: timedelta = DEFAULT_LEASE) -> JobState | None:
    """Do a claimed job to the end; the state it ended in (None: the claim was lost)."""
    folder = jobs_dir()
    stored = f"{claimed.job_id}-{secrets.token_hex(8)}"
    partial = folder / (stored + ".part")
    total = claimed.total
    try:
        with _heartbeat(factory, claimed, lease) as lost:
            with factory() as session:
                actor = _actor(session, claimed.user_id)
            if actor is None:
                raise Refused(USER_GONE)
            maker = MAKERS.get(claimed.kind)
            if maker is None:
                raise RuntimeError(f"no maker for {claimed.kind} jobs")

            def set_total(count: int) -> None:
                nonlocal total
                with transaction(factory) as session:
                    if not _held(session, claimed, total=count):
                        raise JobLost
                total = count

            def progress(done: int) -> None:
                if lost.is_set():
                    raise JobLost
                with transaction(factory) as session:
                    if not _held(session, claimed, done=done, lease_until=utcnow() + lease):
                        raise JobLost

            folder.mkdir(parents=True, exist_ok=True)
            name = maker(Work(factory, actor, claimed.params,
                              str(claimed.params.get("lang") or "en"), set_total, progress),
                         partial)
        stored += Path(name).suffix
        partial.replace(folder / stored)
        size = (folder / stored).stat().st_size
        now = utcnow()
        with transaction(factory) as session:
            finished = _held(session, claimed, state=JobState.DONE, done=total,
                             file_path=stored, file_name=name, file_size=size,
                             finished_at=now, expires_at=now + KEEP,
                             claimed_by=None, lease_until=None, updated_at=now)
        if not finished:
            (folder / stored).unlink(missing_ok=True)
            raise JobLost
        log.info("job %s (%s) done: %d of %d, %d bytes", claimed.job_id, claimed.kind.value,
                 total, total, size)
        return JobState.DONE
    except JobLost:
        log.warning("job %s: the runner lost its claim and stopped", claimed.job_id)
        return None
    except Refused as refusal:
        error, error_params = refusal.text, _plain(refusal.params)
    except Exception:
        log.exception("job %s failed", claimed.job_id)
        error, error_params = UNEXPECTED, {}
    finally:
        partial.unlink(missing_ok=True)  # a file left half-written by any of the above
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
