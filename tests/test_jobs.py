"""Background jobs (issue 11, "Long work shows progress"): a group print of more orders than a
request answers itself runs as a job — its progress is written chunk by chunk, the PDF is real,
only its starter sees and downloads it, a dead runner's job is taken over and then failed, and
expired files are deleted. Through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import time
from datetime import date, timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import admin.printing
import reports.batch
from locales import translations
from schema.base import utcnow
from schema.jobs import BackgroundJob, JobKind, JobState
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


def wait_for_job(browser: Any, job_id: int, seconds: float = 90) -> dict[str, Any]:
    """The job's progress JSON once it has finished, asked for as its page does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = browser.get(f"/admin/downloads/{job_id}/status").json()
        if status["finished"]:
            return dict(status)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


def job_id_of(response: Any) -> int:
    """The job a 303 to its page started."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert "/admin/downloads/" in location
    return int(location.rstrip("/").rsplit("/", 1)[1])


def download_through_job(browser: Any, url: str) -> Any:
    """GET ``url``, which queues a job; wait for it as its page does; the file's response."""
    job_id = job_id_of(browser.get(url, follow_redirects=False))
    status = wait_for_job(browser, job_id)
    assert status["state"] == "done", status
    assert status["done"] == status["total"] and status["percent"] == 100
    response = browser.get(status["download_url"])
    assert response.status_code == 200 and "attachment" in response.headers[
        "content-disposition"]
    return response


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
    status = wait_for_job(manager, job_id)
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
    # Printed in Persian: the file is named in Persian, the day in the Solar Hijri calendar.
    assert status["file_name"] == jobs.file_name("فاکتورها", "pdf", "fa")
    assert "filename*=utf-8''" in pdf.headers["content-disposition"]
    # A Persian reader: Persian digits, the file name isolated.
    fa = manager.get(f"{page_url}?lang=fa").text
    assert 'dir="rtl"' in fa
    assert fa.split("data-job-progress>", 1)[1].startswith("۳")
    assert f'<bdi dir="auto">{status["file_name"]}</bdi>' in fa

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


# --- list exports and report files as jobs ------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _small_export_jobs(monkeypatch: pytest.MonkeyPatch, factory: sessionmaker[Session],
                       seen: list[tuple[int, int]]) -> None:
    """Exports of more than two rows become jobs that read two rows a chunk and write their
    progress after every chunk; ``seen`` gets (rows reported, ``done`` in the newest job's row)
    each time, read back from the database while the job runs."""
    import admin.exports

    monkeypatch.setattr(admin.exports, "DIRECT_ROWS", 2)
    build, throttled = admin.exports.build_export, admin.exports._throttled

    def small_chunks(*args: Any, **kwargs: Any) -> Any:
        job = build(*args, **kwargs)
        job.chunk_rows = 2
        return job

    def recording(progress: Any, every: float) -> Any:
        inner = throttled(progress, 0)

        def report(done: int) -> None:
            inner(done)
            with factory() as session:
                written = session.scalar(select(BackgroundJob.done)
                                         .order_by(BackgroundJob.id.desc()).limit(1))
            seen.append((done, written or 0))

        return report

    monkeypatch.setattr(admin.exports, "build_export", small_chunks)
    monkeypatch.setattr(admin.exports, "_throttled", recording)


