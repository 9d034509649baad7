"""Expected refusals are logged at INFO without a traceback; unexpected errors keep their ERROR
and traceback (admin.refusal_logs). Through real HTTP: the app served by uvicorn on a local
port, a signed-in person's HTTP client, and the log records as the server wrote them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from admin.refusal_logs import RefusalsAtInfo, expected_refusal
from admin.views import ConflictError
from schema.people import Merchant
from services.errors import Conflict, Refused
from services.scoping import ScopeViolation
from services.workflow_guard import WorkflowInvalid
from tests.conftest import Browser, csrf_from
from tests.test_records import _merchant_form
from tests.test_workflow_editor import _state_form, scratch  # noqa: F401 - fixture


@pytest.fixture
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app behind uvicorn on a free local port, for as long as the test runs."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            threading.Event().wait(0.02)
        (port,) = {s.getsockname()[1] for s in server.servers[0].sockets}
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def person(served: str, make_user) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    def sign_in(role: str) -> Browser:
        browser = Browser(httpx.Client(base_url=served, timeout=30))  # type: ignore[arg-type]
        clients.append(browser.client)
        response = browser.login(make_user(role))
        assert response.status_code == 302, response.text  # type: ignore[attr-defined]
        browser.token = csrf_from(browser.get("/admin/").text)
        return browser

    clients: list[httpx.Client] = []
    yield sign_in
    for client in clients:
        client.close()


def _ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The records of the request, without the database's, the HTTP client's and the access
    log's chatter."""
    return [r for r in caplog.records
            if not r.name.startswith(("sqlalchemy", "httpx", "uvicorn.access"))]


def test_a_stale_edit_logs_one_info_line_without_a_traceback(
    person, make, factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    merchant = make("Merchant")
    browser = person("superuser")
    form = _merchant_form(browser.get(f"/admin/merchants/edit/{merchant.id}").text,
                          phone="+375 29 000-00-01")
    with factory() as session, session.begin():  # someone else saves meanwhile
        session.get(Merchant, merchant.id).phone = "+375 29 111-11-11"
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = browser.post(f"/admin/merchants/edit/{merchant.id}", form)
    assert response.status_code == 400 and "Someone else changed this record" in response.text
    (record,) = _ours(caplog)
    assert (record.name, record.levelno, record.exc_info, record.exc_text) == (
        "sqladmin.application", logging.INFO, None, None)
    assert record.getMessage().startswith("refused (ConflictError): Someone else changed this")
    assert "\n" not in record.getMessage() and "Traceback" not in caplog.text


def test_a_workflow_refusal_logs_one_info_line(
    person, scratch, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    admin = person("administrator")
    page = admin.get(f"/admin/workflow_states/edit/{scratch['start']}").text
    form = _state_form(page, workflow=str(scratch["workflow"]), is_initial="__drop__")
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = admin.post(f"/admin/workflow_states/edit/{scratch['start']}", form)
    assert response.status_code == 400 and "no initial state" in response.text
    (record,) = _ours(caplog)
    assert (record.levelno, record.exc_info) == (logging.INFO, None)
    assert record.getMessage().startswith("refused (WorkflowInvalid): ")
    assert "Traceback" not in caplog.text


def test_an_unexpected_error_keeps_its_error_and_traceback(
    person, make, served: str, app, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    merchant = make("Merchant")
    browser = person("superuser")
    form = _merchant_form(browser.get(f"/admin/merchants/edit/{merchant.id}").text,
                          phone="+375 29 000-00-02")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    view = app.state.admin._find_model_view("merchants")
    monkeypatch.setattr(view, "update_model", broken)
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = browser.post(f"/admin/merchants/edit/{merchant.id}", form)
    assert response.status_code == 400
    (record,) = _ours(caplog)
    assert (record.name, record.levelno) == ("sqladmin.application", logging.ERROR)
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "Traceback (most recent call last)" in caplog.text
    assert "the disk is on fire" in caplog.text


def _raised(exc: BaseException, cause: BaseException | None = None,
            during: BaseException | None = None) -> BaseException:
    """``exc`` as Python leaves it: raised from ``cause``, or plainly while handling
    ``during``."""
    try:
        if during is None:
            raise exc from cause
        try:
            raise during
        except BaseException:
            raise exc  # noqa: B904 - the implicit context is what is being tested
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(("exc", "expected"), [
    (_raised(ConflictError("stale")), "ConflictError"),
    (_raised(StaleDataError("0 rows matched")), "StaleDataError"),
    (_raised(Refused("No.")), "Refused"),
    (_raised(Conflict("Someone was faster.")), "Conflict"),
    (_raised(WorkflowInvalid("No initial state.")), "WorkflowInvalid"),
    (_raised(ScopeViolation("row belongs to another merchant")), "ScopeViolation"),
    # translated for sqladmin's form (admin.views): the refusal is the cause
    (_raised(ValueError("Нет."), Refused("No.")), "Refused"),
    (_raised(RuntimeError("bug")), None),
    (_raised(KeyError("bug"), cause=RuntimeError("deeper bug")), None),
    # a bug while handling a refusal is a bug: only an explicit cause counts
    (_raised(TypeError("bug in a handler"), during=Refused("No.")), None),
])
def test_what_counts_as_a_refusal(exc: BaseException, expected: str | None) -> None:
    found = expected_refusal(exc)
    assert (type(found).__name__ if found is not None else None) == expected
    record = logging.LogRecord("sqladmin.application", logging.ERROR, __file__, 1, exc, (),
                               (type(exc), exc, exc.__traceback__))
    kept = RefusalsAtInfo().filter(record)
    if expected is None:
        assert kept and record.levelno == logging.ERROR and record.exc_info is not None
    else:
        assert (record.levelno, record.exc_info) == (logging.INFO, None)
        assert record.getMessage() == f"refused ({expected}): {' '.join(str(exc).split())}"
