"""The view generator: one sqladmin ModelView per schema class, built from its AdminHints.

Behaviour every table shares lives in ``PostdeskView``: fast counting, optimistic locking,
soft delete, secret fields that are never rendered back, translated labels and values.
Per-table behaviour that hints cannot express lives in ``admin.customize``.
"""

from __future__ import annotations

import builtins
import re
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import anyio
from markupsafe import Markup, escape
from sqladmin import ModelView
from sqladmin.authorization import Action
from sqladmin.filters import (
    AllUniqueStringValuesFilter,
    BooleanFilter,
    ForeignKeyFilter,
    OperationColumnFilter,
    StaticValuesFilter,
)
from sqladmin.pagination import Pagination
from sqlalchemy import Boolean, Date, Select, String, func, inspect, or_, select
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from wtforms import HiddenField, PasswordField

from admin.exports import ListExports
from admin.form_display import minute_fields
from admin.forms import PostdeskConverter
from admin.list_preferences import ListPreferencesMixin
from admin.save_messages import flash_deleted, flash_saved
from locales import (
    datetime_markup,
    format_decimal,
    format_money,
    get_language,
    gettext,
    lazy_gettext,
    parse_date,
)
from schema import model_for
from schema.base import Base, LabelledEnum, Money, SoftDeleted, UTCDateTime, utcnow
from schema.orders import OrderNote
from schema.people import CurrencyRow
from schema.workflows import Workflow, WorkflowState
from services.actor import current_actor
from services.errors import Refused
from services.records import HistoryEntry, StatusLabels, change_history, status_labels
from services.scoping import ScopeViolation, actor_criteria, tenant_may

HIDDEN_IN_FORMS = frozenset({"id", "created_at", "updated_at", "deleted_at", "version"})
TITLE_COLUMNS = ("name", "number", "code", "username", "full_name", "title", "barcode")


class ConflictError(Exception):
    """The record changed after the form was opened; nothing was saved."""


@contextmanager
def refusals_in_language() -> Iterator[None]:
    """sqladmin shows ``str(exc)`` of a failed save above the form: give it the refusal in
    the reader's language."""
    try:
        yield
    except ScopeViolation as exc:
        raise HTTPException(status_code=404) from exc
    except Refused as exc:
        raise ValueError(exc.render(gettext)) from exc


def _enum_label(value: LabelledEnum) -> str:
    return gettext(value.label)


def _datetime_label(value: datetime) -> Markup:
    # In the reader's calendar (Solar Hijri in Persian) with the Gregorian date as its title.
    return datetime_markup(value)


class _TranslatedLookups:
    """sqladmin's lookup filters say "All" in English and offer NULL as a choice that then
    shows as selected; translate the one and drop the other."""

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        found = await super().lookups(request, model, run_query)  # type: ignore[misc]
        return [(k, gettext("All") if k == "__all" else v) for k, v in found if k is not None]


# How each filter shows in the list's filter bar (postdesk/list.html):
#   "select"  a drop-down of its lookups (choices, statuses, yes/no, a column's values);
#   "related" a drop-down of the related rows when there are few, else a search box that asks
#             ``/<view>/filter-lookup`` (scoped, 20 at a time) — never a list of every row;
#   "date"    from/to dates (``<name>_from``, ``<name>_to``, both days included);
#   "operation" sqladmin's comparison and value.
class ValuesFilter(_TranslatedLookups, AllUniqueStringValuesFilter):
    """The column's distinct values."""

    bar = "select"


class CurrencyFilter(ValuesFilter):
    """A currency column: the currencies the platform knows (a small table), never a
    DISTINCT over a large table's column (orders' currencies at a million rows)."""

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        rows = await run_query(select(CurrencyRow.code).order_by(CurrencyRow.code))
        return [("__all", gettext("All")), *((code, code) for code, in rows)]


class YesNoFilter(BooleanFilter):
    bar = "select"

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        return [("all", gettext("All")), ("true", gettext("Yes")), ("false", gettext("No"))]


class ChoiceFilter(_TranslatedLookups, StaticValuesFilter):
    """A choice column's translated labels."""

    bar = "select"


RELATED_DROPDOWN_MAX = 30  # more related rows than this: a search box instead of a list
RELATED_SEARCH_LIMIT = 20


