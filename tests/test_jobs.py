"""Background jobs (issue 11, "Long work shows progress"): a group print of more orders than a
request answers itself runs as a job — its progress is written chunk by chunk, the PDF is real,
only its starter sees and downloads it, a dead runner's job is taken over and then failed, and
expired files are deleted. Through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import time
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import admin.printing
import reports.batch
from schema.base import utcnow
from schema.jobs import BackgroundJob, JobState
from schema.people import User
from services import jobs
from services.actor import Actor
from services.documents import DocumentNotFound
from tests.conftest import csrf_from


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pages(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


@pytest.fixture(autouse=True)
def jobs_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("POSTDESK_JOBS_DIR", str(tmp_path / "jobs"))
    return tmp_path / "jobs"


def _actor(factory: sessionmaker[Session], username: str) -> Actor:
    with factory() as session:
        user = session.scalar(select(User).where(User.username == username))
        return Actor(user_id=user.id, username=user.username, role=user.role.code.value,
                     merchant_id=user.merchant_id if user.role.code.value == "merchant"
                     else None)


def _job(factory: sessionmaker[Session], job_id: int) -> BackgroundJob:
    with factory() as session:
        job = session.get(BackgroundJob, job_id)
        assert job is not None
        return job


def _wait(browser: Any, job_id: int, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = browser.get(f"/admin/downloads/{job_id}/status").json()
        if status["finished"]:
            return dict(status)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


def test_a_job_renders_in_chunks_and_reports_its_progress(  # type: ignore[no-untyped-def]
        make, make_user, factory, monkeypatch, jobs_dir) -> None:
    first = make("Order", lines=1)
    orders = [first] + [make("Order", lines=1, merchant=first.merchant) for _ in range(4)]
    actor = _actor(factory, make_user("manager"))
    with factory() as session, session.begin():
        job_id = jobs.start_print_job(session, actor, document="invoice", layout="a4",
                                      ids=[o.id for o in orders], lang="ru", title="t").id
    assert _job(factory, job_id).state is JobState.QUEUED and _job(factory, job_id).total == 5

    # Chunks of two: the row's "done" is written after each chunk, while the job runs.
    monkeypatch.setattr(reports.batch, "CHUNK_SIZE", 2)
    seen: list[tuple[int, str]] = []
    render = reports.batch.render_job

    def spying(print_job: Any, progress: Any = None, in_pool: bool = False) -> bytes:
        def spy(done: int) -> None:
            progress(done)
            row = _job(factory, job_id)
            seen.append((row.done, row.state.value))

        assert in_pool  # a job never lays out on the web process's threads
        return render(print_job, progress=spy, in_pool=in_pool)

    monkeypatch.setattr(reports.batch, "render_job", spying)
    with factory() as session:
        claimed = jobs.claim(session, utcnow(), "test", only=job_id)
    assert claimed is not None and claimed.job_id == job_id
    assert _job(factory, job_id).state is JobState.RUNNING and _job(factory, job_id).done == 0
    assert jobs.run_claimed(factory, claimed) is JobState.DONE
    assert seen == [(2, "running"), (4, "running"), (5, "running")]

    job = _job(factory, job_id)
    assert (job.state, job.done, job.total, job.attempts) == (JobState.DONE, 5, 5, 1)
    assert job.claimed_by is None and job.finished_at is not None
    assert job.expires_at == job.finished_at + timedelta(days=1)
    content = (jobs_dir / job.file_path).read_bytes()
    assert job.file_size == len(content) and job.file_name.endswith(".pdf")
    assert pages(content) == 5
    text = pdf_text(content)
    assert all(o.number in text for o in orders) and "Счёт" in text


def test_group_print_over_the_limit_becomes_a_job_only_its_starter_sees(  # type: ignore[no-untyped-def]
        signed_in, make, make_user, browser, monkeypatch) -> None:
    monkeypatch.setattr(admin.printing, "DIRECT_LIMIT", 2)
    first = make("Order", lines=1)
    orders = [first] + [make("Order", lines=1, merchant=first.merchant) for _ in range(2)]
    ids = ",".join(str(o.id) for o in orders)
    other = make_user("manager")
    manager = signed_in("manager")
    form = manager.post(f"/admin/orders/action/bulk-print?pks={ids}")
    assert 'id="print-in-background"' in form.text
    response = manager.post(f"/admin/orders/action/bulk-print?pks={ids}",
                            {"confirm": "1", "document": "invoice", "layout": "a4",
                             "language": "fa"}, follow_redirects=False)
    assert response.status_code == 303
    page_url = response.headers["location"]
    job_id = int(page_url.rstrip("/").rsplit("/", 1)[1])
    page = manager.get(page_url)
    assert page.status_code == 200 and 'role="progressbar"' in page.text
    assert "job_progress.js" in page.text
    status = _wait(manager, job_id)
    assert status["state"] == "done" and status["percent"] == 100
    assert status["done"] == status["total"] == 3
    finished = manager.get(page_url).text
    assert status["download_url"] in finished and "refresh" not in finished
    downloads = manager.get("/admin/downloads").text
    assert status["download_url"] in downloads
    pdf = manager.get(status["download_url"])
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    assert pages(pdf.content) == 3
    assert all(o.number in pdf_text(pdf.content) for o in orders)
    # A Persian reader: Persian digits, the file name isolated left to right.
    fa = manager.get(f"{page_url}?lang=fa").text
    assert 'dir="rtl"' in fa
    assert fa.split("data-job-progress>", 1)[1].startswith("۳")
    assert '<bdi dir="ltr">invoices-' in fa or '<bdi dir="ltr">invoice' in fa

    # Another person, even a superuser, finds nothing by that id.
    manager.client.cookies.clear()
    for username in (other, make_user("superuser")):
        assert browser.login(username).status_code == 302
        for url in (page_url, f"{page_url}/status", status["download_url"]):
            assert browser.get(url).status_code == 404, (username, url)
        assert status["download_url"] not in browser.get("/admin/downloads").text
        browser.client.cookies.clear()


def test_a_merchant_cannot_print_another_merchants_orders_in_a_job(  # type: ignore[no-untyped-def]
        make, make_user, browser, factory, monkeypatch) -> None:
    monkeypatch.setattr(admin.printing, "DIRECT_LIMIT", 1)
    mine = make("Order", lines=1)
    mine_too = make("Order", lines=1, merchant=mine.merchant)
    theirs = make("Order", lines=1)
    username = make_user("merchant", merchant_id=mine.merchant_id)
    assert browser.login(username).status_code == 302
    browser.token = csrf_from(browser.get("/admin/").text)
    before = _count(factory)
    response = browser.post(f"/admin/orders/action/bulk-print?pks={mine.id},{theirs.id}",
                            {"confirm": "1", "document": "invoice"}, follow_redirects=False)
    assert response.status_code == 404 and _count(factory) == before

    # A job that names another merchant's order anyway (queued by an older version, or the
    # order changed hands) reads it in its starter's scope when it runs: nothing is printed.
    actor = _actor(factory, username)
    with factory() as session, session.begin():
        job_id = jobs.start_print_job(session, actor, document="invoice", layout="a4",
                                      ids=[mine.id, mine_too.id], lang="en", title="t").id
        session.get(BackgroundJob, job_id).params = {
            "document": "invoice", "layout": "a4", "ids": [mine.id, theirs.id], "lang": "en"}
    with factory() as session:
        claimed = jobs.claim(session, utcnow(), "test", only=job_id)
    assert claimed is not None and jobs.run_claimed(factory, claimed) is JobState.FAILED
    job = _job(factory, job_id)
    assert job.file_path is None and job.error == "The order was not found, or you may not see it."
    status = browser.get(f"/admin/downloads/{job_id}/status?lang=ru").json()
    assert status["state"] == "failed" and status["download_url"] is None
    assert "не найден" in status["error"]


def _count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return len(list(session.scalars(select(BackgroundJob.id))))


def test_a_dead_runners_job_is_taken_over_then_failed(  # type: ignore[no-untyped-def]
        make, make_user, factory) -> None:
    order = make("Order", lines=1)
    actor = _actor(factory, make_user("manager"))
    with factory() as session, session.begin():
        job_id = jobs.start_print_job(session, actor, document="invoice", layout="a4",
                                      ids=[order.id], lang="en", title="t").id
    lease = timedelta(seconds=5)
    t0 = utcnow()
    with factory() as session:
        first = jobs.claim(session, t0, "dies", lease, only=job_id)
    assert first is not None and first.job_id == job_id
    # The runner dies without a word. While its lease holds, nobody else takes the job.
    with factory() as session:
        assert jobs.claim(session, t0 + timedelta(seconds=4), "other", lease,
                              only=job_id) is None
    # Once it has run out, the next runner takes it over: a new claim, a second attempt.
    with factory() as session:
        second = jobs.claim(session, t0 + timedelta(seconds=6), "other", lease,
                            only=job_id)
    assert second is not None and second.job_id == job_id and second.claimer != first.claimer
    assert _job(factory, job_id).attempts == 2
    # The first runner, back from the dead, can write nothing.
    with factory() as session, session.begin():
        assert not jobs._held(session, first, done=1)
    # The second dies too: after its lease the job is failed, not left running.
    later = t0 + timedelta(seconds=12)
    jobs.sweep(factory, later)
    job = _job(factory, job_id)
    assert job.state is JobState.FAILED and job.error == jobs.DEAD_RUNNER
    assert job.claimed_by is None and job.expires_at == later + jobs.KEEP
    with factory() as session:
        assert jobs.claim(session, later, "third", lease, only=job_id) is None


def test_expired_files_and_jobs_are_deleted(make, make_user, factory, jobs_dir) -> None:  # type: ignore[no-untyped-def]
    order = make("Order", lines=1)
    actor = _actor(factory, make_user("manager"))
    with factory() as session, session.begin():
        job_id = jobs.start_print_job(session, actor, document="sticker", layout=None,
                                      ids=[order.id], lang="en", title="t").id
    with factory() as session:
        claimed = jobs.claim(session, utcnow(), "test", only=job_id)
    assert claimed is not None and jobs.run_claimed(factory, claimed) is JobState.DONE
    job = _job(factory, job_id)
    path = jobs_dir / job.file_path
    assert path.is_file() and jobs.job_file(job) == path
    jobs.sweep(factory, job.expires_at - timedelta(seconds=1))
    assert path.is_file()
    assert jobs.job_file(job, job.expires_at) is None  # not offered once the day is over
    jobs.sweep(factory, job.expires_at)
    assert not path.exists()
    with factory() as session:
        assert session.get(BackgroundJob, job_id) is None


def test_nothing_is_queued_for_orders_one_may_not_see(make, make_user, factory) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = make("Order", lines=1), make("Order", lines=1)
    actor = _actor(factory, make_user("merchant", merchant_id=mine.merchant_id))
    with factory() as session, session.begin(), pytest.raises(DocumentNotFound):
        jobs.start_print_job(session, actor, document="invoice", layout="a4",
                             ids=[mine.id, theirs.id], lang="en", title="t")


def test_downloads_is_in_everyones_menu(signed_in) -> None:  # type: ignore[no-untyped-def]
    for role in ("courier", "manager"):
        person = signed_in(role)
        assert 'href="http://testserver/admin/downloads"' in person.get("/admin/").text
        page = person.get("/admin/downloads")
        assert page.status_code == 200 and 'id="downloads"' in page.text