def test_a_large_export_runs_as_a_job_with_rows_as_its_progress(  # type: ignore[no-untyped-def]
        signed_in, make, make_user, browser, factory, monkeypatch) -> None:
    import openpyxl

    seen: list[tuple[int, int]] = []
    _small_export_jobs(monkeypatch, factory, seen)
    merchant = make("Merchant")
    numbers = [make("Order", merchant=merchant, number=f"EXJ-{i}").number for i in range(7)]
    make("Order", merchant=merchant, number="OTHER-EXJ")  # outside the search
    manager = signed_in("manager")
    # Two rows are still the answer itself.
    small = manager.get(f"/admin/orders/exports/xlsx?search={numbers[0]}",
                        follow_redirects=False)
    assert small.status_code == 200 and small.headers["content-type"] == XLSX

    response = manager.get("/admin/orders/exports/xlsx?search=EXJ-&sortBy=number&sort=asc",
                           follow_redirects=False)
    job_id = job_id_of(response)
    page = manager.get(response.headers["location"])
    assert page.status_code == 200 and 'role="progressbar"' in page.text
    assert "job_progress.js" in page.text
    status = wait_for_job(manager, job_id)
    assert status["state"] == "done" and status["percent"] == 100, status
    assert status["done"] == status["total"] == 7
    assert status["progress"] == "7 of 7 rows" and status["title"] == "Orders (XLSX)"
    # Progress was written while the rows were being written, chunk by chunk.
    assert seen == [(2, 2), (4, 4), (6, 6), (7, 7)]
    assert status["file_name"] == jobs.file_name("Orders", "xlsx", "en")
    assert status["download_url"] in manager.get("/admin/downloads").text
    xlsx = manager.get(status["download_url"])
    assert xlsx.status_code == 200 and xlsx.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.worksheets[0]["A1"].value == "Order number"
    assert [r[0] for r in book.worksheets[0].iter_rows(min_row=2, values_only=True)] == numbers

    # In Russian: a CSV named in Russian, the progress in Russian.
    response = manager.get("/admin/orders/exports/csv?search=EXJ-&lang=ru",
                           follow_redirects=False)
    csv_id = job_id_of(response)
    status = wait_for_job(manager, csv_id)
    assert status["state"] == "done" and status["file_name"] == jobs.file_name(
        "Заказы", "csv", "ru")
    # (Checked against the catalog, which the translators may still be filling.)
    assert manager.get(f"/admin/downloads/{csv_id}/status?lang=ru").json()[
        "progress"] == translations("ru").gettext("%(done)s of %(total)s rows") % {
            "done": "7", "total": "7"}
    data = manager.get(status["download_url"])
    assert data.headers["content-type"] == "text/csv; charset=utf-8"
    text = data.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Номер заказа")
    assert sorted(line.split(",")[0] for line in text.splitlines()[1:]) == numbers

    # Nobody else sees either job, the superuser included.
    manager.client.cookies.clear()
    assert browser.login(make_user("superuser")).status_code == 302
    for url in (f"/admin/downloads/{job_id}", f"/admin/downloads/{job_id}/status",
                status["download_url"]):
        assert browser.get(url).status_code == 404, url


def test_a_merchants_export_job_holds_only_its_rows(  # type: ignore[no-untyped-def]
        signed_in, make, factory, monkeypatch) -> None:
    import openpyxl

    _small_export_jobs(monkeypatch, factory, [])
    mine, theirs = make("Merchant"), make("Merchant")
    for i in range(4):
        make("Order", merchant=mine, number=f"EXK-mine-{i}")
        make("Order", merchant=theirs, number=f"EXK-theirs-{i}")
    merchant = signed_in("merchant", merchant_id=mine.id)
    for fmt in ("xlsx", "csv"):
        job_id = job_id_of(merchant.get(f"/admin/orders/exports/{fmt}?search=EXK-",
                                        follow_redirects=False))
        assert _job(factory, job_id).merchant_id == mine.id
        status = wait_for_job(merchant, job_id)
        assert status["state"] == "done" and status["total"] == 4, status
        data = merchant.get(status["download_url"]).content
        assert b"EXK-theirs" not in data
        numbers = ([r[0] for r in openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
                    .iter_rows(min_row=2, values_only=True)] if fmt == "xlsx"
                   else [line.split(",")[0] for line in
                         data.decode("utf-8-sig").splitlines()[1:]])
        assert sorted(numbers) == [f"EXK-mine-{i}" for i in range(4)]