class RelatedFilter(ForeignKeyFilter):
    """Rows whose foreign key names one related row, picked by its title (``str(row)``: a
    person's name, never the column's label). The person's scoping applies to every look-up,
    so a merchant is offered only its own customers.

    The foreign key column's ``choices_where`` info (``label(..., choices_where=f)``) narrows
    what is offered: ``f()`` returns a condition on the target's rows (built when the filter
    asks, so it may name models the schema module cannot import at load time), and only the
    rows meeting it are listed, searched or shown as the chosen value. The condition runs in
    the person's scoped session too. Filtering by a value typed in a link is not narrowed (it
    names one row, which scoping already guards)."""

    bar = "related"

    def __init__(self, foreign_key: Any, target: type[Base], title: str,
                 choices_where: Callable[[], Any] | None = None) -> None:
        super().__init__(foreign_key, _title_column(target), title=title)
        self.target = target
        self.choices_where = choices_where

    def choices(self) -> Select:
        """The related rows this filter may offer (before scoping, which the session adds)."""
        stmt = select(self.target)
        return stmt if self.choices_where is None else stmt.where(self.choices_where())

    def search_columns(self) -> builtins.list[Any]:
        hints = getattr(self.target, "__admin__", None)
        names = [f for f in (hints.search if hints else ()) if "." not in f]
        columns = inspect(self.target).columns
        names = [n for n in names if n in columns] or [
            c.key for c in [_title_column(self.target)] if c.key != "id"]
        return [getattr(self.target, n) for n in names]

    @staticmethod
    def _options(rows: Any) -> builtins.list[tuple[str, str]]:
        return [(str(row.id), str(row)) for row in rows]

    def few(self, session: Session) -> builtins.list[tuple[str, str]] | None:
        """Every related row the person may see when there are few of them, else None."""
        rows = session.scalars(self.choices().order_by(_title_column(self.target))
                               .limit(RELATED_DROPDOWN_MAX + 1)).all()
        return None if len(rows) > RELATED_DROPDOWN_MAX else self._options(rows)

    def named(self, session: Session, value: str) -> tuple[str, str] | None:
        """The chosen row (its id and title), when the person may see it."""
        if not value.isdigit():
            return None
        row = session.scalars(self.choices().where(self.target.id == int(value))).first()  # type: ignore[attr-defined]
        return None if row is None else (str(row.id), str(row))

    def search(self, session: Session, term: str) -> builtins.list[tuple[str, str]]:
        """Up to RELATED_SEARCH_LIMIT rows matching ``term`` (any search column; an id)."""
        term = term.strip()
        if not term:
            return []
        like = f"%{term}%"
        conditions = [column.ilike(like) for column in self.search_columns()]
        if term.isdigit():
            conditions.append(self.target.id == int(term))  # type: ignore[attr-defined]
        if not conditions:
            return []
        rows = session.scalars(self.choices().where(or_(*conditions))
                               .order_by(_title_column(self.target))
                               .limit(RELATED_SEARCH_LIMIT)).all()
        return self._options(rows)

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        # Anything but an id (a stale link, a typo) filters nothing rather than failing.
        if not str(value).isdigit():
            return query
        return await super().get_filtered_query(query, value, model)


class HasRelatedFilter:
    """Yes/no: the row has rows of a to-many relationship (an order split into sub-orders).
    The inner query is a Core alias, unscoped, as in ``reports.queries.common.split_parents``:
    the outer query is the one the person's scoping filters."""

    has_operator = False
    bar = "select"
    template = "sqladmin/filters/lookup_filter.html"

    def __init__(self, model: type[Base], relation: Any, title: str) -> None:
        self.title = title
        self.parameter_name = relation.key
        remote = next(iter(relation.remote_side))
        alias = remote.table.alias(f"has_{relation.key}")
        self._having = select(alias.c[remote.key]).where(alias.c[remote.key].is_not(None))
        self._key = model.id  # type: ignore[attr-defined]

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        return [("all", gettext("All")), ("true", gettext("Yes")), ("false", gettext("No"))]

    async def get_filtered_query(self, query: Select, value: Any, model: Any) -> Select:
        if value == "true":
            return query.where(self._key.in_(self._having))
        if value == "false":
            return query.where(self._key.not_in(self._having))
        return query


