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
from collections.abc import Callable, Iterable
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
    if owner.kind in (OwnerKind.SHARED, OwnerKind.RECORD):
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
        return {Order: Order.operator_id == actor.user_id}
    if actor.role == RoleCode.COURIER:
        mine = select(Courier.id).where(Courier.user_id == actor.user_id).scalar_subquery()
        return {Order: Order.courier_id.in_(mine), Parcel: Parcel.courier_id.in_(mine)}
    return {}


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
    if not (state.is_select or state.is_update or state.is_delete):
        return
    rules = scope_rules(current_actor())
    if rules:
        state.statement = state.statement.options(*rules)


# --- writes -----------------------------------------------------------------------------------
def _references(obj: Any, session: Session) -> Iterable[tuple[type, int | None, bool]]:
    """(target class, id, set) for each foreign key of ``obj`` to be checked: every one of a new
    row, the changed ones of a dirty row. A reference to a row created in the same flush is
    skipped (that row is checked itself); ``set`` says whether the key has a value at all."""
    state = inspect(obj)
    mapper = state.mapper
    pending = set(session.new)
    by_column = {next(iter(r.local_columns)).key: r for r in mapper.relationships
                 if r.direction.name == "MANYTOONE" and len(r.local_columns) == 1}
    for key, column in mapper.columns.items():
        if not column.foreign_keys or (state.persistent and not state.attrs[key].history
                                       .has_changes() and not _relation_changed(state, by_column
                                                                                .get(key))):
            continue
        target = schema.model_for(next(iter(column.foreign_keys)).column.table.name)
        related = by_column.get(key)
        value = state.dict.get(key)
        if related is not None and related.key in state.dict:
            other = state.dict[related.key]
            if other is not None and other in pending:
                yield target, None, True
                continue
            if other is not None:
                value = inspect(other).identity[0] if inspect(other).identity else value
        yield target, value, value is not None


def _relation_changed(state: Any, relation: Any) -> bool:
    return relation is not None and state.attrs[relation.key].history.has_changes()


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
            _check_tenant_row(obj, owner, merchant_id, obj in session.new)
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
    with session.no_autoflush:
        for target, ids in wanted.items():
            seen = set(session.scalars(select(target.id).where(target.id.in_(ids))))  # type: ignore[attr-defined]
            if ids - seen:
                raise ScopeViolation("The record refers to a record that is not yours.")


def _check_tenant_row(obj: Any, owner: Owner, merchant_id: int, new: bool) -> None:
    if owner.kind is OwnerKind.MERCHANT:
        if new:
            obj.merchant_id = merchant_id
            return
        before = inspect(obj).attrs.merchant_id.history.deleted
        if obj.merchant_id != merchant_id or any(v != merchant_id for v in before):
            raise ScopeViolation("The record belongs to another merchant.")
    elif owner.kind is OwnerKind.ITSELF and obj.id != merchant_id:
        raise ScopeViolation("The record belongs to another merchant.")


def visible_in(criteria: dict[type, Criterion]) -> Callable[[type], Criterion | None]:
    """The criterion of one table for callers that build Core statements themselves."""
    return criteria.get
