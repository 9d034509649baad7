"""Isolation by construction: for every mapped table and every confined role, two parties'
rows, and proof through real HTTP that neither party's person sees or changes the other's.

The parties: two merchants (a merchant user each), two operators (each with its assigned
order), two couriers (each with its order and parcel). For each party the world builds one row
of every table the party is confined on, following the tables' declared owners (``__owner__``):
so a new table is covered the moment it declares its owner, and a table that declares none
fails ``test_every_table_declares_its_owner`` with what to add.

What a signed-in person of party A is shown is checked against the truth, found by walking
the declared owner chain in the test itself (not through ``services.scoping``):

- list pages hold only A's rows, A's own row among them, and the "of N items" count equals
  the rows shown (a count on the bare table column would count everyone's);
- B's detail and edit URLs answer 403/404 without B's data; editing or deleting B's row
  changes nothing;
- every look-up field of every form lists only rows A may see;
- CSV and XLSX exports hold as many rows as the list counts;
- re-parenting A's row onto B's parent is refused, and B's parent stays untouched.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import JSON, Boolean, Date, Integer, String, Text, inspect, select
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Session, sessionmaker

import schema
from schema.base import Base, Money, OwnerKind, UTCDateTime, owner_of
from schema.couriers import Courier
from schema.lockers import LedgerEntry, Parcel
from schema.orders import Order
from schema.people import Merchant, Role, RoleCode, User
from services import ledger
from services.scoping import declared_owner, parent_model, referenced_tables
from tests.conftest import PASSWORD, Browser, csrf_from, unique

CONFINED_ROLES = ("merchant", "operator", "courier")


def test_every_table_declares_its_owner() -> None:
    undeclared = [m.__tablename__ for m in schema.all_models() if owner_of(m) is None]
    assert not undeclared, (
        f"tables without an owner: {undeclared}. Add `__owner__ = ...` to each class in "
        "schema/: owned_by_merchant() for a merchant_id column, owned_through('<fk>') for a "
        "row that belongs to its parent, MERCHANT_ITSELF, RECORD_OF, SHARED or INTERNAL."
    )


def test_no_table_declared_shared_or_internal_holds_a_merchants_rows() -> None:
    """A table that must name a merchant's row (a merchant_id, or a required foreign key to
    a merchant's table) cannot be reference data: declaring it so would hide the leak."""
    wrong = []
    for model in schema.all_models():
        if declared_owner(model).tenant:
            continue
        for key, column in inspect(model).columns.items():
            targets = [schema.model_for(fk.column.table.name) for fk in column.foreign_keys]
            # Users are optionally a merchant's: a platform user belongs to nobody.
            if key == "merchant_id" or (not column.nullable and any(
                    declared_owner(t).tenant and not declared_owner(t).optional
                    for t in targets)):
                wrong.append(f"{model.__tablename__}.{key}")
    assert not wrong, f"declared SHARED/INTERNAL but owned by a merchant through: {wrong}"


# --- the truth, walked from the declarations ----------------------------------------------
def _roots(role: str) -> dict[type, str]:
    """Where each role's confinement starts: table → the column that names the party."""
    if role == "merchant":
        return {m: ("id" if declared_owner(m).kind is OwnerKind.ITSELF else "merchant_id")
                for m in schema.all_models()
                if declared_owner(m).kind in (OwnerKind.MERCHANT, OwnerKind.ITSELF)}
    if role == "operator":
        return {Order: "operator_id"}
    return {Order: "courier_id", Parcel: "courier_id"}


def _referenced(role: str) -> dict[type, list[tuple[type, str]]]:
    """Staff confined to orders (and parcels) read the customers and merchants those name."""
    return {} if role == "merchant" else referenced_tables(list(_roots(role)))


def _chain(model: type, role: str) -> list[type] | None:
    """The tables from ``model`` up to a root (or a table the roots name) along declared
    parents; None: the role is not confined on it."""
    ends = set(_roots(role)) | set(_referenced(role))
    chain = [model]
    while chain[-1] not in ends:
        owner = declared_owner(chain[-1])
        if owner.kind is not OwnerKind.PARENT:
            return None
        chain.append(parent_model(chain[-1], owner))
    return chain


def confined_tables(role: str) -> list[type]:
    found = [m for m in schema.all_models() if _chain(m, role) is not None]
    # Log rows (status history, change log) about the party's order are the party's too.
    return found + [m for m in schema.all_models()
                    if declared_owner(m).kind is OwnerKind.RECORD]