class WorkflowStateFilter(AllUniqueStringValuesFilter):
    """Offers the workflow's states, labelled in the reader's language."""

    bar = "select"

    async def lookups(self, request: Request, model: Any, run_query: Any) -> list[tuple[str, str]]:
        column = inspect(model).columns[self.parameter_name]
        label_column = getattr(WorkflowState, f"label_{get_language()}", WorkflowState.label_en)
        rows = await run_query(
            select(WorkflowState.code, func.coalesce(label_column, WorkflowState.label_en))
            .join(Workflow, Workflow.id == WorkflowState.workflow_id)
            .where(Workflow.entity == column.table.name, Workflow.field == column.key)
            .order_by(Workflow.id, WorkflowState.position)
        )
        seen: dict[str, str] = {}
        for code, text in rows:
            seen.setdefault(code, text)
        return [("__all", gettext("All")), *seen.items()]


class DateFilter(OperationColumnFilter):
    """Compare an aware UTC datetime column, or a plain date column (a payout's period, a
    drop-off day), with a date typed as year-month-day, Gregorian or Solar Hijri, in Latin or
    Persian digits (``locales.parse_date``).

    The filter bar sends ``<name>_from`` and ``<name>_to`` (both days included: ``to`` is
    compared as before the next day's start); sqladmin's ``<name>_op`` + ``<name>`` form
    (``greater_than``: from that day's start, ``less_than``: before it) still works for links.
    A date that does not parse filters nothing."""

    bar = "date"

    def get_operation_options(self, column_obj: Any) -> list[tuple[str, str]]:
        return [("greater_than", gettext("From")), ("less_than", gettext("Before"))]

    def _convert_value_for_column(self, value: str, column_obj: Any, operation: str = "") -> Any:
        return self.bound(column_obj, value)

    def bound(self, column: Any, value: str, days_after: int = 0) -> date | datetime | None:
        """The day's start as the column holds it: a moment, or the day itself."""
        moment = self.day_start(value, days_after)
        if moment is not None and isinstance(getattr(column, "type", None), Date):
            return moment.date()
        return moment

    @staticmethod
    def day_start(value: str, days_after: int = 0) -> datetime | None:
        try:
            day = parse_date(value.strip()[:10])
        except ValueError:
            return None
        return datetime.combine(day + timedelta(days=days_after), time.min, tzinfo=UTC)

    def range_query(self, stmt: Select, model: Any, start: str | None, end: str | None) -> Select:
        column = getattr(model, self.parameter_name)
        since = self.bound(column, start) if start else None
        until = self.bound(column, end, days_after=1) if end else None
        if since is not None:
            stmt = stmt.where(column >= since)
        if until is not None:
            stmt = stmt.where(column < until)
        return stmt


