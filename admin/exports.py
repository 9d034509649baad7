"""Every admin list as a file (R-ORD-6): what the list shows, as filtered, all pages, streamed.

``GET /admin/<identity>/exports/xlsx`` (or ``/csv``) with the list page's own query string
(search, filters, ``sortBy``/``sort``) exports every matching row:

- the same statement as the list (``list_query`` + filters + search + sort) projected onto the
  list's columns, so the session's scoping events (services/scoping.py: merchant, operator,
  courier) filter it exactly as they filter the page;
- the list's columns minus ``column_export_exclude_list`` and anything secret, headed by the
  labels in the reader's language; values typed: money and numbers as numbers, dates as dates,
  choices and workflow states by their translated label, relations by their display name;
- read with ``yield_per`` (a server-side cursor where the database has one) in chunks; each
  chunk's related rows are fetched with one ``IN`` query per relation (and remembered), never
  one query per row;
- written by reports.spreadsheet: XLSX into a temporary file (constant-memory mode needs one)
  that is sent in chunks and deleted afterwards; CSV sent as it is produced.

Exporting needs the view's ``list`` and ``export`` grants (seed/data/access.yaml).
``ExportJob`` is the web-free part (the benchmark drives it directly).

**Large lists run as background jobs** (issue 11, ``services.jobs``). The export is a link in
the list's menu, and most exports are of a filtered list — a day's orders, a merchant's
products — that answers in well under a second; those stay an immediate download, one click
as before. The request first counts the matching rows exactly as the list page counts them
(same filters, same scoping); more than ``DIRECT_ROWS`` (5,000: about a tenth of a second of
XLSX at the measured ~20 µs a row, where a whole list of a million took 20-24 s in the
request) are queued as an ``export`` job instead and the browser goes to the job's page (a
303), whose bar shows the rows written of the total and which offers the file, then kept a
day among the person's Downloads. The job stores the list's identity, its query string
(search, filters, sort), the format and the language — plain JSON — and the runner rebuilds
the same statement through the same view (registered by the database's session factory as the
admin is built), counts again and writes the file as the person who asked
(``acting_as`` them as they are now, so ``services.scoping`` confines a merchant's job to its
own rows), on the runner's thread, off the event loop. Progress is written at most every
``PROGRESS_SECONDS`` (a row count per chunk of 500 would be thousands of writes). The link
stays a GET, as the direct download is: it queues work only for the person themselves. The
file's name is the list's name and the day, in the person's language
(``services.jobs.file_name``): ``Заказы 2026-12-01.xlsx``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import anyio
from sqladmin import expose
from sqladmin.authorization import Action
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    Numeric,
    Select,
    String,
    func,
    inspect,
    select,
    type_coerce,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import MANYTOONE, RelationshipProperty, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from locales import get_language, gettext, is_rtl, set_language
from reports.spreadsheet import (
    EXCEL_MAX_ROWS,
    Column,
    ColumnKind,
    Sheet,
    SpreadsheetWriter,
    csv_from_columns,
)
from schema.base import MONEY_SCALE, N_, Encrypted, LabelledEnum, Money, UTCDateTime
from schema.jobs import JobKind
from services.actor import Actor, acting_as, current_actor
from services.errors import Refused
from services.jobs import Work, file_name, register_maker, runner_for, start_job
from services.records import status_labels
from services.scoping import scope_rules

EXPORT_FORMATS = ("xlsx", "csv")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# Rows read and written per chunk. Small enough for a chunk's rows and cells to stay in the
# processor's caches: a million-row CSV took 9.8-10.9 s CPU in chunks of 5,000, 7.0-8.0 s in 500.
CHUNK_ROWS = 500
# What the CSV stream hands to the web server at a time.
SEND_BYTES = 1 << 20
TEMP_PREFIX = "postdesk-export-"
# Display names remembered per relation; past this the memory is dropped and refilled, so a
# million distinct customers never pile up (a chunk's names are in place before it is used).
NAME_CACHE_LIMIT = 50_000
# Keeps each IN (...) under every database's bound-parameter limit.
IN_BATCH = 900
# More matching rows than this are exported by a background job (see the module's docstring).
DIRECT_ROWS = 5_000
# A job writes its progress (rows written) at most this often.
PROGRESS_SECONDS = 0.5
EXPORT_GONE = N_("This list can no longer be exported. Export it again from the list.")

Convert = Callable[[Any], Any]


class _Lookup(dict[Any, Any]):
    """A value's label; a value without one shows as itself (``None`` as nothing). Its
    ``__getitem__`` is the converter: one C-level call per cell on a million rows."""

    def __missing__(self, key: Any) -> Any:
        return key


class _Names(dict[Any, Any]):
    """A relation's display names by key; a key not (or no longer) known shows as nothing."""

    def __missing__(self, key: Any) -> None:
        return None


