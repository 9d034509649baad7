"""Row scoping, derived from each table's declared owner (``__owner__`` in ``schema/``) and
enforced once for every ORM statement and every flush.

Who is confined to what:

- A merchant user (or a store plugin's API key) is a *tenant*. It reads a row when the row
  belongs to its merchant, as the table declares: its own ``merchant_id`` (MERCHANT), the
  merchant row itself (ITSELF), the row its parent foreign key names (PARENT, followed as far
  as it goes: fiscal receipt → payment → order → merchant), or the record a log row is about
  (RECORD: change log, status history). SHARED reference data reads as it is; INTERNAL rows
  read as nothing.
- An operator reads only the orders assigned to it; a courier only the orders and parcels
  assigned to its courier record. Everything owned through those rows (lines, notes,
  payments, ... and their history) follows by the same derivation.

The filters are SQLAlchemy loader criteria attached to every ORM SELECT, UPDATE and DELETE
(lists, counts, details, look-ups, exports, prints, reports, lazy loads), so a view cannot
forget them. Writes are checked before every flush:

- a tenant's new MERCHANT rows are stamped with its merchant; changing or deleting another
  merchant's row is refused;
- for every actor with filters, each foreign key a new or changed row points at must name a row
  that actor can read — so a row cannot be created under, or moved onto, someone else's parent
  (a variant onto another merchant's product, a stock level into another's warehouse);
- a tenant's new PARENT row must have its parent.

Which tables a tenant may *write* through the admin at all follows from the same declarations
(``tenant_may``): SHARED tables are read-only to it and INTERNAL ones closed, whatever the
access matrix says.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, event, false, inspect, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

import schema
from schema.base import Base, Owner, OwnerKind, owner_of
from schema.couriers import Courier
from schema.lockers import Parcel
from schema.orders import Order
from schema.people import RoleCode
from services.actor import Actor, current_actor
from services.errors import Refused

Criterion = ColumnElement[bool]
READ_ACTIONS = frozenset({"list", "details"})


class ScopeViolation(Refused):
    """A write reached a row the person may not touch; the flush is refused."""

    status_code = 404


class MissingOwner(LookupError):
    """A mapped table declares no ``__owner__``."""


def declared_owner(model: type) -> Owner:
    found = owner_of(model)
    if found is None:
        raise MissingOwner(
            f"table {model.__tablename__!r} declares no owner: add `__owner__ = ...` to "  # type: ignore[attr-defined]
            f"{model.__name__} in schema/ (owned_by_merchant(), owned_through('<fk column>'), "
            "MERCHANT_ITSELF, RECORD_OF, SHARED or INTERNAL; see schema/base.py Owner)"
        )
    return found


def parent_model(model: type, owner: Owner) -> type[Base]:
    """The mapped class a PARENT row's ``via`` foreign key points at."""
    column = inspect(model).columns[owner.via]
    return schema.model_for(next(iter(column.foreign_keys)).column.table.name)


def tenant_may(table_model: type, action: str) -> bool:
    """Whether a tenant (merchant) may be granted ``action`` on a table at all."""
    owner = declared_owner(table_model)
    if owner.kind is OwnerKind.INTERNAL:
        return False
    if owner.kind in (OwnerKind.SHARED, OwnerKind.RECORD) or not owner.tenant_writes:
        return action in READ_ACTIONS or action == "export"
    return True


# --- who is confined to what: the roots the rest is derived from ----------------------------
def _roots(actor: Actor) -> dict[type, Criterion]:
    models = schema.all_models()
    if actor.merchant_id is not None:
        merchant = actor.merchant_id
        roots: dict[type, Criterion] = {}
        for model in models:
            kind = declared_owner(model).kind
            if kind is OwnerKind.MERCHANT:
                roots[model] = model.merchant_id == merchant  # type: ignore[attr-defined]
            elif kind is OwnerKind.ITSELF:
                roots[model] = model.id == merchant  # type: ignore[attr-defined]
            elif kind is OwnerKind.INTERNAL:
                roots[model] = false()
        return roots
    if actor.role == RoleCode.OPERATOR:
        return _with_referenced({Order: Order.operator_id == actor.user_id})
    if actor.role == RoleCode.COURIER:
        mine = select(Courier.id).where(Courier.user_id == actor.user_id).scalar_subquery()
        return _with_referenced({Order: Order.courier_id.in_(mine),
                                 Parcel: Parcel.courier_id.in_(mine)})
    return {}


def referenced_tables(roots: Iterable[type]) -> dict[type, list[tuple[type, str]]]:
    """Merchants' tables that confined staff reach only through their own rows: a table of
    MERCHANT (or ITSELF) rows that a root row names by a foreign key (an order's customer and
    merchant) → the (root, column) pairs naming it."""
    found: dict[type, list[tuple[type, str]]] = defaultdict(list)
    for root in roots:
        for key, column in inspect(root).columns.items():
            for fk in column.foreign_keys:
                target = schema.model_for(fk.column.table.name)
                owner = declared_owner(target)
                if target not in roots and not owner.optional and owner.kind in (
                        OwnerKind.MERCHANT, OwnerKind.ITSELF):
                    found[target].append((root, key))
    return dict(found)


