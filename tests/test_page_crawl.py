"""Every page of every role, crawled: no 5xx, and never an object's Python repr on a page.

A small demo shop (every table has rows: orders with their history, invoices, ledger, parcels,
lockers, rule tables) is built once per backend. Each role signs in as its demo user and
opens, for every table the access matrix lets it list, the list page, one details page, one
edit page and the create page — the rows its own scope shows — plus the pages reached from
the menu and from those pages (dashboard, My tasks, reports, merchant statement), and the
print and bulk forms its actions open. A page fails on a 5xx, on ``object at 0x`` (a
``repr`` where a ``__str__`` or a formatter was missing) and on a raw ``<schema.`` string.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import seed.demo.shop as demo_shop
from admin.app import generated_views
from locales import LANGUAGES
from postdesk.db import make_engine, make_session_factory
from postdesk.settings import Settings, normalize_url
from rules.rule_tables import summarize_shipping_row
from schema.people import PEOPLE_ROLES, RoleCode
from seed.loader import access_matrix
from tests.conftest import PG_URL, SECRET_KEY, Browser, _prepare, _reset_postgres

REPR = re.compile(r"object at 0x|(?:<|&lt;|&#60;)schema\.")
# sqladmin writes absolute links (url_for), our templates mostly relative ones.
ADMIN_LINK = re.compile(r'href="(?:http://testserver)?(/admin/[^"#]*)"')
# Record pages: one of each kind per table is enough to meet every formatter and template.
RECORD_PAGE = re.compile(r"^/admin/([a-z_]+)/(list|details|edit|create)(?:/([^/?]+))?")
# Files and state changes are not pages: PDFs, spreadsheets, logout, language switches.
NOT_PAGES = ("/admin/logout", "/admin/exports/", "/admin/print/", "/admin/reports/download",
             "/admin/postdesk-static/", "/admin/statics/", "/documents/")
MODEL_VIEWS = {v.identity: v for v in generated_views() if v.is_model}


# The demo shop's automatic discounts and customer groups apply to every order of a database:
# the crawl gets a database of its own (these four override conftest's for this module).
@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('crawl') / 'crawl.sqlite3'}"
    base = make_url(normalize_url(PG_URL))
    url = base.set(database=f"{base.database}_crawl")
    admin = make_engine(base.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                       {"n": url.database}) is None:
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    rendered = url.render_as_string(hide_password=False)
    _reset_postgres(rendered)
    return rendered


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    engine = _prepare(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="module")
def app(engine: Engine, database_url: str):  # type: ignore[no-untyped-def]
    from admin.app import create_app

    return create_app(Settings(database_url=database_url, secret_key=SECRET_KEY,
                               log_level="WARNING", session_max_age=3600, https_only=False,
                               demo=False), engine)


@pytest.fixture(scope="module")
def demo_logins(factory: sessionmaker[Session]) -> set[str]:
    """A demo shop small enough to build in a second: 60 orders, a few products each."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_shop, "ORDER_COUNT", 60)
        patch.setattr(demo_shop, "DELETED_ORDERS", 3)
        patch.setattr(demo_shop, "STORES", tuple(
            dataclasses.replace(spec, products=8, customers=12) for spec in demo_shop.STORES))
        with factory() as session, session.begin():
            logins = {username for username, _ in demo_shop.build_demo_shop(session, "demo")}
    with factory() as session, session.begin():
        _rows_the_demo_leaves_out(session)
    return logins