class RelationNames:
    """The display names (``str(row)``) of a to-one relation's targets, fetched per chunk."""

    def __init__(self, relation: RelationshipProperty[Any]) -> None:
        pairs = relation.local_remote_pairs or []
        if len(pairs) != 1:
            raise ValueError(f"{relation}: only single-column relations export")
        self.local, remote = pairs[0]
        self.target: type = relation.mapper.class_
        self.remote_key = relation.mapper.get_property_by_column(remote).key
        self.remote = getattr(self.target, self.remote_key)
        self.names = _Names()

    def fill(self, session: Session, keys: set[Any]) -> None:
        """Make sure the names of ``keys`` (one chunk's) are known."""
        keys.discard(None)
        missing = [k for k in keys if k not in self.names]
        if not missing:
            return
        if len(self.names) + len(missing) > NAME_CACHE_LIMIT:
            self.names.clear()
            missing = list(keys)
        for start in range(0, len(missing), IN_BATCH):
            batch = missing[start:start + IN_BATCH]
            # Through the ORM, so scoping hides targets the person may not see, as on the page.
            for row in session.scalars(select(self.target).where(self.remote.in_(batch))):
                self.names[getattr(row, self.remote_key)] = str(row)
            for key in batch:
                self.names.setdefault(key, None)
        session.expunge_all()

    @property
    def lookup(self) -> Convert:
        return self.names.__getitem__


@dataclass
class ExportField:
    """One exported column: its header, kind and conversion; what to select."""

    key: str
    column: Column
    expression: Any
    names: RelationNames | None = None


@dataclass
class ExportJob:
    """A list export ready to run: the projected statement and how to render each column.

    Built in the request (labels in the reader's language, the actor who asked); runs anywhere,
    in a worker thread for the web, directly for the benchmark.
    """

    title: str
    fields: list[ExportField]
    statement: Select[Any]
    factory: sessionmaker[Session]
    actor: Actor | None
    language: str
    chunk_rows: int = CHUNK_ROWS
    stamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Told the rows read so far after each chunk has been handed on (a job's progress).
    progress: Callable[[int], None] | None = None

    @property
    def columns(self) -> list[Column]:
        return [f.column for f in self.fields]

    @property
    def rtl(self) -> bool:
        return is_rtl(self.language)

    def filename(self, fmt: str) -> str:
        return f"{self.title}_{self.stamp:%Y-%m-%d_%H-%M}.{fmt}"

    @contextmanager
    def _as_asker(self) -> Iterator[None]:
        # Scoping reads the actor when a statement runs; the rows may be produced in a worker
        # thread or after the request handler returned, so carry the asker explicitly.
        language = get_language()
        set_language(self.language)
        try:
            with acting_as(self.actor):
                yield
        finally:
            set_language(language)

    def column_chunks(self) -> Iterator[list[Sequence[Any]]]:
        """Every matching row as stored, a chunk at a time given as the chunk's columns,
        except that a relation's key is replaced by its target's display name (fetched for the
        whole chunk at once); the columns' ``convert`` turn the rest into what the list shows."""
        relations = [(i, f.names) for i, f in enumerate(self.fields) if f.names is not None]
        # The rows are read on the connection, past the ORM's per-row work (a million rows:
        # seconds), so the person's scoping rules are attached here, from the one place that
        # defines them; the compiled statement applies them as the session's event would.
        statement = self.statement.options(*scope_rules(self.actor))
        done = 0
        with self.factory() as session:
            with self._as_asker():
                result = session.connection().execution_options(
                    yield_per=self.chunk_rows).execute(statement)
                chunks = result.partitions()
            try:
                while True:
                    # No yield inside: the actor is set and reset within one resumption.
                    with self._as_asker():
                        chunk = next(chunks, None)
                        if chunk is None:
                            return
                        # Column-wise, so the per-row work stays in C (zip, map, lookups).
                        columns: list[Sequence[Any]] = list(zip(*chunk, strict=True))
                        for index, names in relations:
                            names.fill(session, set(columns[index]))
                            columns[index] = tuple(map(names.lookup, columns[index]))
                    yield columns
                    if self.progress is not None:
                        done += len(columns[0]) if columns else 0
                        self.progress(done)
            finally:
                result.close()

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """The same rows, one by one."""
        for columns in self.column_chunks():
            yield from zip(*columns, strict=True)

    def write_xlsx(self, target: str | Path | IO[bytes], *,
                   row_limit: int = EXCEL_MAX_ROWS) -> int:
        """Write the workbook; returns the number of data rows."""
        # zlib level 1: a whole list zips four times faster, into a file a quarter larger.
        with SpreadsheetWriter(target, rtl=self.rtl, row_limit=row_limit, zip_level=1) as book:
            table = book.add_table(Sheet(self.title, self.columns, self.rows()))
        return table.rows

    def temp_xlsx(self, *, row_limit: int = EXCEL_MAX_ROWS) -> str:
        """The workbook in a temporary file (the caller deletes it)."""
        fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".xlsx")
        os.close(fd)
        try:
            self.write_xlsx(path, row_limit=row_limit)
        except BaseException:
            os.unlink(path)
            raise
        return path

    def iter_csv(self) -> Iterator[bytes]:
        return _coalesced(csv_from_columns(self.columns, self.column_chunks()), SEND_BYTES)