def _with_referenced(roots: dict[type, Criterion]) -> dict[type, Criterion]:
    """Staff confined to some orders (and parcels) read the customers and merchants those
    name, not every merchant's."""
    extended = dict(roots)
    for target, names in referenced_tables(roots).items():
        extended[target] = or_(*(target.id.in_(  # type: ignore[attr-defined]
            select(getattr(root, key)).where(roots[root])) for root, key in names))
    return extended


def _derive(roots: dict[type, Criterion], tenant: bool) -> dict[type, Criterion]:
    """Extend the roots to every PARENT table (through its parent's criterion, recursively)
    and to the RECORD tables (through the criteria of the tables they record)."""
    found = dict(roots)

    def criterion(model: type) -> Criterion | None:
        if model in found:
            return found[model]
        owner = declared_owner(model)
        if owner.kind is not OwnerKind.PARENT:
            return None
        parent = parent_model(model, owner)
        parent_criterion = criterion(parent)
        if parent_criterion is None:
            return None
        visible = select(parent.id).where(parent_criterion)  # type: ignore[attr-defined]
        found[model] = getattr(model, owner.via).in_(visible)  # type: ignore[arg-type]
        return found[model]

    models = schema.all_models()
    for model in models:
        criterion(model)
    confined = {m: c for m, c in found.items() if declared_owner(m).tenant or m in roots}
    for model in models:
        if declared_owner(model).kind is not OwnerKind.RECORD:
            continue
        table, record = model.table_name, model.record_id  # type: ignore[attr-defined]
        parts = [
            and_(table == m.__tablename__,  # type: ignore[attr-defined]
                 record.in_(select(m.id).where(c)))  # type: ignore[attr-defined]
            for m, c in confined.items() if declared_owner(m).kind is not OwnerKind.RECORD
        ]
        if not tenant:
            # Confined staff read the history of everything they are not confined on.
            parts.append(table.not_in([m.__tablename__ for m in confined]))  # type: ignore[attr-defined]
        found[model] = or_(*parts) if parts else false()
    return found


@lru_cache(maxsize=4096)
def criteria_for(merchant_id: int | None, role: str | None, user_id: int | None,
                 ) -> dict[type, Criterion]:
    """Table → the condition its rows must meet to be seen by this person (absent: all)."""
    actor = Actor(user_id=user_id, username="", role=role or "", merchant_id=merchant_id)
    roots = _roots(actor)
    return _derive(roots, tenant=merchant_id is not None) if roots else {}


def actor_criteria(actor: Actor | None) -> dict[type, Criterion]:
    if actor is None:
        return {}
    return criteria_for(actor.merchant_id, actor.role, actor.user_id)


def scope_rules(actor: Actor | None) -> list[ORMOption]:
    if actor is None:
        return []
    return list(_rules_for(actor.merchant_id, actor.role, actor.user_id))


