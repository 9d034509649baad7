"""Background jobs: long work a person started (a group print of hundreds of documents, a large
list export, a report file) that runs off the web request and is offered as a download when
done (issue 11, "Long work shows progress").

A job belongs to the user who started it: the pages that show jobs (Downloads, the job page,
its JSON progress and its file) filter on ``user_id`` always, so a person sees only their own
jobs whatever their role. The row also names the user's merchant (``merchant_id``, empty for
platform staff) so that merchant scoping (``services.scoping``) confines it like every tenant
row; the generated admin list of jobs is the superuser's (no role has a grant on it).

``state`` moves queued → running → done or failed, only through ``services.jobs``; a runner
holds a running job under a lease (``claimed_by``, ``lease_until``) that it renews while it
works, so a job whose runner died is taken over (or failed) once the lease runs out, never left
running forever. ``done`` of ``total`` counts the work so far: documents rendered (print), rows
written (export) or steps done (report). ``error`` is the English message id of why it failed,
with its ``error_params``: translated when shown, in the reader's language. The file lives
``expires_at`` (a day after it was finished); a periodic sweep deletes the file and the row
after that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schema.base import (
    N_,
    AdminHints,
    Base,
    Editable,
    LabelledEnum,
    UTCDateTime,
    enum_column,
    label,
    owned_by_merchant,
)
from schema.people import User


class JobKind(LabelledEnum):
    PRINT = "print"
    EXPORT = "export"
    REPORT = "report"

    __labels__ = {"print": N_("Group print"), "export": N_("List export"),
                  "report": N_("Report file")}


class JobState(LabelledEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    __labels__ = {
        "queued": N_("Queued"),
        "running": N_("Running"),
        "done": N_("Done"),
        # Not the outbox's "Failed", which translates as "not sent".
        "failed": N_("Did not finish"),
    }


class BackgroundJob(Editable, Base):
    """One long piece of work and its file. Written only by ``services.jobs`` (conditional
    Core updates that raise ``version`` themselves); read-only in the admin."""

    __tablename__ = "background_jobs"
    __owner__ = owned_by_merchant(optional=True)
    __table_args__ = (
        Index("ix_background_jobs_state_lease", "state", "lease_until"),
    )
    __admin__ = AdminHints(
        label=N_("Background job"), plural=N_("Background jobs"), menu=N_("Settings"),
        icon="fa-solid fa-gears",
        list=("id", "created_at", "user", "kind", "title", "state", "done", "total",
              "finished_at"),
        search=("title",), filters=("kind", "state", "created_at"),
        sort=("id", "created_at", "finished_at"), readonly=True,
        details_exclude=("params", "file_path"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, info=label(N_("User"))
    )
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id"), index=True, info=label(N_("Merchant"))
    )
    kind: Mapped[JobKind] = mapped_column(enum_column(JobKind), info=label(N_("Kind")))
    title: Mapped[str] = mapped_column(String(200), default="", info=label(N_("Title")))
    # What to run (for a print: document, layout, order ids, language): plain JSON, so another
    # runner can take the job over after a crash.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(
        enum_column(JobState), default=JobState.QUEUED, info=label(N_("State"))
    )
    total: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Total")))
    done: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Done")))
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=label(N_("Attempts")))
    claimed_by: Mapped[str | None] = mapped_column(String(40), info=label(N_("Claimed by")))
    lease_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Lease until"))
    )
    error: Mapped[str | None] = mapped_column(Text, info=label(N_("Error")))
    error_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    file_path: Mapped[str | None] = mapped_column(String(500))
    file_name: Mapped[str | None] = mapped_column(String(200), info=label(N_("File")))
    file_size: Mapped[int | None] = mapped_column(BigInteger, info=label(N_("Size")))
    finished_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, info=label(N_("Finished at"))
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, index=True, info=label(N_("Kept until"))
    )

    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return self.title or f"#{self.id}"