def belongs(session: Session, role: str, model: type, row_id: int, party: Any) -> bool:
    """Whether the row is the party's (merchant / operator user / courier), by the declared
    chain; a customer or merchant is a confined staff member's when one of its rows names it."""
    owner = declared_owner(model)
    if owner.kind is OwnerKind.RECORD:
        row = session.get(model, row_id)
        return belongs(session, role, schema.model_for(row.table_name), row.record_id, party)
    chain = _chain(model, role)
    assert chain is not None, model
    obj = session.get(model, row_id)
    for parent in chain[1:]:
        obj = session.get(parent, getattr(obj, declared_owner(type(obj)).via))
    roots = _roots(role)
    if chain[-1] in roots:
        return bool(getattr(obj, roots[chain[-1]]) == party)
    return any(
        getattr(root, roots[root_model]) == party
        for root_model, key in _referenced(role)[chain[-1]]
        for root in session.scalars(select(root_model).where(
            getattr(root_model, key) == obj.id)))


# --- building rows generically --------------------------------------------------------------
@dataclass
class Party:
    key: Any                     # merchant id / operator user id / courier id
    username: str
    rows: dict[type, int] = field(default_factory=dict)


def _value(column: Any, marker: str) -> Any:
    kind = column.type
    if isinstance(kind, SAEnum) and kind.enum_class is not None:
        return next(iter(kind.enum_class))
    if isinstance(kind, Money):
        return Decimal("1.5")
    if isinstance(kind, UTCDateTime):
        return datetime.now(UTC)
    if isinstance(kind, Date):
        return date.today()
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, JSON):
        return {}
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 64
        return f"{marker}{column.key}"[-min(length, 60):] if length >= 3 else "BYN"[:length]
    return None


def build_row(session: Session, model: type, party: Party, fixed: dict[str, Any]) -> Any:
    """One row of ``model``: required columns filled, foreign keys to the party's own rows
    (or to any row of a shared table), ``fixed`` values first."""
    marker = unique("iso")
    values: dict[str, Any] = {}
    for key, column in inspect(model).columns.items():
        if key in fixed or column.primary_key or key in ("created_at", "updated_at", "version"):
            continue
        if column.foreign_keys:
            target = schema.model_for(next(iter(column.foreign_keys)).column.table.name)
            if target in party.rows:
                values[key] = party.rows[target]
            elif not column.nullable:
                values[key] = _any_row(session, target, party)
            continue
        if column.nullable or column.default is not None or column.server_default is not None:
            continue  # the column's own default
        if key in ("currency",):
            values[key] = "BYN"
        elif key == "code" and isinstance(column.type, String):
            values[key] = marker[-(column.type.length or 32):]
        else:
            values[key] = _value(column, marker)
    values.update(fixed)
    if model is LedgerEntry:  # entries come from the ledger service only
        obj: Any = ledger.post(session, values["merchant_id"], values["kind"],
                               values["amount"], "BYN")
    else:
        obj = model(**values)
        session.add(obj)
    session.flush()
    return obj


def _any_row(session: Session, model: type, party: Party) -> int:
    found = session.scalar(select(model.id).order_by(model.id).limit(1))
    if found is None:
        found = build_row(session, model, party, {}).id
    return found


def _build_party(session: Session, role: str, party: Party, tables: list[type],
                 seeds: dict[type, dict[str, Any]]) -> None:
    ordered = [t.name for t in Base.metadata.sorted_tables]
    # Log rows last: they name the party's order, which has no foreign key to sort by.
    for model in sorted(tables, key=lambda m: (declared_owner(m).kind is OwnerKind.RECORD,
                                               ordered.index(m.__tablename__))):
        if model in party.rows:
            continue
        owner = declared_owner(model)
        fixed = dict(seeds.get(model, {}))
        if owner.kind is OwnerKind.RECORD:
            fixed.update(table_name="orders", record_id=party.rows[Order])
        party.rows[model] = build_row(session, model, party, fixed).id


@dataclass
class World:
    parties: dict[str, tuple[Party, Party]]


def _role_id(session: Session, code: RoleCode) -> int:
    return session.scalar(select(Role.id).where(Role.code == code))


def _login_user(session: Session, code: RoleCode, merchant_id: int | None = None) -> User:
    from services.accounts import create_user

    return create_user(session, unique(code.value), PASSWORD, code, merchant_id=merchant_id)


