"""What a list page offers beyond sqladmin's: the column chooser, the compact filter bar with
its related-row search, and saved filters — each remembered per person and list.

Mixed into every generated view (``admin.views.PostdeskView``). Semantics:

- **Columns.** A view offers ``AdminHints.list`` (shown by default) plus ``list_more``
  (switched on in the chooser). A person's choice is stored as column names
  (schema/preferences.py) and shown in the view's own order; a name the view does not offer
  is refused (400), nothing saved. Choosing none, or "Default columns", restores the defaults.
  A stored name the view no longer offers is skipped when shown.
- **Saved filters.** "Save" stores the list's current query — the filter-bar parameters, the
  search and the sort (``sortBy``/``sort``) and page size, never the page number or anything
  else — under a name; the saved filter links to ``list?<query>``; deleting one takes its name.
  Every route reads and writes only the signed-in person's own row, by their user id: another
  person's saved filters can neither be seen nor deleted.
- **Filter look-up.** ``GET /<view>/filter-lookup?name=<filter>&term=<text>`` answers
  ``{"results": [{"id", "text"}]}`` (Select2's shape) with up to 20 related rows matching the
  text, in the person's scope (their session's scoping applies): a merchant finds only its
  own customers.

The routes need the view's ``list`` grant. Preferences live in an INTERNAL table, which a
merchant's scoped session reads as nothing; they are read and written here in a session
without an acting person, always filtered by the person's own id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import anyio
from sqladmin import expose
from sqladmin.authorization import Action
from sqladmin.flash import flash
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from admin.operations import require_actor
from locales import calendar_of, format_date, get_language, gettext, parse_date
from services import preferences
from services.actor import acting_as
from services.errors import Refused

T = TypeVar("T")
# What a saved filter keeps besides the filters' own parameters.
KEPT_PARAMS = ("search", "sortBy", "sort", "pageSize")


@dataclass
class BarField:
    """One filter of the filter bar, ready for the template."""

    kind: str                    # "select" | "related" | "date" | "operation"
    name: str                    # the query parameter
    title: str
    value: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    searchable: bool = False     # "related" with many rows: a search box, not a list
    until: str = ""              # "date": the ``_to`` value (``value`` holds ``_from``)
    operation: str = ""          # "operation": the chosen comparison


def _as_read(text: str) -> str:
    """A date of the filter bar as its reader writes it: Solar Hijri for Persian readers
    (``1405/09/10``, which ``locales.parse_date`` reads back), year-month-day otherwise; a
    text that is no date stays as typed."""
    if not text:
        return ""
    try:
        day = parse_date(text.strip()[:10])
    except ValueError:
        return text
    lang = get_language()
    if calendar_of(lang) == "gregorian":
        return day.isoformat()
    return format_date(day, lang, "yyyy/MM/dd")


def _prefs_session(factory: Any, work: Callable[[Session], T]) -> Callable[[], T]:
    def run() -> T:
        # No acting person: the table is INTERNAL (closed to a tenant's scoped session);
        # every function of services.preferences filters by the person's own id instead.
        with acting_as(None), factory() as session, session.begin():
            return work(session)

    return run


class ListPreferencesMixin:
    """The list page's chooser, filter bar and saved filters (see the module docstring)."""

    default_columns: list[str] = []

    # --- reading ---------------------------------------------------------------------------
    async def _preferences(self, request: Request) -> preferences.Preferences:
        found = getattr(request.state, "list_preferences", None)
        if found is None:
            actor = require_actor()
            view = self.identity  # type: ignore[attr-defined]
            found = await anyio.to_thread.run_sync(_prefs_session(
                self.session_maker,  # type: ignore[attr-defined]
                lambda s: preferences.read(s, actor.user_id or 0, view)))
            request.state.list_preferences = found
        return found

    def offered_columns(self) -> list[str]:
        return list(self._list_prop_names)  # type: ignore[attr-defined]

    async def visible_columns(self, request: Request) -> list[str]:
        chosen = (await self._preferences(request)).columns
        offered = self.offered_columns()
        shown = [c for c in offered if c in (chosen or [])]
        return shown or [c for c in offered if c in self.default_columns] or offered

    def filter_params(self) -> set[str]:
        names: set[str] = set()
        for filter_ in self.get_filters():  # type: ignore[attr-defined]
            name = filter_.parameter_name
            names |= {name, f"{name}_op", f"{name}_from", f"{name}_to"}
        return names

    def saved_query(self, pairs: list[tuple[str, str]]) -> str:
        """The part of a list query a saved filter keeps (see the module docstring)."""
        kept = self.filter_params() | set(KEPT_PARAMS)
        return urlencode([(k, v) for k, v in pairs if k in kept and v not in ("", "__all")])

    async def list_page_context(self, request: Request) -> dict[str, Any]:
        prefs = await self._preferences(request)
        visible = await self.visible_columns(request)
        labels = self._column_labels  # type: ignore[attr-defined]
        current = self.saved_query(list(request.query_params.multi_items()))
        return {
            "visible_columns": visible,
            "chooser": [(c, labels.get(c, c), c in visible) for c in self.offered_columns()],
            "columns_customised": prefs.columns is not None,
            "saved_filters": [(f["name"], f["query"], f["query"] == current)
                              for f in prefs.filters],
            "current_query": current,
            "filter_bar": await self._filter_bar(request),
        }

    async def _filter_bar(self, request: Request) -> list[BarField]:
        params = request.query_params
        model = self.model  # type: ignore[attr-defined]
        fields: list[BarField] = []
        related = []
        for filter_ in self.get_filters():  # type: ignore[attr-defined]
            name, kind = filter_.parameter_name, getattr(filter_, "bar", "operation")
            bar = BarField(kind, name, str(filter_.title), value=params.get(name, ""))
            if kind == "select":
                lookups = await filter_.lookups(request, model, self._run_arbitrary_query)  # type: ignore[attr-defined]
                bar.options = [(k, str(v)) for k, v in lookups if k not in ("__all", "all")]
            elif kind == "date":
                since = params.get(f"{name}_from", "")
                until = params.get(f"{name}_to", "")
                if not (since or until) and params.get(name):
                    # sqladmin's form (a link from elsewhere): shown in the bar's terms.
                    op = params.get(f"{name}_op")
                    since = params[name] if op == "greater_than" else ""
                    until = params[name] if op == "less_than" else ""
                bar.value, bar.until = _as_read(since), _as_read(until)
            elif kind == "related":
                related.append((filter_, bar))
            else:
                bar.operation = params.get(f"{name}_op", "")
                bar.options = [(k, gettext(v)) for k, v in
                               filter_.get_operation_options_for_model(model)]
            fields.append(bar)
        if related:
            def load(session: Session) -> None:
                for filter_, bar in related:
                    few = filter_.few(session)
                    bar.searchable = few is None
                    bar.options = few or []
                    chosen = filter_.named(session, bar.value) if bar.value else None
                    if bar.searchable and chosen is not None:
                        bar.options = [chosen]
                    if chosen is None:
                        bar.value = ""

            await self._in_session(load)
        return fields

    async def _in_session(self, work: Callable[[Session], T]) -> T:
        """``work`` in the person's own (scoped) session, off the event loop."""
        def run() -> T:
            with self.session_maker() as session:  # type: ignore[attr-defined]
                return work(session)

        return await anyio.to_thread.run_sync(run)

    # --- routes ----------------------------------------------------------------------------
    def _require_list(self, request: Request) -> None:
        if not self.has_permission(request, Action.LIST):  # type: ignore[attr-defined]
            raise HTTPException(status_code=403)

    def _list_url(self, request: Request, query: str = "") -> str:
        url = str(request.url_for("admin:list", identity=self.identity))  # type: ignore[attr-defined]
        return f"{url}?{query}" if query else url

    async def _write(self, work: Callable[[Session], Any]) -> Any:
        return await anyio.to_thread.run_sync(_prefs_session(
            self.session_maker, work))  # type: ignore[attr-defined]

    @expose("/preferences/columns", methods=["POST"])
    async def save_columns(self, request: Request) -> Response:
        self._require_list(request)
        actor = require_actor()
        form = await request.form()
        chosen = [str(c) for c in form.getlist("columns")]
        offered = self.offered_columns()
        if any(c not in offered for c in chosen):
            raise HTTPException(status_code=400, detail="Unknown column")
        if form.get("reset") or set(chosen) == set(self.default_columns):
            chosen = []
        columns = [c for c in offered if c in chosen] or None
        view = self.identity  # type: ignore[attr-defined]
        await self._write(lambda s: preferences.set_columns(
            s, actor.user_id or 0, view, columns))
        return RedirectResponse(self._list_url(request, str(form.get("query") or "")), 303)

    @expose("/preferences/filters", methods=["POST"])
    async def save_filter(self, request: Request) -> Response:
        self._require_list(request)
        actor = require_actor()
        form = await request.form()
        query = self.saved_query(parse_qsl(str(form.get("query") or "")))
        name = str(form.get("name") or "")
        view = self.identity  # type: ignore[attr-defined]
        try:
            await self._write(lambda s: preferences.save_filter(
                s, actor.user_id or 0, view, name, query))
        except Refused as refusal:
            flash(request, refusal.render(gettext), category="danger")
        else:
            flash(request, gettext("The filter was saved."), category="success")
        return RedirectResponse(self._list_url(request, query), 303)

    @expose("/preferences/filters/delete", methods=["POST"])
    async def delete_filter(self, request: Request) -> Response:
        self._require_list(request)
        actor = require_actor()
        form = await request.form()
        name = str(form.get("name") or "")
        view = self.identity  # type: ignore[attr-defined]
        deleted = await self._write(lambda s: preferences.delete_filter(
            s, actor.user_id or 0, view, name))
        if not deleted:
            raise HTTPException(status_code=404)
        flash(request, gettext("The filter was deleted."), category="success")
        return RedirectResponse(self._list_url(request, str(form.get("query") or "")), 303)

    @expose("/filter-lookup", methods=["GET"])
    async def filter_lookup(self, request: Request) -> Response:
        self._require_list(request)
        name = request.query_params.get("name", "")
        term = request.query_params.get("term", "")
        found = [f for f in self.get_filters()  # type: ignore[attr-defined]
                 if f.parameter_name == name and getattr(f, "bar", "") == "related"]
        if not found:
            raise HTTPException(status_code=400, detail="Unknown filter")
        rows = await self._in_session(lambda s: found[0].search(s, term))
        return JSONResponse({"results": [{"id": k, "text": v} for k, v in rows]})