def _coalesced(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    """The pieces joined into blocks of at least ``size`` bytes: the web server fetches each
    block of a synchronous stream in a worker thread, and a hop per small chunk of rows cost
    more than writing them."""
    held: list[bytes] = []
    length = 0
    for piece in pieces:
        held.append(piece)
        length += len(piece)
        if length >= size:
            yield b"".join(held)
            held, length = [], 0
    if held:
        yield b"".join(held)


# --- what a column holds -----------------------------------------------------------------------

def _is_secret(column: Any) -> bool:
    return bool(column.info.get("secret")) or isinstance(column.type, Encrypted)


def _enum_labels(enum_class: type) -> Convert:
    """Stored code -> the choice's translated label."""
    return _Lookup({m.value: gettext(m.label) if isinstance(m, LabelledEnum) else str(m.value)
                    for m in enum_class}).__getitem__  # type: ignore[attr-defined]


def _state_labels(table: str, key: str, labels: dict[tuple[str, str, str], Any]) -> Convert:
    return _Lookup({code: found.text for (t, k, code), found in labels.items()
                    if (t, k) == (table, key)}).__getitem__


def _yes_no() -> Convert:
    return _Lookup({True: gettext("Yes"), False: gettext("No")}).__getitem__


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def stored_money(value: int) -> Decimal:
    """Money as stored (integer 1/10^MONEY_SCALE units) to its Decimal, as the Money type
    reads it back but without its per-value Python call (a test holds the two equal)."""
    return Decimal(value).scaleb(-MONEY_SCALE)


def _column_field(model: type, key: str, header: str, has_currency: bool,
                  states: dict[tuple[str, str, str], Any]) -> ExportField:
    column = inspect(model).columns[key]
    expression: Any = getattr(model, key)
    kind: ColumnKind = "text"
    convert: Convert | None = None
    type_ = column.type
    stored = type_.impl if isinstance(type_, TypeDecorator) else type_
    # Where a column type converts every value in Python, read what is stored and convert
    # in the column's (remembering) converter: a third of the read time at a million rows.
    if column.info.get("workflow"):
        convert = _state_labels(model.__tablename__, key, states)  # type: ignore[attr-defined]
    elif isinstance(type_, Money):
        kind = "money" if has_currency else "number"
        expression, convert = type_coerce(expression, BigInteger()), stored_money
    elif isinstance(type_, Boolean):
        convert = _yes_no()
    elif isinstance(type_, SAEnum) and type_.enum_class is not None:
        expression = type_coerce(expression, String())
        convert = _enum_labels(type_.enum_class)
    elif isinstance(stored, Integer):
        kind = "integer"
    elif isinstance(stored, Numeric):
        kind = "number"
    elif isinstance(stored, DateTime):
        kind = "datetime"
        if isinstance(type_, UTCDateTime):
            # Naive on SQLite, aware on PostgreSQL: UTC either way, as the writer reads it.
            expression = type_coerce(expression, stored)
    elif isinstance(stored, Date):
        kind = "date"
    elif isinstance(type_, JSON):
        convert = _json_text
    return ExportField(key, Column(header, kind, convert=convert), expression)


def export_fields(view: Any, states: dict[tuple[str, str, str], Any]) -> list[ExportField]:
    """The list's columns that may leave the building, in the reader's language."""
    model = view.model
    mapper = inspect(model)
    excluded = {c if isinstance(c, str) else c.key for c in view.column_export_exclude_list}
    excluded |= set(getattr(view, "secret_columns", ()))
    has_currency = "currency" in mapper.columns
    fields: list[ExportField] = []
    # The view's own export columns (``AdminHints.export``), else every column its list offers.
    for key in view._export_prop_names if view.column_export_list else view._list_prop_names:
        if key in excluded:
            continue
        header = str(view._column_labels.get(key, key))
        if key in mapper.columns:
            if _is_secret(mapper.columns[key]):
                continue
            fields.append(_column_field(model, key, header, has_currency, states))
        elif key in mapper.relationships and mapper.relationships[key].direction is MANYTOONE:
            names = RelationNames(mapper.relationships[key])
            fields.append(ExportField(key, Column(header), getattr(model, names.local.key),
                                      names))
        else:
            raise ValueError(f"{view.identity}: cannot export list column {key!r}")
    return fields


async def filtered_statement(view: Any, request: Request) -> Select[Any]:
    """The list's statement as ``request`` filters and searches it (no sort, no paging)."""
    return await view._apply_filters(view.filtered_query(request), request)  # type: ignore[no-any-return]


def count_statement(view: Any, statement: Select[Any]) -> Select[Any]:
    """How many rows ``statement`` matches, counted as the list page counts them (on the
    mapped key, so the session's scoping applies: admin.views ``count_key``)."""
    return select(func.count()).select_from(
        statement.with_only_columns(view.count_key()).order_by(None).subquery())


def build_export(view: Any, statement: Select[Any], request: Request, language: str,
                 states: dict[tuple[str, str, str], Any], actor: Actor | None) -> ExportJob:
    """The export of ``statement`` (from ``filtered_statement``), sorted as ``request`` asks;
    headers in the current language."""
    fields = export_fields(view, states)
    stmt = view.sort_query(statement, request)
    stmt = stmt.with_only_columns(*(f.expression for f in fields), maintain_column_froms=True)
    return ExportJob(title=str(view.name_plural), fields=fields, statement=stmt,
                     factory=view.session_maker, actor=actor, language=language)


def _load_states(view: Any, session: Session, language: str
                 ) -> dict[tuple[str, str, str], Any]:
    return status_labels(session, language) if getattr(view, "status_columns", ()) else {}


async def export_job(view: Any, request: Request) -> ExportJob:
    """The export of ``view``'s list as ``request`` filters, searches and sorts it."""
    language = get_language()

    def load_states() -> dict[tuple[str, str, str], Any]:
        with view.session_maker() as session:
            return _load_states(view, session, language)

    states = await anyio.to_thread.run_sync(load_states)
    statement = await filtered_statement(view, request)
    return build_export(view, statement, request, language, states, current_actor())


def _attachment(filename: str, fallback: str) -> str:
    """The translated file name (RFC 6266 ``filename*``) and an ASCII one for old clients."""
    return f"attachment; filename=\"{fallback}\"; filename*=utf-8''{quote(filename)}"


class TemporaryFileResponse(FileResponse):
    """A file sent in chunks and deleted afterwards, also when the client went away."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            Path(self.path).unlink(missing_ok=True)


def _export_query(request: Request) -> str:
    """The list's search, filters and sort as a query string (paging dropped)."""
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in request.query_params.multi_items()
                    if k not in ("page", "pageSize", "lang"))


