"""Downloads: a person's background jobs (a group print of many documents, a large list export,
a report file), their progress and their files, kept a day (issue 11, "Long work shows
progress").

- ``/admin/downloads``: the signed-in person's jobs, newest first — what, when, progress, state,
  size and the download link (a menu entry for everyone signed in).
- ``/admin/downloads/{id}``: one job with a progress bar. A script polls
  ``/admin/downloads/{id}/status`` (JSON) every second and shows the link when the file is ready;
  without scripts the page refreshes itself every two seconds while the job runs.
- ``/admin/downloads/{id}/file``: the file, as an attachment.

Every route reads the job by id *and* the signed-in user's id: another person's job (of any
role, the superuser's included) answers 404. Each route also makes sure this process's job
runner is alive (``services.jobs.runner_for``), so a job left by a process that died is taken
over as soon as its owner looks at it. Sizes, dates and numbers are formatted for the reader's
language (Solar Hijri dates for Persian); a failure is shown in the reader's language from the
message id the job stored. A job's title is made again for each reader from its params, in
their language: a print "Invoice — 500 orders", an export "Orders (XLSX)", a
report "Orders by status, 1 Mar – 31 Mar 2026 (PDF)"; its progress counts what the kind counts:
documents, rows or steps. The file goes out with the media type of its extension.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup
from sqladmin import BaseView, expose
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from admin.operations import require_actor, run_in_transaction
from locales import (
    datetime_markup,
    format_date,
    format_decimal,
    gettext,
    lazy_gettext,
    ngettext,
)
from reports.documents import DOCUMENTS
from reports.queries import REPORTS
from schema.base import N_
from schema.jobs import BackgroundJob, JobKind, JobState
from services.jobs import job_file, own_job, own_jobs, runner_for

# How often the job page asks for progress (milliseconds) and, without scripts, reloads.
POLL_MS = 1000
REFRESH_SECONDS = 2
MEDIA_TYPES = {
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv; charset=utf-8",
}


def size_text(size: int | None) -> str:
    """A file size as people read it: kilobytes below a megabyte, else megabytes (one
    decimal), in the reader's digits."""
    if size is None:
        return ""
    if size < 1024 * 1024:
        return gettext("%(size)s KB") % {"size": format_decimal(max(1, round(size / 1024)))}
    return gettext("%(size)s MB") % {"size": format_decimal(round(size / 1024 / 1024, 1))}


def _export_title(job: BackgroundJob, params: dict[str, Any]) -> str:
    # The rows are counted by the progress line ("12,000 of 12,000 rows").
    what = gettext(params["label"]) if params.get("label") else job.title
    return f"{what} ({str(params.get('format', '')).upper()})"


def _report_title(job: BackgroundJob, params: dict[str, Any]) -> str:
    found = REPORTS.get(str(params.get("report")))
    if found is None:
        return job.title
    try:
        start, end = (date.fromisoformat(params["date_from"]),
                      date.fromisoformat(params["date_to"]))
    except (KeyError, TypeError, ValueError):
        return gettext(found.title)
    period = format_date(start) if start == end else f"{format_date(start)} – {format_date(end)}"
    return "{}, {} ({})".format(gettext(found.title), period,
                                str(params.get("format", "")).upper())


def job_title(job: BackgroundJob) -> str:
    """What the job makes, in the reader's language: "Invoice — 500 orders"."""
    params = job.params or {}
    if job.kind is JobKind.EXPORT:
        return _export_title(job, params)
    if job.kind is JobKind.REPORT:
        return _report_title(job, params)
    kind = DOCUMENTS.get(str(params.get("document")))
    what = gettext(kind.label) if kind is not None else job.title
    count = len(params.get("ids") or ())
    return "{} — {}".format(what, ngettext("%(num)s order", "%(num)s orders", count)
                            % {"num": format_decimal(count)})


def error_text(job: BackgroundJob) -> str:
    if not job.error:
        return ""
    translated = gettext(job.error)
    try:
        return translated % job.error_params if job.error_params else translated
    except (KeyError, TypeError, ValueError):  # a catalog entry that lost a parameter
        return translated


def percent(job: BackgroundJob) -> int:
    if job.state is JobState.DONE:
        return 100
    return int(100 * job.done / job.total) if job.total else 0