class PostdeskView(ListPreferencesMixin, ListExports, ModelView):
    form_converter = PostdeskConverter
    page_size = 25
    page_size_options = [25, 50, 100, 200]
    # Exports: admin.exports (XLSX/CSV, streamed, scoped, formula-safe) and its menu in
    # postdesk/list.html; sqladmin's own export route is closed by offering it no format.
    can_export = True
    export_types: list[str] = []
    list_template = "postdesk/list.html"
    column_type_formatters = {
        **ModelView.column_type_formatters,
        LabelledEnum: _enum_label,
        datetime: _datetime_label,
    }
    column_type_formatters_detail = column_type_formatters
    soft_delete: bool = False
    secret_columns: tuple[str, ...] = ()
    status_columns: tuple[str, ...] = ()
    details_template = "postdesk/details.html"

    def search_placeholder(self) -> str:
        return ", ".join(str(self._column_labels.get(f, f)) for f in self._search_fields)

    def _identity_for_object(self, obj: Any) -> str:
        # sqladmin links a related row to the slug of its class name ("stock-level"), but our
        # views are named by their table ("stock_levels"): such links answered 404.
        if isinstance(obj, self.model):
            return self.identity
        return getattr(obj, "__tablename__", None) or super()._identity_for_object(obj)

    # --- context: labels and history loaded once per page, never per row ---------------
    async def _load_status_labels(self, request: Request) -> None:
        if not self.status_columns or hasattr(request.state, "status_labels"):
            return
        lang = get_language()

        def load() -> StatusLabels:
            with self.session_maker() as session:
                return status_labels(session, lang)

        request.state.status_labels = await anyio.to_thread.run_sync(load)

    async def list_context(self, request: Request) -> dict[str, Any]:
        await self._load_status_labels(request)
        context = await super().list_context(request)
        if self.has_permission(request, Action.LIST):
            context.update(await self.list_page_context(request))
        return context

    async def details_context(self, request: Request) -> dict[str, Any]:
        await self._load_status_labels(request)
        table, pk = self.model.__tablename__, request.path_params.get("pk", "")

        def load() -> list[HistoryEntry]:
            with self.session_maker() as session:
                return change_history(session, table, int(pk)) if pk.isdigit() else []

        context = await super().details_context(request)
        context["history"] = await anyio.to_thread.run_sync(load)
        return context

    # --- listing -------------------------------------------------------------------------
    def filtered_query(self, request: Request) -> Select:
        """The list query with search and filters; no sort, no paging."""
        return self.list_query(request)

    async def _apply_filters(self, stmt: Select, request: Request) -> Select:
        for filter_ in self.get_filters():
            name = filter_.parameter_name
            if isinstance(filter_, DateFilter):
                start = request.query_params.get(f"{name}_from")
                end = request.query_params.get(f"{name}_to")
                if start or end:
                    stmt = filter_.range_query(stmt, self.model, start, end)
            value = request.query_params.get(name)
            if not value:
                continue
            if getattr(filter_, "has_operator", False):
                operation = request.query_params.get(f"{name}_op")
                if operation:
                    stmt = await filter_.get_filtered_query(stmt, operation, value, self.model)
            else:
                stmt = await filter_.get_filtered_query(stmt, value, self.model)
        search = request.query_params.get("search")
        if search:
            stmt = self.search_query(stmt=stmt, term=search)
        return stmt

    async def list(self, request: Request) -> Pagination:
        """Like sqladmin's, but counts on the key without ORDER BY or loading every column.

        Stock sqladmin counts ``SELECT count(*) FROM (<sorted, all-columns query>)``, which is
        most of a page's time on a large table.
        """
        page = self.validate_page_number(request.query_params.get("page"), 1)
        page_size = self.validate_page_number(
            request.query_params.get("pageSize"), self.page_size
        )
        page_size = min(max(page_size, 1), max(self.page_size_options))
        stmt = await self._apply_filters(self.filtered_query(request), request)

        count_stmt = select(func.count()).select_from(
            stmt.with_only_columns(self.count_key()).order_by(None).subquery()
        )
        count = await self.count(request, count_stmt)
        page = min(max(page, 1), Pagination.max_page(count, page_size))

        stmt = self.sort_query(stmt, request)
        # Only the relations of the columns this person shows (admin.list_preferences).
        visible = set(await self.visible_columns(request))
        for name, relation in zip(self._list_relation_names, self._list_relations, strict=True):
            if name in visible:
                stmt = stmt.options(selectinload(relation))
        stmt = stmt.limit(page_size).offset((page - 1) * page_size)
        rows = await self._run_query(stmt)
        if NOTES_COLUMN in visible and rows:
            request.state.latest_notes = await self._in_session(
                lambda s: latest_notes(s, [row.id for row in rows]))
        return Pagination(rows=rows, page=page, page_size=page_size, count=count)

    def count_key(self) -> Any:
        """The key to count by: the mapped attribute, never the bare table column — the
        person's scoping attaches to mapped entities, so a count over ``Table.c.id`` would
        count every merchant's rows (tests/test_isolation.py compares counts with rows)."""
        return getattr(self.model, self.pk_columns[0].key)

    def list_query(self, request: Request) -> Select:
        stmt = select(self.model)
        if self.soft_delete:
            stmt = stmt.where(self.model.deleted_at.is_(None))
        return stmt

    def _stmt_by_identifier(self, identifier: str) -> Select:
        try:
            int(identifier)
        except ValueError as exc:
            raise HTTPException(status_code=404) from exc
        return super()._stmt_by_identifier(identifier)

    # --- writing -------------------------------------------------------------------------
    async def scaffold_form(self, rules: builtins.list[str] | None = None) -> Any:
        # Amounts as people write them ("5", not "5.0000"), dates in the reader's calendar.
        form = minute_fields(await super().scaffold_form(rules))
        actor = current_actor()
        if actor_criteria(actor) and hasattr(form, "merchant"):
            # A merchant's rows are stamped with it at flush; staff confined to their orders
            # may not hand an order to another merchant (the flush refuses it as well).
            form = type(form.__name__, (form,), {"merchant": None})
        return form

    async def on_model_change(
        self, data: dict, model: Any, is_created: bool, request: Request
    ) -> None:
        submitted = data.pop("version", None)
        if not is_created and submitted not in (None, "") and model is not None:
            if int(submitted) != model.version:
                raise ConflictError(self.conflict_message())
        for key in self.secret_columns:
            # A secret is never rendered back; an empty input keeps the stored value.
            if not data.get(key):
                data.pop(key, None)
        for key, value in data.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                # Form date-times carry no zone; the admin's times are UTC.
                data[key] = value.replace(tzinfo=UTC)

    @staticmethod
    def conflict_message() -> str:
        return gettext(
            "Someone else changed this record while you were editing it. Nothing was saved: "
            "reload the page to see their changes, then make yours again."
        )

    def _check_tenant_may(self, action: str) -> None:
        actor = current_actor()
        if actor is not None and actor.is_merchant and not tenant_may(self.model, action):
            raise HTTPException(status_code=403)

    async def insert_model(self, request: Request, data: dict) -> Any:
        self._check_tenant_may("create")
        with refusals_in_language():
            obj = await super().insert_model(request, data)
        flash_saved(request, obj, created=True, what=str(self.name))
        return obj

    async def update_model(self, request: Request, pk: str, data: dict) -> Any:
        self._check_tenant_may("edit")
        try:
            with refusals_in_language():
                obj = await super().update_model(request, pk, data)
        except StaleDataError as exc:
            raise ConflictError(self.conflict_message()) from exc
        flash_saved(request, obj, created=False, what=str(self.name))
        return obj

    async def delete_model(self, request: Request, pk: Any) -> None:
        self._check_tenant_may("delete")
        if not self.soft_delete:
            with refusals_in_language():
                await super().delete_model(request, pk)
        else:
            await self.set_deleted(pk, utcnow())
            await self._emit_audit(request, "delete", pk, None)
        flash_deleted(request, pk)

    async def set_deleted(self, pk: Any, when: datetime | None) -> None:
        """Soft delete (or restore, with ``when=None``) through the ORM, so scoping applies."""

        def run() -> None:
            with self.session_maker() as session:
                obj = session.execute(self._stmt_by_identifier(str(pk))).scalars().first()
                if obj is None:
                    raise HTTPException(status_code=404)
                obj.deleted_at = when
                session.commit()

        await anyio.to_thread.run_sync(run)