@pytest.fixture(scope="module")
def world(factory: sessionmaker[Session]) -> World:
    parties: dict[str, tuple[Party, Party]] = {}
    with factory() as session, session.begin():
        pair = []
        for _ in range(2):
            merchant = build_row(session, Merchant, Party(None, ""), {"active": True})
            user = _login_user(session, RoleCode.MERCHANT, merchant.id)
            party = Party(merchant.id, user.username, {Merchant: merchant.id})
            _build_party(session, "merchant", party, confined_tables("merchant"), {
                User: {"role_id": _role_id(session, RoleCode.MERCHANT)},
                Order: {"deleted_at": None},
            })
            pair.append(party)
        parties["merchant"] = (pair[0], pair[1])

        pair = []
        for _ in range(2):
            user = _login_user(session, RoleCode.OPERATOR)
            party = Party(user.id, user.username)
            _build_party(session, "operator", party, confined_tables("operator"),
                         {Order: {"operator_id": user.id}})
            pair.append(party)
        parties["operator"] = (pair[0], pair[1])

        pair = []
        for _ in range(2):
            user = _login_user(session, RoleCode.COURIER)
            courier = build_row(session, Courier, Party(None, ""), {"user_id": user.id})
            party = Party(courier.id, user.username)
            _build_party(session, "courier", party, confined_tables("courier"),
                         {Order: {"courier_id": courier.id}, Parcel: {"courier_id": courier.id}})
            pair.append(party)
        parties["courier"] = (pair[0], pair[1])
    return World(parties)


@pytest.fixture
def person(browser: Browser) -> Iterator[Any]:
    def sign_in(username: str) -> Browser:
        response = browser.login(username)
        assert response.status_code == 302, response.text  # type: ignore[attr-defined]
        browser.token = csrf_from(browser.get("/admin/").text)
        return browser

    yield sign_in


ROW_ID = re.compile(r'<input type="hidden" value="(\d+)">')
COUNT = re.compile(r"of ([\d,]+) items")


def _views(app: Any) -> dict[str, Any]:
    return {v.identity: v for v in app.state.admin.views if hasattr(v, "model")}


def _identity(model: type) -> str:
    return model.__tablename__  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", CONFINED_ROLES)
def test_lists_counts_and_exports_hold_only_the_partys_rows(  # type: ignore[no-untyped-def]
        role: str, world: World, person, factory: sessionmaker[Session], app) -> None:
    mine, _ = world.parties[role]
    browser = person(mine.username)
    views = _views(app)
    checked = 0
    with factory() as session:
        for model in confined_tables(role):
            name = _identity(model)
            if name not in views:
                continue
            page = browser.get(f"/admin/{name}/list?pageSize=200")
            if page.status_code in (403, 404):
                continue
            assert page.status_code == 200, (name, page.status_code)
            shown = [int(i) for i in ROW_ID.findall(page.text)]
            leaked = [i for i in shown if not belongs(session, role, model, i, mine.key)]
            assert not leaked, f"{role} sees others' {name}: {leaked}"
            assert mine.rows[model] in shown or views[name].soft_delete, (role, name)
            count = COUNT.search(page.text)
            assert count is not None and int(count.group(1).replace(",", "")) == len(shown), (
                f"{role}'s {name} list counts {count and count.group(1)} but shows {len(shown)}")
            checked += 1
            exported = browser.get(f"/admin/{name}/exports/csv")
            if exported.status_code == 200:
                rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
                assert len(rows) - 1 == len(shown), (role, name, "csv")
                book = load_workbook(io.BytesIO(browser.get(
                    f"/admin/{name}/exports/xlsx").content), read_only=True)
                assert sum(s.max_row - 1 for s in book.worksheets) == len(shown), (
                    role, name, "xlsx")
    assert checked, f"{role} could list none of its tables"


@pytest.mark.parametrize("role", CONFINED_ROLES)
def test_others_records_neither_open_nor_change(  # type: ignore[no-untyped-def]
        role: str, world: World, person, factory: sessionmaker[Session], app) -> None:
    mine, theirs = world.parties[role]
    browser = person(mine.username)
    views = _views(app)
    with factory() as session:
        before = {m: _snapshot(session, m, theirs.rows[m]) for m in confined_tables(role)}
    for model in confined_tables(role):
        name, their_id = _identity(model), theirs.rows[model]
        if name not in views:
            continue
        for url in (f"/admin/{name}/details/{their_id}", f"/admin/{name}/edit/{their_id}"):
            response = browser.get(url)
            assert response.status_code in (403, 404), (role, url, response.status_code)
        browser.post(f"/admin/{name}/edit/{their_id}", {"note": "hijacked"})
        browser.delete(f"/admin/{name}/delete?pks={their_id}")
    with factory() as session:
        after = {m: _snapshot(session, m, theirs.rows[m]) for m in confined_tables(role)}
    assert after == before


