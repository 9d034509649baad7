"""The outbox worker: claims due messages, sends them, records the answer; runs periodic jobs.

Sending happens outside any transaction. A message is first *claimed* (status ``sending``) in a
short transaction of its own, so no other worker can take it:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks rows no other worker holds, then they
  are marked ``sending`` and committed; any number of workers may run.
- SQLite: ``SKIP LOCKED`` compiles to nothing, so each row is claimed with a conditional
  ``UPDATE ... WHERE id = :id AND status = 'pending'`` and kept only when one row changed. One
  worker is the supported setup there, but even two never get the same row.

A failed send goes back to ``pending`` with exponential backoff (30 s, 1 min, 2 min, ... capped
at 1 h) and becomes ``failed`` after ``MAX_ATTEMPTS``. A message left in ``sending`` longer than
``STUCK_AFTER`` (a worker that crashed mid-send) is put back in the queue.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from postdesk.db import transaction
from schema.base import utcnow
from schema.notifications import OutboxChannel, OutboxMessage, OutboxStatus
from services.providers import DeliveryError, Provider

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
STUCK_AFTER = timedelta(minutes=10)
ERROR_LIMIT = 2000

Providers = Mapping[OutboxChannel | str, Provider]


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s * 2**(attempts-1), at most 1 h."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def _prefixed(criteria: list[ColumnElement[bool]],
              recipient_prefix: str | None) -> list[ColumnElement[bool]]:
    if recipient_prefix:
        criteria.append(OutboxMessage.recipient.startswith(recipient_prefix, autoescape=True))
    return criteria


def _due(now: datetime, recipient_prefix: str | None) -> list[ColumnElement[bool]]:
    return _prefixed([OutboxMessage.status == OutboxStatus.PENDING,
                      OutboxMessage.next_attempt_at <= now], recipient_prefix)


def claim(session: Session, now: datetime, limit: int, worker_id: str = "", *,
          recipient_prefix: str | None = None) -> list[OutboxMessage]:
    """Take up to ``limit`` due messages for this worker: mark them ``sending`` and commit.

    ``recipient_prefix`` narrows the claim (a dedicated worker, or a test's own messages).
    Returns the claimed messages, oldest first, loaded and safe to use after the session ends.
    """
    ids_query = (select(OutboxMessage.id).where(*_due(now, recipient_prefix))
                 .order_by(OutboxMessage.id).limit(limit))
    mark = update(OutboxMessage).values(
        status=OutboxStatus.SENDING, updated_at=now, version=OutboxMessage.version + 1,
    ).execution_options(synchronize_session=False)
    if session.connection().dialect.name == "postgresql":
        ids = list(session.scalars(ids_query.with_for_update(skip_locked=True)))
        if ids:
            session.execute(mark.where(OutboxMessage.id.in_(ids)))
    else:
        candidates = list(session.scalars(ids_query))
        ids = [
            message_id for message_id in candidates
            if session.execute(mark.where(OutboxMessage.id == message_id,
                                          OutboxMessage.status == OutboxStatus.PENDING)
                               ).rowcount == 1  # type: ignore[attr-defined]
        ]
    claimed = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        .execution_options(populate_existing=True)
    )) if ids else []
    session.commit()
    if claimed:
        log.debug("worker %s claimed %d messages", worker_id, len(claimed))
    return claimed


def recover_stuck(session: Session, now: datetime, *,
                  recipient_prefix: str | None = None) -> int:
    """Put messages left in ``sending`` for longer than ``STUCK_AFTER`` back in the queue."""
    result = session.execute(
        update(OutboxMessage)
        .where(*_prefixed([OutboxMessage.status == OutboxStatus.SENDING,
                           OutboxMessage.updated_at < now - STUCK_AFTER], recipient_prefix))
        .values(status=OutboxStatus.PENDING, next_attempt_at=now, updated_at=now,
                last_error="The worker stopped while sending; queued again.",
                version=OutboxMessage.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"sent {self.sent}, retried {self.retried}, failed {self.failed}"
        return text + (f", recovered {self.recovered} stuck" if self.recovered else "")


def _mark(factory: sessionmaker[Session], message_id: int, **values: object) -> None:
    with transaction(factory) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.SENDING)
            .values(version=OutboxMessage.version + 1, **values)
            .execution_options(synchronize_session=False)
        )


def deliver(factory: sessionmaker[Session], providers: Providers, *,
            now: datetime | None = None, limit: int = 50, worker_id: str = "",
            recipient_prefix: str | None = None) -> DeliveryReport:
    """Recover stuck messages, claim one batch of due ones and send each.

    ``now`` fixes the clock (tests); otherwise the current time is read when needed.
    """
    def clock() -> datetime:
        return now if now is not None else utcnow()

    report = DeliveryReport()
    with transaction(factory) as session:
        report.recovered = recover_stuck(session, clock(), recipient_prefix=recipient_prefix)
    if report.recovered:
        log.warning("%d messages were stuck in sending and are queued again", report.recovered)
    with factory() as session:
        batch = claim(session, clock(), limit, worker_id, recipient_prefix=recipient_prefix)
    report.claimed = len(batch)
    for message in batch:
        provider = providers.get(message.channel)
        try:
            if provider is None:
                raise DeliveryError(f"no provider for the channel {message.channel}")
            answer = provider.send(message)
        except Exception as exc:  # any failure is retried; the worker keeps going
            answer_text = exc.answer if isinstance(exc, DeliveryError) else None
            error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
            attempts = message.attempts + 1
            at = clock()
            values: dict[str, object] = {
                "attempts": attempts, "last_error": error[:ERROR_LIMIT],
                "provider_answer": answer_text, "updated_at": at,
            }
            if attempts >= MAX_ATTEMPTS:
                values["status"] = OutboxStatus.FAILED
                report.failed += 1
                log.error("message %s failed for good after %d attempts: %s",
                          message.id, attempts, error)
            else:
                values["status"] = OutboxStatus.PENDING
                values["next_attempt_at"] = at + backoff(attempts)
                report.retried += 1
                log.info("message %s attempt %d failed: %s", message.id, attempts, error)
            report.errors.append(f"#{message.id}: {error}")
            _mark(factory, message.id, **values)
            continue
        at = clock()
        _mark(factory, message.id, status=OutboxStatus.SENT, sent_at=at, updated_at=at,
              attempts=message.attempts + 1, provider_answer=str(answer)[:ERROR_LIMIT],
              last_error=None)
        report.sent += 1
    return report


# Periodic jobs ---------------------------------------------------------------------------------

JobFn = Callable[[sessionmaker[Session], datetime], object]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    run: JobFn


JOBS: dict[str, PeriodicJob] = {}
_last_run: dict[str, datetime] = {}
_jobs_lock = threading.Lock()


def periodic(name: str, every_seconds: float) -> Callable[[JobFn], JobFn]:
    """Register ``fn(factory, now)`` to run every ``every_seconds`` in the worker.

    Each worker process keeps its own schedule (a job runs on its first pass and then once per
    period), so with several workers a job must be safe to run concurrently: do the work in one
    transaction with conditional updates or row locks, like every service.
    """
    if every_seconds <= 0:
        raise ValueError("every_seconds must be positive")

    def register(fn: JobFn) -> JobFn:
        with _jobs_lock:
            known = JOBS.get(name)
            if known is not None and known.run is not fn:
                raise ValueError(f"a periodic job named {name!r} is already registered")
            JOBS[name] = PeriodicJob(name, timedelta(seconds=every_seconds), fn)
        return fn

    return register


def unregister(name: str) -> None:
    with _jobs_lock:
        JOBS.pop(name, None)
        _last_run.pop(name, None)


def run_due_jobs(factory: sessionmaker[Session], now: datetime | None = None) -> list[str]:
    """Run every registered job whose period has passed; returns the names run.

    A failing job is logged and tried again in its next period; it never stops the worker.
    """
    now = now or utcnow()
    with _jobs_lock:
        due = [job for job in JOBS.values()
               if job.name not in _last_run or now - _last_run[job.name] >= job.every]
        for job in due:
            _last_run[job.name] = now
    for job in due:
        try:
            job.run(factory, now)
        except Exception:
            log.exception("periodic job %s failed", job.name)
    return [job.name for job in due]


# The loop --------------------------------------------------------------------------------------

def run_worker(factory: sessionmaker[Session], providers: Providers, *, stop: threading.Event,
               poll_seconds: float = 2.0, limit: int = 50,
               on_batch: Callable[[DeliveryReport], None] | None = None,
               once: bool = False, recipient_prefix: str | None = None) -> None:
    """Deliver and run jobs until ``stop`` is set; with ``once``, until nothing is due.

    A full batch is followed at once by the next; otherwise the worker waits ``poll_seconds``.
    Database errors are logged and retried after the pause. ``recipient_prefix`` limits the
    worker to matching recipients (a dedicated worker; tests).
    """
    worker_id = uuid.uuid4().hex[:8]
    log.info("worker %s started", worker_id)
    while not stop.is_set():
        report = None
        try:
            report = deliver(factory, providers, limit=limit, worker_id=worker_id,
                             recipient_prefix=recipient_prefix)
            run_due_jobs(factory)
        except Exception:
            log.exception("worker %s: delivery pass failed", worker_id)
        if report is not None and (report.claimed or report.recovered) and on_batch:
            on_batch(report)
        idle = report is None or report.claimed < limit
        if once and idle:
            break
        if idle:
            stop.wait(poll_seconds)
    log.info("worker %s stopped", worker_id)