def _rows_the_demo_leaves_out(session: Session) -> None:
    """One row in each table the demo shop leaves empty, so its pages are opened too (of
    the demo's first merchant, which the merchant user sees)."""
    from schema.audit import ChangeLog
    from schema.catalog import Supplier
    from schema.invoices import FiscalReceipt, Invoice, Payment
    from schema.jobs import BackgroundJob, JobKind
    from schema.lockers import CashCollection, Locker, Payout
    from schema.notifications import OutboxMessage
    from schema.orders import Order, OrderDocument, OrderMessage
    from schema.people import Merchant, User
    from schema.pickup_points import PickupPoint, Shift, StorageCell
    from schema.workflows import StatusChange

    merchant = session.scalars(select(Merchant).where(
        Merchant.name == demo_shop.FIRST_MERCHANT)).one()
    order = session.scalars(select(Order).where(
        Order.merchant_id == merchant.id, Order.deleted_at.is_(None)).order_by(Order.id)).first()
    assert order is not None
    users = {u.username: u for u in session.scalars(select(User))}
    point = session.scalars(select(PickupPoint).order_by(PickupPoint.id)).first()
    locker = session.scalars(select(Locker).order_by(Locker.id)).first()
    payment = Payment(order=order, amount=order.payable, currency=order.currency)
    today = date.today()
    session.add_all([
        payment, FiscalReceipt(payment=payment, number="FR-CRAWL-1"),
        Invoice(order=order, number="INV-CRAWL-1", merchant_id=merchant.id),
        OrderDocument(order=order, kind="invoice", title="Invoice", path="crawl/invoice.png"),
        OrderMessage(order=order, recipient=order.recipient_phone or "+375290000000",
                     title="Invoice", body="Your invoice"),
        OutboxMessage(channel="sms", recipient="+375290000000"),
        Payout(merchant=merchant, period_start=today - timedelta(days=7), period_end=today),
        CashCollection(locker=locker, collector=users["cash_collector"]),
        Shift(pickup_point=point, operator=users["pickup_operator"]),
        StorageCell(pickup_point=point, code="CRAWL-1"),
        Supplier(name="Crawl supplier"),
        BackgroundJob(user_id=users["superuser"].id, kind=JobKind.PRINT, title="Crawl print"),
        StatusChange(table_name="orders", record_id=order.id, to_state=order.status),
        ChangeLog(action="update", table_name="orders", record_id=order.id),
    ])


@pytest.fixture
def person(app: Any, demo_logins: set[str]) -> Any:
    def sign_in(role: RoleCode, client: TestClient) -> Browser:
        assert role.value in demo_logins, role
        browser = Browser(client)
        response = browser.login(role.value, "demo")
        assert response.status_code == 302, (role, response.text)  # type: ignore[attr-defined]
        return browser

    return sign_in


def _check(role: str, url: str, response: Any) -> str:
    assert response.status_code < 500, (role, url, response.status_code, response.text[-3000:])
    text: str = response.text
    found = REPR.search(text)
    if found:
        start = max(found.start() - 300, 0)
        pytest.fail(f"{role} {url} shows a Python repr: …{text[start:found.end() + 120]}…")
    return text


def _links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in ADMIN_LINK.findall(html)]


def _kind(url: str) -> tuple[str, ...] | None:
    """What makes a page worth opening: its table and page kind (a record page) or its path."""
    if url.startswith(NOT_PAGES) or "lang=" in url:
        return None
    path = url.split("?", 1)[0]
    match = RECORD_PAGE.match(path)
    if match:
        # A link to a table's page by any other name than the table's answers 404.
        assert match.group(1) in MODEL_VIEWS, f"a link to no page: {url}"
        return (match.group(1), match.group(2))
    if path.endswith("/new/products") or path.endswith("/new/customers"):
        return None  # the manual entry's JSON look-ups
    return (path,)


def _allowed(role: RoleCode) -> set[tuple[str, str]]:
    if role is RoleCode.SUPERUSER:
        every = {(identity, a) for identity in MODEL_VIEWS
                 for a in ("list", "details", "create", "edit", "action:bulk-print")}
        return every | {("reports", "list"), ("my_tasks", "list")}
    return access_matrix()[role.value]