@lru_cache(maxsize=4096)
def _rules_for(merchant_id: int | None, role: str | None, user_id: int | None,
               ) -> tuple[ORMOption, ...]:
    """The options are immutable and depend only on who asks: built once per person, not
    once per statement (a checkout quote runs ten statements; building them was 10 % of it)."""
    return tuple(
        with_loader_criteria(model, criterion, include_aliases=True)
        for model, criterion in criteria_for(merchant_id, role, user_id).items()
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_statements(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete or state.is_insert):
        return
    actor = current_actor()
    rules = scope_rules(actor)
    if not rules:
        return
    if not state.is_select:
        _check_statement(state, actor)
    if not state.is_insert:
        state.statement = state.statement.options(*rules)


def _check_statement(state: ORMExecuteState, actor: Actor | None) -> None:
    """A bulk INSERT/UPDATE/DELETE by a confined person: a Core statement on a table they are
    confined on cannot carry the filters, so it is refused; an ORM UPDATE's new foreign keys
    and owner must be ones the person may use, like a flushed row's."""
    criteria = actor_criteria(actor)
    table = getattr(state.statement, "table", None)
    model = state.bind_mapper.class_ if state.bind_mapper is not None else None
    if model is None:
        if table is not None and any(m.__table__ is table for m in criteria):  # type: ignore[attr-defined]
            raise ScopeViolation("The record belongs to another merchant.")
        return
    if state.is_delete:
        return
    values = getattr(state.statement, "_values", None) or {}
    columns = inspect(model).columns
    wanted: dict[type, set[int]] = defaultdict(set)
    for key, value in values.items():
        name = getattr(key, "key", key)
        column = columns.get(name) if isinstance(name, str) else None
        literal = getattr(value, "value", None)
        if column is None:
            continue
        if (name == "merchant_id" and actor is not None and actor.merchant_id is not None
                and literal != actor.merchant_id):
            raise ScopeViolation("The record belongs to another merchant.")
        for fk in column.foreign_keys:
            target = schema.model_for(fk.column.table.name)
            if target in criteria and isinstance(literal, int):
                wanted[target].add(literal)
            elif target in criteria and literal is None and not hasattr(value, "value"):
                raise ScopeViolation("The record refers to a record that is not yours.")
    _require_visible(state.session, wanted)


# --- writes -----------------------------------------------------------------------------------
def _references(obj: Any, session: Session) -> Iterable[tuple[type, int | None, bool]]:
    """(target class, id, set) for each reference of ``obj`` to be checked: every foreign key
    of a new row, the changed ones of a dirty row — the column's value and the related object
    both, since the flush writes whichever changed — and the rows added to its many-to-many
    collections. A row created in the same flush is skipped (it is checked itself); ``set``
    says whether the key has a value at all."""
    state = inspect(obj)
    mapper = state.mapper
    pending = set(session.new)
    by_column = {next(iter(r.local_columns)).key: r for r in mapper.relationships
                 if r.direction.name == "MANYTOONE" and len(r.local_columns) == 1}
    for key, column in mapper.columns.items():
        related = by_column.get(key)
        column_changed = not state.persistent or state.attrs[key].history.has_changes()
        relation_changed = related is not None and (
            not state.persistent or state.attrs[related.key].history.has_changes())
        if not column.foreign_keys or not (column_changed or relation_changed):
            continue
        target = schema.model_for(next(iter(column.foreign_keys)).column.table.name)
        values: list[int | None] = []
        through_pending = False
        if column_changed:
            values.append(state.dict.get(key))
        if relation_changed and related is not None and related.key in state.dict:
            other = state.dict[related.key]
            if other is not None and other in pending:
                through_pending = True
            elif other is not None and inspect(other).identity:
                values.append(inspect(other).identity[0])
        present = through_pending or any(v is not None for v in values)
        for value in values:
            if value is not None:
                yield target, value, True
        if not present:
            yield target, None, False
    for relation in mapper.relationships:
        if relation.secondary is None or relation.key not in state.dict:
            continue
        for other in state.attrs[relation.key].history.added:
            if other not in pending and inspect(other).identity:
                yield type(other), inspect(other).identity[0], True


@event.listens_for(Session, "before_flush")
def _check_writes(session: Session, _ctx: Any, _instances: Any) -> None:
    actor = current_actor()
    criteria = actor_criteria(actor)
    if not criteria or actor is None:
        return
    merchant_id = actor.merchant_id
    wanted: dict[type, set[int]] = defaultdict(set)
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        owner = owner_of(type(obj))
        if merchant_id is not None and owner is not None:
            _check_tenant_row(obj, owner, merchant_id, obj in session.new,
                              obj in session.deleted)
        elif (owner is not None and owner.kind is OwnerKind.MERCHANT and obj not in session.new
              and inspect(obj).attrs.merchant_id.history.has_changes()):
            # Staff confined to their orders cannot hand a record to another merchant.
            raise ScopeViolation("The record belongs to another merchant.")
        if obj in session.deleted:
            continue
        for target, value, present in _references(obj, session):
            if (merchant_id is not None and owner is not None and owner.kind is OwnerKind.PARENT
                    and obj in session.new and not present
                    and inspect(type(obj)).columns[owner.via].foreign_keys
                    and parent_model(type(obj), owner) is target):
                raise ScopeViolation("This record needs a parent record of yours.")
            if value is not None and target in criteria:
                wanted[target].add(value)
    _require_visible(session, wanted)


def _require_visible(session: Session, wanted: dict[type, set[int]]) -> None:
    """Every id must name a row the session's person can read (the query is scoped)."""
    with session.no_autoflush:
        for target, ids in wanted.items():
            seen = set(session.scalars(select(target.id).where(target.id.in_(ids))))  # type: ignore[attr-defined]
            if ids - seen:
                raise ScopeViolation("The record refers to a record that is not yours.")


def _check_tenant_row(obj: Any, owner: Owner, merchant_id: int, new: bool,
                      deleted: bool) -> None:
    if not owner.tenant_writes and (new or deleted or inspect(obj).modified):
        # Its users (whose role is what they may do), its own merchant row, its payouts.
        raise ScopeViolation("Only the platform's staff change this record.")
    if owner.kind is OwnerKind.MERCHANT:
        if new:
            if obj.merchant_id not in (None, merchant_id):
                raise ScopeViolation("The record belongs to another merchant.")
            obj.merchant_id = merchant_id
            return
        before = inspect(obj).attrs.merchant_id.history.deleted
        if obj.merchant_id != merchant_id or any(v != merchant_id for v in before):
            raise ScopeViolation("The record belongs to another merchant.")
    elif owner.kind is OwnerKind.ITSELF and obj.id != merchant_id:
        raise ScopeViolation("The record belongs to another merchant.")