def _label_msgid(view: Any) -> str:
    """The message id behind the view's (lazily translated) plural name, so that the job's
    title is translated again for whoever reads it."""
    args = getattr(view.name_plural, "_args", None)
    return str(args[0]) if args else str(view.name_plural)


async def _queue_export(view: Any, request: Request, fmt: str, rows: int) -> Response:
    actor = current_actor()
    if actor is None:
        raise HTTPException(status_code=401)
    title = f"{view.name_plural} ({fmt.upper()})"
    params = {"view": view.identity, "label": _label_msgid(view), "format": fmt,
              "query": _export_query(request), "lang": get_language()}

    def queue() -> int:
        with view.session_maker() as session, session.begin():
            return start_job(session, actor, kind=JobKind.EXPORT, title=title, total=rows,
                             params=params).id

    job_id = await anyio.to_thread.run_sync(queue)
    runner_for(view.session_maker).wake()
    return RedirectResponse(request.url_for("admin:view-job", pk=job_id), 303)


async def export_response(view: Any, request: Request, fmt: str) -> Response:
    if fmt not in EXPORT_FORMATS:
        raise HTTPException(status_code=404)
    if not may_export(view, request):
        raise HTTPException(status_code=403)
    statement = await filtered_statement(view, request)
    rows = await view.count(request, count_statement(view, statement))
    if rows > DIRECT_ROWS:
        return await _queue_export(view, request, fmt, rows)
    job = await export_job(view, request)
    headers = {"content-disposition": _attachment(
        job.filename(fmt), f"{view.identity}_{job.stamp:%Y-%m-%d_%H-%M}.{fmt}")}
    if fmt == "csv":
        return StreamingResponse(job.iter_csv(), media_type=CSV_MEDIA_TYPE, headers=headers)
    path = await anyio.to_thread.run_sync(job.temp_xlsx)
    return TemporaryFileResponse(path, media_type=XLSX_MEDIA_TYPE, headers=headers)