def _column_label(column: Any, key: str) -> str:
    text = column.info.get("label") if hasattr(column, "info") else None
    return lazy_gettext(text or key.replace("_", " ").capitalize())


def _relationship_label(rel: Any) -> str:
    """A relationship reads as its foreign key's label (to-one) or the target's plural."""
    text: str | None = rel.info.get("label")
    if text:
        return lazy_gettext(text)
    local = next(iter(rel.local_columns), None)
    if rel.direction.name == "MANYTOONE" and local is not None:
        return _column_label(local, rel.key)
    target = getattr(rel.mapper.class_, "__admin__", None)
    return lazy_gettext(target.plural if target else rel.key.replace("_", " ").capitalize())


def _details_order(mapper: Any) -> list[str]:
    """Columns in declaration order, each foreign key shown as its relationship (a link),
    then the to-many relationships."""
    to_one = {next(iter(r.local_columns)).key: r.key for r in mapper.relationships
              if r.direction.name == "MANYTOONE" and len(r.local_columns) == 1}
    order = [to_one.get(k, k) for k in mapper.columns.keys() if k != "version"]
    return order + [r.key for r in mapper.relationships
                    if r.direction.name != "MANYTOONE" and not r.viewonly]


def _title_column(model: type[Base]) -> Any:
    columns = inspect(model).columns
    for name in TITLE_COLUMNS:
        if name in columns:
            return getattr(model, name)
    return model.id