def test_an_export_job_reads_as_its_starter_whatever_its_query(  # type: ignore[no-untyped-def]
        make, make_user, factory, app, jobs_dir) -> None:
    """The job rebuilds the list from its stored query, as the merchant who queued it: neither
    the query nor the runner's thread widens it."""
    web = app.state.admin.session_maker  # the runner's factory: the admin's views are its
    mine, theirs = make("Merchant"), make("Merchant")
    for i in range(3):
        make("Order", merchant=mine, number=f"EXL-mine-{i}")
        make("Order", merchant=theirs, number=f"EXL-theirs-{i}")
    actor = _actor(factory, make_user("merchant", merchant_id=mine.id))
    for query in ("search=EXL-", f"search=EXL-&merchant_id={theirs.id}"):
        with factory() as session, session.begin():
            job_id = jobs.start_job(session, actor, kind=JobKind.EXPORT, title="t", total=0,
                                    params={"view": "orders", "label": "Orders",
                                            "format": "csv", "query": query,
                                            "lang": "en"}).id
        with factory() as session:
            claimed = jobs.claim(session, utcnow(), "test", only=job_id)
        assert claimed is not None and jobs.run_claimed(web, claimed) is JobState.DONE
        job = _job(factory, job_id)
        content = (jobs_dir / job.file_path).read_bytes()
        assert b"EXL-theirs" not in content
        mine_rows = content.count(b"EXL-mine-")
        assert mine_rows == (3 if query == "search=EXL-" else 0)
        assert job.total == job.done == mine_rows


def test_a_report_file_runs_as_a_job_with_steps(  # type: ignore[no-untyped-def]
        signed_in, make, make_user, browser) -> None:
    import openpyxl

    order = make("Order", lines=1)
    day = order.ordered_at.date().isoformat()
    accountant = signed_in("accountant")
    query = f"report=orders_by_status&date_from={day}&date_to={day}"
    response = accountant.get(f"/admin/reports/download?{query}&format=xlsx",
                              follow_redirects=False)
    xlsx_id = job_id_of(response)
    status = wait_for_job(accountant, xlsx_id)
    # The figures, then one step per table (two sheets).
    assert status["state"] == "done" and status["done"] == status["total"] == 3, status
    assert status["progress"] == "3 of 3 steps"
    assert status["title"].startswith("Orders by status, ") and status["title"].endswith(
        "(XLSX)")
    assert status["file_name"] == f"Orders by status {day}.xlsx"
    content = accountant.get(status["download_url"])
    assert content.headers["content-type"] == XLSX
    book = openpyxl.load_workbook(io.BytesIO(content.content))
    assert book.worksheets[0]["A1"].value == "Orders by status"

    # A PDF in Russian: the figures, the layout (in a worker process), the file.
    response = accountant.get(f"/admin/reports/download?{query}&format=pdf&lang=ru",
                              follow_redirects=False)
    pdf_id = job_id_of(response)
    status = wait_for_job(accountant, pdf_id)
    assert status["state"] == "done" and status["done"] == status["total"] == 3, status
    assert status["file_name"] == f"Заказы по статусам {day}.pdf"
    assert accountant.get(f"/admin/downloads/{pdf_id}/status?lang=ru").json()[
        "progress"] == translations("ru").gettext("%(done)s of %(total)s steps") % {
            "done": "3", "total": "3"}
    pdf = accountant.get(status["download_url"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Заказы по статусам" in pdf_text(pdf.content)
    downloads = accountant.get("/admin/downloads").text
    assert f"/admin/downloads/{xlsx_id}/file" in downloads
    assert f"/admin/downloads/{pdf_id}/file" in downloads

    accountant.client.cookies.clear()
    assert browser.login(make_user("accountant")).status_code == 302
    for job_id in (xlsx_id, pdf_id):
        assert browser.get(f"/admin/downloads/{job_id}/status").status_code == 404
        assert browser.get(f"/admin/downloads/{job_id}/file").status_code == 404


def test_file_names_are_safe_everywhere() -> None:
    assert jobs.safe_file_name('a/b\\c:d*e?"f<g>h|i', "pdf") == "a b c d e f g h i.pdf"
    assert jobs.safe_file_name("\u202eevil\u200f name\x00 ", "csv") == "evil name.csv"
    assert jobs.safe_file_name("..", "xlsx") == "file.xlsx"
    long = jobs.safe_file_name("Заказы " * 60, "xlsx")
    assert len(long.encode()) <= jobs.NAME_BYTES + len(".xlsx")
    assert long.startswith("Заказы Заказы") and long.endswith(".xlsx")
    day = date(2026, 12, 1)
    assert jobs.file_name("Счета", "pdf", "ru", day) == "Счета 2026-12-01.pdf"
    assert jobs.file_name("فاکتورها", "pdf", "fa", day) == "فاکتورها 1405-09-10.pdf"