def crawl(browser: Browser, role: RoleCode, lang: str) -> set[tuple[str, ...]]:
    """Open the role's pages breadth-first; returns the kinds of page opened."""
    allowed = _allowed(role)
    queue = [f"/admin/?lang={lang}"]  # the dashboard; sets the language cookie
    for identity, act in sorted(allowed):
        if act == "list" and identity in MODEL_VIEWS:
            queue.append(f"/admin/{identity}/list")
    seen: set[tuple[str, ...]] = set()
    first_ids: dict[str, str] = {}
    while queue:
        url = queue.pop(0)
        kind = _kind(url) if not url.startswith("/admin/?lang") else ("/admin/",)
        if kind is None or kind in seen:
            continue
        seen.add(kind)
        response = browser.get(url)
        text = _check(role.value, url, response)
        if len(kind) == 2 and kind[1] == "list":
            identity = kind[0]
            assert response.status_code == 200 or (identity, "list") not in allowed, (
                role, url, response.status_code)
            found = re.search(rf'href="[^"]*/admin/{identity}/details/([^"/?]+)"', text)
            if found:
                first_ids[identity] = found.group(1)
                # Edit and create pages the matrix grants, whether or not a button shows them.
                if (identity, "edit") in allowed and MODEL_VIEWS[identity].can_edit:
                    queue.append(f"/admin/{identity}/edit/{found.group(1)}")
            if (identity, "create") in allowed and MODEL_VIEWS[identity].can_create:
                queue.append(f"/admin/{identity}/create")
        queue.extend(_links(text))
    # A crawl that found no rows would pass without looking at anything: every list that
    # shows a row has had that row's page opened.
    missing = {identity for identity in first_ids if (identity, "details") not in seen}
    assert not missing, (role, missing)
    # The forms a list's actions open: group print and the bulk operations (the first POST
    # shows the form; nothing changes until it is confirmed).
    order = first_ids.get("orders")
    if order is not None:
        for act in sorted(a for t, a in allowed if t == "orders" and a.startswith("action:bulk")):
            url = f"/admin/orders/action/{act.removeprefix('action:')}?pks={order}"
            response = browser.post(url)
            seen.add(("orders", act))
            assert response.status_code == 200, (role, url, response.status_code)
            _check(role.value, url, response)
    return seen


ROLES = list(PEOPLE_ROLES)


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_no_page_shows_a_python_repr_or_fails(person, app, role: RoleCode) -> None:  # type: ignore[no-untyped-def]
    lang = LANGUAGES[ROLES.index(role) % len(LANGUAGES)]  # every language, over the roles
    with TestClient(app, base_url="http://testserver") as client:
        browser = person(role, client)
        seen = crawl(browser, role, lang)
    assert ("/admin/",) in seen
    if role is RoleCode.SUPERUSER:  # the demo shop fills (nearly) every table
        details = {kind[0] for kind in seen if kind[1:] == ("details",)}
        assert {"orders", "shipping_methods", "shipping_cost_rows", "discounts",
                "parcels", "lockers"} <= details
        assert len(details) == len(MODEL_VIEWS), sorted(set(MODEL_VIEWS) - details)


def test_the_crawl_catches_a_repr(person, app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The guard itself: the shipping method page as it was — cost rows printed by sqladmin
    with Python's default ``str`` — fails the crawl."""
    from schema.shipping import ShippingCostRow

    view = next(v for v in app.state.admin.views if v.identity == "shipping_methods")
    monkeypatch.setattr(ShippingCostRow, "__str__", object.__str__)
    monkeypatch.setattr(view, "_detail_formatters",
                        {k: f for k, f in view._detail_formatters.items() if k != "rows"})
    with TestClient(app, base_url="http://testserver") as client:
        browser = person(RoleCode.ADMINISTRATOR, client)
        with pytest.raises(pytest.fail.Exception, match="ShippingCostRow object at 0x"):
            crawl(browser, RoleCode.ADMINISTRATOR, "en")


def test_shipping_method_page_lists_its_cost_rows_in_order(person, app) -> None:  # type: ignore[no-untyped-def]
    """R-RULE-3: the method's page shows each cost row's position and summary, in the order
    the rows are tried, each a link to the row."""
    with TestClient(app, base_url="http://testserver") as client:
        browser = person(RoleCode.ADMINISTRATOR, client)
        listing = browser.get("/admin/shipping_methods/list?search=Pishtaz%20post").text
        pk = re.search(r'/admin/shipping_methods/details/(\d+)"', listing)
        assert pk, listing[-2000:]
        page = browser.get(f"/admin/shipping_methods/details/{pk.group(1)}?lang=en").text
    # The rows' card (admin/templates/postdesk/shipping_method_details.html): each row's
    # position, then its summary linking to the row.
    rows = re.findall(r'rule-position">([^<]*)</span>\s*<a class="rule-summary[^"]*" href="'
                      r'[^"]*/admin/shipping_cost_rows/details/\d+">([^<]*)</a>', page)
    # The demo's R-RULE-4 example: carts of 100000 or more pay 3500.
    expected = summarize_shipping_row({"min_cart_price": Decimal(100000), "cost": Decimal(3500)})
    assert rows == [("1", expected)], rows