# What a job's progress counts, by kind.
PROGRESS = {
    JobKind.PRINT: N_("%(done)s of %(total)s documents"),
    JobKind.EXPORT: N_("%(done)s of %(total)s rows"),
    JobKind.REPORT: N_("%(done)s of %(total)s steps"),
}


def present(job: BackgroundJob, request: Request) -> dict[str, Any]:
    """A job as its pages and the JSON show it."""
    ready = job_file(job) is not None
    return {
        "id": job.id,
        "title": job_title(job),
        "state": job.state.value,
        "state_label": gettext(job.state.label),
        "done": job.done,
        "total": job.total,
        "percent": percent(job),
        # Nothing to count until the job knows its total (a report before its figures).
        "progress": gettext(PROGRESS.get(job.kind, PROGRESS[JobKind.PRINT])) % {
            "done": format_decimal(job.done if job.state is not JobState.DONE else job.total),
            "total": format_decimal(job.total)} if job.total else "",
        "finished": job.state in (JobState.DONE, JobState.FAILED),
        "error": error_text(job),
        "file_name": job.file_name if ready else None,
        "size": size_text(job.file_size) if ready else "",
        "download_url": str(request.url_for("admin:view-job_file", pk=job.id)) if ready else None,
        "page_url": str(request.url_for("admin:view-job", pk=job.id)),
    }


def _dates(job: BackgroundJob) -> dict[str, Markup]:
    return {"created": datetime_markup(job.created_at),
            "finished_at": datetime_markup(job.finished_at),
            "expires": datetime_markup(job.expires_at)}


class DownloadsView(BaseView):
    """The person's own jobs; open to everyone signed in (a job is its starter's only)."""

    name = lazy_gettext("Downloads")
    icon = "fa-solid fa-download"
    identity = "downloads"

    def is_accessible(self, request: Request) -> bool:
        return getattr(request.state, "user", None) is not None

    def _wake(self) -> None:
        """Make sure this process's runner is alive and looking (see the module's docstring)."""
        runner_for(self._admin_ref.session_maker).wake()

    async def _own(self, request: Request, pk: int) -> BackgroundJob:
        user_id = require_actor().user_id
        factory = self._admin_ref.session_maker
        self._wake()

        def load(session: Session) -> BackgroundJob | None:
            return own_job(session, user_id, pk) if user_id is not None else None

        job = await run_in_transaction(factory, load)
        if job is None:
            raise HTTPException(status_code=404)
        return job

    @expose("/downloads", methods=["GET"], identity="downloads")
    async def page(self, request: Request) -> Response:
        user_id = require_actor().user_id
        factory = self._admin_ref.session_maker
        self._wake()

        def load(session: Session) -> list[BackgroundJob]:
            return own_jobs(session, user_id) if user_id is not None else []

        jobs = await run_in_transaction(factory, load)
        rows = [{**present(job, request), **_dates(job)} for job in jobs]
        running = any(not row["finished"] for row in rows)
        return await self.templates.TemplateResponse(request, "postdesk/downloads.html", {
            "title": self.name, "jobs": rows, "refresh": REFRESH_SECONDS if running else None,
        })

    @expose("/downloads/{pk:int}", methods=["GET"], identity="job")
    async def job(self, request: Request) -> Response:
        job = await self._own(request, request.path_params["pk"])
        row = {**present(job, request), **_dates(job)}
        return await self.templates.TemplateResponse(request, "postdesk/job.html", {
            "title": row["title"], "job": row, "poll_ms": POLL_MS,
            "refresh": None if row["finished"] else REFRESH_SECONDS,
            "status_url": str(request.url_for("admin:view-job_status", pk=job.id)),
        })

    @expose("/downloads/{pk:int}/status", methods=["GET"], identity="job_status")
    async def status(self, request: Request) -> Response:
        job = await self._own(request, request.path_params["pk"])
        return JSONResponse(present(job, request), headers={"Cache-Control": "no-store"})

    @expose("/downloads/{pk:int}/file", methods=["GET"], identity="job_file")
    async def file(self, request: Request) -> Response:
        job = await self._own(request, request.path_params["pk"])
        path = job_file(job)
        if path is None:
            raise HTTPException(status_code=404)
        return FileResponse(path, filename=job.file_name or path.name,
                            media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"))
