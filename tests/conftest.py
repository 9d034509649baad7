"""Shared fixtures: a migrated, seeded database per backend and a signed-in HTTP client.

SQLite always runs. PostgreSQL runs when POSTDESK_TEST_DATABASE_URL is set (CI sets it) and then
must be reachable: an unreachable database fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import services.audit
import services.events  # noqa: F401 - scoping, change log, workflow guard
from postdesk.db import make_engine, make_session_factory
from postdesk.migrate import upgrade_head
from postdesk.settings import Settings, normalize_url
from schema.base import configure_encryption
from schema.people import RoleCode
from seed.loader import load_seed_data
from services.accounts import create_user

PG_URL = os.environ.get("POSTDESK_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
PASSWORD = "correct horse battery staple"
SECRET_KEY = "test-secret"
configure_encryption(SECRET_KEY)  # every app the tests build uses this same key


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _prepare(url: str) -> Engine:
    upgrade_head(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session, session.begin():
        load_seed_data(session)
    return engine


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    url = normalize_url(PG_URL)
    _reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = _prepare(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


@pytest.fixture(scope="session")
def app(engine: Engine, database_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from admin.app import create_app

    settings = Settings(database_url=database_url, secret_key=SECRET_KEY, log_level="WARNING",
                        session_max_age=3600, https_only=False, demo=False)
    return create_app(settings, engine)


_counter = {"n": 0}


def unique(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}{os.getpid()}x{_counter['n']}"


@pytest.fixture
def make_user(factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    def make(role: RoleCode | str, merchant_id: int | None = None, language: str = "en") -> str:
        username = unique(str(RoleCode(role).value))
        with factory() as session, session.begin():
            create_user(session, username, PASSWORD, role, merchant_id=merchant_id,
                        language=language)
        return username

    return make


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert found, "page carries no CSRF token"
    return found.group(1)


class Browser:
    """A signed-in person: a real HTTP client through the whole app, with its CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = ""

    def login(self, username: str, password: str = PASSWORD) -> object:
        page = self.client.get("/admin/login")
        self.token = csrf_from(page.text)
        return self.client.post(
            "/admin/login",
            data={"username": username, "password": password, "csrf_token": self.token},
            follow_redirects=False,
        )

    def get(self, url: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw: object):  # type: ignore[no-untyped-def]
        data = {"csrf_token": self.token, **(data or {})}
        return self.client.post(url, data=data, **kw)

    def delete(self, url: str, **kw: object):  # type: ignore[no-untyped-def]
        return self.client.delete(url, headers={"X-CSRF-Token": self.token}, **kw)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A store plugin's HTTP client (no session); ``key`` is its merchant's API key."""
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def key(factory: sessionmaker[Session], shop) -> str:  # type: ignore[no-untyped-def]
    """An API key of the requesting module's ``shop`` fixture's merchant."""
    from services.api_keys import issue_api_key

    with factory() as session, session.begin():
        return issue_api_key(session, shop.merchant)


@pytest.fixture
def browser(app) -> Iterator[Browser]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as client:
        yield Browser(client)


@pytest.fixture
def signed_in(browser: Browser, make_user):  # type: ignore[no-untyped-def]
    def sign_in(role: RoleCode | str = RoleCode.SUPERUSER, **kw: object) -> Browser:
        username = make_user(role, **kw)
        response = browser.login(username)
        assert response.status_code == 302, response.text  # type: ignore[attr-defined]
        browser.token = csrf_from(browser.get("/admin/").text)
        return browser

    return sign_in


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def make(factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """Build rows with the demo factories in their own committed transaction."""
    from seed.demo import factories

    def build(kind: str, /, **kwargs: object):  # type: ignore[no-untyped-def]
        with factory() as session, factories.using_session(session):
            obj = getattr(factories, f"{kind}Factory")(**kwargs)
            session.commit()
            return obj

    return build


def form_fields(html: str) -> dict[str, str]:
    """What a browser would submit from the page's form: inputs (checked boxes only), the
    selected option of each select, textareas."""
    import json
    from html.parser import HTMLParser

    class Form(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.values: dict[str, str] = {}
            self.select: str | None = None
            self.textarea: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = {k: v or "" for k, v in attrs}
            name = a.get("name")
            if tag == "input" and name and a.get("type") not in ("submit", "button"):
                if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                    return
                self.values[name] = a.get("value", "y" if a.get("type") == "checkbox" else "")
            elif tag == "select" and name:
                self.select = name
                # An ajax select carries its current choice as data-json, not as options.
                chosen = [str(c["id"]) for c in json.loads(a.get("data-json") or "[]")]
                self.values.setdefault(name, chosen[0] if chosen else "")
            elif tag == "option" and self.select and "selected" in a:
                self.values[self.select] = a.get("value", "")
            elif tag == "textarea" and name:
                self.textarea = name
                self.values[name] = ""

        def handle_endtag(self, tag: str) -> None:
            if tag == "select":
                self.select = None
            elif tag == "textarea":
                self.textarea = None

        def handle_data(self, data: str) -> None:
            if self.textarea:
                self.values[self.textarea] += data

    parser = Form()
    parser.feed(html)
    return parser.values