def _filter_for(model: type[Base], name: str, title: str) -> Any:
    mapper = inspect(model)
    if name in mapper.relationships:
        # A to-many relationship: whether the row has any (an order split into sub-orders).
        return HasRelatedFilter(model, mapper.relationships[name], title)
    column = mapper.columns[name]
    attr = getattr(model, name)
    if column.foreign_keys:
        target_model = model_for(next(iter(column.foreign_keys)).column.table.name)
        return RelatedFilter(attr, target_model, title=title,
                             choices_where=column.info.get("choices_where"))
    if column.info.get("workflow"):
        return WorkflowStateFilter(attr, title=title)
    if isinstance(column.type, Boolean):
        return YesNoFilter(attr, title=title)
    if isinstance(column.type, SAEnum) and column.type.enum_class is not None:
        values = [(m.value, lazy_gettext(m.label)) for m in column.type.enum_class]
        return ChoiceFilter(attr, values=values, title=title)
    if isinstance(column.type, UTCDateTime | Date):
        return DateFilter(attr, title=title)
    if name == "currency" and isinstance(column.type, String):
        return CurrencyFilter(attr, title=title)
    if isinstance(column.type, String):
        return ValuesFilter(attr, title=title)
    return OperationColumnFilter(attr, title=title)


def _ltr(text: str) -> Markup:
    """Isolated left-to-right, so a Persian page never reverses it (a phone read as
    ``606-58-74 (29) 375+``) nor lets it reorder the words around it."""
    return Markup('<bdi dir="ltr">{}</bdi>').format(text)


def _money_formatter(name: str, has_currency: bool) -> Any:
    def fmt(model: Any, _attr: Any) -> Markup | str:
        value: Decimal | None = getattr(model, name)
        if value is None:
            return ""
        if has_currency:
            return _ltr(format_money(value, model.currency))
        return _ltr(f"{value.normalize():f}")

    return fmt


# Text columns that hold codes written left to right whatever the page's language.
_CODE_COLUMN = re.compile(r"(^|_)(phone|sku|barcode|number|code|tax_id|postcode|iban|email)$")


def _is_code_column(key: str, column: Any) -> bool:
    return (bool(_CODE_COLUMN.search(key)) and isinstance(column.type, String)
            and not isinstance(column.type, SAEnum) and not column.info.get("secret"))


def _code_formatter(name: str) -> Any:
    def fmt(model: Any, _attr: Any) -> Markup | str:
        value = getattr(model, name)
        return "" if value is None else _ltr(str(value))

    return fmt


def _status_formatter(table: str, name: str) -> Any:
    def fmt(model: Any, _attr: Any, request: Request) -> Markup | str:
        code = getattr(model, name)
        if code is None:
            return ""
        labels: StatusLabels = getattr(request.state, "status_labels", {})
        found = labels.get((table, name, code))
        if found is None:
            return code
        return Markup(
            '<span class="badge status-badge" style="background:{};color:#fff">{}</span>'
        ).format(escape(found.colour), found.text)

    return fmt


# A list column of orders that is no attribute: the latest note (schema.orders.OrderNote) and
# how many there are, read for the whole page in one query (``latest_notes``), never per row.
NOTES_COLUMN = "notes"
NOTE_PREVIEW = 60


def latest_notes(session: Session, order_ids: builtins.list[int]) -> dict[int, tuple[str, int]]:
    """order id → (its latest note's text, its number of notes), for orders with notes."""
    last = (select(OrderNote.order_id, func.max(OrderNote.id).label("last_id"),
                   func.count(OrderNote.id).label("notes"))
            .where(OrderNote.order_id.in_(order_ids)).group_by(OrderNote.order_id).subquery())
    rows = session.execute(select(last.c.order_id, OrderNote.text, last.c.notes)
                           .join(OrderNote, OrderNote.id == last.c.last_id))
    return {order_id: (text or "", int(count)) for order_id, text, count in rows}


def _notes_formatter(model: Any, _attr: Any, request: Request) -> Markup | str:
    found = getattr(request.state, "latest_notes", {}).get(model.id)
    if found is None:
        return ""
    text, count = found
    short = text if len(text) <= NOTE_PREVIEW else text[:NOTE_PREVIEW - 1].rstrip() + "…"
    return Markup(
        '<span class="postdesk-note" title="{}"><i class="fa-regular fa-note-sticky"></i>'
        ' <span class="postdesk-note-count">{}</span> <span class="postdesk-note-text">{}</span>'
        "</span>").format(text, format_decimal(count), short)