def _snapshot(session: Session, model: type, row_id: int) -> dict[str, Any] | None:
    row = session.get(model, row_id)
    if row is None:
        return None
    return {k: getattr(row, k) for k in inspect(model).columns.keys()}


@pytest.mark.parametrize("role", CONFINED_ROLES)
def test_every_lookup_field_offers_only_rows_the_party_may_see(  # type: ignore[no-untyped-def]
        role: str, world: World, person, factory: sessionmaker[Session], app) -> None:
    mine, _ = world.parties[role]
    browser = person(mine.username)
    confined = set(confined_tables(role))
    looked = 0
    with factory() as session:
        for name, view in _views(app).items():
            for field_name, loader in view._form_ajax_refs.items():
                target = loader.model
                response = browser.get(f"/admin/{name}/ajax/lookup?name={field_name}&term=%25")
                if response.status_code in (400, 403, 404):
                    continue  # 400: a field this person's form does not have (the merchant)
                assert response.status_code == 200, (name, field_name, response.status_code)
                ids = [int(item["id"]) for item in response.json()["results"]]
                looked += 1
                if target in confined:
                    leaked = [i for i in ids
                              if not belongs(session, role, target, i, mine.key)]
                    assert not leaked, f"{role}: {name}.{field_name} offers others' rows {leaked}"
                elif role == "merchant":
                    assert declared_owner(target).kind is not OwnerKind.INTERNAL or not ids
    if role == "merchant":
        assert looked, "the merchant opened no look-up at all"


def test_a_merchant_cannot_move_its_rows_onto_another_merchants_parent(  # type: ignore[no-untyped-def]
        world: World, person, factory: sessionmaker[Session]) -> None:
    from schema.catalog import Product, ProductVariant, StockLevel, Warehouse

    mine, theirs = world.parties["merchant"]
    browser = person(mine.username)
    with factory() as session:
        variant = session.get(ProductVariant, mine.rows[ProductVariant])
        form = {"product": str(theirs.rows[Product]), "sku": variant.sku or "X",
                "version": str(variant.version), "colour": "", "size": "",
                "price_delta": "0"}
    response = browser.post(f"/admin/product_variants/edit/{variant.id}", form)
    assert response.status_code in (400, 403, 404), response.status_code
    response = browser.post(f"/admin/stock_levels/edit/{mine.rows[StockLevel]}", {
        "warehouse": str(theirs.rows[Warehouse]), "product": str(mine.rows[Product]),
        "quantity": "5", "min_quantity": "0"})
    assert response.status_code in (400, 403, 404), response.status_code
    with factory() as session:
        assert session.get(ProductVariant, variant.id).product_id == mine.rows[Product]
        assert session.get(StockLevel, mine.rows[StockLevel]).warehouse_id == mine.rows[
            Warehouse]


@pytest.mark.parametrize("role", CONFINED_ROLES)
def test_others_records_do_not_print(  # type: ignore[no-untyped-def]
        role: str, world: World, person) -> None:
    """Every printed document of the other party's order (and payout) is refused unseen."""
    from reports.documents import DOCUMENTS, Subject
    from schema.lockers import Payout
    from schema.orders import OrderDocument

    mine, theirs = world.parties[role]
    browser = person(mine.username)
    urls = [f"/admin/print/order/{theirs.rows[Order]}?document={code}&layout=a4"
            for code, kind in DOCUMENTS.items() if kind.subject is Subject.ORDER]
    if OrderDocument in theirs.rows:
        urls.append(f"/admin/print/order/{theirs.rows[Order]}/document/"
                    f"{theirs.rows[OrderDocument]}")
    if Payout in theirs.rows:
        urls.append(f"/admin/print/payout/{theirs.rows[Payout]}")
    for url in urls:
        response = browser.get(url, follow_redirects=False)
        assert response.status_code in (403, 404), (role, url, response.status_code)
        assert "application/pdf" not in response.headers.get("content-type", "")