def may_export(view: Any, request: Request) -> bool:
    """The ``list`` and ``export`` grants on the view (and its ``can_export`` flag)."""
    return bool(view.can_export and view.has_permission(request, Action.LIST)
                and view.has_permission(request, Action.EXPORT))


class ListExports:
    """Mixed into every generated list view: the export route and what the template asks."""

    export_formats: Sequence[str] = EXPORT_FORMATS

    def __init__(self) -> None:
        super().__init__()
        # sqladmin sets the class's session factory before it makes the one instance (a view
        # made outside an admin has none, and no jobs).
        factory = getattr(self, "session_maker", None)
        if factory is not None:
            _VIEWS.setdefault(factory, {})[self.identity] = self  # type: ignore[attr-defined]

    @expose("/exports/{fmt}", methods=["GET"])
    async def export_list(self, request: Request) -> Response:
        return await export_response(self, request, request.path_params["fmt"])

    def export_links(self, request: Request) -> list[tuple[str, str]]:
        """(format, URL carrying the list's search, filters and sort) for the template."""
        if not may_export(self, request):
            return []
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in request.query_params.multi_items()
                         if k not in ("page", "pageSize"))
        name = f"admin:view-{self.identity}-export_list"  # type: ignore[attr-defined]
        return [(fmt, str(request.url_for(name, fmt=fmt)) + (f"?{query}" if query else ""))
                for fmt in self.export_formats]


# --- large exports as background jobs ------------------------------------------------------------

# Every exportable list view by its database's session factory and identity, registered as
# the admin builds it (sqladmin keeps its views on the admin, not in a registry): an export
# job rebuilds its statement through the same view, whatever page woke the runner.
_VIEWS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _view(factory: sessionmaker[Session], identity: str) -> Any:
    view = _VIEWS.get(factory, {}).get(identity)
    if view is None:
        raise Refused(EXPORT_GONE)
    return view


def _request(query: str) -> Request:
    """A request carrying only the list's query string: what the view's filters, search and
    sort read (nothing else of a request reaches them)."""
    return Request({"type": "http", "method": "GET", "path": "/", "root_path": "",
                    "query_string": query.encode(), "headers": [], "scheme": "http",
                    "server": ("localhost", 80)})


def _throttled(progress: Callable[[int], None], every: float) -> Callable[[int], None]:
    last = time.monotonic()

    def report(done: int) -> None:
        nonlocal last
        if time.monotonic() - last >= every:
            progress(done)
            last = time.monotonic()

    return report


def make_export(work: Work, path: Path) -> str:
    """An export job (``services.jobs`` maker): the list rebuilt from the job's params, read
    and written as the person who asked; returns the file's name in their language."""
    params = work.params
    view = _view(work.factory, str(params["view"]))
    fmt = str(params["format"])
    if fmt not in EXPORT_FORMATS:
        raise Refused(EXPORT_GONE)
    request = _request(str(params.get("query") or ""))
    language = get_language()
    set_language(work.lang)
    try:
        with acting_as(work.actor):
            statement = asyncio.run(filtered_statement(view, request))
            with work.factory() as session:
                states = _load_states(view, session, work.lang)
                # Counted again, as the person now: the list may have changed since.
                work.set_total(session.scalar(count_statement(view, statement)) or 0)
            job = build_export(view, statement, request, work.lang, states, work.actor)
        written = 0
        report = _throttled(work.progress, PROGRESS_SECONDS)

        def progress(done: int) -> None:
            nonlocal written
            written = done
            report(done)

        job.progress = progress
        if fmt == "xlsx":
            job.write_xlsx(path)
        else:
            with open(path, "wb") as out:
                for block in job.iter_csv():
                    out.write(block)
        what = str(view.name_plural)
    finally:
        set_language(language)
    work.set_total(written)  # what the file holds, should the list have changed meanwhile
    return file_name(what, fmt, work.lang)


register_maker(JobKind.EXPORT, make_export)