def build_view(model: type[Base], base: type[PostdeskView] = PostdeskView) -> type[PostdeskView]:
    """Generate the admin view of one schema class from its ``__admin__`` hints."""
    hints = model.__admin__  # type: ignore[attr-defined]
    mapper = inspect(model)
    columns = mapper.columns
    labels: dict[str, str] = {}
    for key, column in columns.items():
        labels[key] = _column_label(column, key)
    for rel in mapper.relationships:
        labels[rel.key] = _relationship_label(rel)
    offered = [*hints.list, *hints.list_more] or ["id"]
    if NOTES_COLUMN in offered and NOTES_COLUMN not in columns:
        labels[NOTES_COLUMN] = lazy_gettext("Notes")

    secrets = tuple(k for k, c in columns.items() if c.info.get("secret"))
    statuses = tuple(k for k, c in columns.items() if c.info.get("workflow"))
    fk_columns = {k for k, c in columns.items() if c.foreign_keys}
    # Money and state a service owns (totals, balances, a parcel's cell and deadline) are
    # shown, never typed: the service sets them when their inputs change.
    owned = {k for k, c in columns.items() if c.info.get("service")}
    form_relations = [
        r.key for r in mapper.relationships
        if r.direction.name in ("MANYTOONE", "MANYTOMANY") and not r.viewonly
        and not {c.key for c in r.local_columns} & owned
    ]
    # Workflow-governed statuses change only through their workflow, never by typing a code.
    form_columns = [
        k for k in columns.keys()
        if k not in HIDDEN_IN_FORMS and k not in fk_columns and k not in statuses
        and k not in hints.form_exclude and k not in owned
    ] + [r for r in form_relations if r not in hints.form_exclude]
    if "version" in columns:
        form_columns.append("version")

    money = {k for k, c in columns.items() if isinstance(c.type, Money)}
    formatters: dict[str, Any] = {k: _money_formatter(k, "currency" in columns) for k in money}
    formatters.update({k: _code_formatter(k) for k, c in columns.items()
                       if k not in statuses and _is_code_column(k, c)})
    formatters.update({k: _status_formatter(model.__tablename__, k) for k in statuses})
    virtual = [c for c in offered if c == NOTES_COLUMN and c not in columns]
    formatters.update({c: _notes_formatter for c in virtual})

    ajax_refs = {}
    for rel in mapper.relationships:
        if rel.key not in form_columns or rel.direction.name != "MANYTOONE":
            continue
        target_hints = getattr(rel.mapper.class_, "__admin__", None)
        if target_hints is not None and target_hints.search:
            ajax_refs[rel.key] = {
                "fields": [f for f in target_hints.search if "." not in f],
                "order_by": "id",
                "page_size": 20,
            }

    attrs: dict[str, Any] = {
        "name": lazy_gettext(hints.label),
        "name_plural": lazy_gettext(hints.plural),
        "icon": hints.icon,
        "category": lazy_gettext(hints.menu),
        "column_list": offered,
        "default_columns": list(hints.list) or ["id"],
        "column_details_list": [
            k for k in _details_order(mapper)
            if k not in secrets and k not in hints.details_exclude
        ],
        "column_searchable_list": list(hints.search),
        "column_sortable_list": list(hints.sort),
        "column_default_sort": list(hints.default_sort),
        "column_filters": [_filter_for(model, f, labels.get(f, f)) for f in hints.filters],
        "column_labels": labels,
        "column_formatters": formatters,
        "column_formatters_detail": formatters,
        # The hints' export columns, else the list's (never a secret, nor the notes, which
        # are no attribute).
        **({"column_export_list": [c for c in hints.export if c not in secrets]}
           if hints.export else {"column_export_exclude_list": [*secrets, *virtual]}),
        "form_columns": form_columns,
        "form_overrides": {
            **{k: PasswordField for k in secrets},
            **({"version": HiddenField} if "version" in columns else {}),
        },
        "form_ajax_refs": ajax_refs,
        "secret_columns": secrets,
        "status_columns": statuses,
        "soft_delete": issubclass(model, SoftDeleted),
        "can_create": not hints.readonly,
        "can_edit": not hints.readonly,
        "can_delete": not hints.readonly,
    }
    view = types.new_class(
        f"{model.__name__}Admin", (base,), {"model": model}, lambda ns: ns.update(attrs)
    )
    view.identity = model.__tablename__  # the metaclass derives one from the class name
    return view
