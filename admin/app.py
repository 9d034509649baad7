"""The web application: admin at /admin, JSON API at /api/v1, health at /healthz."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from sqladmin import Admin
from sqladmin._menu import CategoryMenu
from sqlalchemy import Engine, text
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

import schema
import services.audit
import services.events  # noqa: F401 - scoping, change log, workflow guard
from admin.auth import MatrixAuthorization, PostdeskAuth
from admin.customize import BASES, extra_views
from admin.dashboard import install_dashboard
from admin.date_inputs import date_input
from admin.limits import install as install_body_limits
from admin.middleware import (
    CSRFMiddleware,
    RequestContextMiddleware,
    csrf_token,
    install_catalogs_into_sqladmin,
)
from admin.money_display import RialDisplayMiddleware
from admin.orders import order_page_instead  # the order page replaces its edit form
from admin.printing import install as install_printing
from admin.refusal_logs import install as install_refusal_logs
from admin.secret_errors import install as install_secret_errors
from admin.views import PostdeskView, build_view
from admin.widgets_i18n import widget_strings
from api.app import create_api
from api.errors import unknown_path
from locales import (
    LANGUAGES,
    format_datetime,
    format_money,
    get_language,
    gettext,
    is_rtl,
    language_name,
    ngettext,
)
from postdesk.db import make_engine, make_session_factory
from postdesk.settings import Settings, get_settings
from schema.base import MENUS, configure_encryption

HERE = Path(__file__).parent


def generated_views() -> list[type[PostdeskView]]:
    """One view per schema class that has admin hints, in menu order, plus the extra views of
    admin.customize. Within a menu the entries follow their hints' ``rank`` (how often the job
    needs them: Orders first in Sales), then the table name. A table without hints (a person's
    list preferences) has no generated page."""
    order = {menu: i for i, menu in enumerate(MENUS)}
    models = sorted(
        (m for m in schema.all_models() if hasattr(m, "__admin__")),
        key=lambda m: (order[m.__admin__.menu], m.__admin__.rank, m.__tablename__))
    views = [build_view(model, BASES.get(model, PostdeskView)) for model in models]
    return views + extra_views()


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_encryption(settings.secret_key)
    engine = engine or make_engine(settings.database_url)
    factory = make_session_factory(engine)
    install_catalogs_into_sqladmin()

    app = FastAPI(title="Postdesk", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(RialDisplayMiddleware, engine=engine)  # rial or toman, per request
    app.state.engine = engine
    app.state.session_factory = factory

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    app.mount("/api/v1", create_api(factory))
    app.mount("/api", unknown_path)  # any other /api path: a 404 in the API's error shape

    auth = PostdeskAuth(settings.secret_key, factory, max_age=settings.session_max_age,
                        https_only=settings.https_only)
    admin = Admin(
        app,
        engine=engine,
        session_maker=factory,
        title="Postdesk",
        templates_dir=str(HERE / "templates"),
        authentication_backend=auth,
        authorization_backend=MatrixAuthorization(factory),
        middlewares=[Middleware(RequestContextMiddleware)],
    )
    # Inside the session middleware, which sqladmin adds after ours.
    admin.admin.user_middleware.append(Middleware(CSRFMiddleware))
    _install_template_globals(admin)
    admin.admin.mount("/postdesk-static", StaticFiles(directory=HERE / "static"),
                      name="postdesk_static")
    for view in generated_views():
        admin.add_view(view)
    _harden_routes(admin)
    install_dashboard(admin)  # the start page is the dashboard
    install_printing(app, admin, factory, settings.secret_key)  # documents: buyers' links
    install_secret_errors(app, admin)  # after every mount: each app gets the handler
    install_refusal_logs()  # refusals caught by sqladmin: one INFO line, no traceback
    install_body_limits(app, admin)  # outermost, before the CSRF check reads bodies
    for item in admin._menu.items:
        if isinstance(item, CategoryMenu):
            item.__class__ = JobMenu
    app.state.admin = admin
    # Everything built so far (modules, metadata, templates, catalogs) lives as long as the
    # process: keep it out of the cyclic collector's scans, which otherwise add their pauses
    # to the slowest requests.
    gc.collect()
    gc.freeze()
    return app


class JobMenu(CategoryMenu):
    """A menu group that shows only when its person may open something in it
    (sqladmin shows every group, empty or not)."""

    def is_accessible(self, request: Request) -> bool:
        return any(c.is_visible(request) and c.is_accessible(request) for c in self.children)


def _harden_routes(admin: Admin) -> None:
    """sqladmin serves logout and custom actions over GET; state changes must be POST.
    Orders are created on the manual entry page, which prices them by the rules."""
    routes = []
    for route in admin.admin.router.routes:
        if isinstance(route, Route) and (route.name == "logout" or "/action/" in route.path):
            route = Route(route.path, route.endpoint, methods=["POST"], name=route.name)
        elif isinstance(route, Route) and route.name == "create":
            route = Route(route.path, _manual_orders(route.endpoint), methods=route.methods,
                          name=route.name)
        # Orders are edited through the small forms of the order page (admin.orders).
        elif isinstance(route, Route) and route.name == "edit":
            route = Route(route.path, order_page_instead(route.endpoint), methods=route.methods,
                          name=route.name)
        routes.append(route)
    admin.admin.router.routes = routes


def _manual_orders(create: Callable[[Request], Awaitable[Response]],
                   ) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.path_params.get("identity") == "orders":
            return RedirectResponse(str(request.url_for("admin:view-orders-new_order")),
                                    status_code=303)
        if request.path_params.get("identity") == "parcels":  # registered with a cell
            return RedirectResponse(str(request.url_for("admin:view-parcel_registration")), 303)
        if request.path_params.get("identity") == "cash_collections":  # acts: counted, computed
            return RedirectResponse(str(request.url_for("admin:view-cash_to_collect")), 303)
        return await create(request)

    return endpoint


def _install_template_globals(admin: Admin) -> None:
    env = admin.templates.env
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        get_locale=get_language,
        get_locale_display_name=language_name,
        is_rtl=is_rtl,
        csrf_token=csrf_token,
        languages=LANGUAGES,
        format_money=format_money,
        translate=gettext,  # a plain callable, for objects that translate themselves
        format_datetime=format_datetime,
        widget_strings=widget_strings,  # the JS widgets' texts (postdesk/_widget_strings.html)
        date_input=date_input,  # a date in the reader's calendar (admin/date_inputs.py)
    )
